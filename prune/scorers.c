/* scorers: baseline pruning criteria on plain arrays. See scorers.h. */
#include "scorers.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topk.h"

const char *scorers_strerror(int err)
{
	switch (err) {
	case SCORERS_OK: return "success";
	case SCORERS_ERR_RATIO: return "ratio must be in [0, 1) and leave at least one weight per row";
	case SCORERS_ERR_NOMEM: return "out of memory";
	case SCORERS_ERR_VALUE: return "NaN or infinite weight";
	case SCORERS_ERR_ARG: return "invalid size or budget";
	}
	return "unknown scorers error";
}

struct pcg32 scorers_rng(uint64_t seed)
{
	struct pcg32 r;
	pcg32_seed(&r, seed, SCORERS_RNG_STREAM);
	return r;
}

void scorers_random_rows(float *scores, int ffn, struct pcg32 *rng)
{
	for (int i = 0; i < ffn; i++)
		scores[i] = (float)(pcg32_next(rng) >> 8) * 0x1p-24f;
}

/* ||v (n)||_p for p = 1 or 2, in double */
static double norm_p(const float *v, int n, int p)
{
	double s = 0;
	for (int j = 0; j < n; j++)
		s += p == 1 ? fabs((double)v[j]) : (double)v[j] * v[j];
	return p == 1 ? s : sqrt(s);
}

void scorers_magnitude_rows(float *scores, const float *up, const float *gate, int ffn, int hidden,
			    int p)
{
	for (int i = 0; i < ffn; i++) {
		double s = norm_p(up + (size_t)i * hidden, hidden, p);
		if (gate)
			s += norm_p(gate + (size_t)i * hidden, hidden, p);
		scores[i] = (float)s;
	}
}

void scorers_wanda_rows(float *scores, const float *up, const float *gate, const float *xnorm,
			int ffn, int hidden)
{
	for (int i = 0; i < ffn; i++) {
		double s = 0;
		for (int j = 0; j < hidden; j++) {
			s += fabs((double)up[(size_t)i * hidden + j]) * xnorm[j];
			if (gate)
				s += fabs((double)gate[(size_t)i * hidden + j]) * xnorm[j];
		}
		scores[i] = (float)s;
	}
}

enum weight_key { KEY_MAGNITUDE, KEY_WANDA, KEY_RANDOM };

/* Shared driver of the per-row top-k masks. */
static int weights_mask(unsigned char *mask, const float *w, const float *xnorm, int rows, int cols,
			double ratio, enum weight_key kind, struct pcg32 *rng)
{
	if (rows < 0 || cols < 0)
		return SCORERS_ERR_ARG;
	int k = util_keep_count(cols, ratio);
	if (k < 0)
		return SCORERS_ERR_RATIO;
	double *key = malloc(((size_t)cols + 1) * sizeof *key);
	int *order = malloc(((size_t)k + 1) * sizeof *order);
	int rc = key && order ? SCORERS_OK : SCORERS_ERR_NOMEM;
	for (int r = 0; r < rows && !rc; r++) {
		const float *row = w ? w + (size_t)r * cols : NULL;
		for (int j = 0; j < cols; j++) {
			switch (kind) {
			case KEY_MAGNITUDE: key[j] = fabs((double)row[j]); break;
			case KEY_WANDA: key[j] = fabs((double)row[j]) * xnorm[j]; break;
			case KEY_RANDOM: key[j] = pcg32_uniform(rng); break;
			}
		}
		if (util_topk_double(order, key, cols, k)) {
			rc = SCORERS_ERR_NOMEM;
			break;
		}
		unsigned char *keep = mask + (size_t)r * cols;
		memset(keep, 0, (size_t)cols);
		for (int i = 0; i < k; i++)
			keep[order[i]] = 1;
	}
	free(order);
	free(key);
	return rc;
}

int scorers_magnitude_weights(unsigned char *mask, const float *w, int rows, int cols, double ratio)
{
	return weights_mask(mask, w, NULL, rows, cols, ratio, KEY_MAGNITUDE, NULL);
}

int scorers_wanda_weights(unsigned char *mask, const float *w, const float *xnorm, int rows,
			  int cols, double ratio)
{
	return weights_mask(mask, w, xnorm, rows, cols, ratio, KEY_WANDA, NULL);
}

int scorers_random_weights(unsigned char *mask, int rows, int cols, double ratio,
			   struct pcg32 *rng)
{
	return weights_mask(mask, NULL, NULL, rows, cols, ratio, KEY_RANDOM, rng);
}

/* ---- N:M ---- */

/* Weights kept in a group of r (<= m) under N:M. */
static int nm_keep(int r, int n, int m)
{
	return (r * n + m - 1) / m;
}

int scorers_nm_weights(unsigned char *mask, const float *w, const float *xnorm, int rows, int cols,
		       int n, int m)
{
	if (rows < 0 || cols < 0 || n < 1 || m > 64 || n >= m)
		return SCORERS_ERR_ARG;
	for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
		if (!isfinite(w[i]))
			return SCORERS_ERR_VALUE;
	for (int i = 0; i < rows; i++)
		for (int g = 0; g < cols; g += m) {
			const float *row = w + (size_t)i * cols;
			unsigned char *mk = mask + (size_t)i * cols;
			int r = cols - g < m ? cols - g : m, keep = nm_keep(r, n, m);
			for (int j = g; j < g + r; j++)
				mk[j] = 0;
			for (int t = 0; t < keep; t++) {
				int best = -1;
				float top = 0;
				for (int j = g; j < g + r; j++) {
					float key = fabsf(row[j]) * (xnorm ? xnorm[j] : 1.0f);
					if (!mk[j] && (best < 0 || key > top)) {
						best = j;
						top = key;
					}
				}
				mk[best] = 1;
			}
		}
	return SCORERS_OK;
}

long scorers_nm_violations(const float *w, int rows, int cols, int n, int m)
{
	long bad = 0;
	if (rows < 0 || cols < 0 || n < 1 || n >= m)
		return -1;
	for (int i = 0; i < rows; i++)
		for (int g = 0; g < cols; g += m) {
			int r = cols - g < m ? cols - g : m, nz = 0;
			for (int j = g; j < g + r; j++)
				nz += w[(size_t)i * cols + j] != 0;
			bad += nz > nm_keep(r, n, m);
		}
	return bad;
}
