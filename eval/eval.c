/* eval: perplexity protocol and model measures. See eval.h. */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"

const char *eval_strerror(int err)
{
	switch (err) {
	case EVAL_OK: return "success";
	case EVAL_ERR_EMPTY: return "text too short for one window";
	case EVAL_ERR_NOMEM: return "out of memory";
	case EVAL_ERR_FORWARD: return "forward pass failed";
	case EVAL_ERR_ARG: return "invalid argument";
	}
	return "unknown eval error";
}

double eval_nll_sum(const float *logits, const int *targets, int n, int vocab)
{
	double total = 0;
	for (int t = 0; t < n; t++) {
		const float *row = logits + (size_t)t * vocab;
		double mx = row[0];
		for (int i = 1; i < vocab; i++)
			if (row[i] > mx)
				mx = row[i];
		double sum = 0;
		for (int i = 0; i < vocab; i++)
			sum += exp((double)row[i] - mx);
		total += mx + log(sum) - (double)row[targets[t]];
	}
	return total;
}

int eval_perplexity(struct eval_result *out, struct forward *f, const struct model *m,
		    const int *ids, size_t n_ids, int seq_len, size_t max_windows,
		    eval_progress_fn *progress, void *ctx)
{
	if (seq_len < 2 || !ids)
		return EVAL_ERR_ARG;
	size_t windows = n_ids / (size_t)seq_len + (n_ids % (size_t)seq_len >= 2 ? 1 : 0);
	if (windows == 0)
		return EVAL_ERR_EMPTY;
	if (max_windows && windows > max_windows)
		windows = max_windows;
	int vocab = m->cfg.vocab;
	float *logits = malloc((size_t)seq_len * (size_t)vocab * sizeof *logits);
	if (!logits)
		return EVAL_ERR_NOMEM;
	double nll = 0, t0 = util_now();
	size_t predicted = 0, run = 0;
	int rc = EVAL_OK;
	for (size_t w = 0; w < windows; w++) {
		size_t start = w * (size_t)seq_len;
		int len = (int)(n_ids - start < (size_t)seq_len ? n_ids - start : (size_t)seq_len);
		if (forward_run(f, logits, ids + start, len, 0)) {
			rc = EVAL_ERR_FORWARD;
			goto out;
		}
		nll += eval_nll_sum(logits, ids + start + 1, len - 1, vocab);
		predicted += (size_t)len - 1;
		run += (size_t)len;
		if (progress)
			progress(ctx, w + 1, windows);
	}
	double secs = util_now() - t0;
	struct eval_result r = {
		.nll = nll / (double)predicted,
		.tokens = predicted,
		.windows = windows,
		.seconds = secs,
		.tokens_per_s = secs > 0 ? (double)run / secs : 0,
	};
	r.perplexity = exp(r.nll);
	*out = r;
out:
	free(logits);
	return rc;
}

double eval_flops_per_token(const struct model *m, int seq_len)
{
	const struct config *c = &m->cfg;
	double qd = (double)c->n_heads * c->head_dim, kvd = (double)c->n_kv_heads * c->head_dim;
	double H = c->hidden, macs = 0;
	for (int l = 0; l < c->n_layers; l++) {
		double F = m->layers[l].ffn;
		macs += H * (qd + 2 * kvd) + qd * H;       /* q, k, v, o */
		macs += H * F * (c->gated ? 3 : 2);       /* up, (gate), down */
		/* mean number of keys seen by positions 1..seq_len */
		double keys = 0;
		int w = c->window[l];
		for (int i = 1; i <= seq_len; i++)
			keys += (w > 0 && i > w) ? w : i;
		keys /= seq_len;
		macs += 2 * qd * keys;                    /* q·k and p·v */
	}
	macs += H * c->vocab;                             /* LM head */
	return 2 * macs;
}

size_t eval_peak_rss_bytes(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (size_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}
