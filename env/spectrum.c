/* spectrum: KS distance between the singular values of W and of W[kept],
 * by a direct SVD or by the eigenvalues of a downdated Gram (see spectrum.h
 * for the routes, the size convention and the zero floors). */
#include "spectrum.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks.h"
#include "linalg.h"

struct spectrum {
	const float *w; /* (rows, cols) row-major, borrowed */
	int rows, cols;
	enum spectrum_route route;
	int n_orig;         /* min(rows, cols) */
	double *s_orig;     /* (n_orig) descending */
	double *s_orig_asc; /* (n_orig) ascending, for ks_2samp_sorted */
	double *gram;       /* (cols, cols) W^T W, route GRAM only */
	double gram_floor;  /* singular values <= this are 0 on route GRAM */
};

const char *spectrum_strerror(int err)
{
	switch (err) {
	case SPECTRUM_OK:
		return "success";
	case SPECTRUM_ERR_ARG:
		return "invalid argument (NULL pointer, non-positive dimension or unknown route)";
	case SPECTRUM_ERR_NOMEM:
		return "out of memory";
	case SPECTRUM_ERR_EMPTY:
		return "keep mask selects no row";
	default:
		return linalg_strerror(err);
	}
}

/* Zeroes the tail of a descending array at or below floor. */
static void snap_zeros(double *s, int n, double floor)
{
	for (int i = n - 1; i >= 0 && s[i] <= floor; i--)
		s[i] = 0;
}

static double svd_floor(const double *s_desc, int m, int n)
{
	return (double)(m > n ? m : n) * DBL_EPSILON * s_desc[0];
}

void spectrum_snap_zeros(double *s_desc, int n, int m, int n_cols)
{
	if (n > 0)
		snap_zeros(s_desc, n, svd_floor(s_desc, m, n_cols));
}

/* Route GRAM: W's singular values from the eigenvalues lam (cols, descending) of its Gram,
 * snapped at the floor the kept sets' values get too. */
static void gram_orig(struct spectrum *sp, const double *lam)
{
	for (int i = 0; i < sp->n_orig; i++)
		sp->s_orig[i] = lam[i] > 0 ? sqrt(lam[i]) : 0;
	int big = sp->rows > sp->cols ? sp->rows : sp->cols;
	sp->gram_floor = sqrt((double)big * DBL_EPSILON) * sp->s_orig[0];
	snap_zeros(sp->s_orig, sp->n_orig, sp->gram_floor);
}

/* Route GRAM: the full Gram, and W's singular values as the square roots of its eigenvalues
 * (values only): no SVD of W, whose cost (dgesdd on rows x cols) dominated the per-layer setup.
 * Both W's and W[kept]'s values then carry the same Gram rounding, snapped at the same floor. */
static int gram_setup(struct spectrum *sp)
{
	size_t cz = (size_t)sp->cols;
	if (cz > SIZE_MAX / sizeof(double) / cz)
		return LINALG_ERR_OVERFLOW;
	double *g = malloc(cz * cz * sizeof(double));
	double *lam = malloc(cz * sizeof(double));
	sp->gram = malloc(cz * cz * sizeof(double));
	int err = SPECTRUM_ERR_NOMEM;
	if (!g || !lam || !sp->gram)
		goto out;
	if ((err = linalg_gram(sp->gram, sp->w, sp->rows, sp->cols)))
		goto out;
	memcpy(g, sp->gram, cz * cz * sizeof(double));
	if ((err = linalg_sym_eigvals(lam, g, sp->cols)))
		goto out;
	gram_orig(sp, lam);
out:
	free(lam);
	free(g);
	return err;
}

/* A spectrum without values yet: *sp_out, or SPECTRUM_ERR_ARG / NOMEM. */
static int spectrum_alloc(struct spectrum **sp_out, const float *w, int rows, int cols,
			  enum spectrum_route route)
{
	if (!w || rows <= 0 || cols <= 0 ||
	    (route != SPECTRUM_ROUTE_SVD && route != SPECTRUM_ROUTE_GRAM))
		return SPECTRUM_ERR_ARG;
	struct spectrum *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return SPECTRUM_ERR_NOMEM;
	sp->w = w;
	sp->rows = rows;
	sp->cols = cols;
	sp->route = route;
	sp->n_orig = rows < cols ? rows : cols;
	sp->s_orig = malloc((size_t)sp->n_orig * sizeof(double));
	sp->s_orig_asc = malloc((size_t)sp->n_orig * sizeof(double));
	if (!sp->s_orig || !sp->s_orig_asc) {
		spectrum_free(sp);
		return SPECTRUM_ERR_NOMEM;
	}
	*sp_out = sp;
	return SPECTRUM_OK;
}

static void fill_ascending(struct spectrum *sp)
{
	for (int i = 0; i < sp->n_orig; i++)
		sp->s_orig_asc[i] = sp->s_orig[sp->n_orig - 1 - i];
}

int spectrum_new(struct spectrum **out, const float *w, int rows, int cols,
		 enum spectrum_route route)
{
	struct spectrum *sp = NULL;
	int err = out ? spectrum_alloc(&sp, w, rows, cols, route) : SPECTRUM_ERR_ARG;
	if (err)
		return err;
	err = route == SPECTRUM_ROUTE_GRAM ? gram_setup(sp)
					   : linalg_singular_values(sp->s_orig, w, rows, cols);
	if (err)
		goto out;
	if (route == SPECTRUM_ROUTE_SVD)
		spectrum_snap_zeros(sp->s_orig, sp->n_orig, rows, cols);
	fill_ascending(sp);
	*out = sp;
	sp = NULL;
out:
	spectrum_free(sp);
	return err;
}

