/* ken: KEN, kernel-density selection of each row's weights (a weights-granularity baseline).
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
 * (k < 64), the densities are all summed directly. ken_weights spreads the rows over the
 * worker pool (pool.h); each row's result does not depend on the thread count.
 * ken_row_naive is the O(n*k) literal reference used by the tests. */
#ifndef YOPO_KEN_H
#define YOPO_KEN_H

#include <stdbool.h>

#include "scorers.h" /* SCORERS_OK and the SCORERS_ERR_* codes */

/* KEN bandwidth of row (n): 1.06 * population std * n^(-1/5); 0 when n < 1. */
double ken_bandwidth(const float *row, int n);

/* KEN's density estimate: grid (k) = linspace(min(row), max(row), k) and density (k) the
 * normalised Gaussian KDE at those points (see above; all 0 when the bandwidth is 0).
 * row (n), n >= 1, k >= 1. Errors: SCORERS_ERR_ARG, SCORERS_ERR_VALUE, SCORERS_ERR_NOMEM. */
int ken_density(double *density, double *grid, const float *row, int n, int k);

/* keep (n) = KEN's choice of k weights of row (n), 0 <= k <= n (k = n keeps all).
 * Errors: SCORERS_ERR_ARG, SCORERS_ERR_VALUE, SCORERS_ERR_NOMEM; keep written only on success. */
int ken_row(unsigned char *keep, const float *row, int n, int k);

/* Whether ken_row / ken_weights order the grid points through kde.h's FFT
 * densities (default true; the order is then made exact, see ken_resolve_runs in ken.c) or
 * by direct windowed sums. Same results either way; for benches and tests. Not thread-safe. */
void ken_set_fast(bool on);

/* Literal O(n*k) reference of ken_row (same results, bit for bit). */
int ken_row_naive(unsigned char *keep, const float *row, int n, int k);

/* mask (rows, cols) = ken_row of every row of w (rows, cols) with k = k_row.
 * Errors as ken_row, plus SCORERS_ERR_RATIO. */
int ken_weights(unsigned char *mask, const float *w, int rows, int cols, double ratio);

#endif
