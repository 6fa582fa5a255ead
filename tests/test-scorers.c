/* Tests for prune/scorers: every criterion on small matrices whose answers are derived by hand in
 * the comments, KEN's bandwidth, density order and duplicate handling, the fast KEN path against
 * the literal reference, and the error codes. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scorers.h"
#include "testutil.h"
#include "topk.h"

static void assert_mask(const unsigned char *got, const unsigned char *want, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "entry %d: got %d, want %d", i, got[i], want[i]);
}

/* up rows: r0 = [3, 0, 0] (L1 3, L2 3), r1 = [1, 1, 1.5] (L1 3.5, L2 sqrt(4.25) = 2.0616):
 * L1 prefers r1, L2 prefers r0. With gate rows [0, 0, 1] and [0, 0, 0.25] the sums become
 * L1: 4 vs 3.75, L2: 4 vs 2.3116. */
START_TEST(test_magnitude_rows)
{
	const float up[] = {3, 0, 0, 1, 1, 1.5f};
	const float gate[] = {0, 0, 1, 0, 0, 0.25f};
	float s[2];
	unsigned char keep[2];
	scorers_magnitude_rows(s, up, NULL, 2, 3, 1);
	ck_assert_float_eq_tol(s[0], 3.0f, 1e-6f);
	ck_assert_float_eq_tol(s[1], 3.5f, 1e-6f);
	ck_assert_int_eq(util_topk_mask(keep, s, 2, 1), 0);
	ck_assert(!keep[0] && keep[1]);
	scorers_magnitude_rows(s, up, NULL, 2, 3, 2);
	ck_assert_float_eq_tol(s[0], 3.0f, 1e-6f);
	ck_assert_float_eq_tol(s[1], sqrtf(4.25f), 1e-6f);
	ck_assert_int_eq(util_topk_mask(keep, s, 2, 1), 0);
	ck_assert(keep[0] && !keep[1]);
	scorers_magnitude_rows(s, up, gate, 2, 3, 1);
	ck_assert_float_eq_tol(s[0], 4.0f, 1e-6f);
	ck_assert_float_eq_tol(s[1], 3.75f, 1e-6f);
	scorers_magnitude_rows(s, up, gate, 2, 3, 2);
	ck_assert_float_eq_tol(s[0], 4.0f, 1e-6f);
	ck_assert_float_eq_tol(s[1], sqrtf(4.25f) + 0.25f, 1e-6f);
}
END_TEST

/* up = [[1, -2, 0], [0.5, 0.5, -4]], gate = [[0, 1, 1], [2, 0, 0]], ||X|| = [2, 1, 0.5]:
 * r0 = (1*2 + 2*1 + 0) + (0 + 1*1 + 1*0.5) = 5.5; r1 = (1 + 0.5 + 2) + (2*2) = 7.5. */
START_TEST(test_wanda_rows)
{
	const float up[] = {1, -2, 0, 0.5f, 0.5f, -4};
	const float gate[] = {0, 1, 1, 2, 0, 0};
	const float xn[] = {2, 1, 0.5f};
	float s[2];
	scorers_wanda_rows(s, up, gate, xn, 2, 3);
	ck_assert_float_eq_tol(s[0], 5.5f, 1e-6f);
	ck_assert_float_eq_tol(s[1], 7.5f, 1e-6f);
	scorers_wanda_rows(s, up, NULL, xn, 2, 3);
	ck_assert_float_eq_tol(s[0], 4.0f, 1e-6f);
	ck_assert_float_eq_tol(s[1], 3.5f, 1e-6f);
}
END_TEST

/* w = [[1, -3, 0.5, 2], [-1, 1, 1, -1]], ||X|| = [4, 1, 2, 0.5], ratio 0.5 -> 2 kept per row.
 * Wanda: r0 scores 4, 3, 1, 1 -> cols 0, 1; r1 scores 4, 1, 2, 0.5 -> cols 0, 2.
 * Magnitude: r0 |w| 1, 3, 0.5, 2 -> cols 1, 3; r1 all 1 -> ties -> cols 0, 1. */
