/* Tests for prune/scorers: every criterion on small matrices whose answers are derived by hand in
 * the comments, ties and NaN, and seeded random selections (KEN: test-ken.c). */
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

int main(void)
{
	Suite *s = suite_create("scorers");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_magnitude_rows);
	tcase_add_test(tc, test_wanda_rows);
	tcase_add_test(tc, test_weight_masks);
	tcase_add_test(tc, test_topk_ties_nan);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
