/* yopo study: per layer, random row selections scored by every data-free reward and by the KL
 * damage they really do; Spearman's rho per reward, per layer and pooled (pipeline/study.h). */
#include <stdio.h>

#include "cli.h"
#include "err.h"
#include "summary.h"

struct study_cli {
	const char *model, *text;
	struct study_opts o;
};

int cmd_study(int argc, char **argv)
{
	struct study_cli c = {0};
	study_opts_default(&c.o);
	long samples = c.o.selections, windows = c.o.windows, probe_tokens = c.o.probe_tokens,
	     probe_lanes = c.o.probe_lanes;
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
		{"probe-lanes", 0, OPT_LONG, &probe_lanes, 1, 4096, "B",
		 "probe sequences sampled in lockstep, one forward per step (default 16)", NULL, false},
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
	c.o.probe_lanes = (int)probe_lanes;
	c.o.probe_seed = probe_seed;
	char err[ERR_MAX];
	struct study_result *r = NULL;
	if ((rc = study_run_text(&r, c.model, c.text, &c.o, err, sizeof err)))
		return cli_fail("study", rc, STUDY_ERR_ARG, err);
	if (json)
		rc = cli_json("study", summary_study_json(c.model, c.text, &c.o, r));
	else
		summary_study_text(stdout, c.model, c.text, &c.o, r);
	study_result_free(r);
	return rc;
}
