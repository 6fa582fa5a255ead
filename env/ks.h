/* ks: the two-sample Kolmogorov–Smirnov statistic, the environment's reward
 * distance between two sets of singular values.
 *
 * All variants return D = max over every pooled value x of |F_a(x) - F_b(x)|
 * with right-continuous empirical CDFs F(x) = #{v <= x} / n, computed as
 * (double)i / na - (double)j / nb exactly like
 * scipy.stats.ks_2samp(a, b).statistic (two-sided), ties included: a value
 * shared by both samples is stepped over in both before the gap is measured.
 * D is in [0, 1] and symmetric in (a, b).
 *
 * Invalid input (NULL pointer, na or nb <= 0, any NaN) gives NaN — these are
 * pure functions with no status to return; scipy raises on empty input.
 * ks_2samp also returns NaN if its scratch allocation fails.
 *
 * Argument order follows scipy (sample, size, sample, size) rather than the
 * project's dimensions-last rule: each size belongs to the pointer beside it. */
#ifndef YOPO_ENV_KS_H
#define YOPO_ENV_KS_H

/* KS statistic of unsorted samples; sorts copies (O((na+nb) log)). */
double ks_2samp(const double *a, int na, /* a (na) */
		const double *b, int nb); /* b (nb) */

/* Same on samples already sorted ascending (a programmer error otherwise,
 * caught by assert). Allocation-free, O(na + nb): the hot-loop variant. */
double ks_2samp_sorted(const double *a, int na, /* a (na) ascending */
		       const double *b, int nb); /* b (nb) ascending */

/* Naive reference for the tests: for each pooled value, counts both samples
 * by a full scan. O((na + nb) * (na + nb)), no sorting, no allocation. */
double ks_2samp_naive(const double *a, int na, /* a (na) */
		      const double *b, int nb); /* b (nb) */

#endif
