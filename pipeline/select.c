/* select: method name -> scores / plan through the scorer registry. See select.h. */
#include "select.h"

#include "scorers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "probe.h"
#include "sha256.h"
#include "target.h"
#include "text.h"
#include "yopo_version.h"

int select_default_policy(char *path, size_t cap)
{
	static const char *const rel[] = {"policies/default.safetensors",
					  "../policies/default.safetensors"};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = n > 0 ? memchr(exe, '/', (size_t)n) : NULL;
	if (slash) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		for (int i = 0; i < 2; i++)
			if ((size_t)snprintf(path, cap, "%s/%s", exe, rel[i]) < cap &&
			    access(path, R_OK) == 0)
				return 0;
	}
	if ((size_t)snprintf(path, cap, "%s", YOPO_DEFAULT_POLICY) < cap &&
	    access(path, R_OK) == 0)
		return 0;
	return -1;
}

/* o->policy, or the shipped default into buf (cap); NULL when neither exists. */
static const char *policy_path(const struct select_opts *o, char *buf, size_t cap)
{
	if (o->policy)
		return o->policy;
	return select_default_policy(buf, cap) ? NULL : buf;
}

void select_cache_free(struct select_cache *c)
{
	checkpoint_free(c->ck);
	policy_free(c->mlp);
	prunenet_free(c->pn);
	probe_free(c->policy_probe);
	calib_norms_free(c->norms);
	probe_free(c->probe);
	memset(c, 0, sizeof *c);
}

void select_scores_free(float **scores, int n_layers)
{
	for (int i = 0; scores && i < n_layers; i++)
		free(scores[i]);
	free(scores);
}

int select_check_usage(const struct select_opts *o, char *err, size_t errlen)
{
	const struct scorer *s = scorer_find(o->method);
	if (!s)
		return err_set(err, errlen, SELECT_ERR_USAGE, "unknown method '%s' (methods: %s)",
			       o->method ? o->method : "", scorer_names());
	char def[PATH_MAX];
	if ((s->needs & SCORER_NEEDS_POLICY) && !policy_path(o, def, sizeof def))
		return err_set(err, errlen, SELECT_ERR_USAGE,
			       "method %s needs --policy FILE (no shipped default policy found)",
			       s->name);
	if ((s->needs & SCORER_NEEDS_CALIB) && !o->calib)
		return err_set(err, errlen, SELECT_ERR_USAGE,
			       "method %s needs --calib FILE (calibration text)", s->name);
	if (!scorer_supports(s, o->granularity)) {
		if (o->granularity == PRUNE_GRANULARITY_WEIGHTS)
			return err_set(err, errlen, SELECT_ERR_USAGE,
				       "method %s selects rows (--granularity rows)", s->name);
		return err_set(err, errlen, SELECT_ERR_USAGE, "method %s is not defined for --granularity %s",
			       s->name, prune_granularity_name(o->granularity));
	}
	if (o->global && o->granularity != PRUNE_GRANULARITY_ROWS)
		return err_set(err, errlen, SELECT_ERR_USAGE, "--global applies to --granularity rows");
	return SELECT_OK;
}

int select_load_policy(struct select_cache *cache, const char *path, int hidden, int ffn,
		       char *err, size_t errlen)
{
	if (!cache->ck) {
		if (checkpoint_load(&cache->ck, path, err, errlen))
			return err_prefix(err, errlen, SELECT_ERR_INPUT, "%s", path);
		if (util_sha256_file_hex(cache->policy_sha256, path, err, errlen))
			return SELECT_ERR_INPUT;
	}
	if (checkpoint_check_model(cache->ck, hidden, ffn, err, errlen))
		return err_prefix(err, errlen, SELECT_ERR_INPUT, "%s", path);
	if (cache->mlp || cache->pn)
		return SELECT_OK;
	bool mlp = checkpoint_get_info(cache->ck)->arch == CHECKPOINT_ARCH_MLP;
	if (mlp ? checkpoint_make_mlp(cache->ck, &cache->mlp)
		: checkpoint_make_prunenet(cache->ck, &cache->pn))
		return err_set(err, errlen, SELECT_ERR_INPUT, "%s: cannot build the policy", path);
	return SELECT_OK;
}

/* Probe tokens a probe-feature policy was trained with. */
static int policy_probe_tokens(const struct checkpoint_info *in)
{
	return in->probe_tokens ? in->probe_tokens : SELECT_PROBE_TOKENS;
}

