/*
 * test-sampling: Plackett–Luce log-probability against brute-force enumeration,
 * its gradient against finite differences, Gumbel-top-k frequencies against the
 * exact Plackett–Luce probabilities, numerical stability at n = 11008, extreme
 * score gaps, the entropy helper, and every error code.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pcg32.h"
#include "sampling.h"
#include "testutil.h"
#include "topk.h"

/* Direct definition in double: for each step, log-sum-exp over the items not
 * yet picked (max shift per step). O(n k). */
static double naive_log_prob(const double *s, const int *order, int n, int k)
{
	char *picked = calloc((size_t)n, 1);
	ck_assert_ptr_nonnull(picked);
	double lp = 0;
	for (int i = 0; i < k; i++) {
		double m = -INFINITY, z = 0;
		for (int j = 0; j < n; j++)
			if (!picked[j] && s[j] > m)
				m = s[j];
		for (int j = 0; j < n; j++)
			if (!picked[j])
				z += exp(s[j] - m);
		lp += s[order[i]] - m - log(z);
		picked[order[i]] = 1;
	}
	free(picked);
	return lp;
}

static void to_double(double *d, const float *f, int n)
{
	for (int i = 0; i < n; i++)
		d[i] = f[i];
}

/* n = 4, k = 2: every ordered pair against p(a) p(b | not a); they sum to 1.
 * Also k = 4 (all 24 permutations) and k = 0. */
START_TEST(test_log_prob_brute)
{
	const float s[4] = {0.3f, -1.2f, 2.0f, 0.7f};
	double z = 0;
	for (int j = 0; j < 4; j++)
		z += exp((double)s[j]);
	double total = 0;
	for (int a = 0; a < 4; a++)
		for (int b = 0; b < 4; b++) {
			if (a == b)
				continue;
			int order[2] = {a, b};
			double lp;
			ck_assert_int_eq(sampling_log_prob(&lp, s, order, 4, 2), SAMPLING_OK);
			double want = exp((double)s[a]) / z * exp((double)s[b]) / (z - exp((double)s[a]));
			ck_assert_double_eq_tol(lp, log(want), 1e-12);
			total += exp(lp);
		}
	ck_assert_double_eq_tol(total, 1.0, 1e-12);

	total = 0;
	int perm[4];
	for (perm[0] = 0; perm[0] < 4; perm[0]++)
		for (perm[1] = 0; perm[1] < 4; perm[1]++)
			for (perm[2] = 0; perm[2] < 4; perm[2]++) {
				if (perm[1] == perm[0] || perm[2] == perm[0] || perm[2] == perm[1])
					continue;
				perm[3] = 6 - perm[0] - perm[1] - perm[2];
				double lp;
				ck_assert_int_eq(sampling_log_prob(&lp, s, perm, 4, 4), SAMPLING_OK);
				ck_assert_double_le(lp, 0.0);
				total += exp(lp);
			}
	ck_assert_double_eq_tol(total, 1.0, 1e-12);

	double lp = 1;
	ck_assert_int_eq(sampling_log_prob(&lp, s, NULL, 4, 0), SAMPLING_OK);
	ck_assert_double_eq(lp, 0.0);
}
END_TEST

/* Analytic gradient vs central differences of the naive double definition, for
 * several (n, k) including k = n and k = 1. */
START_TEST(test_grad_fd)
{
	const int cases[][2] = {{6, 3}, {6, 6}, {6, 1}, {9, 5}, {1, 1}};
	struct pcg32 rng;
	pcg32_seed(&rng, 31u, 4u);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int n = cases[c][0], k = cases[c][1];
		float s[9], g[9];
		double sd[9];
		int order[9];
		for (int j = 0; j < n; j++)
			s[j] = (float)(2 * pcg32_normal(&rng));
		ck_assert_int_eq(sampling_gumbel_topk(order, s, n, k, &rng), SAMPLING_OK);
		ck_assert_int_eq(sampling_log_prob_grad(g, s, order, n, k), SAMPLING_OK);
		to_double(sd, s, n);
		double lp, sum = 0;
		ck_assert_int_eq(sampling_log_prob(&lp, s, order, n, k), SAMPLING_OK);
		ck_assert_double_eq_tol(lp, naive_log_prob(sd, order, n, k), 1e-12);
		for (int j = 0; j < n; j++) {
			const double h = 1e-6;
			double keep = sd[j];
			sd[j] = keep + h;
			double up = naive_log_prob(sd, order, n, k);
			sd[j] = keep - h;
			double dn = naive_log_prob(sd, order, n, k);
			sd[j] = keep;
			ck_assert_double_eq_tol(g[j], (up - dn) / (2 * h), 1e-6);
			sum += g[j];
		}
		ck_assert_double_eq_tol(sum, 0.0, 1e-6);
	}
}
END_TEST

