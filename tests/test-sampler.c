/* Tests for model/sampler: greedy picks (ties, mask, non-finite logits), top-k = 1 equals greedy,
 * softmax frequencies at temperature 1 and 0.5 (chi-square), the exact support of top-k and
 * top-p, same seed same tokens, and every argument error. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pcg32.h"
#include "sampler.h"
#include "testutil.h"

static struct sampler *make(double t, long k, double p, uint64_t seed, int vocab)
{
	struct sampler *s = NULL;
	struct sample_opts o = {t, k, p, seed};
	ck_assert_int_eq(sampler_new(&s, &o, vocab), SAMPLER_OK);
	return s;
}

START_TEST(test_greedy)
{
	const float l[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, NAN};
	const unsigned char mask[6] = {1, 0, 1, 1, 1, 1};
	struct sampler *s = NULL;
	ck_assert_int_eq(sampler_new(&s, NULL, 6), SAMPLER_OK);
	ck_assert_int_eq(sampler_pick(s, l, NULL), 1); /* tie 1 vs 3: lower id */
	ck_assert_int_eq(sampler_pick(s, l, mask), 3);
	const unsigned char none[6] = {0};
	ck_assert_int_eq(sampler_pick(s, l, none), -1);
	sampler_free(s);
	/* top-k 1 at any temperature is greedy, draw after draw */
	struct pcg32 rng;
	pcg32_seed(&rng, 3, 1);
	s = make(1.5, 1, 1, 9, 50);
	for (int d = 0; d < 200; d++) {
		float r[50];
		int best = 0;
		for (int i = 0; i < 50; i++) {
			r[i] = (float)pcg32_normal(&rng);
			if (r[i] > r[best])
				best = i;
		}
		ck_assert_int_eq(sampler_pick(s, r, NULL), best);
	}
	sampler_free(s);
}
END_TEST

/* 4 ids with probabilities 0.5, 0.25, 0.15, 0.10 (softmax of their logs). */
static const double probs[4] = {0.5, 0.25, 0.15, 0.10};

static void counts(int *c, struct sampler *s, int draws)
{
	float l[4];
	for (int i = 0; i < 4; i++)
		l[i] = (float)log(probs[i]);
	memset(c, 0, 4 * sizeof *c);
	for (int d = 0; d < draws; d++) {
		int id = sampler_pick(s, l, NULL);
		ck_assert(id >= 0 && id < 4);
		c[id]++;
	}
}

/* chi-square of counts against expected probabilities q (3 degrees of freedom:
 * P(chi2 > 20) ~ 1.7e-4). */
static double chi2(const int *c, const double *q, int draws)
{
	double x = 0;
	for (int i = 0; i < 4; i++) {
		double e = q[i] * draws;
		x += (c[i] - e) * (c[i] - e) / e;
	}
	return x;
}

START_TEST(test_frequencies)
{
	enum { DRAWS = 100000 };
	int c[4];
	struct sampler *s = make(1, 0, 1, 42, 4);
	counts(c, s, DRAWS);
	ck_assert_msg(chi2(c, probs, DRAWS) < 20, "%d %d %d %d", c[0], c[1], c[2], c[3]);
	sampler_free(s);
	/* temperature 0.5 squares the probabilities */
	double sq[4], z = 0;
	for (int i = 0; i < 4; i++)
		z += sq[i] = probs[i] * probs[i];
	for (int i = 0; i < 4; i++)
		sq[i] /= z;
	s = make(0.5, 0, 1, 43, 4);
	counts(c, s, DRAWS);
	ck_assert_msg(chi2(c, sq, DRAWS) < 20, "%d %d %d %d", c[0], c[1], c[2], c[3]);
	/* and is far from the temperature-1 distribution */
	ck_assert_double_gt(chi2(c, probs, DRAWS), 1000);
	sampler_free(s);
}
END_TEST

/* top-k and top-p: exact support, renormalised frequencies inside it. */
START_TEST(test_support)
{
	enum { DRAWS = 40000 };
	static const struct {
		long k;
		double p;
		int support;
	} rows[] = {
		{2, 1, 2},     /* top-2 */
		{3, 1, 3},
		{0, 0.45, 1},  /* the first id alone reaches 0.45 */
		{0, 0.7, 2},   /* 0.5 < 0.7 <= 0.75 */
		{0, 0.76, 3},  /* 0.75 < 0.76 <= 0.90 */
		{0, 0.95, 4},
		{2, 0.95, 2},  /* top-k first, then top-p within it */
		{3, 0.6, 2},   /* 0.6 of 0.9: 0.5 < 0.54 <= 0.75 */
	};
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		struct sampler *s = make(1, rows[r].k, rows[r].p, 7 + r, 4);
		int c[4];
		counts(c, s, DRAWS);
		double z = 0, q[4] = {0};
		for (int i = 0; i < rows[r].support; i++)
			z += probs[i];
		for (int i = 0; i < 4; i++) {
			if (i < rows[r].support) {
				ck_assert_msg(c[i] > 0, "row %zu: id %d never drawn", r, i);
				q[i] = probs[i] / z;
				ck_assert_double_eq_tol((double)c[i] / DRAWS, q[i], 0.015);
			} else {
				ck_assert_msg(c[i] == 0, "row %zu: id %d outside the support drawn %d times",
					      r, i, c[i]);
			}
		}
		sampler_free(s);
	}
}
END_TEST

START_TEST(test_seed)
{
	enum { V = 300, STEPS = 64 };
	float l[V];
	for (int i = 0; i < V; i++)
		l[i] = (float)sin(i * 0.37) * 3;
	int a[STEPS], b[STEPS], c[STEPS];
	struct sampler *s1 = make(1, 40, 0.9, 5, V), *s2 = make(1, 40, 0.9, 5, V),
		       *s3 = make(1, 40, 0.9, 6, V);
	for (int i = 0; i < STEPS; i++) {
		a[i] = sampler_pick(s1, l, NULL);
		b[i] = sampler_pick(s2, l, NULL);
		c[i] = sampler_pick(s3, l, NULL);
	}
	ck_assert_mem_eq(a, b, sizeof a);
	ck_assert(memcmp(a, c, sizeof a) != 0);
	sampler_free(s1);
	sampler_free(s2);
	sampler_free(s3);
}
END_TEST

START_TEST(test_errors)
{
	static const struct sample_opts bad[] = {
		{-0.1, 0, 1, 0}, {INFINITY, 0, 1, 0}, {NAN, 0, 1, 0}, {1, -1, 1, 0},
		{1, 0, 0, 0}, {1, 0, 1.01, 0}, {1, 0, -0.5, 0}, {1, 0, NAN, 0},
	};
	struct sampler *s = (struct sampler *)1;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(sampler_new(&s, &bad[i], 10), SAMPLER_ERR_ARG);
		ck_assert_ptr_eq(s, (struct sampler *)1);
	}
	ck_assert_int_eq(sampler_new(&s, NULL, 0), SAMPLER_ERR_ARG);
	ck_assert_int_eq(sampler_new(NULL, NULL, 10), SAMPLER_ERR_ARG);
	sampler_free(NULL);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("sampler");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_greedy);
	tcase_add_test(tc, test_frequencies);
	tcase_add_test(tc, test_support);
	tcase_add_test(tc, test_seed);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(su, tc);
	return testutil_run(su, false);
}
