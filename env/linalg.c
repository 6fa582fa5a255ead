/* linalg: LAPACKE/OpenBLAS wrappers in double precision, plus the naive
 * references the tests hold them to. The only file including lapacke.h and
 * cblas.h.
 *
 * Row-major trick: a row-major (m, n) buffer is the column-major (n, m)
 * matrix a^T. Singular values and symmetric eigenvalues do not care, so the
 * LAPACK calls run in column-major on the transposed view and LAPACKE never
 * has to transpose a copy. For the full SVD, a^T = V S U^T: LAPACK's "U" of
 * a^T, stored column-major (n, k), is exactly row-major V^T (k, n), and its
 * "VT", column-major (k, m), is row-major U (m, k). */
#include "linalg.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

/* Rows converted to double per dsyrk call: 256 x 4096 doubles = 8 MiB. */
enum { GRAM_BLOCK_ROWS = 256, JACOBI_MAX_SWEEPS = 100 };

const char *linalg_strerror(int err)
{
	switch (err) {
	case LINALG_OK:
		return "success";
	case LINALG_ERR_ARG:
		return "invalid argument (NULL pointer, non-positive dimension or row index out of range)";
	case LINALG_ERR_OVERFLOW:
		return "matrix size overflows";
	case LINALG_ERR_NOMEM:
		return "out of memory";
	case LINALG_ERR_NONFINITE:
		return "matrix holds NaN or Inf";
	case LINALG_ERR_LAPACK_ARG:
		return "LAPACK rejected an argument";
	case LINALG_ERR_NO_CONVERGENCE:
		return "LAPACK did not converge";
	default:
		return "unknown linalg error";
	}
}

void linalg_set_threads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

int linalg_get_threads(void)
{
	return openblas_get_num_threads();
}

static int lapack_status(lapack_int info)
{
	if (info == 0)
		return LINALG_OK;
	if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
		return LINALG_ERR_NOMEM;
	return info < 0 ? LINALG_ERR_LAPACK_ARG : LINALG_ERR_NO_CONVERGENCE;
}

/* *out = malloc(a * b doubles), with the multiplication checked. */
static int alloc_doubles(double **out, size_t a, size_t b)
{
	if (b != 0 && a > SIZE_MAX / sizeof(double) / b)
		return LINALG_ERR_OVERFLOW;
	double *p = malloc(a * b * sizeof(double) + (a * b == 0));
	if (!p)
		return LINALG_ERR_NOMEM;
	*out = p;
	return LINALG_OK;
}

static int floats_finite(const float *x, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!isfinite(x[i]))
			return 0;
	return 1;
}

/* dst = (double)src; LINALG_ERR_NONFINITE (dst partly written) on NaN/Inf. */
static int to_double(double *dst, const float *src, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (!isfinite(src[i]))
			return LINALG_ERR_NONFINITE;
		dst[i] = src[i];
	}
	return LINALG_OK;
}

/* Upper triangle of g (n, n) row-major finite: LINALG_OK, else LINALG_ERR_NONFINITE. */
static int upper_finite(const double *g, size_t nn)
{
	for (size_t i = 0; i < nn; i++)
		for (size_t j = i; j < nn; j++)
			if (!isfinite(g[i * nn + j]))
				return LINALG_ERR_NONFINITE;
	return LINALG_OK;
}

/* Copies the upper triangle of g (n, n) onto the lower one. */
static void mirror_upper(double *g, int n)
{
	size_t nn = (size_t)n;
	for (size_t i = 0; i < nn; i++)
		for (size_t j = i + 1; j < nn; j++)
			g[j * nn + i] = g[i * nn + j];
}

int linalg_singular_values(double *s, const float *a, int m, int n)
{
	if (!s || !a || m <= 0 || n <= 0)
		return LINALG_ERR_ARG;
	int k = m < n ? m : n;
	double *buf = NULL, *st = NULL;
	int err = alloc_doubles(&buf, (size_t)m, (size_t)n);
	if (err)
		goto out;
	err = alloc_doubles(&st, (size_t)k, 1);
	if (err)
		goto out;
	err = to_double(buf, a, (size_t)m * (size_t)n);
	if (err)
		goto out;
	/* Column-major (n, m) view = a^T; jobz 'N' never touches u/vt. */
	err = lapack_status(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', n, m, buf, n, st,
					   NULL, 1, NULL, 1));
	if (err)
		goto out;
	memcpy(s, st, (size_t)k * sizeof(double));
