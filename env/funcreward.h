/* funcreward: the functional (data-free) damage of removing FFN neurons of one layer.
 *
 * With A (tokens, ffn) the layer's FFN intermediate activations over the probe tokens (column
 * a_i) and D = down (hidden, ffn) (column d_i), the layer's output over the probes is
 * Σ_i a_i d_iᵀ. Removing a set R changes it by Σ_{i∈R} a_i d_iᵀ, whose squared Frobenius norm is
 * 1_Rᵀ G 1_R with G = (AᵀA) ∘ (DᵀD) (ffn × ffn, Hadamard product), computed once per layer.
 * The relative error err(R) = 1_Rᵀ G 1_R / 1ᵀ G 1 is in [0, 1] for the full set; the reward of a
 * selection is −err(R). One evaluation costs |R|² multiply-adds (microseconds on small layers).
 * Memory: ffn² doubles per layer. */
#ifndef YOPO_FUNCREWARD_H
#define YOPO_FUNCREWARD_H

enum funcreward_error {
	FUNCREWARD_OK = 0,
	FUNCREWARD_ERR_ARG = -1,    /* bad sizes, or kept indices out of range / repeated */
	FUNCREWARD_ERR_NOMEM = -2,
	FUNCREWARD_ERR_VALUE = -3,  /* a NaN or infinite activation or weight */
};

const char *funcreward_strerror(int err);

struct funcreward;

/* G of one layer. act (tokens, ffn); down (hidden, ffn). *out owned by the caller. */
int funcreward_new(struct funcreward **out, const float *act, int tokens, const float *down,
		   int hidden, int ffn);

void funcreward_free(struct funcreward *fr);

int funcreward_ffn(const struct funcreward *fr);

/* 1ᵀ G 1: the squared Frobenius norm of the layer's (bias-free) output over the probes. */
double funcreward_total(const struct funcreward *fr);

/* G (ffn, ffn), borrowed. */
const double *funcreward_gram(const struct funcreward *fr);

/* *rel_err = err(R) for R = the neurons not in kept (k); 0 when nothing is removed and the
 * total is 0. Errors: FUNCREWARD_ERR_ARG. */
int funcreward_error(struct funcreward *fr, const int *kept, int k, double *rel_err);

/* Naive reference: ‖Σ_{i∈R} a_i d_iᵀ‖²_F / ‖Σ_i a_i d_iᵀ‖²_F formed explicitly
 * (tokens × hidden), R = the neurons with keep[i] == 0. keep (ffn). */
double funcreward_error_direct(const float *act, int tokens, const float *down, int hidden,
			       int ffn, const unsigned char *keep);

#endif
