/* select: method name -> scores / plan. See select.h. */
#include "select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "env.h"
#include "eval.h"
#include "file.h"
#include "sha256.h"
#include "err.h"

const char *select_methods(void)
{
	return "policy, random, magnitude, wanda, ken";
}

bool select_method_known(const char *name)
{
	enum baseline_method b;
	return !strcmp(name, "policy") || baseline_method_parse(&b, name) == 0;
}

void select_cache_free(struct select_cache *c)
{
	checkpoint_free(c->ck);
	calib_norms_free(c->norms);
	memset(c, 0, sizeof *c);
}

static void free_scores(float **s, int n)
{
	for (int i = 0; s && i < n; i++)
		free(s[i]);
	free(s);
}

int select_check_usage(const struct select_opts *o, char *err, size_t errlen)
{
	enum baseline_method b;
	if (!strcmp(o->method, "policy")) {
		if (!o->policy) {
			snprintf(err, errlen, "method policy needs --policy FILE");
			return -1;
		}
		if (o->granularity != PRUNE_GRANULARITY_ROWS) {
			snprintf(err, errlen, "method policy selects rows (--granularity rows)");
			return -1;
		}
		return 0;
	}
	if (baseline_method_parse(&b, o->method)) {
		snprintf(err, errlen, "unknown method '%s' (methods: %s)", o->method, select_methods());
		return -1;
	}
	if (b == BASELINE_METHOD_WANDA && !o->calib) {
		snprintf(err, errlen, "method wanda needs --calib FILE (calibration text)");
		return -1;
	}
	if (!baseline_supports(b, o->granularity)) {
		snprintf(err, errlen, "method %s is not defined for --granularity %s", o->method,
			 prune_granularity_name(o->granularity));
		return -1;
	}
	return 0;
}

/* Loads the policy into the cache (once) and checks that it fits m; errors name the file
 * (checkpoint.h's messages do not). */
static int load_policy(const struct model *m, const struct select_opts *o, struct select_cache *cache,
		       char *err, size_t errlen)
{
	char msg[512];
	if (!o->policy) {
		snprintf(err, errlen, "method policy needs --policy FILE");
		return -1;
	}
	if (!cache->ck) {
		if (checkpoint_load(&cache->ck, o->policy, msg, sizeof msg)) {
			snprintf(err, errlen, "%s: %s", o->policy, msg);
			return -1;
		}
		if (util_sha256_file_hex(cache->policy_sha256, o->policy, err, errlen)) {
			return -1;
		}
	}
	if (checkpoint_check_model(cache->ck, m->cfg.hidden, m->cfg.ffn, msg, sizeof msg)) {
		snprintf(err, errlen, "%s: %s", o->policy, msg);
		return -1;
	}
	return 0;
}

int select_prepare(const struct model *m, const struct select_opts *o, struct select_cache *cache,
		   char *err, size_t errlen)
{
	if (!strcmp(o->method, "policy"))
		return load_policy(m, o, cache, err, errlen);
	if (!strcmp(o->method, "wanda") && o->calib) {
		char *text = NULL;
		size_t len = 0;
		int e = util_read_file(&text, &len, o->calib, UTIL_TEXT_MAX, false, NULL, 0);
		free(text);
		if (e) {
			snprintf(err, errlen, "%s: %s", o->calib, util_strerror(e));
			return -1;
		}
	}
	return 0;
}

/* Policy scores: the row features (mlp) or the scored matrix (prunenet) of every layer, read
 * layer by layer through the environment. */
static int policy_scores(float ***out, const struct model *m, const char *model_dir,
			 const struct select_opts *o, struct select_cache *cache, char *err,
			 size_t errlen)
{
	int rc = -1, n = m->cfg.n_layers;
	struct env *env = NULL;
	struct policy *pol = NULL;
	struct prunenet *pn = NULL;
	float **scores = NULL;
	if (load_policy(m, o, cache, err, errlen))
		return -1;
	bool mlp = checkpoint_get_info(cache->ck)->arch == CHECKPOINT_ARCH_MLP;
	if (mlp ? checkpoint_make_mlp(cache->ck, &pol) : checkpoint_make_prunenet(cache->ck, &pn)) {
		snprintf(err, errlen, "%s: cannot build the policy", o->policy);
		goto out;
	}
	if (env_open(&env, model_dir, SPECTRUM_ROUTE_SVD, 0, err, errlen))
		goto out;
	scores = calloc((size_t)n, sizeof *scores);
	if (!scores)
		goto nomem;
	for (int l = 0; l < n; l++) {
		const float *x, *w;
		int rows = env_rows(env, l);
		scores[l] = malloc((size_t)rows * sizeof **scores);
		if (!scores[l])
			goto nomem;
		int e = env_layer_begin(env, l, &x, &w, NULL, 0);
		if (e) {
			snprintf(err, errlen, "%s: layer %d: %s", model_dir, l, env_strerror(e));
			goto out;
		}
		if (mlp ? policy_forward(pol, scores[l], x, rows) : prunenet_forward(pn, scores[l], w, NULL)) {
			snprintf(err, errlen, "%s: layer %d: the policy gave no scores", model_dir, l);
			goto out;
		}
	}
	*out = scores;
	scores = NULL;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	free_scores(scores, n);
	env_close(env);
	policy_free(pol);
	prunenet_free(pn);
	return rc;
}