out:
	free(st);
	free(buf);
	return err;
}

int linalg_svd_full(double *s, double *u, double *vt, const float *a, int m, int n)
{
	if (!s || !u || !vt || !a || m <= 0 || n <= 0)
		return LINALG_ERR_ARG;
	int k = m < n ? m : n;
	double *buf = NULL;
	int err = alloc_doubles(&buf, (size_t)m, (size_t)n);
	if (err)
		goto out;
	err = to_double(buf, a, (size_t)m * (size_t)n);
	if (err)
		goto out;
	/* See the file comment: LAPACK's U of a^T is our vt, its VT our u. */
	err = lapack_status(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', n, m, buf, n, s,
					   vt, n, u, k));
out:
	free(buf);
	return err;
}

/* g (+)= alpha * blk^T blk for blk (b, n) row-major, upper triangle only. */
static void syrk_upper(double *g, const double *blk, int b, int n, double alpha, double beta)
{
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, b, alpha, blk, n, beta, g, n);
}

int linalg_gram(double *g, const float *a, int m, int n)
{
	if (!g || !a || m <= 0 || n <= 0)
		return LINALG_ERR_ARG;
	size_t nn = (size_t)n;
	int bmax = m < GRAM_BLOCK_ROWS ? m : GRAM_BLOCK_ROWS;
	double *blk = NULL;
	int err = alloc_doubles(&blk, (size_t)bmax, nn);
	if (err)
		goto out;
	if (nn > SIZE_MAX / sizeof(double) / nn) {
		err = LINALG_ERR_OVERFLOW;
		goto out;
	}
	/* Validate everything first so g is untouched on error. */
	if (!floats_finite(a, (size_t)m * nn)) {
		err = LINALG_ERR_NONFINITE;
		goto out;
	}
	for (int r0 = 0; r0 < m; r0 += bmax) {
		int b = m - r0 < bmax ? m - r0 : bmax;
		err = to_double(blk, a + (size_t)r0 * nn, (size_t)b * nn);
		assert(err == LINALG_OK);
		syrk_upper(g, blk, b, n, 1.0, r0 == 0 ? 0.0 : 1.0);
	}
	mirror_upper(g, n);
out:
	free(blk);
	return err;
}

int linalg_project_rows(double *p, const float *a, const double *vt, int m, int n, int r)
{
	if (!p || !a || !vt || m <= 0 || n <= 0 || r <= 0)
		return LINALG_ERR_ARG;
	size_t nn = (size_t)n;
	int bmax = m < GRAM_BLOCK_ROWS ? m : GRAM_BLOCK_ROWS;
	double *blk = NULL;
	int err = alloc_doubles(&blk, (size_t)bmax, nn);
	for (int r0 = 0; !err && r0 < m; r0 += bmax) {
		int b = m - r0 < bmax ? m - r0 : bmax;
		if ((err = to_double(blk, a + (size_t)r0 * nn, (size_t)b * nn)))
			break;
		/* p[r0:r0+b] (b, r) = blk (b, n) · vtᵀ (n, r) */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, r, n, 1.0, blk, n, vt, n, 0.0,
			    p + (size_t)r0 * (size_t)r, r);
	}
	free(blk);
	return err;
}

int linalg_gram_update(double *g, const float *a, const int *rows, int n_rows, int m, int n,
		       double alpha)
{
	if (!g || !a || (n_rows > 0 && !rows) || n_rows < 0 || m <= 0 || n <= 0)
		return LINALG_ERR_ARG;
	size_t nn = (size_t)n;
	if (nn > SIZE_MAX / sizeof(double) / nn)
		return LINALG_ERR_OVERFLOW;
	for (int i = 0; i < n_rows; i++) {
		if (rows[i] < 0 || rows[i] >= m)
			return LINALG_ERR_ARG;
		if (!floats_finite(a + (size_t)rows[i] * nn, nn))
			return LINALG_ERR_NONFINITE;
	}
	int bmax = n_rows < GRAM_BLOCK_ROWS ? n_rows : GRAM_BLOCK_ROWS;
	double *blk = NULL;
	int err = alloc_doubles(&blk, (size_t)bmax, nn);
	if (err)
		goto out;
	for (int i0 = 0; i0 < n_rows; i0 += bmax) {
		int b = n_rows - i0 < bmax ? n_rows - i0 : bmax;
		for (int i = 0; i < b; i++) {
			const float *src = a + (size_t)rows[i0 + i] * nn;
			double *dst = blk + (size_t)i * nn;
			for (size_t j = 0; j < nn; j++)
				dst[j] = src[j];
		}
		syrk_upper(g, blk, b, n, alpha, 1.0);
	}
	mirror_upper(g, n);
out:
	free(blk);
	return err;
}

