/* yopo prune: apply a pruning method to a checkpoint and write a smaller checkpoint that
 * Hugging Face tools load as they are (pipeline/prunejob.h). */
#include <stdio.h>

#include "cli.h"
#include "clock.h"
#include "err.h"
#include "prunejob.h"
#include "report.h"
#include "scorer.h"

static void on_progress(void *ctx, const char *what)
{
	(void)ctx;
	fprintf(stderr, "yopo prune: %s\n", what);
}

static void print_counts(const struct prunejob_opts *o, const struct prune_counts *c)
{
	char a[32], b[32], f1[32], f2[32];
	bool weights = o->select.granularity == PRUNE_GRANULARITY_WEIGHTS;
	printf("wrote %s: %s method, %s, ratio %g\n", o->out, o->select.method,
	       prune_granularity_name(o->select.granularity), o->ratio);
	printf("params %s -> %s (FFN %s -> %s)%s\n", report_group(a, sizeof a, c->params_before),
	       report_group(b, sizeof b, c->params_after),
	       report_group(f1, sizeof f1, c->ffn_params_before),
	       report_group(f2, sizeof f2, c->ffn_params_after),
	       weights ? " nonzero; zeroed weights save no memory or time by themselves" : "");
}

int cmd_prune(int argc, char **argv)
{
	struct prunejob_opts o = {.ratio = -1, .select.norm_p = 1};
	const char *granularity = NULL;
	long norm = 1;
	int global = 0, force = 0;
	unsigned long long seed = 0;
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &o.model, 0, 0, "DIR",
		 "input checkpoint (never modified)", NULL, true},
		{"ratio", 0, OPT_RATIO, &o.ratio, 0, 0, "R",
		 "fraction of FFN neurons (rows) or weights removed, in (0, 1)", NULL, true},
		{"method", 0, OPT_CHOICE, &o.select.method, 0, 0, "M",
		 "policy: a trained policy (--policy FILE), calibration-free;\n"
		 "random; magnitude (L1, or --norm 2, of the up and gate rows);\n"
		 "wanda: |W|*||X|| with activation norms from --calib FILE;\n"
		 "ken: kernel-density selection of each row's weights (weights only)", scorer_names(), true},
		{"out", 0, OPT_STRING, &o.out, 0, 0, "DIR",
		 "output directory (refused if non-empty unless --force, or if it is,\n"
		 "contains or lies inside an input); OUT.lock beside it is held while running", NULL, true},
		{"policy", 0, OPT_STRING, &o.select.policy, 0, 0, "FILE",
		 "policy checkpoint (method policy)", NULL, false},
		{"calib", 0, OPT_STRING, &o.select.calib, 0, 0, "FILE",
		 "calibration text (method wanda)", NULL, false},
		{"calib-windows", 0, OPT_LONG, &o.select.calib_windows, 1, 1L << 30, "N",
		 "Wanda: calibration windows of max_position_embeddings tokens\n"
		 "(default: the whole file)", NULL, false},
		{"base", 0, OPT_STRING, &o.base, 0, 0, "DIR",
		 "KEN: reset unpicked weights to this model's values instead of 0", NULL, false},
		{"granularity", 0, OPT_CHOICE, &granularity, 0, 0, "G",
		 "rows (default): remove whole neurons, a smaller standard checkpoint;\n"
		 "weights: zero individual weights (saves no memory or time by itself)", "rows,weights", false},
		{"global", 0, OPT_FLAG, &global, 0, 0, NULL,
		 "rows: compare scores across layers instead of removing the same\n"
		 "count per layer (layers zero-padded to the widest)", NULL, false},
		{"norm", 0, OPT_LONG, &norm, 1, 2, "P",
		 "magnitude rows: 1 or 2 (default 1)", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S",
		 "seed of random selections (default 0)", NULL, false},
		{"force", 0, OPT_FLAG, &force, 0, 0, NULL,
		 "replace a non-empty --out once the new one is complete", NULL, false},
	};
	const struct opt_cmd c = {"prune",
		"Writes a pruned copy of a checkpoint: config.json with the FFN width updated,\n"
		"model.safetensors in the input's dtype, tokenizer files copied and yopo_pruning.json\n"
		"(method, ratio, kept indices, parameter counts). The output appears atomically.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	const struct scorer *s = scorer_find(o.select.method);
	o.select.granularity = granularity ? (granularity[0] == 'w' ? PRUNE_GRANULARITY_WEIGHTS
								    : PRUNE_GRANULARITY_ROWS)
					   : s->natural;
	o.select.global = global;
	o.select.norm_p = (int)norm;
	o.select.seed = seed;
	o.force = force;
	char err[ERR_MAX];
	struct prune_counts counts;
	double t0 = util_now();
	if ((rc = prunejob_run(&counts, &o, on_progress, NULL, err, sizeof err))) {
		cli_error("prune", "%s", err);
		return cli_exit(rc, PRUNEJOB_ERR_USAGE);
	}
	print_counts(&o, &counts);
	fprintf(stderr, "yopo prune: done in %.2f s\n", util_now() - t0);
	return 0;
}
