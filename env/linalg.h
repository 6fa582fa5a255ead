/* linalg: the dense linear algebra the environment's reward needs — singular
 * values, symmetric eigenvalues and Gram matrices of f32 weight matrices,
 * computed in double through LAPACKE/OpenBLAS. This header's .c file is the
 * only one in the project that includes lapacke.h / cblas.h.
 *
 * Precision: every routine converts the f32 input to double and runs the
 * double-precision LAPACK driver (dgesdd, dsyevd, dsyrk). f32 values are exact
 * in double, so the only error is the algorithm's own, about
 * eps_double * sigma_max instead of eps_float * sigma_max for sgesdd. That
 * matters for the KS reward, which compares the *ranks* of singular values
 * of W and of W[kept]: with sgesdd the small singular values carry absolute
 * noise ~1e-7 * sigma_max, enough to reorder nearly-equal values of the two
 * sets. The cost is roughly 2x the time and memory of the f32 driver.
 *
 * Matrices are row-major. Dimensions come last. Functions return 0 or a
 * negative enum linalg_error; outputs are written only on success. */
#ifndef YOPO_ENV_LINALG_H
#define YOPO_ENV_LINALG_H

enum linalg_error {
	LINALG_OK = 0,
	LINALG_ERR_ARG = -1,           /* NULL pointer, dimension <= 0, row index out of range */
	LINALG_ERR_OVERFLOW = -2,      /* a buffer size overflows size_t */
	LINALG_ERR_NOMEM = -3,         /* allocation failed (ours or LAPACKE's workspace) */
	LINALG_ERR_NONFINITE = -4,     /* input holds NaN or Inf */
	LINALG_ERR_LAPACK_ARG = -5,    /* LAPACK rejected an argument (info < 0): a bug here */
	LINALG_ERR_NO_CONVERGENCE = -6 /* LAPACK did not converge (info > 0) */
};

/* Static description of a linalg error code (or "unknown linalg error"). */
const char *linalg_strerror(int err);

/* Number of threads OpenBLAS (and the LAPACK routines built on it) may use.
 * This is OpenBLAS's process-wide setting; n < 1 is treated as 1. Call it
 * before starting work, not concurrently with running routines. */
void linalg_set_threads(int n);
int linalg_get_threads(void);

/* Singular values of a, descending, into s (min(m, n) values), with LAPACK
 * dgesdd jobz='N' (no U/V) on a double copy of a. a is not modified.
 * Errors: ARG, OVERFLOW, NOMEM, NONFINITE, LAPACK_ARG, NO_CONVERGENCE. */
int linalg_singular_values(double *s, /* (min(m, n)) out, descending */
			   const float *a, /* (m, n) row-major */
			   int m, int n);

/* Thin SVD a = u diag(s) vt with dgesdd jobz='S' (k = min(m, n)); the full
 * decomposition the published implementation computes, kept for comparison.
 * Same errors as linalg_singular_values. Exception to the rule above: LAPACK
 * writes s, u, vt in place, so after LAPACK_ARG or NO_CONVERGENCE their
 * contents are unspecified (argument, size, memory and NaN errors leave them
 * untouched). */
int linalg_svd_full(double *s,  /* (k) out, descending */
		    double *u,  /* (m, k) row-major out, orthonormal columns */
		    double *vt, /* (k, n) row-major out, orthonormal rows */
		    const float *a, /* (m, n) row-major */
		    int m, int n);

/* g = a^T a in double (dsyrk on blocks of rows converted to double).
 * g is written in full (both triangles). Errors: ARG, OVERFLOW, NOMEM, NONFINITE. */
int linalg_gram(double *g,      /* (n, n) row-major out */
		const float *a, /* (m, n) row-major */
		int m, int n);

/* p = a · vtᵀ in double: every row of a projected on r directions (dgemm on blocks of rows
 * converted to double). Errors: ARG, NOMEM, NONFINITE (in a; p partly written then). */
int linalg_project_rows(double *p,        /* (m, r) row-major out */
			const float *a,   /* (m, n) row-major */
			const double *vt, /* (r, n) row-major: the directions as rows */
			int m, int n, int r);