/* The probe method's token count (o->probe_tokens, default SELECT_PROBE_TOKENS), in range. */
static int method_probe_tokens(int *n_out, const struct select_opts *o, char *err, size_t errlen)
{
	long n = o->probe_tokens ? o->probe_tokens : SELECT_PROBE_TOKENS;
	if (n < 2 || n > (1L << 24))
		return err_set(err, errlen, SELECT_ERR_USAGE, "--probe-tokens %ld: out of range [2, %ld]",
			       n, 1L << 24);
	*n_out = (int)n;
	return SELECT_OK;
}

/* The policy of o (or the shipped one) into the cache, checked against m; *in = its info when it
 * has probe features and the cache holds no probes yet, else NULL. */
static int policy_wanting_probes(const struct checkpoint_info **in, const struct model *m,
				 const struct select_opts *o, struct select_cache *cache, char *err,
				 size_t errlen)
{
	char def[PATH_MAX];
	const char *path = policy_path(o, def, sizeof def);
	*in = NULL;
	if (!path)
		return err_set(err, errlen, SELECT_ERR_USAGE,
			       "method policy needs --policy FILE (no shipped default policy found)");
	int rc = select_load_policy(cache, path, m->cfg.hidden, m->cfg.ffn, err, errlen);
	if (rc)
		return rc;
	const struct checkpoint_info *ci = checkpoint_get_info(cache->ck);
	if (ci->arch == CHECKPOINT_ARCH_MLP && ci->feature_set == ROWFEAT_SET_PROBE &&
	    !cache->policy_probe)
		*in = ci;
	return SELECT_OK;
}

/* The policy of o (or the shipped one), checked against m; for a probe-feature policy m's probes,
 * sampled with the count and seed the policy was trained with. */
static int load_policy(const struct model *m, const struct select_opts *o,
		       struct select_cache *cache, char *err, size_t errlen)
{
	const struct checkpoint_info *in = NULL;
	int rc = policy_wanting_probes(&in, m, o, cache, err, errlen);
	if (rc || !in)
		return rc;
	int e = probe_collect(&cache->policy_probe, m, policy_probe_tokens(in), in->probe_seed, 0,
			      o->probe_lanes, err, errlen);
	if (e)
		return err_prefix(err, errlen, e == PROBE_ERR_NOMEM ? SELECT_ERR_NOMEM : SELECT_ERR_INPUT,
				  "%s: probes for the policy's features", m->dir);
	return SELECT_OK;
}

int select_calibrate(struct select_cache *cache, const struct model *m, struct model *stream,
		     const struct tokenizer *tok, const struct select_opts *o, char *err,
		     size_t errlen)
{
	if (cache->norms)
		return SELECT_OK;
	if (!o->calib)
		return err_set(err, errlen, SELECT_ERR_USAGE,
			       "method wanda needs --calib FILE (calibration text)");
	int *ids = NULL;
	size_t n = 0;
	if (text_encode_file(&ids, &n, m, tok, o->calib, err, errlen))
		return SELECT_ERR_INPUT;
	if (o->calib_tokens > 0 && (size_t)o->calib_tokens < n)
		n = (size_t)o->calib_tokens;
	int e = stream ? calib_stream_xnorm_progress(&cache->norms, stream, ids, n, m->cfg.max_pos,
						      (size_t)o->calib_windows, o->calib_progress,
						      o->calib_ctx)
		       : calib_collect_xnorm_progress(&cache->norms, m, ids, n, m->cfg.max_pos,
						      (size_t)o->calib_windows, o->calib_progress,
						      o->calib_ctx);
	free(ids);
	if (e)
		return err_set(err, errlen, SELECT_ERR_INPUT, "%s: calibration failed: %s", o->calib,
			       calib_strerror(e));
	cache->calib_tokens = cache->norms->tokens;
	return SELECT_OK;
}

/* Probe activations of m for the probe method (once per cache and seed). */
static int collect_probes(const struct model *m, const struct select_opts *o,
			  struct select_cache *cache, char *err, size_t errlen)
{
	if (cache->probe && cache->probe_seed == o->seed)
		return SELECT_OK;
	probe_free(cache->probe);
	cache->probe = NULL;
	int n = 0;
	if (method_probe_tokens(&n, o, err, errlen))
		return SELECT_ERR_USAGE;
	if (probe_collect(&cache->probe, m, n, o->seed, 0, o->probe_lanes, err, errlen))
		return err_prefix(err, errlen, SELECT_ERR_INPUT, "probe tokens");
	cache->probe_seed = o->seed;
	return SELECT_OK;
}

