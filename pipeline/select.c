/* select: method name -> scores / plan through the scorer registry. See select.h. */
#include "select.h"

#include "scorers.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sha256.h"
#include "text.h"

void select_cache_free(struct select_cache *c)
{
	checkpoint_free(c->ck);
	policy_free(c->mlp);
	prunenet_free(c->pn);
	calib_norms_free(c->norms);
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
	if ((s->needs & SCORER_NEEDS_POLICY) && !o->policy)
		return err_set(err, errlen, SELECT_ERR_USAGE, "method %s needs --policy FILE", s->name);
	if ((s->needs & SCORER_NEEDS_CALIB) && !o->calib)
		return err_set(err, errlen, SELECT_ERR_USAGE,
			       "method %s needs --calib FILE (calibration text)", s->name);
	if (!scorer_supports(s, o->granularity)) {
		if (o->granularity == PRUNE_GRANULARITY_WEIGHTS)
			return err_set(err, errlen, SELECT_ERR_USAGE,
				       "method %s selects rows (--granularity rows)", s->name);
		return err_set(err, errlen, SELECT_ERR_USAGE,
			       "method %s is not defined for --granularity rows", s->name);
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

/* The policy of o, checked against m. */
static int load_policy(const struct model *m, const struct select_opts *o,
		       struct select_cache *cache, char *err, size_t errlen)
{
	if (!o->policy)
		return err_set(err, errlen, SELECT_ERR_USAGE, "method policy needs --policy FILE");
	return select_load_policy(cache, o->policy, m->cfg.hidden, m->cfg.ffn, err, errlen);
}

/* Wanda's activation norms over the calibration text (once per cache). */
static int calibrate(const struct model *m, const struct tokenizer *tok,
		     const struct select_opts *o, struct select_cache *cache, char *err,
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
	int e = calib_collect_xnorm(&cache->norms, m, ids, n, m->cfg.max_pos,
				    (size_t)o->calib_windows);
	free(ids);
	if (e)
		return err_set(err, errlen, SELECT_ERR_INPUT, "%s: calibration failed: %s", o->calib,
			       calib_strerror(e));
	cache->calib_tokens = cache->norms->tokens;
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

/* The scorer of o with its inputs ready in *ctx (seeded for one plan). */
static int make_ctx(const struct scorer **s, struct scorer_ctx *ctx, const struct model *m,
		    const struct tokenizer *tok, const struct select_opts *o,
		    struct select_cache *cache, char *err, size_t errlen)
{
	int rc = select_check_usage(o, err, errlen);
	if (rc)
		return rc;
	*s = scorer_find(o->method);
	if (((*s)->needs & SCORER_NEEDS_POLICY) && (rc = load_policy(m, o, cache, err, errlen)))
		return rc;
	if (((*s)->needs & SCORER_NEEDS_CALIB) && (rc = calibrate(m, tok, o, cache, err, errlen)))
		return rc;
	*ctx = (struct scorer_ctx){.m = m, .mlp = cache->mlp, .pn = cache->pn, .norms = cache->norms,
				   .norm_p = o->norm_p, .rng = scorers_rng(o->seed)};
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
	int rc = make_ctx(&s, &ctx, m, tok, &rows, cache, err, errlen);
	return rc ? rc : rows_scores(scores, s, &ctx, err, errlen);
}

/* Every mask of a WEIGHTS plan through s: layer by layer, up, gate, down. */
static int weights_plan(struct prune_plan *p, const struct scorer *s, struct scorer_ctx *ctx,
			double ratio, char *err, size_t errlen)
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
			if (s->mask_weights(mk, ctx, &x, ratio, err, errlen))
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
	int rc = make_ctx(&s, &ctx, m, tok, o, cache, err, errlen);
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
	if ((rc = weights_plan(p, s, &ctx, ratio, err, errlen))) {
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
