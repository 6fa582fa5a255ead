/* yopo train: REINFORCE training of a pruning policy on one or more checkpoints and ratios
 * (pipeline/trainjob.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "trainjob.h"

void cli_train_progress(void *ctx, const struct train_episode *ep, int episodes)
{
	(void)ctx;
	if (!ep)
		return;
	if (ep->episode == 0 || ep->episode > episodes)
		fprintf(stderr, "yopo train: final    greedy KS %.4f  %s(%.1f s)\n", ep->greedy_ks,
			ep->is_best ? "best " : "", ep->elapsed);
	else
		fprintf(stderr,
			"yopo train: episode %d/%d  mean reward %.4f  mean KS %.4f  greedy KS %.4f  %s(%.1f s)\n",
			ep->episode, episodes, ep->mean_reward, ep->mean_ks, ep->greedy_ks,
			ep->is_best ? "best " : "", ep->elapsed);
}

static void on_start(void *ctx, const struct train_episode *ep, int episodes)
{
	const struct trainjob_opts *o = ctx;
	if (!ep)
		fprintf(stderr, "yopo train: arch %s, %d model(s), %d ratio(s), %d episodes, seed %llu\n",
			o->train.arch == TRAIN_ARCH_MLP ? "mlp" : "prunenet", o->n_models,
			o->train.n_ratios, episodes, (unsigned long long)o->train.seed);
	cli_train_progress(NULL, ep, episodes);
}

int cmd_train(int argc, char **argv)
{
	struct trainjob_opts o = {.route = SPECTRUM_ROUTE_GRAM};
	struct opt_strings models = {.n = 0};
	struct opt_doubles ratios = {.n = 0};
	const char *arch = "mlp", *reward = NULL, *route = "gram";
	long episodes = 20, samples = 16, hidden = 16, cache_mb = 1024;
	double lr = 0, entropy = 0;
	unsigned long long seed = 0;
	const struct opt opts[] = {
		{"model", 0, OPT_REPEAT, &models, 0, 0, "DIR",
		 "Hugging Face checkpoint (repeat to train on several)", NULL, true},
		{"ratio", 0, OPT_RATIOS, &ratios, 0, 0, "R,...",
		 "fraction of FFN rows removed, each in (0, 1)", NULL, true},
		{"out", 0, OPT_STRING, &o.out, 0, 0, "FILE",
		 "policy checkpoint to write (safetensors; OUT.lock beside it is held\n"
		 "while training)", NULL, true},
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
		 "neg-ks (default for mlp) or inverse = 1/KS (default for prunenet)", "neg-ks,inverse", false},
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
		 "keep all layers resident when they fit in N MiB, else stream one\n"
		 "layer at a time from the checkpoint (default 1024)", NULL, false},
		{"log", 0, OPT_STRING, &o.log, 0, 0, "FILE",
		 "JSON lines: per episode, per layer KS and reward", NULL, false},
	};
	const struct opt_cmd c = {"train",
		"Trains a pruning policy by REINFORCE so that keeping its top-scored rows of every FFN\n"
		"up-projection preserves the layer's singular-value spectrum (two-sample KS distance).\n"
		"Weights only: no calibration data. Prints one line per episode; keeps the best policy.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	if (models.n > TRAINJOB_MODELS_MAX) {
		cli_error("train", "at most %d --model", TRAINJOB_MODELS_MAX);
		return 2;
	}
	train_opts_default(&o.train);
	if (!strcmp(arch, "prunenet")) {
		o.train.arch = TRAIN_ARCH_PRUNENET;
		o.train.reward = TRAIN_REWARD_INVERSE;
		o.train.lr = 1e-3;
	}
	if (reward)
		o.train.reward = !strcmp(reward, "neg-ks") ? TRAIN_REWARD_NEG_KS : TRAIN_REWARD_INVERSE;
	if (lr > 0)
		o.train.lr = lr;
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
	char err[ERR_MAX];
	double best;
	if (trainjob_run(&best, &o, on_start, &o, err, sizeof err)) {
		cli_error("train", "%s", err);
		return 1;
	}
	fprintf(stderr, "yopo train: wrote %s (best greedy KS %.4f)\n", o.out, best);
	return 0;
}
