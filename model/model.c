/* model: checkpoint directory -> validated canonical f32 weights. See model.h. */
#include "model.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

const char *model_strerror(int err)
{
	switch (err) {
	case MODEL_OK: return "success";
	case MODEL_ERR_CONFIG: return "bad config.json";
	case MODEL_ERR_WEIGHTS: return "bad safetensors checkpoint";
	case MODEL_ERR_MISSING_TENSOR: return "checkpoint lacks a tensor the model needs";
	case MODEL_ERR_SHAPE: return "tensor shape disagrees with config.json";
	case MODEL_ERR_NOMEM: return "out of memory";
	case MODEL_ERR_EXTRA_TENSOR: return "checkpoint has more layers than config.json";
	}
	return "unknown model error";
}

static bool is_layer_tensor(enum config_tensor t)
{
	return t >= CONFIG_TENSOR_ATTN_NORM;
}

int model_expected_shape(const struct config *c, enum config_tensor which, int layer,
			 long long shape[2])
{
	long long h = c->hidden, v = c->vocab;
	long long qd = (long long)c->n_heads * c->head_dim;
	long long kvd = (long long)c->n_kv_heads * c->head_dim;
	long long f = c->layer_ffn[layer < 0 ? 0 : layer];
	long long r = 0, k = 0; /* (out, in) in nn.Linear orientation; k = 0: a vector */
	switch (which) {
	case CONFIG_TENSOR_EMBED: r = v; k = h; break;
	case CONFIG_TENSOR_POS_EMBED: r = c->pos_offset + (long long)c->max_pos; k = h; break;
	case CONFIG_TENSOR_LM_HEAD: r = v; k = h; break;
	case CONFIG_TENSOR_LM_HEAD_BIAS: r = v; break;
	case CONFIG_TENSOR_FINAL_NORM:
	case CONFIG_TENSOR_FINAL_NORM_BIAS:
	case CONFIG_TENSOR_ATTN_NORM:
	case CONFIG_TENSOR_ATTN_NORM_BIAS:
	case CONFIG_TENSOR_FFN_NORM:
	case CONFIG_TENSOR_FFN_NORM_BIAS: r = h; break;
	case CONFIG_TENSOR_Q: r = qd; k = h; break;
	case CONFIG_TENSOR_Q_BIAS: r = qd; break;
	case CONFIG_TENSOR_K:
	case CONFIG_TENSOR_V: r = kvd; k = h; break;
	case CONFIG_TENSOR_K_BIAS:
	case CONFIG_TENSOR_V_BIAS: r = kvd; break;
	case CONFIG_TENSOR_QKV: r = qd + 2 * kvd; k = h; break;
	case CONFIG_TENSOR_QKV_BIAS: r = qd + 2 * kvd; break;
	case CONFIG_TENSOR_O: r = h; k = qd; break;
	case CONFIG_TENSOR_O_BIAS: r = h; break;
	case CONFIG_TENSOR_UP:
	case CONFIG_TENSOR_GATE: r = f; k = h; break;
	case CONFIG_TENSOR_UP_BIAS:
	case CONFIG_TENSOR_GATE_BIAS: r = f; break;
	case CONFIG_TENSOR_DOWN: r = h; k = f; break;
	case CONFIG_TENSOR_DOWN_BIAS: r = h; break;
	default: r = 0; break;
	}
	if (k == 0) {
		shape[0] = r;
		shape[1] = 0;
		return 1;
	}
	/* gpt2's Conv1D stores matrices (in, out); embeddings are ordinary. */
	bool conv = c->conv1d && which >= CONFIG_TENSOR_QKV && which <= CONFIG_TENSOR_DOWN_BIAS;
	shape[0] = conv ? k : r;
	shape[1] = conv ? r : k;
	return 2;
}

/* One tensor to load: where it comes from; `stored` ones stay in the mapping (MODEL_WEIGHTS_STORED*)
 * and are converted per call by model_layer_convert / model_head_convert. */
struct model_slot {
	enum config_tensor which;
	int layer;
	const struct safetensors_tensor *t;
	bool stored;
	bool direct; /* MODEL_WEIGHTS_MAPPED_F32: the model's pointer is the mapped F32 data itself */
};

