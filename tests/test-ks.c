/* Tests for env/ks: the two-sample KS statistic against scipy's values,
 * against the naive reference, and its properties (symmetry, bounds, ties). */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks.h"
#include "testutil.h"

#define N(x) ((int)(sizeof(x) / sizeof((x)[0])))

/* Seeded 64-bit LCG (Knuth's MMIX constants), passed explicitly. */
struct lcg {
	uint64_t state;
};

static double lcg_uniform(struct lcg *g)
{
	g->state = g->state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(g->state >> 11) * (1.0 / 9007199254740992.0);
}

struct ks_case {
	const char *name;
	const double *a;
	int na;
	const double *b;
	int nb;
	double expected;
};

/* Samples and expected statistics generated at development time with
 * /usr/bin/python3, scipy 1.10.1: scipy.stats.ks_2samp(a, b).statistic
 * (script: the arrays below, printed with repr()). */
static const double identical_a[] = {1.0, 2.0, 3.0, 4.0, 5.0};
static const double identical_b[] = {5.0, 4.0, 3.0, 2.0, 1.0};
static const double disjoint_a[] = {1.0, 2.0, 3.0};
static const double disjoint_b[] = {4.0, 5.0, 6.0, 7.0};
static const double ties_within_a[] = {1.0, 1.0, 2.0, 2.0, 3.0};
static const double ties_within_b[] = {2.0, 2.0, 2.0, 3.0, 3.0, 4.0};
static const double sizes_a[] = {0.1, 0.5, 0.9, 1.3};
static const double sizes_b[] = {0.2, 0.3, 0.35, 0.8, 1.0, 1.1, 2.0};
static const double dup_across_a[] = {1.0, 2.0, 2.0, 3.0, 5.0};
static const double dup_across_b[] = {2.0, 2.0, 3.0, 3.0, 3.0, 5.0, 5.0};
static const double single_same_a[] = {1.0};
static const double single_same_b[] = {1.0};
static const double single_apart_a[] = {1.0};
static const double single_apart_b[] = {2.0};
static const double single_vs_two_a[] = {1.0};
static const double single_vs_two_b[] = {1.0, 2.0};
static const double negative_a[] = {-3.0, -1.0, 0.0, 2.0, 7.0, 7.0, 8.0};
static const double negative_b[] = {-2.0, -1.0, -1.0, 0.0, 0.0, 4.0, 9.0, 10.0};
static const double constant_a[] = {2.0, 2.0, 2.0, 2.0};
static const double constant_b[] = {1.0, 2.0, 3.0};
static const double unsorted_a[] = {3.5, -1.0, 2.0, 0.25, 9.0, 2.0};
static const double unsorted_b[] = {0.25, 7.0, -4.0, 2.0, 2.0, 2.0, 1.0};
static const double rounded_trig_a[] = {0.0, 1.0, -0.3, -0.9, 0.5, 0.8, -0.7, -0.6, 0.9, 0.4, -1.0, -0.1, 1.0, -0.1, -1.0, 0.4, 0.9, -0.6, -0.7, 0.8, 0.5, -0.9, -0.3, 1.0, 0.0, -1.0, 0.2, 0.9, -0.5, -0.8};
static const double rounded_trig_b[] = {0.8, 0.5, -0.2, -0.7, -0.7, -0.2, 0.5, 0.8, 0.5, -0.2, -0.7, -0.7, -0.2, 0.5, 0.8, 0.5, -0.2, -0.7, -0.7, -0.1, 0.5, 0.8, 0.5};
static const double normal_shift_a[] = {0.001, 0.299, -0.274, -0.891, -0.455, -0.992, 0.06, 1.34, -0.492, -0.62, 0.49, 0.357, 0.105, -0.93, -0.029, 0.695, -1.344};
static const double normal_shift_b[] = {-0.195, -2.072, -1.276, -1.994, 0.094, -1.248, 0.753, 0.604, 0.157, -2.872, -0.3, 0.337, 0.547, -1.589, -0.221, -0.872, -0.651, 1.779, -0.65, 0.358, 1.55, -0.359, 0.255, 0.544, 0.483, -1.193, 0.499, 2.166, -1.611, 1.517, 0.555, -0.434, 3.001, 1.391, -1.159, 0.497, 1.15, 0.155, 1.288, 0.314, 1.267};

