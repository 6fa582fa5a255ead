/* forward: decoder-only transformer forward pass over the canonical weights of model.h. */
#include "forward.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halfconv.h"
#include "kernel.h"
#include "matmul.h"
#include "pool.h"

/* The weights of one layer for this run: f32 matrices (L), and for a stored BF16 or F16 layer the
 * mapped matrices multiplied directly (NULL where L's f32 one is used). */
struct layer_w {
	const struct model_layer *L;
	const uint16_t *q, *k, *v, *o, *up, *gate, *down; /* mapped 16-bit matrices, or NULL */
	bool f16; /* they are F16 (the own kernel converts them as it reads), else BF16 (oneDNN) */
};

struct forward {
	const struct model *m;
	bool bf16;        /* stored BF16 weights multiplied as BF16 (model.h, matmul_has_bf16) */
	bool keep_pages;  /* stored model: leave a layer's mapped pages resident after it ran */
	bool no_prefetch; /* stored model, pages evicted: fault them in as read, no prefetch */
	bool no_f16_direct; /* stored F16 model: convert layers even where f16_direct holds */
	float *wbuf;      /* stored model: one layer (or the LM head) converted to f32 */
	float *wscratch;  /* stored model: conversion scratch, or NULL */
	struct model_layer cur; /* stored model: the current layer, pointing into wbuf */
	struct matmul *mm;
	int max_seq;
	int n_lanes;     /* independent sequences, each with its own KV cache */
	int rows;        /* row capacity of the activation buffers: max(max_seq, 2 n_lanes) */
	int ffn_max;
	forward_observe_fn *observe;
	void *observe_ctx;
	/* all buffers below live in one allocation */
	float *x;        /* (rows, hidden) residual stream */
	float *a, *b;    /* (rows, hidden) normalised inputs of attention / FFN */
	float *q;        /* (rows, n_heads*head_dim) */
	float *k, *v;    /* (rows, n_kv*head_dim) this call's keys/values (pre-cache) */
	float *att;      /* (rows, n_heads*head_dim) attention output before o_proj */
	float *proj;     /* (rows, hidden) */
	float *up, *gate;/* (rows, ffn_max) */
	float *kcache;   /* (n_lanes, n_layers, n_kv, head_dim, max_seq) keys, position-contiguous */
	float *vcache;   /* (n_lanes, n_layers, n_kv, max_seq, head_dim) values */
	bool kv16;       /* the caches are kc16/vc16 (FORWARD_KV_F16), kcache/vcache empty */
	bool kv_round;   /* FORWARD_KV_F16_REF: kcache/vcache hold values rounded to halves */
	uint16_t *kc16, *vc16; /* F16 caches, kcache/vcache's shapes */
	float *rope_cos, *rope_sin; /* (max_seq, rotary_dim/2) */
	float *mem;
	float *scores;   /* (n_scores, score_floats) per pool worker: one query's attention row
			  * (max_seq), and with an F16 cache a head's keys (hd, max_seq) and values
			  * (max_seq, hd) converted to f32 */
	size_t score_floats;
	int n_scores;
};

const char *forward_strerror(int err)
{
	switch (err) {
	case FORWARD_OK: return "success";
	case FORWARD_ERR_NOMEM: return "out of memory";
	case FORWARD_ERR_TOKEN: return "token id out of the vocabulary";
	case FORWARD_ERR_TOO_LONG: return "sequence longer than the model's context";
	case FORWARD_ERR_MATMUL: return "matrix multiply failed (oneDNN)";
	case FORWARD_ERR_ARG: return "invalid argument";
	case FORWARD_ERR_KV_RANGE: return "a key or value is beyond the F16 KV cache's range";
	}
	return "unknown forward error";
}

/* The rows of one call: row t is at position pos[t] of lane lane[t], or, for a chunk (arrays
 * NULL), at position pos0 + t of lane 0. */
struct rows {
	int n, pos0;
	const int *lane, *pos;
};

static int row_pos(const struct rows *r, int t)
{
	return r->pos ? r->pos[t] : r->pos0 + t;
}

