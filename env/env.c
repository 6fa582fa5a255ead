/* env: per-layer spectral environment streamed from a memory-mapped checkpoint. See env.h. */
#include "env.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "funcreward.h"
#include "ks.h"
#include "linalg.h"
#include "err.h"
#include "model.h"

struct env_layer {
	float *features;        /* (rows, env_n_features), computed on first visit */
	struct funcreward *fr;  /* when cached and probes are attached */
	float *w;               /* (rows, cols) when cached */
	struct spectrum *sp;    /* when cached */
};

struct env {
	char dir[PATH_MAX];
	struct config cfg;
	struct safetensors *st;
	enum spectrum_route route;
	bool cache;             /* keep every layer's matrix and spectrum resident */
	struct env_layer *layers;
	int current;            /* layer made current by env_layer_begin, -1 none */
	float *w;               /* current matrix when streaming */
	struct spectrum *sp;    /* current spectrum when streaming */
	float *scratch;         /* conv1d transposition, (rows, cols) */
	unsigned char *keep;    /* (max rows) */
	const struct probe *probe; /* borrowed (env_use_probes), NULL: weights only */
	enum rowfeat_set set;
	struct funcreward *fr;  /* current layer's G when streaming */
	int held;               /* streaming: the layer e->w, e->sp and e->fr belong to, -1 none */
	size_t cache_bytes;
};

const char *env_strerror(int err)
{
	switch (err) {
	case ENV_OK: return "success";
	case ENV_ERR_MODEL: return "cannot open the model";
	case ENV_ERR_NOMEM: return "out of memory";
	case ENV_ERR_LINALG: return "singular value computation failed";
	case ENV_ERR_ARG: return "invalid layer or selection";
	case ENV_ERR_PROBES: return "no probes attached, or they do not fit the model";
	}
	return "unknown env error";
}

static enum config_tensor scored_tensor(const struct config *c)
{
	return c->gated ? CONFIG_TENSOR_GATE : CONFIG_TENSOR_UP;
}

size_t env_layer_bytes(const struct env *e, int layer, bool functional)
{
	size_t rows = (size_t)e->cfg.layer_ffn[layer], cols = (size_t)e->cfg.hidden;
	/* matrix + (route GRAM) the Gram + (functional) G; features and singular values are small */
	return rows * cols * sizeof(float) +
	       (e->route == SPECTRUM_ROUTE_GRAM ? cols * cols * sizeof(double) : 0) +
	       (functional ? rows * rows * sizeof(double) : 0);
}

void env_plan_cache(struct env *e, const int *layers, int n, bool functional)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += env_layer_bytes(e, layers ? layers[i] : i, functional);
	e->cache = total <= e->cache_bytes;
}

int env_open(struct env **out, const char *model_dir, enum spectrum_route route,
	     size_t cache_bytes, char *err, size_t errlen)
{
	struct env *e = calloc(1, sizeof *e);
	if (!e)
		return err_set(err, errlen, ENV_ERR_NOMEM, "%s: out of memory", model_dir);
	e->current = -1;
	e->route = route;
	snprintf(e->dir, sizeof e->dir, "%s", model_dir);
	if (model_inspect(&e->cfg, &e->st, model_dir, err, errlen)) {
		free(e);
		return ENV_ERR_MODEL;
	}
	const struct config *c = &e->cfg;
	size_t max_rows = 0, cols = (size_t)c->hidden;
	for (int l = 0; l < c->n_layers; l++)
		if ((size_t)c->layer_ffn[l] > max_rows)
			max_rows = (size_t)c->layer_ffn[l];
	e->held = -1;
	e->cache_bytes = cache_bytes;
	env_plan_cache(e, NULL, c->n_layers, false);
	e->layers = calloc((size_t)c->n_layers, sizeof *e->layers);
	e->keep = malloc(max_rows);
	e->scratch = c->conv1d ? malloc(max_rows * cols * sizeof(float)) : NULL;
	if (!e->layers || !e->keep || (c->conv1d && !e->scratch)) {
		env_close(e);
		return err_set(err, errlen, ENV_ERR_NOMEM, "%s: out of memory", model_dir);
	}
	*out = e;
	return ENV_OK;
}

void env_close(struct env *e)
{
	if (!e)
		return;
	for (int l = 0; e->layers && l < e->cfg.n_layers; l++) {
		free(e->layers[l].features);
		funcreward_free(e->layers[l].fr);
		free(e->layers[l].w);
		spectrum_free(e->layers[l].sp);
	}
	free(e->layers);
	free(e->w);
	spectrum_free(e->sp);
	funcreward_free(e->fr);
	free(e->scratch);
	free(e->keep);
	safetensors_close(e->st);
	free(e);
}

