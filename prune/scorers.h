/* scorers: the baseline pruning criteria as pure functions of weights (and, for Wanda, of the
 * calibration activation norms). Nothing here knows about models or files, so every criterion is
 * testable on small hand-checkable matrices.
 *
 * Two kinds of output:
 *   - neuron scores for structured ("rows") pruning: scores (ffn), larger = keep. Neuron i is
 *     row i of up (and gate) in nn.Linear (out, in) orientation;
 *   - keep masks for unstructured ("weights") pruning: mask (rows, cols) of 0/1 bytes, 1 = keep.
 *     The comparison group is one output row of the (out, in) matrix: every row keeps
 *     k_row = util_keep_count(cols, ratio) weights (topk.h: cols - lround(ratio * cols), an
 *     error when that is 0).
 *
 * Ties are always broken towards the lower index (the earlier neuron or column is kept): every
 * selection is util_topk's. Random draws come from PCG32 (pcg32.h) only.
 *
 * KEN lives in ken.h and shares this module's error codes. */
#ifndef YOPO_SCORERS_H
#define YOPO_SCORERS_H

#include <stdint.h>

#include "pcg32.h"

enum scorers_error {
	SCORERS_OK = 0,
	SCORERS_ERR_RATIO = -1, /* ratio not in [0, 1), or it leaves no weight in a row */
	SCORERS_ERR_NOMEM = -2,
	SCORERS_ERR_VALUE = -3, /* a NaN or infinite weight (KEN cannot estimate a density) */
	SCORERS_ERR_ARG = -4,   /* a negative size or k > n */
};

/* Static one-line description of a scorers_error. */
const char *scorers_strerror(int err);

/* The generator of the random baseline for seed: pcg32_seed(seed, SCORERS_RNG_STREAM). */
#define SCORERS_RNG_STREAM 0x72616e64u /* "rand" */
struct pcg32 scorers_rng(uint64_t seed);

/* scores (ffn) = uniform values in [0, 1) (24-bit resolution, one pcg32_next each, in order). */
void scorers_random_rows(float *scores, int ffn, struct pcg32 *rng);

/* scores (ffn) = ||up_i||_p + ||gate_i||_p (gate term omitted when gate is NULL); p is 1 or 2.
 * up, gate (ffn, hidden) row-major. Accumulates in double. */
void scorers_magnitude_rows(float *scores, const float *up, const float *gate, int ffn, int hidden,
			    int p);

/* scores (ffn) = sum_j |up_ij| * xnorm_j + sum_j |gate_ij| * xnorm_j (Wanda's |W| * ||X|| summed
 * over the neuron's input weights, LLM-Rank's aggregation; gate term omitted when NULL).
 * up, gate (ffn, hidden); xnorm (hidden): ||X_j||_2 over the calibration tokens. */
void scorers_wanda_rows(float *scores, const float *up, const float *gate, const float *xnorm,
			int ffn, int hidden);

/* mask (rows, cols): per row, keep the top k_row by |w_ij|. w (rows, cols).
 * Errors: SCORERS_ERR_RATIO, SCORERS_ERR_NOMEM. */
int scorers_magnitude_weights(unsigned char *mask, const float *w, int rows, int cols,
			      double ratio);

/* N:M semi-structured mask (rows, cols): in every group of m consecutive weights of a row, keep
 * the n largest by |w_ij| (xnorm NULL: magnitude) or |w_ij| * xnorm_j (Wanda); ties by lower
 * index. A final group of r < m weights (cols not a multiple of m) keeps ceil(r n / m).
 * Errors: SCORERS_ERR_ARG (not 1 <= n < m <= 64, negative sizes), SCORERS_ERR_VALUE (NaN or
 * infinite weight). */
int scorers_nm_weights(unsigned char *mask, const float *w, const float *xnorm, int rows, int cols,
		       int n, int m);

/* The number of groups of w (rows, cols; groups as in scorers_nm_weights) holding more nonzero
 * weights than the N:M pattern allows: 0 when every group follows it. */
long scorers_nm_violations(const float *w, int rows, int cols, int n, int m);

/* mask (rows, cols): per row, keep the top k_row by |w_ij| * xnorm_j (the Wanda paper's
 * per-output comparison group). w (rows, cols); xnorm (cols). Errors as above. */
int scorers_wanda_weights(unsigned char *mask, const float *w, const float *xnorm, int rows,
			  int cols, double ratio);

/* mask (rows, cols): per row, keep k_row uniformly random weights (scores pcg32_uniform(rng),
 * row by row). Errors as above. */
int scorers_random_weights(unsigned char *mask, int rows, int cols, double ratio,
			   struct pcg32 *rng);


#endif
