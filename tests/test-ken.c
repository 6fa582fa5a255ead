/* Tests for prune/ken: KEN's bandwidth, density order and duplicate handling derived by hand in
 * the comments, the fast route (FFT densities, radix sort, pool) against the literal O(n*k)
 * reference on rows up to 6000 wide, and the error codes. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ken.h"
#include "pcg32.h"
#include "testutil.h"
#include "topk.h"

static void assert_mask(const unsigned char *got, const unsigned char *want, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "entry %d: got %d, want %d", i, got[i], want[i]);
}

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
	ck_assert_double_eq_tol(ken_bandwidth(row, 7), h, 1e-12);
	ck_assert_double_eq_tol(h, 1.26506, 1e-5);
	double dens[4], grid[4];
	ck_assert_int_eq(ken_density(dens, grid, row, 7, 4), SCORERS_OK);
	ck_assert_double_eq_tol(grid[0], 0.0, 1e-15);
	ck_assert_double_eq_tol(grid[1], 4.0 / 3.0, 1e-15);
	ck_assert_double_eq_tol(grid[2], 8.0 / 3.0, 1e-15);
	ck_assert(grid[3] == 4.0);
	double norm = 7.0 * h * sqrt(2.0 * M_PI), tw = 2 * h * h;
	ck_assert_double_eq_tol(dens[0], (2 + exp(-4 / tw) + 4 * exp(-16 / tw)) / norm, 1e-12);
	ck_assert_double_eq_tol(dens[3], (2 * exp(-16 / tw) + exp(-4 / tw) + 4) / norm, 1e-12);
	ck_assert(dens[3] > dens[2] && dens[2] > dens[1] && dens[1] > dens[0]);
	unsigned char keep[7], naive[7];
	ck_assert_int_eq(ken_row(keep, row, 7, 4), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 1, 0, 1, 0, 0}, 7);
	ck_assert_int_eq(ken_row_naive(naive, row, 7, 4), SCORERS_OK);
	assert_mask(naive, keep, 7);
	/* the mirrored row [4, 0, 2, 0, 4, 0, 0] has mirrored densities; order 0, 4/3, 8/3, 4:
	 * g=0 -> index 1; g=4/3 -> the 2 (index 2); g=8/3 -> 4 (4/3 away) at index 0; g=4 -> index 4 */
	const float mir[] = {4, 0, 2, 0, 4, 0, 0};
	double dm[4], gm[4];
	ck_assert_int_eq(ken_density(dm, gm, mir, 7, 4), SCORERS_OK);
	for (int j = 0; j < 4; j++)
		ck_assert_double_eq_tol(dm[j], dens[3 - j], 1e-12);
	ck_assert_int_eq(ken_row(keep, mir, 7, 4), SCORERS_OK);
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
	ck_assert_int_eq(ken_row(keep, row, 8, 5), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 1, 0, 1, 0, 1, 0}, 8);
	ck_assert_int_eq(ken_row_naive(naive, row, 8, 5), SCORERS_OK);
	assert_mask(naive, keep, 8);
	/* all equal: no bandwidth, the k lowest indices */
	const float flat[] = {2, 2, 2, 2, 2};
	ck_assert_int_eq(ken_row(keep, flat, 5, 2), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 0, 0, 0}, 5);
	ck_assert_double_eq(ken_bandwidth(flat, 5), 0.0);
	/* k = 1: the grid is the single point min(row) */
	ck_assert_int_eq(ken_row(keep, row, 8, 1), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 0, 0, 0, 0, 0, 0, 0}, 8);
	/* k = 0 and k = n */
	ck_assert_int_eq(ken_row(keep, row, 8, 0), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
	ck_assert_int_eq(ken_row(keep, row, 8, 8), SCORERS_OK);
	assert_mask(keep, (const unsigned char[]){1, 1, 1, 1, 1, 1, 1, 1}, 8);
}
END_TEST

START_TEST(test_ken_errors)
{
	const float bad[] = {0, NAN, 1};
	const float inf[] = {0, INFINITY, 1};
	unsigned char keep[3] = {7, 7, 7};
	ck_assert_int_eq(ken_row(keep, bad, 3, 2), SCORERS_ERR_VALUE);
	ck_assert_int_eq(ken_row(keep, inf, 3, 2), SCORERS_ERR_VALUE);
	ck_assert_int_eq(keep[0], 7); /* untouched on error */
	ck_assert_int_eq(ken_row_naive(keep, bad, 3, 1), SCORERS_ERR_VALUE);
	const float ok[] = {0, 1, 2};
	ck_assert_int_eq(ken_row(keep, ok, 3, 4), SCORERS_ERR_ARG);
	ck_assert_int_eq(ken_row(keep, ok, 3, -1), SCORERS_ERR_ARG);
	unsigned char mask[6];
	const float w[] = {0, 1, 2, 3, 4, 5};
	ck_assert_int_eq(ken_weights(mask, w, 2, 3, 0.9), SCORERS_ERR_RATIO);
	const float wbad[] = {0, 1, 2, 3, NAN, 5};
	ck_assert_int_eq(ken_weights(mask, wbad, 2, 3, 0.3), SCORERS_ERR_VALUE);
	double d[2], g[2];
	ck_assert_int_eq(ken_density(d, g, ok, 0, 2), SCORERS_ERR_ARG);
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
			ck_assert_int_eq(ken_row(a, row, n, k), SCORERS_OK);
			ck_assert_int_eq(ken_row_naive(b, row, n, k), SCORERS_OK);
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
			ken_set_fast(fast);
			ck_assert_int_eq(ken_row(a, row, n, k), SCORERS_OK);
			ck_assert_int_eq(ken_row_naive(b, row, n, k), SCORERS_OK);
			for (int i = 0; i < n; i++)
				ck_assert_msg(a[i] == b[i], "n=%d k=%d fast=%d: index %d differs", n, k,
					      fast, i);
		}
	}
	/* an outlier far beyond the density window: the window must not change the result */
	fill_row(row, 300, &st, 0);
	row[17] = 5.0f;
	ck_assert_int_eq(ken_row(a, row, 300, 200), SCORERS_OK);
	ck_assert_int_eq(ken_row_naive(b, row, 300, 200), SCORERS_OK);
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
	ck_assert_int_eq(ken_weights(mask, w, R, C, 0.25), SCORERS_OK);
	int k = util_keep_count(C, 0.25);
	for (int r = 0; r < R; r++) {
		ck_assert_int_eq(ken_row_naive(want, w + r * C, C, k), SCORERS_OK);
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
	ck_assert_int_eq(ken_weights(mask, w, R, C, 0.3), SCORERS_OK);
	int k = util_keep_count(C, 0.3);
	ck_assert_int_eq(k, 28);
	for (int r = 0; r < R; r++) {
		ck_assert_int_eq(ken_row(row_keep, w + r * C, C, k), SCORERS_OK);
		assert_mask(mask + r * C, row_keep, C);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ken");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ken_density_order);
	tcase_add_test(tc, test_ken_duplicates);
	tcase_add_test(tc, test_ken_errors);
	tcase_add_test(tc, test_ken_fast_vs_naive);
	tcase_add_test(tc, test_ken_weights_rows);
	tcase_add_test(tc, test_ken_weights_many_rows);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
