/* rowfeat: standardised per-row policy inputs. See rowfeat.h. */
#include "rowfeat.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

static const char *const names[ROWFEAT_MAX] = {
	"row_norm", "down_norm", "row_max", "leverage", "pair_norm", "depth",
	"probe_sq", "probe_abs_down",
};

const char *rowfeat_name(int i)
{
	return i >= 0 && i < ROWFEAT_MAX ? names[i] : "?";
}

const char *rowfeat_set_name(enum rowfeat_set set)
{
	switch (set) {
	case ROWFEAT_SET_WEIGHTS: return "weights";
	case ROWFEAT_SET_PROBE: return "probe";
	}
	return NULL;
}

int rowfeat_set_parse(enum rowfeat_set *out, const char *name)
{
	if (!name)
		return -1;
	if (strcmp(name, "weights") == 0)
		*out = ROWFEAT_SET_WEIGHTS;
	else if (strcmp(name, "probe") == 0)
		*out = ROWFEAT_SET_PROBE;
	else
		return -1;
	return 0;
}

int rowfeat_set_count(enum rowfeat_set set)
{
	return set == ROWFEAT_SET_PROBE ? ROWFEAT_MAX : ROWFEAT_COUNT;
}

const char *rowfeat_set_list(enum rowfeat_set set)
{
	return set == ROWFEAT_SET_PROBE ? "row_norm,down_norm,row_max,leverage,pair_norm,depth,"
					  "probe_sq,probe_abs_down"
					: rowfeat_list();
}

const char *rowfeat_list(void)
{
	return "row_norm,down_norm,row_max,leverage,pair_norm,depth";
}

/* log with a floor so an all-zero row gives a finite, very small value */
static float safe_log(double v)
{
	return (float)log(v > 1e-30 ? v : 1e-30);
}

/* z-scores column f of x (rows, stride) in place; constant -> 0 */
static void standardise(float *x, int stride, int rows, int f)
{
	double mean = 0, var = 0;
	for (int i = 0; i < rows; i++)
		mean += x[(size_t)i * stride + f];
	mean /= rows;
	for (int i = 0; i < rows; i++) {
		double d = x[(size_t)i * stride + f] - mean;
		var += d * d;
	}
	double sd = sqrt(var / rows);
	for (int i = 0; i < rows; i++) {
		float *v = &x[(size_t)i * stride + f];
		*v = sd > 1e-12 * (fabs(mean) + 1) ? (float)((*v - mean) / sd) : 0.0f;
	}
}

void rowfeat_leverage_ref(double *lev, const float *w, const double *vt, const double *s, int r,
			  int rows, int cols)
{
	for (int i = 0; i < rows; i++) {
		const float *wi = w + (size_t)i * cols;
		double l = 0;
		for (int q = 0; q < r; q++) {
			const double *v = vt + (size_t)q * cols;
			double dot = 0;
			for (int j = 0; j < cols; j++)
				dot += wi[j] * v[j];
			l += (dot / s[q]) * (dot / s[q]);
		}
		lev[i] = l;
	}
}

/* Rows per projection block: LEV_BLOCK × r doubles of scratch. */
enum { LEV_BLOCK = 1024 };

void rowfeat_leverage(double *lev, const float *w, const double *vt, const double *s, int r,
		      int rows, int cols)
{
	int b = rows < LEV_BLOCK ? rows : LEV_BLOCK;
	double *p = malloc((size_t)b * (size_t)r * sizeof *p);
	for (int i0 = 0; p && i0 < rows; i0 += b) {
		int n = rows - i0 < b ? rows - i0 : b;
		/* p (n, r) = w[i0:i0+n] · vtᵀ */
		if (linalg_project_rows(p, w + (size_t)i0 * cols, vt, n, cols, r)) {
			free(p);
			p = NULL;
			break;
		}
		for (int i = 0; i < n; i++) {
			double l = 0;
			for (int q = 0; q < r; q++) {
				double d = p[(size_t)i * r + q] / s[q];
				l += d * d;
			}
			lev[i0 + i] = l;
		}
	}
	if (!p) /* no memory or non-finite weights: the reference gives the same answer slowly */
		rowfeat_leverage_ref(lev, w, vt, s, r, rows, cols);
	free(p);
}

/* sq (rows) = squared norms of the columns of down (cols, rows), read row by row (each column
 * summed in the same order as one strided walk would). */