int linalg_sym_eigvals(double *w, double *g, int n)
{
	if (!w || !g || n <= 0)
		return LINALG_ERR_ARG;
	size_t nn = (size_t)n;
	if (nn > SIZE_MAX / sizeof(double) / nn)
		return LINALG_ERR_OVERFLOW;
	if (upper_finite(g, nn))
		return LINALG_ERR_NONFINITE;
	double *wt = NULL;
	int err = alloc_doubles(&wt, nn, 1);
	if (err)
		goto out;
	/* Row-major upper triangle = column-major lower triangle. Which reduction is faster depends
	 * on OpenBLAS's threads (n = 4096, this project's 2-core machines, median of 3): with one
	 * thread the two-stage one (dense -> band by BLAS 3, then a serial band -> tridiagonal sweep)
	 * takes 3.7 s against dsytrd's 4.8 s; with two, dsytrd's BLAS 2 half runs on both cores and
	 * takes 2.8 s against 4.4 s, the band sweep staying serial. Same values to ~1e-14. */
	if (openblas_get_num_threads() > 1)
		err = lapack_status(LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', n, g, n, wt));
	else
		err = lapack_status(LAPACKE_dsyevd_2stage(LAPACK_COL_MAJOR, 'N', 'L', n, g, n, wt));
	if (err)
		goto out;
	for (size_t i = 0; i < nn; i++)
		w[i] = wt[nn - 1 - i]; /* dsyevd returns ascending */
out:
	free(wt);
	return err;
}

int linalg_sym_eig_top(double *w, double *v, double *g, int n, int r)
{
	if (!w || !v || !g || n <= 0 || r <= 0 || r > n)
		return LINALG_ERR_ARG;
	size_t nn = (size_t)n, rr = (size_t)r;
	if (nn > SIZE_MAX / sizeof(double) / nn)
		return LINALG_ERR_OVERFLOW;
	if (upper_finite(g, nn))
		return LINALG_ERR_NONFINITE;
	double *wt = NULL, *z = NULL;
	lapack_int *isuppz = NULL, found = 0;
	int err = alloc_doubles(&wt, nn, 1);
	if (err)
		goto out;
	/* Row-major upper triangle = column-major lower triangle. Eigenvectors come back as
	 * column-major columns, i.e. rows of a row-major array, ascending. */
	if (r == n) {
		err = lapack_status(LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, g, n, wt));
		z = g;
	} else {
		/* Only the top r: the tridiagonal reduction is shared, but MRRR computes r vectors and
		 * the back-transformation touches r columns instead of n (at n = 4096, r = 512: 3.3 s
		 * against dsyevd's 6.9 s here). */
		if ((err = alloc_doubles(&z, nn, rr)))
			goto out;
		if (!(isuppz = malloc(2 * rr * sizeof *isuppz))) {
			err = LINALG_ERR_NOMEM;
			goto out;
		}
		err = lapack_status(LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'L', n, g, n, 0, 0,
						   n - r + 1, n, 0, &found, wt, z, n, isuppz));
		if (!err && found != r)
			err = LINALG_ERR_NO_CONVERGENCE;
	}
	if (err)
		goto out;
	for (size_t i = 0; i < rr; i++) {
		w[i] = wt[rr - 1 - i];
		memmove(v + i * nn, z + (rr - 1 - i) * nn, nn * sizeof *v);
	}
out:
	if (z != g)
		free(z);
	free(isuppz);
	free(wt);
	return err;
}

/* stein_vectors could not serve: the caller runs MRRR instead. */
enum { STEIN_UNUSABLE = 1 };

