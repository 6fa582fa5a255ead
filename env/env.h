/* env: the pruning environment of one checkpoint, calibration-free (weights only).
 *
 * For every decoder layer the scored matrix is the FFN up-projection in (ffn, hidden)
 * orientation (Llama: gate_proj; GPT-Neo/GPT-2: c_fc; OPT/Phi: fc1; GPT-NeoX: dense_h_to_4h).
 * Pruning keeps k of its rows; the verdict is the two-sample KS statistic between the singular
 * values of the matrix and of its kept rows (spectrum.h). Layers are read one at a time from the
 * memory-mapped checkpoint: unless everything fits the cache budget, only the current layer's
 * matrix and spectrum are resident, plus small per-layer features and singular values.
 *
 * Optionally (env_use_probes) the env also holds data-free probes — FFN activations on tokens the
 * model sampled itself (probe.h) — and then offers the functional reward (funcreward.h: the
 * relative change of the layer's output over the probes) and the "probe" feature set
 * (rowfeat.h). The probes are borrowed; the env keeps one ffn × ffn Gram per layer (cached) or
 * for the current layer (streaming). */
#ifndef YOPO_ENV_H
#define YOPO_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "model.h"
#include "probe.h"
#include "rowfeat.h"
#include "spectrum.h"

enum env_error {
	ENV_OK = 0,
	ENV_ERR_MODEL = -1,  /* the checkpoint could not be opened or validated */
	ENV_ERR_NOMEM = -2,
	ENV_ERR_LINALG = -3, /* singular values failed */
	ENV_ERR_ARG = -4,    /* bad layer, k or kept indices */
	ENV_ERR_PROBES = -5, /* no probes attached, or they do not fit the model */
};

const char *env_strerror(int err);

struct env;

/* Opens model_dir (no weights are materialised). cache_bytes: keep layers resident while their
 * total stays under this many bytes (0: always stream). *out owned by the caller (env_close). */
int env_open(struct env **out, const char *model_dir, enum spectrum_route route,
	     size_t cache_bytes, char *err, size_t errlen);

/* Bytes the env keeps per layer when it caches: the scored matrix in f32, the spectral Gram
 * (route GRAM) and, when functional rewards will be computed, the layer's ffn × ffn G. */
size_t env_layer_bytes(const struct env *e, int layer, bool functional);

/* Remakes the cache decision for callers that visit only layers[0..n) (NULL: layers 0..n-1),
 * with (functional) their G counted: everything visited stays resident when it fits the
 * cache_bytes given to env_open, else only the current layer. env_open decides over every
 * layer without G. Call before the first env_layer_begin. */
void env_plan_cache(struct env *e, const int *layers, int n, bool functional);

void env_close(struct env *e);

const struct config *env_config(const struct env *e);
const char *env_model_dir(const struct env *e);

/* Rows (ffn) and columns (hidden) of the scored matrix of a layer. */
int env_rows(const struct env *e, int layer);
int env_cols(const struct env *e);

/* Makes `layer` current: reads its matrix and computes its features (once). Its spectrum is
 * computed on the first env_layer_ks / env_layer_singular_values.
 * *features (rows, env_n_features(e)) and *w (rows, cols) are borrowed until the next
 * env_layer_begin or env_close. Errors: ARG (layer out of range; the current layer stays),
 * MODEL (a tensor missing or unconvertible), NOMEM, LINALG (non-finite weights, no
 * convergence); after MODEL/NOMEM/LINALG no layer is current. */
int env_layer_begin(struct env *e, int layer, const float **features, const float **w,
		    char *err, size_t errlen);

/* Row features x (v->rows, ROWFEAT_COUNT) of a layer view, from weights already in memory (a
 * loaded model's model_layer_view, or the matrices env streams): the one feature computation
 * behind env_layer_begin and the policy scorer. v->down may be NULL (feature 1 is then 0).
 * Returns 0, ENV_ERR_NOMEM or ENV_ERR_LINALG. */
int env_view_features(float *x, const struct model_layer_view *v);

/* As env_view_features for feature set `set`: x (v->rows, rowfeat_set_count(set)); the probe
 * set needs p (the probes of the model v belongs to, layer v->layer of width v->rows) and
 * v->down. Returns 0, ENV_ERR_NOMEM, ENV_ERR_LINALG or ENV_ERR_PROBES (no or mis-shaped probes). */
int env_view_features_set(float *x, const struct model_layer_view *v, enum rowfeat_set set,
			  const struct probe *p);

/* KS distance of the current layer when keeping rows kept[0..k) (distinct, 1 <= k <= rows; the
 * keep count at a ratio is util_keep_count). Errors: ARG (no current layer, bad k or rows),
 * NOMEM, LINALG. */
int env_layer_ks(struct env *e, const int *kept, int k, double *ks, char *err, size_t errlen);

/* KS distance between the current layer's singular values and those of w2, a modified copy of
 * its matrix (rows, cols) — e.g. with individual weights zeroed by unstructured pruning. Both
 * sets have their numerical zeros snapped by the same rule (spectrum_snap_zeros). */
int env_layer_ks_matrix(struct env *e, const float *w2, double *ks, char *err, size_t errlen);

/* Singular values of the current layer's full matrix (descending); *n set to their count.
 * NULL if no layer is current or they cannot be computed. Borrowed like *w. */
const double *env_layer_singular_values(struct env *e, int *n);

/* Attaches data-free probes (probe.h; borrowed, must outlive the env or the next call; NULL
 * detaches) and chooses the feature set the layers report: ROWFEAT_SET_WEIGHTS (6 columns) or
 * ROWFEAT_SET_PROBE (8: the weights-only ones, then rowfeat's probe features). Drops features
 * and functional Grams computed before; no layer is current afterwards. Errors (reason in err):
 * ENV_ERR_PROBES (PROBE without probes, layer count or an FFN width differs). */
int env_use_probes(struct env *e, const struct probe *p, enum rowfeat_set set, char *err,
		   size_t errlen);

/* Feature columns of env_layer_begin's *features: 6 or 8. */
int env_n_features(const struct env *e);

/* Functional damage of the current layer when keeping rows kept[0..k): the relative output error
 * over the probes, funcreward.h's err(R) (reward = −err). The layer's G is computed on first use
 * (kept like the spectrum: per layer when cached, else the current one only).
 * Errors: ENV_ERR_PROBES (no probes), ENV_ERR_ARG, ENV_ERR_NOMEM, ENV_ERR_LINALG. */
int env_layer_functional(struct env *e, const int *kept, int k, double *rel_err);

#endif