static int row_lane(const struct rows *r, int t)
{
	return r->lane ? r->lane[t] : 0;
}

int forward_new(struct forward **out, const struct model *m, int max_seq)
{
	return forward_new_lanes(out, m, max_seq, 1);
}

int forward_new_lanes(struct forward **out, const struct model *m, int max_seq, int n_lanes)
{
	return forward_new_lanes_kv(out, m, max_seq, n_lanes, FORWARD_KV_F32);
}

int forward_new_lanes_kv(struct forward **out, const struct model *m, int max_seq, int n_lanes,
			 enum forward_kv kv)
{
	const struct config *c = &m->cfg;
	if (max_seq <= 0 || n_lanes <= 0 ||
	    (kv != FORWARD_KV_F32 && kv != FORWARD_KV_F16 && kv != FORWARD_KV_F16_REF))
		return FORWARD_ERR_ARG;
	if (c->learned_pos && max_seq > c->max_pos)
		max_seq = c->max_pos;
	struct forward *f = calloc(1, sizeof *f);
	if (!f)
		return FORWARD_ERR_NOMEM;
	f->m = m;
	f->max_seq = max_seq;
	f->n_lanes = n_lanes;
	f->kv16 = kv == FORWARD_KV_F16;
	f->kv_round = kv == FORWARD_KV_F16_REF;
	f->score_floats = (size_t)max_seq * (f->kv16 ? 1 + 2 * (size_t)c->head_dim : 1);
	f->rows = max_seq > 2 * n_lanes ? max_seq : 2 * n_lanes;
	for (int l = 0; l < c->n_layers; l++)
		if (m->layers[l].ffn > f->ffn_max)
			f->ffn_max = m->layers[l].ffn;
	size_t S = (size_t)max_seq, H = (size_t)c->hidden, R = (size_t)f->rows;
	size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
	size_t half = (size_t)c->rotary_dim / 2, F = (size_t)f->ffn_max;
	size_t cache = (size_t)n_lanes * (size_t)c->n_layers * S * kvd;
	size_t cache32 = f->kv16 ? 0 : cache;
	size_t sizes[] = {R * H, R * H, R * H, R * qd, R * kvd, R * kvd, R * qd, R * H, R * F, R * F,
			  cache32, cache32, S * half, S * half};
	size_t total = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		total += sizes[i];
	f->mem = malloc(total * sizeof(float));
	if (m->stored) {
		f->bf16 = !m->f32_compute && m->dtype == SAFETENSORS_DTYPE_BF16 && matmul_has_bf16();
		f->wbuf = malloc(m->layer_floats * sizeof(float));
		if (m->scratch_floats)
			f->wscratch = malloc(m->scratch_floats * sizeof(float));
	}
	bool stored_ok = !m->stored || (f->wbuf && (!m->scratch_floats || f->wscratch));
	if (f->kv16) {
		f->kc16 = malloc(cache * sizeof *f->kc16);
		f->vc16 = malloc(cache * sizeof *f->vc16);
	}
	bool kv_ok = !f->kv16 || (f->kc16 && f->vc16);
	if (!f->mem || !stored_ok || !kv_ok || matmul_new(&f->mm)) {
		forward_free(f);
		return FORWARD_ERR_NOMEM;
	}
	float **bufs[] = {&f->x, &f->a, &f->b, &f->q, &f->k, &f->v, &f->att, &f->proj, &f->up, &f->gate,
			  &f->kcache, &f->vcache, &f->rope_cos, &f->rope_sin};
	float *p = f->mem;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		*bufs[i] = p;
		p += sizes[i];
	}
	/* HF: inv_freq_i = theta^(-2i/rotary_dim), angle = pos * inv_freq_i */
	for (size_t pos = 0; pos < S; pos++)
		for (size_t i = 0; i < half; i++) {
			double inv = pow(c->rope_theta, -2.0 * (double)i / (double)c->rotary_dim);
			double ang = (double)pos * inv;
			f->rope_cos[pos * half + i] = (float)cos(ang);
			f->rope_sin[pos * half + i] = (float)sin(ang);
		}
	*out = f;
	return FORWARD_OK;
}