const struct config *env_config(const struct env *e)
{
	return &e->cfg;
}

const char *env_model_dir(const struct env *e)
{
	return e->dir;
}

int env_rows(const struct env *e, int layer)
{
	return e->cfg.layer_ffn[layer];
}

int env_cols(const struct env *e)
{
	return e->cfg.hidden;
}

/* Reads matrix `which` of `layer` into a new (out, in) f32 buffer (*out, caller frees). */
static int read_matrix(float **out, struct env *e, enum config_tensor which, int layer, char *err,
		       size_t errlen)
{
	const struct safetensors_tensor *t = model_find_tensor(e->st, &e->cfg, which, layer);
	if (!t)
		return err_set(err, errlen, ENV_ERR_MODEL, "%s: layer %d: a tensor is missing", e->dir,
			       layer);
	int rc = ENV_OK;
	float *m = malloc(t->nelem * sizeof(float));
	if (!m)
		rc = err_set(err, errlen, ENV_ERR_NOMEM, "%s: layer %d: out of memory", e->dir, layer);
	else if (model_read_matrix(m, t, &e->cfg, which, e->scratch))
		rc = err_set(err, errlen, ENV_ERR_MODEL, "%s: cannot convert %s", e->dir, t->name);
	/* the f32 copy is what we use: drop the mapped pages so RSS tracks one layer */
	safetensors_evict(t);
	if (rc)
		free(m);
	else
		*out = m;
	return rc;
}

int env_n_features(const struct env *e)
{
	return rowfeat_set_count(e->set);
}

/* wide (rows, nf) = the weights-only features x (rows, ROWFEAT_COUNT) then the probe ones. */
static int probe_columns(float *wide, int nf, struct env *e, int layer, const float *x,
			 const float *down)
{
	int rows = e->cfg.layer_ffn[layer];
	double *msq = malloc((size_t)rows * sizeof *msq), *mabs = malloc((size_t)rows * sizeof *mabs);
	if (!msq || !mabs) {
		free(msq);
		free(mabs);
		return ENV_ERR_NOMEM;
	}
	probe_row_stats(msq, mabs, e->probe, layer);
	for (int i = 0; i < rows; i++)
		memcpy(wide + (size_t)i * nf, x + (size_t)i * ROWFEAT_COUNT,
		       ROWFEAT_COUNT * sizeof *x);
	rowfeat_probe_compute(wide + ROWFEAT_COUNT, nf, msq, mabs, down, rows, e->cfg.hidden);
	free(msq);
	free(mabs);
	return ENV_OK;
}

int env_use_probes(struct env *e, const struct probe *p, enum rowfeat_set set, char *err,
		   size_t errlen)
{
	const struct config *c = &e->cfg;
	if (set == ROWFEAT_SET_PROBE && !p)
		return err_set(err, errlen, ENV_ERR_PROBES, "%s: the probe feature set needs probes",
			       e->dir);
	if (p && p->n_layers != c->n_layers)
		return err_set(err, errlen, ENV_ERR_PROBES, "%s: probes have %d layers, the model %d",
			       e->dir, p->n_layers, c->n_layers);
	for (int l = 0; p && l < c->n_layers; l++)
		if (p->ffn[l] != c->layer_ffn[l])
			return err_set(err, errlen, ENV_ERR_PROBES,
				       "%s: layer %d: probes have FFN width %d, the model %d", e->dir,
				       l, p->ffn[l], c->layer_ffn[l]);
	/* features and G depend on both: drop what was computed */
	for (int l = 0; l < c->n_layers; l++) {
		free(e->layers[l].features);
		funcreward_free(e->layers[l].fr);
		e->layers[l].features = NULL;
		e->layers[l].fr = NULL;
	}
	funcreward_free(e->fr);
	e->fr = NULL;
	e->current = -1;
	e->probe = p;
	e->set = set;
	return ENV_OK;
}

/* Rank of the leading subspace behind the leverage feature: min(rows, cols) / 8, at least 1. */
static int lead_rank(const struct model_layer_view *v)
{
	int kmin = v->rows < v->cols ? v->rows : v->cols;
	return kmin / 8 > 0 ? kmin / 8 : 1;
}

/* x (rows, ROWFEAT_COUNT) from the Gram's top r eigenpairs: lambda (r) descending, turned into
 * singular values in place, vt (r, cols). */
