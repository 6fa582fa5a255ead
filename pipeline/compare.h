/* compare: every method at every ratio against the dense model on one evaluation text — the run
 * matrix behind yopo compare. Each run prunes the model (select.h), writes the pruned checkpoint
 * under OUT/models/<method>-<granularity>-<ratio>, measures it (measure.h) and the mean KS of its
 * plan; then the report (report.h) is written into OUT.
 *
 * Methods run at their scorer's natural granularity (rows for policy, random, magnitude, wanda;
 * weights for ken); with `weights`, every other method with a weights form runs at weights too.
 * Everything that can fail cheaply (arguments, files, the model) fails before OUT is created; a
 * run that fails after creating OUT removes it (a directory it did not create keeps its content). */
#ifndef YOPO_COMPARE_H
#define YOPO_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

enum compare_error {
	COMPARE_OK = 0,
	COMPARE_ERR_USAGE = -1, /* bad method list, missing --policy / --calib, --seq-len too long */
	COMPARE_ERR_INPUT = -2, /* model, text, policy or calibration file unusable */
	COMPARE_ERR_OUT = -3,   /* OUT holds a report (without force) or cannot be written */
	COMPARE_ERR_RUN = -4,   /* pruning or measuring a run failed */
	COMPARE_ERR_NOMEM = -5,
};

#define COMPARE_LIST_MAX 16

struct compare_opts {
	const char *model, *text, *out;
	const char *const *methods;  /* registered scorer names */
	int n_methods;
	const double *ratios;
	int n_ratios;
	const char *policy, *calib;
	long calib_windows, max_windows, seq_len, sample_tokens; /* 0: all / all / context / none */
	long calib_tokens;        /* Wanda: first N calibration tokens; 0: all */
	bool weights, force;
	uint64_t seed;
};

/* Called before each run (done of total) with what it is, and before the report is written. */
typedef void compare_progress_fn(void *ctx, int done, int total, const char *what);

struct compare_result {
	struct report_row *rows;  /* rows[0] dense, then runs in order */
	int n_rows;
	size_t n_ids;             /* evaluation tokens incl. BOS */
	bool plotted;             /* gnuplot drew OUT/perplexity.svg */
};

/* Runs the matrix and writes the report. On success *res is the caller's (compare_result_free).
 * progress may be NULL. */
int compare_run(struct compare_result *res, const struct compare_opts *o,
		compare_progress_fn *progress, void *ctx, char *err, size_t errlen);

void compare_result_free(struct compare_result *res);

#endif
