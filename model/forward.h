/* forward: causal-LM logits for every supported family, with a KV cache.
 *
 * One call runs a chunk of tokens at consecutive positions [pos, pos+n) and attends to everything
 * cached before pos, so perplexity (one chunk per window, pos = 0) and greedy generation (a
 * prompt chunk, then one token at a time) share one code path: a chunk goes through each layer
 * as one batch (every Linear layer is one (n, in) x (in, out) product, matmul.h: own kernel or
 * oneDNN). Attention visits exactly the causal (and local-window) keys of each query, no masked
 * work: keys are cached transposed per head (position-contiguous) so the score loop runs over
 * keys in vectors (kernel_attend); chunks large enough run their heads on the worker pool.
 *
 * Stored weights (model.h, MODEL_WEIGHTS_STORED*): each layer is converted to f32 into one
 * reused buffer just before it runs, or, for BF16 checkpoints on CPUs with avx512_bf16 under
 * MODEL_WEIGHTS_STORED, multiplied straight from the mapping by oneDNN's BF16 matmul (activations
 * rounded to BF16, f32 accumulation); for F16 checkpoints, runs of fewer than 32 rows multiply
 * the mapped F16 matrices directly with the own kernel, converting in registers, bit for bit the
 * converted layer's result (forward_set_f16_direct). A layer's mapped pages are evicted after it
 * ran, so a pass holds one layer of the mapping, and prefetched before it runs, one call per
 * tensor (safetensors_prefetch), so every pass maps them again without a page fault per 64 KiB
 * (forward_set_keep_pages, forward_set_prefetch); the LM head likewise, and the embedding's pages
 * after the rows were read.
 *
 * Lanes (forward_new_lanes, forward_run_lanes): up to n_lanes independent sequences, each with
 * its own KV cache, decoded in lockstep: one call takes one row per lane (each at its own
 * position), so every Linear layer runs once on the (n, in) rows of all lanes and a stored model
 * converts each layer once per call instead of once per lane (batched sampling, env/probe.h).
 * forward_new is one lane, lane 0, which forward_run and forward_run_layer use.
 *
 * A caller may observe the FFN input (the normalised hidden state fed to up/gate) and the FFN
 * intermediate (the activation fed to down) of every layer, e.g. to collect Wanda's activation
 * norms. */
#ifndef YOPO_FORWARD_H
#define YOPO_FORWARD_H

#include <stdbool.h>

#include "model.h"

enum forward_error {
	FORWARD_OK = 0,
	FORWARD_ERR_NOMEM = -1,
	FORWARD_ERR_TOKEN = -2,    /* a token id outside [0, vocab) */
	FORWARD_ERR_TOO_LONG = -3, /* pos + n exceeds the cache or the position table */
	FORWARD_ERR_MATMUL = -4,   /* a matrix product failed (oneDNN) */
	FORWARD_ERR_ARG = -5,
	FORWARD_ERR_KV_RANGE = -6, /* a key or value beyond an F16 KV cache's range (±65504) */
};

const char *forward_strerror(int err);

enum forward_point {
	FORWARD_POINT_FFN_INPUT,  /* x (n, hidden): what up/gate multiply */
	FORWARD_POINT_FFN_HIDDEN, /* h (n, ffn of the layer): what down multiplies */
};

/* Called during forward_run; x is only valid during the call. */
typedef void forward_observe_fn(void *ctx, int layer, enum forward_point point,
				const float *x, int n, int dim);

struct forward;

/* Scratch and KV cache for up to max_seq positions of model m (borrowed; must outlive the
 * result). *out is owned by the caller (forward_free). */
int forward_new(struct forward **out, const struct model *m, int max_seq);

/* forward_new with n_lanes ≥ 1 KV caches of max_seq positions each (memory: n_lanes × n_layers ×
 * max_seq × 2·n_kv·head_dim floats), for forward_run_lanes. */
int forward_new_lanes(struct forward **out, const struct model *m, int max_seq, int n_lanes);

