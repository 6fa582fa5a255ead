/* prunejob: checks, plan, write. See prunejob.h. */
#include "prunejob.h"

#include <stdio.h>

#include "err.h"
#include "guard.h"
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
	if (model_open(base, dir, err, errlen))
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

int prunejob_run(struct prune_counts *counts, const struct prunejob_opts *o,
		 prunejob_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	struct util_lock *lock = NULL;
	struct model *m = NULL, *base = NULL;
	struct tokenizer *tok = NULL;
	struct prune_plan *plan = NULL;
	struct select_cache cache = {0};
	char what[512];
	int rc = check_usage(o, err, errlen);
	if (rc)
		return rc;
	/* everything cheap first: a failure is then one line and costs no scoring */
	rc = PRUNEJOB_ERR_INPUT;
	if (text_open_model(&m, &tok, o->model, err, errlen) ||
	    guard_out(&lock, o, progress, ctx, err, errlen) ||
	    prune_check_out(o->model, o->out, o->force, err, errlen) ||
	    prune_check_ratio(&m->cfg, o->ratio, o->select.granularity, o->select.global, err,
			      errlen) ||
	    (o->base && open_base(&base, m, o->base, err, errlen)) ||
	    select_prepare(m, &o->select, &cache, err, errlen))
		goto out;
	snprintf(what, sizeof what, "scoring %s with %s (%s, ratio %g)", o->model, o->select.method,
		 prune_granularity_name(o->select.granularity), o->ratio);
	if (progress)
		progress(ctx, what);
	rc = PRUNEJOB_ERR_RUN;
	if (select_plan(&plan, m, tok, &o->select, o->ratio, &cache, err, errlen))
		goto out;
	struct prune_info info = select_info(&o->select, &cache, o->ratio, o->base);
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
	select_cache_free(&cache);
	prune_plan_free(plan);
	tokenizer_free(tok);
	model_close(base);
	model_close(m);
	util_lock_close(lock);
	return rc;
}