void forward_free(struct forward *f)
{
	if (!f)
		return;
	matmul_free(f->mm);
	free(f->wbuf);
	free(f->wscratch);
	free(f->mem);
	free(f->kc16);
	free(f->vc16);
	free(f->scores);
	free(f);
}

void forward_set_keep_pages(struct forward *f, bool keep)
{
	f->keep_pages = keep;
}

void forward_set_prefetch(struct forward *f, bool on)
{
	f->no_prefetch = !on;
}

void forward_set_f16_direct(struct forward *f, bool on)
{
	f->no_f16_direct = !on;
}

void forward_set_observer(struct forward *f, forward_observe_fn *fn, void *ctx)
{
	f->observe = fn;
	f->observe_ctx = ctx;
}

/* y (n, d) = norm(x (n, d)) * w (+ b) */
static void norm_rows(float *y, const float *x, const float *w, const float *b, int n, int d,
		      enum config_norm kind, double eps)
{
	for (int t = 0; t < n; t++) {
		const float *xr = x + (size_t)t * d;
		float *yr = y + (size_t)t * d;
		double mean = 0, var = 0;
		if (kind == CONFIG_NORM_LAYER) {
			for (int i = 0; i < d; i++)
				mean += xr[i];
			mean /= d;
		}
		for (int i = 0; i < d; i++)
			var += (xr[i] - mean) * (xr[i] - mean);
		double inv = 1.0 / sqrt(var / d + eps);
		for (int i = 0; i < d; i++)
			yr[i] = (float)((xr[i] - mean) * inv) * w[i] + (b ? b[i] : 0.0f);
	}
}

/* Rotates the first rotary_dim dims of each head of x (r->n, heads*head_dim), row t at position
 * row_pos(r, t), HF rotate_half convention: pairs (i, i + rotary_dim/2). */
static void rope(const struct forward *f, float *x, const struct rows *r, int heads)
{
	const struct config *c = &f->m->cfg;
	int hd = c->head_dim, half = c->rotary_dim / 2;
	for (int t = 0; t < r->n; t++) {
		const float *cs = f->rope_cos + (size_t)row_pos(r, t) * half;
		const float *sn = f->rope_sin + (size_t)row_pos(r, t) * half;
		for (int h = 0; h < heads; h++) {
			float *v = x + ((size_t)t * heads + h) * hd;
			for (int i = 0; i < half; i++) {
				float x1 = v[i], x2 = v[i + half];
				v[i] = x1 * cs[i] - x2 * sn[i];
				v[i + half] = x2 * cs[i] + x1 * sn[i];
			}
		}
	}
}

/* Elements of one lane's KV cache (keys or values): (n_layers, n_kv, max_seq, head_dim). */
static size_t lane_cache_floats(const struct forward *f)
{
	const struct config *c = &f->m->cfg;
	return (size_t)c->n_layers * c->n_kv_heads * c->head_dim * (size_t)f->max_seq;
}

struct attn_job {
	struct forward *f;
	int layer;
	const struct rows *r;
};

