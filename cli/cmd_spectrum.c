/* yopo spectrum: the environment's verdict on a row selection method, without any text
 * (pipeline/kseval.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "json.h"
#include "kseval.h"

static void on_layer(void *ctx, int done, int total)
{
	(void)ctx;
	if (opt_quiet())
		return;
	fprintf(stderr, "yopo spectrum: layer %d/%d done\n", done, total);
}

static int print_json(const struct kseval_opts *o, const struct kseval_result *r)
{
	struct cJSON *root = json_new_object(), *layers = NULL;
	bool ok = root && json_add_string(root, "model", o->model) &&
		  json_add_string(root, "method", o->method) && json_add_number(root, "ratio", o->ratio) &&
		  json_add_number(root, "samples", r->draws) && json_add_number(root, "mean_ks", r->mean) &&
		  (!r->policy[0] ||
		   (json_add_string(root, "policy", r->policy) &&
		    json_add_string(root, "policy_reward", r->reward) &&
		    json_add_string(root, "policy_feature_set", r->feature_set) &&
		    json_add_number(root, "probe_tokens", r->probe_tokens))) &&
		  (layers = json_add_array(root, "layers"));
	for (int l = 0; ok && l < r->n_layers; l++) {
		struct cJSON *x = json_add_object(layers, NULL);
		ok = x && json_add_number(x, "layer", l) && json_add_number(x, "ks", r->ks[l]) &&
		     json_add_number(x, "std", r->sd[l]);
	}
	ok = ok && json_write(stdout, root, false) == 0;
	json_free(root);
	return ok ? 0 : -1;
}

static void print_table(const struct kseval_opts *o, const struct kseval_result *r)
{
	printf("model    %s (%s, %d layers, ffn %d x hidden %d)\n", o->model, r->model_type,
	       r->n_layers, r->ffn, r->hidden);
	printf("method   %s%s, ratio %g, %d selection(s) per layer\n", o->method,
	       !strcmp(o->method, "random") ? "" : (o->sample ? " (sampled)" : " (top-k)"), o->ratio,
	       r->draws);
	if (r->policy[0])
		printf("policy   %s (trained with reward %s, feature set %s)\n", r->policy, r->reward,
		       r->feature_set);
	printf("layer    KS        std\n");
	for (int l = 0; l < r->n_layers; l++)
		printf("%5d    %.4f    %.4f\n", l, r->ks[l], r->sd[l]);
	printf("mean     %.4f\n", r->mean);
}

int cmd_spectrum(int argc, char **argv)
{
	struct kseval_opts o = {.ratio = -1, .method = "policy", .norm_p = 1, .samples = 32};
	const char *route = "svd";
	long norm = 1, samples = 32;
	int sample = 0, json = 0;
	unsigned long long seed = 0;
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &o.model, 0, 0, "DIR",
		 "Hugging Face checkpoint", NULL, true},
		{"ratio", 0, OPT_RATIO, &o.ratio, 0, 0, "R",
		 "fraction of rows removed, in (0, 1)", NULL, true},
		{"method", 0, OPT_CHOICE, &o.method, 0, 0, "M",
		 "policy: top-k of a trained policy (--policy FILE; default: the shipped one);\n"
		 "random: uniform;\n"
		 "magnitude: top-k rows by L1 (--norm 2: L2) of up and gate;\n"
		 "wanda: top-k rows by sum |W|*||X|| (needs --calib FILE)", "policy,random,magnitude,wanda", false},
		{"policy", 0, OPT_STRING, &o.policy, 0, 0, "FILE",
		 "policy checkpoint from yopo train (default: the shipped policy)", NULL, false},
		{"calib", 0, OPT_STRING, &o.calib, 0, 0, "FILE",
		 "calibration text (method wanda)", NULL, false},
		{"norm", 0, OPT_LONG, &norm, 1, 2, "P",
		 "1 or 2 (method magnitude, default 1)", NULL, false},
		{"samples", 0, OPT_LONG, &samples, 1, 1000000, "N",
		 "random selections per layer (default 32); with --sample, policy draws", NULL, false},
		{"sample", 0, OPT_FLAG, &sample, 0, 0, NULL,
		 "draw selections from the policy (Plackett-Luce) instead of its top-k", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S", "seed (default 0)", NULL, false},
		{"route", 0, OPT_CHOICE, &route, 0, 0, "R",
		 "svd (default): kept singular values by SVD; gram: by the downdated Gram", "svd,gram", false},
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL,
		 "one JSON object: method, ratio, samples, mean_ks, layers[{layer, ks, std}];\n"
		 "method policy adds policy, policy_reward, policy_feature_set, probe_tokens", NULL, false},
	};
	const struct opt_cmd c = {"spectrum",
		"Scores a row-selection method with the training environment: for every layer, the\n"
		"two-sample KS distance between the singular values of the FFN up-projection and of\n"
		"its kept rows (k = ffn - round(R * ffn)); lower is better. No text is needed. For a\n"
		"policy it also prints the reward and feature set the policy was trained with.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	o.norm_p = (int)norm;
	o.samples = (int)samples;
	o.sample = sample;
	o.seed = seed;
	o.route = !strcmp(route, "gram") ? SPECTRUM_ROUTE_GRAM : SPECTRUM_ROUTE_SVD;
	char err[ERR_MAX];
	struct kseval_result r;
	if ((rc = kseval_run(&r, &o, json ? NULL : on_layer, NULL, err, sizeof err))) {
		cli_error("spectrum", "%s", err);
		return cli_exit(rc, KSEVAL_ERR_USAGE);
	}
	if (json)
		rc = print_json(&o, &r) ? 1 : 0;
	else
		print_table(&o, &r);
	kseval_result_free(&r);
	return rc;
}
