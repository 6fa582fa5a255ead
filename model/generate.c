/* generate: greedy decoding. See generate.h. */
#include "generate.h"

#include <stdlib.h>

#include "clock.h"
#include "err.h"
#include "forward.h"

/* Highest logit v (n) among ids the tokenizer can decode; -1 if none. */
static int argmax_decodable(const float *v, int n, const struct tokenizer *tok)
{
	int best = -1;
	for (int i = 0; i < n; i++)
		if (tokenizer_token(tok, i) && (best < 0 || v[i] > v[best]))
			best = i;
	return best;
}

int generate_greedy(struct generate_result *res, const struct model *m,
		    const struct tokenizer *tok, int eos_id, int *ids, size_t n, long max_tokens,
		    generate_token_fn *cb, void *ctx, char *err, size_t errlen)
{
	int ctx_len = m->cfg.max_pos, V = m->cfg.vocab, rc;
	struct forward *f = NULL;
	struct generate_result r = {0, false, 0};
	if (n == 0 || n >= (size_t)ctx_len || max_tokens < 1)
		return err_set(err, errlen, GENERATE_ERR_ARG,
			       "prompt of %zu tokens: needs 1 to %d tokens and room for one more", n,
			       ctx_len - 1);
	/* logits (n, V) for the prompt, then (1, V) per step */
	float *logits = malloc(n * (size_t)V * sizeof *logits);
	if (!logits || forward_new(&f, m, ctx_len)) {
		rc = err_set(err, errlen, GENERATE_ERR_NOMEM, "out of memory");
		goto out;
	}
	double t0 = util_now();
	if (forward_run(f, logits, ids, (int)n, 0))
		goto forward_failed;
	const float *last = logits + (n - 1) * (size_t)V;
	for (;;) {
		int next = argmax_decodable(last, V, tok);
		if (next < 0 || next == eos_id)
			break;
		ids[n++] = next;
		r.generated++;
		if (cb && cb(ctx, ids, n)) {
			rc = err_set(err, errlen, GENERATE_ERR_CALLBACK, "the token callback failed");
			goto out;
		}
		if (r.generated == max_tokens)
			break;
		if ((int)n >= ctx_len) {
			r.hit_context = true;
			break;
		}
		if (forward_run(f, logits, &ids[n - 1], 1, (int)n - 1))
			goto forward_failed;
		last = logits;
	}
	r.seconds = util_now() - t0;
	*res = r;
	rc = GENERATE_OK;
	goto out;
forward_failed:
	rc = err_set(err, errlen, GENERATE_ERR_FORWARD, "forward pass failed");
out:
	forward_free(f);
	free(logits);
	return rc;
}