/* g += alpha * sum over r in rows of a_r^T a_r (a_r the r-th row of a; a
 * row listed twice counts twice). Reads only the upper triangle of g
 * (j >= i) and writes g back in full. n_rows == 0 only symmetrises g.
 * On error g is unchanged. Errors: ARG (also a row outside [0, m)),
 * OVERFLOW, NOMEM, NONFINITE (in a listed row). */
int linalg_gram_update(double *g,       /* (n, n) row-major, in/out */
		       const float *a,  /* (m, n) row-major */
		       const int *rows, /* (n_rows) indices into a's rows */
		       int n_rows, int m, int n, double alpha);

/* Eigenvalues and eigenvectors of the symmetric matrix g with dsyevd jobz='V': w (n) descending,
 * v (n, n) row-major with row i the unit eigenvector of w[i]. Reads only the upper triangle of g
 * and destroys it. Errors: ARG, OVERFLOW, NOMEM, NONFINITE, LAPACK_ARG, NO_CONVERGENCE. */
int linalg_sym_eig(double *w, double *v, double *g, int n);

/* The r largest eigenvalues of g, descending, into w (r), and their unit eigenvectors into v
 * (r, n) row-major (row i for w[i]): dsyevr over the index range for r < n, dsyevd for r == n.
 * Reads only the upper triangle of g and destroys it. Errors: ARG (also r outside [1, n]),
 * OVERFLOW, NOMEM, NONFINITE, LAPACK_ARG, NO_CONVERGENCE. */
int linalg_sym_eig_top(double *w, double *v, double *g, int n, int r);

/* All eigenvalues of g and the top r eigenpairs from one tridiagonal reduction (dsytrd; then
 * dsterf for the values, as dsyevd jobz='N' does, and inverse iteration at the top r of them plus
 * the back-transformation of r columns for the pairs; MRRR instead when the tridiagonal splits
 * or inverse iteration does not converge): what a layer's setup needs, the full spectrum and
 * the leading subspace, for one reduction instead of two. w (n) all eigenvalues descending; wtop
 * (r) the largest r descending (w[0..r) itself, or MRRR's values agreeing with it to rounding);
 * v (r, n) row-major, row i the unit eigenvector of wtop[i]. Reads only the upper triangle of g and destroys it.
 * Errors: ARG (also r outside [1, n]), OVERFLOW, NOMEM, NONFINITE, LAPACK_ARG, NO_CONVERGENCE. */
int linalg_sym_eig_split(double *w,    /* (n) out, descending */
			 double *wtop, /* (r) out, descending */
			 double *v,    /* (r, n) row-major out */
			 double *g,    /* (n, n) row-major, destroyed */
			 int n, int r);

/* Eigenvalues of the symmetric matrix g, descending, jobz='N': dsyevd when OpenBLAS runs more
 * than one thread, else dsyevd_2stage (the faster of the two at each; linalg.c has the times).
 * Reads only the upper triangle of g (j >= i) and destroys g.
 * Errors: ARG, NOMEM, NONFINITE, LAPACK_ARG, NO_CONVERGENCE. */
int linalg_sym_eigvals(double *w, /* (n) out, descending */
		       double *g, /* (n, n) row-major, destroyed */
		       int n);

/* Naive references for the tests (no BLAS/LAPACK). */

/* Singular values by one-sided Jacobi in double (sweeps until every column
 * pair is orthogonal to working precision; at most 100 sweeps). Slow
 * (O(sweeps * min(m,n)^2 * max(m,n))), highly accurate. Errors: ARG, OVERFLOW,
 * NOMEM, NONFINITE, NO_CONVERGENCE. */
int linalg_singular_values_jacobi(double *s, /* (min(m, n)) out, descending */
				  const float *a, /* (m, n) row-major */
				  int m, int n);

/* g = a^T a with a triple loop in double. Errors: ARG. */
int linalg_gram_naive(double *g,      /* (n, n) row-major out */
		      const float *a, /* (m, n) row-major */
		      int m, int n);

#endif