/* 200k Gumbel-top-2 draws from 4 items: ordered-pair frequencies vs exact PL
 * probabilities. 12 cells, 11 degrees of freedom: P(chi2 > 35) ~ 2.5e-4. */
START_TEST(test_gumbel_frequencies)
{
	const float s[4] = {0.5f, -0.5f, 1.5f, 0.0f};
	enum { DRAWS = 200000 };
	int count[4][4] = {{0}};
	struct pcg32 rng;
	pcg32_seed(&rng, 2024u, 7u);
	for (int d = 0; d < DRAWS; d++) {
		int order[2];
		ck_assert_int_eq(sampling_gumbel_topk(order, s, 4, 2, &rng), SAMPLING_OK);
		ck_assert_int_ne(order[0], order[1]);
		count[order[0]][order[1]]++;
	}
	double z = 0, chi2 = 0;
	for (int j = 0; j < 4; j++)
		z += exp((double)s[j]);
	for (int a = 0; a < 4; a++)
		for (int b = 0; b < 4; b++) {
			if (a == b)
				continue;
			double pa = exp((double)s[a]) / z;
			double p = pa * exp((double)s[b]) / (z - exp((double)s[a]));
			double e = p * DRAWS;
			chi2 += (count[a][b] - e) * (count[a][b] - e) / e;
		}
	ck_assert_double_lt(chi2, 35.0);
	/* and the deterministic top-2 would be far off: it always returns (2, 0) */
	int top[2];
	ck_assert_int_eq(util_topk(top, s, 4, 2), 0);
	ck_assert_int_eq(top[0], 2);
	ck_assert_int_eq(top[1], 0);
}
END_TEST

START_TEST(test_determinism)
{
	enum { N = 100, K = 50 };
	float s[N];
	int a[N], b[N], c[N];
	struct pcg32 r1, r2, r3;
	for (int j = 0; j < N; j++)
		s[j] = (float)sin(j * 0.7);
	pcg32_seed(&r1, 5u, 9u);
	pcg32_seed(&r2, 5u, 9u);
	pcg32_seed(&r3, 6u, 9u);
	ck_assert_int_eq(sampling_gumbel_topk(a, s, N, K, &r1), SAMPLING_OK);
	ck_assert_int_eq(sampling_gumbel_topk(b, s, N, K, &r2), SAMPLING_OK);
	ck_assert_int_eq(sampling_gumbel_topk(c, s, N, K, &r3), SAMPLING_OK);
	ck_assert_mem_eq(a, b, sizeof(int) * K);
	ck_assert(memcmp(a, c, sizeof(int) * K) != 0);
	/* both generators advanced by exactly N Gumbel draws */
	ck_assert_uint_eq(r1.state, r2.state);

	/* k = n gives a permutation */
	ck_assert_int_eq(sampling_gumbel_topk(a, s, N, N, &r1), SAMPLING_OK);
	char seen[N] = {0};
	for (int i = 0; i < N; i++) {
		ck_assert(a[i] >= 0 && a[i] < N);
		ck_assert(!seen[a[i]]);
		seen[a[i]] = 1;
	}
}
END_TEST

START_TEST(test_topk_ties)
{
	const float s[5] = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f};
	int order[5];
	ck_assert_int_eq(util_topk(order, s, 5, 4), 0);
	const int want[4] = {1, 2, 4, 3};
	ck_assert_mem_eq(order, want, sizeof(want));
	ck_assert_int_eq(util_topk(order, s, 5, 5), 0);
	ck_assert_int_eq(order[4], 0);
}
END_TEST

