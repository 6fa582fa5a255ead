/* generate: the decoding loop (greedy or sampled through sampler.h). See generate.h. */
#include "generate.h"

#include <stdlib.h>

#include "clock.h"
#include "err.h"
#include "forward.h"

/* mask (V): 1 for every id the tokenizer has a token for. */
static unsigned char *decodable_mask(const struct tokenizer *tok, int V)
{
	unsigned char *mask = malloc((size_t)V);

	if (mask)
		for (int i = 0; i < V; i++)
			mask[i] = tokenizer_token(tok, i) != NULL;
	return mask;
}

/* Steps after the prompt; logits (V) holds the prompt's last row. */
static int decode_loop(struct generate_result *r, struct forward *f, float *logits,
		       const unsigned char *mask, struct sampler *smp, int ctx_len, int eos_id, int *ids,
		       size_t n, long max_tokens, generate_token_fn *cb, void *ctx, char *err,
		       size_t errlen)
{
	int rc;

	while (r->generated < max_tokens) {
		int next = sampler_pick(smp, logits, mask);

		if (next < 0 || next == eos_id)
			break;
		ids[n++] = next;
		r->generated++;
		if (cb && cb(ctx, ids, n))
			return err_set(err, errlen, GENERATE_ERR_CALLBACK,
				       "generation stopped by the token callback after %ld tokens",
				       r->generated);
		if (r->generated == max_tokens)
			break;
		if ((long)n >= ctx_len) {
			r->hit_context = true;
			break;
		}
		if ((rc = forward_run(f, logits, &ids[n - 1], 1, (int)n - 1)))
			return err_set(err, errlen, GENERATE_ERR_FORWARD, "forward pass at position %zu: %s",
				       n - 1, forward_strerror(rc));
	}
	return GENERATE_OK;
}

int generate_greedy(struct generate_result *res, const struct model *m,
		    const struct tokenizer *tok, int eos_id, int *ids, size_t n,
		    long max_tokens, generate_token_fn *cb, void *ctx, char *err,
		    size_t errlen)
{
	return generate_sample(res, m, tok, eos_id, ids, n, max_tokens, NULL, cb, ctx, err, errlen);
}

int generate_sample(struct generate_result *res, const struct model *m,
		    const struct tokenizer *tok, int eos_id, int *ids, size_t n,
		    long max_tokens, const struct sample_opts *so, generate_token_fn *cb,
		    void *ctx, char *err, size_t errlen)
{
	int rc, V, ctx_len;
	struct forward *f = NULL;
	float *logits = NULL;
	unsigned char *mask = NULL;
	struct sampler *smp = NULL;
	struct generate_result r = { 0, false, 0 };
	double t0;

	if (!res || !m || !tok || !ids || n == 0 || max_tokens < 0)
		return err_set(err, errlen, GENERATE_ERR_ARG, "generate: invalid argument");
	V = m->cfg.vocab;
	ctx_len = m->cfg.max_pos;
	if (n >= (size_t)ctx_len)
		return err_set(err, errlen, GENERATE_ERR_ARG,
			       "prompt of %zu tokens leaves no room in the context of %d", n, ctx_len);
	/* the cache needs only the positions this call can reach */
	long reach = (long)n + max_tokens;
	int max_seq = reach < ctx_len ? (int)reach : ctx_len;

	if ((rc = sampler_new(&smp, so, V)))
		return err_set(err, errlen, rc == SAMPLER_ERR_NOMEM ? GENERATE_ERR_NOMEM : GENERATE_ERR_ARG,
			       rc == SAMPLER_ERR_NOMEM ? "out of memory for the sampler"
						       : "sampling: temperature must be >= 0, top-k >= 0 "
							 "and top-p in (0, 1]");
	logits = malloc(n * (size_t)V * sizeof *logits);
	mask = decodable_mask(tok, V);
	if (!logits || !mask) {
		rc = err_set(err, errlen, GENERATE_ERR_NOMEM, "out of memory for %zu x %d logits", n, V);
		goto out;
	}
	if ((rc = forward_new(&f, m, max_seq))) {
		rc = err_set(err, errlen, rc == FORWARD_ERR_NOMEM ? GENERATE_ERR_NOMEM : GENERATE_ERR_FORWARD,
			     "forward state for %d positions: %s", max_seq, forward_strerror(rc));
		goto out;
	}
	t0 = util_now();
	if ((rc = forward_run(f, logits, ids, (int)n, 0))) {
		rc = err_set(err, errlen, GENERATE_ERR_FORWARD, "forward pass over the %zu-token prompt: %s",
			     n, forward_strerror(rc));
		goto out;
	}
	/* the last prompt row becomes the first row: steps reuse the buffer's start */
	for (int i = 0; i < V; i++)
		logits[i] = logits[(n - 1) * (size_t)V + (size_t)i];
	if ((rc = decode_loop(&r, f, logits, mask, smp, ctx_len, eos_id, ids, n, max_tokens, cb, ctx,
			      err, errlen)))
		goto out;
	r.seconds = util_now() - t0;
	*res = r;
out:
	sampler_free(smp);
	forward_free(f);
	free(mask);
	free(logits);
	return rc;
}
