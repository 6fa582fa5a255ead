/* kde: fast Gaussian kernel sums on a uniform grid, with an error bound — what KEN's density
 * (scorers.h) costs O(n * k) exp() calls for, here O(n * P + P * N log N).
 *
 * For sorted values xs (n), bandwidth h and the grid g_j = lo + j * step (j < k) it approximates
 *   s_j = sum_i exp(-((g_j - xs_i) / h)^2 / 2).
 * Method: every x_i goes to its nearest grid point m with offset delta = (x_i - g_m) / h
 * (|delta| <= d / 2, d = step / h). With t = (j - m) d,
 *   exp(-(t - delta)^2 / 2) = exp(-t^2 / 2) * exp(-delta^2 / 2) * sum_p t^p delta^p / p!,
 * so s = sum over p < P of A_p ⊛ K_p with the binned moments A_p(m) = sum exp(-delta^2/2)
 * delta^p / p! and the kernels K_p(t) = exp(-t^2 / 2) t^p, truncated at |t| <= 10 (a term past
 * that is below exp(-50)) and convolved by FFT (fftconv.h). P is chosen so the series' remainder
 * is below 1e-15 relative.
 *
 * The bound |approx_j - s_j| <= rel * s_j + abs (returned) covers the series, the truncation,
 * the FFT's rounding (10 eps log2 N sum_p ||A_p||_2 ||K_p||_2) and the rounding of the direct
 * sum's own arguments, each with a safety factor; KEN uses it to find the grid points whose
 * order the approximation cannot decide and sums those directly. */
#ifndef YOPO_PRUNE_KDE_H
#define YOPO_PRUNE_KDE_H

enum kde_status {
	KDE_OK = 0,
	KDE_UNSUITABLE = 1, /* grid too coarse for h (d > 0.1), too small to gain, or h <= 0 */
	KDE_NOMEM = -1
};

struct kde;

int kde_new(struct kde **out); /* 0 or KDE_NOMEM; buffers grow on use */
void kde_free(struct kde *w);  /* NULL: no-op */

/* sums (k) = the approximate s_j above for xs (n) ascending; *rel, *abs: the error bound.
 * Outputs are written only on KDE_OK. w keeps its transform (an FFTW plan) from call to call
 * while it is at most 1/4 larger than the k + L points a call needs, so the sums of one row may
 * differ in rounding, within the bound, with the rows w summed before. */
int kde_grid_sums(struct kde *w, double *sums, double *rel, double *abs, const double *xs, int n,
		  double lo, double step, int k, double h);

/* The size of w's current transform (0 before any sums); for tests. */
int kde_transform_size(const struct kde *w);

#endif
