/* ks: two-sample Kolmogorov–Smirnov statistic, scipy-compatible (see ks.h).
 * The fast path merges two ascending arrays, stepping over every copy of
 * the current smallest value in both before measuring the CDF gap; this is
 * what scipy's searchsorted(side='right') over the pooled values computes. */
#include "ks.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int valid_sample(const double *x, int n)
{
	if (!x || n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (isnan(x[i]))
			return 0;
	return 1;
}

static int cmp_asc(const void *pa, const void *pb)
{
	double x = *(const double *)pa, y = *(const double *)pb;
	return (x > y) - (x < y);
}

double ks_2samp_sorted(const double *a, int na, const double *b, int nb)
{
	if (!valid_sample(a, na) || !valid_sample(b, nb))
		return NAN;
	for (int i = 1; i < na; i++)
		assert(a[i - 1] <= a[i]);
	for (int j = 1; j < nb; j++)
		assert(b[j - 1] <= b[j]);
	/* Once one sample is exhausted its CDF is 1 and the gap only shrinks
	 * over the other's remaining values, so the loop can stop there. */
	double d = 0;
	int i = 0, j = 0;
	while (i < na && j < nb) {
		double x = a[i] < b[j] ? a[i] : b[j];
		while (i < na && a[i] <= x)
			i++;
		while (j < nb && b[j] <= x)
			j++;
		double gap = fabs((double)i / na - (double)j / nb);
		if (gap > d)
			d = gap;
	}
	return d;
}

double ks_2samp(const double *a, int na, const double *b, int nb)
{
	if (!valid_sample(a, na) || !valid_sample(b, nb))
		return NAN;
	double d = NAN;
	double *sa = malloc((size_t)na * sizeof(double));
	double *sb = malloc((size_t)nb * sizeof(double));
	if (!sa || !sb)
		goto out;
	memcpy(sa, a, (size_t)na * sizeof(double));
	memcpy(sb, b, (size_t)nb * sizeof(double));
	qsort(sa, (size_t)na, sizeof(double), cmp_asc);
	qsort(sb, (size_t)nb, sizeof(double), cmp_asc);
	d = ks_2samp_sorted(sa, na, sb, nb);
out:
	free(sb);
	free(sa);
	return d;
}

static int count_le(const double *x, int n, double v)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += x[i] <= v;
	return c;
}

double ks_2samp_naive(const double *a, int na, const double *b, int nb)
{
	if (!valid_sample(a, na) || !valid_sample(b, nb))
		return NAN;
	double d = 0;
	for (long long k = 0; k < (long long)na + nb; k++) {
		double v = k < na ? a[k] : b[k - na];
		double gap = fabs((double)count_le(a, na, v) / na - (double)count_le(b, nb, v) / nb);
		if (gap > d)
			d = gap;
	}
	return d;
}
