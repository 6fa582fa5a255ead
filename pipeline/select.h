/* select: method name -> pruning plan, shared by yopo prune, spectrum and compare (and the
 * library tests).
 *
 * The method is a registered scorer (scorer.h). Expensive inputs are prepared once and cached in
 * struct select_cache so compare reuses them across ratios: the loaded policy checkpoint (and
 * its SHA-256, and the networks built from it), Wanda's calibration norms (BOS + the whole
 * calibration file through text.h, windows of the model's context) and the probe activations of
 * the probe method (probe.h: sampled from the model itself, seeded by o->seed). */
#ifndef YOPO_SELECT_H
#define YOPO_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calib.h"
#include "checkpoint.h"
#include "model.h"
#include "prune.h"
#include "scorer.h"
#include "tokenizer.h"

enum select_error {
	SELECT_OK = 0,
	SELECT_ERR_USAGE = -1,  /* unknown method, missing --policy/--calib, unsupported granularity */
	SELECT_ERR_INPUT = -2,  /* the policy or calibration file is unreadable or does not fit */
	SELECT_ERR_SCORE = -3,  /* scoring or building the plan failed */
	SELECT_ERR_NOMEM = -4,
};

struct select_opts {
	const char *method;       /* a registered scorer name */
	const char *policy;       /* policy checkpoint (SCORER_NEEDS_POLICY); NULL: the shipped one */
	const char *calib;        /* calibration text (SCORER_NEEDS_CALIB) */
	long calib_windows;       /* calibration windows of max_position_embeddings tokens; 0: all */
	long calib_tokens;        /* calibration tokens (BOS included) from the file's start; 0: all */
	int norm_p;               /* magnitude rows: 1 or 2 */
	enum prune_granularity granularity;
	bool global;              /* rows: one budget across layers */
	calib_progress_fn *calib_progress; /* Wanda: after each calibration window (may be NULL) */
	void *calib_ctx;
	uint64_t seed;            /* random; also the probe tokens' sampling seed */
	long probe_tokens;        /* SCORER_NEEDS_PROBE: probe tokens to sample; 0: SELECT_PROBE_TOKENS */
	int probe_lanes;          /* probe sequences sampled in lockstep; 0: PROBE_DEFAULT_LANES */
};

#define SELECT_PROBE_TOKENS 2048

struct select_cache {
	struct checkpoint *ck;       /* loaded policy */
	char policy_sha256[65];
	struct policy *mlp;          /* built from ck */
	struct prunenet *pn;
	struct probe *policy_probe;  /* the model's probes, for a probe-feature policy */
	struct calib_norms *norms;   /* Wanda norms */
	size_t calib_tokens;
	struct probe *probe;         /* probe activations (SCORER_NEEDS_PROBE), for probe_seed */
	uint64_t probe_seed;
};

/* The shipped default policy (policies/default.safetensors, trained by yopo itself; see
 * policies/README.md): beside the executable (<dir>/policies/ or <dir>/../policies/), else in the
 * source tree this build was configured from. Writes its path to path (cap bytes); 0 when found, -1
 * when none is readable. */
int select_default_policy(char *path, size_t cap);

/* Frees what the cache holds and zeroes it; a zeroed cache is a no-op. */
void select_cache_free(struct select_cache *c);

/* Usage checks that need no file: the method exists, its inputs are named (--policy, --calib)
 * and it is defined at o->granularity (global only with rows). SELECT_ERR_USAGE with a reason. */
int select_check_usage(const struct select_opts *o, char *err, size_t errlen);

/* For a caller that gathers the probes itself (yopo prune streams them, probe.h): whether scoring
 * with o needs m's probes and the cache lacks them. Then *slot is where they go (cache->probe for
 * the probe method, cache->policy_probe for a probe-feature policy, which this loads into the
 * cache and checks against m), *tokens and *seed what to sample with; select_prepare and
 * select_make_ctx use the probes put there as they are. Else *slot is NULL. Errors as
 * select_prepare. */
int select_probe_request(struct probe ***slot, int *tokens, uint64_t *seed, const struct model *m,
			 const struct select_opts *o, struct select_cache *cache, char *err,
			 size_t errlen);

/* Cheap checks of the method's input files before any scoring, so a bad file fails at once:
 * a policy is loaded into the cache (hashed, networks built, and for a probe-feature policy the
 * model's probes sampled with the count and seed it was trained with) and checked against m; calibration
 * text is read once. Reasons name the file. */
int select_prepare(const struct model *m, const struct select_opts *o, struct select_cache *cache,
		   char *err, size_t errlen);

/* Loads the policy checkpoint at path into the cache once (hashing it and building its network)
 * and checks it against a model of that hidden and FFN width; reasons name the file. */
int select_load_policy(struct select_cache *cache, const char *path, int hidden, int ffn,
		       char *err, size_t errlen);

/* Wanda's activation norms of m over o->calib (BOS + the file, its first o->calib_tokens) into
 * cache->norms, once per cache: through m's loaded weights, or, when stream is not NULL (the
 * same model, weights not loaded), one layer at a time from its checkpoint. SELECT_ERR_USAGE
 * without o->calib; SELECT_ERR_INPUT when the text cannot be read or the calibration fails. */
int select_calibrate(struct select_cache *cache, const struct model *m, struct model *stream,
		     const struct tokenizer *tok, const struct select_opts *o, char *err,
		     size_t errlen);

/* The scorer of o with its inputs ready in *ctx, seeded for one plan: the policy loaded, Wanda's
 * norms computed through a loaded m unless the cache already holds them (a streaming caller
 * puts them there first). *s and *ctx borrow from cache and m. */
int select_make_ctx(const struct scorer **s, struct scorer_ctx *ctx, const struct model *m,
		    const struct tokenizer *tok, const struct select_opts *o,
		    struct select_cache *cache, char *err, size_t errlen);

/* Per-layer row scores of a rows method: *scores is n_layers arrays of layer-ffn floats, owned by
 * the caller (select_scores_free). */
int select_scores(float ***scores, const struct model *m, const struct tokenizer *tok,
		  const struct select_opts *o, struct select_cache *cache, char *err, size_t errlen);

void select_scores_free(float **scores, int n_layers);

/* The plan for m at ratio. A ratio outside prune_check_ratio's rule is SELECT_ERR_USAGE before
 * any scoring. On success *out is owned by the caller (prune_plan_free). */
int select_plan(struct prune_plan **out, const struct model *m, const struct tokenizer *tok,
		const struct select_opts *o, double ratio, struct select_cache *cache, char *err,
		size_t errlen);

/* The uniform rows ratio meeting a total-size target for the model at dir (prune/target.h;
 * a target that removes nothing or cannot be met is SELECT_ERR_USAGE with the numbers):
 * target_params > 0, or sparsity in (0, 1) = share of all parameters removed. Opens the model
 * once to count. *counts (may be NULL) holds the counts at that ratio. */
int select_target_ratio(double *ratio, struct prune_counts *counts, const char *dir,
			size_t target_params, double sparsity, char *err, size_t errlen);

/* What yopo_pruning.json records for a plan made with o (strings borrowed from o and cache). */
struct prune_info select_info(const struct select_opts *o, const struct select_cache *cache,
			      double ratio, const char *base_dir);

#endif
