/* yopo prune: apply a pruning method to a checkpoint and write a smaller checkpoint that
 * Hugging Face tools load as they are (pipeline/prunejob.h). */
#include <stdio.h>

#include "cli.h"
#include "clock.h"
#include "err.h"
#include "probe.h"
#include "prune.h"
#include "scorer.h"
#include "summary.h"

static void on_progress(void *ctx, const char *what)
{
	(void)ctx;
	if (!cli_quiet())
		fprintf(stderr, "yopo prune: %s\n", what);
}

/* Wanda calibration: a line per 10 % with the elapsed time and an ETA from the rate since the
 * first window (model loading and tokenizing come before it). */
struct calib_clock {
	double t0, t1;
	size_t last;
};

static void on_calib(void *ctx, size_t done, size_t total)
{
	struct calib_clock *k = ctx;
	double now = util_now();
	if (done == 1)
		k->t1 = now;
	if (cli_quiet() || (done != total && done * 10 / total == k->last))
		return;
	k->last = done * 10 / total;
	double eta = done > 1 ? (now - k->t1) / (double)(done - 1) * (double)(total - done) : 0.0;
	fprintf(stderr, "yopo prune: calibration layer %zu/%zu, %.1f s elapsed, ETA %.1f s\n", done,
		total, now - k->t0, eta);
}

/* Tensor writes (each layer scored as the writer reaches it: minutes on a 7B model): a line at
 * most every CLI_LINE_SECONDS with the bytes done and an ETA from the rate since the first. */
struct write_clock {
	double t0, last;
};

static void on_write(void *ctx, size_t done, size_t total)
{
	struct write_clock *k = ctx;
	double now = util_now();
	if (k->t0 == 0)
		k->t0 = k->last = now;
	if (cli_quiet() || done == total || now - k->last < CLI_LINE_SECONDS)
		return;
	k->last = now;
	double el = now - k->t0;
	fprintf(stderr, "yopo prune: written %.2f of %.2f GB (%.0f %%), %.0f s, ETA %.0f s\n",
		(double)done / 1e9, (double)total / 1e9, 100.0 * (double)done / (double)total, el,
		el / (double)done * (double)(total - done));
}

/* The command line. yopo runs one command per process; the values live at file scope so that
 * the option table (in parse) and the run (in cmd_prune) both name them. */
static struct prunejob_opts o = {.ratio = -1, .select.norm_p = 1, .select.method = "policy"};
static const char *granularity;
static long norm = 1, probe_lanes;
static int global, force, json;
static long target;
static double sparsity = -1;
static unsigned long long seed;

