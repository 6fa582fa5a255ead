/* env: per-layer spectral environment streamed from a memory-mapped checkpoint. See env.h. */
#include "env.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int env_keep_count(int rows, double ratio)
{
	long removed = lround(ratio * rows);
	long k = rows - removed;
	return (int)(k < 1 ? 1 : k);
}

int env_open(struct env **out, const char *model_dir, enum spectrum_route route,
	     size_t cache_bytes, char *err, size_t errlen)
{
	struct env *e = calloc(1, sizeof *e);
	if (!e)
		return ENV_ERR_NOMEM;
	e->current = -1;
	e->route = route;
	snprintf(e->dir, sizeof e->dir, "%s", model_dir);
	if (model_inspect(&e->cfg, &e->st, model_dir, err, errlen)) {
		free(e);
		return ENV_ERR_MODEL;
	}
	const struct config *c = &e->cfg;
	size_t max_rows = 0, total = 0, cols = (size_t)c->hidden;
	for (int l = 0; l < c->n_layers; l++) {
		size_t rows = (size_t)c->layer_ffn[l];
		if (rows > max_rows)
			max_rows = rows;
		/* matrix + (route GRAM) the Gram + singular values */
		total += rows * cols * sizeof(float) +
			 (route == SPECTRUM_ROUTE_GRAM ? cols * cols * sizeof(double) : 0);
	}
	e->cache = total <= cache_bytes;
	e->layers = calloc((size_t)c->n_layers, sizeof *e->layers);
	e->keep = malloc(max_rows);
	e->scratch = c->conv1d ? malloc(max_rows * cols * sizeof(float)) : NULL;
	if (!e->layers || !e->keep || (c->conv1d && !e->scratch)) {
		env_close(e);
		return ENV_ERR_NOMEM;
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

/* Reads matrix `which` of `layer` into a new (out, in) f32 buffer. */
static float *read_matrix(struct env *e, enum config_tensor which, int layer)
{
	const struct safetensors_tensor *t = model_find_tensor(e->st, &e->cfg, which, layer);
	float *m = t ? malloc(t->nelem * sizeof(float)) : NULL;
	if (m && model_read_matrix(m, t, &e->cfg, which, e->scratch)) {
		free(m);
		m = NULL;
	}
	/* the f32 copy is what we use: drop the mapped pages so RSS tracks one layer */
	if (t)
		safetensors_evict(t);
	return m;
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

/* Features of a layer: needs the matrix, its pair and down, and W's leading right singular
 * subspace, taken from the eigenvectors of the Gram WᵀW (cols × cols) so that no (rows × rows)
 * or U factor is ever formed. */
static int layer_features(struct env *e, int layer, const float *w, float **out)
{
	const struct config *c = &e->cfg;
	int rows = c->layer_ffn[layer], cols = c->hidden, kmin = rows < cols ? rows : cols;
	int nf = env_n_features(e);
	int r = kmin / 8 > 0 ? kmin / 8 : 1;
	int rc = ENV_ERR_NOMEM;
	float *pair = c->gated ? read_matrix(e, CONFIG_TENSOR_UP, layer) : NULL;
	float *down = read_matrix(e, CONFIG_TENSOR_DOWN, layer);
	size_t cc = (size_t)cols * cols;
	double *lambda = malloc((size_t)cols * sizeof *lambda);
	double *g = malloc(cc * sizeof *g);
	double *v = malloc(cc * sizeof *v);
	float *x = malloc((size_t)rows * ROWFEAT_COUNT * sizeof *x);
	float *wide = NULL;
	if ((c->gated && !pair) || !down || !lambda || !g || !v || !x)
		goto out;
	if (linalg_gram(g, w, rows, cols) || linalg_sym_eig(lambda, v, g, cols)) {
		rc = ENV_ERR_LINALG;
		goto out;
	}
	/* singular values of W; drop directions at rounding level of the largest */
	for (int q = 0; q < cols; q++)
		lambda[q] = lambda[q] > 0 ? sqrt(lambda[q]) : 0;
	while (r > 1 && !(lambda[r - 1] > 1e-6 * lambda[0]))
		r--;
	if (!(lambda[0] > 0))
		lambda[0] = 1; /* all-zero matrix: leverage is 0 everywhere anyway */
	double depth = c->n_layers > 1 ? (double)layer / (c->n_layers - 1) : 0.0;
	rowfeat_compute(x, w, pair, down, v, lambda, r, rows, cols, depth);
	if (nf > ROWFEAT_COUNT) {
		if (!(wide = malloc((size_t)rows * (size_t)nf * sizeof *wide)) ||
		    (rc = probe_columns(wide, nf, e, layer, x, down)))
			goto out;
		free(x);
		x = wide;
		wide = NULL;
	}
	*out = x;
	x = NULL;
	rc = ENV_OK;
out:
	free(wide);
	free(x);
	free(v);
	free(g);
	free(lambda);
	free(down);
	free(pair);
	return rc;
}

int env_layer_begin(struct env *e, int layer, const float **features, const float **w)
{
	const struct config *c = &e->cfg;
	if (layer < 0 || layer >= c->n_layers)
		return ENV_ERR_ARG;
	e->current = -1; /* until this layer is ready: a failure below leaves no layer current */
	struct env_layer *L = &e->layers[layer];
	int rc;
	if (!e->cache) {
		/* streaming: drop the previous layer before reading this one */
		spectrum_free(e->sp);
		funcreward_free(e->fr);
		free(e->w);
		e->fr = NULL;
		e->sp = NULL;
		e->w = NULL;
	}
	float *mat = e->cache ? L->w : NULL;
	if (!mat) {
		mat = read_matrix(e, scored_tensor(c), layer);
		if (!mat)
			return ENV_ERR_NOMEM;
		if (e->cache)
			L->w = mat;
		else
			e->w = mat;
	}
	if (!L->features && (rc = layer_features(e, layer, mat, &L->features)))
		return rc;
	e->current = layer;
	if (features)
		*features = L->features;
	if (w)
		*w = mat;
	return ENV_OK;
}

/* The current layer's spectrum, computed on first use (features alone don't need it). */
static int current_spectrum(struct env *e, const struct spectrum **out)
{
	int layer = e->current;
	struct spectrum **slot = e->cache ? &e->layers[layer].sp : &e->sp;
	if (!*slot) {
		const float *mat = e->cache ? e->layers[layer].w : e->w;
		int rc = spectrum_new(slot, mat, e->cfg.layer_ffn[layer], e->cfg.hidden, e->route);
		if (rc) {
			*slot = NULL;
			return rc == SPECTRUM_ERR_NOMEM ? ENV_ERR_NOMEM : ENV_ERR_LINALG;
		}
	}
	*out = *slot;
	return ENV_OK;
}

int env_layer_ks(struct env *e, const int *kept, int k, double *ks)
{
	if (e->current < 0)
		return ENV_ERR_ARG;
	int rows = e->cfg.layer_ffn[e->current];
	if (k < 1 || k > rows)
		return ENV_ERR_ARG;
	memset(e->keep, 0, (size_t)rows);
	for (int i = 0; i < k; i++) {
		if (kept[i] < 0 || kept[i] >= rows || e->keep[kept[i]])
			return ENV_ERR_ARG;
		e->keep[kept[i]] = 1;
	}
	double v;
	const struct spectrum *sp;
	int rc = current_spectrum(e, &sp);
	if (rc)
		return rc;
	rc = spectrum_ks(sp, e->keep, &v, NULL);
	if (rc)
		return rc == SPECTRUM_ERR_NOMEM ? ENV_ERR_NOMEM : ENV_ERR_LINALG;
	*ks = v;
	return ENV_OK;
}

int env_layer_ks_matrix(struct env *e, const float *w2, double *ks)
{
	if (e->current < 0 || !w2)
		return ENV_ERR_ARG;
	const struct spectrum *sp;
	int rc = current_spectrum(e, &sp), n;
	if (rc)
		return rc;
	const double *orig = spectrum_orig(sp, &n);
	double *s = malloc((size_t)n * sizeof *s);
	if (!s)
		return ENV_ERR_NOMEM;
	if (linalg_singular_values(s, w2, e->cfg.layer_ffn[e->current], e->cfg.hidden)) {
		free(s);
		return ENV_ERR_LINALG;
	}
	*ks = ks_2samp(orig, n, s, n);
	free(s);
	return ENV_OK;
}

const double *env_layer_singular_values(struct env *e, int *n)
{
	const struct spectrum *sp;
	if (e->current < 0 || current_spectrum(e, &sp))
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
		float *down = read_matrix(e, CONFIG_TENSOR_DOWN, layer);
		if (!down)
			return ENV_ERR_NOMEM;
		int rc = funcreward_new(slot, e->probe->act[layer], e->probe->tokens, down,
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
