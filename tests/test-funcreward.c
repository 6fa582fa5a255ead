/* Tests for env/funcreward: the quadratic form 1_Rᵀ G 1_R / 1ᵀ G 1 against the output error
 * formed directly (random small layers, many selections), a hand-computed 2-neuron layer, the
 * empty and full removals, and argument errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "funcreward.h"
#include "pcg32.h"
#include "testutil.h"

/* a = (1, 2) on one token, D = I: y = (1, 2), ‖y‖² = 5; removing neuron 1 leaves (1, 0). */
START_TEST(test_hand)
{
	const float act[2] = {1, 2}, down[4] = {1, 0, 0, 1};
	struct funcreward *fr = NULL;
	ck_assert_int_eq(funcreward_new(&fr, act, 1, down, 2, 2), 0);
	ck_assert_double_eq_tol(funcreward_total(fr), 5, 1e-12);
	int kept0[1] = {0}, kept1[1] = {1}, both[2] = {1, 0};
	double e;
	ck_assert_int_eq(funcreward_error(fr, kept0, 1, &e), 0);
	ck_assert_double_eq_tol(e, 0.8, 1e-12);
	ck_assert_int_eq(funcreward_error(fr, kept1, 1, &e), 0);
	ck_assert_double_eq_tol(e, 0.2, 1e-12);
	ck_assert_int_eq(funcreward_error(fr, both, 2, &e), 0);
	ck_assert_double_eq(e, 0);
	ck_assert_int_eq(funcreward_error(fr, both, 0, &e), 0);
	ck_assert_double_eq_tol(e, 1, 1e-12);
	int dup[2] = {1, 1}, out[1] = {2};
	ck_assert_int_eq(funcreward_error(fr, dup, 2, &e), FUNCREWARD_ERR_ARG);
	ck_assert_int_eq(funcreward_error(fr, out, 1, &e), FUNCREWARD_ERR_ARG);
	funcreward_free(fr);
	funcreward_free(NULL);
}
END_TEST

/* rows: tokens, hidden, ffn, kept count */
static const int shapes[][4] = {{7, 5, 9, 6}, {3, 8, 12, 4}, {20, 4, 6, 1}, {5, 5, 5, 5}};

START_TEST(test_against_direct)
{
	int T = shapes[_i][0], H = shapes[_i][1], F = shapes[_i][2], k = shapes[_i][3];
	struct pcg32 rng;
	pcg32_seed(&rng, 42 + (uint64_t)_i, 7);
	float *act = malloc((size_t)T * F * sizeof *act), *down = malloc((size_t)H * F * sizeof *down);
	for (int i = 0; i < T * F; i++)
		act[i] = (float)pcg32_normal(&rng);
	for (int i = 0; i < H * F; i++)
		down[i] = (float)pcg32_normal(&rng);
	struct funcreward *fr = NULL;
	ck_assert_int_eq(funcreward_new(&fr, act, T, down, H, F), 0);
	int *kept = malloc((size_t)F * sizeof *kept), *perm = malloc((size_t)F * sizeof *perm);
	unsigned char *keep = malloc((size_t)F);
	for (int trial = 0; trial < 20; trial++) {
		for (int i = 0; i < F; i++)
			perm[i] = i;
		for (int i = F - 1; i > 0; i--) {
			int j = (int)pcg32_bounded(&rng, (uint32_t)i + 1), t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
		for (int i = 0; i < F; i++)
			keep[i] = 0;
		for (int i = 0; i < k; i++) {
			kept[i] = perm[i];
			keep[perm[i]] = 1;
		}
		double e, d = funcreward_error_direct(act, T, down, H, F, keep);
		ck_assert_int_eq(funcreward_error(fr, kept, k, &e), 0);
		ck_assert_double_eq_tol(e, d, 1e-9 * (1 + d));
		if (k < F)
			ck_assert(e > 0);
	}
	free(keep);
	free(perm);
	free(kept);
	funcreward_free(fr);
	free(act);
	free(down);
}
END_TEST

START_TEST(test_errors)
{
	const float act[2] = {1, NAN}, down[4] = {1, 0, 0, 1};
	struct funcreward *fr = NULL;
	ck_assert_int_eq(funcreward_new(&fr, act, 1, down, 2, 2), FUNCREWARD_ERR_VALUE);
	ck_assert_ptr_null(fr);
	ck_assert_int_eq(funcreward_new(&fr, act, 0, down, 2, 2), FUNCREWARD_ERR_ARG);
	ck_assert_int_eq(funcreward_new(&fr, NULL, 1, down, 2, 2), FUNCREWARD_ERR_ARG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("funcreward");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_hand);
	tcase_add_loop_test(tc, test_against_direct, 0, (int)(sizeof shapes / sizeof shapes[0]));
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
