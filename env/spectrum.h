/* spectrum: the reward's kernel. For one layer's FFN up-projection W
 * (rows = ffn, cols = hidden), compares the singular values of W with those
 * of W restricted to the kept rows, by the two-sample KS statistic.
 *
 * Routes (chosen once per layer, at spectrum_new):
 *   SPECTRUM_ROUTE_SVD   values-only SVD (dgesdd jobz='N') of W and of W[kept],
 *                        a fresh (k, cols) copy per call.
 *   SPECTRUM_ROUTE_GRAM  eigenvalues of G_kept = W[kept]^T W[kept] in double,
 *                        sigma = sqrt(max(lambda, 0)). G_kept is downdated
 *                        from the full Gram kept by spectrum_new
 *                        (G_full - sum over removed rows r of r^T r) when fewer
 *                        rows are removed than kept, else rebuilt from the kept
 *                        rows. Costs one (cols, cols) symmetric eigenproblem
 *                        per call instead of a (k, cols) SVD, solved values
 *                        only by linalg_sym_eigvals. W's own values are the square
 *                        roots of G_full's eigenvalues: no SVD of W at all.
 * Both give the same values up to rounding (~5e-14 relative seen on Gaussian
 * 5504 x 2048, 30% removed; the tests demand 1e-8); GRAM loses relative accuracy on singular values
 * far below sigma_max (its error is ~ eps * sigma_max^2 / sigma). The KS
 * statistics agree unless a value of W[kept] lies within that rounding of a
 * value of W, where the routes may order the pair differently (a change of
 * at most 1/min(rows, cols)); with every row kept both return s_orig itself
 * and KS 0, since there every pair is such a tie.
 *
 * Sizes: W has min(rows, cols) singular values, W[kept] has min(k, cols).
 * The KS statistic compares the two sets as they are, of different sizes
 * when k < cols: that is the two-sample test's normal case.
 *
 * Numerical zeros: a singular value at or below the route's noise floor is
 * reported as exactly 0, so that a rank-deficient W (e.g. zeroed rows) gives
 * tied zeros in both sets instead of rounding noise whose order would decide
 * the KS statistic. Floors: SVD max(m, n) * DBL_EPSILON * sigma_max of that
 * matrix (numpy's matrix_rank rule); GRAM (W's values and W[kept]'s alike)
 * sqrt(max(rows, cols) * DBL_EPSILON) * sigma_max(W), the size of the Gram's
 * rounding error carried through the square root.
 *
 * Errors: 0, a negative enum spectrum_error, or a negative enum linalg_error
 * passed through from the linear algebra (the two ranges are disjoint);
 * spectrum_strerror describes both. */
#ifndef YOPO_ENV_SPECTRUM_H
#define YOPO_ENV_SPECTRUM_H

enum spectrum_route {
	SPECTRUM_ROUTE_SVD,  /* direct values-only SVD of W[kept] */
	SPECTRUM_ROUTE_GRAM, /* eigenvalues of the downdated Gram in double */
};

enum spectrum_error {
	SPECTRUM_OK = 0,
	SPECTRUM_ERR_ARG = -101,   /* NULL pointer, dimension <= 0, unknown route */
	SPECTRUM_ERR_NOMEM = -102, /* allocation failed */
	SPECTRUM_ERR_EMPTY = -103, /* keep selects no row */
};

/* Static description of a spectrum_error or linalg_error code. */
const char *spectrum_strerror(int err);

/* Per layer: W's pointer (borrowed), its singular values, the full Gram for
 * route GRAM. Immutable after spectrum_new: concurrent spectrum_ks calls on
 * one spectrum are safe (each call allocates its own scratch). */
struct spectrum;

/* Computes W's singular values (SVD route: dgesdd of W; GRAM route: W^T W and
 * its eigenvalues). w is borrowed and must stay valid and unchanged until
 * spectrum_free. On success *out owns the new spectrum. Memory: min(rows, cols)
 * doubles, plus cols^2 doubles for GRAM (transiently twice that); transiently a
 * double copy of W for the SVD.
 * Errors: SPECTRUM_ERR_ARG, SPECTRUM_ERR_NOMEM, linalg errors (NONFINITE if
 * W holds NaN/Inf, OVERFLOW, NO_CONVERGENCE, ...). */
int spectrum_new(struct spectrum **out,
		 const float *w, /* (rows, cols) row-major, borrowed */
		 int rows, int cols, enum spectrum_route route);

/* Route GRAM from a Gram and eigenvalues the caller already has: a layer's setup computes them
 * once for both the spectrum and the row features (linalg_sym_eig_split), where spectrum_new
 * would form the Gram and reduce it a second time. gram (cols, cols) = W^T W as linalg_gram
 * forms it (both triangles); on success the spectrum owns it (spectrum_free frees it), on
 * failure the caller keeps it. eig (cols) its eigenvalues descending, read once.
 * Errors: SPECTRUM_ERR_ARG, SPECTRUM_ERR_NOMEM. */
int spectrum_new_gram(struct spectrum **out,
		      const float *w, /* (rows, cols) row-major, borrowed */
		      int rows, int cols,
		      double *gram,      /* (cols, cols) row-major, owned on success */
		      const double *eig); /* (cols) descending */

/* NULL is a no-op. Does not touch W. */
void spectrum_free(struct spectrum *sp);

/* W's singular values, descending (zeros snapped, see above); *n receives
 * their count min(rows, cols). The array belongs to sp. */
const double *spectrum_orig(const struct spectrum *sp, int *n);

/* Snaps the numerical zeros of s_desc (n singular values of an (m, n_cols) matrix, descending)
 * to exactly 0 with the SVD route's floor, max(m, n_cols) * DBL_EPSILON * s_desc[0] — the rule
 * applied to spectrum_orig — so values of another matrix compare with spectrum_orig on equal
 * terms. */
void spectrum_snap_zeros(double *s_desc, /* (n) descending, in place */
			 int n, int m, int n_cols);

/* Singular values of W restricted to the rows with keep[r] != 0 (k of them,
 * k >= 1) and their KS statistic against spectrum_orig. *ks_out receives
 * the statistic; sv_out, if not NULL, the min(k, cols) singular values of
 * W[kept], descending. Outputs are written only on success.
 * Scratch per call: cols^2 + cols doubles (GRAM) or k * cols floats plus a
 * k * cols double copy (SVD).
 * Errors: SPECTRUM_ERR_ARG, SPECTRUM_ERR_EMPTY (no row kept),
 * SPECTRUM_ERR_NOMEM, linalg errors. */
int spectrum_ks(const struct spectrum *sp,
		const unsigned char *keep, /* (rows) */
		double *ks_out,
		double *sv_out); /* (min(k, cols)) out, or NULL */

#endif