static void shape_str(char *buf, size_t cap, const int64_t *shape, int ndim)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, cap - o, "(");
	for (int i = 0; i < ndim && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, ")");
}

/* Where tensor `which` goes: a field of m, or of L for layer tensors (m may be NULL then: only
 * its address would be taken for model-level tensors). */
static float **slot_dst(struct model *m, struct model_layer *L, enum config_tensor which)
{
	switch (which) {
	case CONFIG_TENSOR_EMBED: return &m->embed;
	case CONFIG_TENSOR_POS_EMBED: return &m->pos_embed;
	case CONFIG_TENSOR_FINAL_NORM: return &m->final_norm;
	case CONFIG_TENSOR_FINAL_NORM_BIAS: return &m->final_norm_b;
	case CONFIG_TENSOR_LM_HEAD: return &m->lm_head;
	case CONFIG_TENSOR_LM_HEAD_BIAS: return &m->lm_head_b;
	case CONFIG_TENSOR_ATTN_NORM: return &L->attn_norm;
	case CONFIG_TENSOR_ATTN_NORM_BIAS: return &L->attn_norm_b;
	case CONFIG_TENSOR_FFN_NORM: return &L->ffn_norm;
	case CONFIG_TENSOR_FFN_NORM_BIAS: return &L->ffn_norm_b;
	case CONFIG_TENSOR_Q: return &L->wq;
	case CONFIG_TENSOR_Q_BIAS: return &L->bq;
	case CONFIG_TENSOR_K: return &L->wk;
	case CONFIG_TENSOR_K_BIAS: return &L->bk;
	case CONFIG_TENSOR_V: return &L->wv;
	case CONFIG_TENSOR_V_BIAS: return &L->bv;
	case CONFIG_TENSOR_QKV: return &L->wq;      /* split into wq/wk/wv on load */
	case CONFIG_TENSOR_QKV_BIAS: return &L->bq; /* split into bq/bk/bv on load */
	case CONFIG_TENSOR_O: return &L->wo;
	case CONFIG_TENSOR_O_BIAS: return &L->bo;
	case CONFIG_TENSOR_UP: return &L->up;
	case CONFIG_TENSOR_UP_BIAS: return &L->b_up;
	case CONFIG_TENSOR_GATE: return &L->gate;
	case CONFIG_TENSOR_GATE_BIAS: return &L->b_gate;
	case CONFIG_TENSOR_DOWN: return &L->down;
	case CONFIG_TENSOR_DOWN_BIAS: return &L->b_down;
	default: return NULL;
	}
}

static bool is_ffn_tensor(enum config_tensor t)
{
	return t >= CONFIG_TENSOR_UP && t <= CONFIG_TENSOR_DOWN_BIAS;
}

/* dst (cols, rows) = src (rows, cols)ᵀ */
static void transpose(float *dst, const float *src, size_t rows, size_t cols)
{
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < cols; j++)
			dst[j * rows + i] = src[i * cols + j];
}

/* Splits a fused QKV weight (already (out, in) orientation) into the layer's wq/wk/wv.
 * CONV1D layout: rows [q | k | v]. HEADS layout (gpt_neox): per head h rows [q_h k_h v_h]. */
static void split_qkv(struct model_layer *L, const struct config *c, const float *w, int cols)
{
	int hd = c->head_dim, nh = c->n_heads;
	size_t qrows = (size_t)nh * hd;
	if (c->qkv == CONFIG_QKV_FUSED_CONV1D) {
		memcpy(L->wq, w, qrows * cols * sizeof *w);
		memcpy(L->wk, w + qrows * cols, qrows * cols * sizeof *w);
		memcpy(L->wv, w + 2 * qrows * cols, qrows * cols * sizeof *w);
		return;
	}
	for (int h = 0; h < nh; h++) {
		const float *base = w + (size_t)h * 3 * hd * cols;
		memcpy(L->wq + (size_t)h * hd * cols, base, (size_t)hd * cols * sizeof *w);
		memcpy(L->wk + (size_t)h * hd * cols, base + (size_t)hd * cols, (size_t)hd * cols * sizeof *w);
		memcpy(L->wv + (size_t)h * hd * cols, base + (size_t)2 * hd * cols, (size_t)hd * cols * sizeof *w);
	}
}