int select_probe_request(struct probe ***slot, int *tokens, uint64_t *seed, const struct model *m,
			 const struct select_opts *o, struct select_cache *cache, char *err,
			 size_t errlen)
{
	const struct scorer *s = scorer_find(o->method);
	*slot = NULL;
	if (!s)
		return select_check_usage(o, err, errlen);
	if (s->needs & SCORER_NEEDS_PROBE) {
		if (method_probe_tokens(tokens, o, err, errlen))
			return SELECT_ERR_USAGE;
		if (cache->probe && cache->probe_seed == o->seed)
			return SELECT_OK;
		probe_free(cache->probe);
		cache->probe = NULL;
		cache->probe_seed = *seed = o->seed;
		*slot = &cache->probe;
		return SELECT_OK;
	}
	if (!(s->needs & SCORER_NEEDS_POLICY))
		return SELECT_OK;
	const struct checkpoint_info *in = NULL;
	int rc = policy_wanting_probes(&in, m, o, cache, err, errlen);
	if (rc || !in)
		return rc;
	*tokens = policy_probe_tokens(in);
	*seed = in->probe_seed;
	*slot = &cache->policy_probe;
	return SELECT_OK;
}

int select_prepare(const struct model *m, const struct select_opts *o, struct select_cache *cache,
		   char *err, size_t errlen)
{
	const struct scorer *s = scorer_find(o->method);
	if (!s)
		return select_check_usage(o, err, errlen);
	if (s->needs & SCORER_NEEDS_POLICY)
		return load_policy(m, o, cache, err, errlen);
	if ((s->needs & SCORER_NEEDS_CALIB) && o->calib)
		return text_check_file(o->calib, err, errlen) ? SELECT_ERR_INPUT : SELECT_OK;
	return SELECT_OK;
}

int select_make_ctx(const struct scorer **s, struct scorer_ctx *ctx, const struct model *m,
		    const struct tokenizer *tok, const struct select_opts *o,
		    struct select_cache *cache, char *err, size_t errlen)
{
	int rc = select_check_usage(o, err, errlen);
	if (rc)
		return rc;
	*s = scorer_find(o->method);
	if (((*s)->needs & SCORER_NEEDS_POLICY) && (rc = load_policy(m, o, cache, err, errlen)))
		return rc;
	if (((*s)->needs & SCORER_NEEDS_CALIB) &&
	    (rc = select_calibrate(cache, m, NULL, tok, o, err, errlen)))
		return rc;
	if (((*s)->needs & SCORER_NEEDS_PROBE) && (rc = collect_probes(m, o, cache, err, errlen)))
		return rc;
	*ctx = (struct scorer_ctx){.m = m, .mlp = cache->mlp, .pn = cache->pn, .norms = cache->norms,
				   .norm_p = o->norm_p, .rng = scorers_rng(o->seed),
				   .feature_set = cache->ck ? checkpoint_get_info(cache->ck)->feature_set
							    : ROWFEAT_SET_WEIGHTS,
				   .probe = (*s)->needs & SCORER_NEEDS_PROBE ? cache->probe
									     : cache->policy_probe};
	return SELECT_OK;
}

/* Row scores of every layer through s. */
static int rows_scores(float ***out, const struct scorer *s, struct scorer_ctx *ctx, char *err,
		       size_t errlen)
{
	int n = ctx->m->cfg.n_layers, rc = SELECT_ERR_NOMEM;
	float **sc = calloc((size_t)n, sizeof *sc);
	if (!sc)
		return err_set(err, errlen, rc, "out of memory");
	for (int l = 0; l < n; l++) {
		struct model_layer_view v;
		model_layer_view(&v, ctx->m, l);
		if (!(sc[l] = malloc((size_t)v.rows * sizeof **sc))) {
			rc = err_set(err, errlen, SELECT_ERR_NOMEM, "out of memory");
			goto fail;
		}
		if (s->score_rows(sc[l], ctx, &v, err, errlen)) {
			rc = SELECT_ERR_SCORE;
			goto fail;
		}
	}
	*out = sc;
	return SELECT_OK;
fail:
	select_scores_free(sc, n);
	return rc;
}

