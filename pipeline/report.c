/* report: CSV, JSON and Markdown of a compare run, seed aggregates and verdicts. See report.h.
 * The plot is in report_plot.c, reading results.json back in report_read.c. */
#include "report.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "json.h"

const char *report_group(char *buf, size_t cap, unsigned long long v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%llu", v), o = 0;
	for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

static const char *gran(const struct report_row *r, const char *dense)
{
	return r->ratio > 0 ? prune_granularity_name(r->g) : dense;
}

/* Share of the dense model's parameters a row removes, percent. */
static double removed_pct(const struct report *r, double params)
{
	double p0 = (double)r->rows[0].m.params;
	return p0 > 0 ? 100.0 * (p0 - params) / p0 : 0;
}

static double mib_saved(const struct report *r, const struct report_row *w)
{
	return ((double)r->rows[0].m.bytes - (double)w->m.bytes) / (1024.0 * 1024.0);
}

/* mean and sample standard deviation (0 for one value) of x[0..n) with stride */
static void mean_sd(double *mean, double *sd, const double *x, int n)
{
	double s = 0, q = 0;
	for (int i = 0; i < n; i++)
		s += x[i];
	*mean = s / n;
	for (int i = 0; i < n; i++)
		q += (x[i] - *mean) * (x[i] - *mean);
	*sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

static bool same_item(const struct report_row *a, const struct report_stat *s)
{
	return !strcmp(a->method, s->method) && a->g == s->g && a->ratio == s->ratio;
}

/* Fills the aggregates of s from the rows of its item. */
static void aggregate(struct report_stat *s, const struct report *r, double *buf)
{
	double *ppl = buf, *kl = buf + r->n_rows, *top1 = buf + 2 * r->n_rows;
	double params = 0;
	s->n = 0;
	for (int i = s->first; i < r->n_rows; i++) {
		const struct report_row *w = &r->rows[i];
		if (!same_item(w, s))
			continue;
		ppl[s->n] = w->m.eval.perplexity;
		kl[s->n] = w->m.kl.mean;
		top1[s->n] = w->m.kl.top1;
		params += (double)w->m.params;
		s->n++;
	}
	mean_sd(&s->ppl, &s->ppl_sd, ppl, s->n);
	mean_sd(&s->kl, &s->kl_sd, kl, s->n);
	mean_sd(&s->top1, &s->top1_sd, top1, s->n);
	s->params = params / s->n;
}

int report_stats(struct report_stat *out, const struct report *r)
{
	int n = 0;
	double *buf = malloc(3 * (size_t)r->n_rows * sizeof *buf);
	if (!buf)
		return -1;
	for (int i = 1; i < r->n_rows; i++) {
		const struct report_row *w = &r->rows[i];
		bool seen = false;
		for (int k = 0; k < n && !seen; k++)
			seen = same_item(w, &out[k]);
		if (seen)
			continue;
		out[n] = (struct report_stat){.method = w->method, .g = w->g, .ratio = w->ratio, .first = i};
		aggregate(&out[n++], r, buf);
	}
	free(buf);
	return n;
}

/* The verdict at one ratio (see report.h). */
struct verdict {
	double ratio;
	const struct report_stat *best, *runner, *random;
	bool spread_known, beats_runner, beats_random;
};

static struct verdict verdict_at(const struct report_stat *st, int n, double ratio)
{
	struct verdict v = {.ratio = ratio};
	for (int i = 0; i < n; i++) {
		const struct report_stat *s = &st[i];
		if (s->ratio != ratio || s->g != PRUNE_GRANULARITY_ROWS)
			continue;
		if (!strcmp(s->method, "random")) {
			v.random = s;
		} else if (!v.best || s->kl < v.best->kl) {
			v.runner = v.best;
			v.best = s;
		} else if (!v.runner || s->kl < v.runner->kl) {
			v.runner = s;
		}
	}
	v.spread_known = v.random && v.random->n >= 2;
	if (v.best && v.spread_known) {
		double spread = v.random->kl_sd;
		v.beats_runner = v.runner && v.runner->kl - v.best->kl > spread;
		v.beats_random = v.random->kl - v.best->kl > spread;
	}
	return v;
}

/* The distinct ratios of the stats, in order of appearance; returns the count. */
static int ratios_of(double *out, const struct report_stat *st, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		bool seen = false;
		for (int j = 0; j < k; j++)
			seen |= out[j] == st[i].ratio;
		if (!seen)
			out[k++] = st[i].ratio;
	}
	return k;
}

int report_write_csv(FILE *f, const struct report *r)
{
	fprintf(f, "method,granularity,ratio,seed,params,ffn_params,params_removed_pct,mib_saved,bytes,"
		   "flops_per_token,perplexity,delta_perplexity,kl_mean,kl_median,kl_p99,top1_agreement,"
		   "tokens_per_s,prune_seconds,mean_ks,sample\n");
	double ppl0 = r->rows[0].m.eval.perplexity;
	for (int i = 0; i < r->n_rows; i++) {
		const struct report_row *w = &r->rows[i];
		const struct measure *m = &w->m;
		char seed[32] = "";
		if (w->seeded)
			snprintf(seed, sizeof seed, "%llu", (unsigned long long)w->seed);
		fprintf(f, "%s,%s,%g,%s,%zu,%zu,%.4f,%.4f,%zu,%.0f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f,"
			   "%.6f,\"%s\"\n",
			w->method, gran(w, "-"), w->ratio, seed, m->params, m->ffn_params,
			removed_pct(r, (double)m->params), mib_saved(r, w), m->bytes, m->flops,
			m->eval.perplexity, m->eval.perplexity - ppl0, m->kl.mean, m->kl.median, m->kl.p99,
			m->kl.top1, m->eval.tokens_per_s, w->prune_s, w->ks, m->sample);
	}
	return ferror(f) ? REPORT_ERR_IO : REPORT_OK;
}

/* One results[] entry. NULL when out of memory. */
static struct cJSON *json_row(struct cJSON *arr, const struct report *r, const struct report_row *w)
{
	const struct measure *m = &w->m;
	struct cJSON *o = json_add_object(arr, NULL);
	if (!o || !json_add_string(o, "method", w->method) ||
	    !json_add_string(o, "granularity", gran(w, "dense")) ||
	    !json_add_number(o, "ratio", w->ratio) ||
	    !(w->seeded ? json_add_uint64(o, "seed", w->seed) : json_add_null(o, "seed")) ||
	    !json_add_number(o, "params", (double)m->params) ||
	    !json_add_number(o, "ffn_params", (double)m->ffn_params) ||
	    !json_add_number(o, "params_removed_pct", removed_pct(r, (double)m->params)) ||
	    !json_add_number(o, "mib_saved", mib_saved(r, w)) ||
	    !json_add_number(o, "bytes", (double)m->bytes) ||
	    !json_add_number(o, "flops_per_token", m->flops) ||
	    !json_add_number(o, "perplexity", m->eval.perplexity) ||
	    !json_add_number(o, "nll", m->eval.nll) ||
	    !json_add_number(o, "delta_perplexity", m->eval.perplexity - r->rows[0].m.eval.perplexity) ||
	    !json_add_number(o, "kl_mean", m->kl.mean) || !json_add_number(o, "kl_median", m->kl.median) ||
	    !json_add_number(o, "kl_p99", m->kl.p99) ||
	    !json_add_number(o, "top1_agreement", m->kl.top1) ||
	    !json_add_number(o, "tokens", (double)m->eval.tokens) ||
	    !json_add_number(o, "windows", (double)m->eval.windows) ||
	    !json_add_number(o, "tokens_per_s", m->eval.tokens_per_s) ||
	    !json_add_number(o, "prune_seconds", w->prune_s) || !json_add_number(o, "mean_ks", w->ks) ||
	    !json_add_string(o, "sample", m->sample))
		return NULL;
	return o;
}

/* The settings as top-level members of root. */
static bool json_settings(struct cJSON *root, const struct report *r)
{
	const struct report_settings *s = &r->s;
	const struct eval_result *e = &r->rows[0].m.eval;
	return json_add_string(root, "command", s->command) &&
	       json_add_string(root, "yopo_version", s->version) &&
	       json_add_string(root, "date", s->date) && json_add_string(root, "model", s->model) &&
	       json_add_string(root, "text", s->text) &&
	       json_add_number(root, "evaluation_tokens", (double)r->n_ids) &&
	       json_add_number(root, "seq_len", (double)s->seq_len) &&
	       json_add_number(root, "max_windows", (double)s->max_windows) &&
	       json_add_number(root, "windows", (double)e->windows) &&
	       json_add_number(root, "predicted_tokens", (double)e->tokens) &&
	       json_add_uint64(root, "seed", s->seed) && json_add_number(root, "seeds", s->seeds) &&
	       json_add_string(root, "policy", s->policy) &&
	       json_add_string(root, "policy_sha256", s->policy_sha256) &&
	       json_add_string(root, "calib", s->calib) &&
	       json_add_number(root, "calib_tokens", (double)s->calib_tokens) &&
	       json_add_number(root, "calib_windows", (double)s->calib_windows) &&
	       json_add_number(root, "probe_tokens", (double)s->probe_tokens) &&
	       json_add_uint64(root, "probe_seed", s->probe_seed) &&
	       json_add_string(root, "notes", r->notes);
}

/* verdicts[]: one object per ratio. */
static bool json_verdicts(struct cJSON *root, const struct report_stat *st, int n)
{
	struct cJSON *arr = json_add_array(root, "verdicts");
	double ratios[64 * 16];
	int k = arr ? ratios_of(ratios, st, n) : 0;
	for (int i = 0; arr && i < k; i++) {
		struct verdict v = verdict_at(st, n, ratios[i]);
		struct cJSON *o = json_add_object(arr, NULL);
		if (!o || !json_add_number(o, "ratio", v.ratio) ||
		    !json_add_string(o, "best", v.best ? v.best->method : NULL) ||
		    !json_add_string(o, "runner_up", v.runner ? v.runner->method : NULL) ||
		    !json_add_number(o, "random_kl_sd", v.random ? v.random->kl_sd : 0) ||
		    !json_add_bool(o, "spread_known", v.spread_known) ||
		    !json_add_bool(o, "better_than_runner_up", v.beats_runner) ||
		    !json_add_bool(o, "better_than_random", v.beats_random))
			return false;
	}
	return arr != NULL;
}

int report_write_json(FILE *f, const struct report *r)
{
	int rc = REPORT_ERR_NOMEM, n = 0;
	struct cJSON *root = json_new_object(), *arr = NULL;
	struct report_stat *st = malloc((size_t)r->n_rows * sizeof *st);
	if (!root || !st || (n = report_stats(st, r)) < 0 || !json_settings(root, r) ||
	    !(arr = json_add_array(root, "results")))
		goto out;
	for (int i = 0; i < r->n_rows; i++)
		if (!json_row(arr, r, &r->rows[i]))
			goto out;
	if (!json_verdicts(root, st, n))
		goto out;
	rc = json_write(f, root, true) ? REPORT_ERR_IO : REPORT_OK;
out:
	free(st);
	json_free(root);
	return rc;
}

/* s inside backticks, with the characters that would break a table cell replaced by '?'. */
static void md_code(FILE *f, const char *s)
{
	fputc('`', f);
	for (; s && *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == '|' || *s == '`' ? '?' : *s, f);
	fputc('`', f);
}

static void md_meta(FILE *f, const struct report *r)
{
	const struct report_settings *s = &r->s;
	const struct report_row *d = &r->rows[0];
	char a[32], b[32];
	fprintf(f, "# yopo compare\n\n| run | |\n|---|---|\n| command | ");
	md_code(f, s->command ? s->command : "(library call)");
	fprintf(f, " |\n| yopo | %s |\n| date | %s |\n| model | ", s->version ? s->version : "?",
		s->date ? s->date : "?");
	md_code(f, s->model);
	fprintf(f, " (%s parameters, %.2f MiB) |\n| text | ", report_group(a, sizeof a, d->m.params),
		(double)d->m.bytes / (1024.0 * 1024.0));
	md_code(f, s->text);
	fprintf(f, " (%s tokens incl. BOS) |\n| windows | %zu x %ld tokens%s, %s predicted tokens |\n",
		report_group(a, sizeof a, r->n_ids), d->m.eval.windows, s->seq_len,
		s->max_windows ? " (first windows only)" : " (every window)",
		report_group(b, sizeof b, d->m.eval.tokens));
	fprintf(f, "| seeds | %d (seeded methods: seeds %llu..%llu) |\n| policy | ", s->seeds,
		(unsigned long long)s->seed, (unsigned long long)(s->seed + (uint64_t)s->seeds - 1));
	if (s->policy) {
		md_code(f, s->policy);
		fprintf(f, " SHA-256 `%s`", s->policy_sha256 ? s->policy_sha256 : "?");
	} else {
		fprintf(f, "-");
	}
	fprintf(f, " |\n| calibration | ");
	if (s->calib) {
		md_code(f, s->calib);
		fprintf(f, " (%s tokens)", report_group(a, sizeof a, s->calib_tokens));
	} else {
		fprintf(f, "-");
	}
	if (s->probe_tokens)
		fprintf(f, " |\n| probe tokens | %ld sampled from the model itself, seed %llu |\n\n",
			s->probe_tokens, (unsigned long long)s->probe_seed);
	else
		fprintf(f, " |\n| probe tokens | - |\n\n");
	if (r->notes)
		fprintf(f, "%s\n", r->notes);
}

static void md_verdicts(FILE *f, const struct report_stat *st, int n)
{
	double ratios[64 * 16];
	int k = ratios_of(ratios, st, n);
	fprintf(f, "## Verdict (mean KL to the dense model; lower is closer)\n\n");
	for (int i = 0; i < k; i++) {
		struct verdict v = verdict_at(st, n, ratios[i]);
		fprintf(f, "- ratio %g: ", v.ratio);
		if (!v.best) {
			fprintf(f, "no structured method besides random ran.\n");
			continue;
		}
		fprintf(f, "best structured method **%s** (KL %.4f)", v.best->method, v.best->kl);
		if (v.runner)
			fprintf(f, ", lead %.4f over %s", v.runner->kl - v.best->kl, v.runner->method);
		if (v.random)
			fprintf(f, ", %+.4f against random (%.4f ± %.4f over %d seeds)",
				v.random->kl - v.best->kl, v.random->kl, v.random->kl_sd, v.random->n);
		if (!v.spread_known) {
			fprintf(f, ". No claim: random's spread needs --seeds >= 2.\n");
			continue;
		}
		fprintf(f, ". Beyond random's spread: better than random **%s**",
			v.beats_random ? "yes" : "no");
		if (v.runner)
			fprintf(f, ", better than %s **%s**", v.runner->method, v.beats_runner ? "yes" : "no");
		fprintf(f, ".\n");
	}
	fprintf(f, "\n");
}

/* "x" or "x ± sd" (when n > 1) into buf. */
static const char *pm(char *buf, size_t cap, const char *fmt, double x, double sd, int n)
{
	int k = snprintf(buf, cap, fmt, x);
	if (n > 1 && k > 0 && (size_t)k < cap) {
		snprintf(buf + k, cap - (size_t)k, " ± ");
		k = (int)strlen(buf);
		snprintf(buf + k, cap - (size_t)k, fmt, sd);
	}
	return buf;
}

static void md_table(FILE *f, const struct report *r, const struct report_stat *st, int n)
{
	const struct report_row *d = &r->rows[0];
	char a[48], b[48], c[48], e[48];
	fprintf(f, "## Results (seeded methods: mean ± sd over seeds; every run in results.csv)\n\n"
		   "| method | granularity | ratio | runs | params | params removed | MiB saved | "
		   "perplexity | Δ ppl | mean KL | top-1 | mean KS | tokens/s | sample |\n"
		   "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	fprintf(f, "| dense | - | 0 | 1 | %s | 0.0%% | 0.00 | %.3f | +0.000 | 0 | 1 | 0 | %.0f | %s |\n",
		report_group(a, sizeof a, d->m.params), d->m.eval.perplexity, d->m.eval.tokens_per_s,
		d->m.sample);
	for (int i = 0; i < n; i++) {
		const struct report_stat *s = &st[i];
		const struct report_row *w = &r->rows[s->first];
		fprintf(f, "| %s | %s | %g | %d | %s | %.1f%% | %.2f | %s | %+.3f | %s | %s | %.4f | %.0f | %s |\n",
			s->method, prune_granularity_name(s->g), s->ratio, s->n,
			report_group(a, sizeof a, (unsigned long long)s->params),
			removed_pct(r, s->params), mib_saved(r, w),
			pm(b, sizeof b, "%.3f", s->ppl, s->ppl_sd, s->n), s->ppl - d->m.eval.perplexity,
			pm(c, sizeof c, "%.4f", s->kl, s->kl_sd, s->n),
			pm(e, sizeof e, "%.3f", s->top1, s->top1_sd, s->n), w->ks, w->m.eval.tokens_per_s,
			w->m.sample);
	}
}

int report_write_md(FILE *f, const struct report *r, bool plotted)
{
	struct report_stat *st = malloc((size_t)r->n_rows * sizeof *st);
	int n = st ? report_stats(st, r) : -1;
	if (n < 0) {
		free(st);
		return REPORT_ERR_NOMEM;
	}
	md_meta(f, r);
	md_verdicts(f, st, n);
	md_table(f, r, st, n);
	free(st);
	fprintf(f, "\nRatio = share of FFN neurons (rows) or FFN weights removed; params removed = share "
		   "of all the model's parameters. For the weights granularity params count nonzero "
		   "weights, but the checkpoint keeps its dense shapes: **zeroed weights save no memory "
		   "or time by themselves** (MiB saved 0, bytes, FLOPs and tokens/s those of the dense "
		   "model).\nMean KL: KL(dense ‖ pruned) of the next-token distributions per predicted "
		   "token (nats), top-1: share of tokens where both models' most likely token agrees, "
		   "both on the evaluation windows. Mean KS: two-sample KS distance between the singular "
		   "values of each layer's scored FFN matrix before and after pruning, averaged over "
		   "layers. Tokens/s is measured on a shared machine and is noisy.\n");
	if (plotted)
		fprintf(f, "\n![perplexity and KL against ratio, perplexity against parameters](plot.png)\n");
	return ferror(f) ? REPORT_ERR_IO : REPORT_OK;
}

int report_write_file(const char *dir, const char *name, int (*fn)(FILE *, const void *),
		      const void *ctx, char *err, size_t errlen)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	if (util_join(path, sizeof path, dir, name))
		return err_set(err, errlen, REPORT_ERR_IO, "%s: path too long", dir);
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return err_set(err, errlen, REPORT_ERR_NOMEM, "out of memory");
	int rc = fn(f, ctx);
	if (fclose(f) && !rc)
		rc = REPORT_ERR_NOMEM;
	if (rc)
		rc = err_set(err, errlen, rc, "%s: cannot write", path);
	else if (util_write_file_atomic(path, buf, len, err, errlen))
		rc = REPORT_ERR_IO;
	free(buf);
	return rc;
}

/* What the three result files are written from. */
struct write_ctx {
	const struct report *r;
	bool plotted;
};

static int csv_fn(FILE *f, const void *ctx)
{
	return report_write_csv(f, ((const struct write_ctx *)ctx)->r);
}

static int json_fn(FILE *f, const void *ctx)
{
	return report_write_json(f, ((const struct write_ctx *)ctx)->r);
}

static int md_fn(FILE *f, const void *ctx)
{
	const struct write_ctx *c = ctx;
	return report_write_md(f, c->r, c->plotted);
}

int report_write_all(const char *dir, const struct report *r, bool plotted, char *err,
		     size_t errlen)
{
	const struct write_ctx c = {r, plotted};
	int rc = report_write_file(dir, "results.csv", csv_fn, &c, err, errlen);
	if (!rc)
		rc = report_write_file(dir, "results.json", json_fn, &c, err, errlen);
	if (!rc)
		rc = report_write_file(dir, "report.md", md_fn, &c, err, errlen);
	return rc;
}
