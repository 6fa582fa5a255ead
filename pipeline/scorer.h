/* scorer: the one row-scorer interface behind every pruning method (policy, random, magnitude,
 * Wanda, KEN). Adding a method = one file pipeline/score_<name>.c defining a `const struct
 * scorer` plus one line in the registry (scorer.c).
 *
 * A method gives either or both of:
 *   - rows (structured): scores (v->rows) of one layer's neurons, larger = keep, from a layer
 *     view (model.h) of weights already in memory;
 *   - weights (unstructured): a keep mask (rows, cols) of one FFN matrix in canonical (out, in)
 *     orientation at a ratio, each output row keeping the same count (prune/scorers.h).
 * The pure criteria stay in prune/scorers.c; a scorer only wires one of them to its inputs.
 * Inputs that are expensive to obtain (the trained policy, Wanda's calibration norms) are
 * declared in `needs` and prepared once by select.h, which caches them across ratios. */
#ifndef YOPO_SCORER_H
#define YOPO_SCORER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calib.h"
#include "config.h"
#include "model.h"
#include "pcg32.h"
#include "policy.h"
#include "probe.h"
#include "prune.h"
#include "probe.h"
#include "prunenet.h"
#include "rowfeat.h"

enum scorer_error {
	SCORER_OK = 0,
	SCORER_ERR_ARG = -1,    /* an input the method needs is missing or mis-shaped */
	SCORER_ERR_NOMEM = -2,
	SCORER_ERR_VALUE = -3,  /* a NaN or infinite weight or score */
	SCORER_ERR_RATIO = -4,  /* the ratio leaves no weight in a row */
	SCORER_ERR_POLICY = -5, /* the policy network gave no scores */
};

enum scorer_need {
	SCORER_NEEDS_POLICY = 1, /* a policy checkpoint (--policy) */
	SCORER_NEEDS_CALIB = 2,  /* calibration text (--calib): Wanda's activation norms */
	SCORER_TAKES_BASE = 4,   /* optional --base: masked weights take a base model's values */
	SCORER_NEEDS_PROBE = 8,  /* probe activations sampled from the model itself (probe.h) */
};

/* What a method may read while scoring one plan. Built by select.h. */
struct scorer_ctx {
	const struct model *m;
	struct policy *mlp;              /* SCORER_NEEDS_POLICY, mlp checkpoints */
	struct prunenet *pn;             /* SCORER_NEEDS_POLICY, prunenet checkpoints */
	enum rowfeat_set feature_set;    /* what the mlp sees (its checkpoint's set) */
	const struct probe *probe;       /* m's self-sampled probes: SCORER_NEEDS_PROBE, or the
					  * policy's probe feature set; else NULL */
	const struct calib_norms *norms; /* SCORER_NEEDS_CALIB: shaped like m */
	int norm_p;                      /* magnitude rows: 1 or 2 */
	struct pcg32 rng;                /* random: one PCG32 stream, seeded per plan (scorers_rng) */
};

/* One FFN matrix of a layer, for weights masks: w (rows, cols) canonical (out, in). */
struct scorer_matrix {
	int layer;
	enum config_tensor which; /* CONFIG_TENSOR_UP, _GATE or _DOWN */
	const float *w;
	int rows, cols;
};

struct scorer {
	const char *name;
	const char *summary;              /* one line for help texts */
	unsigned needs;                   /* SCORER_NEEDS_* and SCORER_TAKES_* flags */
	bool seeded;                      /* draws from --seed: compare runs it once per seed */
	enum prune_granularity natural;   /* granularity the compare matrix runs it at */
	/* NULL when the method has no rows form. */
	int (*score_rows)(float *scores, struct scorer_ctx *c, const struct model_layer_view *v,
			  char *err, size_t errlen);
	/* NULL when the method has no weights form. */
	int (*mask_weights)(unsigned char *mask, struct scorer_ctx *c, const struct scorer_matrix *x,
			    double ratio, char *err, size_t errlen);
	/* NULL when the method has no N:M form: the mask keeps n of every m weights of a row. */
	int (*mask_nm)(unsigned char *mask, struct scorer_ctx *c, const struct scorer_matrix *x,
		       int n, int m, char *err, size_t errlen);
};

/* The registered scorer called name, or NULL. */
const struct scorer *scorer_find(const char *name);

/* Registered scorers in registry order: *n receives the count. */
const struct scorer *const *scorer_all(int *n);

/* "policy,random,magnitude,wanda,ken,probe": the names, for messages and option choices. Static. */
const char *scorer_names(void);

/* Whether s is defined at granularity g. */
bool scorer_supports(const struct scorer *s, enum prune_granularity g);

/* Maps a prune/scorers.h status to a scorer_error and writes "<name>: <reason>" to err. */
int scorer_from_kernel(int status, const char *name, char *err, size_t errlen);

#endif