int select_scores(float ***scores, const struct model *m, const struct tokenizer *tok,
		  const struct select_opts *o, struct select_cache *cache, char *err, size_t errlen)
{
	const struct scorer *s;
	struct scorer_ctx ctx;
	struct select_opts rows = *o;
	rows.granularity = PRUNE_GRANULARITY_ROWS;
	int rc = select_make_ctx(&s, &ctx, m, tok, &rows, cache, err, errlen);
	return rc ? rc : rows_scores(scores, s, &ctx, err, errlen);
}

/* Every mask of a WEIGHTS plan through s: layer by layer, up, gate, down. */
static int weights_plan(struct prune_plan *p, const struct scorer *s, struct scorer_ctx *ctx,
			enum prune_granularity g, double ratio, char *err, size_t errlen)
{
	static const enum config_tensor mats[] = {CONFIG_TENSOR_UP, CONFIG_TENSOR_GATE,
						  CONFIG_TENSOR_DOWN};
	const struct model *m = ctx->m;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		for (int t = 0; t < 3; t++) {
			unsigned char *mk = prune_plan_mask(p, l, mats[t]);
			if (!mk)
				continue;
			bool down = mats[t] == CONFIG_TENSOR_DOWN;
			struct scorer_matrix x = {
				.layer = l, .which = mats[t],
				.w = mats[t] == CONFIG_TENSOR_UP ? ly->up : down ? ly->down : ly->gate,
				.rows = down ? m->cfg.hidden : ly->ffn, .cols = down ? ly->ffn : m->cfg.hidden,
			};
			int n, mm;
			if (prune_granularity_nm(g, &n, &mm) ? s->mask_nm(mk, ctx, &x, n, mm, err, errlen)
							      : s->mask_weights(mk, ctx, &x, ratio, err, errlen))
				return SELECT_ERR_SCORE;
		}
	}
	return SELECT_OK;
}

int select_plan(struct prune_plan **out, const struct model *m, const struct tokenizer *tok,
		const struct select_opts *o, double ratio, struct select_cache *cache, char *err,
		size_t errlen)
{
	const struct scorer *s;
	struct scorer_ctx ctx;
	/* the one ratio rule (plan.h), before any scoring */
	if (prune_check_ratio(&m->cfg, ratio, o->granularity, o->global, err, errlen))
		return SELECT_ERR_USAGE;
	int rc = select_make_ctx(&s, &ctx, m, tok, o, cache, err, errlen);
	if (rc)
		return rc;
	if (o->granularity == PRUNE_GRANULARITY_ROWS) {
		float **sc = NULL;
		if ((rc = rows_scores(&sc, s, &ctx, err, errlen)))
			return rc;
		int e = prune_plan_from_scores(out, m, (const float *const *)sc, ratio, o->global);
		select_scores_free(sc, m->cfg.n_layers);
		if (e)
			return err_set(err, errlen, SELECT_ERR_SCORE, "%s: %s", s->name, prune_strerror(e));
		return SELECT_OK;
	}
	struct prune_plan *p = NULL;
	if (prune_plan_new_weights(&p, m))
		return err_set(err, errlen, SELECT_ERR_NOMEM, "out of memory");
	if ((rc = weights_plan(p, s, &ctx, o->granularity, ratio, err, errlen))) {
		prune_plan_free(p);
		return rc;
	}
	*out = p;
	return SELECT_OK;
}

struct prune_info select_info(const struct select_opts *o, const struct select_cache *cache,
			      double ratio, const char *base_dir)
{
	const struct scorer *s = scorer_find(o->method);
	bool pol = s && (s->needs & SCORER_NEEDS_POLICY), cal = s && (s->needs & SCORER_NEEDS_CALIB);
	return (struct prune_info){
		.method = o->method, .ratio = ratio, .granularity = o->granularity, .global = o->global,
		.seed = o->seed, .policy_sha256 = pol && cache->ck ? cache->policy_sha256 : NULL,
		.calib_file = cal && cache->norms ? o->calib : NULL,
		.calib_tokens = cal ? cache->calib_tokens : 0, .base_dir = base_dir,
	};
}

int select_target_ratio(double *ratio, struct prune_counts *counts, const char *dir,
			size_t target_params, double sparsity, char *err, size_t errlen)
{
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	if (text_open_model(&m, &tok, dir, err, errlen))
		return SELECT_ERR_INPUT;
	int rc = prune_target_ratio(ratio, counts, m, target_params, sparsity, err, errlen);
	tokenizer_free(tok);
	model_close(m);
	return rc == PRUNE_TARGET_ERR_NOMEM ? SELECT_ERR_NOMEM : rc ? SELECT_ERR_USAGE : SELECT_OK;
}
