/* yopo demo: the main job end to end on one checkpoint (pipeline/demo.h) — train a short policy,
 * prune with it and with the baselines, compare, print where the report is. */
#include <stdio.h>

#include "cli.h"
#include "demo.h"
#include "err.h"

static void compare_progress(void *ctx, int done, int total, const char *what)
{
	(void)ctx;
	if (cli_quiet())
		return;
	fprintf(stderr, "yopo compare: %d/%d %s\n", done, total, what);
}

static void ratios_text(char *buf, size_t cap, const struct demo_opts *o)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < o->n_ratios && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%g", i ? "," : "", o->ratios[i]);
}

static void on_step(void *ctx, enum demo_step step, const struct demo_paths *p,
		    const struct demo_opts *o)
{
	(void)ctx;
	char ratios[256];
	if (step == DEMO_STEP_START && !p->synthetic)
		printf("== yopo demo on %s\n", p->model);
	else if (step == DEMO_STEP_START)
		printf("== yopo demo: no --model given, so this run uses a SYNTHETIC checkpoint with random\n"
		       "   weights written to %s.\n"
		       "   Its perplexity and samples are NOT meaningful; they only show the pipeline works.\n"
		       "   Run `yopo demo --model DIR` with a real Hugging Face checkpoint for real numbers.\n",
		       p->model);
	else if (step == DEMO_STEP_TRAIN)
		printf("\n== step 1/2: train a pruning policy on the weights (ratio 0.3, %ld episodes, "
		       "policy %s)\n", o->episodes, p->policy);
	else if (step == DEMO_STEP_COMPARE) {
		ratios_text(ratios, sizeof ratios, o);
		printf("\n== step 2/2: prune with the policy and the baselines, evaluate everything (text %s, "
		       "calibration %s, ratios %s, %ld windows, report %s)\n", p->text,
		       p->calib ? p->calib : "none: wanda skipped, give --calib FILE", ratios,
		       o->max_windows, p->report);
	} else
		printf("\n== demo done: the report is %s/report.md (with results.csv, results.json, "
		       "plot.png)%s\n", p->report,
		       p->synthetic ? "\n   (synthetic model: the numbers in it are not meaningful)" : "");
	fflush(stdout);
}

int cmd_demo(int argc, char **argv)
{
	struct demo_opts o = {.max_windows = 16, .episodes = 20};
	struct opt_doubles ratios = {.n = 0};
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &o.model, 0, 0, "DIR",
		 "Hugging Face checkpoint directory", NULL, false},
		{"text", 0, OPT_STRING, &o.text, 0, 0, "FILE",
		 "evaluation text (default: a short built-in story)", NULL, false},
		{"calib", 0, OPT_STRING, &o.calib, 0, 0, "FILE",
		 "calibration text for Wanda, never the evaluation text (default:\n"
		 "demo/tinystories-calib.txt for the embedded demo/stories260k, a\n"
		 "built-in text for the synthetic model; otherwise Wanda is skipped)", NULL, false},
		{"work", 0, OPT_STRING, &o.work, 0, 0, "DIR",
		 "directory for everything written (default: a new temporary one); on\n"
		 "failure what demo wrote there is removed (all of it if demo created it)", NULL, false},
		{"episodes", 0, OPT_LONG, &o.episodes, 0, 100000, "N",
		 "policy training episodes (default 20)", NULL, false},
		{"ratios", 0, OPT_RATIOS, &ratios, 0, 0, "LIST",
		 "pruning ratios (default 0.1,0.2,0.3)", NULL, false},
		{"max-windows", 0, OPT_LONG, &o.max_windows, 1, 1L << 40, "N",
		 "evaluation windows (default 16)", NULL, false},
	};
	const struct opt_cmd c = {"demo",
		"Runs yopo's main job on one checkpoint: trains a pruning policy on its weights\n"
		"(yopo train), prunes with it and with the baselines at every ratio, evaluates every\n"
		"result (yopo compare) and prints where the report is. Without --model a small\n"
		"SYNTHETIC random-weight checkpoint is generated first, so the demo runs on a machine\n"
		"with no model at hand; its numbers are not meaningful.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	static const double default_ratios[] = {0.1, 0.2, 0.3};
	o.ratios = ratios.n ? ratios.v : default_ratios;
	o.n_ratios = ratios.n ? ratios.n : 3;
	struct demo_hooks h = {on_step, cli_train_progress, compare_progress, NULL};
	char err[ERR_MAX];
	return demo_run(&o, &h, err, sizeof err) ? cli_fail("demo", 1, 0, err) : 0;
}
