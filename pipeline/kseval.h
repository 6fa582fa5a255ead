/* kseval: the environment's verdict on a row-selection method without any text (yopo
 * spectrum): per layer, the KS distance between the singular values of the scored FFN matrix
 * and of its kept rows (k = ffn - round(ratio * ffn)), averaged over `draws` selections.
 *
 * policy: top-k of the trained policy's scores (rowscore_policy on the streamed layer), or with
 * `sample` Plackett-Luce draws from them; random: uniform k-subsets (Gumbel-top-k of equal
 * scores); magnitude / wanda: top-k of their scorer's row scores on the loaded model. Layers are
 * streamed through env (weights of the policy and random methods are never all resident). */
#ifndef YOPO_KSEVAL_H
#define YOPO_KSEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spectrum.h"

enum kseval_error {
	KSEVAL_OK = 0,
	KSEVAL_ERR_USAGE = -1,  /* method not a rows method, missing --policy/--calib, --sample */
	KSEVAL_ERR_INPUT = -2,  /* model, policy or calibration unusable; ratio vs the model (plan.h) */
	KSEVAL_ERR_LAYER = -3,  /* a layer could not be read, scored or measured */
	KSEVAL_ERR_NOMEM = -4,
};

struct kseval_opts {
	const char *model;
	double ratio;
	const char *method;      /* policy, random, magnitude or wanda */
	const char *policy, *calib;
	int norm_p;              /* magnitude: 1 or 2 */
	int samples;             /* draws for random (and policy with sample) */
	bool sample;             /* policy: draw instead of top-k */
	uint64_t seed;
	enum spectrum_route route;
};

struct kseval_result {
	char model_type[32];
	int n_layers, ffn, hidden;
	int draws;               /* selections per layer */
	double *ks, *sd;         /* (n_layers) mean and standard deviation over the draws */
	double mean;             /* mean of ks over layers */
};

/* Called after each layer (done of total). */
typedef void kseval_progress_fn(void *ctx, int done, int total);

/* On success *res is the caller's (kseval_result_free). progress may be NULL. */
int kseval_run(struct kseval_result *res, const struct kseval_opts *o,
	       kseval_progress_fn *progress, void *ctx, char *err, size_t errlen);

void kseval_result_free(struct kseval_result *res);

#endif