/* Llama-7B FFN width: 11008 rows, keep 7706. */
START_TEST(test_large_stable)
{
	enum { N = 11008, K = 7706 };
	float *s = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float));
	double *sd = malloc(N * sizeof(double));
	int *order = malloc(K * sizeof(int));
	ck_assert(s && g && sd && order);
	struct pcg32 rng;
	pcg32_seed(&rng, 11008u, 7706u);
	for (int j = 0; j < N; j++)
		s[j] = (float)(3 * pcg32_normal(&rng));
	ck_assert_int_eq(sampling_gumbel_topk(order, s, N, K, &rng), SAMPLING_OK);
	double lp;
	ck_assert_int_eq(sampling_log_prob(&lp, s, order, N, K), SAMPLING_OK);
	ck_assert(isfinite(lp));
	ck_assert_double_le(lp, 0.0);
	to_double(sd, s, N);
	double want = naive_log_prob(sd, order, N, K);
	ck_assert_double_eq_tol(lp, want, 1e-9 * fabs(want));

	ck_assert_int_eq(sampling_log_prob_grad(g, s, order, N, K), SAMPLING_OK);
	double sum = 0;
	for (int j = 0; j < N; j++) {
		ck_assert(isfinite(g[j]));
		ck_assert_float_le(g[j], 1.0f);
		sum += g[j];
	}
	ck_assert_double_eq_tol(sum, 0.0, 1e-3);
	free(s);
	free(g);
	free(sd);
	free(order);
}
END_TEST

/* Score gaps of 1000 underflow exp() relative to the maximum; a single global
 * shift would give log(0) at the later steps. */
START_TEST(test_extreme_gaps)
{
	const float s[3] = {0.0f, -1000.0f, -2000.0f};
	const int fwd[3] = {0, 1, 2}, rev[3] = {2, 1, 0};
	double lp;
	float g[3];
	ck_assert_int_eq(sampling_log_prob(&lp, s, fwd, 3, 3), SAMPLING_OK);
	ck_assert_double_eq_tol(lp, 0.0, 1e-300);
	ck_assert_int_eq(sampling_log_prob_grad(g, s, fwd, 3, 3), SAMPLING_OK);
	for (int j = 0; j < 3; j++)
		ck_assert_float_eq_tol(g[j], 0.0f, 1e-30f);
	/* reverse: (-2000 - 0) + (-1000 - 0) + 0 */
	ck_assert_int_eq(sampling_log_prob(&lp, s, rev, 3, 3), SAMPLING_OK);
	ck_assert_double_eq_tol(lp, -3000.0, 1e-9);
	ck_assert_int_eq(sampling_log_prob_grad(g, s, rev, 3, 3), SAMPLING_OK);
	/* item 0 is in R_0, R_1, R_2 with probability ~1 each: 1 - 3 */
	ck_assert_float_eq_tol(g[0], -2.0f, 1e-6f);
	ck_assert_float_eq_tol(g[1], 1.0f, 1e-6f);
	ck_assert_float_eq_tol(g[2], 1.0f, 1e-6f);
	/* never-picked items far below the picked one */
	const int one[1] = {0};
	ck_assert_int_eq(sampling_log_prob(&lp, s, one, 3, 1), SAMPLING_OK);
	ck_assert_double_eq_tol(lp, 0.0, 1e-300);
	const int last[1] = {2};
	ck_assert_int_eq(sampling_log_prob(&lp, s, last, 3, 1), SAMPLING_OK);
	ck_assert_double_eq_tol(lp, -2000.0, 1e-9);
}
END_TEST

static double naive_entropy(const double *s, int n)
{
	double m = s[0], z = 0, h = 0;
	for (int j = 1; j < n; j++)
		m = fmax(m, s[j]);
	for (int j = 0; j < n; j++)
		z += exp(s[j] - m);
	for (int j = 0; j < n; j++) {
		double p = exp(s[j] - m) / z;
		h -= p * log(p);
	}
	return h;
}

START_TEST(test_entropy)
{
	const float flat[5] = {2, 2, 2, 2, 2};
	double h;
	float g[5];
	ck_assert_int_eq(sampling_entropy(&h, g, flat, 5), SAMPLING_OK);
	ck_assert_double_eq_tol(h, log(5.0), 1e-12);
	for (int j = 0; j < 5; j++)
		ck_assert_float_eq_tol(g[j], 0.0f, 1e-7f);
	const float peaked[3] = {0, -800, -900};
	ck_assert_int_eq(sampling_entropy(&h, NULL, peaked, 3), SAMPLING_OK);
	ck_assert_double_eq_tol(h, 0.0, 1e-300);

	const float s[5] = {0.2f, -1.0f, 1.3f, 0.4f, -0.1f};
	double sd[5];
	to_double(sd, s, 5);
	ck_assert_int_eq(sampling_entropy(&h, g, s, 5), SAMPLING_OK);
	ck_assert_double_eq_tol(h, naive_entropy(sd, 5), 1e-12);
	for (int j = 0; j < 5; j++) {
		const double e = 1e-6;
		double keep = sd[j];
		sd[j] = keep + e;
		double up = naive_entropy(sd, 5);
		sd[j] = keep - e;
		double dn = naive_entropy(sd, 5);
		sd[j] = keep;
		ck_assert_double_eq_tol(g[j], (up - dn) / (2 * e), 1e-6);
	}
}
END_TEST

