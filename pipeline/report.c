/* report: CSV, JSON, Markdown and the plot of a compare run. See report.h. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

int report_write_csv(FILE *f, const struct report *r)
{
	fprintf(f, "method,granularity,ratio,params,ffn_params,bytes,flops_per_token,perplexity,"
		   "delta_perplexity,tokens_per_s,prune_seconds,mean_ks,sample\n");
	double ppl0 = r->rows[0].m.eval.perplexity;
	for (int i = 0; i < r->n_rows; i++) {
		const struct report_row *w = &r->rows[i];
		const struct measure *m = &w->m;
		fprintf(f, "%s,%s,%g,%zu,%zu,%zu,%.0f,%.6f,%.6f,%.1f,%.3f,%.6f,\"%s\"\n", w->method,
			gran(w, "-"), w->ratio, m->params, m->ffn_params, m->bytes, m->flops,
			m->eval.perplexity, m->eval.perplexity - ppl0, m->eval.tokens_per_s, w->prune_s,
			w->ks, m->sample);
	}
	return ferror(f) ? REPORT_ERR_IO : REPORT_OK;
}

/* One results[] entry. NULL when out of memory. */
static struct cJSON *json_row(struct cJSON *arr, const struct report_row *w, double ppl0)
{
	const struct measure *m = &w->m;
	struct cJSON *o = json_add_object(arr, NULL);
	if (!o || !json_add_string(o, "method", w->method) ||
	    !json_add_string(o, "granularity", gran(w, "dense")) ||
	    !json_add_number(o, "ratio", w->ratio) || !json_add_number(o, "params", (double)m->params) ||
	    !json_add_number(o, "ffn_params", (double)m->ffn_params) ||
	    !json_add_number(o, "bytes", (double)m->bytes) ||
	    !json_add_number(o, "flops_per_token", m->flops) ||
	    !json_add_number(o, "perplexity", m->eval.perplexity) ||
	    !json_add_number(o, "nll", m->eval.nll) ||
	    !json_add_number(o, "delta_perplexity", m->eval.perplexity - ppl0) ||
	    !json_add_number(o, "tokens_per_s", m->eval.tokens_per_s) ||
	    !json_add_number(o, "prune_seconds", w->prune_s) || !json_add_number(o, "mean_ks", w->ks) ||
	    !json_add_string(o, "sample", m->sample))
		return NULL;
	return o;
}

int report_write_json(FILE *f, const struct report *r)
{
	int rc = REPORT_ERR_NOMEM;
	struct cJSON *root = json_new_object(), *arr = NULL;
	if (!root || !json_add_string(root, "model", r->model) ||
	    !json_add_string(root, "text", r->text) ||
	    !json_add_number(root, "evaluation_tokens", (double)r->n_ids) ||
	    !json_add_number(root, "max_windows", (double)r->max_windows) ||
	    !(arr = json_add_array(root, "results")))
		goto out;
	for (int i = 0; i < r->n_rows; i++)
		if (!json_row(arr, &r->rows[i], r->rows[0].m.eval.perplexity))
			goto out;
	rc = json_write(f, root, true) ? REPORT_ERR_IO : REPORT_OK;
out:
	json_free(root);
	return rc;
}

int report_write_md(FILE *f, const struct report *r, bool plotted)
{
	char a[32], b[32], c[32], d[32];
	double ppl0 = r->rows[0].m.eval.perplexity;
	fprintf(f, "# yopo compare\n\nModel `%s`, evaluated on `%s` (%s tokens incl. BOS, %s).\n\n",
		r->model, r->text, report_group(a, sizeof a, r->n_ids),
		r->max_windows ? "first windows only, see results.json" : "every window");
	fprintf(f, "| method | granularity | ratio | params | FFN params | bytes | FLOPs/token | "
		   "perplexity | Δ ppl | tokens/s | prune s | mean KS | sample |\n");
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < r->n_rows; i++) {
		const struct report_row *w = &r->rows[i];
		const struct measure *m = &w->m;
		fprintf(f, "| %s | %s | %g | %s | %s | %s | %s | %.3f | %+.3f | %.0f | %.2f | %.4f | %s |\n",
			w->method, gran(w, "-"), w->ratio, report_group(a, sizeof a, m->params),
			report_group(b, sizeof b, m->ffn_params), report_group(c, sizeof c, m->bytes),
			report_group(d, sizeof d, (unsigned long long)m->flops), m->eval.perplexity,
			m->eval.perplexity - ppl0, m->eval.tokens_per_s, w->prune_s, w->ks, m->sample);
	}
	fprintf(f, "\nparams and FFN params count the weights stored; for the weights granularity they "
		   "count nonzero weights, but the checkpoint keeps its dense shapes: **zeroed weights save no "
		   "memory or time by themselves** (bytes, FLOPs and tokens/s stay those of the dense model).\n"
		   "Mean KS: two-sample KS distance between the singular values of each layer's FFN "
		   "up-projection before and after pruning, averaged over layers (lower is better).\n"
		   "Tokens/s is measured on a shared machine and is noisy.\n");
	if (plotted)
		fprintf(f, "\n![perplexity against ratio](perplexity.svg)\n");
	return ferror(f) ? REPORT_ERR_IO : REPORT_OK;
}