const struct safetensors_tensor *model_find_tensor(const struct safetensors *st,
						   const struct config *c, enum config_tensor which,
						   int layer)
{
	char name[256];
	if (config_tensor_name(name, sizeof name, c, which, layer))
		return NULL;
	return safetensors_find(st, name);
}

/* Checks presence and shape of one needed tensor; writes the reason on failure. */
static int check_tensor(const struct safetensors_tensor **out, const struct safetensors *st,
			const struct config *c, enum config_tensor which, int layer, const char *dir,
			char *err, size_t errlen)
{
	char name[256];
	config_tensor_name(name, sizeof name, c, which, layer);
	const struct safetensors_tensor *t = safetensors_find(st, name);
	if (!t) {
		return err_set(err, errlen, MODEL_ERR_MISSING_TENSOR, "%s: checkpoint has no tensor %s",
			       dir, name);
	}
	long long want[2];
	int nd = model_expected_shape(c, which, layer, want);
	bool ok = t->ndim == nd;
	for (int d = 0; ok && d < nd; d++)
		ok = t->shape[d] == want[d];
	if (!ok) {
		char got[96], exp[96];
		int64_t w64[2] = {want[0], want[1]};
		shape_str(got, sizeof got, t->shape, t->ndim);
		shape_str(exp, sizeof exp, w64, nd);
		return err_set(err, errlen, MODEL_ERR_SHAPE,
			       "%s: tensor %s has shape %s, config.json implies %s", dir, name, got, exp);
	}
	*out = t;
	return MODEL_OK;
}

/* stem (cap bytes) = the text before the layer number in the names of layer tensor `which`
 * ("model.layers."). -1 if the family has no such tensor. */
static int layer_stem(char *stem, size_t cap, const struct config *c, enum config_tensor which)
{
	char a[256], b[256];
	if (config_tensor_name(a, sizeof a, c, which, 0) ||
	    config_tensor_name(b, sizeof b, c, which, 1))
		return -1;
	size_t k = 0;
	while (a[k] && a[k] == b[k])
		k++;
	if (k >= cap)
		return -1;
	memcpy(stem, a, k);
	stem[k] = '\0';
	return 0;
}

/* A layer tensor numbered n_layers or more means config.json describes another model (it would
 * load silently, ignoring the extra layers): an error naming the first such tensor. */
static int check_extra_layers(const struct safetensors *st, const struct config *c,
			      const char *dir, char *err, size_t errlen)
{
	char stem[256], prev[256] = "";
	for (int w = CONFIG_TENSOR_ATTN_NORM; w < CONFIG_TENSOR_COUNT; w++) {
		if (layer_stem(stem, sizeof stem, c, (enum config_tensor)w) || !strcmp(stem, prev))
			continue;
		snprintf(prev, sizeof prev, "%s", stem);
		size_t sl = strlen(stem);
		const char *first = NULL;
		long extra = 0;
		for (int i = 0; i < safetensors_count(st); i++) {
			const char *name = safetensors_at(st, i)->name;
			if (strncmp(name, stem, sl) || !isdigit((unsigned char)name[sl]))
				continue;
			char *end;
			unsigned long long l = strtoull(name + sl, &end, 10);
			if (*end == '.' && l >= (unsigned long long)c->n_layers && !extra++)
				first = name;
		}
		if (extra) {
			snprintf(err, errlen,
				 "%s: checkpoint has %ld tensor(s) of layers beyond the %d of config.json, "
				 "first %s", dir, extra, c->n_layers, first);
			return MODEL_ERR_EXTRA_TENSOR;
		}
	}
	return MODEL_OK;
}

