/* report: the compare run matrix written out — results.csv, results.json (util/json.h),
 * report.md and a gnuplot plot of perplexity against ratio.
 *
 * The plot: perplexity.dat and perplexity.gp are written into the report directory and gnuplot
 * runs there WITHOUT a shell (fork + execvp of ["gnuplot", "perplexity.gp"], working directory =
 * the report directory); the script names only relative files, so no path ever reaches a shell
 * or gnuplot's parser, and the script also works when run by hand from inside the directory. */
#ifndef YOPO_REPORT_H
#define YOPO_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "measure.h"
#include "prune.h"

enum report_error {
	REPORT_OK = 0,
	REPORT_ERR_IO = -1,     /* a report file cannot be written */
	REPORT_ERR_NOMEM = -2,
	REPORT_ERR_PLOT = -3,   /* gnuplot is missing or failed */
};

/* One row: the dense model (method "dense", ratio 0) or one (method, granularity, ratio) run. */
struct report_row {
	const char *method;
	enum prune_granularity g;
	double ratio;            /* 0: dense */
	struct measure m;        /* params/ffn_params count nonzero weights for the weights granularity */
	double prune_s, ks;
};

struct report {
	const char *model, *text;  /* as given on the command line */
	size_t n_ids;              /* evaluation tokens incl. BOS */
	long max_windows;          /* 0: every window */
	const struct report_row *rows; /* rows[0] is the dense model */
	int n_rows;
};

/* The three files' contents, to a stream. */
int report_write_csv(FILE *f, const struct report *r);
int report_write_json(FILE *f, const struct report *r);
int report_write_md(FILE *f, const struct report *r, bool plotted);

/* Writes perplexity.dat and perplexity.gp into dir and runs gnuplot there (see above), producing
 * dir/perplexity.svg. REPORT_ERR_PLOT when gnuplot is absent or fails. */
int report_plot(const char *dir, const struct report *r, char *err, size_t errlen);

/* The gnuplot command line report_plot runs (NULL-terminated, static). */
const char *const *report_plot_argv(void);

/* v with thousands separators ("1,234,567") into buf; returns buf. */
const char *report_group(char *buf, size_t cap, unsigned long long v);

/* results.csv, results.json and report.md into dir (each replaced atomically). */
int report_write_all(const char *dir, const struct report *r, bool plotted, char *err,
		     size_t errlen);

#endif
