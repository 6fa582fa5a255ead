/* compare: the run matrix and its report. See compare.h. */
#include "compare.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "compare_dir.h"
#include "err.h"
#include "file.h"
#include "scorer.h"
#include "select.h"
#include "text.h"
#include "yopo_version.h"

struct run {
	const struct scorer *s;
	enum prune_granularity g;
};

/* One item of the matrix: a run at a ratio (and seed). */
struct item {
	const struct run *run;
	double ratio;
	uint64_t seed;
};

/* Everything a compare holds while it runs. */
struct job {
	const struct compare_opts *o;
	struct run runs[4 * COMPARE_LIST_MAX];
	int n_runs;
	struct model *m;
	struct tokenizer *tok;
	int *ids;
	size_t n_ids;
	struct env *env;
	struct select_cache cache;
	struct compare_dir dir;
	struct report_row *old; /* rows of the report being resumed */
	int n_old;
	char date[32];
	char policy_path[PATH_MAX]; /* the shipped default policy, when --policy is not given */
	struct report rep;
	bool saved; /* the work directory holds results worth resuming */
};

static int n_seeds(const struct compare_opts *o)
{
	return o->seeds > 0 ? o->seeds : 1;
}

static struct select_opts run_opts(const struct job *j, const struct run *r, uint64_t seed)
{
	const struct compare_opts *o = j->o;
	return (struct select_opts){.method = r->s->name, .policy = o->policy, .calib = o->calib,
				    .calib_windows = o->calib_windows, .calib_tokens = o->calib_tokens,
				    .norm_p = 1, .granularity = r->g, .seed = seed,
				    .probe_tokens = o->probe_tokens, .probe_lanes = o->probe_lanes};
}

/* A method skipped for want of its inputs: a note line into res. */
static void note_skip(struct compare_result *res, const char *why)
{
	size_t n = strlen(res->notes);
	snprintf(res->notes + n, sizeof res->notes - n, "Skipped: %s.\n", why);
}

/* The (method, granularity) runs, and the usage checks that need no file. */
static int plan_runs(struct job *j, struct compare_result *res, char *err, size_t errlen)
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
		struct run r = {s, s->natural};
		struct select_opts so = run_opts(j, &r, o->seed);
		char why[ERR_MAX];
		if (select_check_usage(&so, why, sizeof why)) {
			if (!o->skip_unavailable)
				return err_set(err, errlen, COMPARE_ERR_USAGE, "%s", why);
			note_skip(res, why);
			continue;
		}
		j->runs[j->n_runs++] = r;
	}
	int n_plain = j->n_runs;
	for (int i = 0; o->weights && i < n_plain; i++)
		if (j->runs[i].g == PRUNE_GRANULARITY_ROWS && j->runs[i].s->mask_weights)
			j->runs[j->n_runs++] = (struct run){j->runs[i].s, PRUNE_GRANULARITY_WEIGHTS};
	if (o->n_nm < 0 || o->n_nm > 2)
		return err_set(err, errlen, COMPARE_ERR_USAGE, "at most 2 N:M granularities");
	for (int g = 0; g < o->n_nm; g++)
		for (int i = 0; i < n_plain; i++)
			if (scorer_supports(j->runs[i].s, o->nm[g]))
				j->runs[j->n_runs++] = (struct run){j->runs[i].s, o->nm[g]};
	if (!j->n_runs)
		return err_set(err, errlen, COMPARE_ERR_USAGE, "no method left to run");
	return COMPARE_OK;
}

static bool any_needs(const struct job *j, unsigned need)
{
	for (int i = 0; i < j->n_runs; i++)
		if (j->runs[i].s->needs & need)
			return true;
	return false;
}