/* Wanda's activation norms over the calibration text (BOS + whole file, windows of the model's
 * context). */
static int calibrate(const struct model *m, const struct tokenizer *tok, const struct select_opts *o,
		     struct select_cache *cache, char *err, size_t errlen)
{
	if (cache->norms)
		return 0;
	if (!o->calib) {
		snprintf(err, errlen, "method wanda needs --calib FILE (calibration text)");
		return -1;
	}
	char *text = NULL;
	size_t len = 0, n = 0;
	int *enc = NULL, *ids = NULL, rc = -1;
	int e = util_read_file(&text, &len, o->calib, UTIL_TEXT_MAX, false, NULL, 0);
	if (e) {
		snprintf(err, errlen, "%s: %s", o->calib, util_strerror(e));
		return -1;
	}
	if (tokenizer_encode(tok, text, len, &enc, &n) || !(ids = malloc((n + 1) * sizeof *ids))) {
		snprintf(err, errlen, "%s: cannot tokenize", o->calib);
		goto out;
	}
	size_t n_ids = 0;
	int bos = m->cfg.bos_id >= 0 ? m->cfg.bos_id : tokenizer_bos_id(tok);
	if (bos >= 0)
		ids[n_ids++] = bos;
	memcpy(ids + n_ids, enc, n * sizeof *ids);
	n_ids += n;
	if (calib_collect_xnorm(&cache->norms, m, ids, n_ids, m->cfg.max_pos, (size_t)o->calib_windows)) {
		snprintf(err, errlen, "%s: calibration forward pass failed", o->calib);
		goto out;
	}
	cache->calib_tokens = cache->norms->tokens;
	rc = 0;
out:
	free(ids);
	free(enc);
	free(text);
	return rc;
}

int select_scores(float ***scores, const struct model *m, const char *model_dir,
		  const struct tokenizer *tok, const struct select_opts *o, struct select_cache *cache,
		  char *err, size_t errlen)
{
	if (!strcmp(o->method, "policy"))
		return policy_scores(scores, m, model_dir, o, cache, err, errlen);
	struct baseline_spec spec = {.norm_p = o->norm_p, .seed = o->seed};
	if (baseline_method_parse(&spec.method, o->method)) {
		snprintf(err, errlen, "unknown method '%s' (methods: %s)", o->method, select_methods());
		return -1;
	}
	if (!baseline_supports(spec.method, PRUNE_GRANULARITY_ROWS)) {
		snprintf(err, errlen, "%s is defined for individual weights only (--granularity weights)",
			 o->method);
		return -1;
	}
	if (spec.method == BASELINE_METHOD_WANDA) {
		if (calibrate(m, tok, o, cache, err, errlen))
			return -1;
		spec.norms = cache->norms;
	}
	int e = baseline_scores_new(scores, m, &spec);
	if (e) {
		snprintf(err, errlen, "%s: %s", o->method, prune_strerror(e));
		return -1;
	}
	return 0;
}

int select_plan(struct prune_plan **out, const struct model *m, const char *model_dir,
		const struct tokenizer *tok, const struct select_opts *o, double ratio,
		struct select_cache *cache, char *err, size_t errlen)
{
	bool is_policy = !strcmp(o->method, "policy");
	if (is_policy && o->granularity != PRUNE_GRANULARITY_ROWS) {
		snprintf(err, errlen, "method policy selects rows (--granularity rows)");
		return -1;
	}
	if (is_policy) {
		float **scores = NULL;
		if (policy_scores(&scores, m, model_dir, o, cache, err, errlen))
			return -1;
		int e = prune_plan_from_scores(out, m, (const float *const *)scores, ratio, o->global);
		free_scores(scores, m->cfg.n_layers);
		if (e) {
			snprintf(err, errlen, "policy: %s", prune_strerror(e));
			return -1;
		}
		return 0;
	}
	struct baseline_spec spec = {.norm_p = o->norm_p, .seed = o->seed};
	if (baseline_method_parse(&spec.method, o->method)) {
		snprintf(err, errlen, "unknown method '%s' (methods: %s)", o->method, select_methods());
		return -1;
	}
	if (spec.method == BASELINE_METHOD_WANDA) {
		if (calibrate(m, tok, o, cache, err, errlen))
			return -1;
		spec.norms = cache->norms;
	}
	return baseline_plan(out, m, &spec, ratio, o->granularity, o->global, err, errlen) ? -1 : 0;
}
