/* measure: model and plan measurements. See measure.h. */
#include "measure.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "forward.h"
#include "generate.h"
#include "text.h"
#include "unicode.h"

/* text (len) as one table-safe line of at most cap - 1 bytes into out. */
static void one_line(char *out, size_t cap, const char *text, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t w = unicode_utf8_decode(&cp, text + i, len - i);
		if (o + w + 1 > cap)
			break;
		if (cp == UNICODE_INVALID)
			out[o++] = '?';
		else if (cp < 0x20 || cp == 0x7f || cp == '|' || cp == '"' || cp == '\\')
			out[o++] = ' ';
		else {
			memcpy(out + o, text + i, w);
			o += w;
		}
		i += w;
	}
	out[o] = '\0';
}

/* Greedy sample of n tokens after BOS; "" when the model has no BOS or decoding fails. */
static void sample(char *out, size_t cap, const struct model *m, const struct tokenizer *tok,
		   long n)
{
	int bos = text_bos_id(m, tok), *gen = malloc(((size_t)n + 1) * sizeof *gen);
	char *text = NULL;
	size_t len = 0;
	struct generate_result gr;
	out[0] = '\0';
	if (gen && bos >= 0) {
		gen[0] = bos;
		if (generate_greedy(&gr, m, tok, text_eos_id(m, tok), gen, 1, n, NULL, NULL, NULL, 0) ==
			    0 &&
		    tokenizer_decode(tok, gen + 1, (size_t)gr.generated, 1, &text, &len) == 0)
			one_line(out, cap, text, len);
	}
	free(text);
	free(gen);
}

/* eval_perplexity's protocol with every window also run through the reference forward fr: the
 * KL summary into *k, m's perplexity into *e (timing m's forward passes only). */
static int eval_against(struct eval_result *e, struct kl_result *k, struct forward *f,
			struct forward *fr, int vocab, const int *ids, size_t n_ids, int sl,
			size_t max_windows, eval_progress_fn *progress, void *ctx, char *err,
			size_t errlen)
{
	size_t windows = n_ids / (size_t)sl + (n_ids % (size_t)sl >= 2 ? 1 : 0);
	if (windows == 0)
		return err_set(err, errlen, MEASURE_ERR_EVAL, "%s", eval_strerror(EVAL_ERR_EMPTY));
	if (max_windows && windows > max_windows)
		windows = max_windows;
	float *lr = malloc((size_t)sl * (size_t)vocab * sizeof *lr);
	float *lm = malloc((size_t)sl * (size_t)vocab * sizeof *lm);
	struct kl_acc *acc = NULL;
	double secs = 0;
	size_t run = 0;
	int rc = MEASURE_ERR_NOMEM;
	if (!lr || !lm || kl_acc_new(&acc))
		goto nomem;
	for (size_t w = 0; w < windows; w++) {
		size_t start = w * (size_t)sl;
		int len = (int)(n_ids - start < (size_t)sl ? n_ids - start : (size_t)sl);
		double t0 = util_now();
		int bad = forward_run(f, lm, ids + start, len, 0);
		secs += util_now() - t0;
		if (bad || forward_run(fr, lr, ids + start, len, 0)) {
			rc = err_set(err, errlen, MEASURE_ERR_EVAL, "%s", eval_strerror(EVAL_ERR_FORWARD));
			goto out;
		}
		if (kl_acc_add(acc, lr, lm, ids + start + 1, len - 1, vocab))
			goto nomem;
		run += (size_t)len;
		if (progress)
			progress(ctx, w + 1, windows);
	}
	if (kl_acc_result(acc, k))
		goto nomem;
	k->windows = windows;
	*e = (struct eval_result){.nll = k->nll, .perplexity = k->ppl, .tokens = k->tokens,
				  .windows = windows, .seconds = secs,
				  .tokens_per_s = secs > 0 ? (double)run / secs : 0};
	rc = MEASURE_OK;
	goto out;
nomem:
	err_set(err, errlen, rc, "out of memory");
out:
	kl_acc_free(acc);
	free(lm);
	free(lr);
	return rc;
}