/* One query head (chunk) for every row of the call. */
static void attn_head(void *ctx, int h, int worker)
{
	const struct attn_job *jb = ctx;
	struct forward *f = jb->f;
	const struct config *c = &f->m->cfg;
	int hd = c->head_dim, kh = h / (c->n_heads / c->n_kv_heads), window = c->window[jb->layer];
	size_t qd = (size_t)c->n_heads * hd, S = (size_t)f->max_seq;
	size_t head = (size_t)jb->layer * c->n_kv_heads + (size_t)kh;
	float *scores = f->scores + (size_t)worker * f->score_floats;

	for (int t = 0; t < jb->r->n; t++) {
		size_t lc = (size_t)row_lane(jb->r, t) * lane_cache_floats(f);
		int i = row_pos(jb->r, t); /* absolute query position; keys 0..i */
		int lo = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
		float *o = f->att + (size_t)t * qd + (size_t)h * hd;
		const float *q = f->q + (size_t)t * qd + (size_t)h * hd;

		if (f->kv16) {
			/* keys lo..i as (hd, len) and values as (len, hd) in f32, then the f32
			 * kernel on positions 0..len-1 of them: the same sums as an f32 cache */
			int len = i - lo + 1;
			float *kt = scores + S, *vc = kt + (size_t)hd * S;
			const uint16_t *k16 = f->kc16 + lc + head * hd * S + lo;
			for (int d = 0; d < hd; d++)
				halfconv_f16(kt + (size_t)d * len, k16 + (size_t)d * S, (size_t)len);
			halfconv_f16(vc, f->vc16 + lc + head * S * hd + (size_t)lo * hd,
				     (size_t)len * hd);
			kernel_attend(o, scores, q, kt, vc, 0, len - 1, hd, len, (float)c->attn_scale);
			continue;
		}
		const float *kt = f->kcache + lc + head * hd * S, *vc = f->vcache + lc + head * S * hd;
		kernel_attend(o, scores, q, kt, vc, lo, i, hd, f->max_seq, (float)c->attn_scale);
	}
}

/* att (n, heads*hd) from q (n, heads*hd) and the layer's cache of each row's lane (keys up to
 * the row's position); heads run on the pool when the call is large enough to pay for waking it. */
static void attention(struct forward *f, int layer, const struct rows *r)
{
	const struct config *c = &f->m->cfg;
	struct attn_job jb = { f, layer, r };
	double keys = 0; /* keys visited, over all rows */
	for (int t = 0; t < r->n; t++)
		keys += row_pos(r, t) + 1;
	double work = keys * c->n_heads * c->head_dim;

	if (work >= MATMUL_THREAD_MIN_MACS && pool_get_threads() > 1) {
		pool_run(attn_head, &jb, c->n_heads);
		return;
	}
	for (int h = 0; h < c->n_heads; h++)
		attn_head(&jb, h, 0);
}

/* Whether half h, rounded from x, stayed in range: infinity only from an infinite x. */
static bool half_in_range(uint16_t h, float x)
{
	return (h & 0x7fffu) != 0x7c00u || isinf(x);
}

/* x rounded to the nearest half, as an F16 cache holds it; *range cleared when it overflowed. */
static float half_round(float x, bool *range)
{
	uint16_t h = halfconv_f16_of(x);
	float y;
	*range &= half_in_range(h, x);
	halfconv_f16_ref(&y, (const unsigned char[2]){(unsigned char)(h & 0xff),
						      (unsigned char)(h >> 8)}, 1);
	return y;
}

/* Where row t of r goes for kv head h of layer: the offsets (in values) of its key column in the
 * transposed (hd, max_seq) key block (stride max_seq per d) and of its value row in the
 * (max_seq, hd) value block, and the row's k, v (hd) inputs. */
struct kv_slot {
	size_t k, v;
	const float *kr, *vr;
};

static struct kv_slot kv_slot(const struct forward *f, int layer, int h, const struct rows *r,
			      int t)
{
	const struct config *c = &f->m->cfg;
	size_t hd = (size_t)c->head_dim, S = (size_t)f->max_seq, kvd = (size_t)c->n_kv_heads * hd;
	size_t head = (size_t)layer * c->n_kv_heads + (size_t)h, p = (size_t)row_pos(r, t);
	size_t lc = (size_t)row_lane(r, t) * lane_cache_floats(f);

	return (struct kv_slot){.k = lc + head * hd * S + p, .v = lc + head * S * hd + p * hd,
				.kr = f->k + (size_t)t * kvd + (size_t)h * hd,
				.vr = f->v + (size_t)t * kvd + (size_t)h * hd};
}

