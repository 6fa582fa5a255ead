/* naive: llama2.c-style single-token forward pass. See naive.h. */
#include "naive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct naive {
	const struct model *m;
	int max_seq;
	float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *logits, *scores;
	float *kc, *vc; /* (n_layers, max_seq, n_kv*head_dim) */
	float *mem;
};

struct naive *naive_new(const struct model *m, int max_seq)
{
	const struct config *c = &m->cfg;
	if (c->residual != CONFIG_RESIDUAL_SEQUENTIAL)
		return NULL;
	struct naive *nv = calloc(1, sizeof *nv);
	if (!nv)
		return NULL;
	size_t H = (size_t)c->hidden, qd = (size_t)c->n_heads * c->head_dim;
	size_t kvd = (size_t)c->n_kv_heads * c->head_dim, F = 0, S = (size_t)max_seq;
	for (int l = 0; l < c->n_layers; l++)
		F = (size_t)m->layers[l].ffn > F ? (size_t)m->layers[l].ffn : F;
	size_t sizes[] = {H, H, qd, kvd, kvd, qd, F, F, (size_t)c->vocab, S,
			  (size_t)c->n_layers * S * kvd, (size_t)c->n_layers * S * kvd};
	float **bufs[] = {&nv->x, &nv->xb, &nv->q, &nv->k, &nv->v, &nv->att, &nv->hb, &nv->hb2,
			  &nv->logits, &nv->scores, &nv->kc, &nv->vc};
	size_t total = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		total += sizes[i];
	nv->mem = malloc(total * sizeof(float));
	if (!nv->mem) {
		free(nv);
		return NULL;
	}
	float *p = nv->mem;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		*bufs[i] = p;
		p += sizes[i];
	}
	nv->m = m;
	nv->max_seq = max_seq;
	return nv;
}

void naive_free(struct naive *nv)
{
	if (!nv)
		return;
	free(nv->mem);
	free(nv);
}

/* out (n) = w (n, k) · x (k) + b */
static void matvec(float *out, const float *x, const float *w, const float *b, int n, int k)
{
	for (int i = 0; i < n; i++) {
		float val = b ? b[i] : 0.0f;
		for (int j = 0; j < k; j++)
			val += w[(size_t)i * k + j] * x[j];
		out[i] = val;
	}
}

static void norm(float *o, const float *x, const float *w, const float *b, int d,
		 const struct config *c)
{
	float mean = 0, var = 0;
	if (c->norm == CONFIG_NORM_LAYER) {
		for (int i = 0; i < d; i++)
			mean += x[i];
		mean /= d;
	}
	for (int i = 0; i < d; i++)
		var += (x[i] - mean) * (x[i] - mean);
	float inv = 1.0f / sqrtf(var / d + (float)c->norm_eps);
	for (int i = 0; i < d; i++)
		o[i] = (x[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
}

static float act(float x, enum config_act kind)
{
	switch (kind) {
	case CONFIG_ACT_SILU: return x / (1.0f + expf(-x));
	case CONFIG_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678f));
	case CONFIG_ACT_GELU_TANH:
		return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
	case CONFIG_ACT_RELU: return x > 0 ? x : 0;
	}
	return x;
}

/* HF rotate_half RoPE of each head of v (heads, head_dim) at pos. */
static void rope(float *v, int heads, int pos, const struct config *c)
{
	int half = c->rotary_dim / 2;
	for (int i = 0; i < half; i++) {
		float ang = (float)pos * powf((float)c->rope_theta, -2.0f * i / c->rotary_dim);
		float cs = cosf(ang), sn = sinf(ang);
		for (int h = 0; h < heads; h++) {
			float *p = v + (size_t)h * c->head_dim;
			float a = p[i], b = p[i + half];
			p[i] = a * cs - b * sn;
			p[i + half] = b * cs + a * sn;
		}
	}
}

