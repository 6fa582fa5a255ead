/* Tests for env/rowfeat: per-row policy features on hand-made 4x3 matrices. Expected norms,
 * maxima and leverages are derived by hand (or, for the singular vectors, with numpy, pasted
 * below); the z-scores are recomputed here from those raw values. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowfeat.h"
#include "testutil.h"

#define ROWS 4
#define COLS 3

/* W (4, 3). Row norms² 14, 17, 6, 12.25 (order 1 0 3 2); row maxima 3, 4, 2, 3.5 (order 1 3 0 2). */
static const float w_mat[ROWS * COLS] = {
	3, -1, 2,
	1, 4, 0,
	-2, 1, 1,
	0, 0, 3.5f,
};

/* pair (4, 3): row norms 1, 2, 3, 4 (order 3 2 1 0). */
static const float pair_mat[ROWS * COLS] = {
	1, 0, 0,
	0, 2, 0,
	0, 0, -3,
	4, 0, 0,
};

/* down (3, 4): column norms 2, 1, 5, sqrt(3) (order 2 0 3 1). */
static const float down_mat[COLS * ROWS] = {
	0, 1, 0, 1,
	0, 0, 3, 1,
	2, 0, 4, 1,
};

/* SVD of w_mat by numpy 1.24 (/usr/bin/python3: u, s, vt = np.linalg.svd(W, full_matrices=False),
 * printed with repr). */
static const double w_s[COLS] = {4.546092721217997, 4.157747701562917, 3.3609782832141337};
static const double w_vt[COLS * COLS] = {
	0.5060990160414052, -0.4626854040315671, 0.7278640002487189,
	-0.22512946465636038, -0.8855363958812404, -0.40637669189214454,
	-0.8325746273490815, -0.04180321119014463, 0.5523332159382868,
};

/* z-scores (population std) of log(raw); all 0 if raw is constant. */
static void zscore_log(double *z, const double *raw, int n)
{
	double mean = 0, var = 0;
	for (int i = 0; i < n; i++)
		mean += log(raw[i]);
	mean /= n;
	for (int i = 0; i < n; i++)
		var += (log(raw[i]) - mean) * (log(raw[i]) - mean);
	double sd = sqrt(var / n);
	for (int i = 0; i < n; i++)
		z[i] = sd > 0 ? (log(raw[i]) - mean) / sd : 0;
}

/* Column f of x has mean 0 and population std 1. */
static void assert_standardised(const float *x, int rows, int f)
{
	double mean = 0, var = 0;
	for (int i = 0; i < rows; i++)
		mean += x[i * ROWFEAT_COUNT + f];
	mean /= rows;
	for (int i = 0; i < rows; i++)
		var += (x[i * ROWFEAT_COUNT + f] - mean) * (x[i * ROWFEAT_COUNT + f] - mean);
	ck_assert_double_eq_tol(mean, 0.0, 1e-6);
	ck_assert_double_eq_tol(sqrt(var / rows), 1.0, 1e-5);
}

/* Indices of rows by column f, descending (selection sort; rows are distinct in every case). */
static void order_of(int *order, const float *x, int rows, int f)
{
	int used[ROWS] = {0};
	for (int o = 0; o < rows; o++) {
		int best = -1;
		for (int i = 0; i < rows; i++)
			if (!used[i] && (best < 0 || x[i * ROWFEAT_COUNT + f] > x[best * ROWFEAT_COUNT + f]))
				best = i;
		used[best] = 1;
		order[o] = best;
	}
}

static void assert_column(const float *x, int f, const double *raw, const int *order)
{
	double z[ROWS];
	zscore_log(z, raw, ROWS);
	for (int i = 0; i < ROWS; i++)
		ck_assert_msg(fabs(x[i * ROWFEAT_COUNT + f] - z[i]) < 1e-5, "%s row %d: %g, expected %g",
			      rowfeat_name(f), i, (double)x[i * ROWFEAT_COUNT + f], z[i]);
	assert_standardised(x, ROWS, f);
	int got[ROWS];
	order_of(got, x, ROWS, f);
	for (int i = 0; i < ROWS; i++)
		ck_assert_msg(got[i] == order[i], "%s: position %d is row %d, expected %d",
			      rowfeat_name(f), i, got[i], order[i]);
}

struct norm_case {
	int feature;
	double raw[ROWS];
	int order[ROWS];
};

static const struct norm_case norm_cases[] = {
	{0, {3.7416573867739413 /* sqrt 14 */, 4.123105625617661 /* sqrt 17 */,
	     2.449489742783178 /* sqrt 6 */, 3.5}, {1, 0, 3, 2}},
	{1, {2, 1, 5, 1.7320508075688772 /* sqrt 3 */}, {2, 0, 3, 1}},
	{2, {3, 4, 2, 3.5}, {1, 3, 0, 2}},
	{4, {1, 2, 3, 4}, {3, 2, 1, 0}},
};

