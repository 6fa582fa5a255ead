/* kl: closeness of a pruned model to its dense reference on a token sequence.
 *
 * Windows follow eval_perplexity (eval.h): the ids (BOS first) are cut into non-overlapping
 * windows of seq_len tokens (a final partial window of ≥ 2 tokens is kept), each run from
 * position 0 through both models; every position but the last predicts the next token. Per
 * predicted token: KL(dense ‖ pruned) of the two next-token distributions (softmax of the logits,
 * natural log, double math) and whether both models' most likely tokens agree (first maximum on
 * ties). Only one window of logits per model is held at a time; the per-token KLs (tokens doubles)
 * are kept for the median and the 99th percentile. */
#ifndef YOPO_KL_H
#define YOPO_KL_H

#include <stddef.h>

#include "forward.h"
#include "model.h"

enum kl_error {
	KL_OK = 0,
	KL_ERR_VOCAB = -1,   /* the two models have different vocabularies */
	KL_ERR_EMPTY = -2,   /* too few ids for one window */
	KL_ERR_NOMEM = -3,
	KL_ERR_FORWARD = -4, /* a forward pass failed */
	KL_ERR_ARG = -5,     /* NULL pointer, seq_len < 2 */
};

const char *kl_strerror(int err);

struct kl_result {
	double mean, median, p99; /* KL(dense ‖ pruned) per predicted token, nats */
	double top1;              /* fraction of predicted tokens whose argmax agrees */
	size_t tokens, windows;
	double nll_ref, nll;      /* mean NLL of the next token: dense, pruned (nats) */
	double ppl_ref, ppl;      /* exp of those */
};

/* KL(p ‖ q) of softmax(p_logits) and softmax(q_logits), both (vocab); natural log, double math.
 * *agree = 1 when both argmaxes (first maximum) are equal, else 0. */
double kl_logits(const float *p_logits, const float *q_logits, int vocab, int *agree);

/* q-quantile (q in [0, 1]) of v (n ≥ 1) with linear interpolation between order statistics
 * (numpy's default: position q·(n−1) of the sorted values). Sorts v in place. */
double kl_quantile(double *v, size_t n, double q);

/* Accumulator of per-token KLs, agreements and both NLLs, for callers that run several pruned
 * models against one dense forward per window (the dense logits computed once). */
struct kl_acc;

/* *out owned by the caller (kl_acc_free). Errors: KL_ERR_NOMEM. */
int kl_acc_new(struct kl_acc **out);

void kl_acc_free(struct kl_acc *a);

/* Adds n predicted tokens: ref_logits, logits (n, vocab) of the dense and the pruned model for
 * the same positions, targets (n) the next tokens. Errors: KL_ERR_NOMEM (a unchanged). */
int kl_acc_add(struct kl_acc *a, const float *ref_logits, const float *logits,
	       const int *targets, int n, int vocab);

/* The summary of everything added so far (windows left 0). Errors: KL_ERR_EMPTY (no token),
 * KL_ERR_NOMEM. */
int kl_acc_result(const struct kl_acc *a, struct kl_result *out);

/* Runs the protocol on ids (n_ids) with f_ref (forward of ref, the dense model) and f (of m, the
 * pruned one); max_windows 0 means all; seq_len ≤ both forwards' max_seq. out only on success.
 * Errors: KL_ERR_VOCAB, KL_ERR_EMPTY, KL_ERR_FORWARD, KL_ERR_NOMEM, KL_ERR_ARG (reason in err). */
int kl_eval(struct kl_result *out, struct forward *f_ref, const struct model *ref,
	    struct forward *f, const struct model *m, const int *ids, size_t n_ids, int seq_len,
	    size_t max_windows, char *err, size_t errlen);

#endif
