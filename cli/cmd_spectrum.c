/* yopo spectrum: the environment's verdict on a row selection method, without any text: per
 * layer and mean KS distance between original and kept singular values. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "env.h"
#include "pcg32.h"
#include "sampling.h"
#include "topk.h"
#include "select.h"

static const char *const cmd = "spectrum";

/* Defaults of every option. */
static const struct spectrum_opts {
	const char *model;        /* --model DIR (required) */
	double ratio;             /* --ratio R (required) */
	const char *method;       /* --method policy|random|magnitude|wanda */
	const char *policy;       /* --policy FILE (method policy) */
	const char *calib;        /* --calib FILE (method wanda) */
	long norm;                /* --norm 1|2 (method magnitude) */
	long samples;             /* --samples N: random draws (or policy draws with --sample) */
	int sample;               /* --sample: draw from the policy instead of its top-k */
	unsigned long long seed;  /* --seed S */
	int json;                 /* --json */
	const char *route;        /* --route gram|svd */
} defaults = {NULL, -1, "policy", NULL, NULL, 1, 32, 0, 0, 0, "svd"};

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo spectrum --model DIR --ratio R --method policy|random|magnitude|wanda\n"
		"                     [--policy FILE] [--calib FILE] [--norm 1|2] [--samples N] [--sample]\n"
		"                     [--seed S] [--route svd|gram] [--json]\n"
		"Scores a row-selection method with the training environment: for every layer, the\n"
		"two-sample KS distance between the singular values of the FFN up-projection and of\n"
		"its kept rows (k = ffn - round(R * ffn)); lower is better. No text is needed.\n"
		"  --model DIR     Hugging Face checkpoint\n"
		"  --ratio R       fraction of rows removed, in (0, 1)\n"
		"  --method M      policy: top-k of a trained policy (--policy FILE); random: uniform;\n"
		"                  magnitude: top-k rows by L1 (--norm 2: L2) of up and gate;\n"
		"                  wanda: top-k rows by sum |W|*||X|| (needs --calib FILE)\n"
		"  --policy FILE   policy checkpoint from yopo train\n"
		"  --calib FILE    calibration text (method wanda)\n"
		"  --norm P        1 or 2 (method magnitude, default 1)\n"
		"  --samples N     random selections per layer (default 32); with --sample, policy draws\n"
		"  --sample        draw selections from the policy (Plackett-Luce) instead of its top-k\n"
		"  --seed S        seed (default 0)\n"
		"  --route R       svd (default): kept singular values by SVD; gram: by the downdated Gram\n"
		"  --json          one JSON object: method, ratio, samples, mean_ks, layers[{layer, ks, std}]\n"
		"  --help          this text\n");
}

