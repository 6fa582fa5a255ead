/* rowfeat: per-row inputs of the size-agnostic policy, computed from a layer's weights alone.
 *
 * A row is one FFN neuron: row i of the scored up-projection W (ffn, hidden) (Llama: gate_proj),
 * with the matching row of the paired up matrix (Llama: up_proj) and column i of down
 * (hidden, ffn). Every feature is standardised within the layer (z-score over the layer's rows),
 * so the same policy applies to layers and models of any width:
 *   0 row_norm   log ‖W_i‖₂
 *   1 down_norm  log ‖down[:, i]‖₂       (0 when down is not given)
 *   2 row_max    log max_j |W_ij|
 *   3 leverage   log Σ_{j<r} (W_i·v_j / s_j)²: the row's leverage in W's leading rank-r
 *                singular subspace (v_j right singular vectors, s_j singular values)
 *   4 pair_norm  log ‖P_i‖₂ of the paired matrix (gated families), else 0
 *   5 depth      layer / (n_layers - 1), the same for every row (not standardised)
 * Logs tame the heavy tails of norms; a feature constant over the layer becomes 0.
 *
 * Probe features (data-free: from the model's own sampled tokens, env/probe.h), with a_i the
 * neuron's FFN intermediate activation over the probe tokens and d_i = down[:, i]:
 *   6 probe_sq        log E[a_i²]
 *   7 probe_abs_down  log (E[|a_i|] · ‖d_i‖₂)
 * also standardised within the layer.
 *
 * Feature sets (what a policy sees, recorded in its checkpoint): "weights" = features 0..5,
 * "probe" = features 0..7. */
#ifndef YOPO_ROWFEAT_H
#define YOPO_ROWFEAT_H

#define ROWFEAT_COUNT 6 /* the weights-only features */
#define ROWFEAT_MAX 8   /* weights + probe features */

enum rowfeat_set { ROWFEAT_SET_WEIGHTS, ROWFEAT_SET_PROBE };

/* "weights" / "probe"; NULL outside the enum. */
const char *rowfeat_set_name(enum rowfeat_set set);

/* Parses a set name: 0, or -1 (out untouched) for an unknown name. */
int rowfeat_set_parse(enum rowfeat_set *out, const char *name);

/* Features of a set (6 or 8) and their comma-separated names. */
int rowfeat_set_count(enum rowfeat_set set);
const char *rowfeat_set_list(enum rowfeat_set set);

/* Name of feature i < ROWFEAT_MAX (stable: stored in policy checkpoints). */
const char *rowfeat_name(int i);

/* Comma-separated list of the weights-only names, in order. */
const char *rowfeat_list(void);

/* x (rows, ROWFEAT_COUNT) out.
 * w (rows, cols) scored matrix; pair (rows, cols) or NULL; down (cols, rows) or NULL;
 * vt (r, cols) leading right singular vectors of w as rows, s (r) their singular values (> 0);
 * depth in [0, 1]. */
void rowfeat_compute(float *x, const float *w, const float *pair, const float *down,
		      const double *vt, const double *s, int r, int rows, int cols, double depth);

/* rowfeat_compute's naive reference (the leverage dot products one at a time, down's columns
 * walked with a stride); equal to it up to the summation order of the leverage. */
void rowfeat_compute_ref(float *x, const float *w, const float *pair, const float *down,
			 const double *vt, const double *s, int r, int rows, int cols, double depth);

/* lev (rows) = Σ_q ((w_i · vt_q) / s_q)², the leverage of each row of w (rows, cols) in the
 * subspace of vt (r, cols), s (r) > 0. The projections run as dgemm on blocks of rows (a 7B
 * layer: 2.3e10 multiply-adds, ~30 s one dot product at a time); _ref is the dot-product loop. */
void rowfeat_leverage(double *lev, const float *w, const double *vt, const double *s, int r,
		      int rows, int cols);
void rowfeat_leverage_ref(double *lev, const float *w, const double *vt, const double *s, int r,
			  int rows, int cols);

/* The two probe features into columns 0 and 1 of x (rows, stride), standardised within the layer.
 * msq, mabs (rows): E[a_i²] and E[|a_i|] over the probe tokens; down (cols, rows). */
void rowfeat_probe_compute(float *x, int stride, const double *msq, const double *mabs,
			   const float *down, int rows, int cols);

#endif