static const struct ks_case ks_cases[] = {
	{"identical", identical_a, N(identical_a), identical_b, N(identical_b), 0.0},
	{"disjoint", disjoint_a, N(disjoint_a), disjoint_b, N(disjoint_b), 1.0},
	{"ties_within", ties_within_a, N(ties_within_a), ties_within_b, N(ties_within_b), 0.4},
	{"sizes", sizes_a, N(sizes_a), sizes_b, N(sizes_b), 0.25},
	{"dup_across", dup_across_a, N(dup_across_a), dup_across_b, N(dup_across_b), 0.3142857142857143},
	{"single_same", single_same_a, N(single_same_a), single_same_b, N(single_same_b), 0.0},
	{"single_apart", single_apart_a, N(single_apart_a), single_apart_b, N(single_apart_b), 1.0},
	{"single_vs_two", single_vs_two_a, N(single_vs_two_a), single_vs_two_b, N(single_vs_two_b), 0.5},
	{"negative", negative_a, N(negative_a), negative_b, N(negative_b), 0.25},
	{"constant", constant_a, N(constant_a), constant_b, N(constant_b), 0.3333333333333333},
	{"unsorted", unsorted_a, N(unsorted_a), unsorted_b, N(unsorted_b), 0.19047619047619047},
	{"rounded_trig", rounded_trig_a, N(rounded_trig_a), rounded_trig_b, N(rounded_trig_b), 0.2},
	{"normal_shift", normal_shift_a, N(normal_shift_a), normal_shift_b, N(normal_shift_b), 0.27259684361549497},
};

static int cmp_asc(const void *pa, const void *pb)
{
	double x = *(const double *)pa, y = *(const double *)pb;
	return (x > y) - (x < y);
}

static double *sorted_copy(const double *x, int n)
{
	double *c = malloc((size_t)n * sizeof(double));
	ck_assert_ptr_nonnull(c);
	memcpy(c, x, (size_t)n * sizeof(double));
	qsort(c, (size_t)n, sizeof(double), cmp_asc);
	return c;
}

START_TEST(test_scipy_table)
{
	const struct ks_case *c = &ks_cases[_i];
	double *sa = sorted_copy(c->a, c->na), *sb = sorted_copy(c->b, c->nb);
	double fast = ks_2samp(c->a, c->na, c->b, c->nb);
	double swapped = ks_2samp(c->b, c->nb, c->a, c->na);
	double sorted = ks_2samp_sorted(sa, c->na, sb, c->nb);
	double naive = ks_2samp_naive(c->a, c->na, c->b, c->nb);
	ck_assert_msg(fabs(fast - c->expected) <= 1e-15, "%s: ks_2samp %.17g, scipy %.17g",
		      c->name, fast, c->expected);
	ck_assert_double_eq_tol(swapped, c->expected, 1e-15);
	ck_assert_double_eq_tol(sorted, c->expected, 1e-15);
	ck_assert_double_eq_tol(naive, c->expected, 1e-15);
	free(sb);
	free(sa);
}
END_TEST

START_TEST(test_input_not_modified)
{
	double a[] = {3, 1, 2}, b[] = {0.5, 2, 2, 9};
	double a0[3], b0[4];
	memcpy(a0, a, sizeof(a));
	memcpy(b0, b, sizeof(b));
	ck_assert_double_eq(ks_2samp(a, 3, b, 4), ks_2samp_naive(a, 3, b, 4));
	ck_assert_mem_eq(a, a0, sizeof(a));
	ck_assert_mem_eq(b, b0, sizeof(b));
}
END_TEST

/* Random samples with many ties (values on a coarse grid), random sizes:
 * fast == sorted == naive exactly, symmetric, in [0, 1], identical -> 0,
 * a shift past the other sample's range -> 1, translation invariance. */
