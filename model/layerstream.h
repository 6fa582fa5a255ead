/* layerstream: token windows run through a model one decoder layer at a time, for callers that
 * gather per-layer activations without holding the model (Wanda's calibration norms, calib.h;
 * the probe activations of yopo prune, probe.h).
 *
 * The windows' hidden states (tokens x hidden f32) are embedded once from the mapping; each
 * layerstream_run converts one layer's weights to f32 (model_layer_load, its mapped pages
 * evicted), runs every window through it from position 0 exactly as forward_run does between the
 * embedding and the final norm (forward_run_layer on a one-layer view of the model, so one
 * layer's KV cache), lets an observer see the layer, and frees the layer again. Memory: one
 * layer's weights, the hidden states and one window's forward scratch, whatever the model's
 * size. The hidden states and what the observer sees equal forward_run's bit for bit. */
#ifndef YOPO_LAYERSTREAM_H
#define YOPO_LAYERSTREAM_H

#include <stddef.h>

#include "forward.h"
#include "model.h"

enum layerstream_error {
	LAYERSTREAM_OK = 0,
	LAYERSTREAM_ERR_NOMEM = -1,
	LAYERSTREAM_ERR_FORWARD = -2, /* a token outside the vocabulary, a tensor missing, a failed run */
	LAYERSTREAM_ERR_ARG = -3,     /* no windows, a window empty or beyond the context, layers out of order */
};

struct layerstream;

/* Windows w = ids[starts[w] .. starts[w+1]) for w < n_win (starts ascending, starts[0] = 0),
 * each run from position 0. m is borrowed (it must outlive the result) and may have been opened
 * without weights: its layer pointers are set during a run and NULL again afterwards. ids is
 * copied into the embeddings at once; starts is copied. *out is owned by the caller. */
int layerstream_new(struct layerstream **out, struct model *m, const int *ids,
		    const size_t *starts, size_t n_win);

void layerstream_free(struct layerstream *s);

/* Runs every window through `layer`, the next layer in order (0 first), with fn (may be NULL)
 * observing it: once per window and point, in window order, with layer index 0. */
int layerstream_run(struct layerstream *s, int layer, forward_observe_fn *fn, void *ctx);

#endif
