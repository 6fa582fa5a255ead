/* kseval: KS verdict of a row-selection method. See kseval.h. */
#include "kseval.h"

#include "topk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "err.h"
#include "model.h"
#include "pcg32.h"
#include "probe.h"
#include "rowscore.h"
#include "sampling.h"
#include "select.h"
#include "text.h"

/* The method's inputs: the policy networks (in cache) or the baseline scores of every layer. */
struct inputs {
	struct select_cache cache;
	float **base;       /* magnitude / wanda: (n_layers)(ffn) */
	int n_base;
};

static int check_usage(const struct kseval_opts *o, char *err, size_t errlen)
{
	static const char *const rows_methods[] = {"policy", "random", "magnitude", "wanda"};
	bool known = false;
	for (int i = 0; i < 4; i++)
		known |= o->method && !strcmp(o->method, rows_methods[i]);
	if (!known)
		return err_set(err, errlen, KSEVAL_ERR_USAGE,
			       "--method: '%s' is not policy, random, magnitude or wanda",
			       o->method ? o->method : "");
	if (!strcmp(o->method, "wanda") && !o->calib)
		return err_set(err, errlen, KSEVAL_ERR_USAGE,
			       "--method wanda needs --calib FILE (calibration text)");
	if (!(o->ratio > 0 && o->ratio < 1) || o->samples < 1)
		return err_set(err, errlen, KSEVAL_ERR_USAGE,
			       "ratio %g must lie in (0, 1) and samples %d be at least 1", o->ratio,
			       o->samples);
	if (o->sample && strcmp(o->method, "policy"))
		return err_set(err, errlen, KSEVAL_ERR_USAGE,
			       "--sample draws from a policy (--method policy)");
	return KSEVAL_OK;
}

/* Baseline scores through the scorer registry on the loaded model. */
static int baseline_scores(struct inputs *in, const struct kseval_opts *o, char *err,
			   size_t errlen)
{
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct select_opts so = {.method = o->method, .calib = o->calib, .norm_p = o->norm_p,
				 .granularity = PRUNE_GRANULARITY_ROWS, .seed = o->seed};
	int rc = KSEVAL_ERR_INPUT;
	if (text_open_model(&m, &tok, o->model, err, errlen))
		return rc;
	if (prune_check_ratio(&m->cfg, o->ratio, PRUNE_GRANULARITY_ROWS, false, err, errlen))
		rc = KSEVAL_ERR_INPUT; /* before calibration, the costly part */
	else if (!select_prepare(m, &so, &in->cache, err, errlen) &&
	    !select_scores(&in->base, m, tok, &so, &in->cache, err, errlen)) {
		in->n_base = m->cfg.n_layers;
		rc = KSEVAL_OK;
	}
	tokenizer_free(tok);
	model_close(m);
	return rc;
}

/* The policy of o (or the shipped one) into in->cache, the env set to its feature set (with the
 * model's probes when it sees them); what it was trained with into r. */
static int load_policy(struct kseval_result *r, struct inputs *in, struct env *env,
		       const struct kseval_opts *o, char *err, size_t errlen)
{
	const struct config *c = env_config(env);
	if (o->policy)
		snprintf(r->policy, sizeof r->policy, "%s", o->policy);
	else if (select_default_policy(r->policy, sizeof r->policy))
		return err_set(err, errlen, KSEVAL_ERR_USAGE,
			       "--method policy needs --policy FILE (no shipped default policy found)");
	if (select_load_policy(&in->cache, r->policy, c->hidden, c->ffn, err, errlen))
		return KSEVAL_ERR_INPUT;
	const struct checkpoint_info *ci = checkpoint_get_info(in->cache.ck);
	snprintf(r->reward, sizeof r->reward, "%s", ci->reward);
	snprintf(r->feature_set, sizeof r->feature_set, "%s", rowfeat_set_name(ci->feature_set));
	if (ci->arch != CHECKPOINT_ARCH_MLP || ci->feature_set != ROWFEAT_SET_PROBE)
		return KSEVAL_OK;
	struct model *m = NULL;
	r->probe_tokens = ci->probe_tokens ? ci->probe_tokens : 2048;
	if (model_open(&m, o->model, err, errlen))
		return KSEVAL_ERR_INPUT;
	int e = probe_collect(&in->cache.policy_probe, m, r->probe_tokens, ci->probe_seed, 0, 0, err,
				errlen);
	model_close(m);
	if (e)
		return err_prefix(err, errlen, KSEVAL_ERR_INPUT, "%s: probes", o->model);
	if (env_use_probes(env, in->cache.policy_probe, ci->feature_set, err, errlen))
		return KSEVAL_ERR_INPUT;
	return KSEVAL_OK;
}