static void features_from_eig(float *x, const struct model_layer_view *v, double *lambda,
			      const double *vt, int r)
{
	/* singular values of W; drop directions at rounding level of the largest */
	for (int q = 0; q < r; q++)
		lambda[q] = lambda[q] > 0 ? sqrt(lambda[q]) : 0;
	while (r > 1 && !(lambda[r - 1] > 1e-6 * lambda[0]))
		r--;
	if (!(lambda[0] > 0))
		lambda[0] = 1; /* all-zero matrix: leverage is 0 everywhere anyway */
	double depth = v->n_layers > 1 ? (double)v->layer / (v->n_layers - 1) : 0.0;
	rowfeat_compute(x, v->scored, v->pair, v->down, vt, lambda, r, v->rows, v->cols, depth);
}

/* Features of a layer: needs the matrix, its pair and down, and W's leading right singular
 * subspace, taken from the eigenvectors of the Gram WᵀW (cols × cols) so that no (rows × rows)
 * or U factor is ever formed. */
int env_view_features(float *x, const struct model_layer_view *v)
{
	int cols = v->cols, r = lead_rank(v);
	int rc = ENV_ERR_NOMEM;
	size_t cc = (size_t)cols * cols;
	double *lambda = malloc((size_t)r * sizeof *lambda);
	double *g = malloc(cc * sizeof *g);
	double *vt = malloc((size_t)r * cols * sizeof *vt);
	if (!lambda || !g || !vt)
		goto out;
	if (linalg_gram(g, v->scored, v->rows, cols) || linalg_sym_eig_top(lambda, vt, g, cols, r)) {
		rc = ENV_ERR_LINALG;
		goto out;
	}
	features_from_eig(x, v, lambda, vt, r);
	rc = ENV_OK;
out:
	free(vt);
	free(g);
	free(lambda);
	return rc;
}

/* A streamed layer's setup on route GRAM: one Gram and one tridiagonal reduction give both the
 * spectrum (all eigenvalues; *slot takes the Gram) and the features' leading eigenpairs, where
 * env_view_features then spectrum_new would form and reduce the Gram twice (11008 × 4096:
 * bench-spectrum's setup lines). */
static int shared_setup(float *x, struct spectrum **slot, const struct model_layer_view *v)
{
	int cols = v->cols, r = lead_rank(v), rc = ENV_ERR_NOMEM;
	size_t cc = (size_t)cols * cols;
	double *g = malloc(cc * sizeof *g), *work = malloc(cc * sizeof *work);
	double *eig = malloc((size_t)cols * sizeof *eig);
	double *lambda = malloc((size_t)r * sizeof *lambda);
	double *vt = malloc((size_t)r * cols * sizeof *vt);
	if (!g || !work || !eig || !lambda || !vt)
		goto out;
	rc = ENV_ERR_LINALG;
	if (linalg_gram(g, v->scored, v->rows, cols))
		goto out;
	memcpy(work, g, cc * sizeof *g);
	if (linalg_sym_eig_split(eig, lambda, vt, work, cols, r))
		goto out;
	if (spectrum_new_gram(slot, v->scored, v->rows, cols, g, eig)) {
		rc = ENV_ERR_NOMEM;
		goto out;
	}
	g = NULL; /* the spectrum's now */
	features_from_eig(x, v, lambda, vt, r);
	rc = ENV_OK;
out:
	free(vt);
	free(lambda);
	free(eig);
	free(work);
	free(g);
	return rc;
}

int env_view_features_set(float *x, const struct model_layer_view *v, enum rowfeat_set set,
			  const struct probe *p)
{
	if (set == ROWFEAT_SET_WEIGHTS)
		return env_view_features(x, v);
	if (!p || !v->down || v->layer >= p->n_layers || p->ffn[v->layer] != v->rows ||
	    !probe_has_stats(p, v->layer))
		return ENV_ERR_PROBES;
	int nf = rowfeat_set_count(set), rows = v->rows;
	float *w6 = malloc((size_t)rows * ROWFEAT_COUNT * sizeof *w6);
	double *msq = malloc((size_t)rows * sizeof *msq), *mabs = malloc((size_t)rows * sizeof *mabs);
	int rc = w6 && msq && mabs ? env_view_features(w6, v) : ENV_ERR_NOMEM;
	if (rc == ENV_OK) {
		probe_row_stats(msq, mabs, p, v->layer);
		for (int i = 0; i < rows; i++)
			memcpy(x + (size_t)i * nf, w6 + (size_t)i * ROWFEAT_COUNT,
			       ROWFEAT_COUNT * sizeof *x);
		rowfeat_probe_compute(x + ROWFEAT_COUNT, nf, msq, mabs, v->down, rows, v->cols);
	}
	free(w6);
	free(msq);
	free(mabs);
	return rc;
}

