/* yopo compare: every method at every ratio against the dense model (pipeline/compare.h). */
#include <stdio.h>

#include "cli.h"
#include "compare.h"
#include "err.h"
#include "scorer.h"

static void progress_bar(void *ctx, int done, int total, const char *what)
{
	(void)ctx;
	int w = 30, fill = total ? done * w / total : w;
	fprintf(stderr, "yopo compare: [");
	for (int i = 0; i < w; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %d/%d %s\n", done, total, what);
}

int cmd_compare(int argc, char **argv)
{
	struct compare_opts o = {.sample_tokens = 24};
	struct opt_doubles ratios = {.n = 0};
	struct opt_strings methods = {.n = 0};
	int weights = 0, force = 0;
	unsigned long long seed = 0;
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &o.model, 0, 0, "DIR",
		 "Hugging Face checkpoint (never modified)", NULL, true},
		{"text", 0, OPT_STRING, &o.text, 0, 0, "FILE",
		 "evaluation text (perplexity)", NULL, true},
		{"out", 0, OPT_STRING, &o.out, 0, 0, "DIR", "report directory", NULL, true},
		{"ratios", 0, OPT_RATIOS, &ratios, 0, 0, "LIST",
		 "fractions of FFN rows/weights removed (default 0.1,0.2,0.3)", NULL, false},
		{"methods", 0, OPT_STRINGS, &methods, 0, 0, "LIST",
		 "methods to run (default: every registered one)", NULL, false},
		{"policy", 0, OPT_STRING, &o.policy, 0, 0, "FILE",
		 "policy checkpoint (method policy; default: the shipped policy)", NULL, false},
		{"calib", 0, OPT_STRING, &o.calib, 0, 0, "FILE",
		 "calibration text (method wanda)", NULL, false},
		{"calib-windows", 0, OPT_LONG, &o.calib_windows, 1, 1L << 30, "N",
		 "Wanda calibration windows (default: the whole file)", NULL, false},
		{"max-windows", 0, OPT_LONG, &o.max_windows, 1, 1L << 40, "N",
		 "evaluation windows (default: all)", NULL, false},
		{"seq-len", 0, OPT_LONG, &o.seq_len, 2, 1 << 24, "N",
		 "evaluation window (default: max_position_embeddings)", NULL, false},
		{"sample-tokens", 0, OPT_LONG, &o.sample_tokens, 1, 200, "N",
		 "length of the greedy sample in the report (default 24)", NULL, false},
		{"weights", 0, OPT_FLAG, &weights, 0, 0, NULL,
		 "also run random, magnitude and wanda at weights granularity", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S",
		 "seed of the random method (default 0)", NULL, false},
		{"force", 0, OPT_FLAG, &force, 0, 0, NULL,
		 "write into a non-empty REPORT_DIR (replacing what yopo wrote there)", NULL, false},
	};
	const struct opt_cmd c = {"compare",
		"Prunes the model with every method at every ratio, evaluates each result and the dense\n"
		"model on the same text, and writes OUT/report.md, results.csv, results.json,\n"
		"perplexity.svg (gnuplot) and the pruned checkpoints under OUT/models/.\n"
		"Methods run at their natural granularity: rows (structured) for policy, random,\n"
		"magnitude and wanda; weights (unstructured) for ken. Zeroed weights save no memory or\n"
		"time by themselves.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	static const double default_ratios[] = {0.1, 0.2, 0.3};
	int n_all;
	const struct scorer *const *all = scorer_all(&n_all);
	if (!methods.n)
		for (int i = 0; i < n_all && i < OPT_LIST_MAX; i++)
			methods.v[methods.n++] = all[i]->name;
	o.ratios = ratios.n ? ratios.v : default_ratios;
	o.n_ratios = ratios.n ? ratios.n : 3;
	o.methods = methods.v;
	o.n_methods = methods.n;
	o.weights = weights;
	o.force = force;
	o.seed = seed;
	char err[ERR_MAX];
	struct compare_result res;
	if ((rc = compare_run(&res, &o, progress_bar, NULL, err, sizeof err))) {
		cli_error("compare", "%s", err);
		return cli_exit(rc, COMPARE_ERR_USAGE);
	}
	if (!res.plotted)
		fprintf(stderr, "yopo compare: gnuplot failed or is not installed; no plot drawn\n");
	printf("report: %s/report.md\n", o.out);
	compare_result_free(&res);
	return 0;
}
