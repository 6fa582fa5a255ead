/* yopo train: REINFORCE training of a pruning policy on one or more checkpoints and ratios
 * (pipeline/trainjob.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "err.h"
#include "probe.h"
#include "summary.h"

void cli_train_progress(void *ctx, const struct train_episode *ep, int episodes)
{
	(void)ctx;
	char line[256];
	if (!ep || cli_quiet())
		return;
	trainjob_episode_line(line, sizeof line, ep, episodes);
	fprintf(stderr, "yopo train: %s\n", line);
}

/* Last progress line's time: per-layer lines at most every CLI_LINE_SECONDS, so small models
 * (layers of milliseconds) print only their episode lines. */
static double last_layer_line;

static void on_layer(void *ctx, int episode, int pass, int n_passes, int layer, int n_layers,
		     double elapsed)
{
	(void)ctx;
	/* Later passes cost about the same, but the first also sets every layer up (features, G:
	 * tens of seconds per 7B layer, then cached), so once the second pass has begun the rate is
	 * measured from its start. */
	static double rate_t0 = -1, rate_done;
	double done = (double)(pass - 1) * n_layers + layer + 1, total = (double)n_passes * n_layers;
	if (pass > 1 && rate_t0 < 0) {
		rate_t0 = elapsed;
		rate_done = done;
	}
	if (cli_quiet() || elapsed - last_layer_line < CLI_LINE_SECONDS)
		return;
	last_layer_line = elapsed;
	double eta = rate_t0 >= 0 && done > rate_done
			     ? (elapsed - rate_t0) / (done - rate_done) * (total - done)
			     : elapsed / done * (total - done);
	fprintf(stderr, "yopo train: episode %d, layer %d/%d, pass %d/%d, %.0f s, ETA %.0f s\n",
		episode, layer + 1, n_layers, pass, n_passes, elapsed, eta);
}

/* What --json summarises, gathered from the progress calls. */
struct train_run {
	const struct trainjob_opts *o;
	int quiet; /* progress lines off (a global --quiet can set it) */
	double best_loss, elapsed;
};

static void on_progress(void *ctx, const struct train_episode *ep, int episodes)
{
	struct train_run *t = ctx;
	if (ep && ep->is_best)
		t->best_loss = ep->greedy_loss;
	if (ep)
		t->elapsed = ep->elapsed;
	if (t->quiet)
		return;
	if (!ep) {
		char line[256];
		trainjob_start_line(line, sizeof line, t->o, episodes);
		fprintf(stderr, "yopo train: %s\n", line);
	}
	cli_train_progress(NULL, ep, episodes);
}

/* The command line. yopo runs one command per process; the values live at file scope so that
 * the option table (in parse) and the run (in cmd_train) both name them. */
static struct trainjob_opts o;
static struct opt_strings models;
static struct opt_doubles ratios;
static const char *arch = "mlp", *reward, *route = "gram", *fset;
static long episodes = 20, samples = 16, hidden = 16, cache_mb = 8192, train_layers,
	    probe_tokens = TRAINJOB_PROBE_TOKENS, probe_lanes;
static double lr, entropy, mix = -1;
static unsigned long long seed, probe_seed;
static int weights_only, force, json;