/* The top r eigenvectors of the tridiagonal (d (n), e (n - 1); neither modified) by inverse
 * iteration at its eigenvalues asc (n ascending, dsterf's): wt (r) ascending = the top r of asc,
 * z (n, r) column-major. Cheaper than MRRR for a few hundred of some thousands (n = 4096, r =
 * 512: 0.20 s against 0.67-0.79 s; the whole linalg_sym_eig_split 2.83-2.97 s against
 * 3.34-3.48 s, 2 threads, 3 alternating runs); dstein orthogonalises the vectors of close values against
 * each other. STEIN_UNUSABLE when the tridiagonal splits (a negligible e[i], dstebz's test: the
 * values would have to be grouped by block) or a vector does not converge. */
static int stein_vectors(double *wt, double *z, const double *d, const double *e,
			 const double *asc, int n, int r)
{
	for (int j = 1; j < n; j++)
		if (e[j - 1] * e[j - 1] <=
		    fabs(d[j] * d[j - 1]) * DBL_EPSILON * DBL_EPSILON + DBL_MIN)
			return STEIN_UNUSABLE;
	lapack_int *iblock = malloc(((size_t)r * 2 + (size_t)n) * sizeof *iblock);
	if (!iblock)
		return LINALG_ERR_NOMEM;
	lapack_int *ifail = iblock + r, *isplit = ifail + r;
	for (int i = 0; i < r; i++) {
		iblock[i] = 1;
		wt[i] = asc[n - r + i];
	}
	isplit[0] = n;
	lapack_int info = LAPACKE_dstein(LAPACK_COL_MAJOR, n, d, e, r, wt, iblock, isplit, z, n,
					 ifail);
	free(iblock);
	if (info > 0)
		return STEIN_UNUSABLE;
	return lapack_status(info);
}

/* The top r eigenpairs of the tridiagonal (d, e) by MRRR (d, e destroyed; e holds n entries):
 * wt (n, the first r written) ascending, z (n, r) column-major. */
static int mrrr_vectors(double *wt, double *z, double *d, double *e, int n, int r)
{
	lapack_int found = 0, tryrac = 1;
	lapack_int *isuppz = malloc(2 * (size_t)r * sizeof *isuppz);
	if (!isuppz)
		return LINALG_ERR_NOMEM;
	int err = lapack_status(LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', n, d, e, 0, 0, n - r + 1,
					       n, &found, wt, z, n, r, isuppz, &tryrac));
	if (!err && found != r)
		err = LINALG_ERR_NO_CONVERGENCE;
	free(isuppz);
	return err;
}

/* The top r eigenpairs of the tridiagonal (d, e) (inverse iteration, else MRRR; d, e may be
 * destroyed) back-transformed by dsytrd's reflectors (a, tau): wt (n, the first r written)
 * ascending, z (n, r) column-major. */