/* Whether row i is the first of its (method, granularity) series. */
static bool first_of_series(const struct report *r, int i)
{
	for (int j = 1; j < i; j++)
		if (!strcmp(r->rows[j].method, r->rows[i].method) && r->rows[j].g == r->rows[i].g)
			return false;
	return true;
}

/* One gnuplot data block per series (dense point first), separated by two blank lines. */
static void write_dat(FILE *f, const struct report *r)
{
	for (int i = 1; i < r->n_rows; i++) {
		if (!first_of_series(r, i))
			continue;
		fprintf(f, "# %s-%s\n0 %.8g\n", r->rows[i].method, prune_granularity_name(r->rows[i].g),
			r->rows[0].m.eval.perplexity);
		for (int j = i; j < r->n_rows; j++)
			if (!strcmp(r->rows[j].method, r->rows[i].method) && r->rows[j].g == r->rows[i].g)
				fprintf(f, "%g %.8g\n", r->rows[j].ratio, r->rows[j].m.eval.perplexity);
		fprintf(f, "\n\n");
	}
}

/* The script names only files relative to the report directory. Method names come from the
 * scorer registry (no quotes). */
static void write_gp(FILE *f, const struct report *r)
{
	fprintf(f, "set terminal svg size 800,500 dynamic background rgb 'white'\n"
		   "set output 'perplexity.svg'\nset xlabel 'pruning ratio'\n"
		   "set ylabel 'perplexity (log scale)'\nset logscale y\nset key left top\nset grid\n"
		   "set title 'yopo compare: perplexity against ratio'\nplot ");
	for (int i = 1, idx = 0; i < r->n_rows; i++) {
		if (!first_of_series(r, i))
			continue;
		fprintf(f, "%s'perplexity.dat' index %d using 1:2 with linespoints title '%s (%s)'",
			idx ? ", " : "", idx, r->rows[i].method, prune_granularity_name(r->rows[i].g));
		idx++;
	}
	fprintf(f, "\n");
}

/* Writes dir/name through fn into memory, then atomically. */
static int write_file(const char *dir, const char *name, const struct report *r, bool plotted,
		      int (*fn)(FILE *, const struct report *, bool), char *err, size_t errlen)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	if (util_join(path, sizeof path, dir, name))
		return err_set(err, errlen, REPORT_ERR_IO, "%s: path too long", dir);
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return err_set(err, errlen, REPORT_ERR_NOMEM, "out of memory");
	int rc = fn(f, r, plotted);
	if (fclose(f) && !rc)
		rc = REPORT_ERR_NOMEM;
	if (rc)
		rc = err_set(err, errlen, rc, "%s: cannot write", path);
	else if (util_write_file_atomic(path, buf, len, err, errlen))
		rc = REPORT_ERR_IO;
	free(buf);
	return rc;
}

static int csv_fn(FILE *f, const struct report *r, bool plotted)
{
	(void)plotted;
	return report_write_csv(f, r);
}

static int json_fn(FILE *f, const struct report *r, bool plotted)
{
	(void)plotted;
	return report_write_json(f, r);
}

static int dat_fn(FILE *f, const struct report *r, bool plotted)
{
	(void)plotted;
	write_dat(f, r);
	return REPORT_OK;
}

static int gp_fn(FILE *f, const struct report *r, bool plotted)
{
	(void)plotted;
	write_gp(f, r);
	return REPORT_OK;
}

int report_write_all(const char *dir, const struct report *r, bool plotted, char *err,
		     size_t errlen)
{
	int rc = write_file(dir, "results.csv", r, plotted, csv_fn, err, errlen);
	if (!rc)
		rc = write_file(dir, "results.json", r, plotted, json_fn, err, errlen);
	if (!rc)
		rc = write_file(dir, "report.md", r, plotted, report_write_md, err, errlen);
	return rc;
}

const char *const *report_plot_argv(void)
{
	static const char *const argv[] = {"gnuplot", "perplexity.gp", NULL};
	return argv;
}

/* Runs gnuplot in dir without a shell; its output goes to /dev/null. */
static int run_gnuplot(const char *dir)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
		    dup2(null, STDERR_FILENO) < 0 || chdir(dir))
			_exit(127);
		execvp("gnuplot", (char *const *)report_plot_argv());
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int report_plot(const char *dir, const struct report *r, char *err, size_t errlen)
{
	int rc = write_file(dir, "perplexity.dat", r, false, dat_fn, err, errlen);
	if (!rc)
		rc = write_file(dir, "perplexity.gp", r, false, gp_fn, err, errlen);
	if (rc)
		return rc;
	if (run_gnuplot(dir))
		return err_set(err, errlen, REPORT_ERR_PLOT, "gnuplot failed or is not installed");
	return REPORT_OK;
}
