/* plan: pruning plans (which FFN neurons or weights stay), their parameter counts, and their
 * application to a model in memory. See plan.h. */
#include "plan.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "plan_impl.h"
#include "topk.h"

const char *prune_strerror(int err)
{
	switch (err) {
	case PRUNE_OK: return "success";
	case PRUNE_ERR_RATIO: return "ratio must be in [0, 1) and leave at least one neuron per layer";
	case PRUNE_ERR_OUT_IS_INPUT: return "output directory is the input directory";
	case PRUNE_ERR_OUT_INSIDE_INPUT: return "output directory is inside the input directory";
	case PRUNE_ERR_OUT_CONTAINS_INPUT: return "input directory is inside the output directory";
	case PRUNE_ERR_OUT_NOT_EMPTY: return "output directory exists and is not empty (use --force)";
	case PRUNE_ERR_IO: return "file system error";
	case PRUNE_ERR_NOMEM: return "out of memory";
	case PRUNE_ERR_PLAN: return "invalid pruning plan for this model";
	case PRUNE_ERR_BASE_SHAPE: return "base model does not match the model's FFN shapes";
	case PRUNE_ERR_SCORES: return "NaN or infinite score";
	case PRUNE_ERR_ARG: return "invalid argument";
	case PRUNE_ERR_INPUT: return "input checkpoint disagrees with the loaded model";
	}
	return "unknown prune error";
}

const char *prune_granularity_name(enum prune_granularity g)
{
	switch (g) {
	case PRUNE_GRANULARITY_ROWS: break;
	case PRUNE_GRANULARITY_WEIGHTS: return "weights";
	case PRUNE_GRANULARITY_NM_2_4: return "2:4";
	case PRUNE_GRANULARITY_NM_4_8: return "4:8";
	}
	return "rows";
}

bool prune_granularity_nm(enum prune_granularity g, int *n, int *m)
{
	int nn = g == PRUNE_GRANULARITY_NM_2_4 ? 2 : g == PRUNE_GRANULARITY_NM_4_8 ? 4 : 0;
	if (!nn)
		return false;
	if (n)
		*n = nn;
	if (m)
		*m = 2 * nn;
	return true;
}

/* 0 when ratio removes at least one and keeps at least one of n; else the reason. */
static int check_group(double ratio, int n, const char *what, int layer, char *err,
		       size_t errlen)
{
	int k = util_keep_count(n, ratio);
	if (k >= 1 && k < n)
		return PRUNE_OK;
	char where[64] = "";
	if (layer >= 0)
		snprintf(where, sizeof where, " of layer %d", layer);
	return err_set(err, errlen, PRUNE_ERR_RATIO,
		       "ratio %g removes %s %s%s (%d); a ratio must remove at least one and keep at "
		       "least one", ratio, k == n ? "no" : "every", what, where, n);
}

int prune_check_ratio(const struct config *c, double ratio, enum prune_granularity g,
		      bool global, char *err, size_t errlen)
{
	if (!(ratio > 0 && ratio < 1))
		return err_set(err, errlen, PRUNE_ERR_RATIO, "ratio %g is outside (0, 1)", ratio);
	if (g == PRUNE_GRANULARITY_ROWS && global) {
		long total = 0;
		for (int l = 0; l < c->n_layers; l++)
			total += c->layer_ffn[l];
		int k = total <= INT_MAX ? util_keep_count((int)total, ratio) : -1;
		if (k >= c->n_layers && k < total)
			return PRUNE_OK;
		return err_set(err, errlen, PRUNE_ERR_RATIO,
			       "ratio %g removes %s of the %ld FFN neurons (global budget; every one "
			       "of the %d layers keeps at least one)", ratio, k == total ? "none" : "too many",
			       total, c->n_layers);
	}
	for (int l = 0; l < c->n_layers; l++) {
		int rc = g == PRUNE_GRANULARITY_ROWS
				 ? check_group(ratio, c->layer_ffn[l], "FFN neuron", l, err, errlen)
				 : check_group(ratio, c->layer_ffn[l], "weight per down row", l, err,
					       errlen);
		if (rc)
			return rc;
	}
	if (g == PRUNE_GRANULARITY_WEIGHTS)
		return check_group(ratio, c->hidden, "weight per up/gate row", -1, err, errlen);
	return PRUNE_OK;
}