START_TEST(test_weight_masks)
{
	const float w[] = {1, -3, 0.5f, 2, -1, 1, 1, -1};
	const float xn[] = {4, 1, 2, 0.5f};
	unsigned char mask[8];
	ck_assert_int_eq(scorers_wanda_weights(mask, w, xn, 2, 4, 0.5), SCORERS_OK);
	assert_mask(mask, (const unsigned char[]){1, 1, 0, 0, 1, 0, 1, 0}, 8);
	ck_assert_int_eq(scorers_magnitude_weights(mask, w, 2, 4, 0.5), SCORERS_OK);
	assert_mask(mask, (const unsigned char[]){0, 1, 0, 1, 1, 1, 0, 0}, 8);
	/* ratio 0.25: one weight removed per row: the smallest */
	ck_assert_int_eq(scorers_magnitude_weights(mask, w, 2, 4, 0.25), SCORERS_OK);
	assert_mask(mask, (const unsigned char[]){1, 1, 0, 1, 1, 1, 1, 0}, 8);
	ck_assert_int_eq(scorers_wanda_weights(mask, w, xn, 2, 4, 0.99), SCORERS_ERR_RATIO);
	ck_assert_int_eq(scorers_magnitude_weights(mask, w, 2, 4, 1.0), SCORERS_ERR_RATIO);
}
END_TEST

START_TEST(test_topk_ties_nan)
{
	const float s[] = {1, NAN, 3, 3, 0.5f, 3};
	unsigned char keep[6];
	ck_assert_int_eq(util_topk_mask(keep, s, 6, 2), 0); /* the two earliest 3s */
	assert_mask(keep, (const unsigned char[]){0, 0, 1, 1, 0, 0}, 6);
	ck_assert_int_eq(util_topk_mask(keep, s, 6, 5), 0); /* NaN ranks last */
	assert_mask(keep, (const unsigned char[]){1, 0, 1, 1, 1, 1}, 6);
	ck_assert_int_eq(util_topk_mask(keep, s, 6, 7), -1);
}
END_TEST

START_TEST(test_random)
{
	/* scorers_rng is PCG32 on the documented stream; each score is one output's top 24 bits */
	struct pcg32 ref, s1 = scorers_rng(42), s2 = scorers_rng(42), s3 = scorers_rng(43);
	pcg32_seed(&ref, 42, SCORERS_RNG_STREAM);
	float a[64], b[64], c[64];
	scorers_random_rows(a, 64, &s1);
	scorers_random_rows(b, 64, &s2);
	scorers_random_rows(c, 64, &s3);
	int differ = 0;
	for (int i = 0; i < 64; i++) {
		ck_assert(a[i] >= 0.0f && a[i] < 1.0f);
		ck_assert(a[i] == b[i]);
		ck_assert(a[i] == (float)(pcg32_next(&ref) >> 8) / 16777216.0f);
		differ += a[i] != c[i];
	}
	ck_assert_int_gt(differ, 60);
	ck_assert_uint_eq(s1.state, s2.state); /* the state advanced identically: 64 outputs */
	ck_assert_uint_eq(s1.state, ref.state);
	/* random weight masks: deterministic per seed, exactly k per row */
	unsigned char m1[3 * 10], m2[3 * 10];
	s1 = s2 = scorers_rng(7);
	ck_assert_int_eq(scorers_random_weights(m1, 3, 10, 0.3, &s1), SCORERS_OK);
	ck_assert_int_eq(scorers_random_weights(m2, 3, 10, 0.3, &s2), SCORERS_OK);
	assert_mask(m1, m2, 30);
	for (int r = 0; r < 3; r++) {
		int k = 0;
		for (int j = 0; j < 10; j++)
			k += m1[r * 10 + j];
		ck_assert_int_eq(k, 7);
	}
}
END_TEST

/* Row [0, 4, 2, 4, 0, 4, 4], k = 4. Population variance: mean 10/7, sum of squares
 * 36 - 7 (10/7)^2 = 152/7, so sigma = sqrt(152)/7 and h = 1.06 sqrt(152)/7 * 7^(-1/5) = 1.26506.
 * Grid linspace(0, 4, 4) = 0, 4/3, 8/3, 4. With 2h^2 = 3.2007 the unnormalised sums are
 *   g=0:   2 + e^(-4/3.2007) + 4 e^(-16/3.2007)                = 2.3135
 *   g=4/3: 2 e^(-1.7778/3.2007) + e^(-0.4444/3.2007) + 4 e^(-7.1111/3.2007) = 2.4515
 *   g=8/3: 2 e^(-7.1111/3.2007) + e^(-0.4444/3.2007) + 4 e^(-1.7778/3.2007) = 3.3823
 *   g=4:   2 e^(-16/3.2007) + e^(-4/3.2007) + 4                 = 4.3000
 * so the visiting order is 4, 8/3, 4/3, 0:
 *   g=4   takes a 4 (lowest index 1);
 *   g=8/3 takes the 2 (distance 2/3 < 4/3) at index 2;
 *   g=4/3 finds the 2 taken: 0 (4/3) beats 4 (8/3) -> index 0;
 *   g=0   takes the other 0 -> index 4.
 * Kept {0, 1, 2, 4}. Visiting in grid order instead would give {0, 1, 2, 3}: g=8/3 would find
 * the 2 taken by g=4/3 and take a second 4. */
