/* yopo prune: apply a pruning method to a checkpoint and write a smaller checkpoint that
 * Hugging Face tools load as they are. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "clock.h"
#include "select.h"

static const char *const cmd = "prune";

/* Defaults of every option. */
static const struct prune_cli {
	const char *model;       /* --model DIR (required) */
	double ratio;            /* --ratio R (required), in (0, 1) */
	const char *method;      /* --method NAME (required) */
	const char *policy;      /* --policy FILE: method policy */
	const char *calib;       /* --calib FILE: method wanda */
	long calib_windows;      /* --calib-windows N: 0 = the whole file */
	const char *base;        /* --base DIR: KEN resets unpicked weights to this model's values */
	const char *granularity; /* --granularity rows|weights */
	int global;              /* --global: allocate the budget across layers */
	long norm;               /* --norm 1|2: magnitude rows */
	unsigned long long seed; /* --seed S */
	const char *out;         /* --out DIR (required) */
	int force;               /* --force: replace a non-empty --out */
} defaults = {NULL, -1, NULL, NULL, NULL, 0, NULL, NULL, 0, 1, 0, NULL, 0};

/* KEN's --base must match the model layer for layer (prune_write checks this too, but only
 * after scoring). */
static int check_base(const struct model *m, const struct model *base, const char *dir)
{
	const struct config *a = &m->cfg, *b = &base->cfg;
	bool same = prune_check_base(m, base) == PRUNE_OK;
	if (!same)
		cli_error(cmd, "--base %s: %s, %d layers, hidden %d, ffn %d; the model is %s, %d layers, "
			  "hidden %d, ffn %d (they must match)", dir, b->model_type, b->n_layers, b->hidden,
			  b->ffn, a->model_type, a->n_layers, a->hidden, a->ffn);
	return same ? 0 : -1;
}

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo prune --model DIR --ratio R --method policy|random|magnitude|wanda|ken\n"
		"                  --out DIR [--policy FILE] [--calib FILE] [--calib-windows N] [--base DIR]\n"
		"                  [--granularity rows|weights] [--global] [--norm 1|2] [--seed S] [--force]\n"
		"Writes a pruned copy of a checkpoint: config.json with the FFN width updated,\n"
		"model.safetensors in the input's dtype, tokenizer files copied and yopo_pruning.json\n"
		"(method, ratio, kept indices, parameter counts). The output appears atomically.\n"
		"  --model DIR        input checkpoint (never modified)\n"
		"  --ratio R          fraction of FFN neurons (rows) or weights removed, in (0, 1)\n"
		"  --method M         policy: a trained policy (--policy FILE), calibration-free;\n"
		"                     random; magnitude (L1, or --norm 2, of the up and gate rows);\n"
		"                     wanda: |W|*||X|| with activation norms from --calib FILE;\n"
		"                     ken: kernel-density selection of each row's weights (weights only)\n"
		"  --granularity G    rows (default): remove whole neurons, a smaller standard checkpoint;\n"
		"                     weights: zero individual weights (saves no memory or time by itself)\n"
		"  --global           rows: compare scores across layers instead of removing the same\n"
		"                     count per layer; layers are zero-padded to the widest so the config\n"
		"                     stays standard (true sizes in yopo_pruning.json)\n"
		"  --calib-windows N  Wanda: calibration windows of max_position_embeddings tokens\n"
		"                     (default: the whole file)\n"
		"  --base DIR         KEN: reset unpicked weights to this model's values instead of 0\n"
		"  --seed S           seed of random selections (default 0)\n"
		"  --out DIR          output directory (refused if non-empty unless --force)\n"
		"  --force            replace a non-empty --out once the new one is complete\n"
		"  --help             this text\n");
}

