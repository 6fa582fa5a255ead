/* plan_impl: the layout of struct prune_plan, shared by plan.c (which builds and applies plans)
 * and writer.c (which slices the checkpoint by them). Internal to prune/: not a public header. */
#ifndef YOPO_PRUNE_PLAN_IMPL_H
#define YOPO_PRUNE_PLAN_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"

enum { SLOT_UP, SLOT_GATE, SLOT_DOWN, N_SLOTS };

struct prune_plan {
	enum prune_granularity gran;
	int n_layers;
	int hidden;           /* WEIGHTS only */
	int *ffn;             /* (n_layers) neurons per layer */
	int *k;               /* (n_layers) ROWS: kept count */
	int **kept;           /* [layer] (ffn) ROWS: first k entries valid, ascending */
	unsigned char **mask; /* [layer * N_SLOTS + slot] WEIGHTS; gate NULL if not gated */
};

/* The FFN tensors of a layer, in the order the counts and the writer visit them. */
extern const enum config_tensor prune_ffn_tensors[];
#define PRUNE_N_FFN_TENSORS 6

/* Whether p was made for m's layer count and widths (and hidden size / gates for WEIGHTS). */
bool prune_plan_fits(const struct prune_plan *p, const struct model *m);

#endif