START_TEST(test_ken_density_order)
{
	const float row[] = {0, 4, 2, 4, 0, 4, 4};
	double h = 1.06 * sqrt(152.0) / 7.0 * pow(7.0, -0.2);
	ck_assert_double_eq_tol(scorers_ken_bandwidth(row, 7), h, 1e-12);
	ck_assert_double_eq_tol(h, 1.26506, 1e-5);
	double dens[4], grid[4];
	ck_assert_int_eq(scorers_ken_density(dens, grid, row, 7, 4), SCORERS_OK);
	ck_assert_double_eq_tol(grid[0], 0.0, 1e-15);
	ck_assert_double_eq_tol(grid[1], 4.0 / 3.0, 1e-15);
	ck_assert_double_eq_tol(grid[2], 8.0 / 3.0, 1e-15);
	ck_assert(grid[3] == 4.0);
	double norm = 7.0 * h * sqrt(2.0 * M_PI), tw = 2 * h * h;
	ck_assert_double_eq_tol(dens[0], (2 + exp(-4 / tw) + 4 * exp(-16 / tw)) / norm, 1e-12);
	ck_assert_double_eq_tol(dens[3], (2 * exp(-16 / tw) + exp(-4 / tw) + 4) / norm, 1e-12);
	ck_assert(dens[3] > dens[2] && dens[2] > dens[1] && dens[1] > dens[0]);
	unsigned char keep[7], naive[7];
	ck_assert_int_eq(scorers_ken_row(keep, row, 7, 4), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 1, 0, 1, 0, 0}, 7);
	ck_assert_int_eq(scorers_ken_row_naive(naive, row, 7, 4), SCORERS_OK);
	assert_mask(naive, keep, 7);
	/* the mirrored row [4, 0, 2, 0, 4, 0, 0] has mirrored densities; order 0, 4/3, 8/3, 4:
	 * g=0 -> index 1; g=4/3 -> the 2 (index 2); g=8/3 -> 4 (4/3 away) at index 0; g=4 -> index 4 */
	const float mir[] = {4, 0, 2, 0, 4, 0, 0};
	double dm[4], gm[4];
	ck_assert_int_eq(scorers_ken_density(dm, gm, mir, 7, 4), SCORERS_OK);
	for (int j = 0; j < 4; j++)
		ck_assert_double_eq_tol(dm[j], dens[3 - j], 1e-12);
	ck_assert_int_eq(scorers_ken_row(keep, mir, 7, 4), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 1, 0, 1, 0, 0}, 7);
}
END_TEST

/* Row [0, 1, 1, 1, 4, 0.9, 1.1, 1] (four copies of 1), k = 5, grid 0, 1, 2, 3, 4.
 * g=0 always takes the 0 (index 0): everything else near it is a 0.9..1.1.
 * g=1 takes a copy of 1 (lowest untaken index first: 1).
 * g=3 and g=4: one takes the 4 (index 4), the other the nearest remaining, 1.1 (index 6) if
 * untaken else another copy of 1; g=2 likewise takes 1.1 (0.9 away) or a copy of 1 (1.0 away).
 * Whatever the density order, the kept set is {0, 4, 6} plus two copies of 1 at the lowest
 * indices {1, 2}: duplicates are distinct weights, each taken once. */