START_TEST(test_norm_features)
{
	const struct norm_case *t = &norm_cases[_i];
	float x[ROWS * ROWFEAT_COUNT];
	rowfeat_compute(x, w_mat, pair_mat, down_mat, w_vt, w_s, 2, ROWS, COLS, 0.25);
	assert_column(x, t->feature, t->raw, t->order);
}
END_TEST

/* Leverage for r = 1, 2, 3: raw values recomputed here from vt and s; orders by hand from the
 * numpy values (r=1: 0.5715 0.0875 0.0270 0.3140; r=2: 0.5925 0.9085 0.0680 0.4310;
 * r=3: 0.7541 0.9970 0.4870 0.7619). */
static const int leverage_orders[3][ROWS] = {
	{0, 3, 1, 2},
	{1, 0, 3, 2},
	{1, 3, 0, 2},
};

START_TEST(test_leverage)
{
	int r = _i + 1;
	double lev[ROWS];
	for (int i = 0; i < ROWS; i++) {
		lev[i] = 0;
		for (int q = 0; q < r; q++) {
			double dot = 0;
			for (int j = 0; j < COLS; j++)
				dot += w_mat[i * COLS + j] * w_vt[q * COLS + j];
			lev[i] += (dot / w_s[q]) * (dot / w_s[q]);
		}
	}
	float x[ROWS * ROWFEAT_COUNT];
	rowfeat_compute(x, w_mat, pair_mat, down_mat, w_vt, w_s, r, ROWS, COLS, 0.25);
	assert_column(x, 3, lev, leverage_orders[_i]);
}
END_TEST

/* With the full rank r = cols the leverage is the diagonal of the hat matrix W (WᵀW)⁻¹ Wᵀ, which
 * needs no singular vectors: an independent check of the pasted SVD and of the formula. */
START_TEST(test_leverage_full_rank_is_hat_diagonal)
{
	double g[3][3] = {{0}}, inv[3][3];
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++)
			for (int i = 0; i < ROWS; i++)
				g[a][b] += (double)w_mat[i * COLS + a] * w_mat[i * COLS + b];
	double det = g[0][0] * (g[1][1] * g[2][2] - g[1][2] * g[2][1]) -
		     g[0][1] * (g[1][0] * g[2][2] - g[1][2] * g[2][0]) +
		     g[0][2] * (g[1][0] * g[2][1] - g[1][1] * g[2][0]);
	ck_assert(fabs(det) > 1);
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++) {
			/* cofactor of (b, a) over det: the adjugate */
			int r0 = (b + 1) % 3, r1 = (b + 2) % 3, c0 = (a + 1) % 3, c1 = (a + 2) % 3;
			inv[a][b] = (g[r0][c0] * g[r1][c1] - g[r0][c1] * g[r1][c0]) / det;
		}
	double hat[ROWS], trace = 0;
	for (int i = 0; i < ROWS; i++) {
		const float *wi = &w_mat[i * COLS];
		hat[i] = 0;
		for (int a = 0; a < 3; a++)
			for (int b = 0; b < 3; b++)
				hat[i] += wi[a] * inv[a][b] * wi[b];
		trace += hat[i];
	}
	ck_assert_double_eq_tol(trace, 3.0, 1e-12); /* trace of a rank-3 projection */
	float x[ROWS * ROWFEAT_COUNT];
	rowfeat_compute(x, w_mat, pair_mat, down_mat, w_vt, w_s, 3, ROWS, COLS, 0.25);
	assert_column(x, 3, hat, leverage_orders[2]);
}
END_TEST

static const double depths[] = {0.0, 0.25, 0.5, 1.0};

START_TEST(test_depth_column)
{
	float x[ROWS * ROWFEAT_COUNT];
	rowfeat_compute(x, w_mat, pair_mat, down_mat, w_vt, w_s, 2, ROWS, COLS, depths[_i]);
	for (int i = 0; i < ROWS; i++)
		ck_assert_float_eq(x[i * ROWFEAT_COUNT + 5], (float)depths[_i]);
}
END_TEST