START_TEST(test_random_properties)
{
	struct lcg g = {12345};
	for (int trial = 0; trial < 300; trial++) {
		int na = 1 + (int)(lcg_uniform(&g) * 60), nb = 1 + (int)(lcg_uniform(&g) * 60);
		double a[64], b[64], a2[64], b2[64];
		double grid = trial % 3 == 0 ? 4 : 1000; /* few distinct values: heavy ties */
		for (int i = 0; i < na; i++)
			a[i] = floor(lcg_uniform(&g) * grid);
		for (int j = 0; j < nb; j++)
			b[j] = floor(lcg_uniform(&g) * grid * 1.2) - grid * 0.1;
		double d = ks_2samp(a, na, b, nb);
		ck_assert(d >= 0 && d <= 1);
		ck_assert_double_eq(d, ks_2samp(b, nb, a, na));
		ck_assert_double_eq(d, ks_2samp_naive(a, na, b, nb));
		double *sa = sorted_copy(a, na), *sb = sorted_copy(b, nb);
		ck_assert_double_eq(d, ks_2samp_sorted(sa, na, sb, nb));
		free(sb);
		free(sa);
		ck_assert_double_eq(ks_2samp(a, na, a, na), 0);
		for (int i = 0; i < na; i++)
			a2[i] = a[i] + 7; /* integers: the shift is exact */
		for (int j = 0; j < nb; j++)
			b2[j] = b[j] + 7;
		ck_assert_double_eq(ks_2samp(a2, na, b2, nb), d);
		for (int j = 0; j < nb; j++)
			b2[j] = b[j] + 3 * grid;
		ck_assert_double_eq(ks_2samp(a, na, b2, nb), 1);
	}
}
END_TEST

/* D = |i/na - j/nb| takes only multiples of 1/lcm; check it hits one. */
START_TEST(test_value_on_lattice)
{
	struct lcg g = {99};
	for (int trial = 0; trial < 100; trial++) {
		double a[6], b[10];
		for (int i = 0; i < 6; i++)
			a[i] = lcg_uniform(&g);
		for (int j = 0; j < 10; j++)
			b[j] = lcg_uniform(&g) + 0.2;
		double d = ks_2samp(a, 6, b, 10) * 30;
		ck_assert_double_eq_tol(d, round(d), 1e-12);
	}
}
END_TEST

START_TEST(test_invalid_input)
{
	double a[] = {1, 2, 3}, b[] = {2, NAN};
	ck_assert(isnan(ks_2samp(a, 3, b, 2)));
	ck_assert(isnan(ks_2samp(b, 2, a, 3)));
	ck_assert(isnan(ks_2samp_sorted(a, 3, b, 2)));
	ck_assert(isnan(ks_2samp_naive(a, 3, b, 2)));
	ck_assert(isnan(ks_2samp(a, 0, a, 3)));
	ck_assert(isnan(ks_2samp(a, 3, a, -1)));
	ck_assert(isnan(ks_2samp(NULL, 3, a, 3)));
	ck_assert(isnan(ks_2samp_sorted(a, 3, NULL, 3)));
	ck_assert(isnan(ks_2samp_naive(a, 0, a, 3)));
}
END_TEST

#ifndef NDEBUG
/* Unsorted input to the sorted variant is a programmer bug: assert. */
START_TEST(test_sorted_rejects_unsorted)
{
	double a[] = {3, 1, 2}, b[] = {1, 2};
	(void)ks_2samp_sorted(a, 3, b, 2);
}
END_TEST
#endif

static Suite *ks_suite(void)
{
	Suite *s = suite_create("ks");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_scipy_table, 0, N(ks_cases));
	tcase_add_test(tc, test_input_not_modified);
	tcase_add_test(tc, test_random_properties);
	tcase_add_test(tc, test_value_on_lattice);
	tcase_add_test(tc, test_invalid_input);
#ifndef NDEBUG
	tcase_add_test_raise_signal(tc, test_sorted_rejects_unsorted, SIGABRT);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(ks_suite(), false);
}