/* cache_store into F16 caches: FORWARD_ERR_KV_RANGE when a finite value rounds to infinity. */
static int cache_store16(struct forward *f, int layer, const struct rows *r)
{
	int hd = f->m->cfg.head_dim;
	size_t S = (size_t)f->max_seq;
	bool range = true;

	for (int h = 0; h < f->m->cfg.n_kv_heads; h++)
		for (int t = 0; t < r->n; t++) {
			struct kv_slot z = kv_slot(f, layer, h, r, t);

			for (int d = 0; d < hd; d++) {
				uint16_t kh = halfconv_f16_of(z.kr[d]), vh = halfconv_f16_of(z.vr[d]);
				f->kc16[z.k + (size_t)d * S] = kh;
				f->vc16[z.v + (size_t)d] = vh;
				range &= half_in_range(kh, z.kr[d]) && half_in_range(vh, z.vr[d]);
			}
		}
	return range ? FORWARD_OK : FORWARD_ERR_KV_RANGE;
}

/* Stores k, v (n, n_kv*hd) row t at position row_pos(r, t) of layer's cache in the row's lane:
 * keys transposed per head to (hd, max_seq), values as (max_seq, hd) per head; rounded to halves
 * for F16_REF (FORWARD_ERR_KV_RANGE as cache_store16). */
static int cache_store(struct forward *f, int layer, const struct rows *r)
{
	if (f->kv16)
		return cache_store16(f, layer, r);
	int hd = f->m->cfg.head_dim;
	size_t S = (size_t)f->max_seq;
	bool range = true;

	for (int h = 0; h < f->m->cfg.n_kv_heads; h++)
		for (int t = 0; t < r->n; t++) {
			struct kv_slot z = kv_slot(f, layer, h, r, t);
			float *kt = f->kcache + z.k, *vc = f->vcache + z.v;

			for (int d = 0; d < hd; d++)
				kt[(size_t)d * S] = f->kv_round ? half_round(z.kr[d], &range) : z.kr[d];
			if (!f->kv_round) {
				memcpy(vc, z.vr, (size_t)hd * sizeof(float));
				continue;
			}
			for (int d = 0; d < hd; d++)
				vc[d] = half_round(z.vr[d], &range);
		}
	return range ? FORWARD_OK : FORWARD_ERR_KV_RANGE;
}

/* y (n, out) = x (n, in) · wᵀ + b with w f32, or w16 when not NULL: F16 when f16, else BF16 */
static int linear(struct forward *f, float *y, const float *x, const float *w, const uint16_t *w16,
		  bool f16, const float *b, int n, int out, int in)
{
	if (w16 && f16)
		return matmul_nt_f16(f->mm, y, x, w16, b, n, out, in);
	if (w16)
		return matmul_nt_bf16(f->mm, y, x, w16, b, n, out, in);
	return matmul_nt(f->mm, y, x, w, b, n, out, in);
}

/* proj (n, hidden) = attention block applied to a (n, hidden), the rows of r */
static int attn_block(struct forward *f, int layer, const struct layer_w *lw, const float *in,
		      const struct rows *r)
{
	int n = r->n;
	const struct config *c = &f->m->cfg;
	const struct model_layer *L = lw->L;
	int H = c->hidden, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
	if (linear(f, f->q, in, L->wq, lw->q, lw->f16, L->bq, n, qd, H) ||
	    linear(f, f->k, in, L->wk, lw->k, lw->f16, L->bk, n, kvd, H) ||
	    linear(f, f->v, in, L->wv, lw->v, lw->f16, L->bv, n, kvd, H))
		return FORWARD_ERR_MATMUL;
	if (c->rotary_dim > 0) {
		rope(f, f->q, r, c->n_heads);
		rope(f, f->k, r, c->n_kv_heads);
	}
	int rc = cache_store(f, layer, r);
	if (rc)
		return rc;
	attention(f, layer, r);
	if (linear(f, f->proj, f->att, L->wo, lw->o, lw->f16, L->bo, n, H, qd))
		return FORWARD_ERR_MATMUL;
	return FORWARD_OK;
}

