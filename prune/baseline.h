/* baseline: the baseline pruning methods (random, magnitude, Wanda, KEN) turned into plans for a
 * whole model, so a command-line front end only parses options and calls baseline_plan then
 * prune_write.
 *
 *   method     rows (structured)                      weights (unstructured)
 *   random     uniform random neuron scores           k_row random weights per output row
 *   magnitude  ||up_i||_p + ||gate_i||_p              top |w| per output row
 *   wanda      sum_j |W_ij| ||X_j|| over up and gate  top |w_ij| ||X_j|| per output row
 *   ken        (not defined)                          KEN per output row (scorers.h)
 *
 * Matrices are the canonical (out, in) ones of model.h: for unstructured pruning the comparison
 * group of up and gate is one neuron's input weights (a row of length hidden), that of down one
 * output feature's weights over the neurons (a row of length ffn). Wanda's ||X_j|| is the FFN
 * input norm for up/gate and the FFN intermediate norm for down (calib.h). Randomness comes from
 * one PCG32 stream, scorers_rng(seed), consumed layer by layer (up, gate, down). */
#ifndef YOPO_BASELINE_H
#define YOPO_BASELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "calib.h"
#include "model.h"
#include "prune.h"

enum baseline_method {
	BASELINE_METHOD_RANDOM,
	BASELINE_METHOD_MAGNITUDE,
	BASELINE_METHOD_WANDA,
	BASELINE_METHOD_KEN,
};

struct baseline_spec {
	enum baseline_method method;
	int norm_p;                       /* magnitude rows: 1 or 2 */
	uint64_t seed;                    /* random */
	const struct calib_norms *norms;  /* wanda: from calib_collect_xnorm on this model */
};

/* "random", "magnitude", "wanda", "ken"; NULL for a value outside the enum. Static string. */
const char *baseline_method_name(enum baseline_method m);

/* Parses a method name; returns 0, or -1 (out untouched) for an unknown name. */
int baseline_method_parse(enum baseline_method *out, const char *name);

/* Whether the method is defined for that granularity (KEN: weights only). */
bool baseline_supports(enum baseline_method m, enum prune_granularity g);

/* Neuron scores of every layer for a rows method: *out is an array of n_layers arrays of
 * m->layers[l].ffn floats, owned by the caller (baseline_scores_free). Returns a prune_error:
 * PRUNE_ERR_ARG (KEN, missing or mis-shaped norms for Wanda, norm_p not 1 or 2), PRUNE_ERR_NOMEM. */
int baseline_scores_new(float ***out, const struct model *m, const struct baseline_spec *s);

void baseline_scores_free(float **scores, int n_layers);

/* The plan for m: rows (uniform or global) or weights (global must be false). On success *out
 * is owned by the caller (prune_plan_free). Returns a prune_error: PRUNE_ERR_RATIO,
 * PRUNE_ERR_ARG (unsupported combination, missing norms), PRUNE_ERR_SCORES (NaN/inf weight),
 * PRUNE_ERR_NOMEM; a one-line reason goes to err when err != NULL. */
int baseline_plan(struct prune_plan **out, const struct model *m, const struct baseline_spec *s,
		  double ratio, enum prune_granularity g, bool global, char *err, size_t errlen);

#endif