/* The option table into the values above: -1 to go on, else the exit code. */
static int parse(int argc, char **argv)
{
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &o.model, 0, 0, "DIR",
		 "input checkpoint (never modified)", NULL, true},
		{"ratio", 0, OPT_RATIO, &o.ratio, 0, 0, "R",
		 "fraction of FFN neurons (rows) or weights removed, in (0, 1);\n"
		 "or give --target-params / --sparsity instead", NULL, false},
		{"target-params", 0, OPT_LONG, &target, 1, 1e15, "N",
		 "rows: the largest uniform ratio leaving at most N parameters in\n"
		 "all (embeddings and attention included)", NULL, false},
		{"sparsity", 0, OPT_RATIO, &sparsity, 0, 0, "S",
		 "rows: remove at least this share of ALL parameters, in (0, 1)\n"
		 "(the FFN ratio is computed from the model's shapes)", NULL, false},
		{"method", 0, OPT_CHOICE, &o.select.method, 0, 0, "M",
		 "policy (default): a trained policy (--policy FILE, default: the shipped\n"
		 "policy), no user data;\n"
		 "random; magnitude (L1, or --norm 2, of the up and gate rows);\n"
		 "wanda: |W|*||X|| with activation norms from --calib FILE;\n"
		 "ken: kernel-density selection of each row's weights (weights only)", scorer_names(), false},
		{"out", 0, OPT_STRING, &o.out, 0, 0, "DIR",
		 "output directory (refused if non-empty unless --force, or if it is,\n"
		 "contains or lies inside an input); OUT.lock beside it is held while running", NULL, true},
		{"policy", 0, OPT_STRING, &o.select.policy, 0, 0, "FILE",
		 "policy checkpoint (method policy; default: policies/default.safetensors,\n"
		 "trained by yopo on the shared models)", NULL, false},
		{"calib", 0, OPT_STRING, &o.select.calib, 0, 0, "FILE",
		 "calibration text (method wanda)", NULL, false},
		{"calib-windows", 0, OPT_LONG, &o.select.calib_windows, 1, 1L << 30, "N",
		 "Wanda: calibration windows of max_position_embeddings tokens\n"
		 "(default: the whole file)", NULL, false},
		{"calib-tokens", 0, OPT_LONG, &o.select.calib_tokens, 1, 1L << 40, "N",
		 "Wanda: the first N calibration tokens, BOS included (default: all);\n"
		 "calibration streams one layer at a time, holding N x hidden activations", NULL, false},
		{"base", 0, OPT_STRING, &o.base, 0, 0, "DIR",
		 "KEN: reset unpicked weights to this model's values instead of 0", NULL, false},
		{"granularity", 0, OPT_CHOICE, &granularity, 0, 0, "G",
		 "rows (default): remove whole neurons, a smaller standard checkpoint;\n"
		 "weights: zero individual weights (saves no memory or time by itself);\n"
		 "2:4, 4:8: N:M semi-structured (magnitude, wanda): in every group of\n"
		 "M consecutive weights of a row keep the N best (ratio 1 - N/M;\n"
		 "a last group of r < M keeps ceil(r N / M)); shapes unchanged",
		 "rows,weights,2:4,4:8", false},
		{"global", 0, OPT_FLAG, &global, 0, 0, NULL,
		 "rows: compare scores across layers instead of removing the same\n"
		 "count per layer (layers zero-padded to the widest)", NULL, false},
		{"norm", 0, OPT_LONG, &norm, 1, 2, "P",
		 "magnitude rows: 1 or 2 (default 1)", NULL, false},
		{"probe-tokens", 0, OPT_LONG, &o.select.probe_tokens, 2, 1L << 24, "N",
		 "method probe: tokens sampled from the model itself (default 2048)", NULL, false},
		{"probe-lanes", 0, OPT_LONG, &probe_lanes, 1, 4096, "B",
		 "probe sequences sampled in lockstep, one forward per step (default 16)", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S",
		 "seed of random selections and of probe sampling (default 0)", NULL, false},
		{"force", 0, OPT_FLAG, &force, 0, 0, NULL,
		 "replace a non-empty --out once the new one is complete", NULL, false},
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL,
		 "print the summary as one JSON object on stdout", NULL, false},
	};
	const struct opt_cmd c = {"prune",
		"Writes a pruned copy of a checkpoint: config.json with the FFN width updated,\n"
		"model.safetensors in the input's dtype, tokenizer files copied and yopo_pruning.json\n"
		"(source model, method, ratio, kept indices, parameter counts). The output appears\n"
		"atomically. The size is --ratio R (FFN neurons or weights), --target-params N or\n"
		"--sparsity S (all parameters), or implied by an N:M --granularity.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	return cli_parse(&c, argc, argv);
}

int cmd_prune(int argc, char **argv)
{
	int rc = parse(argc, argv);
	if (rc >= 0)
		return rc;
	o.select.granularity = prunejob_granularity(granularity, o.select.method);
	o.select.global = global;
	o.select.norm_p = (int)norm;
	o.select.probe_lanes = (int)probe_lanes;
	o.select.seed = seed;
	o.force = force;
	struct calib_clock clock = {util_now(), 0, 0};
	o.select.calib_progress = on_calib;
	o.select.calib_ctx = &clock;
	struct write_clock wclock = {0, 0};
	prune_set_write_progress(on_write, &wclock);
	probe_set_progress(cli_probe_progress, "prune");
	char err[ERR_MAX];
	bool sized = o.ratio < 0 && (target > 0 || sparsity >= 0);
	if ((rc = prunejob_resolve_ratio(&o, target, sparsity, err, sizeof err)))
		return cli_fail("prune", rc, PRUNEJOB_ERR_USAGE, err);
	if (sized && !cli_quiet())
		fprintf(stderr, "yopo prune: the size target gives ratio %.6g\n", o.ratio);
	struct prune_counts counts;
	double t0 = util_now();
	if ((rc = prunejob_run(&counts, &o, on_progress, NULL, err, sizeof err)))
		return cli_fail("prune", rc, PRUNEJOB_ERR_USAGE, err);
	if (json)
		return cli_json("prune", summary_prune_json(&o, &counts, util_now() - t0));
	summary_prune_text(stdout, &o, &counts);
	if (!cli_quiet())
		fprintf(stderr, "yopo prune: done in %.2f s\n", util_now() - t0);
	return 0;
}