int cmd_spectrum(int argc, char **argv)
{
	struct spectrum_opts o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"ratio", required_argument, NULL, 'r'},
		{"method", required_argument, NULL, 'M'},
		{"policy", required_argument, NULL, 'p'},
		{"calib", required_argument, NULL, 'c'},
		{"norm", required_argument, NULL, 'N'},
		{"samples", required_argument, NULL, 'n'},
		{"sample", no_argument, NULL, 'S'},
		{"seed", required_argument, NULL, 's'},
		{"route", required_argument, NULL, 'R'},
		{"json", no_argument, NULL, 'j'},
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
		case 'N':
			if (cli_parse_long(cmd, "--norm", optarg, 1, 2, &o.norm))
				return 2;
			break;
		case 'n':
			if (cli_parse_long(cmd, "--samples", optarg, 1, 1000000, &o.samples))
				return 2;
			break;
		case 'S': o.sample = 1; break;
		case 's':
			if (cli_parse_seed(cmd, "--seed", optarg, &o.seed))
				return 2;
			break;
		case 'R': o.route = optarg; break;
		case 'j': o.json = 1; break;
		case 'h': help(stdout); return 0;
		default: help(stderr); return 2;
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!o.model || o.ratio < 0) {
		cli_error(cmd, "--model and --ratio are required (see --help)");
		return 2;
	}
	bool is_policy = !strcmp(o.method, "policy");
	bool is_random = !strcmp(o.method, "random");
	bool is_baseline = !strcmp(o.method, "magnitude") || !strcmp(o.method, "wanda");
	if (!is_policy && !is_random && !is_baseline) {
		cli_error(cmd, "--method: '%s' is not policy, random, magnitude or wanda", o.method);
		return 2;
	}
	if (is_policy && !o.policy) {
		cli_error(cmd, "--method policy needs --policy FILE");
		return 2;
	}
	if (!strcmp(o.method, "wanda") && !o.calib) {
		cli_error(cmd, "--method wanda needs --calib FILE (calibration text)");
		return 2;
	}
	enum spectrum_route route;
	if (!strcmp(o.route, "gram"))
		route = SPECTRUM_ROUTE_GRAM;
	else if (!strcmp(o.route, "svd"))
		route = SPECTRUM_ROUTE_SVD;
	else {
		cli_error(cmd, "--route: '%s' is not svd or gram", o.route);
		return 2;
	}
	if (o.sample && !is_policy) {
		cli_error(cmd, "--sample draws from a policy (--method policy)");
		return 2;
	}
	int draws = (is_random || o.sample) ? (int)o.samples : 1;

	int rc = 1;
	char err[ERR_MAX];
	struct env *env = NULL;
	struct checkpoint *ck = NULL;
	struct policy *pol = NULL;
	struct prunenet *pn = NULL;
	float *scores = NULL, **base_scores = NULL;
	int *order = NULL;
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct select_cache cache = {0};
	double *layer_ks = NULL, *layer_sd = NULL;
	if (is_policy) {
		if (checkpoint_load(&ck, o.policy, err, sizeof err)) {
			cli_error(cmd, "%s: %s", o.policy, err); /* checkpoint.h's reasons omit the path */
			goto out;
		}
	}
	if (is_baseline) {
		struct select_opts so = {.method = o.method, .calib = o.calib, .norm_p = (int)o.norm,
					 .granularity = PRUNE_GRANULARITY_ROWS, .seed = o.seed};
		if (cli_open_model(cmd, o.model, &m, &tok))
			goto out;
		if (select_scores(&base_scores, m, o.model, tok, &so, &cache, err, sizeof err)) {
			cli_error(cmd, "%s", err);
			goto out;
		}
	}
	if (env_open(&env, o.model, route, 0, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	const struct config *cfg = env_config(env);
	if (ck) {
		if (checkpoint_check_model(ck, cfg->hidden, cfg->ffn, err, sizeof err)) {
			cli_error(cmd, "%s: %s", o.policy, err);
			goto out;
		}
		if (checkpoint_get_info(ck)->arch == CHECKPOINT_ARCH_MLP ? checkpoint_make_mlp(ck, &pol)
									 : checkpoint_make_prunenet(ck, &pn)) {
			cli_error(cmd, "%s: cannot build the policy", o.policy);
			goto out;
		}
	}
	int max_rows = 0;
	for (int l = 0; l < cfg->n_layers; l++)
		if (env_rows(env, l) > max_rows)
			max_rows = env_rows(env, l);
	scores = calloc((size_t)max_rows, sizeof *scores);
	order = malloc((size_t)max_rows * sizeof *order);
	layer_ks = calloc((size_t)cfg->n_layers, sizeof *layer_ks);
	layer_sd = calloc((size_t)cfg->n_layers, sizeof *layer_sd);
	if (!scores || !order || !layer_ks || !layer_sd) {
		cli_error(cmd, "out of memory");
		goto out;
	}
	struct pcg32 rng;
	pcg32_seed(&rng, o.seed, 0x73706563u /* "spec" */);
	double total = 0;
	for (int l = 0; l < cfg->n_layers; l++) {
		const float *x, *w;
		int e = env_layer_begin(env, l, &x, &w, NULL, 0);
		if (e) {
			cli_error(cmd, "layer %d: %s", l, env_strerror(e));
			goto out;
		}
		int rows = env_rows(env, l), k = util_keep_count(rows, o.ratio);
		if (pol && policy_forward(pol, scores, x, rows)) {
			cli_error(cmd, "layer %d: policy produced no scores", l);
			goto out;
		}
		if (pn && prunenet_forward(pn, scores, w, NULL)) {
			cli_error(cmd, "layer %d: prunenet produced no scores", l);
			goto out;
		}
		/* random: Gumbel-top-k of equal scores is a uniform random k-subset */
		if (is_random)
			memset(scores, 0, (size_t)rows * sizeof *scores);
		if (is_baseline)
			memcpy(scores, base_scores[l], (size_t)rows * sizeof *scores);
		double sum = 0, sq = 0;
		for (int d = 0; d < draws; d++) {
			double ks;
			int s = (is_random || o.sample) ? sampling_gumbel_topk(order, scores, rows, k, &rng)
							: util_topk(order, scores, rows, k);
			if (s || (s = env_layer_ks(env, order, k, &ks, NULL, 0))) {
				cli_error(cmd, "layer %d: KS failed", l);
				goto out;
			}
			sum += ks;
			sq += ks * ks;
		}
		layer_ks[l] = sum / draws;
		layer_sd[l] = draws > 1 ? sqrt(fmax(0, (sq - sum * sum / draws) / (draws - 1))) : 0;
		total += layer_ks[l];
		if (!o.json)
			fprintf(stderr, "yopo spectrum: layer %d/%d done\n", l + 1, cfg->n_layers);
	}
	double mean = total / cfg->n_layers;
	if (o.json) {
		printf("{\"model\": ");
		cli_print_json_string(stdout, o.model);
		printf(", \"method\": ");
		cli_print_json_string(stdout, o.method);
		printf(", \"ratio\": %g, \"samples\": %d, \"mean_ks\": %.8g, \"layers\": [", o.ratio,
		       draws, mean);
		for (int l = 0; l < cfg->n_layers; l++)
			printf("%s{\"layer\": %d, \"ks\": %.8g, \"std\": %.8g}", l ? ", " : "", l, layer_ks[l],
			       layer_sd[l]);
		printf("]}\n");
	} else {
		printf("model    %s (%s, %d layers, ffn %d x hidden %d)\n", o.model, cfg->model_type,
		       cfg->n_layers, cfg->ffn, cfg->hidden);
		printf("method   %s%s%s, ratio %g, %d selection(s) per layer\n", o.method,
		       is_random ? "" : (o.sample ? " (sampled)" : " (top-k)"), "", o.ratio, draws);
		printf("layer    KS        std\n");
		for (int l = 0; l < cfg->n_layers; l++)
			printf("%5d    %.4f    %.4f\n", l, layer_ks[l], layer_sd[l]);
		printf("mean     %.4f\n", mean);
	}
	rc = 0;
out:
	for (int l = 0; base_scores && m && l < m->cfg.n_layers; l++)
		free(base_scores[l]);
	free(base_scores);
	select_cache_free(&cache);
	tokenizer_free(tok);
	model_close(m);
	free(layer_sd);
	free(layer_ks);
	free(order);
	free(scores);
	policy_free(pol);
	prunenet_free(pn);
	checkpoint_free(ck);
	env_close(env);
	return rc;
}