static void column_norms(double *sq, const float *down, int rows, int cols)
{
	for (int i = 0; i < rows; i++)
		sq[i] = 0;
	for (int j = 0; j < cols; j++) {
		const float *dj = down + (size_t)j * rows;
		for (int i = 0; i < rows; i++)
			sq[i] += (double)dj[i] * dj[i];
	}
}

/* One row's unstandardised features xi (ROWFEAT_COUNT) from its weights wi (cols), its pair's
 * pi (cols) or NULL, its down column's squared norm *dsq or NULL and its leverage. */
static void row_features(float *xi, const float *wi, const float *pi, int cols, const double *dsq,
			 double lev, double depth)
{
	double sq = 0, mx = 0, psq = 0;
	for (int j = 0; j < cols; j++) {
		sq += (double)wi[j] * wi[j];
		if (fabs(wi[j]) > mx)
			mx = fabs(wi[j]);
	}
	if (pi)
		for (int j = 0; j < cols; j++)
			psq += (double)pi[j] * pi[j];
	xi[0] = safe_log(sqrt(sq));
	xi[1] = dsq ? safe_log(sqrt(*dsq)) : 0.0f;
	xi[2] = safe_log(mx);
	xi[3] = safe_log(lev);
	xi[4] = pi ? safe_log(sqrt(psq)) : 0.0f;
	xi[5] = (float)depth;
}

void rowfeat_compute(float *x, const float *w, const float *pair, const float *down,
		      const double *vt, const double *s, int r, int rows, int cols, double depth)
{
	double *lev = malloc((size_t)rows * sizeof *lev), *dsq = NULL;
	if (down && lev && !(dsq = malloc((size_t)rows * sizeof *dsq))) {
		free(lev);
		lev = NULL;
	}
	if (!lev) {
		rowfeat_compute_ref(x, w, pair, down, vt, s, r, rows, cols, depth);
		return;
	}
	rowfeat_leverage(lev, w, vt, s, r, rows, cols);
	if (down)
		column_norms(dsq, down, rows, cols);
	for (int i = 0; i < rows; i++)
		row_features(x + (size_t)i * ROWFEAT_COUNT, w + (size_t)i * cols,
			     pair ? pair + (size_t)i * cols : NULL, cols, down ? &dsq[i] : NULL, lev[i],
			     depth);
	for (int f = 0; f < ROWFEAT_COUNT - 1; f++)
		standardise(x, ROWFEAT_COUNT, rows, f);
	free(dsq);
	free(lev);
}

void rowfeat_compute_ref(float *x, const float *w, const float *pair, const float *down,
			 const double *vt, const double *s, int r, int rows, int cols, double depth)
{
	for (int i = 0; i < rows; i++) {
		const float *wi = w + (size_t)i * cols;
		double dsq = 0, lev = 0;
		if (down)
			for (int j = 0; j < cols; j++)
				dsq += (double)down[(size_t)j * rows + i] * down[(size_t)j * rows + i];
		rowfeat_leverage_ref(&lev, wi, vt, s, r, 1, cols);
		row_features(x + (size_t)i * ROWFEAT_COUNT, wi, pair ? pair + (size_t)i * cols : NULL,
			     cols, down ? &dsq : NULL, lev, depth);
	}
	for (int f = 0; f < ROWFEAT_COUNT - 1; f++)
		standardise(x, ROWFEAT_COUNT, rows, f);
}

void rowfeat_probe_compute(float *x, int stride, const double *msq, const double *mabs,
			   const float *down, int rows, int cols)
{
	double *dsq = malloc((size_t)rows * sizeof *dsq);
	if (dsq)
		column_norms(dsq, down, rows, cols);
	for (int i = 0; i < rows; i++) {
		double d = 0;
		if (dsq) {
			d = dsq[i];
		} else { /* no memory: the same sums, strided */
			for (int j = 0; j < cols; j++)
				d += (double)down[(size_t)j * rows + i] * down[(size_t)j * rows + i];
		}
		x[(size_t)i * stride] = safe_log(msq[i]);
		x[(size_t)i * stride + 1] = safe_log(mabs[i] * sqrt(d));
	}
	free(dsq);
	standardise(x, stride, rows, 0);
	standardise(x, stride, rows, 1);
}
