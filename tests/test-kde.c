/* Tests for prune/kde: the FFT grid sums against the direct sums of every term, inside the
 * returned bound, with the bound itself tight enough to order KEN's grid points; and the cases
 * the method declines. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "kde.h"
#include "ken.h"
#include "pcg32.h"
#include "testutil.h"

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return (a > b) - (a < b);
}

/* xs (n) ascending: Gaussian * scale + offset, optionally one outlier */
static void fill_sorted(double *xs, float *row, int n, double scale, double offset, double outlier,
			struct pcg32 *g)
{
	for (int i = 0; i < n; i++)
		row[i] = (float)(offset + scale * pcg32_normal(g));
	if (outlier != 0)
		row[n / 3] = (float)(offset + outlier);
	for (int i = 0; i < n; i++)
		xs[i] = row[i];
	qsort(xs, (size_t)n, sizeof *xs, cmp_double);
}

/* Every sum of xs (n) at the k grid points lo + j step against the direct sum of every term:
 * inside the bound, with its margin. */
static void check_sums(const double *sums, double rel, double abs, const double *xs, int n,
		       double lo, double step, int k, double h)
{
	double worst = 0;
	for (int j = 0; j < k; j++) {
		double gj = lo + j * step, s = 0;
		for (int i = 0; i < n; i++) {
			double u = (gj - xs[i]) / h;
			s += exp(-0.5 * u * u);
		}
		double err = fabs(sums[j] - s);
		ck_assert_msg(err <= rel * s + abs, "j=%d: %.17g vs %.17g", j, sums[j], s);
		worst = fmax(worst, err / (rel * s + abs));
	}
	ck_assert(worst < 0.5); /* the bound has its margin */
}

START_TEST(test_sums_within_bound)
{
	/* n, k, scale, offset, outlier (in units of scale) */
	static const double cases[][5] = {
		{4096, 2867, 0.02, 0, 0},    {11008, 7706, 0.02, 0, 0}, {1000, 700, 1, 0, 0},
		{3000, 2100, 1, 1000, 0},    {2000, 1400, 0.5, 0, 20},  {500, 300, 1, 0, 0},
	};
	struct pcg32 g;
	pcg32_seed(&g, 11, 5);
	struct kde *w = NULL;
	ck_assert_int_eq(kde_new(&w), KDE_OK);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int n = (int)cases[c][0], k = (int)cases[c][1];
		double *xs = malloc((size_t)n * sizeof *xs), *sums = malloc((size_t)k * sizeof *sums);
		float *row = malloc((size_t)n * sizeof *row);
		ck_assert(xs && sums && row);
		fill_sorted(xs, row, n, cases[c][2], cases[c][3], cases[c][4] * cases[c][2], &g);
		double h = ken_bandwidth(row, n), lo = xs[0], step = (xs[n - 1] - lo) / (k - 1);
		double rel = -1, abs = -1;
		ck_assert_int_eq(kde_grid_sums(w, sums, &rel, &abs, xs, n, lo, step, k, h), KDE_OK);
		/* tight enough to order densities that differ in the 10th digit (the offset case's
		 * bound is the widest: the direct sum's own (g - x) / h rounds at 1000 / h) */
		ck_assert(rel > 0 && rel < 1e-9);
		ck_assert(abs > 0 && abs < 1e-9);
		check_sums(sums, rel, abs, xs, n, lo, step, k, h);
		free(xs);
		free(sums);
		free(row);
	}
	kde_free(w);
}
END_TEST

/* One workspace over rows of one length and falling k (grid points): the transform is kept
 * while at most 1/4 larger than a row needs (k 2867 -> 2600: the same size), replaced when
 * much larger (-> 1500) or too small (-> 2867 again), and every row's sums stay within the
 * bound whatever size the earlier rows left. */
START_TEST(test_transform_reused)
{
	static const struct { int k; int same; } rows[] = {{2867, 0}, {2600, 1}, {1500, 0}, {2867, 0}};
	enum { N = 4096 };
	struct pcg32 g;
	pcg32_seed(&g, 12, 5);
	struct kde *w = NULL;
	ck_assert_int_eq(kde_new(&w), KDE_OK);
	ck_assert_int_eq(kde_transform_size(w), 0);
	double *xs = malloc(N * sizeof *xs), *sums = malloc(N * sizeof *sums);
	float *row = malloc(N * sizeof *row);
	ck_assert(xs && sums && row);
	fill_sorted(xs, row, N, 0.02, 0, 0, &g);
	double h = ken_bandwidth(row, N), lo = xs[0];
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		int k = rows[r].k, before = kde_transform_size(w);
		double step = (xs[N - 1] - lo) / (k - 1), rel, abs;
		ck_assert_int_eq(kde_grid_sums(w, sums, &rel, &abs, xs, N, lo, step, k, h), KDE_OK);
		int size = kde_transform_size(w);
		ck_assert_int_ge(size, k);
		ck_assert_msg((size == before) == rows[r].same, "row %zu: size %d after %d", r, size,
			      before);
		check_sums(sums, rel, abs, xs, N, lo, step, k, h);
	}
	free(xs);
	free(sums);
	free(row);
	kde_free(w);
}
END_TEST

START_TEST(test_declines)
{
	double xs[200], sums[200], rel = 7, abs = 7;
	for (int i = 0; i < 200; i++)
		xs[i] = i;
	struct kde *w = NULL;
	ck_assert_int_eq(kde_new(&w), KDE_OK);
	/* too few grid points */
	ck_assert_int_eq(kde_grid_sums(w, sums, &rel, &abs, xs, 200, 0, 199.0 / 62, 63, 5), KDE_UNSUITABLE);
	/* grid step above 0.1 bandwidth */
	ck_assert_int_eq(kde_grid_sums(w, sums, &rel, &abs, xs, 200, 0, 199.0 / 99, 100, 5), KDE_UNSUITABLE);
	/* no bandwidth, no step */
	ck_assert_int_eq(kde_grid_sums(w, sums, &rel, &abs, xs, 200, 0, 1, 100, 0), KDE_UNSUITABLE);
	ck_assert_int_eq(kde_grid_sums(w, sums, &rel, &abs, xs, 200, 0, 0, 100, 5), KDE_UNSUITABLE);
	/* the kernel would span the whole grid: nothing to gain */
	ck_assert_int_eq(kde_grid_sums(w, sums, &rel, &abs, xs, 200, 0, 199.0 / 99, 100, 1000), KDE_UNSUITABLE);
	ck_assert(rel == 7 && abs == 7); /* untouched */
	kde_free(w);
	kde_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kde");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sums_within_bound);
	tcase_add_test(tc, test_transform_reused);
	tcase_add_test(tc, test_declines);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
