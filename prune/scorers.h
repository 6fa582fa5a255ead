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
 * KEN (Mastromattei & Zanzotto, "Less is KEN: a Universal and Simple Non-Parametric Pruning
 * Algorithm for Large Language Models", ACL 2024; reference code github.com/itsmattei/KEN,
 * class Kernel_Density): for one row of n weights and a budget of k,
 *   1. Gaussian KDE of the row's values with Silverman's rule h = 1.06 * sigma * n^(-1/5), sigma the
 *      POPULATION standard deviation (divide by n), as the reference's np.std;
 *   2. density f(g_j) = 1/(n h sqrt(2 pi)) * sum_i exp(-((g_j - x_i)/h)^2 / 2) on the k points
 *      g_j = linspace(min, max, k) (numpy semantics: g_j = min + j*(max-min)/(k-1), the last
 *      point exactly max; k = 1 gives the single point min);
 *   3. the grid points are visited by decreasing density (equal densities: lower j first); each
 *      takes the weight nearest IN VALUE to it among the weights not yet taken (equal distances:
 *      lower index), and that weight's INDEX is kept. Each weight can be taken once, so duplicate
 *      values at different indices are distinct weights and exactly min(k, n) weights are kept.
 * Departures from the reference code, deliberately: (a) the reference rounds the densities to
 * integers before ordering (so many grid points tie and fall back to grid order); we order by the
 * exact densities; (b) the reference then keeps every entry whose VALUE is among the chosen ones
 * (np.isin), which keeps more than k weights when values repeat; we keep exactly the chosen
 * indices. If every value of the row is equal (sigma = 0, no bandwidth), all densities are taken
 * as equal and the result is the k lowest indices.
 * The fast path sorts the row once (a radix sort of the float keys, stable, so equal values stay
 * in index order), orders the grid points by kde.h's FFT densities — O(n P + P N log N) instead
 * of n k exp() calls — and then sums directly (ken_sum_at: a window outside which exp()
 * underflows to exactly 0, so bit-identical to the full sum) every run of neighbours in that
 * order whose gap is within kde.h's error bound, and re-sorts those runs: the order, hence the
 * selection, is the exact densities' one. It finds the nearest untaken weight through union-find
 * "next/previous untaken" links (near O(k)). When the grid is coarse (step > 0.1 h) or small
 * (k < 64), the densities are all summed directly. scorers_ken_weights spreads the rows over the
 * worker pool (pool.h); each row's result does not depend on the thread count.
 * scorers_ken_row_naive is the O(n*k) literal reference used by the tests. */
#ifndef YOPO_SCORERS_H
#define YOPO_SCORERS_H

#include <stdbool.h>
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

/* KEN bandwidth of row (n): 1.06 * population std * n^(-1/5); 0 when n < 1. */
double scorers_ken_bandwidth(const float *row, int n);

/* KEN's density estimate: grid (k) = linspace(min(row), max(row), k) and density (k) the
 * normalised Gaussian KDE at those points (see above; all 0 when the bandwidth is 0).
 * row (n), n >= 1, k >= 1. Errors: SCORERS_ERR_ARG, SCORERS_ERR_VALUE, SCORERS_ERR_NOMEM. */
int scorers_ken_density(double *density, double *grid, const float *row, int n, int k);

/* keep (n) = KEN's choice of k weights of row (n), 0 <= k <= n (k = n keeps all).
 * Errors: SCORERS_ERR_ARG, SCORERS_ERR_VALUE, SCORERS_ERR_NOMEM; keep written only on success. */
int scorers_ken_row(unsigned char *keep, const float *row, int n, int k);

/* Whether scorers_ken_row / scorers_ken_weights order the grid points through kde.h's FFT
 * densities (default true; the order is then made exact, see ken_resolve_runs in scorers.c) or
 * by direct windowed sums. Same results either way; for benches and tests. Not thread-safe. */
void scorers_ken_set_fast(bool on);

/* Literal O(n*k) reference of scorers_ken_row (same results, bit for bit). */
int scorers_ken_row_naive(unsigned char *keep, const float *row, int n, int k);

/* mask (rows, cols) = scorers_ken_row of every row of w (rows, cols) with k = k_row.
 * Errors as scorers_ken_row, plus SCORERS_ERR_RATIO. */
int scorers_ken_weights(unsigned char *mask, const float *w, int rows, int cols, double ratio);

#endif