/* Reads the pair and down of a streamed layer to compute its features. */
static int layer_features(struct env *e, int layer, const float *w, float **out, char *err,
			  size_t errlen)
{
	const struct config *c = &e->cfg;
	int rows = c->layer_ffn[layer], rc;
	float *pair = NULL, *down = NULL, *x = NULL, *wide = NULL;
	if ((c->gated && (rc = read_matrix(&pair, e, CONFIG_TENSOR_UP, layer, err, errlen))) ||
	    (rc = read_matrix(&down, e, CONFIG_TENSOR_DOWN, layer, err, errlen)))
		goto out;
	x = malloc((size_t)rows * ROWFEAT_COUNT * sizeof *x);
	if (!x) {
		rc = err_set(err, errlen, ENV_ERR_NOMEM, "%s: layer %d: out of memory", e->dir, layer);
		goto out;
	}
	struct model_layer_view v = {.layer = layer, .n_layers = c->n_layers, .rows = rows,
				     .cols = c->hidden, .scored = w, .pair = pair, .down = down};
	struct spectrum **slot = e->cache ? &e->layers[layer].sp : &e->sp;
	rc = e->route == SPECTRUM_ROUTE_GRAM && !*slot ? shared_setup(x, slot, &v)
						       : env_view_features(x, &v);
	if (rc) {
		err_set(err, errlen, rc, "%s: layer %d: features: %s", e->dir, layer, env_strerror(rc));
		goto out;
	}
	int nf = env_n_features(e);
	if (nf > ROWFEAT_COUNT) {
		/* probe feature sets widen the weights-only columns */
		if (!(wide = malloc((size_t)rows * (size_t)nf * sizeof *wide))) {
			rc = err_set(err, errlen, ENV_ERR_NOMEM, "%s: layer %d: out of memory", e->dir,
				     layer);
			goto out;
		}
		if ((rc = probe_columns(wide, nf, e, layer, x, down))) {
			err_set(err, errlen, rc, "%s: layer %d: probe features: %s", e->dir, layer,
				env_strerror(rc));
			goto out;
		}
		free(x);
		x = wide;
		wide = NULL;
	}
	*out = x;
	x = NULL;
out:
	free(wide);
	free(x);
	free(down);
	free(pair);
	return rc;
}

int env_layer_begin(struct env *e, int layer, const float **features, const float **w,
		    char *err, size_t errlen)
{
	const struct config *c = &e->cfg;
	if (layer < 0 || layer >= c->n_layers)
		return err_set(err, errlen, ENV_ERR_ARG, "layer %d outside [0, %d)", layer,
			       c->n_layers);
	e->current = -1; /* until this layer is ready: a failure below leaves no layer current */
	struct env_layer *L = &e->layers[layer];
	int rc;
	if (!e->cache && e->held != layer) {
		/* streaming: drop the previous layer before reading this one (the same layer again,
		 * e.g. one trained layer per episode, keeps its matrix, spectrum and G) */
		spectrum_free(e->sp);
		funcreward_free(e->fr);
		free(e->w);
		e->fr = NULL;
		e->sp = NULL;
		e->w = NULL;
		e->held = -1;
	}
	float *mat = e->cache ? L->w : e->w;
	if (!mat) {
		if ((rc = read_matrix(&mat, e, scored_tensor(c), layer, err, errlen)))
			return rc;
		if (e->cache) {
			L->w = mat;
		} else {
			e->w = mat;
			e->held = layer;
		}
	}
	if (!L->features && (rc = layer_features(e, layer, mat, &L->features, err, errlen)))
		return rc;
	e->current = layer;
	if (features)
		*features = L->features;
	if (w)
		*w = mat;
	return ENV_OK;
}

/* The current layer's spectrum, computed on first use (features alone don't need it). */
static int current_spectrum(struct env *e, const struct spectrum **out, char *err, size_t errlen)
{
	int layer = e->current;
	struct spectrum **slot = e->cache ? &e->layers[layer].sp : &e->sp;
	if (!*slot) {
		const float *mat = e->cache ? e->layers[layer].w : e->w;
		int rc = spectrum_new(slot, mat, e->cfg.layer_ffn[layer], e->cfg.hidden, e->route);
		if (rc) {
			*slot = NULL;
			return err_set(err, errlen,
				       rc == SPECTRUM_ERR_NOMEM ? ENV_ERR_NOMEM : ENV_ERR_LINALG,
				       "%s: layer %d: singular values: %s", e->dir, layer,
				       spectrum_strerror(rc));
		}
	}
	*out = *slot;
	return ENV_OK;
}

