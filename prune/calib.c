/* calib: activation norms for Wanda, gathered through the forward pass's observer. See calib.h. */
#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "layerstream.h"

const char *calib_strerror(int err)
{
	switch (err) {
	case CALIB_OK: return "success";
	case CALIB_ERR_NOMEM: return "out of memory";
	case CALIB_ERR_FORWARD: return "forward pass failed on the calibration tokens";
	case CALIB_ERR_ARG: return "no calibration tokens or bad window length";
	}
	return "unknown calibration error";
}

void calib_norms_free(struct calib_norms *c)
{
	if (!c)
		return;
	for (int l = 0; c->input && l < c->n_layers; l++)
		free(c->input[l]);
	for (int l = 0; c->inter && l < c->n_layers; l++)
		free(c->inter[l]);
	free(c->input);
	free(c->inter);
	free(c->ffn);
	free(c);
}

int calib_norms_new(struct calib_norms **out, const struct model *m)
{
	const struct config *cfg = &m->cfg;
	struct calib_norms *c = calloc(1, sizeof *c);
	if (!c)
		return CALIB_ERR_NOMEM;
	c->n_layers = cfg->n_layers;
	c->hidden = cfg->hidden;
	c->ffn = calloc((size_t)cfg->n_layers, sizeof *c->ffn);
	c->input = calloc((size_t)cfg->n_layers, sizeof *c->input);
	c->inter = calloc((size_t)cfg->n_layers, sizeof *c->inter);
	if (!c->ffn || !c->input || !c->inter)
		goto nomem;
	for (int l = 0; l < cfg->n_layers; l++) {
		c->ffn[l] = m->layers[l].ffn;
		c->input[l] = calloc((size_t)cfg->hidden, sizeof(float));
		c->inter[l] = calloc((size_t)c->ffn[l], sizeof(float));
		if (!c->input[l] || !c->inter[l])
			goto nomem;
	}
	*out = c;
	return CALIB_OK;
nomem:
	calib_norms_free(c);
	return CALIB_ERR_NOMEM;
}

/* Running sums of squares, in double: one block per layer for each point. */
struct accum {
	int n_layers, hidden;
	const int *ffn;
	double **in, **mid;
};

static void observe(void *ctx, int layer, enum forward_point point, const float *x, int n, int dim)
{
	struct accum *a = ctx;
	if (layer < 0 || layer >= a->n_layers)
		return;
	double *acc = point == FORWARD_POINT_FFN_INPUT ? a->in[layer] : a->mid[layer];
	int want = point == FORWARD_POINT_FFN_INPUT ? a->hidden : a->ffn[layer];
	if (dim != want)
		return;
	for (int t = 0; t < n; t++)
		for (int j = 0; j < dim; j++) {
			double v = x[(size_t)t * dim + j];
			acc[j] += v * v;
		}
}

int calib_collect_xnorm(struct calib_norms **out, const struct model *m, const int *ids,
			size_t n_ids, int seq_len, size_t max_windows)
{
	return calib_collect_xnorm_progress(out, m, ids, n_ids, seq_len, max_windows, NULL, NULL);
}

int calib_collect_xnorm_progress(struct calib_norms **out, const struct model *m, const int *ids,
				 size_t n_ids, int seq_len, size_t max_windows,
				 calib_progress_fn *fn, void *ctx)
{
	if (n_ids == 0 || seq_len < 1 || seq_len > m->cfg.max_pos)
		return CALIB_ERR_ARG;
	int rc = CALIB_ERR_NOMEM;
	struct calib_norms *c = NULL;
	struct forward *f = NULL;
	float *logits = NULL;
	int L = m->cfg.n_layers;
	struct accum a = {L, m->cfg.hidden, NULL, NULL, NULL};
	if (calib_norms_new(&c, m))
		goto out;
	a.ffn = c->ffn;
	a.in = calloc((size_t)L, sizeof *a.in);
	a.mid = calloc((size_t)L, sizeof *a.mid);
	logits = malloc((size_t)seq_len * (size_t)m->cfg.vocab * sizeof *logits);
	if (!a.in || !a.mid || !logits)
		goto out;
	for (int l = 0; l < L; l++) {
		a.in[l] = calloc((size_t)a.hidden, sizeof(double));
		a.mid[l] = calloc((size_t)c->ffn[l], sizeof(double));
		if (!a.in[l] || !a.mid[l])
			goto out;
	}
	if (forward_new(&f, m, seq_len))
		goto out;
	forward_set_observer(f, observe, &a);
	size_t done = 0;
	for (size_t start = 0; start < n_ids; start += (size_t)seq_len) {
		if (max_windows && c->windows == max_windows)
			break;
		size_t n = n_ids - start < (size_t)seq_len ? n_ids - start : (size_t)seq_len;
		if (forward_run(f, logits, ids + start, (int)n, 0)) {
			rc = CALIB_ERR_FORWARD;
			goto out;
		}
		done += n;
		c->windows++;
		if (fn) {
			size_t total = (n_ids + (size_t)seq_len - 1) / (size_t)seq_len;
			fn(ctx, c->windows, max_windows && max_windows < total ? max_windows : total);
		}
	}
	c->tokens = done;
	for (int l = 0; l < L; l++) {
		for (int j = 0; j < a.hidden; j++)
			c->input[l][j] = (float)sqrt(a.in[l][j]);
		for (int j = 0; j < c->ffn[l]; j++)
			c->inter[l][j] = (float)sqrt(a.mid[l][j]);
	}
	*out = c;
	c = NULL;
	rc = CALIB_OK;
out:
	for (int l = 0; l < L; l++) {
		if (a.in)
			free(a.in[l]);
		if (a.mid)
			free(a.mid[l]);
	}
	free(a.in);
	free(a.mid);
	free(logits);
	forward_free(f);
	calib_norms_free(c);
	return rc;
}