/* Mean and standard deviation of the KS over the draws of layer l (scores (rows) as given). */
static int layer_ks(struct kseval_result *r, int l, struct env *env, float *scores, int *order,
		    int rows, const struct kseval_opts *o, bool draw, struct pcg32 *rng)
{
	int k = util_keep_count(rows, o->ratio);
	double sum = 0, sq = 0;
	if (k < 1)
		return -1;
	for (int d = 0; d < r->draws; d++) {
		double ks;
		int s = draw ? sampling_gumbel_topk(order, scores, rows, k, rng)
			     : util_topk(order, scores, rows, k);
		if (s || env_layer_ks(env, order, k, &ks, NULL, 0))
			return -1;
		sum += ks;
		sq += ks * ks;
	}
	r->ks[l] = sum / r->draws;
	r->sd[l] = r->draws > 1 ? sqrt(fmax(0, (sq - sum * sum / r->draws) / (r->draws - 1))) : 0;
	return 0;
}

/* Every layer: scores by the method, then the draws. */
static int run_layers(struct kseval_result *r, struct env *env, struct inputs *in,
		      const struct kseval_opts *o, kseval_progress_fn *progress, void *ctx,
		      char *err, size_t errlen)
{
	bool is_random = !strcmp(o->method, "random");
	int max_rows = 0, rc = KSEVAL_OK;
	for (int l = 0; l < r->n_layers; l++)
		max_rows = env_rows(env, l) > max_rows ? env_rows(env, l) : max_rows;
	float *scores = calloc((size_t)max_rows, sizeof *scores); /* (rows) of the current layer */
	int *order = malloc((size_t)max_rows * sizeof *order);
	if (!scores || !order) {
		rc = err_set(err, errlen, KSEVAL_ERR_NOMEM, "out of memory");
		goto out;
	}
	struct pcg32 rng;
	pcg32_seed(&rng, o->seed, 0x73706563u /* "spec" */);
	for (int l = 0; l < r->n_layers && !rc; l++) {
		const float *x, *w;
		int rows = env_rows(env, l);
		if (env_layer_begin(env, l, &x, &w, err, errlen)) {
			rc = err_prefix(err, errlen, KSEVAL_ERR_LAYER, "layer %d", l);
			break;
		}
		if ((in->cache.mlp || in->cache.pn) &&
		    rowscore_policy(scores, in->cache.mlp, in->cache.pn, x, w, rows))
			rc = err_set(err, errlen, KSEVAL_ERR_LAYER, "layer %d: the policy gave no scores", l);
		else if (is_random)
			memset(scores, 0, (size_t)rows * sizeof *scores);
		else if (in->base)
			memcpy(scores, in->base[l], (size_t)rows * sizeof *scores);
		if (!rc && layer_ks(r, l, env, scores, order, rows, o, is_random || o->sample, &rng))
			rc = err_set(err, errlen, KSEVAL_ERR_LAYER, "layer %d: KS failed", l);
		if (!rc && progress)
			progress(ctx, l + 1, r->n_layers);
	}
out:
	free(order);
	free(scores);
	return rc;
}

int kseval_run(struct kseval_result *res, const struct kseval_opts *o,
	       kseval_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	struct inputs in = {0};
	struct env *env = NULL;
	struct kseval_result r = {.draws = (!strcmp(o->method ? o->method : "", "random") || o->sample)
						   ? o->samples : 1};
	int rc = check_usage(o, err, errlen);
	if (rc)
		return rc;
	if (strcmp(o->method, "policy") && strcmp(o->method, "random") &&
	    (rc = baseline_scores(&in, o, err, errlen)))
		goto out;
	rc = KSEVAL_ERR_INPUT;
	if (env_open(&env, o->model, o->route, 0, err, errlen))
		goto out;
	const struct config *c = env_config(env);
	if (prune_check_ratio(c, o->ratio, PRUNE_GRANULARITY_ROWS, false, err, errlen)) {
		rc = KSEVAL_ERR_INPUT;
		goto out;
	}
	if (!strcmp(o->method, "policy") && (rc = load_policy(&r, &in, env, o, err, errlen)))
		goto out;
	rc = KSEVAL_ERR_INPUT;
	snprintf(r.model_type, sizeof r.model_type, "%s", c->model_type);
	r.n_layers = c->n_layers;
	r.ffn = c->ffn;
	r.hidden = c->hidden;
	r.ks = calloc((size_t)r.n_layers, sizeof *r.ks);
	r.sd = calloc((size_t)r.n_layers, sizeof *r.sd);
	if (!r.ks || !r.sd) {
		rc = err_set(err, errlen, KSEVAL_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = run_layers(&r, env, &in, o, progress, ctx, err, errlen)))
		goto out;
	double total = 0;
	for (int l = 0; l < r.n_layers; l++)
		total += r.ks[l];
	r.mean = total / r.n_layers;
	*res = r;
	r.ks = r.sd = NULL;
out:
	kseval_result_free(&r);
	select_scores_free(in.base, in.n_base);
	select_cache_free(&in.cache);
	env_close(env);
	return rc;
}

void kseval_result_free(struct kseval_result *res)
{
	if (!res)
		return;
	free(res->ks);
	free(res->sd);
	res->ks = res->sd = NULL;
}
