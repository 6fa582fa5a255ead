/* demo: yopo's main job end to end on one checkpoint, as library calls — train a short policy
 * (trainjob.h), prune with it and with every baseline at every ratio and evaluate everything
 * (compare.h). Without a model it first writes a small synthetic checkpoint (model/synth.h),
 * whose numbers only show that the pipeline works. */
#ifndef YOPO_DEMO_H
#define YOPO_DEMO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "compare.h"
#include "trainjob.h"

enum demo_error {
	DEMO_OK = 0,
	DEMO_ERR_WORK = -1,    /* the work directory, synthetic model or sample text failed */
	DEMO_ERR_TRAIN = -2,   /* the training step failed */
	DEMO_ERR_COMPARE = -3, /* the compare step failed */
	DEMO_ERR_INPUT = -4,   /* --model, --text, --calib or --ratios unusable (checked first) */
};

struct demo_opts {
	const char *model;   /* NULL: synthetic */
	const char *text;    /* NULL: a built-in story */
	const char *calib;   /* NULL: the evaluation text */
	const char *work;    /* NULL: a new directory under $TMPDIR (or /tmp) */
	long max_windows, episodes;
	const double *ratios;
	int n_ratios;
};

/* Where everything goes. */
struct demo_paths {
	char work[PATH_MAX], model[PATH_MAX], text[PATH_MAX], policy[PATH_MAX], report[PATH_MAX];
	const char *calib;
	bool synthetic;
};

enum demo_step { DEMO_STEP_START, DEMO_STEP_TRAIN, DEMO_STEP_COMPARE, DEMO_STEP_DONE };

/* Narration and progress; any member may be NULL. The step hook runs before each step. */
struct demo_hooks {
	void (*step)(void *ctx, enum demo_step step, const struct demo_paths *p,
		     const struct demo_opts *o);
	trainjob_progress_fn *train;
	compare_progress_fn *compare;
	void *ctx;
};

/* Runs the demo. Before anything is written or trained: --text and --calib are read and
 * checked, --model is opened and every ratio (and the training ratio 0.3) checked against its
 * sizes (prune_check_ratio, rows and weights), and an existing --work is checked against the
 * inputs (no overlap, guard.h) and locked for the run. The synthetic model's ratios are checked
 * right after it is written, still before training. The status of a failed step is returned
 * with its reason ("training: ...", "comparing: ..."); a failure removes what the demo wrote:
 * the whole work directory when the demo created it, else only the entries it added
 * (synthetic-llama, sample.txt, policy.safetensors, report) to the existing --work. */
int demo_run(const struct demo_opts *o, const struct demo_hooks *h, char *err, size_t errlen);

#endif
