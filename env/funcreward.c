/* funcreward: quadratic form of the functional damage. See funcreward.h. */
#include "funcreward.h"

#include <stdlib.h>
#include <string.h>

#include "linalg.h"

struct funcreward {
	int ffn;
	double total;
	double *g;             /* (ffn, ffn) */
	unsigned char *keep;   /* (ffn) scratch */
	int *removed;          /* (ffn) scratch */
};

const char *funcreward_strerror(int err)
{
	switch (err) {
	case FUNCREWARD_OK: return "success";
	case FUNCREWARD_ERR_ARG: return "invalid sizes or selection";
	case FUNCREWARD_ERR_NOMEM: return "out of memory";
	case FUNCREWARD_ERR_VALUE: return "non-finite activation or weight";
	}
	return "unknown funcreward error";
}

void funcreward_free(struct funcreward *fr)
{
	if (!fr)
		return;
	free(fr->g);
	free(fr->keep);
	free(fr->removed);
	free(fr);
}

int funcreward_new(struct funcreward **out, const float *act, int tokens, const float *down,
		   int hidden, int ffn)
{
	if (!out || !act || !down || tokens < 1 || hidden < 1 || ffn < 1)
		return FUNCREWARD_ERR_ARG;
	size_t nn = (size_t)ffn * (size_t)ffn;
	int rc = FUNCREWARD_ERR_NOMEM;
	double *dd = malloc(nn * sizeof *dd);
	struct funcreward *fr = calloc(1, sizeof *fr);
	if (!dd || !fr)
		goto out;
	fr->ffn = ffn;
	fr->g = malloc(nn * sizeof *fr->g);
	fr->keep = malloc((size_t)ffn);
	fr->removed = malloc((size_t)ffn * sizeof *fr->removed);
	if (!fr->g || !fr->keep || !fr->removed)
		goto out;
	int lrc = linalg_gram(fr->g, act, tokens, ffn); /* AᵀA */
	if (!lrc)
		lrc = linalg_gram(dd, down, hidden, ffn); /* DᵀD */
	if (lrc) {
		rc = lrc == LINALG_ERR_NONFINITE ? FUNCREWARD_ERR_VALUE
		     : lrc == LINALG_ERR_NOMEM   ? FUNCREWARD_ERR_NOMEM
						 : FUNCREWARD_ERR_ARG;
		goto out;
	}
	double total = 0;
	for (size_t i = 0; i < nn; i++) {
		fr->g[i] *= dd[i];
		total += fr->g[i];
	}
	fr->total = total;
	*out = fr;
	fr = NULL;
	rc = FUNCREWARD_OK;
out:
	funcreward_free(fr);
	free(dd);
	return rc;
}

int funcreward_ffn(const struct funcreward *fr)
{
	return fr->ffn;
}

double funcreward_total(const struct funcreward *fr)
{
	return fr->total;
}

const double *funcreward_gram(const struct funcreward *fr)
{
	return fr->g;
}

int funcreward_error(struct funcreward *fr, const int *kept, int k, double *rel_err)
{
	int F = fr->ffn;
	if (!kept || k < 0 || k > F || !rel_err)
		return FUNCREWARD_ERR_ARG;
	memset(fr->keep, 0, (size_t)F);
	for (int i = 0; i < k; i++) {
		if (kept[i] < 0 || kept[i] >= F || fr->keep[kept[i]])
			return FUNCREWARD_ERR_ARG;
		fr->keep[kept[i]] = 1;
	}
	int nr = 0;
	for (int i = 0; i < F; i++)
		if (!fr->keep[i])
			fr->removed[nr++] = i;
	/* symmetric G: diagonal plus twice the strict upper triangle over R × R */
	double s = 0;
	for (int a = 0; a < nr; a++) {
		const double *row = fr->g + (size_t)fr->removed[a] * F;
		double acc = 0;
		for (int b = a + 1; b < nr; b++)
			acc += row[fr->removed[b]];
		s += row[fr->removed[a]] + 2 * acc;
	}
	*rel_err = fr->total > 0 ? s / fr->total : 0;
	return FUNCREWARD_OK;
}

double funcreward_error_direct(const float *act, int tokens, const float *down, int hidden,
			       int ffn, const unsigned char *keep)
{
	double removed = 0, full = 0;
	for (int t = 0; t < tokens; t++)
		for (int h = 0; h < hidden; h++) {
			double yr = 0, yf = 0;
			for (int i = 0; i < ffn; i++) {
				double v = (double)act[(size_t)t * ffn + i] * down[(size_t)h * ffn + i];
				yf += v;
				if (!keep[i])
					yr += v;
			}
			removed += yr * yr;
			full += yf * yf;
		}
	return full > 0 ? removed / full : 0;
}
