/* Tests for env/linalg and env/spectrum: LAPACK singular values and
 * eigenvalues against matrices with known spectra and against the one-sided
 * Jacobi reference, Gram (up/down)dates against the naive triple loop, the
 * two spectrum routes against each other and against a direct computation,
 * and every error code. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks.h"
#include "linalg.h"
#include "pcg32.h"
#include "spectrum.h"
#include "testutil.h"

/* Seeded 64-bit LCG (Knuth's MMIX constants), passed explicitly. */
struct lcg {
	uint64_t state;
};

static double lcg_uniform(struct lcg *g)
{
	g->state = g->state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(g->state >> 11) * (1.0 / 9007199254740992.0);
}

static float *random_matrix(struct lcg *g, int m, int n)
{
	float *a = malloc((size_t)m * (size_t)n * sizeof(float));
	ck_assert_ptr_nonnull(a);
	for (size_t i = 0; i < (size_t)m * (size_t)n; i++)
		a[i] = (float)(2 * lcg_uniform(g) - 1);
	return a;
}

static double *xmalloc_doubles(size_t n)
{
	double *p = malloc((n ? n : 1) * sizeof(double));
	ck_assert_ptr_nonnull(p);
	return p;
}

/* q (n, n) = H1 H2 with Householder reflections H = I - 2 v v^T / v^T v. */
static void random_orthogonal(double *q, struct lcg *g, int n)
{
	double *v = xmalloc_doubles((size_t)n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			q[i * n + j] = i == j;
	for (int h = 0; h < 2; h++) {
		double vv = 0;
		for (int i = 0; i < n; i++) {
			v[i] = 2 * lcg_uniform(g) - 1;
			vv += v[i] * v[i];
		}
		/* q = q (I - 2 v v^T / vv), row by row */
		for (int i = 0; i < n; i++) {
			double qv = 0;
			for (int j = 0; j < n; j++)
				qv += q[i * n + j] * v[j];
			for (int j = 0; j < n; j++)
				q[i * n + j] -= 2 * qv * v[j] / vv;
		}
	}
	free(v);
}

static void assert_descending(const double *s, int n)
{
	for (int i = 1; i < n; i++)
		ck_assert_msg(s[i - 1] >= s[i], "not descending at %d: %g < %g", i, s[i - 1], s[i]);
}

/* max_i |x_i - y_i| <= tol * scale */
static void assert_close(const double *x, const double *y, int n, double tol, double scale)
{
	for (int i = 0; i < n; i++)
		ck_assert_msg(fabs(x[i] - y[i]) <= tol * scale, "[%d]: %.17g vs %.17g (tol %g)", i,
			      x[i], y[i], tol * scale);
}

/* ---- singular values ---- */

START_TEST(test_sv_diagonal)
{
	/* 4x3 with diagonal (3, -5, 1) and a zero row: sigma = 5, 3, 1; its
	 * transpose (3x4) has the same values. */
	float a[12] = {0}, at[12] = {0};
	const float d[3] = {3, -5, 1};
	for (int i = 0; i < 3; i++) {
		a[i * 3 + i] = d[i];
		at[i * 4 + i] = d[i];
	}
	const double want[3] = {5, 3, 1};
	double s[3];
	ck_assert_int_eq(linalg_singular_values(s, a, 4, 3), LINALG_OK);
	assert_close(s, want, 3, 1e-15, 5);
	ck_assert_int_eq(linalg_singular_values(s, at, 3, 4), LINALG_OK);
	assert_close(s, want, 3, 1e-15, 5);
	ck_assert_int_eq(linalg_singular_values_jacobi(s, a, 4, 3), LINALG_OK);
	assert_close(s, want, 3, 1e-15, 5);
}
END_TEST

/* a = Q1[:, :k] diag(d) Q2^T with Householder-built orthogonal factors. The
 * f32 rounding of a moves the values by at most |E|_2 <= ~1e-7 |a|_F; the
 * Jacobi reference sees the same f32 matrix and must agree to 1e-12. */
START_TEST(test_sv_orthogonal_times_diag)
{
	static const int shapes[][2] = {{9, 5}, {5, 9}, {8, 8}};
	struct lcg g = {2024};
	for (size_t c = 0; c < sizeof(shapes) / sizeof(shapes[0]); c++) {
		int m = shapes[c][0], n = shapes[c][1], k = m < n ? m : n;
		double *q1 = xmalloc_doubles((size_t)m * m), *q2 = xmalloc_doubles((size_t)n * n);
		random_orthogonal(q1, &g, m);
		random_orthogonal(q2, &g, n);
		double want[9];
		for (int i = 0; i < k; i++)
			want[i] = 10.0 / (i + 1); /* 10, 5, 3.33, ... descending */
		float *a = malloc((size_t)m * n * sizeof(float));
		ck_assert_ptr_nonnull(a);
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++) {
				double acc = 0;
				for (int t = 0; t < k; t++)
					acc += q1[i * m + t] * want[t] * q2[j * n + t];
				a[i * n + j] = (float)acc;
			}
		double s[9], sj[9];
		ck_assert_int_eq(linalg_singular_values(s, a, m, n), LINALG_OK);
		ck_assert_int_eq(linalg_singular_values_jacobi(sj, a, m, n), LINALG_OK);
		assert_close(s, want, k, 1e-6, want[0]);
		assert_close(s, sj, k, 1e-12, want[0]);
		assert_descending(s, k);
		free(a);
		free(q2);
		free(q1);
	}
}
END_TEST

