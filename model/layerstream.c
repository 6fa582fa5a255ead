/* layerstream: windows through one layer's weights at a time. See layerstream.h. */
#include "layerstream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct layerstream {
	struct model *m;
	struct model one;         /* m seen as a one-layer model: the forward pass's KV cache */
	struct model_layer slot;  /* one.layers[0]: the layer being run */
	struct forward *f;
	float *x;                 /* (tokens, hidden) hidden states of every window */
	size_t *starts;           /* (n_win + 1) */
	size_t n_win;
	int next;                 /* the layer layerstream_run expects */
};

/* x (n, hidden) = the embeddings of ids at window positions 0.. (learned positions added),
 * converted row by row from the mapping, as forward_run embeds them. */
static int embed_window(float *x, const struct model *m, const int *ids, int n)
{
	const struct config *c = &m->cfg;
	const struct safetensors_tensor *pe =
		c->learned_pos ? model_find_tensor(m->st, c, CONFIG_TENSOR_POS_EMBED, 0) : NULL;
	size_t H = (size_t)c->hidden;
	float *row = malloc(H * sizeof *row + 1);
	if (!row || (c->learned_pos && !pe)) {
		free(row);
		return LAYERSTREAM_ERR_NOMEM;
	}
	for (int t = 0; t < n; t++) {
		if (ids[t] < 0 || ids[t] >= c->vocab) {
			free(row);
			return LAYERSTREAM_ERR_FORWARD;
		}
		model_embed_row(x + (size_t)t * H, m, ids[t]);
		if (pe) {
			struct safetensors_tensor v = *pe; /* one row of the table */
			v.ndim = 1;
			v.shape[0] = (int64_t)H;
			v.shape[1] = 0;
			v.nelem = H;
			v.nbytes = H * safetensors_dtype_size(pe->dtype);
			v.data = (const unsigned char *)pe->data + (size_t)(c->pos_offset + t) * v.nbytes;
			safetensors_read_f32(row, &v);
			for (size_t i = 0; i < H; i++)
				x[(size_t)t * H + i] += row[i];
		}
	}
	free(row);
	return LAYERSTREAM_OK;
}

void layerstream_free(struct layerstream *s)
{
	if (!s)
		return;
	forward_free(s->f);
	free(s->x);
	free(s->starts);
	free(s);
}

/* Windows ascending, non-empty, within the context; *longest = the longest. */
static int check_windows(int *longest, const struct model *m, const size_t *starts, size_t n_win)
{
	*longest = 0;
	if (n_win == 0 || starts[0] != 0)
		return LAYERSTREAM_ERR_ARG;
	for (size_t w = 0; w < n_win; w++) {
		if (starts[w + 1] <= starts[w] || starts[w + 1] - starts[w] > (size_t)m->cfg.max_pos)
			return LAYERSTREAM_ERR_ARG;
		if ((int)(starts[w + 1] - starts[w]) > *longest)
			*longest = (int)(starts[w + 1] - starts[w]);
	}
	return LAYERSTREAM_OK;
}

int layerstream_new(struct layerstream **out, struct model *m, const int *ids,
		    const size_t *starts, size_t n_win)
{
	int longest, rc = check_windows(&longest, m, starts, n_win), ffn_max = 0;
	if (rc)
		return rc;
	size_t n_tok = starts[n_win], H = (size_t)m->cfg.hidden;
	if (n_tok > SIZE_MAX / sizeof(float) / H)
		return LAYERSTREAM_ERR_NOMEM;
	struct layerstream *s = calloc(1, sizeof *s);
	if (!s)
		return LAYERSTREAM_ERR_NOMEM;
	for (int l = 0; l < m->cfg.n_layers; l++)
		if (m->layers[l].ffn > ffn_max)
			ffn_max = m->layers[l].ffn;
	s->m = m;
	s->n_win = n_win;
	s->slot = (struct model_layer){.ffn = ffn_max}; /* sizes the forward scratch */
	s->one = *m;
	s->one.cfg.n_layers = 1;
	s->one.layers = &s->slot;
	s->x = malloc(n_tok * H * sizeof *s->x + 1);
	s->starts = malloc((n_win + 1) * sizeof *s->starts);
	rc = LAYERSTREAM_ERR_NOMEM;
	if (!s->x || !s->starts || forward_new(&s->f, &s->one, longest))
		goto fail;
	memcpy(s->starts, starts, (n_win + 1) * sizeof *starts);
	for (size_t w = 0; w < n_win; w++)
		if ((rc = embed_window(s->x + starts[w] * H, m, ids + starts[w],
				       (int)(starts[w + 1] - starts[w]))))
			goto fail;
	*out = s;
	return LAYERSTREAM_OK;
fail:
	layerstream_free(s);
	return rc;
}

int layerstream_run(struct layerstream *s, int layer, forward_observe_fn *fn, void *ctx)
{
	struct model *m = s->m;
	if (layer != s->next || layer >= m->cfg.n_layers)
		return LAYERSTREAM_ERR_ARG;
	float *arena = NULL;
	int e = model_layer_load(m, layer, &arena);
	if (e)
		return e == MODEL_ERR_NOMEM ? LAYERSTREAM_ERR_NOMEM : LAYERSTREAM_ERR_FORWARD;
	s->slot = m->layers[layer];
	s->one.cfg.window[0] = m->cfg.window[layer]; /* per-layer settings follow the layer */
	s->one.cfg.layer_ffn[0] = m->cfg.layer_ffn[layer];
	forward_set_observer(s->f, fn, ctx);
	int rc = LAYERSTREAM_OK;
	size_t H = (size_t)m->cfg.hidden;
	for (size_t w = 0; w < s->n_win && !rc; w++)
		if (forward_run_layer(s->f, s->x + s->starts[w] * H, 0,
				      (int)(s->starts[w + 1] - s->starts[w]), 0))
			rc = LAYERSTREAM_ERR_FORWARD;
	forward_set_observer(s->f, NULL, NULL);
	s->slot = (struct model_layer){.ffn = s->slot.ffn};
	model_layer_unload(m, layer, arena);
	if (!rc)
		s->next++;
	return rc;
}