int cmd_prune(int argc, char **argv)
{
	struct prune_cli o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"ratio", required_argument, NULL, 'r'},
		{"method", required_argument, NULL, 'M'},
		{"policy", required_argument, NULL, 'p'},
		{"calib", required_argument, NULL, 'c'},
		{"calib-windows", required_argument, NULL, 'w'},
		{"base", required_argument, NULL, 'b'},
		{"granularity", required_argument, NULL, 'g'},
		{"global", no_argument, NULL, 'G'},
		{"norm", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 'r':
			if (cli_parse_ratio(cmd, "--ratio", optarg, &o.ratio))
				return 2;
			break;
		case 'M': o.method = optarg; break;
		case 'p': o.policy = optarg; break;
		case 'c': o.calib = optarg; break;
		case 'w':
			if (cli_parse_long(cmd, "--calib-windows", optarg, 1, 1L << 30, &o.calib_windows))
				return 2;
			break;
		case 'b': o.base = optarg; break;
		case 'g': o.granularity = optarg; break;
		case 'G': o.global = 1; break;
		case 'n':
			if (cli_parse_long(cmd, "--norm", optarg, 1, 2, &o.norm))
				return 2;
			break;
		case 's':
			if (cli_parse_seed(cmd, "--seed", optarg, &o.seed))
				return 2;
			break;
		case 'o': o.out = optarg; break;
		case 'f': o.force = 1; break;
		case 'h': help(stdout); return 0;
		default: help(stderr); return 2;
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!o.model || o.ratio < 0 || !o.method || !o.out) {
		cli_error(cmd, "--model, --ratio, --method and --out are required (see --help)");
		return 2;
	}
	if (!select_method_known(o.method)) {
		cli_error(cmd, "--method: '%s' is not one of %s", o.method, select_methods());
		return 2;
	}
	enum prune_granularity g = !strcmp(o.method, "ken") ? PRUNE_GRANULARITY_WEIGHTS
							    : PRUNE_GRANULARITY_ROWS;
	if (o.granularity && !strcmp(o.granularity, "rows"))
		g = PRUNE_GRANULARITY_ROWS;
	else if (o.granularity && !strcmp(o.granularity, "weights"))
		g = PRUNE_GRANULARITY_WEIGHTS;
	else if (o.granularity) {
		cli_error(cmd, "--granularity: '%s' is not rows or weights", o.granularity);
		return 2;
	}
	if (o.global && g != PRUNE_GRANULARITY_ROWS) {
		cli_error(cmd, "--global applies to --granularity rows");
		return 2;
	}
	if (o.base && strcmp(o.method, "ken")) {
		cli_error(cmd, "--base is used by --method ken only");
		return 2;
	}
	struct select_opts so = {
		.method = o.method, .policy = o.policy, .calib = o.calib, .calib_windows = o.calib_windows,
		.norm_p = (int)o.norm, .granularity = g, .global = o.global, .seed = o.seed,
	};
	char err[ERR_MAX];
	if (select_check_usage(&so, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		return 2;
	}

	/* everything that can be checked cheaply is, before the first progress line: a failure is
	 * then one line and costs no scoring */
	int rc = 1;
	struct model *m = NULL, *base = NULL;
	struct tokenizer *tok = NULL;
	struct prune_plan *plan = NULL;
	struct select_cache cache = {0};
	if (cli_open_model(cmd, o.model, &m, &tok))
		goto out;
	if (prune_check_out(o.model, o.out, o.force, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	if (o.base && model_open(&base, o.base, err, sizeof err)) {
		cli_error(cmd, "--base: %s", err);
		goto out;
	}
	if (base && check_base(m, base, o.base))
		goto out;
	if (select_prepare(m, &so, &cache, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	double t0 = util_now();
	fprintf(stderr, "yopo prune: scoring %s with %s (%s, ratio %g)\n", o.model, o.method,
		prune_granularity_name(g), o.ratio);
	if (select_plan(&plan, m, o.model, tok, &so, o.ratio, &cache, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	struct prune_info info = {
		.method = o.method, .ratio = o.ratio, .granularity = g, .global = o.global, .seed = o.seed,
		.policy_sha256 = cache.ck ? cache.policy_sha256 : NULL,
		.calib_file = cache.norms ? o.calib : NULL, .calib_tokens = cache.calib_tokens,
		.base_dir = o.base,
	};
	fprintf(stderr, "yopo prune: writing %s\n", o.out);
	if (prune_write(m, o.model, plan, base, &info, o.out, o.force, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	struct prune_counts counts;
	if (prune_plan_count(&counts, plan, m) == 0) {
		char a[32], b[32], f1[32], f2[32];
		printf("wrote %s: %s method, %s, ratio %g\n", o.out, o.method, prune_granularity_name(g), o.ratio);
		printf("params %s -> %s (FFN %s -> %s)%s\n", cli_group(a, sizeof a, counts.params_before),
		       cli_group(b, sizeof b, counts.params_after), cli_group(f1, sizeof f1, counts.ffn_params_before),
		       cli_group(f2, sizeof f2, counts.ffn_params_after),
		       g == PRUNE_GRANULARITY_WEIGHTS ? " nonzero; zeroed weights save no memory or time by themselves" : "");
	}
	fprintf(stderr, "yopo prune: done in %.2f s\n", util_now() - t0);
	rc = 0;
out:
	select_cache_free(&cache);
	prune_plan_free(plan);
	tokenizer_free(tok);
	model_close(base);
	model_close(m);
	return rc;
}
