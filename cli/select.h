/* select: method name -> pruning plan, shared by yopo prune, spectrum and compare.
 *
 * Methods: policy (a checkpoint from yopo train: calibration-free), random, magnitude, wanda
 * (needs calibration text), ken (weights only). Expensive inputs (the loaded policy, the
 * calibration norms) are cached in struct select_cache so compare can reuse them across ratios. */
#ifndef YOPO_SELECT_H
#define YOPO_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calib.h"
#include "checkpoint.h"
#include "model.h"
#include "prune.h"
#include "tokenizer.h"

struct select_opts {
	const char *method;       /* policy|random|magnitude|wanda|ken */
	const char *policy;       /* policy checkpoint (method policy) */
	const char *calib;        /* calibration text (method wanda) */
	long calib_windows;       /* calibration windows of max_position_embeddings tokens; 0: all */
	int norm_p;               /* magnitude rows: 1 or 2 */
	enum prune_granularity granularity;
	bool global;
	uint64_t seed;
};

struct select_cache {
	struct checkpoint *ck;            /* loaded policy */
	char policy_sha256[65];
	struct calib_norms *norms;        /* Wanda norms */
	size_t calib_tokens;
};

void select_cache_free(struct select_cache *c);

/* Method names accepted, for messages. */
const char *select_methods(void);

/* Whether name is a known method. */
bool select_method_known(const char *name);

/* Usage checks that need no file: the method's required inputs (--policy for policy, --calib for
 * wanda) and whether it is defined at o->granularity (policy: rows; ken: weights). Returns 0 or
 * -1 with a one-line reason in err. */
int select_check_usage(const struct select_opts *o, char *err, size_t errlen);

/* Cheap checks of the method's input files before any scoring, so a bad file fails at once:
 * method policy loads o->policy into cache (hashing it) and checks that it fits m; method wanda
 * reads o->calib once. Other methods: nothing. Returns 0 or -1 with a one-line reason naming
 * the file in err. */
int select_prepare(const struct model *m, const struct select_opts *o, struct select_cache *cache,
		   char *err, size_t errlen);

/* Per-layer row scores of the method for m (opened from model_dir): *scores is an array of
 * n_layers arrays of layer-ffn floats, owned by the caller (free each, then the array).
 * Rows methods only. Returns 0 or -1 with a one-line reason in err. */
int select_scores(float ***scores, const struct model *m, const char *model_dir,
		  const struct tokenizer *tok, const struct select_opts *o, struct select_cache *cache,
		  char *err, size_t errlen);

/* The plan for m at ratio. On success *out is owned by the caller (prune_plan_free).
 * Returns 0 or -1 with a one-line reason in err. */
int select_plan(struct prune_plan **out, const struct model *m, const char *model_dir,
		const struct tokenizer *tok, const struct select_opts *o, double ratio,
		struct select_cache *cache, char *err, size_t errlen);

#endif
