/* report_plot: the gnuplot figure of a compare report — perplexity and mean KL against the
 * ratio, perplexity against the parameter count — run without a shell. See report.h. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "file.h"

/* Colours readable on white, one per method (the same in every panel and granularity). */
static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
				      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
enum { N_COLOURS = sizeof colours / sizeof colours[0] };

/* Index of the first stat of the same method: one colour per method. */
static int method_index(const struct report_stat *st, int i)
{
	int k = 0;
	for (int j = 0; j < i; j++) {
		bool first = true;
		for (int q = 0; q < j; q++)
			first &= strcmp(st[q].method, st[j].method) != 0;
		if (first && !strcmp(st[j].method, st[i].method))
			return k;
		k += first;
	}
	return k;
}

/* Whether stat i starts its (method, granularity) series. */
static bool series_start(const struct report_stat *st, int i)
{
	for (int j = 0; j < i; j++)
		if (!strcmp(st[j].method, st[i].method) && st[j].g == st[i].g)
			return false;
	return true;
}

/* Block 0: the dense model; then one block per series (dense point first): ratio, perplexity
 * mean and sd, KL mean and sd, parameters. */
static void write_dat(FILE *f, const struct report *r, const struct report_stat *st, int n)
{
	const struct report_row *d = &r->rows[0];
	fprintf(f, "# dense\n0 %.8g 0 0 0 %zu\n\n\n", d->m.eval.perplexity, d->m.params);
	for (int i = 0; i < n; i++) {
		if (!series_start(st, i))
			continue;
		fprintf(f, "# %s-%s\n0 %.8g 0 0 0 %zu\n", st[i].method, prune_granularity_name(st[i].g),
			d->m.eval.perplexity, d->m.params);
		for (int j = i; j < n; j++)
			if (!strcmp(st[j].method, st[i].method) && st[j].g == st[i].g)
				fprintf(f, "%g %.8g %.8g %.8g %.8g %.0f\n", st[j].ratio, st[j].ppl,
					st[j].ppl_sd, st[j].kl, st[j].kl_sd, st[j].params);
		fprintf(f, "\n\n");
	}
}