/* ---- streamed: one layer's weights at a time (layerstream.h) ---- */

/* Observer of the streamed layer: the accumulators of the layer being run. */
struct stream_acc {
	double *in, *mid;
	int hidden, ffn;
};

static void observe_one(void *ctx, int layer, enum forward_point point, const float *x, int n,
			int dim)
{
	struct stream_acc *a = ctx;
	(void)layer;
	double *acc = point == FORWARD_POINT_FFN_INPUT ? a->in : a->mid;
	if (dim != (point == FORWARD_POINT_FFN_INPUT ? a->hidden : a->ffn))
		return;
	for (int t = 0; t < n; t++)
		for (int j = 0; j < dim; j++) {
			double v = x[(size_t)t * dim + j];
			acc[j] += v * v;
		}
}

/* Norms of layer l from the accumulated squares. */
static void finish_layer(struct calib_norms *c, int l, const struct stream_acc *a)
{
	for (int j = 0; j < c->hidden; j++)
		c->input[l][j] = (float)sqrt(a->in[j]);
	for (int j = 0; j < c->ffn[l]; j++)
		c->inter[l][j] = (float)sqrt(a->mid[j]);
}

int calib_stream_xnorm(struct calib_norms **out, struct model *m, const int *ids, size_t n_ids,
		       int seq_len, size_t max_windows)
{
	return calib_stream_xnorm_progress(out, m, ids, n_ids, seq_len, max_windows, NULL, NULL);
}

/* starts (n_win + 1) of the windows of seq_len over n_tok tokens (the last may be partial). */
static size_t *window_starts(size_t n_win, size_t n_tok, int seq_len)
{
	size_t *starts = malloc((n_win + 1) * sizeof *starts);
	for (size_t w = 0; starts && w < n_win; w++)
		starts[w] = w * (size_t)seq_len;
	if (starts)
		starts[n_win] = n_tok;
	return starts;
}

static int calib_error(int layerstream_err)
{
	return layerstream_err == LAYERSTREAM_ERR_NOMEM ? CALIB_ERR_NOMEM
	       : layerstream_err == LAYERSTREAM_ERR_ARG ? CALIB_ERR_ARG : CALIB_ERR_FORWARD;
}

int calib_stream_xnorm_progress(struct calib_norms **out, struct model *m, const int *ids,
				size_t n_ids, int seq_len, size_t max_windows,
				calib_progress_fn *fn, void *ctx)
{
	if (n_ids == 0 || seq_len < 1 || seq_len > m->cfg.max_pos)
		return CALIB_ERR_ARG;
	size_t n_win = (n_ids + (size_t)seq_len - 1) / (size_t)seq_len;
	if (max_windows && n_win > max_windows)
		n_win = max_windows;
	size_t n_tok = n_win * (size_t)seq_len < n_ids ? n_win * (size_t)seq_len : n_ids;
	int rc = CALIB_ERR_NOMEM, L = m->cfg.n_layers, H = m->cfg.hidden, ffn_max = 0;
	for (int l = 0; l < L; l++)
		if (m->layers[l].ffn > ffn_max)
			ffn_max = m->layers[l].ffn;
	struct calib_norms *c = NULL;
	struct layerstream *ls = NULL;
	struct stream_acc a = {.hidden = H};
	size_t *starts = window_starts(n_win, n_tok, seq_len);
	a.in = malloc((size_t)H * sizeof *a.in + 1);
	a.mid = malloc((size_t)ffn_max * sizeof *a.mid + 1);
	if (!starts || !a.in || !a.mid || calib_norms_new(&c, m))
		goto out;
	int e = layerstream_new(&ls, m, ids, starts, n_win);
	for (int l = 0; l < L && !e; l++) {
		memset(a.in, 0, (size_t)H * sizeof *a.in);
		memset(a.mid, 0, (size_t)ffn_max * sizeof *a.mid);
		a.ffn = m->layers[l].ffn;
		if ((e = layerstream_run(ls, l, observe_one, &a)))
			break;
		finish_layer(c, l, &a);
		if (fn)
			fn(ctx, (size_t)l + 1, (size_t)L);
	}
	if (e) {
		rc = calib_error(e);
		goto out;
	}
	c->tokens = n_tok;
	c->windows = n_win;
	*out = c;
	c = NULL;
	rc = CALIB_OK;
out:
	layerstream_free(ls);
	calib_norms_free(c);
	free(starts);
	free(a.mid);
	free(a.in);
	return rc;
}
