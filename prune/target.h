/* target: the FFN ratio that meets a total-size target — a parameter count (--target-params N)
 * or a share of ALL parameters removed (--sparsity S) — for uniform row pruning, from the
 * model's shapes (config and per-layer FFN widths; no weight is read).
 *
 * Removing j neurons of every layer (ratio j / ffn, which util_keep_count maps back to exactly
 * j) removes the same number of parameters per step, so the smallest j whose count is at most
 * the target is found in closed form and then checked with prune_plan_count. For global
 * allocation the total count is the same up to rounding of the budget. */
#ifndef YOPO_PRUNE_TARGET_H
#define YOPO_PRUNE_TARGET_H

#include <stddef.h>

#include "model.h"
#include "plan.h"

enum prune_target_error {
	PRUNE_TARGET_OK = 0,
	PRUNE_TARGET_ERR_ARG = -1,        /* neither or both targets, sparsity outside (0, 1) */
	PRUNE_TARGET_ERR_NOTHING = -2,    /* the target removes no neuron (at or above the size) */
	PRUNE_TARGET_ERR_IMPOSSIBLE = -3, /* below the size with one neuron left per layer */
	PRUNE_TARGET_ERR_NOMEM = -4,
};

/* *ratio (removed neurons / ffn, uniform rows) giving the largest model with at most
 * target_params parameters, or — target_params 0 — with at least `sparsity` of the parameters
 * removed; *counts (may be NULL) holds the counts at that ratio. The reason in err on failure,
 * with the numbers (the model's size, the smallest reachable size). */
int prune_target_ratio(double *ratio, struct prune_counts *counts, const struct model *m,
		       size_t target_params, double sparsity, char *err, size_t errlen);

#endif
