/* Tests for util/topk: util_topk and util_topk_double against the naive reference on random,
 * heavily tied and NaN-holding scores (exact orders), util_topk_mask, argument errors, and the
 * one keep-count rule (a table worked out by hand; lround rounds halves away from zero). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pcg32.h"
#include "testutil.h"
#include "topk.h"

/* Scores of kind 0: continuous; 1: 4 distinct values (ties everywhere); 2: continuous with
 * every 5th a NaN; 3: all equal. */
static void fill(float *s, int n, int kind, struct pcg32 *r)
{
	for (int i = 0; i < n; i++) {
		switch (kind) {
		case 0: s[i] = (float)pcg32_normal(r); break;
		case 1: s[i] = (float)pcg32_bounded(r, 4); break;
		case 2: s[i] = i % 5 == 2 ? NAN : (float)pcg32_normal(r); break;
		default: s[i] = 1.5f; break;
		}
	}
}

START_TEST(test_vs_naive)
{
	static const int sizes[] = {1, 2, 7, 64, 333};
	struct pcg32 r;
	pcg32_seed(&r, 11 + (uint64_t)_i, 3);
	for (size_t q = 0; q < sizeof sizes / sizeof sizes[0]; q++) {
		int n = sizes[q];
		float *s = malloc((size_t)n * sizeof *s);
		double *d = malloc((size_t)n * sizeof *d);
		int *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
		int *c = malloc((size_t)n * sizeof *c);
		unsigned char *mask = malloc((size_t)n);
		ck_assert(s && d && a && b && c && mask);
		fill(s, n, _i, &r);
		for (int i = 0; i < n; i++)
			d[i] = s[i];
		const int ks[] = {0, 1, n / 2, n - 1, n};
		for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
			int k = ks[t] < 0 ? 0 : ks[t];
			ck_assert_int_eq(util_topk(a, s, n, k), 0);
			ck_assert_int_eq(util_topk_naive(b, s, n, k), 0);
			ck_assert_int_eq(util_topk_double(c, d, n, k), 0);
			for (int i = 0; i < k; i++) {
				ck_assert_msg(a[i] == b[i], "kind %d n %d k %d: position %d: %d vs naive %d",
					      _i, n, k, i, a[i], b[i]);
				ck_assert_int_eq(a[i], c[i]);
			}
			ck_assert_int_eq(util_topk_mask(mask, s, n, k), 0);
			int kept = 0;
			for (int i = 0; i < n; i++)
				kept += mask[i];
			ck_assert_int_eq(kept, k);
			for (int i = 0; i < k; i++)
				ck_assert_int_eq(mask[a[i]], 1);
		}
		free(mask);
		free(c);
		free(b);
		free(a);
		free(d);
		free(s);
	}
}
END_TEST

/* By hand: 3s at 2, 3, 5 first (lower index first), then 1 at 0, 0.5 at 4, NaN at 1 last. */
START_TEST(test_ties_nan_exact)
{
	const float s[] = {1, NAN, 3, 3, 0.5f, 3};
	int order[6];
	ck_assert_int_eq(util_topk(order, s, 6, 6), 0);
	const int want[] = {2, 3, 5, 0, 4, 1};
	ck_assert_mem_eq(order, want, sizeof want);
	unsigned char keep[6];
	ck_assert_int_eq(util_topk_mask(keep, s, 6, 2), 0);
	const unsigned char kw[] = {0, 0, 1, 1, 0, 0};
	ck_assert_mem_eq(keep, kw, sizeof kw);
	/* -inf is a number: it ranks above NaN */
	const double d[] = {NAN, -INFINITY, 2};
	int o3[3];
	ck_assert_int_eq(util_topk_double(o3, d, 3, 3), 0);
	ck_assert_int_eq(o3[0], 2);
	ck_assert_int_eq(o3[1], 1);
	ck_assert_int_eq(o3[2], 0);
}
END_TEST

START_TEST(test_args)
{
	const float s[] = {1, 2, 3};
	int order[4] = {-7, -7, -7, -7};
	ck_assert_int_eq(util_topk(order, s, 3, 4), -1);
	ck_assert_int_eq(util_topk(order, s, 3, -1), -1);
	ck_assert_int_eq(util_topk(order, s, -1, 0), -1);
	ck_assert_int_eq(util_topk_naive(order, s, 3, 4), -1);
	ck_assert_int_eq(order[0], -7); /* untouched on error */
	unsigned char keep[3] = {9, 9, 9};
	ck_assert_int_eq(util_topk_mask(keep, s, 3, 4), -1);
	ck_assert_int_eq(keep[0], 9);
	ck_assert_int_eq(util_topk(order, s, 0, 0), 0); /* nothing to choose from is fine */
}
END_TEST

static const struct keep_case {
	int n;
	double ratio;
	int k;
} keep_cases[] = {
	{172, 0.3, 120}, /* 51.6 -> 52 removed */
	{64, 0.3, 45},   /* 19.2 -> 19 */
	{24, 0.5, 12},
	{5, 0.5, 2},     /* 2.5 -> 3 */
	{7, 0.5, 3},     /* 3.5 -> 4 */
	{10, 0.25, 7},   /* 2.5 -> 3 */
	{4, 0.125, 3},   /* 0.5 -> 1 */
	{100, 0.1, 90},
	{24, 0.0, 24},
	{6, 0.75, 1},    /* 4.5 -> 5 */
	{1, 0.4, 1},     /* 0.4 -> 0 */
	{10, 0.99, -1},  /* 9.9 -> 10: nothing kept is an error, not a silent 1 */
	{1, 0.5, -1},    /* 0.5 -> 1 */
	{3, 0.9, -1},    /* 2.7 -> 3 */
	{5, 1.0, -1},    /* ratio outside [0, 1) */
	{5, -0.1, -1},
	{5, NAN, -1},
	{-1, 0.5, -1},
	{0, 0.5, 0},     /* nothing to keep from nothing */
};

START_TEST(test_keep_count)
{
	const struct keep_case *t = &keep_cases[_i];
	int k = util_keep_count(t->n, t->ratio);
	ck_assert_msg(k == t->k, "n %d ratio %g: %d, expected %d", t->n, t->ratio, k, t->k);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("topk");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_vs_naive, 0, 4);
	tcase_add_test(tc, test_ties_nan_exact);
	tcase_add_test(tc, test_args);
	tcase_add_loop_test(tc, test_keep_count, 0, (int)(sizeof keep_cases / sizeof keep_cases[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
