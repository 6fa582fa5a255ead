/* timing: median and noise of benchmark repetitions. See timing.h. */
#include "timing.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n, double *noise)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	*noise = (v[n - 1] - v[0]) / v[n / 2];
	return v[n / 2];
}