/* No pair / down: those columns are 0. Rows of equal norm and equal maximum: 0 as well. */
START_TEST(test_constant_columns)
{
	static const float eq[ROWS * COLS] = {
		1, 2, 2,
		2, -1, 2,
		2, 2, 1,
		-2, 2, -1,
	};
	static const double vt_id[COLS * COLS] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
	static const double s_eq[COLS] = {4, 3, 2};
	float x[ROWS * ROWFEAT_COUNT];
	memset(x, 0x7f, sizeof x);
	rowfeat_compute(x, eq, NULL, NULL, vt_id, s_eq, 3, ROWS, COLS, 1.0);
	for (int i = 0; i < ROWS; i++) {
		ck_assert_float_eq(x[i * ROWFEAT_COUNT + 0], 0.0f);
		ck_assert_float_eq(x[i * ROWFEAT_COUNT + 1], 0.0f);
		ck_assert_float_eq(x[i * ROWFEAT_COUNT + 2], 0.0f);
		ck_assert_float_eq(x[i * ROWFEAT_COUNT + 4], 0.0f);
		ck_assert_float_eq(x[i * ROWFEAT_COUNT + 5], 1.0f);
	}
	/* leverage with vt = I, s = (4, 3, 2): Σ (w_ij / s_j)², by hand
	 * row0 1/16 + 4/9 + 4/4 = 1.5069, row1 4/16 + 1/9 + 1 = 1.3611,
	 * row2 4/16 + 4/9 + 1/4 = 0.9444, row3 4/16 + 4/9 + 1/4 = 0.9444 */
	double lev[ROWS] = {1.0 / 16 + 4.0 / 9 + 1, 4.0 / 16 + 1.0 / 9 + 1, 4.0 / 16 + 4.0 / 9 + 0.25,
			    4.0 / 16 + 4.0 / 9 + 0.25};
	double z[ROWS];
	zscore_log(z, lev, ROWS);
	for (int i = 0; i < ROWS; i++)
		ck_assert_double_eq_tol(x[i * ROWFEAT_COUNT + 3], z[i], 1e-5);
	ck_assert(x[0 * ROWFEAT_COUNT + 3] > x[1 * ROWFEAT_COUNT + 3]);
	ck_assert(x[1 * ROWFEAT_COUNT + 3] > x[2 * ROWFEAT_COUNT + 3]);
	ck_assert_float_eq(x[2 * ROWFEAT_COUNT + 3], x[3 * ROWFEAT_COUNT + 3]);
}
END_TEST

/* An all-zero row (a pruned or dead neuron) gives finite features, lowest in every norm. */
START_TEST(test_zero_row)
{
	float w[ROWS * COLS];
	memcpy(w, w_mat, sizeof w);
	w[2 * COLS + 0] = w[2 * COLS + 1] = w[2 * COLS + 2] = 0;
	float x[ROWS * ROWFEAT_COUNT];
	rowfeat_compute(x, w, pair_mat, down_mat, w_vt, w_s, 3, ROWS, COLS, 0.5);
	for (int i = 0; i < ROWS * ROWFEAT_COUNT; i++)
		ck_assert(isfinite(x[i]));
	for (int f = 0; f < 4; f++) {
		if (f == 1)
			continue; /* down does not depend on w */
		int order[ROWS];
		order_of(order, x, ROWS, f);
		ck_assert_msg(order[ROWS - 1] == 2, "%s: zero row not last", rowfeat_name(f));
		assert_standardised(x, ROWS, f);
	}
}
END_TEST

/* joined = the names of features 0 .. n-1, comma-separated (joined holds 256 bytes). */
static void join_names(char *joined, int n)
{
	joined[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(joined, ",");
		strcat(joined, rowfeat_name(i));
	}
}

START_TEST(test_names)
{
	char joined[256];
	join_names(joined, ROWFEAT_COUNT);
	ck_assert_str_eq(joined, rowfeat_list());
	ck_assert_str_eq(rowfeat_name(0), "row_norm");
	ck_assert_str_eq(rowfeat_name(3), "leverage");
	ck_assert_str_eq(rowfeat_name(5), "depth");
	ck_assert_str_eq(rowfeat_name(-1), "?");
	ck_assert_str_eq(rowfeat_name(ROWFEAT_COUNT), "probe_sq");
	ck_assert_str_eq(rowfeat_name(ROWFEAT_MAX), "?");
}
END_TEST

START_TEST(test_sets)
{
	char joined[256];
	join_names(joined, ROWFEAT_MAX);
	ck_assert_str_eq(joined, rowfeat_set_list(ROWFEAT_SET_PROBE));
	ck_assert_str_eq(rowfeat_set_list(ROWFEAT_SET_WEIGHTS), rowfeat_list());
	ck_assert_int_eq(rowfeat_set_count(ROWFEAT_SET_WEIGHTS), 6);
	ck_assert_int_eq(rowfeat_set_count(ROWFEAT_SET_PROBE), 8);
	enum rowfeat_set set = ROWFEAT_SET_WEIGHTS;
	ck_assert_int_eq(rowfeat_set_parse(&set, "probe"), 0);
	ck_assert_int_eq(set, ROWFEAT_SET_PROBE);
	ck_assert_str_eq(rowfeat_set_name(set), "probe");
	ck_assert_int_eq(rowfeat_set_parse(&set, "weights"), 0);
	ck_assert_str_eq(rowfeat_set_name(set), "weights");
	ck_assert_int_eq(rowfeat_set_parse(&set, "Probe"), -1);
	ck_assert_int_eq(set, ROWFEAT_SET_WEIGHTS);
}
END_TEST