static int inspect(struct config *cfg, struct safetensors **st_out, const char *dir, char *err,
		   size_t errlen)
{
	char path[PATH_MAX], name[256];
	struct config c;
	struct safetensors *st = NULL;
	int rc;
	if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) {
		return err_set(err, errlen, MODEL_ERR_CONFIG, "%s: path too long", dir);
	}
	char cerr[ERR_MAX];
	if (config_load(&c, path, cerr, sizeof cerr)) {
		return err_set(err, errlen, MODEL_ERR_CONFIG, "%s", cerr);
	}
	int st_rc = safetensors_open_dir(&st, dir);
	if (st_rc) {
		return err_set(err, errlen,
			       st_rc == SAFETENSORS_ERR_NOMEM ? MODEL_ERR_NOMEM : MODEL_ERR_WEIGHTS,
			       "%s: %s", dir, safetensors_strerror(st_rc));
	}
	/* gpt2 and opt checkpoints exist with and without the base-model prefix. */
	if (c.family == CONFIG_FAMILY_GPT2 || c.family == CONFIG_FAMILY_OPT) {
		config_tensor_name(name, sizeof name, &c, CONFIG_TENSOR_EMBED, 0);
		if (!safetensors_find(st, name))
			c.prefix[0] = '\0';
	}
	for (int layer = -1; layer < c.n_layers; layer++) {
		for (int w = 0; w < CONFIG_TENSOR_COUNT; w++) {
			enum config_tensor which = (enum config_tensor)w;
			const struct safetensors_tensor *t;
			if (is_layer_tensor(which) != (layer >= 0) || !config_tensor_needed(&c, which))
				continue;
			if ((rc = check_tensor(&t, st, &c, which, layer, dir, err, errlen))) {
				safetensors_close(st);
				return rc;
			}
		}
	}
	if ((rc = check_extra_layers(st, &c, dir, err, errlen))) {
		safetensors_close(st);
		return rc;
	}
	*cfg = c;
	*st_out = st;
	return MODEL_OK;
}

int model_inspect(struct config *cfg, struct safetensors **st_out, const char *dir, char *err,
		  size_t errlen)
{
	int rc = inspect(cfg, st_out, dir, err, errlen);
	if (rc && err && errlen) {
		char hint[1024];
		size_t len = strlen(err);
		model_dir_hint(hint, sizeof hint, dir);
		snprintf(err + len, errlen - len, "%s", hint);
		err_clean(err); /* names and paths from the checkpoint may hold newlines */
	}
	return rc;
}

int model_read_matrix(float *out, const struct safetensors_tensor *t, const struct config *c,
		      enum config_tensor which, float *scratch)
{
	if (t->ndim != 2)
		return MODEL_ERR_SHAPE;
	bool conv = c->conv1d && which >= CONFIG_TENSOR_QKV;
	if (!conv) {
		safetensors_read_f32(out, t);
		return MODEL_OK;
	}
	if (!scratch)
		return MODEL_ERR_NOMEM;
	safetensors_read_f32(scratch, t);
	transpose(out, scratch, (size_t)t->shape[0], (size_t)t->shape[1]);
	return MODEL_OK;
}

/* A fused QKV weight or bias s into p (t->nelem floats), split into the layer's
 * q, k and v parts; scratch (t->nelem) is the staging buffer. */
static void convert_qkv(const struct config *c, struct model_layer *L, const struct model_slot *s,
			float *p, float *scratch, bool conv_matrix)
{
	const struct safetensors_tensor *t = s->t;
	size_t part = t->nelem / 3;
	float *src = scratch;
	safetensors_read_f32(scratch, t);
	if (conv_matrix) {
		/* (hidden, 3*hidden) -> (3*hidden, hidden) into the arena, then split */
		transpose(p, scratch, (size_t)t->shape[0], (size_t)t->shape[1]);
		memcpy(scratch, p, t->nelem * sizeof(float));
	}
	if (t->ndim == 2) {
		L->wq = p;
		L->wk = p + part;
		L->wv = p + 2 * part;
		split_qkv(L, c, src, c->hidden);
		return;
	}
	L->bq = p;
	L->bk = p + part;
	L->bv = p + 2 * part;
	if (c->qkv == CONFIG_QKV_FUSED_CONV1D) {
		memcpy(p, src, t->nelem * sizeof(float));
		return;
	}
	/* per-head [q k v] bias blocks, same layout as the weight rows */
	int hd = c->head_dim;
	for (int h = 0; h < c->n_heads; h++)
		for (int k = 0; k < 3; k++)
			memcpy(p + k * part + (size_t)h * hd, src + (size_t)(3 * h + k) * hd,
			       (size_t)hd * sizeof(float));
}