static int split_vectors(double *wt, double *z, double *d, double *e, const double *asc,
			 const double *a, const double *tau, int n, int r)
{
	int err = stein_vectors(wt, z, d, e, asc, n, r);
	if (err == STEIN_UNUSABLE)
		err = mrrr_vectors(wt, z, d, e, n, r);
	if (err)
		return err;
	return lapack_status(
		LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', n, r, a, n, tau, z, n));
}

int linalg_sym_eig_split(double *w, double *wtop, double *v, double *g, int n, int r)
{
	if (!w || !wtop || !v || !g || n <= 0 || r <= 0 || r > n)
		return LINALG_ERR_ARG;
	size_t nn = (size_t)n, rr = (size_t)r;
	if (nn > SIZE_MAX / sizeof(double) / nn)
		return LINALG_ERR_OVERFLOW;
	int err = upper_finite(g, nn);
	if (err)
		return err;
	double *d = NULL, *z = NULL;
	/* d (n) diagonal, e (n) off-diagonal + MRRR's workspace, tau (n), copies of d and e, wt (n:
	 * dstemr writes up to n values) */
	if ((err = alloc_doubles(&d, nn, 6)) || (err = alloc_doubles(&z, nn, rr)))
		goto out;
	double *e = d + nn, *tau = e + nn, *d2 = tau + nn, *e2 = d2 + nn, *wt = e2 + nn;
	/* Row-major upper triangle = column-major lower triangle; one reduction serves both. */
	if ((err = lapack_status(LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', n, g, n, d, e, tau))))
		goto out;
	e[nn - 1] = 0;
	memcpy(d2, d, nn * sizeof *d);
	memcpy(e2, e, nn * sizeof *e);
	if ((err = lapack_status(LAPACKE_dsterf(n, d2, e2))))
		goto out;
	if ((err = split_vectors(wt, z, d, e, d2, g, tau, n, r)))
		goto out;
	for (size_t i = 0; i < nn; i++)
		w[i] = d2[nn - 1 - i]; /* dsterf returns ascending */
	for (size_t i = 0; i < rr; i++)
		wtop[i] = wt[rr - 1 - i];
	for (size_t i = 0; i < rr; i++)
		memcpy(v + i * nn, z + (rr - 1 - i) * nn, nn * sizeof *v);
out:
	free(z);
	free(d);
	return err;
}

int linalg_sym_eig(double *w, double *v, double *g, int n)
{
	return linalg_sym_eig_top(w, v, g, n, n);
}

static int cmp_desc(const void *pa, const void *pb)
{
	double x = *(const double *)pa, y = *(const double *)pb;
	return (x < y) - (x > y);
}

int linalg_singular_values_jacobi(double *s, const float *a, int m, int n)
{
	if (!s || !a || m <= 0 || n <= 0)
		return LINALG_ERR_ARG;
	/* Orthogonalise p vectors of length len: a's columns if m >= n, else its
	 * rows (the columns of a^T, which has the same singular values). */
	int p = m < n ? m : n;
	int len = m < n ? n : m;
	size_t lz = (size_t)len;
	double *v = NULL;
	int err = alloc_doubles(&v, (size_t)p, lz);
	if (err)
		goto out;
	if (!floats_finite(a, (size_t)m * (size_t)n)) {
		err = LINALG_ERR_NONFINITE;
		goto out;
	}
	for (size_t i = 0; i < (size_t)p; i++)
		for (size_t t = 0; t < lz; t++)
			v[i * lz + t] = m >= n ? a[t * (size_t)n + i] : a[i * (size_t)n + t];
	double tol = (double)len * DBL_EPSILON;
	int converged = 0;
	for (int sweep = 0; sweep < JACOBI_MAX_SWEEPS && !converged; sweep++) {
		converged = 1;
		for (int i = 0; i < p; i++) {
			for (int j = i + 1; j < p; j++) {
				double *x = v + (size_t)i * lz, *y = v + (size_t)j * lz;
				double al = 0, be = 0, ga = 0;
				for (size_t t = 0; t < lz; t++) {
					al += x[t] * x[t];
					be += y[t] * y[t];
					ga += x[t] * y[t];
				}
				if (ga == 0 || fabs(ga) <= tol * sqrt(al * be))
					continue;
				converged = 0;
				double zeta = (be - al) / (2 * ga);
				double tn = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
				double c = 1 / sqrt(1 + tn * tn), sn = c * tn;
				for (size_t t = 0; t < lz; t++) {
					double xt = x[t], yt = y[t];
					x[t] = c * xt - sn * yt;
					y[t] = sn * xt + c * yt;
				}
			}
		}
	}
	if (!converged) {
		err = LINALG_ERR_NO_CONVERGENCE;
		goto out;
	}
	for (size_t i = 0; i < (size_t)p; i++) {
		double ss = 0;
		for (size_t t = 0; t < lz; t++)
			ss += v[i * lz + t] * v[i * lz + t];
		s[i] = sqrt(ss);
	}
	qsort(s, (size_t)p, sizeof(double), cmp_desc);
out:
	free(v);
	return err;
}

int linalg_gram_naive(double *g, const float *a, int m, int n)
{
	if (!g || !a || m <= 0 || n <= 0)
		return LINALG_ERR_ARG;
	size_t nn = (size_t)n;
	for (size_t i = 0; i < nn; i++) {
		for (size_t j = 0; j < nn; j++) {
			double acc = 0;
			for (size_t r = 0; r < (size_t)m; r++)
				acc += (double)a[r * nn + i] * (double)a[r * nn + j];
			g[i * nn + j] = acc;
		}
	}
	return LINALG_OK;
}
