/* prunejob: checks, plan, write — streamed (prunestream.h): the model is never loaded whole,
 * self-sampled probes included (probe.h). See prunejob.h. */
#include "prunejob.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "guard.h"
#include "probe.h"
#include "prunestream.h"
#include "scorer.h"
#include "text.h"

static int check_usage(const struct prunejob_opts *o, char *err, size_t errlen)
{
	if (select_check_usage(&o->select, err, errlen))
		return PRUNEJOB_ERR_USAGE;
	if (o->base && !(scorer_find(o->select.method)->needs & SCORER_TAKES_BASE))
		return err_set(err, errlen, PRUNEJOB_ERR_USAGE, "--base is used by --method ken only");
	return PRUNEJOB_OK;
}

/* KEN's --base must match the model layer for layer (prune_write checks this too, but only
 * after scoring). */
static int open_base(struct model **base, const struct model *m, const char *dir, char *err,
		     size_t errlen)
{
	if (prunestream_open(base, dir, err, errlen))
		return err_prefix(err, errlen, PRUNEJOB_ERR_INPUT, "--base");
	const struct config *a = &m->cfg, *b = &(*base)->cfg;
	if (prune_check_base(m, *base) == PRUNE_OK)
		return PRUNEJOB_OK;
	return err_set(err, errlen, PRUNEJOB_ERR_INPUT,
		       "--base %s: %s, %d layers, hidden %d, ffn %d; the model is %s, %d layers, "
		       "hidden %d, ffn %d (they must match)", dir, b->model_type, b->n_layers,
		       b->hidden, b->ffn, a->model_type, a->n_layers, a->hidden, a->ffn);
}

/* --out against every input, the lock for the run, stale temporaries of --out (guard.h). */
static int guard_out(struct util_lock **lock, const struct prunejob_opts *o,
		     prunejob_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	const char *inputs[] = {o->model, o->base, o->select.policy, o->select.calib};
	int removed = 0;
	if (guard_open(lock, &removed, o->out, NULL, 0, inputs, sizeof inputs / sizeof inputs[0],
		       err, errlen))
		return PRUNEJOB_ERR_INPUT; /* the reason names the paths */
	char what[512];
	snprintf(what, sizeof what, "removed %d stale temporary sibling(s) of %s", removed, o->out);
	if (removed && progress)
		progress(ctx, what);
	return PRUNEJOB_OK;
}

/* Self-sampled probes (the probe method, a probe-feature policy) into the cache without loading
 * the model: the ids sampled with the weights kept in the mapping (one layer in f32 at a time),
 * and the row statistics those scorers read, gathered while sampling (probe.h). */
static int sample_probes(const struct model *m, const struct prunejob_opts *o,
			 struct select_cache *cache, prunejob_progress_fn *progress, void *ctx,
			 char *err, size_t errlen)
{
	struct probe **slot = NULL;
	int tokens = 0;
	uint64_t seed = 0;
	if (select_probe_request(&slot, &tokens, &seed, m, &o->select, cache, err, errlen))
		return PRUNEJOB_ERR_INPUT;
	if (!slot)
		return PRUNEJOB_OK;
	char what[512];
	snprintf(what, sizeof what, "sampling %d probe tokens from %s (lanes in lockstep)", tokens,
		 o->model);
	if (progress)
		progress(ctx, what);
	if (prunestream_probe_sample(slot, o->model, tokens, seed, o->select.probe_lanes, err,
				     errlen))
		return PRUNEJOB_ERR_INPUT;
	return PRUNEJOB_OK;
}

/* The one-pass rows write: a uniform plan's counts fix the output's shapes, and each layer is
 * scored when the writer first reaches it, from the mapped matrices it then slices
 * (prunestream_rows). */