/* The option table into the values above: -1 to go on, else the exit code. */
static int parse(int argc, char **argv)
{
	trainjob_opts_default(&o);
	o.layer_progress = on_layer;
	probe_set_progress(cli_probe_progress, "train");
	const struct opt opts[] = {
		{"model", 0, OPT_REPEAT, &models, 0, 0, "DIR",
		 "Hugging Face checkpoint (repeat to train on several)", NULL, true},
		{"ratio", 0, OPT_RATIOS, &ratios, 0, 0, "R,...",
		 "fraction of FFN rows removed, each in (0, 1)", NULL, true},
		{"out", 0, OPT_STRING, &o.out, 0, 0, "FILE",
		 "policy checkpoint to write (safetensors; OUT.lock beside it is held\n"
		 "while training); must not exist unless --force", NULL, true},
		{"force", 0, OPT_FLAG, &force, 0, 0, NULL, "replace an existing --out", NULL, false},
		{"episodes", 0, OPT_LONG, &episodes, 0, 1000000, "N",
		 "training episodes (default 20; 0 saves the untrained policy)", NULL, false},
		{"lr", 0, OPT_DOUBLE, &lr, 1e-12, 10, "X",
		 "learning rate (default 0.1 for mlp, 1e-3 for prunenet)", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S",
		 "seed of all randomness (default 0)", NULL, false},
		{"arch", 0, OPT_CHOICE, &arch, 0, 0, "A",
		 "mlp: yopo's size-agnostic policy (default); prunenet: the published\n"
		 "parameterisation, tied to one model shape", "mlp,prunenet", false},
		{"reward", 0, OPT_CHOICE, &reward, 0, 0, "R",
		 "functional (default for mlp): -relative change of the layer's output over\n"
		 "self-sampled probes; neg-ks: -KS of the kept rows' singular values;\n"
		 "inverse: 1/KS (default for prunenet); mix: weighted sum (--mix)",
		 "functional,neg-ks,inverse,mix", false},
		{"mix", 0, OPT_DOUBLE, &mix, 0, 1, "W",
		 "reward mix: weight W of the spectral part (KS), 1 - W of the functional\n"
		 "(default 0.5)", NULL, false},
		{"feature-set", 0, OPT_CHOICE, &fset, 0, 0, "F",
		 "what the mlp policy sees per row: probe (default): weights features plus\n"
		 "activation statistics of self-sampled probes; weights: weights only", "probe,weights",
		 false},
		{"weights-only", 0, OPT_FLAG, &weights_only, 0, 0, NULL,
		 "= --feature-set weights (no forward pass when pruning with the policy)", NULL, false},
		{"probe-tokens", 0, OPT_LONG, &probe_tokens, 2, 1L << 20, "N",
		 "probe tokens sampled from each model itself, no user text (default 2048)", NULL, false},
		{"probe-lanes", 0, OPT_LONG, &probe_lanes, 1, 4096, "B",
		 "probe sequences sampled in lockstep, one forward per step (default 16)", NULL, false},
		{"probe-seed", 0, OPT_SEED, &probe_seed, 0, 0, "S",
		 "seed of the probe sampling (default 0; recorded in the checkpoint)", NULL, false},
		{"samples", 0, OPT_LONG, &samples, 1, 4096, "N",
		 "sampled selections per layer per episode, mlp (default 16)", NULL, false},
		{"hidden", 0, OPT_LONG, &hidden, 1, 4096, "N",
		 "policy hidden width, mlp (default 16)", NULL, false},
		{"entropy", 0, OPT_DOUBLE, &entropy, 0, 100, "X",
		 "entropy bonus coefficient, mlp (default 0)", NULL, false},
		{"route", 0, OPT_CHOICE, &route, 0, 0, "R",
		 "gram (default): eigenvalues of the downdated Gram matrix; svd:\n"
		 "singular values of the kept rows directly", "gram,svd", false},
		{"cache-mb", 0, OPT_LONG, &cache_mb, 0, 1L << 30, "N",
		 "keep the trained layers resident when they fit in N MiB, else stream\n"
		 "one layer at a time from the checkpoint (default 8192)", NULL, false},
		{"train-layers", 0, OPT_LONG, &train_layers, 0, 1L << 20, "N",
		 "train on N evenly spaced layers per model (default 0: every layer when\n"
		 "they fit --cache-mb, else as many as fit; a 7B layer needs ~1.3 GB)", NULL, false},
		{"log", 0, OPT_STRING, &o.log, 0, 0, "FILE",
		 "JSON lines: per episode, per layer KS, functional error and reward", NULL, false},
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL,
		 "final summary as one JSON object on stdout", NULL, false},
	};
	const struct opt_cmd c = {"train",
		"Trains a pruning policy by REINFORCE so that removing the rows it scores lowest in\n"
		"every FFN layer damages the model least. Default reward: the relative change of the\n"
		"layer's output over probe tokens the model samples itself (no user text); the\n"
		"spectral rewards compare singular-value spectra (weights only). Prints one line per\n"
		"episode with elapsed time and ETA; keeps the best policy.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	if (models.n > TRAINJOB_MODELS_MAX) {
		cli_error("train", "at most %d --model", TRAINJOB_MODELS_MAX);
		return 2;
	}
	char err[ERR_MAX];
	if ((rc = trainjob_opts_choose(&o, arch, reward, fset, weights_only, mix, lr, err,
				       sizeof err)))
		return cli_fail("train", rc, TRAINJOB_ERR_USAGE, err);
	return -1;
}

int cmd_train(int argc, char **argv)
{
	int rc = parse(argc, argv);
	if (rc >= 0)
		return rc;
	o.train.ratios = ratios.v;
	o.train.n_ratios = ratios.n;
	o.train.episodes = (int)episodes;
	o.train.seed = seed;
	o.train.samples = (int)samples;
	o.train.hidden = (int)hidden;
	o.train.entropy = entropy;
	o.models = models.v;
	o.n_models = models.n;
	o.route = !strcmp(route, "svd") ? SPECTRUM_ROUTE_SVD : SPECTRUM_ROUTE_GRAM;
	o.cache_bytes = (size_t)cache_mb << 20;
	o.train.max_layers = (int)train_layers;
	o.probe_tokens = (int)probe_tokens;
	o.probe_lanes = (int)probe_lanes;
	o.probe_seed = probe_seed;
	o.force = force;
	char err[ERR_MAX];
	double best;
	struct train_run t = {.o = &o, .best_loss = NAN, .quiet = cli_quiet()};
	if ((rc = trainjob_run(&best, &o, on_progress, &t, err, sizeof err)))
		return cli_fail("train", rc, 0, err);
	if (!t.quiet)
		fprintf(stderr, "yopo train: wrote %s (best greedy loss %.4f, KS %.4f)\n", o.out,
			t.best_loss, best);
	return json ? cli_json("train", summary_train_json(&o, t.best_loss, best, t.elapsed)) : 0;
}