/* Probe features of 4 rows: E[a²] = 1, 4, 16, 64 (logs equally spaced: z = ∓1.342, ∓0.447);
 * E|a| = 1, 1, 1, 1 and ‖d_i‖ = 1, 2, 4, 8 (down (3, 4)), so column 1 ranks the same. */
START_TEST(test_probe_columns)
{
	const double msq[4] = {1, 4, 16, 64}, mabs[4] = {1, 1, 1, 1};
	const float down[12] = {1, 0, 0, 8, 0, 2, 0, 0, 0, 0, 4, 0};
	float x[4 * 3];
	for (int i = 0; i < 12; i++)
		x[i] = -7;
	rowfeat_probe_compute(x + 1, 3, msq, mabs, down, 4, 3);
	const double z[4] = {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579,
			     1.3416407864998738};
	for (int i = 0; i < 4; i++) {
		ck_assert_float_eq(x[i * 3], -7); /* column 0 untouched */
		ck_assert_double_eq_tol(x[i * 3 + 1], z[i], 1e-5);
		ck_assert_double_eq_tol(x[i * 3 + 2], z[i], 1e-5);
	}
}
END_TEST

/* The dgemm leverage and the blocked column norms against the references: shapes around the
 * 1024-row block, r from 1 to cols. */
static const struct {
	int rows, cols, r;
} fast_cases[] = {{7, 5, 2}, {1023, 16, 16}, {1025, 24, 5}, {2100, 9, 1}, {300, 64, 40}};

START_TEST(test_fast_matches_ref)
{
	int rows = fast_cases[_i].rows, cols = fast_cases[_i].cols, r = fast_cases[_i].r;
	size_t rc = (size_t)rows * (size_t)cols, rf = (size_t)rows * ROWFEAT_COUNT;
	float *w = malloc(rc * sizeof *w), *pair = malloc(rc * sizeof *pair);
	float *down = malloc(rc * sizeof *down);
	double *vt = malloc((size_t)r * cols * sizeof *vt), *sv = malloc((size_t)r * sizeof *sv);
	double *la = malloc((size_t)rows * sizeof *la), *lb = malloc((size_t)rows * sizeof *lb);
	float *xa = malloc(rf * sizeof *xa), *xb = malloc(rf * sizeof *xb);
	ck_assert(w && pair && down && vt && sv && la && lb && xa && xb);
	unsigned u = 12345u + (unsigned)_i;
	for (size_t k = 0; k < rc; k++) {
		u = u * 1103515245u + 12345u;
		w[k] = (float)((u >> 8) % 2001) / 1000.0f - 1.0f;
		pair[k] = w[k] * 0.5f + 0.25f;
		down[k] = (float)((u >> 4) % 997) / 500.0f - 1.0f;
	}
	for (int q = 0; q < r; q++) {
		sv[q] = 1.0 + q;
		for (int j = 0; j < cols; j++)
			vt[(size_t)q * cols + j] = sin(0.37 * (q + 1) * (j + 1));
	}
	rowfeat_leverage(la, w, vt, sv, r, rows, cols);
	rowfeat_leverage_ref(lb, w, vt, sv, r, rows, cols);
	for (int i = 0; i < rows; i++)
		ck_assert_double_eq_tol(la[i], lb[i], 1e-10 * (1 + fabs(lb[i])));
	rowfeat_compute(xa, w, pair, down, vt, sv, r, rows, cols, 0.5);
	rowfeat_compute_ref(xb, w, pair, down, vt, sv, r, rows, cols, 0.5);
	for (size_t k = 0; k < rf; k++)
		ck_assert_float_eq_tol(xa[k], xb[k], 1e-5f);
	free(w);
	free(pair);
	free(down);
	free(vt);
	free(sv);
	free(la);
	free(lb);
	free(xa);
	free(xb);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rowfeat");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_norm_features, 0, (int)(sizeof norm_cases / sizeof norm_cases[0]));
	tcase_add_loop_test(tc, test_leverage, 0, 3);
	tcase_add_test(tc, test_leverage_full_rank_is_hat_diagonal);
	tcase_add_loop_test(tc, test_depth_column, 0, (int)(sizeof depths / sizeof depths[0]));
	tcase_add_test(tc, test_constant_columns);
	tcase_add_test(tc, test_zero_row);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_sets);
	tcase_add_test(tc, test_probe_columns);
	tcase_add_loop_test(tc, test_fast_matches_ref, 0, (int)(sizeof fast_cases / sizeof fast_cases[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
