/*
 * sampling: Plackett–Luce orderings over n scored items. A Plackett–Luce sample
 * picks o_0 with probability softmax(scores) and each later o_i by softmax over
 * the items not yet picked; perturbing every score with independent Gumbel noise
 * and taking the k largest in decreasing order draws exactly such a sample.
 * The log-probability of the first k picks and its analytic gradient are
 * computed in O(n + k) in log space (suffix log-sum-exp), so they stay finite
 * and accurate even when later picks have scores thousands below the first.
 *
 * Scores must be finite (SAMPLING_ERR_NONFINITE otherwise). Orders are arrays
 * of k distinct item indices in [0, n).
 */
#ifndef YOPO_SAMPLING_H
#define YOPO_SAMPLING_H

#include "pcg32.h"

enum sampling_status {
	SAMPLING_OK = 0,
	SAMPLING_ERR_ARG = -1,       /* NULL pointer, n < 1, k < 0 or k > n */
	SAMPLING_ERR_NONFINITE = -2, /* a score is NaN or infinite */
	SAMPLING_ERR_ORDER = -3,     /* order index out of range or repeated */
	SAMPLING_ERR_NOMEM = -4,     /* scratch allocation failed */
};

/* Static message for a sampling_status value; never NULL. */
const char *sampling_strerror(int status);

/*
 * Draw a Plackett–Luce ordering of k of the n items: perturb each score with a
 * Gumbel draw (n draws from rng, in index order) and write the indices of the k
 * largest perturbed scores in decreasing order (ties by lower index).
 * order (k) out; scores (n). Errors: SAMPLING_ERR_ARG, SAMPLING_ERR_NONFINITE,
 * SAMPLING_ERR_NOMEM; rng is not advanced on error.
 */
int sampling_gumbel_topk(int *order, const float *scores, int n, int k, struct pcg32 *rng);

/* The deterministic top-k (same order and ties) is util_topk (topk.h). */

/*
 * *out = log P(first k picks are order[0..k-1]) under Plackett–Luce(scores)
 *      = sum_{i<k} [ s_{o_i} - log sum_{j in R_i} exp s_j ],
 * R_i = items not among o_0..o_{i-1}. Always <= 0; k == 0 gives 0.
 * scores (n); order (k). Errors: SAMPLING_ERR_ARG, SAMPLING_ERR_NONFINITE,
 * SAMPLING_ERR_ORDER, SAMPLING_ERR_NOMEM.
 */
int sampling_log_prob(double *out, const float *scores, const int *order, int n, int k);

/*
 * dscores (n) out = d log P / d scores for the same quantity as sampling_log_prob:
 * an item picked at step t gets 1 - sum_{i<=t} exp(s - L_i), a never-picked item
 * gets -sum_{i<k} exp(s - L_i), with L_i = log sum_{j in R_i} exp s_j. The
 * entries sum to 0. scores (n); order (k). Errors as sampling_log_prob;
 * dscores is written only on success.
 */
int sampling_log_prob_grad(float *dscores, const float *scores, const int *order, int n, int k);

/*
 * Entropy (nats) of the single softmax distribution p = softmax(scores),
 * H = -sum p_j log p_j, for an optional exploration bonus; this is the entropy of
 * the first pick, not of the whole k-step ordering. If dscores (n) is non-NULL it
 * receives dH/ds_j = -p_j (log p_j + H). scores (n).
 * Errors: SAMPLING_ERR_ARG, SAMPLING_ERR_NONFINITE.
 */
int sampling_entropy(double *out, float *dscores, const float *scores, int n);

#endif
