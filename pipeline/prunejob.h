/* prunejob: yopo prune as one call — check the destination and inputs cheaply, score the
 * method (select.h's scorers) and write the pruned checkpoint (prune/prune.h), streamed: the
 * model is never loaded whole (prunestream.h; Wanda's calibration one layer at a time, calib.h;
 * self-sampled probes drawn with one layer in f32 at a time, the row statistics their scorers
 * read gathered while drawing, probe.h), and count its parameters. Unless the selection
 * needs every layer's scores first (a --global budget), each layer (rows) or matrix (weights,
 * N:M) is scored when the writer reaches it, from the mapped bytes the writer then slices or
 * masks: one read of the checkpoint. The bytes written are those of the whole-model route (the
 * probe scorers: up to the rounding of their statistics and F16 KV caches at 7B scale, probe.h). */
#ifndef YOPO_PRUNEJOB_H
#define YOPO_PRUNEJOB_H

#include <stdbool.h>
#include <stddef.h>

#include "prune.h"
#include "select.h"

enum prunejob_error {
	PRUNEJOB_OK = 0,
	PRUNEJOB_ERR_USAGE = -1, /* method/granularity/--base/--global combination */
	PRUNEJOB_ERR_INPUT = -2, /* model, --base, policy or calibration unusable; bad --out */
	PRUNEJOB_ERR_RUN = -3,   /* scoring or writing failed */
};

struct prunejob_opts {
	const char *model, *out;
	const char *base;        /* KEN: reset unpicked weights to this model's values */
	double ratio;
	struct select_opts select;
	bool force;
	bool whole_model;        /* library only (tests, comparisons): the whole-model route instead,
				  * the model loaded in f32 (select_plan, prune_write) */
	bool two_pass;           /* library only (tests, benchmarks): rows at a per-layer ratio
				  * scored over all layers before the write, as a global budget is,
				  * instead of each layer when the writer reaches it */
};

/* Called before scoring and before writing, with a one-line description. */
typedef void prunejob_progress_fn(void *ctx, const char *what);

/* yopo prune's --granularity word (rows, weights, 2:4, 4:8; checked by the option table), or
 * when word is NULL the natural granularity of the method (a registered scorer name). */
enum prune_granularity prunejob_granularity(const char *word, const char *method);

/* yopo prune's size: exactly one of o->ratio (given when >= 0), target_params (> 0) or
 * sparsity (>= 0) sets o->ratio; an N:M o->select.granularity implies it and takes none of
 * them. A target or sparsity needs rows and opens o->model to count (select_target_ratio).
 * PRUNEJOB_ERR_USAGE (none or several given, a target that cannot be met) or
 * PRUNEJOB_ERR_INPUT (the model cannot be read). */
int prunejob_resolve_ratio(struct prunejob_opts *o, long target_params, double sparsity,
			   char *err, size_t errlen);

/* On success *counts holds the parameter counts of the written checkpoint. progress may be NULL.
 * Before scoring: --out against every input (model, --base, --policy, --calib; guard.h), the
 * lock OUT.lock held for the run, stale temporaries of --out removed, the destination checked
 * (prune_check_out) and the ratio checked against the model (prune_check_ratio). */
int prunejob_run(struct prune_counts *counts, const struct prunejob_opts *o,
		 prunejob_progress_fn *progress, void *ctx, char *err, size_t errlen);

#endif
