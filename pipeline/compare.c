/* compare: the run matrix and its report. See compare.h. */
#include "compare.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "file.h"
#include "scorer.h"
#include "select.h"
#include "text.h"

struct run {
	const char *method;
	enum prune_granularity g;
};

/* Everything a compare holds while it runs. */
struct job {
	const struct compare_opts *o;
	struct run runs[2 * COMPARE_LIST_MAX];
	int n_runs;
	struct model *m;
	struct tokenizer *tok;
	int *ids;
	size_t n_ids;
	struct env *env;
	struct select_cache cache;
	bool created;
};

/* The (method, granularity) runs, and the usage checks that need no file. */
static int plan_runs(struct job *j, char *err, size_t errlen)
{
	const struct compare_opts *o = j->o;
	if (o->n_methods < 1 || o->n_methods > COMPARE_LIST_MAX || o->n_ratios < 1 ||
	    o->n_ratios > COMPARE_LIST_MAX)
		return err_set(err, errlen, COMPARE_ERR_USAGE, "1 to %d methods and ratios",
			       COMPARE_LIST_MAX);
	for (int i = 0; i < o->n_methods; i++) {
		const struct scorer *s = scorer_find(o->methods[i]);
		if (!s)
			return err_set(err, errlen, COMPARE_ERR_USAGE, "--methods: '%s' is not one of %s",
				       o->methods[i], scorer_names());
		char def[4096];
		if ((s->needs & SCORER_NEEDS_POLICY) && !o->policy &&
		    select_default_policy(def, sizeof def))
			return err_set(err, errlen, COMPARE_ERR_USAGE, "method %s needs --policy FILE",
				       s->name);
		if ((s->needs & SCORER_NEEDS_CALIB) && !o->calib)
			return err_set(err, errlen, COMPARE_ERR_USAGE, "method %s needs --calib FILE",
				       s->name);
		j->runs[j->n_runs++] = (struct run){s->name, s->natural};
	}
	for (int i = 0; o->weights && i < o->n_methods; i++) {
		const struct scorer *s = scorer_find(o->methods[i]);
		if (s->natural == PRUNE_GRANULARITY_ROWS && s->mask_weights)
			j->runs[j->n_runs++] = (struct run){s->name, PRUNE_GRANULARITY_WEIGHTS};
	}
	return COMPARE_OK;
}

static struct select_opts run_opts(const struct job *j, const struct run *r)
{
	const struct compare_opts *o = j->o;
	return (struct select_opts){.method = r->method, .policy = o->policy, .calib = o->calib,
				    .calib_windows = o->calib_windows, .norm_p = 1,
				    .granularity = r->g, .seed = o->seed};
}

/* Cheap failures first, then OUT and OUT/models are created. */
static int prepare(struct job *j, char *err, size_t errlen)
{
	const struct compare_opts *o = j->o;
	char path[PATH_MAX];
	if (util_join(path, sizeof path, o->out, "report.md"))
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: path too long", o->out);
	if (!o->force && access(path, F_OK) == 0)
		return err_set(err, errlen, COMPARE_ERR_OUT,
			       "%s already holds a report (use --force to replace it)", o->out);
	if (text_check_file(o->text, err, errlen) ||
	    text_open_model(&j->m, &j->tok, o->model, err, errlen) ||
	    text_encode_file(&j->ids, &j->n_ids, j->m, j->tok, o->text, err, errlen))
		return COMPARE_ERR_INPUT;
	if (o->seq_len > j->m->cfg.max_pos)
		return err_set(err, errlen, COMPARE_ERR_INPUT, "--seq-len %ld exceeds the model's context (%d)",
			       o->seq_len, j->m->cfg.max_pos);
	for (int i = 0; i < j->n_runs; i++) {
		struct select_opts so = run_opts(j, &j->runs[i]);
		if (select_prepare(j->m, &so, &j->cache, err, errlen))
			return COMPARE_ERR_INPUT;
	}
	if (env_open(&j->env, o->model, SPECTRUM_ROUTE_SVD, 256u << 20, err, errlen))
		return COMPARE_ERR_INPUT;
	if (mkdir(o->out, 0777) == 0)
		j->created = true;
	else if (errno != EEXIST)
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: cannot create: %s", o->out,
			       strerror(errno));
	if (util_join(path, sizeof path, o->out, "models") || (mkdir(path, 0777) && errno != EEXIST))
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: cannot create: %s", path,
			       strerror(errno));
	return COMPARE_OK;
}

/* Measures the checkpoint m (the dense one, or a pruned one just written). */
static int measure_one(struct report_row *r, const struct job *j, const struct model *m,
		       const struct tokenizer *tok, char *err, size_t errlen)
{
	const struct compare_opts *o = j->o;
	if (measure_model(&r->m, m, tok, j->ids, j->n_ids, (int)o->seq_len, (size_t)o->max_windows,
			  o->sample_tokens, NULL, NULL, err, errlen))
		return err_prefix(err, errlen, COMPARE_ERR_RUN, "%s: evaluation failed", m->dir);
	return COMPARE_OK;
}

