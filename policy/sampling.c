/* sampling: Plackett–Luce sampling, log-probability and gradient (see sampling.h). */
#include "sampling.h"

#include <math.h>
#include <stdlib.h>

#include "topk.h"

const char *sampling_strerror(int status)
{
	switch (status) {
	case SAMPLING_OK: return "success";
	case SAMPLING_ERR_ARG: return "invalid argument";
	case SAMPLING_ERR_NONFINITE: return "score is not finite";
	case SAMPLING_ERR_ORDER: return "order index out of range or repeated";
	case SAMPLING_ERR_NOMEM: return "out of memory";
	default: return "unknown sampling error";
	}
}

static int check_args(const float *scores, const void *order, int n, int k)
{
	if (!scores || n < 1 || k < 0 || k > n || (k > 0 && !order))
		return SAMPLING_ERR_ARG;
	for (int j = 0; j < n; j++)
		if (!isfinite(scores[j]))
			return SAMPLING_ERR_NONFINITE;
	return SAMPLING_OK;
}

int sampling_gumbel_topk(int *order, const float *scores, int n, int k, struct pcg32 *rng)
{
	int rc = check_args(scores, order, n, k);
	if (rc)
		return rc;
	if (!rng)
		return SAMPLING_ERR_ARG;
	double *keys = malloc((size_t)n * sizeof(*keys));
	if (!keys)
		return SAMPLING_ERR_NOMEM;
	for (int j = 0; j < n; j++)
		keys[j] = (double)scores[j] + pcg32_gumbel(rng);
	rc = util_topk_double(order, keys, n, k) ? SAMPLING_ERR_NOMEM : SAMPLING_OK;
	free(keys);
	return rc;
}

/* log(exp a + exp b) without overflow; a may be -inf (empty set). */
static double log_add_exp(double a, double b)
{
	if (a == -INFINITY)
		return b;
	double hi = a > b ? a : b;
	double lo = a > b ? b : a;
	return hi + log1p(exp(lo - hi));
}

/*
 * Shared core. pos (n) out: pick step of each item, -1 if never picked.
 * lse (k) out: lse[i] = L_i = log sum_{j in R_i} exp s_j, built from the back:
 * L_k = logsumexp(never picked), L_i = log_add_exp(L_{i+1}, s_{o_i}). Each step
 * is a two-term log-sum-exp, so no difference of large sums is ever taken.
 */
static int pl_suffix(int *pos, double *lse, const float *scores, const int *order, int n, int k)
{
	for (int j = 0; j < n; j++)
		pos[j] = -1;
	for (int i = 0; i < k; i++) {
		int o = order[i];
		if (o < 0 || o >= n || pos[o] >= 0)
			return SAMPLING_ERR_ORDER;
		pos[o] = i;
	}

	double m = -INFINITY;
	for (int j = 0; j < n; j++)
		if (pos[j] < 0 && scores[j] > m)
			m = scores[j];
	double tail = -INFINITY;
	if (m > -INFINITY) {
		double sum = 0.0;
		for (int j = 0; j < n; j++)
			if (pos[j] < 0)
				sum += exp((double)scores[j] - m);
		tail = m + log(sum);
	}
	for (int i = k - 1; i >= 0; i--) {
		tail = log_add_exp(tail, scores[order[i]]);
		lse[i] = tail;
	}
	return SAMPLING_OK;
}

/* Scratch for pl_suffix: pos (n) ints and lse (k) doubles in one block. */
static void *pl_scratch(int **pos, double **lse, int n, int k)
{
	size_t bytes = (size_t)k * sizeof(double) + (size_t)n * sizeof(int);
	double *block = malloc(bytes ? bytes : 1);
	if (!block)
		return NULL;
	*lse = block;
	*pos = (int *)(block + k);
	return block;
}

int sampling_log_prob(double *out, const float *scores, const int *order, int n, int k)
{
	int *pos;
	double *lse;
	int rc = check_args(scores, order, n, k);
	if (rc)
		return rc;
	if (!out)
		return SAMPLING_ERR_ARG;
	void *scratch = pl_scratch(&pos, &lse, n, k);
	if (!scratch)
		return SAMPLING_ERR_NOMEM;
	rc = pl_suffix(pos, lse, scores, order, n, k);
	if (rc)
		goto out;
	double lp = 0.0;
	for (int i = 0; i < k; i++)
		lp += (double)scores[order[i]] - lse[i];
	*out = lp;
out:
	free(scratch);
	return rc;
}

int sampling_log_prob_grad(float *dscores, const float *scores, const int *order, int n, int k)
{
	int *pos;
	double *lse;
	int rc = check_args(scores, order, n, k);
	if (rc)
		return rc;
	if (!dscores)
		return SAMPLING_ERR_ARG;
	void *scratch = pl_scratch(&pos, &lse, n, k);
	if (!scratch)
		return SAMPLING_ERR_NOMEM;
	rc = pl_suffix(pos, lse, scores, order, n, k);
	if (rc)
		goto out;
	if (k == 0) {
		for (int j = 0; j < n; j++)
			dscores[j] = 0.0f;
		goto out;
	}
	/*
	 * sum_{i<=t} exp(s - L_i) = exp(s - L_t) * A_t with A_t = sum_{i<=t} exp(L_t - L_i);
	 * L_i is non-increasing, so every term of A_t is <= 1 (A_t <= t + 1) and
	 * exp(s - L_t) <= 1 for s in R_t: nothing overflows or underflows to a wrong
	 * value.
	 */
	double a = 1.0;
	for (int t = 0; t < k; t++) {
		if (t > 0)
			a = a * exp(lse[t] - lse[t - 1]) + 1.0;
		dscores[order[t]] = (float)(1.0 - exp((double)scores[order[t]] - lse[t]) * a);
	}
	for (int j = 0; j < n; j++)
		if (pos[j] < 0)
			dscores[j] = (float)(-exp((double)scores[j] - lse[k - 1]) * a);
out:
	free(scratch);
	return rc;
}

int sampling_entropy(double *out, float *dscores, const float *scores, int n)
{
	int rc = check_args(scores, NULL, n, 0);
	if (rc)
		return rc;
	if (!out)
		return SAMPLING_ERR_ARG;
	double m = scores[0];
	for (int j = 1; j < n; j++)
		if (scores[j] > m)
			m = scores[j];
	double z = 0.0;
	for (int j = 0; j < n; j++)
		z += exp((double)scores[j] - m);
	double log_z = m + log(z);
	double h = 0.0;
	for (int j = 0; j < n; j++) {
		double lp = (double)scores[j] - log_z;
		h -= exp(lp) * lp;
	}
	if (dscores) {
		for (int j = 0; j < n; j++) {
			double lp = (double)scores[j] - log_z;
			dscores[j] = (float)(-exp(lp) * (lp + h));
		}
	}
	*out = h;
	return SAMPLING_OK;
}
