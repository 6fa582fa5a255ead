/* measure: model and plan measurements. See measure.h. */
#include "measure.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int measure_model(struct measure *out, const struct model *m, const struct tokenizer *tok,
		  const int *ids, size_t n_ids, int seq_len, size_t max_windows, long sample_tokens,
		  eval_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	int sl = seq_len ? seq_len : m->cfg.max_pos;
	if (sl < 2 || sl > m->cfg.max_pos)
		return err_set(err, errlen, MEASURE_ERR_ARG, "--seq-len %d exceeds the model's context (%d)",
			       sl, m->cfg.max_pos);
	struct measure r = {.params = m->n_params, .ffn_params = m->n_ffn_params,
			    .bytes = m->file_bytes, .flops = eval_flops_per_token(m, sl)};
	struct forward *f = NULL;
	if (forward_new(&f, m, sl))
		return err_set(err, errlen, MEASURE_ERR_NOMEM, "out of memory");
	int e = eval_perplexity(&r.eval, f, m, ids, n_ids, sl, max_windows, progress, ctx);
	forward_free(f);
	if (e)
		return err_set(err, errlen, e == EVAL_ERR_NOMEM ? MEASURE_ERR_NOMEM : MEASURE_ERR_EVAL,
			       "%s", eval_strerror(e));
	if (sample_tokens > 0)
		sample(r.sample, sizeof r.sample, m, tok, sample_tokens);
	*out = r;
	return MEASURE_OK;
}

int measure_text(struct measure_text_result *out, const char *model_dir, const char *text_path,
		 int seq_len, size_t max_windows, eval_progress_fn *progress, void *ctx, char *err,
		 size_t errlen)
{
	return measure_text_weights(out, model_dir, text_path, seq_len, max_windows,
				    MODEL_WEIGHTS_F32, progress, ctx, err, errlen);
}

int measure_text_weights(struct measure_text_result *out, const char *model_dir,
			 const char *text_path, int seq_len, size_t max_windows,
			 enum model_weights weights, eval_progress_fn *progress, void *ctx,
			 char *err, size_t errlen)
{
	struct model *m = NULL;
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
	if ((rc = measure_model(&r.m, m, tok, ids, r.n_ids, r.seq_len, max_windows, 0, progress, ctx,
				err, errlen))) {
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