/* 2 u1 v1^T + u2 v2^T with orthogonal integer vectors u1 = (1,2,2),
 * u2 = (2,1,-2) (norm 3), v1 = (2,3,6), v2 = (3,-6,2) (norm 7): integer
 * entries, exact in f32, sigma = 42, 21, 0. */
START_TEST(test_sv_rank_deficient)
{
	const float u1[3] = {1, 2, 2}, u2[3] = {2, 1, -2}, v1[3] = {2, 3, 6}, v2[3] = {3, -6, 2};
	float a[9], at[9];
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			a[i * 3 + j] = 2 * u1[i] * v1[j] + u2[i] * v2[j];
			at[j * 3 + i] = a[i * 3 + j];
		}
	const double want[3] = {42, 21, 0};
	double s[3];
	ck_assert_int_eq(linalg_singular_values(s, a, 3, 3), LINALG_OK);
	assert_close(s, want, 3, 1e-14, 42);
	ck_assert_int_eq(linalg_singular_values(s, at, 3, 3), LINALG_OK);
	assert_close(s, want, 3, 1e-14, 42);
	ck_assert_int_eq(linalg_singular_values_jacobi(s, a, 3, 3), LINALG_OK);
	assert_close(s, want, 3, 1e-14, 42);
}
END_TEST

static const int random_shapes[][2] = {{40, 12}, {12, 40}, {1, 5}, {5, 1}, {7, 7}, {300, 3}, {1, 1}};

START_TEST(test_sv_vs_jacobi)
{
	int m = random_shapes[_i][0], n = random_shapes[_i][1], k = m < n ? m : n;
	struct lcg g = {(uint64_t)(77 + _i)};
	float *a = random_matrix(&g, m, n);
	float *copy = malloc((size_t)m * n * sizeof(float));
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, a, (size_t)m * n * sizeof(float));
	double *s = xmalloc_doubles((size_t)k), *sj = xmalloc_doubles((size_t)k);
	ck_assert_int_eq(linalg_singular_values(s, a, m, n), LINALG_OK);
	ck_assert_int_eq(linalg_singular_values_jacobi(sj, a, m, n), LINALG_OK);
	ck_assert_mem_eq(a, copy, (size_t)m * n * sizeof(float));
	assert_descending(s, k);
	ck_assert(s[0] > 0.1);
	assert_close(s, sj, k, 1e-12, sj[0]);
	free(sj);
	free(s);
	free(copy);
	free(a);
}
END_TEST

START_TEST(test_svd_full)
{
	int m = random_shapes[_i][0], n = random_shapes[_i][1], k = m < n ? m : n;
	struct lcg g = {(uint64_t)(500 + _i)};
	float *a = random_matrix(&g, m, n);
	double *s = xmalloc_doubles((size_t)k), *sv = xmalloc_doubles((size_t)k);
	double *u = xmalloc_doubles((size_t)m * k), *vt = xmalloc_doubles((size_t)k * n);
	ck_assert_int_eq(linalg_svd_full(s, u, vt, a, m, n), LINALG_OK);
	ck_assert_int_eq(linalg_singular_values(sv, a, m, n), LINALG_OK);
	assert_close(s, sv, k, 1e-13, sv[0]);
	for (int i = 0; i < m; i++) /* a == u diag(s) vt */
		for (int j = 0; j < n; j++) {
			double acc = 0;
			for (int t = 0; t < k; t++)
				acc += u[i * k + t] * s[t] * vt[t * n + j];
			ck_assert_double_eq_tol(acc, a[i * n + j], 1e-12 * s[0]);
		}
	for (int p = 0; p < k; p++) /* u^T u == I, vt vt^T == I */
		for (int q = 0; q < k; q++) {
			double uu = 0, vv = 0;
			for (int i = 0; i < m; i++)
				uu += u[i * k + p] * u[i * k + q];
			for (int j = 0; j < n; j++)
				vv += vt[p * n + j] * vt[q * n + j];
			ck_assert_double_eq_tol(uu, p == q, 1e-12);
			ck_assert_double_eq_tol(vv, p == q, 1e-12);
		}
	free(vt);
	free(u);
	free(sv);
	free(s);
	free(a);
}
END_TEST

/* ---- Gram and eigenvalues ---- */

START_TEST(test_gram_vs_naive)
{
	/* 600 rows spans several 256-row blocks. */
	static const int shapes[][2] = {{600, 17}, {5, 40}, {1, 1}, {256, 8}, {257, 8}};
	int m = shapes[_i][0], n = shapes[_i][1];
	struct lcg g = {(uint64_t)(900 + _i)};
	float *a = random_matrix(&g, m, n);
	double *gf = xmalloc_doubles((size_t)n * n), *gn = xmalloc_doubles((size_t)n * n);
	ck_assert_int_eq(linalg_gram(gf, a, m, n), LINALG_OK);
	ck_assert_int_eq(linalg_gram_naive(gn, a, m, n), LINALG_OK);
	assert_close(gf, gn, n * n, 1e-13, (double)m);
	for (int i = 0; i < n; i++) /* both triangles written */
		for (int j = 0; j < n; j++)
			ck_assert_double_eq(gf[i * n + j], gf[j * n + i]);
	free(gn);
	free(gf);
	free(a);
}
END_TEST

