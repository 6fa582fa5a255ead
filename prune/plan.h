/* plan: pruning plans for the FFN of every layer — which neurons (ROWS) or weights (WEIGHTS)
 * stay — their parameter counts and their application to a model in memory. The checkpoint
 * writer is writer.h.
 *
 * A layer's FFN has `ffn` neurons; neuron i is row i of up (and gate), their bias entries, and
 * column i of down (nn.Linear (out, in) orientation; gpt2's Conv1D stores the transpose, which
 * the writer handles). Two granularities:
 *
 * ROWS (structured): the same neurons are removed from up, gate and down. A plan holds, per layer,
 *   the kept neuron indices in ascending order. Uniform allocation removes lround(ratio * ffn)
 *   neurons of every layer; every layer keeps at least one.
 *   Global allocation (prune_plan_from_scores with global = true) compares scores across layers:
 *   each layer's scores are first divided by the layer's mean absolute score, so a layer whose
 *   scores are all larger in scale does not win by scale alone (a layer whose mean is 0 keeps its
 *   raw scores); every layer first keeps its single best neuron; the remaining budget
 *   total_kept - n_layers, where total_kept = sum(ffn) - lround(ratio * sum(ffn)), goes to the
 *   highest normalised scores over all layers (ties: lower layer, then lower index).
 *   Layers then keep different numbers of neurons, but a Hugging Face config.json expresses one
 *   FFN width for all our families. So the written checkpoint stays loadable: every layer is
 *   padded to the widest layer's kept count W with ZERO neurons — zero up/gate rows, zero up/gate
 *   bias entries and zero down columns. Whatever the activation gives for them, their down column
 *   is zero, so they add exactly 0 to the output. yopo_pruning.json records the true per-layer
 *   sizes (kept_per_layer) and the effective parameter count (params_after, not counting padding);
 *   params_stored counts what the file holds.
 *
 * WEIGHTS (unstructured): individual weights of up, gate and down are zeroed (for KEN: reset to a
 *   --base model's value). A plan holds one keep mask per matrix, shaped like the canonical
 *   (out, in) matrix. Shapes and config.json are unchanged, so the output by itself saves no
 *   memory and no time; yopo_pruning.json says so in its "note".
 *
 * Ownership: a plan owns its arrays; pointers returned by the accessors are borrowed and stay
 * valid until prune_plan_free. */
#ifndef YOPO_PRUNE_PLAN_H
#define YOPO_PRUNE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "model.h"

/* NM_2_4 / NM_4_8: semi-structured N:M sparsity (in every group of M consecutive weights of a row
 * of the canonical (out, in) matrix, N stay) — a WEIGHTS plan whose masks follow the pattern. */
enum prune_granularity {
	PRUNE_GRANULARITY_ROWS,
	PRUNE_GRANULARITY_WEIGHTS,
	PRUNE_GRANULARITY_NM_2_4,
	PRUNE_GRANULARITY_NM_4_8,
};

enum prune_error {
	PRUNE_OK = 0,
	PRUNE_ERR_RATIO = -1,              /* ratio NaN / outside [0, 1), or it leaves a layer empty */
	PRUNE_ERR_OUT_IS_INPUT = -2,       /* output directory is the input directory */
	PRUNE_ERR_OUT_INSIDE_INPUT = -3,   /* output directory lies inside the input directory */
	PRUNE_ERR_OUT_CONTAINS_INPUT = -4, /* input directory lies inside the output directory */
	PRUNE_ERR_OUT_NOT_EMPTY = -5,      /* output exists and is not an empty directory (no force) */
	PRUNE_ERR_IO = -6,                 /* a file system operation failed (message names it) */
	PRUNE_ERR_NOMEM = -7,
	PRUNE_ERR_PLAN = -8,               /* plan invalid or not matching the model */
	PRUNE_ERR_BASE_SHAPE = -9,         /* --base model differs in family or FFN shapes */
	PRUNE_ERR_SCORES = -10,            /* a NaN or infinite score or weight */
	PRUNE_ERR_ARG = -11,               /* invalid argument combination (e.g. base with ROWS) */
	PRUNE_ERR_INPUT = -12,             /* input checkpoint disagrees with the model (shape, JSON) */
};

/* Static one-line description of a prune_error. */
const char *prune_strerror(int err);

/* "rows" / "weights" / "2:4" / "4:8". */
const char *prune_granularity_name(enum prune_granularity g);

/* The one ratio rule of every command that cuts a model (train, spectrum, prune, compare, demo):
 * removing `ratio` of a group of n items removes lround(ratio * n) of them (util_keep_count),
 * and in every group the cut applies to that must be at least one and at most n - 1. The groups:
 * ROWS, each layer's FFN neurons (c->layer_ffn), or with global the neurons of all layers
 * together, of which every layer keeps at least one; WEIGHTS, each row of up/gate (hidden
 * weights) and of down (the layer's FFN width). So a ratio too small to remove anything (1e-300)
 * or large enough to empty a layer is refused before any work, whatever the model size.
 * PRUNE_ERR_RATIO with a reason naming the ratio, the layer and its size. */
int prune_check_ratio(const struct config *c, double ratio, enum prune_granularity g,
		      bool global, char *err, size_t errlen);
/* Whether g is an N:M granularity; then *n and *m (either may be NULL) receive N and M. */
bool prune_granularity_nm(enum prune_granularity g, int *n, int *m);

struct prune_plan; /* opaque */

