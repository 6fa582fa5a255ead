/* calib: Wanda's calibration statistics — per layer, the L2 norm over calibration tokens of every
 * feature of the FFN input (what up/gate multiply) and of the FFN intermediate (what down
 * multiplies).
 *
 * Windows follow the perplexity protocol of eval.h: the caller passes the whole token sequence
 * (BOS first); it is cut into consecutive non-overlapping windows of seq_len tokens, each run from
 * position 0; a final partial window is used whatever its length. Every position of every window
 * contributes its activations (there is no next-token target here). */
#ifndef YOPO_CALIB_H
#define YOPO_CALIB_H

#include <stddef.h>

#include "model.h"

enum calib_error {
	CALIB_OK = 0,
	CALIB_ERR_NOMEM = -1,
	CALIB_ERR_FORWARD = -2, /* the forward pass failed (e.g. a token id outside the vocabulary) */
	CALIB_ERR_ARG = -3,     /* no tokens, or seq_len < 1 or beyond the model's context */
};

/* Static one-line description of a calib_error. */
const char *calib_strerror(int err);

struct calib_norms {
	int n_layers, hidden;
	int *ffn;        /* (n_layers) FFN width of each layer */
	float **input;   /* [layer] (hidden): ||X_j||_2 of the FFN input over every calibration token */
	float **inter;   /* [layer] (ffn[layer]): the same for the FFN intermediate */
	size_t tokens;   /* positions observed */
	size_t windows;
};

/* Called after each calibration window: windows done and the total that will run. */
typedef void calib_progress_fn(void *ctx, size_t done, size_t total);

/* calib_collect_xnorm with progress (fn may be NULL) after each window. */
int calib_collect_xnorm_progress(struct calib_norms **out, const struct model *m, const int *ids,
				 size_t n_ids, int seq_len, size_t max_windows,
				 calib_progress_fn *fn, void *ctx);

/* Runs m on ids (n_ids) in windows of seq_len (max_windows 0: all windows) and returns the norms.
 * On success *out is owned by the caller (calib_norms_free). */
int calib_collect_xnorm(struct calib_norms **out, const struct model *m, const int *ids,
			size_t n_ids, int seq_len, size_t max_windows);

/* calib_collect_xnorm as the Wanda reference code runs it: every calibration token through
 * layer l (all windows), its norms taken, then layer l+1; only one layer's weights (converted to
 * f32 from the mapping by model_layer_load, pages evicted) and the hidden states of the
 * calibration tokens (tokens x hidden f32) are held, not the model. m may have been opened
 * without weights (its layer pointers are set during a layer and NULL again afterwards).
 * Same windows and the same norms as calib_collect_xnorm up to float summation order. */
int calib_stream_xnorm(struct calib_norms **out, struct model *m, const int *ids, size_t n_ids,
		       int seq_len, size_t max_windows);

/* calib_stream_xnorm with progress (fn may be NULL) after each layer: done of total layers. */
int calib_stream_xnorm_progress(struct calib_norms **out, struct model *m, const int *ids,
				size_t n_ids, int seq_len, size_t max_windows,
				calib_progress_fn *fn, void *ctx);

/* Allocates zeroed norms shaped like m (for callers that fill them by other means, and tests).
 * On success *out is owned by the caller. Errors: CALIB_ERR_NOMEM. */
int calib_norms_new(struct calib_norms **out, const struct model *m);

void calib_norms_free(struct calib_norms *c);

#endif