/* The settings recorded in the report (and compared by --resume). */
static void fill_settings(struct job *j)
{
	const struct compare_opts *o = j->o;
	time_t now = time(NULL);
	struct tm tm;
	if (gmtime_r(&now, &tm))
		strftime(j->date, sizeof j->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	bool pol = any_needs(j, SCORER_NEEDS_POLICY), cal = any_needs(j, SCORER_NEEDS_CALIB);
	/* no --policy: the shipped default the policy method used */
	const char *policy = o->policy;
	if (pol && !policy && !select_default_policy(j->policy_path, sizeof j->policy_path))
		policy = j->policy_path;
	j->rep.s = (struct report_settings){
		.command = o->command, .version = YOPO_VERSION, .date = j->date, .model = o->model,
		.text = o->text, .seq_len = o->seq_len ? o->seq_len : j->m->cfg.max_pos,
		.max_windows = o->max_windows, .seed = o->seed, .seeds = n_seeds(o),
		.policy = pol ? policy : NULL, .policy_sha256 = pol ? j->cache.policy_sha256 : NULL,
		.calib = cal ? o->calib : NULL, .calib_windows = cal ? o->calib_windows : 0,
		.probe_tokens = any_needs(j, SCORER_NEEDS_PROBE)
					? (o->probe_tokens ? o->probe_tokens : SELECT_PROBE_TOKENS) : 0,
		.probe_seed = o->seed,
	};
	j->rep.n_ids = j->n_ids;
}

/* Cheap failures first (files, the model, the method inputs), then the work directory. */
static struct item item_at(const struct job *j, int k);
static int n_items(const struct job *j);

static int prepare(struct job *j, char *err, size_t errlen)
{
	const struct compare_opts *o = j->o;
	int rc;
	if ((rc = compare_dir_open(&j->dir, o, err, errlen)))
		return rc;
	if (text_check_file(o->text, err, errlen) ||
	    text_open_model(&j->m, &j->tok, o->model, err, errlen) ||
	    text_encode_file(&j->ids, &j->n_ids, j->m, j->tok, o->text, err, errlen))
		return COMPARE_ERR_INPUT;
	if (o->seq_len > j->m->cfg.max_pos)
		return err_set(err, errlen, COMPARE_ERR_INPUT, "--seq-len %ld exceeds the model's context (%d)",
			       o->seq_len, j->m->cfg.max_pos);
	/* the one ratio rule (plan.h) for every item, before any measurement */
	for (int k = 0; k < n_items(j); k++) {
		struct item it = item_at(j, k);
		if (prune_check_ratio(&j->m->cfg, it.ratio, it.run->g, false, err, errlen))
			return err_prefix(err, errlen, COMPARE_ERR_USAGE, "--ratios");
	}
	for (int i = 0; i < j->n_runs; i++) {
		struct select_opts so = run_opts(j, &j->runs[i], o->seed);
		if (select_prepare(j->m, &so, &j->cache, err, errlen))
			return COMPARE_ERR_INPUT;
	}
	if (env_open(&j->env, o->model, SPECTRUM_ROUTE_SVD, 256u << 20, err, errlen))
		return COMPARE_ERR_INPUT;
	fill_settings(j);
	if (j->dir.in_place &&
	    (rc = report_read_rows(&j->old, &j->n_old, &j->rep.s.calib_tokens, j->dir.out, &j->rep.s,
				   err, errlen)))
		return rc == REPORT_ERR_NOMEM ? COMPARE_ERR_NOMEM : COMPARE_ERR_OUT;
	if ((rc = compare_dir_create(&j->dir, o, err, errlen)))
		return rc;
	/* an adopted sibling of a dead run: its results must match too, else start afresh */
	if (j->dir.adopted && report_read_rows(&j->old, &j->n_old, &j->rep.s.calib_tokens, j->dir.work,
					       &j->rep.s, err, errlen))
		return err_prefix(err, errlen, COMPARE_ERR_OUT, "--resume: %s", j->dir.work);
	return COMPARE_OK;
}

/* The row of the resumed report for it (the dense row for it == NULL), or NULL. */
static const struct report_row *find_old(const struct job *j, const struct item *it)
{
	for (int i = 0; i < j->n_old; i++) {
		const struct report_row *w = &j->old[i];
		if (!it) {
			if (!strcmp(w->method, "dense"))
				return w;
			continue;
		}
		if (!strcmp(w->method, it->run->s->name) && w->g == it->run->g &&
		    w->ratio == it->ratio && (!it->run->s->seeded || w->seed == it->seed))
			return w;
	}
	return NULL;
}

/* The dense model: its perplexity; KL 0 and full agreement with itself by definition. */
static int measure_dense(struct report_row *r, struct job *j, char *err, size_t errlen)
{
	const struct compare_opts *o = j->o;
	*r = (struct report_row){.method = "dense", .g = PRUNE_GRANULARITY_ROWS};
	if (measure_model(&r->m, j->m, j->tok, NULL, j->ids, j->n_ids, (int)o->seq_len,
			  (size_t)o->max_windows, o->sample_tokens, NULL, NULL, err, errlen))
		return err_prefix(err, errlen, COMPARE_ERR_RUN, "%s: evaluation failed", j->m->dir);
	r->m.has_kl = true;
	r->m.kl = (struct kl_result){.top1 = 1, .tokens = r->m.eval.tokens, .windows = r->m.eval.windows,
				     .nll_ref = r->m.eval.nll, .nll = r->m.eval.nll,
				     .ppl_ref = r->m.eval.perplexity, .ppl = r->m.eval.perplexity};
	return COMPARE_OK;
}

/* Measures the pruned checkpoint in dir against the dense model. */
static int measure_pruned(struct report_row *r, const struct job *j, const char *dir, char *err,
			  size_t errlen)
{
	const struct compare_opts *o = j->o;
	struct model *pm = NULL;
	struct tokenizer *ptok = NULL;
	if (text_open_model(&pm, &ptok, dir, err, errlen))
		return COMPARE_ERR_RUN;
	int rc = COMPARE_OK;
	if (measure_model(&r->m, pm, ptok, j->m, j->ids, j->n_ids, (int)o->seq_len,
			  (size_t)o->max_windows, o->sample_tokens, NULL, NULL, err, errlen))
		rc = err_prefix(err, errlen, COMPARE_ERR_RUN, "%s: evaluation failed", dir);
	tokenizer_free(ptok);
	model_close(pm);
	return rc;
}

/* One item: plan, write, KS, counts, then the pruned checkpoint is measured (and dropped). */
static int run_one(struct report_row *r, struct job *j, const struct item *it, char *err,
		   size_t errlen)
{
	const struct compare_opts *o = j->o;
	char dir[PATH_MAX], seed[32] = "";
	*r = (struct report_row){.method = it->run->s->name, .g = it->run->g, .ratio = it->ratio,
				 .seeded = it->run->s->seeded, .seed = it->seed};
	if (r->seeded)
		snprintf(seed, sizeof seed, "-s%llu", (unsigned long long)it->seed);
	if ((size_t)snprintf(dir, sizeof dir, "%s/models/%s-%s-%g%s", j->dir.work, r->method,
			     prune_granularity_name(r->g), it->ratio, seed) >= sizeof dir)
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: path too long", j->dir.work);
	struct select_opts so = run_opts(j, it->run, it->seed);
	struct prune_plan *plan = NULL;
	struct prune_counts counts;
	double t0 = util_now();
	if (util_remove_tree(dir))
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: cannot remove a partial model", dir);
	if (select_plan(&plan, j->m, j->tok, &so, it->ratio, &j->cache, err, errlen))
		return COMPARE_ERR_RUN;
	struct prune_info info = select_info(&so, &j->cache, it->ratio, NULL);
	int rc = prune_write(j->m, j->m->dir, plan, NULL, &info, dir, true, err, errlen) ? COMPARE_ERR_RUN
										     : COMPARE_OK;
	r->prune_s = util_now() - t0;
	if (!rc && measure_plan_ks(&r->ks, j->env, plan, err, errlen))
		rc = COMPARE_ERR_RUN;
	if (!rc && prune_plan_count(&counts, plan, j->m))
		rc = err_set(err, errlen, COMPARE_ERR_RUN, "the plan does not fit the model");
	prune_plan_free(plan);
	if (!rc)
		rc = measure_pruned(r, j, dir, err, errlen);
	if (!rc && o->drop_models && util_remove_tree(dir))
		rc = err_set(err, errlen, COMPARE_ERR_OUT, "%s: cannot remove: %s", dir, strerror(errno));
	/* nonzero weights for the weights granularity (the file keeps dense shapes) */
	r->m.params = counts.params_after;
	r->m.ffn_params = counts.ffn_params_after;
	return rc;
}

/* Rewrites the report files with the rows done so far. */
static int save(struct job *j, struct compare_result *res, bool plotted, char *err, size_t errlen)
{
	j->rep.rows = res->rows;
	j->rep.n_rows = res->n_rows;
	j->rep.notes = res->notes[0] ? res->notes : NULL;
	if (j->cache.norms)
		j->rep.s.calib_tokens = j->cache.calib_tokens;
	if (report_write_all(j->dir.work, &j->rep, plotted, err, errlen))
		return COMPARE_ERR_OUT;
	j->saved = true;
	return COMPARE_OK;
}

/* An N:M pattern fixes its ratio (1 - N/M): one ratio; every other run has the user's. */
static int n_ratios_of(const struct job *j, const struct run *r)
{
	return prune_granularity_nm(r->g, NULL, NULL) ? 1 : j->o->n_ratios;
}

/* Item k of the matrix (method-major, then ratio, then seed). */
static struct item item_at(const struct job *j, int k)
{
	int per_ratio = n_seeds(j->o), ri = 0;
	for (;; ri++) {
		int n = n_ratios_of(j, &j->runs[ri]) * (j->runs[ri].s->seeded ? per_ratio : 1);
		if (k < n)
			break;
		k -= n;
	}
	const struct run *r = &j->runs[ri];
	int s = r->s->seeded ? per_ratio : 1, nm_n, nm_m;
	double ratio = prune_granularity_nm(r->g, &nm_n, &nm_m) ? 1 - (double)nm_n / nm_m
								  : j->o->ratios[k / s];
	return (struct item){r, ratio, j->o->seed + (uint64_t)(k % s)};
}

static int n_items(const struct job *j)
{
	int n = 0;
	for (int i = 0; i < j->n_runs; i++)
		n += n_ratios_of(j, &j->runs[i]) * (j->runs[i].s->seeded ? n_seeds(j->o) : 1);
	return n;
}

/* The dense row, every item (results saved after each), the plot and the final report. */
static int run_all(struct compare_result *res, struct job *j, compare_progress_fn *progress,
		   void *ctx, char *err, size_t errlen)
{
	int total = 1 + n_items(j), rc;
	const struct report_row *old = find_old(j, NULL);
	if (old) {
		res->rows[0] = *old;
		res->reused++;
	} else {
		if (progress)
			progress(ctx, 0, total, "dense model");
		if ((rc = measure_dense(&res->rows[0], j, err, errlen)))
			return rc;
	}
	res->n_rows = 1;
	if ((rc = save(j, res, false, err, errlen)))
		return rc;
	for (int k = 0; k < total - 1; k++) {
		struct item it = item_at(j, k);
		char what[160];
		snprintf(what, sizeof what, "%s (%s) ratio %g", it.run->s->name,
			 prune_granularity_name(it.run->g), it.ratio);
		if (it.run->s->seeded)
			snprintf(what + strlen(what), sizeof what - strlen(what), " seed %llu",
				 (unsigned long long)it.seed);
		if ((old = find_old(j, &it))) {
			res->rows[res->n_rows++] = *old;
			res->reused++;
			continue;
		}
		if (progress)
			progress(ctx, res->n_rows, total, what);
		if ((rc = run_one(&res->rows[res->n_rows], j, &it, err, errlen)))
			return err_prefix(err, errlen, rc, "%s", what);
		res->n_rows++;
		if ((rc = save(j, res, false, err, errlen)))
			return rc;
	}
	if (progress)
		progress(ctx, total, total, "writing the report");
	j->rep.rows = res->rows;
	j->rep.n_rows = res->n_rows;
	res->plotted = report_plot(j->dir.work, &j->rep, NULL, 0) == REPORT_OK;
	if ((rc = save(j, res, res->plotted, err, errlen)))
		return rc;
	res->n_ids = j->n_ids;
	return COMPARE_OK;
}

int compare_run(struct compare_result *res, const struct compare_opts *o,
		compare_progress_fn *progress, void *ctx, char *err, size_t errlen)
{
	struct job j = {.o = o};
	struct compare_result r = {0};
	int rc = plan_runs(&j, &r, err, errlen);
	if (rc)
		return rc;
	if (!(r.rows = calloc((size_t)(1 + n_items(&j)), sizeof *r.rows))) {
		rc = err_set(err, errlen, COMPARE_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = prepare(&j, err, errlen)) || (rc = run_all(&r, &j, progress, ctx, err, errlen)) ||
	    (rc = compare_dir_commit(&j.dir, err, errlen)))
		goto out;
	*res = r;
	r.rows = NULL;
out:
	/* a run that saved results keeps its temporary directory for --resume */
	compare_dir_close(&j.dir, rc != 0, j.saved || j.dir.adopted, err, errlen);
	compare_result_free(&r);
	free(j.old);
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