/* out (n, hidden) = FFN applied to in (n, hidden); out may be f->proj only if in is not */
static int ffn_block(struct forward *f, int layer, const struct layer_w *lw, float *out,
		     const float *in, int n)
{
	const struct config *c = &f->m->cfg;
	const struct model_layer *L = lw->L;
	int H = c->hidden, F = L->ffn;
	if (f->observe)
		f->observe(f->observe_ctx, layer, FORWARD_POINT_FFN_INPUT, in, n, H);
	if (linear(f, f->up, in, L->up, lw->up, lw->f16, L->b_up, n, F, H))
		return FORWARD_ERR_MATMUL;
	size_t nf = (size_t)n * F;
	if (c->gated) {
		if (linear(f, f->gate, in, L->gate, lw->gate, lw->f16, L->b_gate, n, F, H))
			return FORWARD_ERR_MATMUL;
		kernel_act(f->up, f->gate, nf, c->act);
	} else {
		kernel_act(f->up, NULL, nf, c->act);
	}
	if (f->observe)
		f->observe(f->observe_ctx, layer, FORWARD_POINT_FFN_HIDDEN, f->up, n, F);
	if (linear(f, out, f->up, L->down, lw->down, lw->f16, L->b_down, n, H, F))
		return FORWARD_ERR_MATMUL;
	return FORWARD_OK;
}

/* The mapped data of tensor `which` of layer when it is stored as dt, or NULL when it cannot be
 * multiplied directly (absent, another dtype, odd address). */
static const uint16_t *mapped_of(const struct model *m, enum config_tensor which, int layer,
				 enum safetensors_dtype dt)
{
	const struct safetensors_tensor *t = model_find_tensor(m->st, &m->cfg, which, layer);
	if (!t || t->dtype != dt || ((uintptr_t)t->data & 1))
		return NULL;
	return t->data;
}

/* True when every Linear of a layer run on n rows takes the own kernel: there the mapped F16
 * matrices give the converted layer's results bit for bit, without converting it (at 7B and 16
 * probe lanes, converting each layer cost more than its products). */
static bool f16_direct(const struct forward *f, int layer, int n)
{
	const struct config *c = &f->m->cfg;
	int H = c->hidden, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
	int F = f->m->layers[layer].ffn;
	const int shapes[5][2] = {{qd, H}, {kvd, H}, {H, qd}, {F, H}, {H, F}};
	for (int i = 0; i < 5; i++)
		if (matmul_path_for(f->mm, n, shapes[i][0], shapes[i][1]) != MATMUL_PATH_KERNEL)
			return false;
	return true;
}

/* lw = layer's weights for this run of n rows: the model's f32 arrays; the mapped BF16 matrices
 * (f->bf16) or F16 ones (f16_direct), for families with separate (out, in) Q/K/V; else the layer
 * converted into f->wbuf. */
static void layer_weights(struct forward *f, int layer, int n, struct layer_w *lw)
{
	const struct model *m = f->m;
	const struct config *c = &m->cfg;
	*lw = (struct layer_w){.L = &m->layers[layer]};
	if (!m->stored)
		return;
	bool separate = c->qkv == CONFIG_QKV_SEPARATE && !c->conv1d;
	bool f16 = separate && !f->no_f16_direct &&
		   mapped_of(m, CONFIG_TENSOR_Q, layer, SAFETENSORS_DTYPE_F16) && f16_direct(f, layer, n);
	if (separate && (f->bf16 || f16)) {
		enum safetensors_dtype dt = f16 ? SAFETENSORS_DTYPE_F16 : SAFETENSORS_DTYPE_BF16;
		lw->f16 = f16;
		lw->q = mapped_of(m, CONFIG_TENSOR_Q, layer, dt);
		lw->k = mapped_of(m, CONFIG_TENSOR_K, layer, dt);
		lw->v = mapped_of(m, CONFIG_TENSOR_V, layer, dt);
		lw->o = mapped_of(m, CONFIG_TENSOR_O, layer, dt);
		lw->up = mapped_of(m, CONFIG_TENSOR_UP, layer, dt);
		lw->gate = c->gated ? mapped_of(m, CONFIG_TENSOR_GATE, layer, dt) : NULL;
		lw->down = mapped_of(m, CONFIG_TENSOR_DOWN, layer, dt);
		if (lw->q && lw->k && lw->v && lw->o && lw->up && lw->down && (lw->gate || !c->gated))
			return;
	}
	model_layer_convert(&f->cur, m, layer, f->wbuf, f->wscratch);
	*lw = (struct layer_w){.L = &f->cur};
}