/* Gram of the rows listed in keep (with multiplicity `weight`). */
static void gram_of_rows(double *g, const float *a, const int *mult, int m, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double acc = 0;
			for (int r = 0; r < m; r++)
				acc += mult[r] * (double)a[r * n + i] * (double)a[r * n + j];
			g[i * n + j] = acc;
		}
}

START_TEST(test_gram_update)
{
	const int m = 700, n = 9;
	struct lcg g = {31337};
	float *a = random_matrix(&g, m, n);
	double *gu = xmalloc_doubles((size_t)n * n), *want = xmalloc_doubles((size_t)n * n);
	int *mult = malloc(m * sizeof(int)), *rows = malloc(m * sizeof(int));
	ck_assert_ptr_nonnull(mult);
	ck_assert_ptr_nonnull(rows);

	/* Downdate: remove 300 rows (two blocks' worth) from the full Gram; the
	 * lower triangle is poisoned to check only the upper one is read. */
	ck_assert_int_eq(linalg_gram(gu, a, m, n), LINALG_OK);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			gu[i * n + j] = NAN;
	for (int r = 0; r < m; r++)
		mult[r] = 1;
	for (int i = 0; i < 300; i++) {
		rows[i] = (i * 11 + 3) % m; /* 11 is coprime to 700: distinct rows */
		mult[rows[i]] = 0;
	}
	ck_assert_int_eq(linalg_gram_update(gu, a, rows, 300, m, n, -1.0), LINALG_OK);
	gram_of_rows(want, a, mult, m, n);
	assert_close(gu, want, n * n, 1e-12, (double)m);

	/* Weighted update with a repeated row: alpha 2.5 on rows {1, 1, 4}. */
	const int rep[3] = {1, 1, 4};
	ck_assert_int_eq(linalg_gram_update(gu, a, rep, 3, m, n, 2.5), LINALG_OK);
	double *extra = xmalloc_doubles((size_t)n * n);
	for (int r = 0; r < m; r++)
		mult[r] = 0;
	mult[1] = 2;
	mult[4] = 1;
	gram_of_rows(extra, a, mult, m, n);
	for (int i = 0; i < n * n; i++)
		want[i] += 2.5 * extra[i];
	assert_close(gu, want, n * n, 1e-12, (double)m);

	/* n_rows == 0 (rows may be NULL) only symmetrises. */
	gu[1 * n + 0] = 1e9;
	ck_assert_int_eq(linalg_gram_update(gu, a, NULL, 0, m, n, 1.0), LINALG_OK);
	ck_assert_double_eq(gu[1 * n + 0], gu[0 * n + 1]);

	free(extra);
	free(rows);
	free(mult);
	free(want);
	free(gu);
	free(a);
}
END_TEST

START_TEST(test_sym_eigvals)
{
	/* Diagonal with shuffled entries, lower triangle poisoned. */
	const int n = 5;
	double gd[25] = {0}, w[5];
	const double diag[5] = {2, -1, 7, 0, 3}, want[5] = {7, 3, 2, 0, -1};
	for (int i = 0; i < n; i++) {
		gd[i * n + i] = diag[i];
		for (int j = 0; j < i; j++)
			gd[i * n + j] = NAN;
	}
	ck_assert_int_eq(linalg_sym_eigvals(w, gd, n), LINALG_OK);
	assert_close(w, want, n, 1e-15, 7);

	/* Gram of Q1 diag(d) Q2^T: eigenvalues d^2 (to f32 rounding of a), and
	 * squares of the Jacobi singular values of the same f32 matrix. */
	const int m = 9, c = 6;
	struct lcg g = {4242};
	double q1[81], q2[36], d[6], gg[36], ev[6], sj[6];
	random_orthogonal(q1, &g, m);
	random_orthogonal(q2, &g, c);
	for (int t = 0; t < c; t++)
		d[t] = 4.0 - 0.5 * t;
	float a[54];
	for (int i = 0; i < m; i++)
		for (int j = 0; j < c; j++) {
			double acc = 0;
			for (int t = 0; t < c; t++)
				acc += q1[i * m + t] * d[t] * q2[j * c + t];
			a[i * c + j] = (float)acc;
		}
	ck_assert_int_eq(linalg_gram(gg, a, m, c), LINALG_OK);
	ck_assert_int_eq(linalg_sym_eigvals(ev, gg, c), LINALG_OK);
	ck_assert_int_eq(linalg_singular_values_jacobi(sj, a, m, c), LINALG_OK);
	for (int t = 0; t < c; t++) {
		ck_assert_double_eq_tol(ev[t], d[t] * d[t], 1e-5);
		ck_assert_double_eq_tol(ev[t], sj[t] * sj[t], 1e-12 * 16);
	}
}
END_TEST

/* G v_i = lambda_i v_i with unit v_i, descending lambda, matching linalg_sym_eigvals; and the
 * leading right singular vector of a rank-1 matrix u vᵀ is ±v/|v| (hand-checkable). */