/* Converts slot s into p (t->nelem floats) in (out, in) orientation and points *dst (its field
 * of the model or of L, slot_dst) at it; fused QKV goes to L's wq/wk/wv or bq/bk/bv; scratch holds max_nelem floats when the
 * family has Conv1D or fused QKV matrices. */
static void convert_slot(const struct config *c, struct model_layer *L, float **dst,
			 const struct model_slot *s, float *p, float *scratch)
{
	const struct safetensors_tensor *t = s->t;
	bool conv_matrix = c->conv1d && t->ndim == 2 && s->which >= CONFIG_TENSOR_QKV;
	if (s->which == CONFIG_TENSOR_QKV || s->which == CONFIG_TENSOR_QKV_BIAS) {
		convert_qkv(c, L, s, p, scratch, conv_matrix);
		return;
	}
	if (conv_matrix) {
		safetensors_read_f32(scratch, t);
		transpose(p, scratch, (size_t)t->shape[0], (size_t)t->shape[1]);
	} else {
		safetensors_read_f32(p, t);
	}
	*dst = p;
}

/* Whether the matrices of m stay in the mapping under `weights`. */
static bool stays_mapped(const struct model *m, enum model_weights weights)
{
	if (weights == MODEL_WEIGHTS_MAPPED_F32)
		return true;
	return weights != MODEL_WEIGHTS_F32 && m->dtype != SAFETENSORS_DTYPE_F32;
}

/* Under MODEL_WEIGHTS_MAPPED_F32, an F32 matrix already in (out, in) orientation and aligned is
 * used where it is mapped: no copy, nothing to convert per layer. */
static bool slot_is_direct(const struct config *c, enum model_weights weights,
			   const struct safetensors_tensor *t, enum config_tensor which)
{
	bool conv_matrix = c->conv1d && which >= CONFIG_TENSOR_QKV;
	return weights == MODEL_WEIGHTS_MAPPED_F32 && t->dtype == SAFETENSORS_DTYPE_F32 &&
	       t->ndim == 2 && which != CONFIG_TENSOR_POS_EMBED && which != CONFIG_TENSOR_QKV &&
	       !conv_matrix && (uintptr_t)t->data % _Alignof(float) == 0;
}

/* Stays in the mapping under MODEL_WEIGHTS_STORED*: the matrices of layers, the embedding and the
 * LM head of an F16/BF16 checkpoint (learned positions are small and stay f32). */
static bool slot_stays_stored(const struct model *m, enum model_weights weights,
			      const struct safetensors_tensor *t, enum config_tensor which)
{
	return stays_mapped(m, weights) && t->ndim == 2 && which != CONFIG_TENSOR_POS_EMBED;
}

/* Pass 1: lists every needed tensor (already validated) in m->slots and sizes the arena (*total
 * floats of resident tensors), the per-layer conversion buffer and the scratch. */
static void plan_slots(struct model *m, enum model_weights weights, size_t *total,
		       size_t *max_nelem)
{
	const struct config *c = &m->cfg;
	size_t layer_floats = 0;
	bool any_stored = false;
	*total = *max_nelem = 0;
	m->dtype = model_find_tensor(m->st, c, CONFIG_TENSOR_EMBED, 0)->dtype;
	for (int layer = -1; layer < c->n_layers; layer++) {
		for (int w = 0; w < CONFIG_TENSOR_COUNT; w++) {
			enum config_tensor which = (enum config_tensor)w;
			if (is_layer_tensor(which) != (layer >= 0) || !config_tensor_needed(c, which))
				continue;
			const struct safetensors_tensor *t = model_find_tensor(m->st, c, which, layer);
			bool direct = slot_is_direct(c, weights, t, which);
			bool stored = !direct && slot_stays_stored(m, weights, t, which);
			m->slots[m->n_slots++] = (struct model_slot){which, layer, t, stored, direct};
			any_stored |= stored;
			/* Shapes are bounded by config limits (≤ 2^20 × 2^24), so no overflow here. */
			if (!stored && !direct)
				*total += t->nelem;
			else if (layer < 0 && t->nelem > m->layer_floats)
				m->layer_floats = t->nelem; /* embedding or LM head */
			if (stored && layer >= 0)
				layer_floats += t->nelem;
			if (t->nelem > *max_nelem)
				*max_nelem = t->nelem;
			m->n_params += t->nelem;
			if (is_ffn_tensor(which))
				m->n_ffn_params += t->nelem;
		}
		if (layer_floats > m->layer_floats)
			m->layer_floats = layer_floats;
		layer_floats = 0;
	}
	m->stored = any_stored;
	m->f32_compute = weights != MODEL_WEIGHTS_STORED;
	if (!m->stored)
		m->layer_floats = 0;
	if (c->conv1d || c->qkv != CONFIG_QKV_SEPARATE)
		m->scratch_floats = *max_nelem;
}