/* One run: plan, write, KS, counts, then the pruned checkpoint is measured. */
static int run_one(struct report_row *r, struct job *j, const struct run *run, double ratio,
		   char *err, size_t errlen)
{
	const struct compare_opts *o = j->o;
	char dir[PATH_MAX];
	*r = (struct report_row){.method = run->method, .g = run->g, .ratio = ratio};
	if ((size_t)snprintf(dir, sizeof dir, "%s/models/%s-%s-%g", o->out, run->method,
			     prune_granularity_name(run->g), ratio) >= sizeof dir)
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: path too long", o->out);
	struct select_opts so = run_opts(j, run);
	struct prune_plan *plan = NULL;
	struct prune_counts counts;
	double t0 = util_now();
	if (select_plan(&plan, j->m, j->tok, &so, ratio, &j->cache, err, errlen))
		return COMPARE_ERR_RUN;
	struct prune_info info = select_info(&so, &j->cache, ratio, NULL);
	int rc = prune_write(j->m, j->m->dir, plan, NULL, &info, dir, true, err, errlen) ? COMPARE_ERR_RUN
										     : COMPARE_OK;
	r->prune_s = util_now() - t0;
	if (!rc && measure_plan_ks(&r->ks, j->env, plan, err, errlen))
		rc = COMPARE_ERR_RUN;
	if (!rc && prune_plan_count(&counts, plan, j->m))
		rc = err_set(err, errlen, COMPARE_ERR_RUN, "the plan does not fit the model");
	prune_plan_free(plan);
	if (rc)
		return rc;
	struct model *pm = NULL;
	struct tokenizer *ptok = NULL;
	if (text_open_model(&pm, &ptok, dir, err, errlen))
		return COMPARE_ERR_RUN;
	rc = measure_one(r, j, pm, ptok, err, errlen);
	tokenizer_free(ptok);
	model_close(pm);
	/* nonzero weights for the weights granularity (the file keeps dense shapes) */
	r->m.params = counts.params_after;
	r->m.ffn_params = counts.ffn_params_after;
	return rc;
}

/* The dense row, every run, the plot and the report files. */
static int run_all(struct compare_result *res, struct job *j, compare_progress_fn *progress,
		   void *ctx, char *err, size_t errlen)
{
	const struct compare_opts *o = j->o;
	int total = 1 + j->n_runs * o->n_ratios, rc;
	if (progress)
		progress(ctx, 0, total, "dense model");
	res->rows[0] = (struct report_row){.method = "dense", .g = PRUNE_GRANULARITY_ROWS};
	if ((rc = measure_one(&res->rows[0], j, j->m, j->tok, err, errlen)))
		return rc;
	res->n_rows = 1;
	for (int ri = 0; ri < j->n_runs; ri++)
		for (int k = 0; k < o->n_ratios; k++) {
			char what[128];
			snprintf(what, sizeof what, "%s (%s) ratio %g", j->runs[ri].method,
				 prune_granularity_name(j->runs[ri].g), o->ratios[k]);
			if (progress)
				progress(ctx, res->n_rows, total, what);
			if ((rc = run_one(&res->rows[res->n_rows], j, &j->runs[ri], o->ratios[k], err,
					  errlen)))
				return err_prefix(err, errlen, rc, "%s", what);
			res->n_rows++;
		}
	if (progress)
		progress(ctx, res->n_rows, total, "writing the report");
	struct report rep = {o->model, o->text, j->n_ids, o->max_windows, res->rows, res->n_rows};
	res->plotted = report_plot(o->out, &rep, NULL, 0) == REPORT_OK;
	if (report_write_all(o->out, &rep, res->plotted, err, errlen))
		return COMPARE_ERR_OUT;
	res->n_ids = j->n_ids;
	return COMPARE_OK;
}

int compare_run(struct compare_result *res, const struct compare_opts *o,
		compare_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	struct job j = {.o = o};
	struct compare_result r = {0};
	int rc = plan_runs(&j, err, errlen);
	if (rc)
		return rc;
	if (!(r.rows = calloc((size_t)(1 + j.n_runs * o->n_ratios), sizeof *r.rows))) {
		rc = err_set(err, errlen, COMPARE_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = prepare(&j, err, errlen)) || (rc = run_all(&r, &j, progress, ctx, err, errlen)))
		goto out;
	*res = r;
	r.rows = NULL;
out:
	/* a failed run leaves no half-written report behind */
	if (rc && j.created && util_remove_tree(o->out))
		err_prefix(err, errlen, rc, "could not remove %s", o->out);
	compare_result_free(&r);
	select_cache_free(&j.cache);
	env_close(j.env);
	free(j.ids);
	tokenizer_free(j.tok);
	model_close(j.m);
	return rc;
}

void compare_result_free(struct compare_result *res)
{
	if (!res)
		return;
	free(res->rows);
	memset(res, 0, sizeof *res);
}
