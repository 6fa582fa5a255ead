/* kl: KL divergence and top-1 agreement of a pruned model against its dense one. See kl.h. */
#include "kl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

const char *kl_strerror(int err)
{
	switch (err) {
	case KL_OK: return "success";
	case KL_ERR_VOCAB: return "the models have different vocabularies";
	case KL_ERR_EMPTY: return "too few tokens for one window";
	case KL_ERR_NOMEM: return "out of memory";
	case KL_ERR_FORWARD: return "forward pass failed";
	case KL_ERR_ARG: return "invalid argument";
	}
	return "unknown kl error";
}

/* max and log-sum-exp of a logit row (vocab); *arg = first maximum */
static double log_sum_exp(const float *x, int vocab, int *arg)
{
	int a = 0;
	for (int i = 1; i < vocab; i++)
		if (x[i] > x[a])
			a = i;
	double mx = x[a], s = 0;
	for (int i = 0; i < vocab; i++)
		s += exp((double)x[i] - mx);
	*arg = a;
	return mx + log(s);
}

double kl_logits(const float *p_logits, const float *q_logits, int vocab, int *agree)
{
	int ap, aq;
	double lp = log_sum_exp(p_logits, vocab, &ap), lq = log_sum_exp(q_logits, vocab, &aq);
	double kl = 0;
	for (int i = 0; i < vocab; i++) {
		double logp = (double)p_logits[i] - lp, logq = (double)q_logits[i] - lq;
		kl += exp(logp) * (logp - logq);
	}
	*agree = ap == aq;
	return kl > 0 ? kl : 0; /* rounding can make a zero divergence slightly negative */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double kl_quantile(double *v, size_t n, double q)
{
	qsort(v, n, sizeof *v, cmp_double);
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)floor(pos);
	if (lo + 1 >= n)
		return v[n - 1];
	double frac = pos - (double)lo;
	return v[lo] + frac * (v[lo + 1] - v[lo]);
}

struct kl_acc {
	double *kls;        /* (cap) per-token KL */
	size_t n, cap, agree;
	double sum, nll_ref, nll;
};

int kl_acc_new(struct kl_acc **out)
{
	struct kl_acc *a = calloc(1, sizeof *a);
	if (!a)
		return KL_ERR_NOMEM;
	*out = a;
	return KL_OK;
}

void kl_acc_free(struct kl_acc *a)
{
	if (!a)
		return;
	free(a->kls);
	free(a);
}

int kl_acc_add(struct kl_acc *a, const float *ref_logits, const float *logits,
	       const int *targets, int n, int vocab)
{
	if (n <= 0)
		return KL_OK;
	if (a->n + (size_t)n > a->cap) {
		size_t cap = a->cap ? a->cap : 1024;
		while (cap < a->n + (size_t)n)
			cap *= 2;
		double *k = realloc(a->kls, cap * sizeof *k);
		if (!k)
			return KL_ERR_NOMEM;
		a->kls = k;
		a->cap = cap;
	}
	for (int t = 0; t < n; t++) {
		int agree;
		double kl = kl_logits(ref_logits + (size_t)t * vocab, logits + (size_t)t * vocab,
				      vocab, &agree);
		a->kls[a->n++] = kl;
		a->sum += kl;
		a->agree += (size_t)agree;
	}
	a->nll_ref += eval_nll_sum(ref_logits, targets, n, vocab);
	a->nll += eval_nll_sum(logits, targets, n, vocab);
	return KL_OK;
}

int kl_acc_result(const struct kl_acc *a, struct kl_result *out)
{
	if (a->n == 0)
		return KL_ERR_EMPTY;
	double *v = malloc(a->n * sizeof *v);
	if (!v)
		return KL_ERR_NOMEM;
	memcpy(v, a->kls, a->n * sizeof *v);
	double n = (double)a->n;
	struct kl_result r = {
		.mean = a->sum / n,
		.top1 = (double)a->agree / n,
		.tokens = a->n,
		.nll_ref = a->nll_ref / n,
		.nll = a->nll / n,
	};
	r.p99 = kl_quantile(v, a->n, 0.99);
	r.median = kl_quantile(v, a->n, 0.5);
	r.ppl_ref = exp(r.nll_ref);
	r.ppl = exp(r.nll);
	free(v);
	*out = r;
	return KL_OK;
}

int kl_eval(struct kl_result *out, struct forward *f_ref, const struct model *ref,
	    struct forward *f, const struct model *m, const int *ids, size_t n_ids, int seq_len,
	    size_t max_windows, char *err, size_t errlen)
{
	if (!out || !f_ref || !ref || !f || !m || !ids || seq_len < 2)
		return err_set(err, errlen, KL_ERR_ARG, "kl: invalid argument (seq_len %d)", seq_len);
	if (ref->cfg.vocab != m->cfg.vocab)
		return err_set(err, errlen, KL_ERR_VOCAB,
			       "models differ in vocabulary: reference has %d tokens, pruned model %d",
			       ref->cfg.vocab, m->cfg.vocab);
	size_t sl = (size_t)seq_len;
	size_t windows = n_ids / sl + (n_ids % sl >= 2 ? 1 : 0);
	if (windows == 0)
		return err_set(err, errlen, KL_ERR_EMPTY, "kl: %zu tokens, fewer than one window", n_ids);
	if (max_windows && windows > max_windows)
		windows = max_windows;
	int vocab = m->cfg.vocab, rc = KL_ERR_NOMEM;
	float *lr = malloc(sl * (size_t)vocab * sizeof *lr);
	float *lm = malloc(sl * (size_t)vocab * sizeof *lm);
	struct kl_acc *acc = NULL;
	struct kl_result r;
	if (!lr || !lm || kl_acc_new(&acc)) {
		err_set(err, errlen, rc, "kl: out of memory for windows of %d tokens", seq_len);
		goto out;
	}
	for (size_t w = 0; w < windows; w++) {
		size_t start = w * sl;
		int len = (int)(n_ids - start < sl ? n_ids - start : sl);
		if (forward_run(f_ref, lr, ids + start, len, 0) || forward_run(f, lm, ids + start, len, 0)) {
			rc = err_set(err, errlen, KL_ERR_FORWARD, "kl: forward pass failed on window %zu", w);
			goto out;
		}
		if (kl_acc_add(acc, lr, lm, ids + start + 1, len - 1, vocab)) {
			err_set(err, errlen, rc, "kl: out of memory after %zu windows", w);
			goto out;
		}
	}
	if ((rc = kl_acc_result(acc, &r))) {
		err_set(err, errlen, rc, "kl: %s", kl_strerror(rc));
		goto out;
	}
	r.windows = windows;
	*out = r;
	rc = KL_OK;
out:
	kl_acc_free(acc);
	free(lm);
	free(lr);
	return rc;
}