int model_open_weights(struct model **out, const char *dir, enum model_weights weights, char *err,
		       size_t errlen)
{
	int rc = MODEL_ERR_NOMEM;
	float *scratch = NULL;
	struct model *m = calloc(1, sizeof *m);
	if (!m)
		goto nomem;
	if ((rc = model_inspect(&m->cfg, &m->st, dir, err, errlen)))
		goto out;
	if (!(m->dir = strdup(dir)))
		goto nomem;
	struct config *c = &m->cfg;
	m->file_bytes = safetensors_file_bytes(m->st);

	m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
	size_t max_slots = (size_t)CONFIG_TENSOR_COUNT * (size_t)(c->n_layers + 1);
	m->slots = calloc(max_slots, sizeof *m->slots);
	if (!m->layers || !m->slots)
		goto nomem;
	size_t total, max_nelem;
	plan_slots(m, weights, &total, &max_nelem);
	m->arena = malloc((total ? total : 1) * sizeof(float));
	if (m->scratch_floats)
		scratch = malloc(max_nelem * sizeof(float));
	if (!m->arena || (m->scratch_floats && !scratch))
		goto nomem;

	/* Pass 2: convert the resident tensors into (out, in) f32. */
	float *p = m->arena;
	for (size_t i = 0; i < m->n_slots; i++) {
		const struct model_slot *s = &m->slots[i];
		if (s->stored)
			continue;
		struct model_layer *L = s->layer >= 0 ? &m->layers[s->layer] : NULL;
		if (s->direct) {
			/* read only: the mapping; nothing in yopo writes a model's weights in place */
			*slot_dst(m, L, s->which) = (float *)s->t->data;
			continue;
		}
		convert_slot(c, L, slot_dst(m, L, s->which), s, p, scratch);
		p += s->t->nelem;
	}
	if (c->tied)
		m->lm_head = m->embed;
	for (int l = 0; l < c->n_layers; l++)
		m->layers[l].ffn = c->layer_ffn[l];

	*out = m;
	m = NULL;
	rc = MODEL_OK;
	goto out;
nomem:
	rc = err_set(err, errlen, MODEL_ERR_NOMEM, "%s: out of memory loading the model", dir);
out:
	free(scratch);
	model_close(m);
	if (rc)
		err_clean(err); /* names and paths from the checkpoint may hold newlines */
	return rc;
}

int model_open(struct model **out, const char *dir, char *err, size_t errlen)
{
	return model_open_weights(out, dir, MODEL_WEIGHTS_F32, err, errlen);
}

void model_layer_convert(struct model_layer *L, const struct model *m, int layer, float *buf,
			 float *scratch)
{
	*L = m->layers[layer];
	for (size_t i = 0; i < m->n_slots; i++) {
		const struct model_slot *s = &m->slots[i];
		if (!s->stored || s->layer != layer)
			continue;
		convert_slot(&m->cfg, L, slot_dst(NULL, L, s->which), s, buf, scratch);
		buf += s->t->nelem;
	}
}

const struct safetensors_tensor *model_head_tensor(const struct model *m)
{
	return model_find_tensor(m->st, &m->cfg, m->cfg.tied ? CONFIG_TENSOR_EMBED
							     : CONFIG_TENSOR_LM_HEAD, -1);
}

