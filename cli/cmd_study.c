/* yopo study: per layer, random row selections scored by every data-free reward and by the KL
 * damage they really do; Spearman's rho per reward, per layer and pooled (pipeline/study.h). */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "err.h"
#include "json.h"
#include "study.h"

struct study_cli {
	const char *model, *text;
	struct study_opts o;
};

static int print_json(const struct study_cli *c, const struct study_result *r)
{
	char seed[24], pseed[24];
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->o.seed);
	snprintf(pseed, sizeof pseed, "%llu", (unsigned long long)c->o.probe_seed);
	struct cJSON *root = json_new_object(), *rw = NULL;
	bool ok = root && json_add_string(root, "model", c->model) &&
		  json_add_string(root, "text", c->text) && json_add_number(root, "ratio", c->o.ratio) &&
		  json_add_number(root, "selections", r->selections) &&
		  json_add_number(root, "windows", c->o.windows) &&
		  json_add_number(root, "tokens", (double)r->tokens) && json_add_string(root, "seed", seed) &&
		  json_add_number(root, "probe_tokens", c->o.probe_tokens) &&
		  json_add_string(root, "probe_seed", pseed) &&
		  json_add_number(root, "dense_ppl", r->dense_ppl) &&
		  (rw = json_add_array(root, "rewards"));
	for (int q = 0; ok && q < STUDY_N_REWARDS; q++) {
		struct cJSON *x = json_add_object(rw, NULL), *l = NULL;
		ok = x && json_add_string(x, "reward", study_reward_name(q)) &&
		     json_add_number(x, "pooled_rho", r->pooled[q]) &&
		     json_add_bool(x, "every_layer_positive", r->min_layer_positive[q]) &&
		     (l = json_add_array(x, "layer_rho"));
		for (int k = 0; ok && k < r->n_layers; k++)
			ok = json_add_number(l, NULL, r->rho[(size_t)k * STUDY_N_REWARDS + q]) != NULL;
	}
	ok = ok && json_write(stdout, root, false) == 0;
	json_free(root);
	return ok ? 0 : 1;
}

static void print_table(const struct study_cli *c, const struct study_result *r)
{
	printf("model    %s, %d layers; text %s\n", c->model, r->n_layers, c->text);
	printf("ratio %g, %d random selections per layer (seed %llu), KL on %zu tokens; "
	       "%d probe tokens (seed %llu)\n", c->o.ratio, r->selections,
	       (unsigned long long)c->o.seed, r->tokens, c->o.probe_tokens,
	       (unsigned long long)c->o.probe_seed);
	printf("dense perplexity %.3f\n", r->dense_ppl);
	printf("Spearman rho(distance, KL damage); higher = the reward tracks the damage\n");
	printf("%-15s %7s %6s", "reward", "pooled", "all>0");
	for (int l = 0; l < r->n_layers; l++)
		printf("  L%-4d", l);
	printf("\n");
	for (int q = 0; q < STUDY_N_REWARDS; q++) {
		if (isnan(r->pooled[q])) /* undefined for this family (no gate) */
			printf("%-15s %7s %6s", study_reward_name(q), "-", "-");
		else
			printf("%-15s %+7.3f %6s", study_reward_name(q), r->pooled[q],
			       r->min_layer_positive[q] ? "yes" : "no");
		for (int l = 0; l < r->n_layers; l++) {
			double v = r->rho[(size_t)l * STUDY_N_REWARDS + q];
			if (isnan(v))
				printf("  %5s", "-");
			else
				printf("  %+.2f", v);
		}
		printf("\n");
	}
}

int cmd_study(int argc, char **argv)
{
	struct study_cli c = {0};
	study_opts_default(&c.o);
	long samples = c.o.selections, windows = c.o.windows, probe_tokens = c.o.probe_tokens;
	unsigned long long seed = 0, probe_seed = 0;
	int json = 0;
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &c.model, 0, 0, "DIR", "Hugging Face checkpoint", NULL, true},
		{"ratio", 0, OPT_RATIO, &c.o.ratio, 0, 0, "R",
		 "fraction of each layer's FFN neurons removed, in (0, 1)", NULL, true},
		{"text", 0, OPT_STRING, &c.text, 0, 0, "FILE",
		 "text the KL damage is measured on", NULL, true},
		{"samples", 0, OPT_LONG, &samples, 2, 100000, "M",
		 "random selections per layer (default 40)", NULL, false},
		{"windows", 0, OPT_LONG, &windows, 1, 1000000, "W",
		 "text windows of min(context, 256) tokens per KL measurement (default 8)", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S", "seed of the selections (default 0)", NULL, false},
		{"probe-tokens", 0, OPT_LONG, &probe_tokens, 2, 1L << 20, "N",
		 "self-sampled probe tokens of the functional reward (default 2048)", NULL, false},
		{"probe-seed", 0, OPT_SEED, &probe_seed, 0, 0, "S",
		 "seed of the probe sampling (default 0)", NULL, false},
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL,
		 "one JSON object: settings, dense_ppl, rewards[{reward, pooled_rho,\n"
		 "every_layer_positive, layer_rho[]}]", NULL, false},
	};
	const struct opt_cmd cmd = {"study",
		"Does a data-free reward predict the damage pruning really does? Per layer, M random\n"
		"selections remove R of its FFN neurons (other layers dense); each is scored by every\n"
		"reward (functional over self-sampled probes; KS of the singular values of up, gate,\n"
		"down and their mean; KS and 1-Wasserstein of the FFN map W_down[:,kept] W_up[kept,:];\n"
		"1-Wasserstein of log singular values of down and of the map) and by its mean\n"
		"KL(dense || pruned) per token on the text. Prints Spearman's rho per reward, per\n"
		"layer and pooled (mean over layers). Minutes on small models: cost is\n"
		"layers x M x W forward passes.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&cmd, argc, argv);
	if (rc >= 0)
		return rc;
	c.o.selections = (int)samples;
	c.o.windows = (int)windows;
	c.o.seed = seed;
	c.o.probe_tokens = (int)probe_tokens;
	c.o.probe_seed = probe_seed;
	char err[ERR_MAX];
	struct study_result *r = NULL;
	if ((rc = study_run_text(&r, c.model, c.text, &c.o, err, sizeof err))) {
		cli_error("study", "%s", err);
		return cli_exit(rc, STUDY_ERR_ARG);
	}
	if (json)
		rc = print_json(&c, r);
	else
		print_table(&c, r);
	study_result_free(r);
	return rc;
}