START_TEST(test_sym_eig)
{
	enum { N = 5 };
	double g[N * N], g2[N * N], w[N], w2[N], v[N * N];
	for (int i = 0; i < N; i++)
		for (int j = i; j < N; j++)
			g[i * N + j] = g[j * N + i] = 1.0 / (1 + i + j) + (i == j ? 2.0 * i : 0.0);
	memcpy(g2, g, sizeof g);
	double orig[N * N];
	memcpy(orig, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eig(w, v, g, N), LINALG_OK);
	ck_assert_int_eq(linalg_sym_eigvals(w2, g2, N), LINALG_OK);
	for (int i = 0; i < N; i++) {
		ck_assert_double_eq_tol(w[i], w2[i], 1e-12);
		if (i)
			ck_assert(w[i - 1] >= w[i]);
		double norm = 0;
		for (int a = 0; a < N; a++) {
			double gv = 0;
			for (int b = 0; b < N; b++)
				gv += orig[a * N + b] * v[i * N + b];
			ck_assert_double_eq_tol(gv, w[i] * v[i * N + a], 1e-10);
			norm += v[i * N + a] * v[i * N + a];
		}
		ck_assert_double_eq_tol(norm, 1.0, 1e-12);
	}
	/* rank 1: a = u vᵀ with u = (1, 2), vv = (3, 0, 4): WᵀW = |u|² vv vvᵀ, top eigvec ±(0.6, 0, 0.8) */
	const float a[6] = {3, 0, 4, 6, 0, 8};
	double gg[9], ww[3], vv[9];
	ck_assert_int_eq(linalg_gram(gg, a, 2, 3), LINALG_OK);
	ck_assert_int_eq(linalg_sym_eig(ww, vv, gg, 3), LINALG_OK);
	ck_assert_double_eq_tol(ww[0], 125.0, 1e-9); /* |u|² |vv|² = 5 · 25 */
	ck_assert_double_eq_tol(fabs(vv[0]), 0.6, 1e-12);
	ck_assert_double_eq_tol(fabs(vv[1]), 0.0, 1e-12);
	ck_assert_double_eq_tol(fabs(vv[2]), 0.8, 1e-12);
	ck_assert_int_eq(linalg_sym_eig(NULL, vv, gg, 3), LINALG_ERR_ARG);
	gg[1] = NAN;
	ck_assert_int_eq(linalg_sym_eig(ww, vv, gg, 3), LINALG_ERR_NONFINITE);
}
END_TEST

/* The top r eigenpairs agree with the full decomposition's first r (values to 1e-10 relative,
 * vectors up to sign), for r = 1, a few, n - 1 and n, on a matrix with distinct eigenvalues;
 * r outside [1, n] is refused. */
static const int top_r[] = {1, 3, 23, 24};