const float *model_head_convert(const struct model *m, float *buf)
{
	if (m->lm_head)
		return m->lm_head;
	safetensors_read_f32(buf, model_head_tensor(m));
	return buf;
}

void model_embed_row(float *out, const struct model *m, int token)
{
	size_t h = (size_t)m->cfg.hidden;
	if (m->embed) {
		memcpy(out, m->embed + (size_t)token * h, h * sizeof *out);
		return;
	}
	struct safetensors_tensor row = *model_find_tensor(m->st, &m->cfg, CONFIG_TENSOR_EMBED, -1);
	size_t esz = safetensors_dtype_size(row.dtype);
	row.data = (const unsigned char *)row.data + (size_t)token * h * esz;
	row.nelem = h;
	row.ndim = 1;
	safetensors_read_f32(out, &row);
}

void model_layer_evict(const struct model *m, int layer)
{
	for (size_t i = 0; i < m->n_slots; i++)
		if (m->slots[i].stored && m->slots[i].layer == layer)
			safetensors_evict(m->slots[i].t);
}

void model_layer_prefetch(const struct model *m, int layer)
{
	for (size_t i = 0; i < m->n_slots; i++)
		if (m->slots[i].stored && m->slots[i].layer == layer)
			safetensors_prefetch(m->slots[i].t);
}

void model_close(struct model *m)
{
	if (!m)
		return;
	safetensors_close(m->st);
	free(m->dir);
	free(m->slots);
	free(m->layers);
	free(m->arena);
	free(m);
}

int model_layer_view(struct model_layer_view *v, const struct model *m, int layer)
{
	if (layer < 0 || layer >= m->cfg.n_layers)
		return MODEL_ERR_SHAPE;
	const struct model_layer *ly = &m->layers[layer];
	bool gated = m->cfg.gated && ly->gate;
	*v = (struct model_layer_view){
		.layer = layer, .n_layers = m->cfg.n_layers, .rows = ly->ffn, .cols = m->cfg.hidden,
		.scored = gated ? ly->gate : ly->up, .pair = gated ? ly->up : NULL, .down = ly->down,
	};
	return MODEL_OK;
}

int model_layer_load(struct model *m, int layer, float **arena)
{
	const struct config *c = &m->cfg;
	struct model_slot slots[CONFIG_TENSOR_COUNT];
	size_t n = 0, total = 0, max_nelem = 0;
	if (layer < 0 || layer >= c->n_layers)
		return MODEL_ERR_SHAPE;
	for (int w = CONFIG_TENSOR_ATTN_NORM; w < CONFIG_TENSOR_COUNT; w++) {
		enum config_tensor which = (enum config_tensor)w;
		if (!config_tensor_needed(c, which))
			continue;
		const struct safetensors_tensor *t = model_find_tensor(m->st, c, which, layer);
		if (!t)
			return MODEL_ERR_MISSING_TENSOR;
		slots[n++] = (struct model_slot){which, layer, t, false, false};
		total += t->nelem;
		if (t->nelem > max_nelem)
			max_nelem = t->nelem;
	}
	/* staging only for Conv1D transposes and fused QKV splits, as model_open */
	bool staged = c->conv1d || c->qkv != CONFIG_QKV_SEPARATE;
	float *p = malloc(total * sizeof *p + 1);
	float *scratch = staged ? malloc(max_nelem * sizeof *p + 1) : NULL;
	if (!p || (staged && !scratch)) {
		free(p);
		free(scratch);
		return MODEL_ERR_NOMEM;
	}
	*arena = p;
	struct model_layer *L = &m->layers[layer];
	for (size_t i = 0; i < n; i++) {
		convert_slot(c, L, slot_dst(m, L, slots[i].which), &slots[i], p, scratch);
		p += slots[i].t->nelem;
		safetensors_evict(slots[i].t);
	}
	free(scratch);
	return MODEL_OK;
}

void model_layer_unload(struct model *m, int layer, float *arena)
{
	if (layer >= 0 && layer < m->cfg.n_layers)
		m->layers[layer] = (struct model_layer){.ffn = m->layers[layer].ffn};
	free(arena);
}