static int write_one_pass(struct prune_counts *counts, struct model *m, const struct scorer *s,
			  struct scorer_ctx *sc, const struct prune_info *info,
			  const struct prunejob_opts *o, char *err, size_t errlen)
{
	struct prune_plan *plan = NULL;
	struct prunestream_rows st = {0};
	struct prune_rows rows;
	int rc = PRUNEJOB_ERR_RUN, e = prune_plan_new_rows_ratio(&plan, m, o->ratio);
	if (e) {
		err_set(err, errlen, rc, "%s: %s", s->name, prune_strerror(e));
		goto out;
	}
	if (prunestream_rows(&rows, &st, m, s, sc, plan, err, errlen))
		goto out;
	if (!prune_write_stream(counts, m, plan, NULL, &rows, NULL, info, o->out, o->force, err,
				errlen))
		rc = PRUNEJOB_OK;
out:
	prunestream_rows_free(&st);
	prune_plan_free(plan);
	return rc;
}

/* Scores and the streamed write: rows at a per-layer ratio in one pass (write_one_pass); rows
 * with a global budget (every layer's scores needed first) or o->two_pass scored over all
 * layers, then planned, then written; masks (weights, N:M) computed for each matrix when the
 * writer reaches it. */
static int score_and_write(struct prune_counts *counts, struct model *m,
			   const struct tokenizer *tok, const struct model *base,
			   const struct prunejob_opts *o, struct select_cache *cache,
			   prunejob_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	const struct scorer *s;
	struct scorer_ctx sc;
	struct prune_plan *plan = NULL;
	float **scores = NULL;
	char what[512];
	snprintf(what, sizeof what, "scoring %s with %s (%s, ratio %g)", o->model, o->select.method,
		 prune_granularity_name(o->select.granularity), o->ratio);
	if (progress)
		progress(ctx, what);
	/* Wanda's norms streamed into the cache first, or select_make_ctx would run the
	 * calibration through loaded weights */
	bool calib = scorer_find(o->select.method)->needs & SCORER_NEEDS_CALIB;
	if ((calib && select_calibrate(cache, m, m, tok, &o->select, err, errlen)) ||
	    select_make_ctx(&s, &sc, m, tok, &o->select, cache, err, errlen))
		return PRUNEJOB_ERR_RUN;
	int rc = PRUNEJOB_ERR_RUN;
	bool rows = o->select.granularity == PRUNE_GRANULARITY_ROWS;
	struct prune_info info = select_info(&o->select, cache, o->ratio, o->base);
	info.source_model = o->model;
	if (rows && !o->select.global && !o->two_pass) {
		snprintf(what, sizeof what, "writing %s (each layer scored when the writer reaches it)",
			 o->out);
		if (progress)
			progress(ctx, what);
		return write_one_pass(counts, m, s, &sc, &info, o, err, errlen);
	}
	if (rows) {
		if (prunestream_scores(&scores, m, s, &sc, err, errlen))
			goto out;
		int e = prune_plan_from_scores(&plan, m, (const float *const *)scores, o->ratio,
					       o->select.global);
		if (e) {
			err_set(err, errlen, rc, "%s: %s", s->name, prune_strerror(e));
			goto out;
		}
	}
	struct prunestream_masks ms;
	struct prune_masks masks;
	prunestream_masks(&masks, &ms, m, s, &sc, o->select.granularity, o->ratio);
	snprintf(what, sizeof what, "writing %s", o->out);
	if (progress)
		progress(ctx, what);
	if (!prune_write_stream(counts, m, plan, rows ? NULL : &masks, NULL, base, &info, o->out,
				o->force, err, errlen))
		rc = PRUNEJOB_OK;
out:
	select_scores_free(scores, m->cfg.n_layers);
	prune_plan_free(plan);
	return rc;
}

/* The whole-model route (select.h) on the model loaded in f32: prunejob_opts.whole_model. */
static int plan_and_write_loaded(struct prune_counts *counts, const struct model *m,
				 const struct tokenizer *tok, const struct model *base,
				 const struct prunejob_opts *o, struct select_cache *cache,
				 prunejob_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	struct prune_plan *plan = NULL;
	char what[512];
	snprintf(what, sizeof what, "scoring %s with %s (%s, ratio %g; whole model loaded)", o->model,
		 o->select.method, prune_granularity_name(o->select.granularity), o->ratio);
	if (progress)
		progress(ctx, what);
	int rc = PRUNEJOB_ERR_RUN;
	if (select_plan(&plan, m, tok, &o->select, o->ratio, cache, err, errlen))
		goto out;
	struct prune_info info = select_info(&o->select, cache, o->ratio, o->base);
	info.source_model = o->model;
	snprintf(what, sizeof what, "writing %s", o->out);
	if (progress)
		progress(ctx, what);
	if (prune_write(m, m->dir, plan, base, &info, o->out, o->force, err, errlen))
		goto out;
	if (prune_plan_count(counts, plan, m)) {
		err_set(err, errlen, rc, "the plan does not fit the model");
		goto out;
	}
	rc = PRUNEJOB_OK;
out:
	prune_plan_free(plan);
	return rc;
}

