/* yopo compare: every method at every ratio against the dense model (pipeline/compare.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "compare.h"
#include "err.h"
#include "scorer.h"

/* Progress: elapsed time and an ETA from the items run so far in this process. */
struct progress {
	double t0;
	int first; /* done at the first call (items resumed from the report before it) */
};

static void progress_line(void *ctx, int done, int total, const char *what)
{
	struct progress *p = ctx;
	if (cli_quiet())
		return;
	double now = util_now();
	if (p->first < 0) {
		p->first = done;
		p->t0 = now;
	}
	char el[32], eta[32] = "?";
	util_format_duration(el, sizeof el, now - p->t0);
	if (done > p->first)
		util_format_duration(eta, sizeof eta,
				     (now - p->t0) / (done - p->first) * (total - done));
	fprintf(stderr, "yopo compare: [%d/%d] %s (elapsed %s, ETA %s)\n", done, total, what, el, eta);
}

/* Notes (skipped methods, resumed items, no plot) on stderr, the report's path on stdout. */
static void print_result(const struct compare_result *res, const char *out)
{
	for (const char *p = res->notes; *p;) {
		size_t n = strcspn(p, "\n");
		fprintf(stderr, "yopo compare: %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	if (res->reused)
		fprintf(stderr, "yopo compare: %d items taken from the resumed report\n", res->reused);
	if (!res->plotted)
		fprintf(stderr, "yopo compare: gnuplot failed or is not installed; no plot drawn\n");
	printf("report: %s/report.md\n", out);
}

/* The command line. yopo runs one command per process; the values live at file scope so that
 * the option table (in parse) and the run (in cmd_compare) both name them. */
static struct compare_opts o = {.sample_tokens = 24};
static struct opt_doubles ratios;
static struct opt_strings methods;
static int weights, force, resume, no_keep;
static struct opt_strings nm;
static long seeds = 3, probe_lanes;
static unsigned long long seed;

/* --nm's words as granularities: 2:4 and 4:8, each at most once. -1, or 2 after the error. */
static int nm_granularities(enum prune_granularity *g)
{
	for (int i = 0; i < nm.n; i++) {
		bool two = !strcmp(nm.v[i], "2:4"), four = !strcmp(nm.v[i], "4:8");
		if ((!two && !four) || i >= 2 || (i == 1 && g[0] == (two ? PRUNE_GRANULARITY_NM_2_4
									 : PRUNE_GRANULARITY_NM_4_8))) {
			cli_error("compare", "--nm: '%s' is not one of 2:4,4:8 (each once)", nm.v[i]);
			return 2;
		}
		g[i] = two ? PRUNE_GRANULARITY_NM_2_4 : PRUNE_GRANULARITY_NM_4_8;
	}
	return -1;
}

/* The option table into the values above: -1 to go on, else the exit code. */
static int parse(int argc, char **argv)
{
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &o.model, 0, 0, "DIR",
		 "Hugging Face checkpoint (never modified)", NULL, true},
		{"text", 0, OPT_STRING, &o.text, 0, 0, "FILE",
		 "evaluation text (perplexity)", NULL, true},
		{"out", 0, OPT_STRING, &o.out, 0, 0, "DIR", "report directory", NULL, true},
		{"ratios", 0, OPT_RATIOS, &ratios, 0, 0, "LIST",
		 "fractions of FFN rows/weights removed (default 0.1,0.2,0.3)", NULL, false},
		{"methods", 0, OPT_STRINGS, &methods, 0, 0, "LIST",
		 "methods to run (default: every registered one; those whose inputs\n"
		 "are not given, e.g. wanda without --calib, are skipped with a note)", NULL, false},
		{"policy", 0, OPT_STRING, &o.policy, 0, 0, "FILE",
		 "policy checkpoint (method policy; default: the shipped policy)", NULL, false},
		{"calib", 0, OPT_STRING, &o.calib, 0, 0, "FILE",
		 "calibration text (method wanda)", NULL, false},
		{"calib-windows", 0, OPT_LONG, &o.calib_windows, 1, 1L << 30, "N",
		 "Wanda calibration windows (default: the whole file)", NULL, false},
		{"calib-tokens", 0, OPT_LONG, &o.calib_tokens, 1, 1L << 40, "N",
		 "Wanda: the first N calibration tokens, BOS included (default: all)", NULL, false},
		{"max-windows", 0, OPT_LONG, &o.max_windows, 1, 1L << 40, "N",
		 "evaluation windows (default: all)", NULL, false},
		{"seq-len", 0, OPT_LONG, &o.seq_len, 2, 1 << 24, "N",
		 "evaluation window (default: max_position_embeddings)", NULL, false},
		{"sample-tokens", 0, OPT_LONG, &o.sample_tokens, 1, 200, "N",
		 "length of the greedy sample in the report (default 24)", NULL, false},
		{"weights", 0, OPT_FLAG, &weights, 0, 0, NULL,
		 "also run random, magnitude and wanda at weights granularity", NULL, false},
		{"nm", 0, OPT_STRINGS, &nm, 0, 0, "LIST",
		 "also run magnitude and wanda at these N:M granularities (2:4, 4:8;\n"
		 "once each: the pattern fixes the ratio at 1 - N/M)", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S",
		 "first seed of the random method and seed of the probe tokens (default 0)", NULL, false},
		{"seeds", 0, OPT_LONG, &seeds, 1, 100, "N",
		 "runs of each stochastic method (random): seeds S..S+N-1; report.md\n"
		 "shows mean +- sd (default 3)", NULL, false},
		{"probe-tokens", 0, OPT_LONG, &o.probe_tokens, 2, 1L << 24, "N",
		 "method probe: tokens sampled from the model itself (default 2048)", NULL, false},
		{"probe-lanes", 0, OPT_LONG, &probe_lanes, 1, 4096, "B",
		 "probe sequences sampled in lockstep, one forward per step (default 16)", NULL, false},
		{"force", 0, OPT_FLAG, &force, 0, 0, NULL,
		 "replace an existing non-empty --out (once the new report is complete)", NULL, false},
		{"resume", 0, OPT_FLAG, &resume, 0, 0, NULL,
		 "continue the report in --out (or the one a killed run left beside it),\n"
		 "skipping items already there; the settings must be the same", NULL, false},
		{"no-keep-models", 0, OPT_FLAG, &no_keep, 0, 0, NULL,
		 "delete each pruned checkpoint once measured (default: keep under\n"
		 "OUT/models/)", NULL, false},
	};
	const struct opt_cmd c = {"compare",
		"Prunes the model with every method at every ratio, evaluates each result and the dense\n"
		"model on the same windows (perplexity, KL(dense || pruned) per token, top-1\n"
		"agreement), and writes OUT/report.md (run metadata, a verdict per ratio, mean +- sd\n"
		"over seeds), results.csv, results.json (every run), plot.png (gnuplot) and the\n"
		"pruned checkpoints under OUT/models/. Results are saved after every item; the report\n"
		"is built beside OUT and renamed into place at the end. OUT.lock beside OUT stops a\n"
		"second compare into the same OUT. Methods run at their natural granularity: rows\n"
		"(structured) for policy, random, magnitude, wanda and probe; weights (unstructured)\n"
		"for ken. Zeroed weights save no memory or time by themselves.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	return cli_parse(&c, argc, argv);
}

int cmd_compare(int argc, char **argv)
{
	enum prune_granularity nm_g[2];
	int rc = parse(argc, argv);
	if (rc >= 0 || (rc = nm_granularities(nm_g)) >= 0)
		return rc;
	static const double default_ratios[] = {0.1, 0.2, 0.3};
	int n_all;
	const struct scorer *const *all = scorer_all(&n_all);
	o.skip_unavailable = methods.n == 0;
	if (!methods.n)
		for (int i = 0; i < n_all && i < OPT_LIST_MAX; i++)
			methods.v[methods.n++] = all[i]->name;
	o.ratios = ratios.n ? ratios.v : default_ratios;
	o.n_ratios = ratios.n ? ratios.n : 3;
	o.methods = methods.v;
	o.n_methods = methods.n;
	o.weights = weights;
	o.nm = nm_g;
	o.n_nm = nm.n;
	o.force = force;
	o.seed = seed;
	o.seeds = (int)seeds;
	o.probe_lanes = (int)probe_lanes;
	o.resume = resume;
	o.drop_models = no_keep;
	char err[ERR_MAX], cmdline[4096];
	opt_command_line(cmdline, sizeof cmdline, "yopo", argc, argv);
	o.command = cmdline;
	struct compare_result res;
	struct progress prog = {0, -1};
	if ((rc = compare_run(&res, &o, progress_line, &prog, err, sizeof err)))
		return cli_fail("compare", rc, COMPARE_ERR_USAGE, err);
	print_result(&res, o.out);
	compare_result_free(&res);
	return 0;
}