START_TEST(test_ken_duplicates)
{
	const float row[] = {0, 1, 1, 1, 4, 0.9f, 1.1f, 1};
	unsigned char keep[8], naive[8];
	ck_assert_int_eq(scorers_ken_row(keep, row, 8, 5), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 1, 0, 1, 0, 1, 0}, 8);
	ck_assert_int_eq(scorers_ken_row_naive(naive, row, 8, 5), SCORERS_OK);
	assert_mask(naive, keep, 8);
	/* all equal: no bandwidth, the k lowest indices */
	const float flat[] = {2, 2, 2, 2, 2};
	ck_assert_int_eq(scorers_ken_row(keep, flat, 5, 2), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 0, 0, 0}, 5);
	ck_assert_double_eq(scorers_ken_bandwidth(flat, 5), 0.0);
	/* k = 1: the grid is the single point min(row) */
	ck_assert_int_eq(scorers_ken_row(keep, row, 8, 1), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 0, 0, 0, 0, 0, 0, 0}, 8);
	/* k = 0 and k = n */
	ck_assert_int_eq(scorers_ken_row(keep, row, 8, 0), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
	ck_assert_int_eq(scorers_ken_row(keep, row, 8, 8), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 1, 1, 1, 1, 1, 1}, 8);
}
END_TEST

START_TEST(test_ken_errors)
{
	const float bad[] = {0, NAN, 1};
	const float inf[] = {0, INFINITY, 1};
	unsigned char keep[3] = {7, 7, 7};
	ck_assert_int_eq(scorers_ken_row(keep, bad, 3, 2), SCORERS_ERR_VALUE);
	ck_assert_int_eq(scorers_ken_row(keep, inf, 3, 2), SCORERS_ERR_VALUE);
	ck_assert_int_eq(keep[0], 7); /* untouched on error */
	ck_assert_int_eq(scorers_ken_row_naive(keep, bad, 3, 1), SCORERS_ERR_VALUE);
	const float ok[] = {0, 1, 2};
	ck_assert_int_eq(scorers_ken_row(keep, ok, 3, 4), SCORERS_ERR_ARG);
	ck_assert_int_eq(scorers_ken_row(keep, ok, 3, -1), SCORERS_ERR_ARG);
	unsigned char mask[6];
	const float w[] = {0, 1, 2, 3, 4, 5};
	ck_assert_int_eq(scorers_ken_weights(mask, w, 2, 3, 0.9), SCORERS_ERR_RATIO);
	const float wbad[] = {0, 1, 2, 3, NAN, 5};
	ck_assert_int_eq(scorers_ken_weights(mask, wbad, 2, 3, 0.3), SCORERS_ERR_VALUE);
	double d[2], g[2];
	ck_assert_int_eq(scorers_ken_density(d, g, ok, 0, 2), SCORERS_ERR_ARG);
	ck_assert_str_eq(scorers_strerror(SCORERS_ERR_VALUE), "NaN or infinite weight");
}
END_TEST

/* Gaussian values from PCG32, optionally quantised to force duplicates. */
static void fill_row(float *row, int n, struct pcg32 *st, int quant)
{
	for (int i = 0; i < n; i++) {
		double z = pcg32_normal(st);
		row[i] = quant ? (float)(round(z * quant) / quant) : (float)(0.02 * z);
	}
}

