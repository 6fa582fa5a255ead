/* report: the compare run matrix written out — results.csv, results.json (util/json.h),
 * report.md and a gnuplot plot — and read back (results.json) for compare --resume.
 *
 * Rows are single runs: the dense model, then one per (method, granularity, ratio, seed); a
 * seeded method (random) has one row per seed. report.md aggregates the seeds of a (method,
 * granularity, ratio) into mean ± standard deviation (sample sd, n − 1) and gives a verdict per
 * ratio; the CSV and JSON keep every row.
 *
 * Verdict at a ratio: among the rows-granularity methods other than random, the one with the
 * lowest mean KL(dense ‖ pruned) is the best structured method; its lead over the runner-up and
 * over random's mean counts as "better" only when it exceeds random's standard deviation over
 * seeds (the spread of an uninformed selection); with fewer than 2 random seeds no claim is made.
 *
 * The plot: plot.dat and plot.gp are written into the report directory and gnuplot runs there
 * WITHOUT a shell (fork + execvp of ["gnuplot", "plot.gp"], working directory = the report
 * directory), producing plot.png. The script names only relative files, quotes every user string
 * for gnuplot (single quotes doubled, control characters dropped, no enhanced text), so no path
 * reaches a shell or gnuplot's parser, and it also works when run by hand inside the directory. */
#ifndef YOPO_REPORT_H
#define YOPO_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "measure.h"
#include "prune.h"

enum report_error {
	REPORT_OK = 0,
	REPORT_ERR_IO = -1,     /* a report file cannot be written or read */
	REPORT_ERR_NOMEM = -2,
	REPORT_ERR_PLOT = -3,   /* gnuplot is missing or failed */
	REPORT_ERR_FORMAT = -4, /* results.json is not a yopo compare report */
	REPORT_ERR_MISMATCH = -5, /* results.json was made with other settings */
};

/* One row: the dense model (method "dense", ratio 0) or one (method, granularity, ratio, seed)
 * run. method points to a registered scorer name or "dense" (static strings). */
struct report_row {
	const char *method;
	enum prune_granularity g;
	double ratio;            /* 0: dense */
	bool seeded;             /* the method draws from seed (one row per seed) */
	uint64_t seed;
	struct measure m;        /* params/ffn_params count nonzero weights for the weights granularity;
				  * m.kl against the dense model (the dense row: KL 0, top-1 1) */
	double prune_s, ks;
};

/* The settings a report was made with: recorded at the top of report.md and in results.json, and
 * compared by --resume (every field but command, version and date). NULL strings: not used. */
struct report_settings {
	const char *command, *version, *date;
	const char *model, *text;
	long seq_len;                /* the window used */
	long max_windows;            /* 0: every window */
	uint64_t seed;               /* first seed; seeded methods run seed, seed+1, ... */
	int seeds;
	const char *policy, *policy_sha256;
	const char *calib;
	size_t calib_tokens;
	long calib_windows;
	long probe_tokens;           /* 0: no method used probes */
	uint64_t probe_seed;
};

struct report {
	struct report_settings s;
	size_t n_ids;                  /* evaluation tokens incl. BOS */
	const struct report_row *rows; /* rows[0] is the dense model */
	int n_rows;
	const char *notes;             /* lines printed under the metadata (skipped methods), or NULL */
};

/* The seeds of one (method, granularity, ratio) aggregated. */
struct report_stat {
	const char *method;
	enum prune_granularity g;
	double ratio;
	int n, first;                  /* runs, index of the first one in rows */
	double ppl, ppl_sd, kl, kl_sd, top1, top1_sd, params;
};

/* Aggregates the pruned rows of r by (method, granularity, ratio) in order of first appearance
 * into out (room for r->n_rows); returns the count. */
int report_stats(struct report_stat *out, const struct report *r);

/* The three files' contents, to a stream. */
int report_write_csv(FILE *f, const struct report *r);
int report_write_json(FILE *f, const struct report *r);
int report_write_md(FILE *f, const struct report *r, bool plotted);

/* Writes plot.dat and plot.gp into dir and runs gnuplot there (see above), producing
 * dir/plot.png. REPORT_ERR_PLOT when gnuplot is absent or fails. */
int report_plot(const char *dir, const struct report *r, char *err, size_t errlen);

/* The gnuplot command line report_plot runs (NULL-terminated, static). */
const char *const *report_plot_argv(void);

/* v with thousands separators ("1,234,567") into buf; returns buf. */
const char *report_group(char *buf, size_t cap, unsigned long long v);

/* dir/name from what fn prints (given ctx) into memory, then replaced atomically; fn returns
 * REPORT_OK or an error code, reported as "path: cannot write". Shared by report_write_all and
 * report_plot. */
int report_write_file(const char *dir, const char *name, int (*fn)(FILE *, const void *),
		      const void *ctx, char *err, size_t errlen);

/* results.csv, results.json and report.md into dir (each replaced atomically). */
int report_write_all(const char *dir, const struct report *r, bool plotted, char *err,
		     size_t errlen);

/* Reads dir/results.json for --resume: REPORT_ERR_IO when it is absent or unreadable,
 * REPORT_ERR_FORMAT when it is not a compare report (or names an unknown method),
 * REPORT_ERR_MISMATCH (reason naming the setting) when its settings differ from want's. Else
 * *rows (caller frees) receives its *n rows, methods mapped to registered names, and
 * *calib_tokens (may be NULL) the calibration tokens it records. */
int report_read_rows(struct report_row **rows, int *n, size_t *calib_tokens, const char *dir,
		     const struct report_settings *want, char *err, size_t errlen);

#endif