/* A ROWS plan for n_layers layers of ffn_per_layer[l] neurons, every neuron kept.
 * On success *out is owned by the caller (prune_plan_free). Errors: PRUNE_ERR_ARG (n_layers
 * outside [1, CONFIG_MAX_LAYERS] or a width < 1), PRUNE_ERR_NOMEM. */
int prune_plan_new_rows(struct prune_plan **out, int n_layers, const int *ffn_per_layer);

/* Sets the kept neurons of one layer of a ROWS plan: copies kept (k), sorts it. Errors
 * (plan unchanged): PRUNE_ERR_PLAN for a WEIGHTS plan, a bad layer, k outside [1, ffn], an index
 * out of range or a repeated index. */
int prune_plan_set_layer_rows(struct prune_plan *p, int layer, const int *kept, int k);

/* A WEIGHTS plan for m: all-ones masks for up, gate (gated families) and down of every layer.
 * On success *out is owned by the caller. Errors: PRUNE_ERR_NOMEM. */
int prune_plan_new_weights(struct prune_plan **out, const struct model *m);

/* The keep mask of matrix `which` (CONFIG_TENSOR_UP / GATE / DOWN) of `layer` in a WEIGHTS plan:
 * (rows, cols) of the canonical (out, in) matrix, i.e. (ffn, hidden) for up/gate and
 * (hidden, ffn) for down; 1 = keep. Borrowed. NULL for a ROWS plan, another tensor, a bad layer
 * or gate in a non-gated model. */
unsigned char *prune_plan_mask(struct prune_plan *p, int layer, enum config_tensor which);
const unsigned char *prune_plan_mask_const(const struct prune_plan *p, int layer,
					   enum config_tensor which);

/* Kept neurons of `layer`: *kept (borrowed, ascending) and the count as return value. For a
 * WEIGHTS plan every neuron stays: returns ffn and *kept = NULL. -1 for a bad layer. */
int prune_plan_layer_kept(const struct prune_plan *p, int layer, const int **kept);

enum prune_granularity prune_plan_granularity(const struct prune_plan *p);
int prune_plan_n_layers(const struct prune_plan *p);

void prune_plan_free(struct prune_plan *p);

/* A ROWS plan for m keeping the top neurons by scores[l] (m->layers[l].ffn entries; larger =
 * keep; ties towards the lower index). Uniform: layer l keeps ffn_l - lround(ratio * ffn_l).
 * Global: see the top of this file. On success *out is owned by the caller.
 * Errors: PRUNE_ERR_RATIO, PRUNE_ERR_SCORES (NaN or infinite score), PRUNE_ERR_NOMEM. */
int prune_plan_from_scores(struct prune_plan **out, const struct model *m,
			   const float *const *scores, double ratio, bool global);

/* A uniform ROWS plan for m whose kept neurons are set later, one layer at a time (yopo prune's
 * one-pass write): layer l keeps ffn_l - lround(ratio * ffn_l) neurons, as prune_plan_from_scores
 * with global = false, so the counts (and the written shapes) are known before any scoring; the
 * kept indices are 0..k-1 until prune_plan_set_layer_scores sets them. On success *out is owned
 * by the caller. Errors: PRUNE_ERR_RATIO (ratio outside [0, 1) or a layer left empty),
 * PRUNE_ERR_NOMEM. */
int prune_plan_new_rows_ratio(struct prune_plan **out, const struct model *m, double ratio);

/* Sets layer's kept neurons of a ROWS plan to the plan's count of them (k) with the top scores
 * (the layer's ffn entries; larger = keep; ties towards the lower index): the neurons
 * prune_plan_from_scores keeps with global = false. Errors (plan unchanged): PRUNE_ERR_PLAN (a
 * WEIGHTS plan, a bad layer), PRUNE_ERR_SCORES (NaN or infinite score), PRUNE_ERR_NOMEM. */
int prune_plan_set_layer_scores(struct prune_plan *p, int layer, const float *scores);

/* Parameter counts of m pruned by p. "after" counts real parameters (padding and masked weights
 * excluded; FFN biases are never masked), "stored" counts what the written file holds. */
struct prune_counts {
	size_t params_before, params_after, params_stored;
	size_t ffn_params_before, ffn_params_after, ffn_params_stored;
	int width; /* FFN width written to config.json: max kept count (ROWS) or the input's */
};

/* Fills *out. Errors: PRUNE_ERR_PLAN if p does not fit m. */
int prune_plan_count(struct prune_counts *out, const struct prune_plan *p, const struct model *m);

struct cJSON;

/* Adds c to the JSON object obj as params_before, params_after, params_stored,
 * ffn_params_before, ffn_params_after, ffn_params_stored and ffn_width (yopo_pruning.json and
 * yopo prune --json). false when out of memory. */
bool prune_counts_json(struct cJSON *obj, const struct prune_counts *c);

/* Applies p to m's canonical f32 weights in place: ROWS zeroes the removed neurons (up/gate rows
 * and bias entries, down columns); WEIGHTS sets masked entries to 0, or to base's value when base
 * is not NULL. Shapes are unchanged, so the result computes what the written checkpoint computes.
 * Errors: PRUNE_ERR_PLAN, PRUNE_ERR_BASE_SHAPE, PRUNE_ERR_ARG (base with a ROWS plan). */
int prune_apply(struct model *m, const struct prune_plan *p, const struct model *base);

/* PRUNE_OK if base has m's family, layer count, hidden width, gating and per-layer FFN widths
 * (KEN's --base), else PRUNE_ERR_BASE_SHAPE. */
int prune_check_base(const struct model *m, const struct model *base);

#endif
