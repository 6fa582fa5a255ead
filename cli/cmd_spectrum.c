/* yopo spectrum: the environment's verdict on a row selection method, without any text
 * (pipeline/kseval.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "summary.h"

static void on_layer(void *ctx, int done, int total)
{
	(void)ctx;
	if (cli_quiet())
		return;
	fprintf(stderr, "yopo spectrum: layer %d/%d done\n", done, total);
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
	if ((rc = kseval_run(&r, &o, json ? NULL : on_layer, NULL, err, sizeof err)))
		return cli_fail("spectrum", rc, KSEVAL_ERR_USAGE, err);
	if (json)
		rc = cli_json("spectrum", summary_spectrum_json(&o, &r));
	else
		summary_spectrum_text(stdout, &o, &r);
	kseval_result_free(&r);
	return rc;
}