/* How the KV caches hold keys and values: f32, or IEEE binary16 (half the memory: a 7B model's
 * 16 lanes of 129 positions take 1.08 GB instead of 2.16 GB). An F16 cache rounds each key and
 * value to the nearest half as it is stored; attention converts a head's cached rows back to f32
 * (exactly) and runs the same kernel on them. F16_REF is its reference: f32 caches holding the
 * same rounded values, read directly; the two give the same logits bit for bit (test-forward).
 * In either, a key or value past ±65504 fails the call with FORWARD_ERR_KV_RANGE; the caches are
 * then unusable (start the sequences again, e.g. with an F32 cache). */
enum forward_kv { FORWARD_KV_F32, FORWARD_KV_F16, FORWARD_KV_F16_REF };

/* forward_new_lanes with the KV caches held as kv. */
int forward_new_lanes_kv(struct forward **out, const struct model *m, int max_seq, int n_lanes,
			 enum forward_kv kv);

void forward_free(struct forward *f);

/* Stored models: whether a layer's mapped pages stay resident after it ran (default false: they
 * are evicted, so a pass holds one layer of the mapping, and prefetched again before the layer's
 * next run). true leaves every page read mapped (the whole file after one pass): bench-probe's
 * reference. */
void forward_set_keep_pages(struct forward *f, bool keep);

/* Stored models whose pages are evicted: whether a layer (and a stored LM head) is prefetched
 * before it runs, one MADV_POPULATE_READ per tensor (default true), or faulted in page by page as
 * the products read it (false: the reference bench-probe measures against). Values unchanged. */
void forward_set_prefetch(struct forward *f, bool on);

/* Stored F16 models: whether a run of few rows multiplies the mapped F16 matrices directly
 * (matmul_nt_f16: converted in registers, the same logits bit for bit) instead of converting the
 * layer into an f32 buffer first (default true; it applies where every product of the layer takes
 * the own kernel, i.e. fewer than 32 rows: decoding and lockstep probe sampling). false forces the
 * conversion, the reference bench-probe and the tests measure against. */
void forward_set_f16_direct(struct forward *f, bool on);

/* Observer for later runs; fn NULL disables. */
void forward_set_observer(struct forward *f, forward_observe_fn *fn, void *ctx);

/* Runs tokens[0..n) at positions pos..pos+n-1. logits (n, vocab) receives one row per token.
 * Positions ≥ pos in the cache are overwritten; pos = 0 starts a new sequence. */
int forward_run(struct forward *f, float *logits, const int *tokens, int n, int pos);

/* Runs n rows, one per lane: row t is token tokens[t] of lane lane[t] at position pos[t] (attends
 * to positions 0..pos[t] of that lane's cache, overwriting position pos[t]; pos 0 starts a new
 * sequence in the lane; lanes need not be at equal positions). logits (n, vocab) receives row t's
 * logits; equal, up to the rounding of the batched products, to running each lane alone with
 * forward_run. One exception to one row per lane: a lane may take two rows, one at position 0
 * (its next sequence's first token) and one at a later position p (the last token of the
 * sequence it ran), when both sequences start with the same token — position 0's key and value
 * are then the same for both, so the later row reads its own sequence's keys 0..p. Errors:
 * FORWARD_ERR_ARG (n outside [1, 2·n_lanes], a lane outside [0, n_lanes), a lane twice other
 * than so, pos < 0), FORWARD_ERR_TOO_LONG (pos ≥ max_seq), FORWARD_ERR_TOKEN. */
int forward_run_lanes(struct forward *f, float *logits, const int *tokens, const int *lane,
		      const int *pos, int n);

/* Runs hidden states x (n, hidden), in place, through decoder layer `layer` alone at positions
 * pos..pos+n-1 (its KV cache as forward_run would fill it), exactly as forward_run does between
 * the embedding and the final norm; the observer sees the layer. For callers that stream the
 * weights one layer at a time: only that layer's weights are read. */
int forward_run_layer(struct forward *f, float *x, int layer, int n, int pos);

#endif