START_TEST(test_sym_eig_top)
{
	enum { N = 24 };
	static double g[N * N], a[N * N], w[N], v[N * N], wt[N], vt[N * N];
	struct pcg32 rng;
	pcg32_seed(&rng, 7, 1);
	for (int i = 0; i < N; i++)
		for (int j = i; j < N; j++)
			g[i * N + j] = g[j * N + i] = pcg32_normal(&rng) + (i == j ? 3.0 * i : 0.0);
	memcpy(a, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eig(w, v, a, N), LINALG_OK);
	int r = top_r[_i];
	memcpy(a, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eig_top(wt, vt, a, N, r), LINALG_OK);
	for (int i = 0; i < r; i++) {
		ck_assert_double_eq_tol(wt[i], w[i], 1e-10 * fabs(w[0]));
		double dot = 0;
		for (int k = 0; k < N; k++)
			dot += vt[i * N + k] * v[i * N + k];
		ck_assert_double_eq_tol(fabs(dot), 1.0, 1e-9);
	}
	memcpy(a, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eig_top(wt, vt, a, N, 0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_sym_eig_top(wt, vt, a, N, N + 1), LINALG_ERR_ARG);
}
END_TEST

/* One reduction for both: all eigenvalues equal linalg_sym_eigvals' (1e-12 relative), the top r
 * pairs equal linalg_sym_eig_top's (values 1e-10 relative, vectors up to sign), for the same
 * r as above; the lower triangle is never read (poisoned); r outside [1, n] and NaN refused. */
START_TEST(test_sym_eig_split)
{
	enum { N = 24 };
	static double g[N * N], a[N * N], w[N], wt[N], vt[N * N], all[N], top[N], v[N * N];
	struct pcg32 rng;
	pcg32_seed(&rng, 11, 3);
	for (int i = 0; i < N; i++)
		for (int j = i; j < N; j++)
			g[i * N + j] = g[j * N + i] = pcg32_normal(&rng) + (i == j ? 2.5 * i : 0.0);
	int r = top_r[_i];
	memcpy(a, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eigvals(w, a, N), LINALG_OK);
	memcpy(a, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eig_top(wt, vt, a, N, r), LINALG_OK);
	memcpy(a, g, sizeof g);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < i; j++)
			a[i * N + j] = NAN;
	ck_assert_int_eq(linalg_sym_eig_split(all, top, v, a, N, r), LINALG_OK);
	for (int i = 0; i < N; i++) {
		ck_assert_double_eq_tol(all[i], w[i], 1e-12 * fabs(w[0]));
		if (i)
			ck_assert(all[i - 1] >= all[i]);
	}
	for (int i = 0; i < r; i++) {
		ck_assert_double_eq_tol(top[i], wt[i], 1e-10 * fabs(w[0]));
		double dot = 0;
		for (int k = 0; k < N; k++)
			dot += vt[i * N + k] * v[i * N + k];
		ck_assert_double_eq_tol(fabs(dot), 1.0, 1e-9);
	}
	memcpy(a, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eig_split(all, top, v, a, N, 0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_sym_eig_split(all, top, v, a, N, N + 1), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_sym_eig_split(all, NULL, v, a, N, r), LINALG_ERR_ARG);
	a[1] = INFINITY;
	ck_assert_int_eq(linalg_sym_eig_split(all, top, v, a, N, r), LINALG_ERR_NONFINITE);
}
END_TEST

/* The top pairs of linalg_sym_eig_split are eigenpairs, orthonormal, with the values of w, on
 * matrices that take each vector route: a dense one (inverse iteration), one with a cluster of
 * values 1e-9 apart (inverse iteration must orthogonalise them against each other) and a
 * block-diagonal one (the tridiagonal splits: MRRR). */
enum { SPLIT_DENSE, SPLIT_CLUSTER, SPLIT_BLOCKS };

static void split_case_matrix(double *g, int kind, int n)
{
	struct lcg rng = {(uint64_t)(900 + kind)};
	double *q = malloc((size_t)n * n * sizeof *q);
	ck_assert_ptr_nonnull(q);
	random_orthogonal(q, &rng, n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double acc = 0;
			for (int t = 0; t < n; t++) {
				double lam = kind == SPLIT_CLUSTER && t < 4 ? 50 + 1e-9 * t : 1.0 + t;
				acc += q[i * n + t] * lam * q[j * n + t];
			}
			g[i * n + j] = acc;
		}
	if (kind == SPLIT_BLOCKS)
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				if ((i < n / 2) != (j < n / 2))
					g[i * n + j] = 0;
	free(q);
}

START_TEST(test_sym_eig_split_pairs)
{
	enum { N = 40, R = 7 };
	static double g[N * N], a[N * N], w[N], top[R], v[R * N];
	split_case_matrix(g, _i, N);
	memcpy(a, g, sizeof g);
	ck_assert_int_eq(linalg_sym_eig_split(w, top, v, a, N, R), LINALG_OK);
	double scale = fabs(w[0]);
	for (int i = 0; i < R; i++) {
		ck_assert_double_eq_tol(top[i], w[i], 1e-12 * scale);
		for (int row = 0; row < N; row++) {
			double gv = 0;
			for (int k = 0; k < N; k++)
				gv += g[row * N + k] * v[i * N + k];
			ck_assert_double_eq_tol(gv, top[i] * v[i * N + row], 1e-10 * scale);
		}
		for (int j = 0; j <= i; j++) {
			double dot = 0;
			for (int k = 0; k < N; k++)
				dot += v[i * N + k] * v[j * N + k];
			ck_assert_double_eq_tol(dot, i == j ? 1.0 : 0.0, 1e-10);
		}
	}
}
END_TEST

START_TEST(test_threads)
{
	int before = linalg_get_threads();
	ck_assert_int_ge(before, 1);
	linalg_set_threads(1);
	ck_assert_int_eq(linalg_get_threads(), 1);
	linalg_set_threads(0); /* clamped to 1 */
	ck_assert_int_eq(linalg_get_threads(), 1);
	linalg_set_threads(before);
	ck_assert_int_eq(linalg_get_threads(), before);
}
END_TEST

/* ---- linalg errors ---- */

START_TEST(test_linalg_errors)
{
	float a[6] = {1, 2, 3, 4, 5, 6}, bad[6] = {1, 2, NAN, 4, 5, 6}, inf[6] = {1, 2, 3, 4, 5, INFINITY};
	double s[3] = {-7, -7, -7}, u[6], vt[9], g[9], w[3];
	const int rows_ok[1] = {0}, rows_bad[1] = {2}, rows_neg[1] = {-1}, rows_nan[1] = {0};

	ck_assert_int_eq(linalg_singular_values(NULL, a, 2, 3), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_singular_values(s, NULL, 2, 3), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_singular_values(s, a, 0, 3), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_singular_values(s, a, 2, -1), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_singular_values(s, bad, 2, 3), LINALG_ERR_NONFINITE);
	ck_assert_int_eq(linalg_singular_values(s, inf, 2, 3), LINALG_ERR_NONFINITE);
	/* INT_MAX^2 doubles overflow size_t: rejected before a is read. */
	ck_assert_int_eq(linalg_singular_values(s, a, INT_MAX, INT_MAX), LINALG_ERR_OVERFLOW);
	ck_assert_double_eq(s[0], -7); /* outputs untouched on error */

	ck_assert_int_eq(linalg_svd_full(s, NULL, vt, a, 2, 3), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_svd_full(s, u, vt, bad, 2, 3), LINALG_ERR_NONFINITE);
	ck_assert_int_eq(linalg_svd_full(s, u, vt, a, INT_MAX, INT_MAX), LINALG_ERR_OVERFLOW);
	ck_assert_int_eq(linalg_singular_values_jacobi(s, bad, 2, 3), LINALG_ERR_NONFINITE);
	ck_assert_int_eq(linalg_singular_values_jacobi(s, a, 0, 3), LINALG_ERR_ARG);
	ck_assert_double_eq(s[0], -7);

	for (int i = 0; i < 9; i++)
		g[i] = -3;
	ck_assert_int_eq(linalg_gram(NULL, a, 2, 3), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_gram(g, a, 2, 0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_gram(g, bad, 2, 3), LINALG_ERR_NONFINITE);
	ck_assert_int_eq(linalg_gram_naive(g, NULL, 2, 3), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_gram_update(g, a, rows_bad, 1, 2, 3, 1.0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_gram_update(g, a, rows_neg, 1, 2, 3, 1.0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_gram_update(g, a, NULL, 1, 2, 3, 1.0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_gram_update(g, a, rows_ok, -1, 2, 3, 1.0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_gram_update(g, bad, rows_nan, 1, 2, 3, 1.0), LINALG_ERR_NONFINITE);
	for (int i = 0; i < 9; i++) /* g untouched by the failed calls */
		ck_assert_double_eq(g[i], -3);
	/* A NaN in a row that is not listed does not matter. */
	const int row1[1] = {1};
	ck_assert_int_eq(linalg_gram_update(g, bad, row1, 1, 2, 3, 1.0), LINALG_OK);
	ck_assert_double_eq(g[0], -3 + 16);

	double gs[4] = {1, NAN, 0, 1}; /* NaN in the upper triangle */
	ck_assert_int_eq(linalg_sym_eigvals(w, gs, 2), LINALG_ERR_NONFINITE);
	ck_assert_int_eq(linalg_sym_eigvals(w, gs, 0), LINALG_ERR_ARG);
	ck_assert_int_eq(linalg_sym_eigvals(NULL, gs, 2), LINALG_ERR_ARG);
}
END_TEST

START_TEST(test_linalg_strerror)
{
	const int codes[] = {LINALG_OK, LINALG_ERR_ARG, LINALG_ERR_OVERFLOW, LINALG_ERR_NOMEM,
			     LINALG_ERR_NONFINITE, LINALG_ERR_LAPACK_ARG, LINALG_ERR_NO_CONVERGENCE};
	const int n = (int)(sizeof(codes) / sizeof(codes[0]));
	for (int i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(linalg_strerror(codes[i]));
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(linalg_strerror(codes[i]), linalg_strerror(codes[j]));
		ck_assert_str_ne(linalg_strerror(codes[i]), linalg_strerror(-999));
	}
}
END_TEST

/* ---- spectrum ---- */

/* keep mask with exactly k of m rows, chosen by a partial Fisher-Yates. */
static void random_keep(unsigned char *keep, struct lcg *g, int m, int k)
{
	int *idx = malloc((size_t)m * sizeof(int));
	ck_assert_ptr_nonnull(idx);
	for (int i = 0; i < m; i++)
		idx[i] = i;
	for (int i = 0; i < k; i++) {
		int j = i + (int)(lcg_uniform(g) * (m - i));
		int t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	memset(keep, 0, (size_t)m);
	for (int i = 0; i < k; i++)
		keep[idx[i]] = 1;
	free(idx);
}

static float *gather_rows(const float *w, const unsigned char *keep, int m, int n, int k)
{
	float *sub = malloc((size_t)k * n * sizeof(float));
	ck_assert_ptr_nonnull(sub);
	int at = 0;
	for (int r = 0; r < m; r++)
		if (keep[r])
			memcpy(sub + (size_t)at++ * n, w + (size_t)r * n, (size_t)n * sizeof(float));
	ck_assert_int_eq(at, k);
	return sub;
}

/* k kept of 40 rows, 12 cols: 30 (downdate), 21 (downdate, 19 removed),
 * 20 (rebuild: removed == kept), 12 (rebuild, k == cols), 8 (k < cols),
 * 1, 40 (everything kept). */
static const int keep_counts[] = {30, 21, 20, 12, 8, 1, 40};

START_TEST(test_spectrum_routes_agree)
{
	const int m = 40, n = 12, k = keep_counts[_i], nk = k < n ? k : n;
	struct lcg g = {(uint64_t)(1000 + _i)};
	float *w = random_matrix(&g, m, n);
	unsigned char keep[40];
	random_keep(keep, &g, m, k);
	struct spectrum *ss = NULL, *sg = NULL;
	ck_assert_int_eq(spectrum_new(&ss, w, m, n, SPECTRUM_ROUTE_SVD), SPECTRUM_OK);
	ck_assert_int_eq(spectrum_new(&sg, w, m, n, SPECTRUM_ROUTE_GRAM), SPECTRUM_OK);
	double ks_s = -1, ks_g = -1, sv_s[12], sv_g[12];
	ck_assert_int_eq(spectrum_ks(ss, keep, &ks_s, sv_s), SPECTRUM_OK);
	ck_assert_int_eq(spectrum_ks(sg, keep, &ks_g, sv_g), SPECTRUM_OK);
	assert_descending(sv_s, nk);
	assert_descending(sv_g, nk);
	for (int i = 0; i < nk; i++) /* ~1e-8 relative, per value */
		ck_assert_double_eq_tol(sv_g[i], sv_s[i], 1e-8 * sv_s[i]);
	ck_assert_double_eq(ks_g, ks_s);
	ck_assert(ks_s >= 0 && ks_s <= 1);
	if (k == m) {
		int no;
		const double *so = spectrum_orig(ss, &no);
		ck_assert_int_eq(no, n);
		assert_close(sv_s, so, n, 0, 1);
		ck_assert_double_eq(ks_s, 0);
	}
	spectrum_free(sg);
	spectrum_free(ss);
	free(w);
}
END_TEST

/* spectrum_new_gram, fed what a layer's shared setup computes (the Gram and its eigenvalues from
 * linalg_sym_eig_split), gives spectrum_new(GRAM)'s values and the same KS for every keep count;
 * a NULL Gram or eigenvalue array is refused. */
START_TEST(test_spectrum_new_gram)
{
	const int m = 40, n = 12, k = keep_counts[_i], nk = k < n ? k : n;
	struct lcg g = {(uint64_t)(3000 + _i)};
	float *w = random_matrix(&g, m, n);
	unsigned char keep[40];
	random_keep(keep, &g, m, k);
	double *gram = malloc((size_t)n * n * sizeof *gram), work[144], eig[12], top[12], v[144];
	ck_assert_ptr_nonnull(gram);
	ck_assert_int_eq(linalg_gram(gram, w, m, n), LINALG_OK);
	memcpy(work, gram, sizeof work);
	ck_assert_int_eq(linalg_sym_eig_split(eig, top, v, work, n, 2), LINALG_OK);
	struct spectrum *sg = NULL, *sh = NULL;
	ck_assert_int_eq(spectrum_new_gram(&sh, w, m, n, NULL, eig), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_new_gram(&sh, w, m, n, gram, NULL), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_new_gram(&sh, w, m, n, gram, eig), SPECTRUM_OK); /* owns gram */
	ck_assert_int_eq(spectrum_new(&sg, w, m, n, SPECTRUM_ROUTE_GRAM), SPECTRUM_OK);
	int na, nb;
	const double *oa = spectrum_orig(sg, &na), *ob = spectrum_orig(sh, &nb);
	ck_assert_int_eq(na, nb);
	for (int i = 0; i < na; i++)
		ck_assert_double_eq_tol(ob[i], oa[i], 1e-12 * oa[0]);
	double ks_g = -1, ks_h = -1, sv_g[12], sv_h[12];
	ck_assert_int_eq(spectrum_ks(sg, keep, &ks_g, sv_g), SPECTRUM_OK);
	ck_assert_int_eq(spectrum_ks(sh, keep, &ks_h, sv_h), SPECTRUM_OK);
	assert_close(sv_h, sv_g, nk, 0, 1);
	ck_assert_double_eq(ks_h, ks_g);
	spectrum_free(sh);
	spectrum_free(sg);
	free(w);
}
END_TEST

/* spectrum_ks == KS of directly computed singular values: the LAPACK values
 * with ks_2samp, and independently the Jacobi values with the naive KS. */
START_TEST(test_spectrum_ks_direct)
{
	const int m = 40, n = 12, k = keep_counts[_i], nk = k < n ? k : n;
	struct lcg g = {(uint64_t)(2000 + _i)};
	float *w = random_matrix(&g, m, n);
	unsigned char keep[40];
	random_keep(keep, &g, m, k);
	float *sub = gather_rows(w, keep, m, n, k);
	double s_all[12], s_sub[12], j_all[12], j_sub[12];
	ck_assert_int_eq(linalg_singular_values(s_all, w, m, n), LINALG_OK);
	ck_assert_int_eq(linalg_singular_values(s_sub, sub, k, n), LINALG_OK);
	ck_assert_int_eq(linalg_singular_values_jacobi(j_all, w, m, n), LINALG_OK);
	ck_assert_int_eq(linalg_singular_values_jacobi(j_sub, sub, k, n), LINALG_OK);
	double want = ks_2samp(s_all, n, s_sub, nk);
	ck_assert_double_eq(ks_2samp_naive(j_all, n, j_sub, nk), want);
	if (k < m)
		ck_assert(want > 0); /* a real difference to detect */
	for (int route = 0; route < 2; route++) {
		struct spectrum *sp = NULL;
		ck_assert_int_eq(spectrum_new(&sp, w, m, n, (enum spectrum_route)route), SPECTRUM_OK);
		int no = 0;
		const double *so = spectrum_orig(sp, &no);
		ck_assert_int_eq(no, n);
		assert_close(so, j_all, n, 1e-12, j_all[0]);
		double ks = -1;
		ck_assert_int_eq(spectrum_ks(sp, keep, &ks, NULL), SPECTRUM_OK);
		ck_assert_double_eq(ks, want);
		spectrum_free(sp);
	}
	free(sub);
	free(w);
}
END_TEST

/* Integer W = A B with A (40, 5), B (5, 12) small integers: exact in f32 and
 * of rank exactly 5, so 7 of its 12 singular values are zero. Both routes
 * must snap the rounding noise to exact zeros in W and in W[kept], and then
 * agree on the KS statistic. */
START_TEST(test_spectrum_rank_deficient)
{
	const int m = 40, n = 12, r = 5;
	struct lcg g = {555};
	float a[40 * 5], b[5 * 12], w[40 * 12];
	for (int i = 0; i < m * r; i++)
		a[i] = (float)((int)(lcg_uniform(&g) * 7) - 3);
	for (int i = 0; i < r * n; i++)
		b[i] = (float)((int)(lcg_uniform(&g) * 7) - 3);
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			float acc = 0;
			for (int t = 0; t < r; t++)
				acc += a[i * r + t] * b[t * n + j];
			w[i * n + j] = acc;
		}
	static const int counts[] = {30, 15, 9};
	for (int c = 0; c < 3; c++) {
		int k = counts[c], nk = k < n ? k : n;
		unsigned char keep[40];
		random_keep(keep, &g, m, k);
		double ks[2], sv[2][12];
		for (int route = 0; route < 2; route++) {
			struct spectrum *sp = NULL;
			ck_assert_int_eq(spectrum_new(&sp, w, m, n, (enum spectrum_route)route),
					 SPECTRUM_OK);
			int no = 0;
			const double *so = spectrum_orig(sp, &no);
			for (int i = 0; i < n; i++)
				ck_assert(i < r ? so[i] > 1e-3 * so[0] : so[i] == 0);
			ck_assert_int_eq(spectrum_ks(sp, keep, &ks[route], sv[route]), SPECTRUM_OK);
			for (int i = 0; i < nk; i++) /* W[kept] has rank 5 as well */
				ck_assert(i < r ? sv[route][i] > 1e-3 * sv[route][0] : sv[route][i] == 0);
			spectrum_free(sp);
		}
		ck_assert_double_eq(ks[0], ks[1]);
		for (int i = 0; i < r; i++)
			ck_assert_double_eq_tol(sv[1][i], sv[0][i], 1e-8 * sv[0][i]);
	}
}
END_TEST

START_TEST(test_spectrum_errors)
{
	float w[6] = {1, 2, 3, 4, 5, 6}, bad[6] = {1, NAN, 3, 4, 5, 6};
	struct spectrum *sp = (struct spectrum *)&w; /* must stay untouched */
	ck_assert_int_eq(spectrum_new(NULL, w, 2, 3, SPECTRUM_ROUTE_SVD), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_new(&sp, NULL, 2, 3, SPECTRUM_ROUTE_SVD), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_new(&sp, w, 0, 3, SPECTRUM_ROUTE_SVD), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_new(&sp, w, 2, -3, SPECTRUM_ROUTE_GRAM), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_new(&sp, w, 2, 3, (enum spectrum_route)7), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_new(&sp, bad, 2, 3, SPECTRUM_ROUTE_SVD), LINALG_ERR_NONFINITE);
	ck_assert_int_eq(spectrum_new(&sp, bad, 2, 3, SPECTRUM_ROUTE_GRAM), LINALG_ERR_NONFINITE);
	ck_assert_ptr_eq(sp, (struct spectrum *)&w);

	sp = NULL;
	ck_assert_int_eq(spectrum_new(&sp, w, 2, 3, SPECTRUM_ROUTE_GRAM), SPECTRUM_OK);
	const unsigned char none[2] = {0, 0}, one[2] = {0, 3};
	double ks = -5, sv[2] = {-5, -5};
	ck_assert_int_eq(spectrum_ks(sp, none, &ks, sv), SPECTRUM_ERR_EMPTY);
	ck_assert_int_eq(spectrum_ks(NULL, one, &ks, sv), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_ks(sp, NULL, &ks, sv), SPECTRUM_ERR_ARG);
	ck_assert_int_eq(spectrum_ks(sp, one, NULL, sv), SPECTRUM_ERR_ARG);
	ck_assert_double_eq(ks, -5);
	ck_assert_double_eq(sv[0], -5);
	/* Any nonzero byte keeps a row: row (4, 5, 6) alone, sigma = sqrt(77). */
	ck_assert_int_eq(spectrum_ks(sp, one, &ks, sv), SPECTRUM_OK);
	ck_assert_double_eq_tol(sv[0], sqrt(77.0), 1e-12);
	ck_assert_double_eq(sv[1], -5); /* only min(k, cols) = 1 written */
	/* One value (sqrt 77) vs W's two: it lies between them, D = 1/2. */
	ck_assert_double_eq(ks, 0.5);
	spectrum_free(sp);
	spectrum_free(NULL);

	const int codes[] = {SPECTRUM_OK, SPECTRUM_ERR_ARG, SPECTRUM_ERR_NOMEM, SPECTRUM_ERR_EMPTY,
			     LINALG_ERR_NONFINITE};
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(spectrum_strerror(codes[i]), spectrum_strerror(codes[j]));
	ck_assert_str_eq(spectrum_strerror(LINALG_ERR_NONFINITE), linalg_strerror(LINALG_ERR_NONFINITE));
}
END_TEST

static Suite *linalg_suite(void)
{
	Suite *s = suite_create("linalg");
	TCase *tc = tcase_create("linalg");
	tcase_add_test(tc, test_sv_diagonal);
	tcase_add_test(tc, test_sv_orthogonal_times_diag);
	tcase_add_test(tc, test_sv_rank_deficient);
	const int n_shapes = (int)(sizeof(random_shapes) / sizeof(random_shapes[0]));
	tcase_add_loop_test(tc, test_sv_vs_jacobi, 0, n_shapes);
	tcase_add_loop_test(tc, test_svd_full, 0, n_shapes);
	tcase_add_loop_test(tc, test_gram_vs_naive, 0, 5);
	tcase_add_test(tc, test_gram_update);
	tcase_add_test(tc, test_sym_eig);
	tcase_add_loop_test(tc, test_sym_eig_top, 0, (int)(sizeof top_r / sizeof top_r[0]));
	tcase_add_test(tc, test_sym_eigvals);
	tcase_add_loop_test(tc, test_sym_eig_split, 0, (int)(sizeof top_r / sizeof top_r[0]));
	tcase_add_loop_test(tc, test_sym_eig_split_pairs, SPLIT_DENSE, SPLIT_BLOCKS + 1);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_linalg_errors);
	tcase_add_test(tc, test_linalg_strerror);
	suite_add_tcase(s, tc);

	TCase *ts = tcase_create("spectrum");
	const int n_counts = (int)(sizeof(keep_counts) / sizeof(keep_counts[0]));
	tcase_add_loop_test(ts, test_spectrum_routes_agree, 0, n_counts);
	tcase_add_loop_test(ts, test_spectrum_ks_direct, 0, n_counts);
	tcase_add_loop_test(ts, test_spectrum_new_gram, 0, n_counts);
	tcase_add_test(ts, test_spectrum_rank_deficient);
	tcase_add_test(ts, test_spectrum_errors);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	return testutil_run(linalg_suite(), false);
}