START_TEST(test_errors)
{
	const float s[4] = {0, 1, 2, 3};
	const float bad_nan[3] = {0, NAN, 1};
	const float bad_inf[3] = {0, 1, -INFINITY};
	int order[4] = {0, 1, 2, 3};
	float g[4] = {7, 7, 7, 7};
	double lp = 42;
	struct pcg32 rng, before;
	pcg32_seed(&rng, 1u, 1u);
	before = rng;

	/* SAMPLING_ERR_ARG */
	ck_assert_int_eq(sampling_gumbel_topk(order, s, 0, 0, &rng), SAMPLING_ERR_ARG);
	ck_assert_int_eq(sampling_gumbel_topk(order, s, 4, 5, &rng), SAMPLING_ERR_ARG);
	ck_assert_int_eq(sampling_gumbel_topk(order, s, 4, -1, &rng), SAMPLING_ERR_ARG);
	ck_assert_int_eq(sampling_gumbel_topk(order, s, 4, 2, NULL), SAMPLING_ERR_ARG);
	ck_assert_int_eq(sampling_log_prob(NULL, s, order, 4, 2), SAMPLING_ERR_ARG);
	ck_assert_int_eq(sampling_log_prob_grad(NULL, s, order, 4, 2), SAMPLING_ERR_ARG);
	ck_assert_int_eq(sampling_entropy(&lp, NULL, s, 0), SAMPLING_ERR_ARG);
	/* SAMPLING_ERR_NONFINITE */
	ck_assert_int_eq(sampling_gumbel_topk(order, bad_nan, 3, 2, &rng), SAMPLING_ERR_NONFINITE);
	ck_assert_int_eq(sampling_gumbel_topk(order, bad_inf, 3, 2, &rng), SAMPLING_ERR_NONFINITE);
	ck_assert_int_eq(sampling_log_prob(&lp, bad_nan, order, 3, 2), SAMPLING_ERR_NONFINITE);
	ck_assert_int_eq(sampling_log_prob_grad(g, bad_inf, order, 3, 2), SAMPLING_ERR_NONFINITE);
	ck_assert_int_eq(sampling_entropy(&lp, NULL, bad_nan, 3), SAMPLING_ERR_NONFINITE);
	/* failed draws leave the generator untouched */
	ck_assert_uint_eq(rng.state, before.state);
	/* SAMPLING_ERR_ORDER: out of range, negative, repeated */
	const int out_of_range[2] = {1, 4}, negative[2] = {-1, 0}, repeated[3] = {2, 0, 2};
	ck_assert_int_eq(sampling_log_prob(&lp, s, out_of_range, 4, 2), SAMPLING_ERR_ORDER);
	ck_assert_int_eq(sampling_log_prob(&lp, s, negative, 4, 2), SAMPLING_ERR_ORDER);
	ck_assert_int_eq(sampling_log_prob(&lp, s, repeated, 4, 3), SAMPLING_ERR_ORDER);
	ck_assert_int_eq(sampling_log_prob_grad(g, s, repeated, 4, 3), SAMPLING_ERR_ORDER);
	ck_assert_int_eq(sampling_log_prob_grad(g, s, out_of_range, 4, 2), SAMPLING_ERR_ORDER);
	/* outputs untouched on failure */
	ck_assert_double_eq(lp, 42.0);
	for (int j = 0; j < 4; j++)
		ck_assert_float_eq(g[j], 7.0f);

	const int codes[] = {SAMPLING_OK, SAMPLING_ERR_ARG, SAMPLING_ERR_NONFINITE,
			     SAMPLING_ERR_ORDER, SAMPLING_ERR_NOMEM};
	const int nc = (int)(sizeof(codes) / sizeof(codes[0]));
	for (int i = 0; i < nc; i++)
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(sampling_strerror(codes[i]), sampling_strerror(codes[j]));
	ck_assert_str_eq(sampling_strerror(999), "unknown sampling error");
}
END_TEST

static Suite *sampling_suite(void)
{
	Suite *s = suite_create("sampling");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_log_prob_brute);
	tcase_add_test(tc, test_grad_fd);
	tcase_add_test(tc, test_gumbel_frequencies);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_topk_ties);
	tcase_add_test(tc, test_large_stable);
	tcase_add_test(tc, test_extreme_gaps);
	tcase_add_test(tc, test_entropy);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(sampling_suite(), false);
}