/* logits (n, vocab) = a (n, hidden) · headᵀ (+ bias): the f32 head, the mapped BF16 or F16 one, or the
 * stored one converted into f->wbuf (a stored head prefetched and evicted as a layer is). */
static int lm_head(struct forward *f, float *logits, int n)
{
	const struct model *m = f->m;
	const struct config *c = &m->cfg;
	const uint16_t *w16 = NULL;
	const float *w = m->lm_head;
	bool f16 = false;
	bool evict = m->stored && !m->lm_head && !f->keep_pages;
	if (evict && !f->no_prefetch)
		safetensors_prefetch(model_head_tensor(m));
	if (m->stored) {
		const struct safetensors_tensor *t = model_head_tensor(m);
		bool aligned = !((uintptr_t)t->data & 1);
		f16 = !f->no_f16_direct && t->dtype == SAFETENSORS_DTYPE_F16 && aligned &&
		      matmul_path_for(f->mm, n, c->vocab, c->hidden) == MATMUL_PATH_KERNEL;
		if (f16 || (f->bf16 && t->dtype == SAFETENSORS_DTYPE_BF16 && aligned))
			w16 = t->data;
	}
	if (m->stored && !w16)
		w = model_head_convert(m, f->wbuf);
	if (linear(f, logits, f->a, w, w16, f16, m->lm_head_b, n, c->vocab, c->hidden))
		return FORWARD_ERR_MATMUL;
	if (evict)
		safetensors_evict(model_head_tensor(m));
	return FORWARD_OK;
}

/* One attention row (and F16 cache's conversion space) per pool worker; grows only when the
 * thread count does. */
static int scores_reserve(struct forward *f, int threads)
{
	if (threads <= f->n_scores)
		return FORWARD_OK;
	float *p = realloc(f->scores, (size_t)threads * f->score_floats * sizeof *p);
	if (!p)
		return FORWARD_ERR_NOMEM;
	f->scores = p;
	f->n_scores = threads;
	return FORWARD_OK;
}

/* f->x (n, hidden) through decoder layer l, the rows of r (its weights as layer_weights finds
 * them; a stored layer's mapped pages are prefetched before it runs and evicted after). */
static int layer_run(struct forward *f, int l, const struct rows *r)
{
	int n = r->n;
	const struct model *m = f->m;
	const struct config *c = &m->cfg;
	int H = c->hidden, rc;
	size_t nh = (size_t)n * H;
	struct layer_w lw;
	bool evict = m->stored && !f->keep_pages;
	if (evict && !f->no_prefetch)
		model_layer_prefetch(m, l);
	layer_weights(f, l, n, &lw);
	const struct model_layer *L = lw.L;
	norm_rows(f->a, f->x, L->attn_norm, L->attn_norm_b, n, H, c->norm, c->norm_eps);
	/* parallel blocks feed the FFN the block input, normalised before attention adds */
	if (c->residual == CONFIG_RESIDUAL_PARALLEL)
		norm_rows(f->b, f->x, L->ffn_norm, L->ffn_norm_b, n, H, c->norm, c->norm_eps);
	else if (c->residual == CONFIG_RESIDUAL_PARALLEL_SHARED)
		memcpy(f->b, f->a, nh * sizeof(float));
	if ((rc = attn_block(f, l, &lw, f->a, r)))
		return rc;
	for (size_t i = 0; i < nh; i++)
		f->x[i] += f->proj[i];
	if (c->residual == CONFIG_RESIDUAL_SEQUENTIAL)
		norm_rows(f->b, f->x, L->ffn_norm, L->ffn_norm_b, n, H, c->norm, c->norm_eps);
	if ((rc = ffn_block(f, l, &lw, f->proj, f->b, n)))
		return rc;
	for (size_t i = 0; i < nh; i++)
		f->x[i] += f->proj[i];
	if (evict)
		model_layer_evict(m, l);
	return FORWARD_OK;
}

