/* compare: every method at every ratio against the dense model on one evaluation text — the run
 * matrix behind yopo compare. Each item prunes the model (select.h), writes the pruned checkpoint
 * under OUT/models/<method>-<granularity>-<ratio>[-s<seed>], measures it against the dense model
 * (measure.h: perplexity, KL and top-1 agreement on the same windows) and the mean KS of its
 * plan; results.csv/json and report.md (report.h) are rewritten atomically after every item and
 * the plot is drawn at the end. A seeded method (random) runs once per seed: seed, seed+1, ...
 *
 * Methods run at their scorer's natural granularity (rows for policy, random, magnitude, wanda,
 * probe; weights for ken); with `weights`, every other method with a weights form runs at weights
 * too; every granularity of `nm` (2:4, 4:8) runs once with each method that has an N:M form.
 * With skip_unavailable (the default method list), a method whose inputs are not given
 * (select_check_usage fails) is skipped with a note instead of failing the run.
 *
 * Output safety (util/output.h, util/path.h): OUT and OUT.lock may not be, contain or lie inside
 * an input (model, text, calibration, policy); an exclusive lock on OUT.lock is held for the
 * run, so a second compare into the same OUT fails at once; stale temporary siblings of dead runs
 * are removed at the start. A fresh run builds the report in the temporary sibling
 * OUT.tmp-PID-XXXXXX and renames it into place at the end (an existing OUT needs force and is
 * replaced only then). With resume, an existing OUT is continued in place (its results.json
 * made with the same settings, else a clear error; items already there are skipped), or — when
 * OUT does not exist — the newest temporary sibling left by a dead run (Ctrl-C, failure) is
 * adopted and continued. A run that fails after its first item keeps its temporary sibling for
 * --resume and says so. Everything that can fail cheaply (arguments, files, the model) fails
 * before anything is created. */
#ifndef YOPO_COMPARE_H
#define YOPO_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

enum compare_error {
	COMPARE_OK = 0,
	COMPARE_ERR_USAGE = -1, /* bad method list, missing --policy / --calib, nothing left to run */
	COMPARE_ERR_INPUT = -2, /* model, text, policy or calibration file unusable */
	COMPARE_ERR_OUT = -3,   /* OUT exists (without force/resume), overlaps an input, cannot be
				 * written, or its report was made with other settings (resume) */
	COMPARE_ERR_RUN = -4,   /* pruning or measuring a run failed */
	COMPARE_ERR_NOMEM = -5,
	COMPARE_ERR_LOCKED = -6, /* another run holds OUT.lock */
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
	const enum prune_granularity *nm; /* N:M granularities run by every method with that form
					   * (magnitude, wanda), once each: their ratio is 1 - N/M */
	int n_nm;
	int seeds;                   /* runs of a seeded method; 0: 1 */
	long probe_tokens;           /* method probe; 0: SELECT_PROBE_TOKENS */
	int probe_lanes;             /* probe sequences in lockstep; 0: PROBE_DEFAULT_LANES */
	bool resume, drop_models, skip_unavailable;
	const char *command;         /* command line recorded in the report; NULL: none */
};

/* Called before each run (done of total) with what it is, and before the report is written. */
typedef void compare_progress_fn(void *ctx, int done, int total, const char *what);

struct compare_result {
	struct report_row *rows;  /* rows[0] dense, then runs in order */
	int n_rows;
	size_t n_ids;             /* evaluation tokens incl. BOS */
	bool plotted;             /* gnuplot drew OUT/plot.png */
	int reused;               /* items taken from the report being resumed */
	char notes[1024];         /* skipped methods, one line each ("" if none) */
};

/* Runs the matrix and writes the report. On success *res is the caller's (compare_result_free).
 * progress may be NULL. */
int compare_run(struct compare_result *res, const struct compare_opts *o,
		compare_progress_fn *progress, void *ctx, char *err, size_t errlen);

void compare_result_free(struct compare_result *res);

#endif
