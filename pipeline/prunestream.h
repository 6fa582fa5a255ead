/* prunestream: yopo prune without loading the model — a weightless model (config, the mapped
 * checkpoint, FFN widths, parameter counts; every weight pointer NULL) and the scorers fed one
 * layer (rows) or one matrix (weights) at a time, converted to f32 from the mapping and freed,
 * its mapped pages evicted, right after use. Memory then holds one layer's FFN matrices in f32
 * (rows) or one matrix (weights), whatever the model's size. Scores and masks are those of the
 * whole-model route (select.h) on the same checkpoint, bit for bit: the same scorers see the
 * same f32 values in the same order (the random scorer's PCG32 stream is jumped ahead to where
 * the whole-model route, which visits layers in numeric order, would be). Rows at a per-layer
 * ratio need no scoring pass over the whole model first: prunestream_rows scores each layer when
 * the writer first reaches it and leaves its mapped pages for the writer to slice (masks
 * likewise leave a matrix's pages to the writer), so the checkpoint is read once. */
#ifndef YOPO_PRUNESTREAM_H
#define YOPO_PRUNESTREAM_H

#include <stddef.h>

#include "model.h"
#include "probe.h"
#include "prune.h"
#include "scorer.h"
#include "tokenizer.h"

enum prunestream_error {
	PRUNESTREAM_OK = 0,
	PRUNESTREAM_ERR_MODEL = -1, /* the checkpoint or its tokenizer cannot be used */
	PRUNESTREAM_ERR_NOMEM = -2,
	PRUNESTREAM_ERR_SCORE = -3, /* the scorer failed (reason in err) */
};

/* Opens dir as model_inspect does (every needed tensor present and shaped as config.json says)
 * without materialising any weight. *m is owned by the caller (model_close). */
int prunestream_open(struct model **m, const char *dir, char *err, size_t errlen);

/* prunestream_open plus dir's tokenizer.json, checked against the vocabulary as text.h does.
 * Both owned by the caller (model_close, tokenizer_free). */
int prunestream_open_text(struct model **m, struct tokenizer **tok, const char *dir, char *err,
			  size_t errlen);

/* Samples tokens probe ids from dir (probe_sample on the model opened MODEL_WEIGHTS_MAPPED_F32:
 * one layer in f32 at a time, the ids of the whole-f32 route; lanes as probe_sample) and the
 * row statistics gathered while sampling, all the probe and policy scorers read; no
 * activations. *p owned by the caller (probe_free).
 * Errors: PRUNESTREAM_ERR_MODEL, PRUNESTREAM_ERR_SCORE (sampling failed; reason in err). */
int prunestream_probe_sample(struct probe **p, const char *dir, int tokens, uint64_t seed,
			     int lanes, char *err, size_t errlen);

/* Row scores of every layer through s (ctx->m is m): layer by layer, only the matrices s reads
 * loaded. *scores as select_scores
 * (select_scores_free). m's layer pointers are set during a layer's scoring and NULL again
 * afterwards. */
int prunestream_scores(float ***scores, struct model *m, const struct scorer *s,
		       struct scorer_ctx *ctx, char *err, size_t errlen);

/* State of prunestream_masks. */
struct prunestream_masks {
	struct model *m;
	const struct scorer *s;
	struct scorer_ctx *ctx;
	struct pcg32 rng0; /* ctx->rng as seeded for the plan */
	enum prune_granularity g; /* WEIGHTS, or an N:M pattern (ratio then unused) */
	double ratio;
};

/* A prune_masks (writer.h) computing each matrix's keep mask through s when the writer reaches
 * it: at ratio (g WEIGHTS) or as the N:M pattern g. st borrows m, s and ctx; it must outlive the
 * write. */
void prunestream_masks(struct prune_masks *out, struct prunestream_masks *st, struct model *m,
		       const struct scorer *s, struct scorer_ctx *ctx, enum prune_granularity g,
		       double ratio);

/* State of prunestream_rows. */
/* Reused f32 buffers for one layer's FFN matrices (up, gate, down): allocating them
 * afresh per layer costs a page fault per 4 KiB of every matrix (in a virtual machine, more than
 * the conversion). Zero-initialise; prunestream_pool_free releases. */
#define PRUNESTREAM_POOL_SLOTS 3
struct prunestream_pool {
	float *buf[PRUNESTREAM_POOL_SLOTS];
	size_t cap[PRUNESTREAM_POOL_SLOTS]; /* elements */
};

void prunestream_pool_free(struct prunestream_pool *pool);

struct prunestream_rows {
	struct model *m;
	const struct scorer *s;
	struct scorer_ctx *ctx;
	struct pcg32 rng0;           /* ctx->rng as seeded for the plan */
	struct prune_plan *plan;     /* uniform: counts fixed (prune_plan_new_rows_ratio) */
	float *scores;               /* (widest layer) one layer's scores */
	struct prunestream_pool pool; /* the layer's matrices */
};

/* A prune_rows (writer.h) scoring each layer through s when the writer first reaches it and
 * setting its kept neurons in plan (a uniform plan whose counts are already final,
 * prune_plan_new_rows_ratio): the layer's FFN matrices are read from the mapping and converted
 * once, and left mapped for the writer to slice (it evicts them). Scores and kept neurons are
 * those of prunestream_scores + prune_plan_from_scores (global = false) bit for bit, whatever
 * the order the writer reaches layers in (file order: layers.0, layers.1, layers.10, ...): the
 * random scorer's stream is jumped ahead to where the numeric-order route has it. st borrows
 * m, s, ctx and plan and
 * must outlive the write; free it with prunestream_rows_free. Errors: PRUNESTREAM_ERR_NOMEM. */
int prunestream_rows(struct prune_rows *out, struct prunestream_rows *st, struct model *m,
		     const struct scorer *s, struct scorer_ctx *ctx, struct prune_plan *plan,
		     char *err, size_t errlen);

/* Frees what prunestream_rows allocated in st (not st itself); a zeroed st is a no-op. */
void prunestream_rows_free(struct prunestream_rows *st);

#endif