int forward_run_layer(struct forward *f, float *x, int layer, int n, int pos)
{
	size_t nh = (size_t)n * (size_t)f->m->cfg.hidden;
	int rc;
	if (n <= 0 || pos < 0 || !x || layer < 0 || layer >= f->m->cfg.n_layers || n > f->rows)
		return FORWARD_ERR_ARG;
	if (pos > f->max_seq - n)
		return FORWARD_ERR_TOO_LONG;
	if ((rc = scores_reserve(f, pool_get_threads())))
		return rc;
	struct rows r = {.n = n, .pos0 = pos};
	memcpy(f->x, x, nh * sizeof *x);
	if ((rc = layer_run(f, layer, &r)))
		return rc;
	memcpy(x, f->x, nh * sizeof *x);
	return FORWARD_OK;
}

/* Embeds the rows of r into f->x, runs every layer and the head into logits (n, vocab). */
static int run_rows(struct forward *f, float *logits, const int *tokens, const struct rows *r)
{
	const struct model *m = f->m;
	const struct config *c = &m->cfg;
	int H = c->hidden, n = r->n, rc;
	if ((rc = scores_reserve(f, pool_get_threads())))
		return rc;
	for (int t = 0; t < n; t++) {
		float *xr = f->x + (size_t)t * H;
		model_embed_row(xr, m, tokens[t]);
		if (c->learned_pos) {
			const float *pe = m->pos_embed + (size_t)(c->pos_offset + row_pos(r, t)) * H;
			for (int i = 0; i < H; i++)
				xr[i] += pe[i];
		}
	}
	/* a stored embedding's rows are mapped a page-cache folio at a time (2 MiB once the file was
	 * read cold): evicted like a layer (a tied one after the head) */
	if (m->stored && !m->embed && !c->tied && !f->keep_pages)
		safetensors_evict(model_find_tensor(m->st, c, CONFIG_TENSOR_EMBED, -1));
	for (int l = 0; l < c->n_layers; l++)
		if ((rc = layer_run(f, l, r)))
			return rc;
	norm_rows(f->a, f->x, m->final_norm, m->final_norm_b, n, H, c->norm, c->norm_eps);
	return lm_head(f, logits, n);
}

static int check_tokens(const struct forward *f, const int *tokens, int n)
{
	for (int t = 0; t < n; t++)
		if (tokens[t] < 0 || tokens[t] >= f->m->cfg.vocab)
			return FORWARD_ERR_TOKEN;
	return FORWARD_OK;
}

int forward_run(struct forward *f, float *logits, const int *tokens, int n, int pos)
{
	if (n <= 0 || pos < 0 || !tokens || !logits)
		return FORWARD_ERR_ARG;
	if (pos > f->max_seq - n)
		return FORWARD_ERR_TOO_LONG;
	if (check_tokens(f, tokens, n))
		return FORWARD_ERR_TOKEN;
	struct rows r = {.n = n, .pos0 = pos};
	return run_rows(f, logits, tokens, &r);
}

int forward_run_lanes(struct forward *f, float *logits, const int *tokens, const int *lane,
		      const int *pos, int n)
{
	if (n <= 0 || n > 2 * f->n_lanes || !tokens || !lane || !pos || !logits)
		return FORWARD_ERR_ARG;
	for (int t = 0; t < n; t++) {
		if (lane[t] < 0 || lane[t] >= f->n_lanes || pos[t] < 0)
			return FORWARD_ERR_ARG;
		int same = 0; /* earlier rows of the lane: at most one, and one of the two at 0 */
		for (int u = 0; u < t; u++)
			if (lane[u] == lane[t] && (++same > 1 || (pos[u] != 0) == (pos[t] != 0)))
				return FORWARD_ERR_ARG;
	}
	for (int t = 0; t < n; t++)
		if (pos[t] >= f->max_seq)
			return FORWARD_ERR_TOO_LONG;
	if (check_tokens(f, tokens, n))
		return FORWARD_ERR_TOKEN;
	struct rows r = {.n = n, .lane = lane, .pos = pos};
	return run_rows(f, logits, tokens, &r);
}
