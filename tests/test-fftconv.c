/* Tests for prune/fftconv: sums of circular convolutions against the O(n^2) definition, the fast
 * sizes, and the argument errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "fftconv.h"
#include "pcg32.h"
#include "testutil.h"

/* out (n) = sum_q sum_m a_q[m] b_q[(j - m) mod n], literally */
static void conv_naive(double *out, const double *a, const double *b, int terms, int n)
{
	for (int j = 0; j < n; j++) {
		double s = 0;
		for (int q = 0; q < terms; q++)
			for (int m = 0; m < n; m++)
				s += a[q * n + m] * b[q * n + ((j - m) % n + n) % n];
		out[j] = s;
	}
}

START_TEST(test_conv_matches_definition)
{
	static const int cases[][2] = {{2, 1}, {3, 2}, {30, 3}, {64, 1}, {75, 4}, {257, 2}};
	struct pcg32 g;
	pcg32_seed(&g, 7, 3);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int n = cases[c][0], terms = cases[c][1];
		double *a = malloc((size_t)terms * n * sizeof *a), *b = malloc((size_t)terms * n * sizeof *b);
		double *got = malloc((size_t)n * sizeof *got), *want = malloc((size_t)n * sizeof *want);
		ck_assert(a && b && got && want);
		for (int i = 0; i < terms * n; i++) {
			a[i] = pcg32_normal(&g);
			b[i] = pcg32_normal(&g);
		}
		struct fftconv *f = NULL;
		ck_assert_int_eq(fftconv_new(&f, n), 0);
		ck_assert_int_eq(fftconv_size(f), n);
		for (int rep = 0; rep < 2; rep++) { /* reused buffers give the same answer */
			fftconv_sum(f, got, a, b, terms);
			conv_naive(want, a, b, terms, n);
			for (int j = 0; j < n; j++)
				ck_assert_double_eq_tol(got[j], want[j], 1e-12 * (1 + fabs(want[j])) * n);
		}
		/* a delta at m = 1 shifts b by one: out[j] = b[j - 1] */
		for (int i = 0; i < n; i++)
			a[i] = i == 1;
		fftconv_sum(f, got, a, b, 1);
		for (int j = 0; j < n; j++)
			ck_assert_double_eq_tol(got[j], b[(j - 1 + n) % n], 1e-13 * n);
		fftconv_free(f);
		free(a);
		free(b);
		free(got);
		free(want);
	}
}
END_TEST

START_TEST(test_good_size_and_errors)
{
	static const int table[][2] = {{1, 1},     {7, 8},       {11, 12},     {13, 15},
				       {97, 100},  {1000, 1000}, {1021, 1024}, {3582, 3600},
				       {9115, 9216}};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		ck_assert_int_eq(fftconv_good_size(table[i][0]), table[i][1]);
	ck_assert_int_eq(fftconv_good_size(0), -1);
	ck_assert_int_eq(fftconv_good_size(-5), -1);
	struct fftconv *f = (struct fftconv *)&f; /* untouched on failure */
	ck_assert_int_eq(fftconv_new(&f, 1), -1);
	ck_assert_ptr_eq(f, (struct fftconv *)&f);
	fftconv_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fftconv");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_conv_matches_definition);
	tcase_add_test(tc, test_good_size_and_errors);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