static void attention(struct naive *nv, int l, int pos)
{
	const struct config *c = &nv->m->cfg;
	int hd = c->head_dim, kvd = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
	int w = c->window[l], lo = w > 0 && pos - w + 1 > 0 ? pos - w + 1 : 0;
	const float *kc = nv->kc + (size_t)l * nv->max_seq * kvd;
	const float *vc = nv->vc + (size_t)l * nv->max_seq * kvd;
	for (int h = 0; h < c->n_heads; h++) {
		const float *q = nv->q + h * hd;
		int kh = h / group;
		float mx = -INFINITY, sum = 0;
		for (int t = lo; t <= pos; t++) {
			float s = 0;
			for (int i = 0; i < hd; i++)
				s += q[i] * kc[(size_t)t * kvd + kh * hd + i];
			s *= (float)c->attn_scale;
			nv->scores[t] = s;
			mx = s > mx ? s : mx;
		}
		for (int t = lo; t <= pos; t++) {
			nv->scores[t] = expf(nv->scores[t] - mx);
			sum += nv->scores[t];
		}
		float *o = nv->att + h * hd;
		memset(o, 0, (size_t)hd * sizeof *o);
		for (int t = lo; t <= pos; t++)
			for (int i = 0; i < hd; i++)
				o[i] += nv->scores[t] / sum * vc[(size_t)t * kvd + kh * hd + i];
	}
}

static void layer(struct naive *nv, int l, int pos)
{
	const struct config *c = &nv->m->cfg;
	const struct model_layer *L = &nv->m->layers[l];
	int H = c->hidden, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
	norm(nv->xb, nv->x, L->attn_norm, L->attn_norm_b, H, c);
	matvec(nv->q, nv->xb, L->wq, L->bq, qd, H);
	matvec(nv->k, nv->xb, L->wk, L->bk, kvd, H);
	matvec(nv->v, nv->xb, L->wv, L->bv, kvd, H);
	if (c->rotary_dim > 0) {
		rope(nv->q, c->n_heads, pos, c);
		rope(nv->k, c->n_kv_heads, pos, c);
	}
	size_t at = ((size_t)l * nv->max_seq + (size_t)pos) * kvd;
	memcpy(nv->kc + at, nv->k, (size_t)kvd * sizeof(float));
	memcpy(nv->vc + at, nv->v, (size_t)kvd * sizeof(float));
	attention(nv, l, pos);
	matvec(nv->xb, nv->att, L->wo, L->bo, H, qd);
	for (int i = 0; i < H; i++)
		nv->x[i] += nv->xb[i];
	norm(nv->xb, nv->x, L->ffn_norm, L->ffn_norm_b, H, c);
	matvec(nv->hb, nv->xb, L->up, L->b_up, L->ffn, H);
	if (c->gated) {
		matvec(nv->hb2, nv->xb, L->gate, L->b_gate, L->ffn, H);
		for (int i = 0; i < L->ffn; i++)
			nv->hb[i] *= act(nv->hb2[i], c->act);
	} else {
		for (int i = 0; i < L->ffn; i++)
			nv->hb[i] = act(nv->hb[i], c->act);
	}
	matvec(nv->xb, nv->hb, L->down, L->b_down, H, L->ffn);
	for (int i = 0; i < H; i++)
		nv->x[i] += nv->xb[i];
}

const float *naive_step(struct naive *nv, int token, int pos)
{
	const struct model *m = nv->m;
	const struct config *c = &m->cfg;
	int H = c->hidden;
	memcpy(nv->x, m->embed + (size_t)token * H, (size_t)H * sizeof(float));
	if (c->learned_pos)
		for (int i = 0; i < H; i++)
			nv->x[i] += m->pos_embed[(size_t)(c->pos_offset + pos) * H + i];
	for (int l = 0; l < c->n_layers; l++)
		layer(nv, l, pos);
	norm(nv->xb, nv->x, m->final_norm, m->final_norm_b, H, c);
	matvec(nv->logits, nv->xb, m->lm_head, m->lm_head_b, c->vocab, H);
	return nv->logits;
}