/* Checks the kept row list against the current layer and marks e->keep (rows). */
static int mark_kept(struct env *e, const int *kept, int k, char *err, size_t errlen)
{
	int rows = e->cfg.layer_ffn[e->current];
	if (k < 1 || k > rows)
		return err_set(err, errlen, ENV_ERR_ARG, "layer %d: %d rows kept, outside [1, %d]",
			       e->current, k, rows);
	memset(e->keep, 0, (size_t)rows);
	for (int i = 0; i < k; i++) {
		if (kept[i] < 0 || kept[i] >= rows)
			return err_set(err, errlen, ENV_ERR_ARG, "layer %d: kept row %d outside [0, %d)",
				       e->current, kept[i], rows);
		if (e->keep[kept[i]])
			return err_set(err, errlen, ENV_ERR_ARG, "layer %d: row %d kept twice",
				       e->current, kept[i]);
		e->keep[kept[i]] = 1;
	}
	return ENV_OK;
}

int env_layer_ks(struct env *e, const int *kept, int k, double *ks, char *err, size_t errlen)
{
	if (e->current < 0)
		return err_set(err, errlen, ENV_ERR_ARG, "no current layer");
	double v;
	const struct spectrum *sp = NULL;
	int rc = mark_kept(e, kept, k, err, errlen);
	if (rc || (rc = current_spectrum(e, &sp, err, errlen)))
		return rc;
	rc = spectrum_ks(sp, e->keep, &v, NULL);
	if (rc)
		return err_set(err, errlen, rc == SPECTRUM_ERR_NOMEM ? ENV_ERR_NOMEM : ENV_ERR_LINALG,
			       "%s: layer %d: KS of the kept rows: %s", e->dir, e->current,
			       spectrum_strerror(rc));
	*ks = v;
	return ENV_OK;
}

int env_layer_ks_matrix(struct env *e, const float *w2, double *ks, char *err, size_t errlen)
{
	if (e->current < 0 || !w2)
		return err_set(err, errlen, ENV_ERR_ARG, e->current < 0 ? "no current layer"
									: "no modified matrix");
	const struct spectrum *sp = NULL;
	int n, rows = e->cfg.layer_ffn[e->current], cols = e->cfg.hidden;
	int rc = current_spectrum(e, &sp, err, errlen);
	if (rc)
		return rc;
	const double *orig = spectrum_orig(sp, &n);
	double *s = malloc((size_t)n * sizeof *s);
	if (!s)
		return err_set(err, errlen, ENV_ERR_NOMEM, "layer %d: out of memory", e->current);
	if ((rc = linalg_singular_values(s, w2, rows, cols))) {
		free(s);
		return err_set(err, errlen, ENV_ERR_LINALG, "layer %d: modified matrix: %s",
			       e->current, linalg_strerror(rc));
	}
	/* same zero floor as spectrum_orig, or rounding noise would decide the KS of zero rows */
	spectrum_snap_zeros(s, n, rows, cols);
	*ks = ks_2samp(orig, n, s, n);
	free(s);
	return ENV_OK;
}

const double *env_layer_singular_values(struct env *e, int *n)
{
	const struct spectrum *sp = NULL;
	if (e->current < 0 || current_spectrum(e, &sp, NULL, 0))
		return NULL;
	return spectrum_orig(sp, n);
}

int env_layer_functional(struct env *e, const int *kept, int k, double *rel_err)
{
	if (e->current < 0 || !e->probe)
		return e->probe ? ENV_ERR_ARG : ENV_ERR_PROBES;
	int layer = e->current, rows = e->cfg.layer_ffn[layer];
	struct funcreward **slot = e->cache ? &e->layers[layer].fr : &e->fr;
	if (!*slot) {
		float *down = NULL;
		int rc = read_matrix(&down, e, CONFIG_TENSOR_DOWN, layer, NULL, 0);
		if (rc)
			return rc;
		rc = funcreward_new(slot, e->probe->act[layer], e->probe->tokens, down,
					e->cfg.hidden, rows);
		free(down);
		if (rc) {
			*slot = NULL;
			return rc == FUNCREWARD_ERR_NOMEM ? ENV_ERR_NOMEM : ENV_ERR_LINALG;
		}
	}
	if (k < 1 || k > rows)
		return ENV_ERR_ARG;
	double v;
	if (funcreward_error(*slot, kept, k, &v))
		return ENV_ERR_ARG;
	*rel_err = v;
	return ENV_OK;
}