int spectrum_new_gram(struct spectrum **out, const float *w, int rows, int cols, double *gram,
		      const double *eig)
{
	if (!out || !gram || !eig)
		return SPECTRUM_ERR_ARG;
	struct spectrum *sp = NULL;
	int err = spectrum_alloc(&sp, w, rows, cols, SPECTRUM_ROUTE_GRAM);
	if (err)
		return err;
	gram_orig(sp, eig);
	fill_ascending(sp);
	sp->gram = gram;
	*out = sp;
	return SPECTRUM_OK;
}

void spectrum_free(struct spectrum *sp)
{
	if (!sp)
		return;
	free(sp->gram);
	free(sp->s_orig_asc);
	free(sp->s_orig);
	free(sp);
}

const double *spectrum_orig(const struct spectrum *sp, int *n)
{
	if (n)
		*n = sp ? sp->n_orig : 0;
	return sp ? sp->s_orig : NULL;
}

/* sv (min(k, cols)) = singular values of W[kept] by a values-only SVD. */
static int kept_svd(double *sv, const struct spectrum *sp, const unsigned char *keep, int k)
{
	size_t cz = (size_t)sp->cols;
	if ((size_t)k > SIZE_MAX / sizeof(float) / cz)
		return LINALG_ERR_OVERFLOW;
	float *sub = malloc((size_t)k * cz * sizeof(float));
	if (!sub)
		return SPECTRUM_ERR_NOMEM;
	size_t at = 0;
	for (int r = 0; r < sp->rows; r++)
		if (keep[r])
			memcpy(sub + at++ * cz, sp->w + (size_t)r * cz, cz * sizeof(float));
	int err = linalg_singular_values(sv, sub, k, sp->cols);
	if (!err)
		spectrum_snap_zeros(sv, k < sp->cols ? k : sp->cols, k, sp->cols);
	free(sub);
	return err;
}

/* sv (min(k, cols)) = sqrt of the top eigenvalues of W[kept]^T W[kept]. */
static int kept_gram(double *sv, const struct spectrum *sp, const unsigned char *keep, int k)
{
	size_t cz = (size_t)sp->cols;
	int removed = sp->rows - k;
	int downdate = removed < k;
	int n_list = downdate ? removed : k;
	double *g = malloc(cz * cz * sizeof(double)); /* size checked in spectrum_new */
	double *lam = malloc(cz * sizeof(double));
	int *list = malloc(((size_t)n_list + 1) * sizeof(int));
	int err = SPECTRUM_OK;
	if (!g || !lam || !list) {
		err = SPECTRUM_ERR_NOMEM;
		goto out;
	}
	int at = 0;
	for (int r = 0; r < sp->rows; r++)
		if ((keep[r] != 0) != downdate)
			list[at++] = r;
	if (downdate)
		memcpy(g, sp->gram, cz * cz * sizeof(double));
	else
		memset(g, 0, cz * cz * sizeof(double));
	err = linalg_gram_update(g, sp->w, list, n_list, sp->rows, sp->cols,
				 downdate ? -1.0 : 1.0);
	if (err)
		goto out;
	err = linalg_sym_eigvals(lam, g, sp->cols);
	if (err)
		goto out;
	int nk = k < sp->cols ? k : sp->cols;
	for (int i = 0; i < nk; i++)
		sv[i] = lam[i] > 0 ? sqrt(lam[i]) : 0;
	snap_zeros(sv, nk, sp->gram_floor);
out:
	free(list);
	free(lam);
	free(g);
	return err;
}

int spectrum_ks(const struct spectrum *sp, const unsigned char *keep, double *ks_out,
		double *sv_out)
{
	if (!sp || !keep || !ks_out)
		return SPECTRUM_ERR_ARG;
	int k = 0;
	for (int r = 0; r < sp->rows; r++)
		k += keep[r] != 0;
	if (k == 0)
		return SPECTRUM_ERR_EMPTY;
	int nk = k < sp->cols ? k : sp->cols;
	double *sv = malloc((size_t)nk * sizeof(double));
	double *asc = malloc((size_t)nk * sizeof(double));
	int err = SPECTRUM_OK;
	if (!sv || !asc) {
		err = SPECTRUM_ERR_NOMEM;
		goto out;
	}
	/* Everything kept: W[kept] is W. Recomputing by the Gram route would
	 * give values equal only to rounding, whose interleaving with s_orig
	 * would turn an exact 0 into 1/n. */
	if (k == sp->rows)
		memcpy(sv, sp->s_orig, (size_t)nk * sizeof(double));
	else
		err = sp->route == SPECTRUM_ROUTE_GRAM ? kept_gram(sv, sp, keep, k)
						       : kept_svd(sv, sp, keep, k);
	if (err)
		goto out;
	for (int i = 0; i < nk; i++)
		asc[i] = sv[nk - 1 - i];
	*ks_out = ks_2samp_sorted(sp->s_orig_asc, sp->n_orig, asc, nk);
	if (sv_out)
		memcpy(sv_out, sv, (size_t)nk * sizeof(double));
out:
	free(asc);
	free(sv);
	return err;
}