/* ---- plans ---- */

void prune_plan_free(struct prune_plan *p)
{
	if (!p)
		return;
	for (int l = 0; p->kept && l < p->n_layers; l++)
		free(p->kept[l]);
	for (int i = 0; p->mask && i < p->n_layers * N_SLOTS; i++)
		free(p->mask[i]);
	free(p->kept);
	free(p->mask);
	free(p->k);
	free(p->ffn);
	free(p);
}

int prune_plan_new_rows(struct prune_plan **out, int n_layers, const int *ffn_per_layer)
{
	if (n_layers < 1 || n_layers > CONFIG_MAX_LAYERS)
		return PRUNE_ERR_ARG;
	for (int l = 0; l < n_layers; l++)
		if (ffn_per_layer[l] < 1)
			return PRUNE_ERR_ARG;
	struct prune_plan *p = calloc(1, sizeof *p);
	if (!p)
		return PRUNE_ERR_NOMEM;
	p->gran = PRUNE_GRANULARITY_ROWS;
	p->n_layers = n_layers;
	p->ffn = malloc((size_t)n_layers * sizeof *p->ffn);
	p->k = malloc((size_t)n_layers * sizeof *p->k);
	p->kept = calloc((size_t)n_layers, sizeof *p->kept);
	if (!p->ffn || !p->k || !p->kept)
		goto nomem;
	for (int l = 0; l < n_layers; l++) {
		p->ffn[l] = p->k[l] = ffn_per_layer[l];
		p->kept[l] = malloc((size_t)ffn_per_layer[l] * sizeof **p->kept);
		if (!p->kept[l])
			goto nomem;
		for (int i = 0; i < ffn_per_layer[l]; i++)
			p->kept[l][i] = i;
	}
	*out = p;
	return PRUNE_OK;
nomem:
	prune_plan_free(p);
	return PRUNE_ERR_NOMEM;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int prune_plan_set_layer_rows(struct prune_plan *p, int layer, const int *kept, int k)
{
	if (p->gran != PRUNE_GRANULARITY_ROWS || layer < 0 || layer >= p->n_layers || k < 1 ||
	    k > p->ffn[layer])
		return PRUNE_ERR_PLAN;
	int *tmp = malloc((size_t)k * sizeof *tmp);
	if (!tmp)
		return PRUNE_ERR_NOMEM;
	memcpy(tmp, kept, (size_t)k * sizeof *tmp);
	qsort(tmp, (size_t)k, sizeof *tmp, cmp_int);
	for (int i = 0; i < k; i++) {
		if (tmp[i] < 0 || tmp[i] >= p->ffn[layer] || (i > 0 && tmp[i] == tmp[i - 1])) {
			free(tmp);
			return PRUNE_ERR_PLAN;
		}
	}
	memcpy(p->kept[layer], tmp, (size_t)k * sizeof *tmp);
	p->k[layer] = k;
	free(tmp);
	return PRUNE_OK;
}

int prune_plan_new_weights(struct prune_plan **out, const struct model *m)
{
	const struct config *c = &m->cfg;
	struct prune_plan *p = calloc(1, sizeof *p);
	if (!p)
		return PRUNE_ERR_NOMEM;
	p->gran = PRUNE_GRANULARITY_WEIGHTS;
	p->n_layers = c->n_layers;
	p->hidden = c->hidden;
	p->ffn = malloc((size_t)c->n_layers * sizeof *p->ffn);
	p->mask = calloc((size_t)c->n_layers * N_SLOTS, sizeof *p->mask);
	if (!p->ffn || !p->mask)
		goto nomem;
	for (int l = 0; l < c->n_layers; l++) {
		p->ffn[l] = m->layers[l].ffn;
		size_t n = (size_t)p->ffn[l] * (size_t)c->hidden;
		for (int s = 0; s < N_SLOTS; s++) {
			if (s == SLOT_GATE && !m->layers[l].gate)
				continue;
			unsigned char *mk = malloc(n);
			if (!mk)
				goto nomem;
			memset(mk, 1, n);
			p->mask[l * N_SLOTS + s] = mk;
		}
	}
	*out = p;
	return PRUNE_OK;
nomem:
	prune_plan_free(p);
	return PRUNE_ERR_NOMEM;
}

static int slot_of(enum config_tensor which)
{
	switch (which) {
	case CONFIG_TENSOR_UP: return SLOT_UP;
	case CONFIG_TENSOR_GATE: return SLOT_GATE;
	case CONFIG_TENSOR_DOWN: return SLOT_DOWN;
	default: return -1;
	}
}

const unsigned char *prune_plan_mask_const(const struct prune_plan *p, int layer,
					   enum config_tensor which)
{
	int s = slot_of(which);
	if (p->gran != PRUNE_GRANULARITY_WEIGHTS || layer < 0 || layer >= p->n_layers || s < 0)
		return NULL;
	return p->mask[layer * N_SLOTS + s];
}

unsigned char *prune_plan_mask(struct prune_plan *p, int layer, enum config_tensor which)
{
	return (unsigned char *)prune_plan_mask_const(p, layer, which);
}

int prune_plan_layer_kept(const struct prune_plan *p, int layer, const int **kept)
{
	if (layer < 0 || layer >= p->n_layers)
		return -1;
	if (p->gran == PRUNE_GRANULARITY_WEIGHTS) {
		*kept = NULL;
		return p->ffn[layer];
	}
	*kept = p->kept[layer];
	return p->k[layer];
}

enum prune_granularity prune_plan_granularity(const struct prune_plan *p)
{
	return p->gran;
}

int prune_plan_n_layers(const struct prune_plan *p)
{
	return p->n_layers;
}

bool prune_plan_fits(const struct prune_plan *p, const struct model *m)
{
	if (p->n_layers != m->cfg.n_layers)
		return false;
	for (int l = 0; l < p->n_layers; l++) {
		if (p->ffn[l] != m->layers[l].ffn)
			return false;
		if (p->gran == PRUNE_GRANULARITY_WEIGHTS &&
		    (p->hidden != m->cfg.hidden || !p->mask[l * N_SLOTS + SLOT_UP] ||
		     !p->mask[l * N_SLOTS + SLOT_DOWN] ||
		     !p->mask[l * N_SLOTS + SLOT_GATE] != !m->layers[l].gate))
			return false;
	}
	return true;
}

/* Fills p's layers from per-layer keep flags. */
static void plan_from_flags(struct prune_plan *p, unsigned char *const *keep)
{
	for (int l = 0; l < p->n_layers; l++) {
		int k = 0;
		for (int i = 0; i < p->ffn[l]; i++)
			if (keep[l][i])
				p->kept[l][k++] = i;
		p->k[l] = k;
	}
}

/* key (total) = every neuron's score over its layer's mean |score| (layer by layer, so the flat
 * index order is (layer, index) order and util_topk's tie rule is lower layer, then lower
 * index); each layer's best neuron is marked in keep and gets key -inf, below every other. */
static int global_keys(double *key, unsigned char **keep, const struct prune_plan *p,
		       const float *const *scores)
{
	size_t n = 0;
	for (int l = 0; l < p->n_layers; l++) {
		double mean = 0;
		for (int i = 0; i < p->ffn[l]; i++)
			mean += fabs((double)scores[l][i]);
		mean /= p->ffn[l];
		double scale = mean > 0 && isfinite(mean) ? 1.0 / mean : 1.0;
		int best;
		if (util_topk(&best, scores[l], p->ffn[l], 1))
			return PRUNE_ERR_NOMEM;
		memset(keep[l], 0, (size_t)p->ffn[l]);
		keep[l][best] = 1; /* every layer keeps its best neuron */
		for (int i = 0; i < p->ffn[l]; i++)
			key[n++] = i == best ? -INFINITY : (double)scores[l][i] * scale;
	}
	return PRUNE_OK;
}

static int global_flags(unsigned char **keep, const struct prune_plan *p,
			const float *const *scores, double ratio)
{
	int L = p->n_layers;
	long total = 0;
	for (int l = 0; l < L; l++)
		total += p->ffn[l];
	if (total > INT_MAX)
		return PRUNE_ERR_ARG;
	int kept_total = util_keep_count((int)total, ratio);
	if (kept_total < L)
		return PRUNE_ERR_RATIO;
	double *key = malloc((size_t)total * sizeof *key);
	int *order = malloc(((size_t)(kept_total - L) + 1) * sizeof *order);
	int rc = PRUNE_ERR_NOMEM;
	if (!key || !order)
		goto out;
	if (global_keys(key, keep, p, scores) ||
	    util_topk_double(order, key, (int)total, kept_total - L))
		goto out;
	for (int t = 0, l = 0, base = 0; t < kept_total - L; t++) {
		for (l = 0, base = 0; order[t] >= base + p->ffn[l]; l++)
			base += p->ffn[l];
		keep[l][order[t] - base] = 1;
	}
	rc = PRUNE_OK;
out:
	free(order);
	free(key);
	return rc;
}

int prune_plan_new_rows_ratio(struct prune_plan **out, const struct model *m, double ratio)
{
	int L = m->cfg.n_layers, ffn[CONFIG_MAX_LAYERS];
	if (!(ratio >= 0.0 && ratio < 1.0) || L < 1 || L > CONFIG_MAX_LAYERS)
		return PRUNE_ERR_RATIO;
	for (int l = 0; l < L; l++)
		ffn[l] = m->layers[l].ffn;
	struct prune_plan *p = NULL;
	int rc = prune_plan_new_rows(&p, L, ffn);
	if (rc)
		return rc;
	for (int l = 0; l < L; l++) {
		p->k[l] = util_keep_count(ffn[l], ratio);
		if (p->k[l] < 1) {
			prune_plan_free(p);
			return PRUNE_ERR_RATIO;
		}
	}
	*out = p;
	return PRUNE_OK;
}

/* keep (n) = the top k of scores (ties towards the lower index) as kept indices in kept, ascending:
 * the one rule of uniform plans, whether all layers are scored first or one at a time. */
static int layer_top(int *kept, unsigned char *keep, const float *scores, int n, int k)
{
	if (util_topk_mask(keep, scores, n, k))
		return PRUNE_ERR_NOMEM;
	int j = 0;
	for (int i = 0; i < n; i++)
		if (keep[i])
			kept[j++] = i;
	return PRUNE_OK;
}

int prune_plan_set_layer_scores(struct prune_plan *p, int layer, const float *scores)
{
	if (p->gran != PRUNE_GRANULARITY_ROWS || layer < 0 || layer >= p->n_layers)
		return PRUNE_ERR_PLAN;
	int n = p->ffn[layer];
	for (int i = 0; i < n; i++)
		if (!isfinite(scores[i]))
			return PRUNE_ERR_SCORES;
	unsigned char *keep = malloc((size_t)n);
	if (!keep)
		return PRUNE_ERR_NOMEM;
	int rc = layer_top(p->kept[layer], keep, scores, n, p->k[layer]);
	free(keep);
	return rc;
}

int prune_plan_from_scores(struct prune_plan **out, const struct model *m,
			   const float *const *scores, double ratio, bool global)
{
	int L = m->cfg.n_layers, rc;
	if (!(ratio >= 0.0 && ratio < 1.0))
		return PRUNE_ERR_RATIO;
	for (int l = 0; l < L; l++)
		for (int i = 0; i < m->layers[l].ffn; i++)
			if (!isfinite(scores[l][i]))
				return PRUNE_ERR_SCORES;
	int ffn[CONFIG_MAX_LAYERS];
	for (int l = 0; l < L; l++)
		ffn[l] = m->layers[l].ffn;
	struct prune_plan *p = NULL;
	unsigned char **keep = calloc((size_t)L, sizeof *keep);
	if (!keep)
		return PRUNE_ERR_NOMEM;
	rc = prune_plan_new_rows(&p, L, ffn);
	if (rc)
		goto out;
	rc = PRUNE_ERR_NOMEM;
	for (int l = 0; l < L; l++)
		if (!(keep[l] = malloc((size_t)ffn[l])))
			goto out;
	if (global) {
		rc = global_flags(keep, p, scores, ratio);
		if (rc)
			goto out;
		plan_from_flags(p, keep);
	} else {
		for (int l = 0; l < L; l++) {
			p->k[l] = util_keep_count(ffn[l], ratio);
			if (p->k[l] < 0) {
				rc = PRUNE_ERR_RATIO;
				goto out;
			}
			if ((rc = layer_top(p->kept[l], keep[l], scores[l], ffn[l], p->k[l])))
				goto out;
		}
	}
	*out = p;
	p = NULL;
	rc = PRUNE_OK;
out:
	for (int l = 0; l < L; l++)
		free(keep[l]);
	free(keep);
	prune_plan_free(p);
	return rc;
}

/* ---- counts ---- */

const enum config_tensor prune_ffn_tensors[PRUNE_N_FFN_TENSORS] = {
	CONFIG_TENSOR_UP, CONFIG_TENSOR_UP_BIAS, CONFIG_TENSOR_GATE,
	CONFIG_TENSOR_GATE_BIAS, CONFIG_TENSOR_DOWN, CONFIG_TENSOR_DOWN_BIAS,
};

/* Parameters of layer l's FFN tensors if it had `width` neurons. */
static size_t layer_ffn_params(const struct config *c, int l, int width)
{
	size_t n = 0;
	for (size_t t = 0; t < PRUNE_N_FFN_TENSORS; t++) {
		if (!config_tensor_needed(c, prune_ffn_tensors[t]))
			continue;
		long long shape[2];
		int nd = model_expected_shape(c, prune_ffn_tensors[t], l, shape);
		size_t ne = nd == 2 ? (size_t)shape[0] * (size_t)shape[1] : (size_t)shape[0];
		if (prune_ffn_tensors[t] != CONFIG_TENSOR_DOWN_BIAS)
			ne = ne / (size_t)c->layer_ffn[l] * (size_t)width;
		n += ne;
	}
	return n;
}

static size_t count_ones(const unsigned char *mk, size_t n)
{
	size_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += mk[i] != 0;
	return s;
}

int prune_plan_count(struct prune_counts *out, const struct prune_plan *p, const struct model *m)
{
	if (!prune_plan_fits(p, m))
		return PRUNE_ERR_PLAN;
	const struct config *c = &m->cfg;
	struct prune_counts r = {0};
	r.width = 0;
	for (int l = 0; l < c->n_layers; l++) {
		r.ffn_params_before += layer_ffn_params(c, l, m->layers[l].ffn);
		if (p->gran == PRUNE_GRANULARITY_ROWS) {
			r.ffn_params_after += layer_ffn_params(c, l, p->k[l]);
			if (p->k[l] > r.width)
				r.width = p->k[l];
		} else {
			size_t whole = layer_ffn_params(c, l, m->layers[l].ffn);
			size_t mat = (size_t)m->layers[l].ffn * (size_t)c->hidden;
			for (int s = 0; s < N_SLOTS; s++) {
				const unsigned char *mk = p->mask[l * N_SLOTS + s];
				if (mk)
					whole -= mat - count_ones(mk, mat);
			}
			r.ffn_params_after += whole;
			if (m->layers[l].ffn > r.width)
				r.width = m->layers[l].ffn;
		}
	}
	if (p->gran == PRUNE_GRANULARITY_ROWS)
		for (int l = 0; l < c->n_layers; l++)
			r.ffn_params_stored += layer_ffn_params(c, l, r.width);
	else
		r.ffn_params_stored = r.ffn_params_before;
	r.params_before = m->n_params;
	r.params_after = m->n_params - r.ffn_params_before + r.ffn_params_after;
	r.params_stored = m->n_params - r.ffn_params_before + r.ffn_params_stored;
	*out = r;
	return PRUNE_OK;
}

/* ---- in-memory application ---- */

int prune_check_base(const struct model *m, const struct model *base)
{
	const struct config *a = &m->cfg, *b = &base->cfg;
	if (a->family != b->family || a->n_layers != b->n_layers || a->hidden != b->hidden ||
	    a->gated != b->gated)
		return PRUNE_ERR_BASE_SHAPE;
	for (int l = 0; l < a->n_layers; l++)
		if (m->layers[l].ffn != base->layers[l].ffn)
			return PRUNE_ERR_BASE_SHAPE;
	return PRUNE_OK;
}

int prune_apply(struct model *m, const struct prune_plan *p, const struct model *base)
{
	if (!prune_plan_fits(p, m))
		return PRUNE_ERR_PLAN;
	if (base && p->gran == PRUNE_GRANULARITY_ROWS)
		return PRUNE_ERR_ARG;
	if (base && prune_check_base(m, base))
		return PRUNE_ERR_BASE_SHAPE;
	int H = m->cfg.hidden;
	for (int l = 0; l < p->n_layers; l++) {
		struct model_layer *L = &m->layers[l];
		int F = L->ffn;
		if (p->gran == PRUNE_GRANULARITY_ROWS) {
			int t = 0;
			for (int i = 0; i < F; i++) {
				if (t < p->k[l] && p->kept[l][t] == i) {
					t++;
					continue;
				}
				memset(L->up + (size_t)i * H, 0, (size_t)H * sizeof(float));
				if (L->gate)
					memset(L->gate + (size_t)i * H, 0, (size_t)H * sizeof(float));
				if (L->b_up)
					L->b_up[i] = 0;
				if (L->b_gate)
					L->b_gate[i] = 0;
				for (int r = 0; r < H; r++)
					L->down[(size_t)r * F + i] = 0;
			}
			continue;
		}
		float *mats[N_SLOTS] = {L->up, L->gate, L->down};
		const struct model_layer *B = base ? &base->layers[l] : NULL;
		const float *bmats[N_SLOTS] = {B ? B->up : NULL, B ? B->gate : NULL, B ? B->down : NULL};
		size_t n = (size_t)F * (size_t)H;
		for (int s = 0; s < N_SLOTS; s++) {
			const unsigned char *mk = p->mask[l * N_SLOTS + s];
			if (!mk || !mats[s])
				continue;
			for (size_t i = 0; i < n; i++)
				if (!mk[i])
					mats[s][i] = bmats[s] ? bmats[s][i] : 0.0f;
		}
	}
	return PRUNE_OK;
}


bool prune_counts_json(struct cJSON *obj, const struct prune_counts *c)
{
	return json_add_number(obj, "params_before", (double)c->params_before) &&
	       json_add_number(obj, "params_after", (double)c->params_after) &&
	       json_add_number(obj, "params_stored", (double)c->params_stored) &&
	       json_add_number(obj, "ffn_params_before", (double)c->ffn_params_before) &&
	       json_add_number(obj, "ffn_params_after", (double)c->ffn_params_after) &&
	       json_add_number(obj, "ffn_params_stored", (double)c->ffn_params_stored) &&
	       json_add_number(obj, "ffn_width", c->width);
}