int measure_model(struct measure *out, const struct model *m, const struct tokenizer *tok,
		  const struct model *ref, const int *ids, size_t n_ids, int seq_len,
		  size_t max_windows, long sample_tokens, eval_progress_fn *progress, void *ctx,
		  char *err, size_t errlen)
{
	int sl = seq_len ? seq_len : m->cfg.max_pos;
	if (sl < 2 || sl > m->cfg.max_pos || (ref && sl > ref->cfg.max_pos))
		return err_set(err, errlen, MEASURE_ERR_ARG, "--seq-len %d exceeds the model's context (%d)",
			       sl, ref && ref->cfg.max_pos < m->cfg.max_pos ? ref->cfg.max_pos
									 : m->cfg.max_pos);
	if (ref && ref->cfg.vocab != m->cfg.vocab)
		return err_set(err, errlen, MEASURE_ERR_REF,
			       "models differ in vocabulary: reference has %d tokens, model %d",
			       ref->cfg.vocab, m->cfg.vocab);
	struct measure r = {.params = m->n_params, .ffn_params = m->n_ffn_params,
			    .bytes = m->file_bytes, .flops = eval_flops_per_token(m, sl),
			    .has_kl = ref != NULL};
	struct forward *f = NULL, *fr = NULL;
	int rc = MEASURE_OK;
	if (forward_new(&f, m, sl) || (ref && forward_new(&fr, ref, sl))) {
		rc = err_set(err, errlen, MEASURE_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (ref) {
		rc = eval_against(&r.eval, &r.kl, f, fr, m->cfg.vocab, ids, n_ids, sl, max_windows,
				  progress, ctx, err, errlen);
	} else {
		int e = eval_perplexity(&r.eval, f, m, ids, n_ids, sl, max_windows, progress, ctx);
		if (e)
			rc = err_set(err, errlen, e == EVAL_ERR_NOMEM ? MEASURE_ERR_NOMEM : MEASURE_ERR_EVAL,
				     "%s", eval_strerror(e));
	}
	if (rc)
		goto out;
	if (sample_tokens > 0)
		sample(r.sample, sizeof r.sample, m, tok, sample_tokens);
	*out = r;
out:
	forward_free(fr);
	forward_free(f);
	return rc;
}

/* The reference model of yopo eval --reference: same vocabulary, same ids for the text. */
static int open_reference(struct model **ref, const char *ref_dir, const struct model *m,
			  const int *ids, size_t n_ids, const char *text_path, char *err,
			  size_t errlen)
{
	struct tokenizer *tok = NULL;
	int *rids = NULL;
	size_t n = 0;
	int rc = MEASURE_ERR_INPUT;
	if (text_open_model(ref, &tok, ref_dir, err, errlen)) {
		err_prefix(err, errlen, rc, "--reference");
		goto out;
	}
	if ((*ref)->cfg.vocab != m->cfg.vocab) {
		rc = err_set(err, errlen, MEASURE_ERR_REF,
			     "models differ in vocabulary: reference %s has %d tokens, model %d",
			     ref_dir, (*ref)->cfg.vocab, m->cfg.vocab);
		goto out;
	}
	if (text_encode_file(&rids, &n, *ref, tok, text_path, err, errlen))
		goto out;
	if (n != n_ids || memcmp(rids, ids, n * sizeof *ids)) {
		rc = err_set(err, errlen, MEASURE_ERR_REF,
			     "models differ in tokenizer: %s encodes to %zu tokens with the reference %s, "
			     "%zu with the model", text_path, n, ref_dir, n_ids);
		goto out;
	}
	rc = MEASURE_OK;
out:
	if (rc) {
		model_close(*ref);
		*ref = NULL;
	}
	free(rids);
	tokenizer_free(tok);
	return rc;
}

int measure_text(struct measure_text_result *out, const char *model_dir, const char *ref_dir,
		 const char *text_path, int seq_len, size_t max_windows, eval_progress_fn *progress,
		 void *ctx, char *err, size_t errlen)
{
	return measure_text_weights(out, model_dir, ref_dir, text_path, seq_len, max_windows,
				    MODEL_WEIGHTS_F32, progress, ctx, err, errlen);
}

int measure_text_weights(struct measure_text_result *out, const char *model_dir,
			 const char *ref_dir, const char *text_path, int seq_len,
			 size_t max_windows, enum model_weights weights, eval_progress_fn *progress,
			 void *ctx, char *err, size_t errlen)
{
	struct model *m = NULL, *ref = NULL;
	struct tokenizer *tok = NULL;
	int *ids = NULL, rc = MEASURE_ERR_INPUT;
	struct measure_text_result r = {0};
	if (text_check_file(text_path, err, errlen) ||
	    text_open_model_weights(&m, &tok, model_dir, weights, err, errlen))
		goto out;
	r.seq_len = seq_len ? seq_len : m->cfg.max_pos;
	if (r.seq_len > m->cfg.max_pos) {
		rc = err_set(err, errlen, MEASURE_ERR_ARG, "--seq-len %d exceeds the model's context (%d)",
			     r.seq_len, m->cfg.max_pos);
		goto out;
	}
	if (text_encode_file(&ids, &r.n_ids, m, tok, text_path, err, errlen))
		goto out;
	if (ref_dir && (rc = open_reference(&ref, ref_dir, m, ids, r.n_ids, text_path, err, errlen)))
		goto out;
	if ((rc = measure_model(&r.m, m, tok, ref, ids, r.n_ids, r.seq_len, max_windows, 0, progress,
				ctx, err, errlen))) {
		err_prefix(err, errlen, rc, "%s", text_path);
		goto out;
	}
	snprintf(r.model_type, sizeof r.model_type, "%s", m->cfg.model_type);
	r.n_layers = m->cfg.n_layers;
	r.hidden = m->cfg.hidden;
	r.ffn = m->cfg.ffn;
	r.peak_rss = eval_peak_rss_bytes();
	*out = r;
out:
	free(ids);
	tokenizer_free(tok);
	model_close(ref);
	model_close(m);
	return rc;
}

/* KS of one layer of a WEIGHTS plan: the scored matrix w (rows, cols) with its mask applied. */
static int masked_ks(double *ks, struct env *env, const struct prune_plan *plan, int l,
		     const float *w, float **w2)
{
	const struct config *c = env_config(env);
	enum config_tensor scored = c->gated ? CONFIG_TENSOR_GATE : CONFIG_TENSOR_UP;
	size_t n = (size_t)env_rows(env, l) * (size_t)env_cols(env);
	const unsigned char *mask = prune_plan_mask_const(plan, l, scored);
	float *nw = realloc(*w2, n * sizeof *nw);
	if (!mask || !nw)
		return -1;
	*w2 = nw;
	for (size_t i = 0; i < n; i++)
		nw[i] = mask[i] ? w[i] : 0.0f;
	return env_layer_ks_matrix(env, nw, ks, NULL, 0);
}

int measure_plan_ks(double *out, struct env *env, const struct prune_plan *plan, char *err,
		    size_t errlen)
{
	const struct config *c = env_config(env);
	double sum = 0;
	float *w2 = NULL; /* (rows, cols) masked copy */
	int l = 0;
	for (; l < c->n_layers; l++) {
		const float *w;
		double ks;
		if (env_layer_begin(env, l, NULL, &w, err, errlen))
			goto fail;
		if (prune_plan_granularity(plan) == PRUNE_GRANULARITY_ROWS) {
			const int *kept;
			int k = prune_plan_layer_kept(plan, l, &kept);
			if (k < 1 || env_layer_ks(env, kept, k, &ks, err, errlen))
				goto fail;
		} else if (masked_ks(&ks, env, plan, l, w, &w2)) {
			break;
		}
		sum += ks;
	}
	free(w2);
	if (l < c->n_layers)
		return err_set(err, errlen, MEASURE_ERR_KS, "layer %d: measuring the spectrum failed", l);
	*out = sum / c->n_layers;
	return MEASURE_OK;
fail:
	free(w2);
	return err_prefix(err, errlen, MEASURE_ERR_KS, "layer %d: measuring the spectrum", l);
}