/* s as a gnuplot single-quoted string: quotes doubled, control characters dropped. */
static void gp_string(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; s && *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			continue;
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* One plot command over every series: using cols, with style. */
static void plot_series(FILE *f, const struct report_stat *st, int n, const char *cols,
			const char *style)
{
	fprintf(f, "plot ");
	for (int i = 0, idx = 1; i < n; i++) {
		if (!series_start(st, i))
			continue;
		bool rows = st[i].g == PRUNE_GRANULARITY_ROWS;
		fprintf(f, "'plot.dat' index %d using %s with %s lw 2 pt %d lc rgb '%s' dt %d "
			   "title '%s (%s)', \\\n     ",
			idx++, cols, style, rows ? 7 : 6, colours[method_index(st, i) % N_COLOURS],
			rows ? 1 : 2, st[i].method, prune_granularity_name(st[i].g));
	}
}

/* y range [lo, hi] of the perplexities (dense included) with a margin (log scale). */
static void ppl_range(double *lo, double *hi, const struct report *r, const struct report_stat *st,
		      int n)
{
	*lo = *hi = r->rows[0].m.eval.perplexity;
	for (int i = 0; i < n; i++) {
		*lo = fmin(*lo, st[i].ppl - st[i].ppl_sd);
		*hi = fmax(*hi, st[i].ppl + st[i].ppl_sd);
	}
	*lo = *lo > 0 ? *lo / 1.15 : 0.5;
	*hi *= 1.15;
}

/* Tick marks 1, 1.5, 2, 3, 4, 5, 6, 8 x 10^k within [lo, hi]: a log axis spanning less than a
 * decade or two gets readable labels. */
static void log_tics(FILE *f, double lo, double hi)
{
	static const double steps[] = {1, 1.5, 2, 3, 4, 5, 6, 8};
	fprintf(f, "set ytics (");
	int n = 0;
	for (double dec = pow(10, floor(log10(lo))); dec <= hi && n < 40; dec *= 10)
		for (int i = 0; i < 8; i++) {
			double v = steps[i] * dec;
			if (v >= lo && v <= hi)
				fprintf(f, "%s%g", n++ ? ", " : "", v);
		}
	fprintf(f, ")\n");
}

static void write_gp(FILE *f, const struct report *r, const struct report_stat *st, int n)
{
	double ppl0 = r->rows[0].m.eval.perplexity, lo, hi, klmax = 0, xmax = 0, pmin = 1e300;
	double p0 = (double)r->rows[0].m.params;
	for (int i = 0; i < n; i++) {
		klmax = fmax(klmax, st[i].kl + st[i].kl_sd);
		xmax = fmax(xmax, st[i].ratio);
		pmin = fmin(pmin, st[i].params);
	}
	ppl_range(&lo, &hi, r, st, n);
	fprintf(f, "set terminal pngcairo size 1500,520 background rgb 'white' noenhanced font 'sans,10'\n"
		   "set output 'plot.png'\nset multiplot layout 1,3 title ");
	char title[PATH_MAX * 2 + 64];
	snprintf(title, sizeof title, "yopo compare: %s on %s (dense perplexity %.3f)", r->s.model,
		 r->s.text, ppl0);
	gp_string(f, title);
	fprintf(f, " noenhanced\nset grid\nset key top left box opaque samplen 3\n"
		   "set xrange [-0.01:%g]\nset xlabel 'FFN ratio removed (solid: rows, dashed: weights)'\n",
		xmax * 1.05 + 0.01);
	fprintf(f, "set title 'perplexity against ratio'\nset ylabel 'perplexity (log scale)'\n"
		   "set logscale y\nset yrange [%g:%g]\n", lo, hi);
	log_tics(f, lo, hi);
	plot_series(f, st, n, "1:2:3", "yerrorlines");
	fprintf(f, "%.8g with lines lw 2 dt 3 lc rgb 'black' title 'dense (%.3f)'\n", ppl0, ppl0);
	fprintf(f, "unset logscale y\nset title 'mean KL(dense || pruned) against ratio'\n"
		   "set ylabel 'KL per token (nats)'\nset ytics auto\nset yrange [0:%g]\n",
		klmax > 0 ? klmax * 1.15 : 1);
	plot_series(f, st, n, "1:4:5", "yerrorlines");
	fprintf(f, "0 with lines lw 2 dt 3 lc rgb 'black' title 'dense (0)'\n");
	/* parameters in thousands, millions or billions: readable tick labels */
	double scale = p0 >= 1e9 ? 1e9 : p0 >= 1e6 ? 1e6 : 1e3;
	const char *unit = p0 >= 1e9 ? "billions" : p0 >= 1e6 ? "millions" : "thousands";
	char cols[64];
	snprintf(cols, sizeof cols, "($6/%g):2", scale);
	fprintf(f, "set title 'perplexity against parameters (nonzero)'\nset logscale y\n"
		   "set yrange [%g:%g]\nset xrange [%g:%g]\nset xlabel 'parameters (%s)'\n"
		   "set ylabel 'perplexity (log scale)'\nset format x '%%g'\nset key top right\n",
		lo, hi, (n ? pmin : p0) * 0.97 / scale, p0 * 1.02 / scale, unit);
	log_tics(f, lo, hi);
	plot_series(f, st, n, cols, "linespoints");
	fprintf(f, "'plot.dat' index 0 using %s with points pt 5 ps 2 lc rgb 'black' title 'dense'\n"
		   "unset multiplot\n", cols);
}

/* What plot.dat and plot.gp are written from. */
struct plot_ctx {
	const struct report *r;
	const struct report_stat *st;
	int n;
};

static int dat_fn(FILE *f, const void *ctx)
{
	const struct plot_ctx *c = ctx;
	write_dat(f, c->r, c->st, c->n);
	return REPORT_OK;
}

static int gp_fn(FILE *f, const void *ctx)
{
	const struct plot_ctx *c = ctx;
	write_gp(f, c->r, c->st, c->n);
	return REPORT_OK;
}

const char *const *report_plot_argv(void)
{
	static const char *const argv[] = {"gnuplot", "plot.gp", NULL};
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
	struct report_stat *st = malloc((size_t)r->n_rows * sizeof *st);
	int n = st ? report_stats(st, r) : -1, rc;
	if (n < 0) {
		rc = err_set(err, errlen, REPORT_ERR_NOMEM, "out of memory");
		goto out;
	}
	const struct plot_ctx c = {r, st, n};
	if ((rc = report_write_file(dir, "plot.dat", dat_fn, &c, err, errlen)) ||
	    (rc = report_write_file(dir, "plot.gp", gp_fn, &c, err, errlen)))
		goto out;
	if (run_gnuplot(dir))
		rc = err_set(err, errlen, REPORT_ERR_PLOT, "gnuplot failed or is not installed");
out:
	free(st);
	return rc;
}