START_TEST(test_ken_fast_vs_naive)
{
	static const int sizes[][2] = {{2, 1}, {3, 2}, {17, 5}, {64, 45}, {100, 99}, {257, 128},
				       {500, 350}, {1024, 717}};
	struct pcg32 st = scorers_rng(2024);
	float *row = malloc(1024 * sizeof *row);
	unsigned char *a = malloc(1024), *b = malloc(1024);
	ck_assert(row && a && b);
	for (int q = 0; q < 3; q++) {
		int quant = q == 0 ? 0 : q == 1 ? 4 : 64; /* 4: very few distinct values */
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			int n = sizes[s][0], k = sizes[s][1];
			fill_row(row, n, &st, quant);
			ck_assert_int_eq(scorers_ken_row(a, row, n, k), SCORERS_OK);
			ck_assert_int_eq(scorers_ken_row_naive(b, row, n, k), SCORERS_OK);
			int kept = 0;
			for (int i = 0; i < n; i++) {
				ck_assert_msg(a[i] == b[i], "n=%d k=%d quant=%d: index %d differs", n, k,
					      quant, i);
				kept += a[i];
			}
			ck_assert_int_eq(kept, k);
		}
	}
	/* the FFT densities' (kde.h) rows: 7B-sized rows, mirrored values (equal densities in exact
	 * arithmetic: the order must come from the exact sums) and a far outlier (most grid points in
	 * a gap of zero density: ties broken by index) */
	static const int big[][2] = {{4096, 2867}, {6000, 4200}, {3001, 2100}, {2000, 1400},
				     {3001, 2100}, {3001, 2100}, {3001, 2100}, {3001, 2100}};
	row = realloc(row, 6000 * sizeof *row);
	a = realloc(a, 6000);
	b = realloc(b, 6000);
	ck_assert(row && a && b);
	for (int t = 0; t < 8; t++) {
		int n = big[t][0], k = big[t][1];
		fill_row(row, n, &st, t == 1 ? 64 : 0);
		if (t == 2 || t >= 4) { /* 0 and mirrored pairs, none within 0.002 of 0: the two middle
					 * grid points (±step/2, step ~0.0001) compete for 0 */
			for (int i = 0; i < n / 2; i++) {
				if (fabsf(row[i]) < 0.002f)
					row[i] = row[i] < 0 ? row[i] - 0.002f : row[i] + 0.002f;
				row[n / 2 + i] = -row[i];
			}
			row[n - 1] = 0;
		}
		if (t == 3)
			row[5] = 50.0f;
		for (int fast = 0; fast < 2; fast++) {
			scorers_ken_set_fast(fast);
			ck_assert_int_eq(scorers_ken_row(a, row, n, k), SCORERS_OK);
			ck_assert_int_eq(scorers_ken_row_naive(b, row, n, k), SCORERS_OK);
			for (int i = 0; i < n; i++)
				ck_assert_msg(a[i] == b[i], "n=%d k=%d fast=%d: index %d differs", n, k,
					      fast, i);
		}
	}
	/* an outlier far beyond the density window: the window must not change the result */
	fill_row(row, 300, &st, 0);
	row[17] = 5.0f;
	ck_assert_int_eq(scorers_ken_row(a, row, 300, 200), SCORERS_OK);
	ck_assert_int_eq(scorers_ken_row_naive(b, row, 300, 200), SCORERS_OK);
	assert_mask(a, b, 300);
	ck_assert_int_eq(a[17], 1); /* the maximum is a grid point and its own nearest weight */
	free(row);
	free(a);
	free(b);
}
END_TEST

/* Many rows of one matrix through the worker pool: each row's n and the FFT's sizes and terms
 * move from row to row (a buffer sized for an earlier row must still fit; ASan checks). */
START_TEST(test_ken_weights_many_rows)
{
	enum { R = 300, C = 172 };
	static float w[R * C];
	static unsigned char mask[R * C], want[C];
	struct pcg32 st = scorers_rng(9);
	for (int r = 0; r < R; r++)
		fill_row(w + r * C, C, &st, r % 3 == 0 ? 64 : 0);
	ck_assert_int_eq(scorers_ken_weights(mask, w, R, C, 0.25), SCORERS_OK);
	int k = util_keep_count(C, 0.25);
	for (int r = 0; r < R; r++) {
		ck_assert_int_eq(scorers_ken_row_naive(want, w + r * C, C, k), SCORERS_OK);
		assert_mask(mask + r * C, want, C);
	}
}
END_TEST

START_TEST(test_ken_weights_rows)
{
	enum { R = 6, C = 40 };
	float w[R * C];
	struct pcg32 st = scorers_rng(5);
	fill_row(w, R * C, &st, 0);
	unsigned char mask[R * C], row_keep[C];
	ck_assert_int_eq(scorers_ken_weights(mask, w, R, C, 0.3), SCORERS_OK);
	int k = util_keep_count(C, 0.3);
	ck_assert_int_eq(k, 28);
	for (int r = 0; r < R; r++) {
		ck_assert_int_eq(scorers_ken_row(row_keep, w + r * C, C, k), SCORERS_OK);
		assert_mask(mask + r * C, row_keep, C);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scorers");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_magnitude_rows);
	tcase_add_test(tc, test_wanda_rows);
	tcase_add_test(tc, test_weight_masks);
	tcase_add_test(tc, test_topk_ties_nan);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_ken_density_order);
	tcase_add_test(tc, test_ken_duplicates);
	tcase_add_test(tc, test_ken_errors);
	tcase_add_test(tc, test_ken_fast_vs_naive);
	tcase_add_test(tc, test_ken_weights_rows);
	tcase_add_test(tc, test_ken_weights_many_rows);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