int prunejob_run(struct prune_counts *counts, const struct prunejob_opts *o,
		 prunejob_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	struct util_lock *lock = NULL;
	struct model *m = NULL, *base = NULL;
	struct tokenizer *tok = NULL;
	struct select_cache cache = {0};
	int rc = check_usage(o, err, errlen);
	if (rc)
		return rc;
	/* everything cheap first: a failure is then one line and costs no scoring */
	rc = PRUNEJOB_ERR_INPUT;
	bool loaded = o->whole_model;
	if ((loaded ? text_open_model(&m, &tok, o->model, err, errlen)
		    : prunestream_open_text(&m, &tok, o->model, err, errlen)) ||
	    guard_out(&lock, o, progress, ctx, err, errlen) ||
	    prune_check_out(o->model, o->out, o->force, err, errlen) ||
	    prune_check_ratio(&m->cfg, o->ratio, o->select.granularity, o->select.global, err,
			      errlen) ||
	    (o->base && open_base(&base, m, o->base, err, errlen)) ||
	    (!loaded && sample_probes(m, o, &cache, progress, ctx, err, errlen)) ||
	    select_prepare(m, &o->select, &cache, err, errlen))
		goto out;
	rc = loaded ? plan_and_write_loaded(counts, m, tok, base, o, &cache, progress, ctx, err, errlen)
		    : score_and_write(counts, m, tok, base, o, &cache, progress, ctx, err, errlen);
out:
	select_cache_free(&cache);
	tokenizer_free(tok);
	model_close(base);
	model_close(m);
	util_lock_close(lock);
	return rc;
}

enum prune_granularity prunejob_granularity(const char *word, const char *method)
{
	if (!word)
		return scorer_find(method)->natural;
	return word[0] == 'w' ? PRUNE_GRANULARITY_WEIGHTS
	       : word[0] == '2' ? PRUNE_GRANULARITY_NM_2_4
	       : word[0] == '4' ? PRUNE_GRANULARITY_NM_4_8
				: PRUNE_GRANULARITY_ROWS;
}

int prunejob_resolve_ratio(struct prunejob_opts *o, long target_params, double sparsity,
			   char *err, size_t errlen)
{
	enum prune_granularity g = o->select.granularity;
	int nm_n, nm_m, given = (o->ratio >= 0) + (target_params > 0) + (sparsity >= 0);
	if (prune_granularity_nm(g, &nm_n, &nm_m)) {
		if (given)
			return err_set(err, errlen, PRUNEJOB_ERR_USAGE,
				       "--granularity %s sets the ratio (%g): give no --ratio, "
				       "--target-params or --sparsity", prune_granularity_name(g),
				       1 - (double)nm_n / nm_m);
		o->ratio = 1 - (double)nm_n / nm_m;
		return PRUNEJOB_OK;
	}
	if (given != 1)
		return err_set(err, errlen, PRUNEJOB_ERR_USAGE, "give one of --ratio R, --target-params "
			       "N or --sparsity S (see yopo prune --help)");
	if (o->ratio >= 0)
		return PRUNEJOB_OK;
	if (g != PRUNE_GRANULARITY_ROWS)
		return err_set(err, errlen, PRUNEJOB_ERR_USAGE,
			       "--target-params and --sparsity apply to --granularity rows");
	int rc = select_target_ratio(&o->ratio, NULL, o->model, (size_t)target_params,
				     sparsity >= 0 ? sparsity : 0, err, errlen);
	return !rc ? PRUNEJOB_OK : rc == SELECT_ERR_USAGE ? PRUNEJOB_ERR_USAGE : PRUNEJOB_ERR_INPUT;
}
