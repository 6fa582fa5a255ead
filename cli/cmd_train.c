/* yopo train: REINFORCE training of a pruning policy on one or more checkpoints and ratios. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "train.h"
#include "yopo_version.h"

static const char *const cmd = "train";

#define MAX_MODELS 16
#define MAX_RATIOS 16

/* Defaults of every option (arch-dependent ones resolved after parsing). */
static const struct train_cli {
	const char *models[MAX_MODELS]; /* --model DIR, repeatable (required) */
	int n_models;
	double ratios[MAX_RATIOS];      /* --ratio R[,R...] (required) */
	int n_ratios;
	long episodes;                  /* --episodes N */
	double lr;                      /* --lr X; 0: 0.1 (mlp) or 1e-3 (prunenet, as published) */
	unsigned long long seed;        /* --seed S */
	const char *arch;               /* --arch mlp|prunenet */
	const char *reward;             /* --reward neg-ks|inverse; NULL: neg-ks (mlp), inverse (prunenet) */
	long samples;                   /* --samples N: orderings per layer per episode (mlp) */
	long hidden;                    /* --hidden N: policy hidden width (mlp) */
	double entropy;                 /* --entropy X: entropy bonus (mlp) */
	const char *route;              /* --route gram|svd: how kept singular values are computed */
	long cache_mb;                  /* --cache-mb N: keep layers resident up to this size */
	const char *log;                /* --log FILE.jsonl */
	const char *out;                /* --out POLICY.safetensors (required) */
} defaults = {
	.episodes = 20, .lr = 0, .seed = 0, .arch = "mlp", .reward = NULL, .samples = 16,
	.hidden = 16, .entropy = 0, .route = "gram", .cache_mb = 1024,
};

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo train --model DIR [--model DIR ...] --ratio R[,R...] --out POLICY.safetensors\n"
		"                  [--episodes N] [--lr X] [--seed S] [--arch mlp|prunenet]\n"
		"                  [--reward neg-ks|inverse] [--samples N] [--hidden N] [--entropy X]\n"
		"                  [--route gram|svd] [--cache-mb N] [--log FILE.jsonl]\n"
		"Trains a pruning policy by REINFORCE so that keeping its top-scored rows of every FFN\n"
		"up-projection preserves the layer's singular-value spectrum (two-sample KS distance).\n"
		"Weights only: no calibration data. Prints one line per episode; keeps the best policy.\n"
		"  --model DIR       Hugging Face checkpoint (repeat to train on several)\n"
		"  --ratio R,...     fraction of FFN rows removed, each in (0, 1)\n"
		"  --out FILE        policy checkpoint to write (safetensors)\n"
		"  --episodes N      training episodes (default 20; 0 saves the untrained policy)\n"
		"  --lr X            learning rate (default 0.1 for mlp, 1e-3 for prunenet)\n"
		"  --seed S          seed of all randomness (default 0)\n"
		"  --arch A          mlp: yopo's size-agnostic policy (default); prunenet: the published\n"
		"                    parameterisation, tied to one model shape\n"
		"  --reward R        neg-ks (default for mlp) or inverse = 1/KS (default for prunenet)\n"
		"  --samples N       sampled selections per layer per episode, mlp (default 16)\n"
		"  --hidden N        policy hidden width, mlp (default 16)\n"
		"  --entropy X       entropy bonus coefficient, mlp (default 0)\n"
		"  --route R         gram (default): eigenvalues of the downdated Gram matrix; svd:\n"
		"                    singular values of the kept rows directly\n"
		"  --cache-mb N      keep all layers resident when they fit in N MiB, else stream one\n"
		"                    layer at a time from the checkpoint (default 1024)\n"
		"  --log FILE        JSON lines: per episode, per layer KS and reward\n"
		"  --help            this text\n");
}

/* Training can take hours: refuse an --out that cannot be written before it starts. The
 * directory part must be an existing writable directory and --out itself not a directory. */
static int check_out(const char *out)
{
	char dir[PATH_MAX];
	struct stat sb;
	if (!*out || (size_t)snprintf(dir, sizeof dir, "%s", out) >= sizeof dir) {
		cli_error(cmd, "--out: bad path '%s'", out);
		return -1;
	}
	if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		cli_error(cmd, "--out %s is a directory (give a file name)", out);
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	const char *why = NULL;
	if (stat(dir, &sb))
		why = strerror(errno);
	else if (!S_ISDIR(sb.st_mode))
		why = "not a directory";
	else if (access(dir, W_OK))
		why = strerror(errno);
	if (why) {
		cli_error(cmd, "--out %s: directory %s: %s", out, dir, why);
		return -1;
	}
	return 0;
}

struct progress {
	FILE *log;
	int episodes;
	struct env **envs;
};

static void on_episode(void *ctx, const struct train_episode *ep)
{
	struct progress *p = ctx;
	bool final = ep->episode == 0 || ep->episode > p->episodes;
	if (final)
		fprintf(stderr, "yopo train: final    greedy KS %.4f  %s(%.1f s)\n", ep->greedy_ks,
			ep->is_best ? "best " : "", ep->elapsed);
	else
		fprintf(stderr,
			"yopo train: episode %d/%d  mean reward %.4f  mean KS %.4f  greedy KS %.4f  %s(%.1f s)\n",
			ep->episode, p->episodes, ep->mean_reward, ep->mean_ks, ep->greedy_ks,
			ep->is_best ? "best " : "", ep->elapsed);
	if (!p->log)
		return;
	fprintf(p->log,
		"{\"episode\": %d, \"final\": %s, \"mean_reward\": %.8g, \"mean_ks\": %.8g, "
		"\"greedy_ks\": %.8g, \"best\": %s, \"elapsed\": %.3f, \"layers\": [",
		ep->episode, final ? "true" : "false", ep->mean_reward, ep->mean_ks, ep->greedy_ks,
		ep->is_best ? "true" : "false", ep->elapsed);
	for (int i = 0; i < ep->n_cells; i++) {
		const struct train_cell *c = &ep->cells[i];
		fprintf(p->log,
			"%s{\"model\": %d, \"ratio\": %.6g, \"layer\": %d, \"ks\": %.8g, \"reward\": %.8g, "
			"\"greedy_ks\": %.8g}",
			i ? ", " : "", c->model, c->ratio, c->layer, c->ks, c->reward, c->greedy_ks);
	}
	fprintf(p->log, "]}\n");
	fflush(p->log);
}

int cmd_train(int argc, char **argv)
{
	struct train_cli o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"ratio", required_argument, NULL, 'r'},
		{"episodes", required_argument, NULL, 'e'},
		{"lr", required_argument, NULL, 'l'},
		{"seed", required_argument, NULL, 's'},
		{"arch", required_argument, NULL, 'a'},
		{"reward", required_argument, NULL, 'R'},
		{"samples", required_argument, NULL, 'S'},
		{"hidden", required_argument, NULL, 'H'},
		{"entropy", required_argument, NULL, 'E'},
		{"route", required_argument, NULL, 'T'},
		{"cache-mb", required_argument, NULL, 'c'},
		{"log", required_argument, NULL, 'L'},
		{"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (o.n_models == MAX_MODELS) {
				cli_error(cmd, "at most %d --model", MAX_MODELS);
				return 2;
			}
			o.models[o.n_models++] = optarg;
			break;
		case 'r':
			if (cli_parse_ratios(cmd, "--ratio", optarg, o.ratios, MAX_RATIOS, &o.n_ratios))
				return 2;
			break;
		case 'e':
			if (cli_parse_long(cmd, "--episodes", optarg, 0, 1000000, &o.episodes))
				return 2;
			break;
		case 'l':
			if (cli_parse_double(cmd, "--lr", optarg, 1e-12, 10, &o.lr))
				return 2;
			break;
		case 's':
			if (cli_parse_seed(cmd, "--seed", optarg, &o.seed))
				return 2;
			break;
		case 'a': o.arch = optarg; break;
		case 'R': o.reward = optarg; break;
		case 'S':
			if (cli_parse_long(cmd, "--samples", optarg, 1, 4096, &o.samples))
				return 2;
			break;
		case 'H':
			if (cli_parse_long(cmd, "--hidden", optarg, 1, 4096, &o.hidden))
				return 2;
			break;
		case 'E':
			if (cli_parse_double(cmd, "--entropy", optarg, 0, 100, &o.entropy))
				return 2;
			break;
		case 'T': o.route = optarg; break;
		case 'c':
			if (cli_parse_long(cmd, "--cache-mb", optarg, 0, 1L << 30, &o.cache_mb))
				return 2;
			break;
		case 'L': o.log = optarg; break;
		case 'o': o.out = optarg; break;
		case 'h': help(stdout); return 0;
		default: help(stderr); return 2;
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!o.n_models || !o.n_ratios || !o.out) {
		cli_error(cmd, "--model, --ratio and --out are required (see --help)");
		return 2;
	}
	struct train_opts t;
	train_opts_default(&t);
	if (!strcmp(o.arch, "mlp")) {
		t.arch = TRAIN_ARCH_MLP;
	} else if (!strcmp(o.arch, "prunenet")) {
		t.arch = TRAIN_ARCH_PRUNENET;
		t.reward = TRAIN_REWARD_INVERSE;
		t.lr = 1e-3;
	} else {
		cli_error(cmd, "--arch: '%s' is not mlp or prunenet", o.arch);
		return 2;
	}
	if (o.reward && !strcmp(o.reward, "neg-ks"))
		t.reward = TRAIN_REWARD_NEG_KS;
	else if (o.reward && !strcmp(o.reward, "inverse"))
		t.reward = TRAIN_REWARD_INVERSE;
	else if (o.reward) {
		cli_error(cmd, "--reward: '%s' is not neg-ks or inverse", o.reward);
		return 2;
	}
	enum spectrum_route route;
	if (!strcmp(o.route, "gram"))
		route = SPECTRUM_ROUTE_GRAM;
	else if (!strcmp(o.route, "svd"))
		route = SPECTRUM_ROUTE_SVD;
	else {
		cli_error(cmd, "--route: '%s' is not gram or svd", o.route);
		return 2;
	}
	if (o.lr > 0)
		t.lr = o.lr;
	t.ratios = o.ratios;
	t.n_ratios = o.n_ratios;
	t.episodes = (int)o.episodes;
	t.seed = o.seed;
	t.samples = (int)o.samples;
	t.hidden = (int)o.hidden;
	t.entropy = o.entropy;

	if (check_out(o.out))
		return 1;

	int rc = 1;
	struct env *envs[MAX_MODELS] = {NULL};
	struct trainer *tr = NULL;
	struct checkpoint_model trained[MAX_MODELS];
	FILE *log = NULL;
	char err[ERR_MAX];
	for (int i = 0; i < o.n_models; i++) {
		if (env_open(&envs[i], o.models[i], route, (size_t)o.cache_mb << 20, err, sizeof err)) {
			cli_error(cmd, "%s", err);
			goto out;
		}
		const struct config *cfg = env_config(envs[i]);
		trained[i] = (struct checkpoint_model){(char *)o.models[i], (char *)cfg->model_type, cfg->hidden,
						       cfg->ffn, cfg->n_layers};
	}
	if (trainer_new(&tr, envs, o.n_models, &t, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	if (o.log && !(log = fopen(o.log, "w"))) {
		cli_error(cmd, "%s: cannot open the log for writing", o.log);
		goto out;
	}
	fprintf(stderr, "yopo train: arch %s, %d model(s), %d ratio(s), %ld episodes, seed %llu\n", o.arch,
		o.n_models, o.n_ratios, o.episodes, o.seed);
	struct progress prog = {log, (int)o.episodes, envs};
	if (trainer_run(tr, on_episode, &prog, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	struct checkpoint_info info = {
		.arch = t.arch == TRAIN_ARCH_MLP ? CHECKPOINT_ARCH_MLP : CHECKPOINT_ARCH_PRUNENET,
		.n_features = ROWFEAT_COUNT,
		.n_hidden = (int)o.hidden,
		.hidden = env_config(envs[0])->hidden,
		.ffn = env_config(envs[0])->ffn,
		.trained_on = trained,
		.n_trained_on = o.n_models,
		.ratios = o.ratios,
		.n_ratios = o.n_ratios,
		.seed = o.seed,
		.episodes = (int)o.episodes,
		.final_reward = trainer_final_reward(tr),
		.best_reward = trainer_best_reward(tr),
	};
	snprintf(info.reward, sizeof info.reward, "%s", t.reward == TRAIN_REWARD_NEG_KS ? "neg-ks" : "inverse");
	snprintf(info.yopo_version, sizeof info.yopo_version, "%s", YOPO_VERSION);
	int err_save = t.arch == TRAIN_ARCH_MLP ? checkpoint_save_mlp(o.out, trainer_best_mlp(tr), &info)
						 : checkpoint_save_prunenet(o.out, trainer_best_prunenet(tr), &info);
	if (err_save) {
		cli_error(cmd, "%s: %s%s%s", o.out, checkpoint_strerror(err_save),
			  err_save == CHECKPOINT_ERR_IO ? ": " : "",
			  err_save == CHECKPOINT_ERR_IO ? strerror(errno) : "");
		goto out;
	}
	fprintf(stderr, "yopo train: wrote %s (best greedy KS %.4f)\n", o.out, trainer_best_greedy_ks(tr));
	rc = 0;
out:
	if (log && fclose(log) && rc == 0) {
		cli_error(cmd, "%s: write failed", o.log);
		rc = 1;
	}
	trainer_free(tr);
	for (int i = 0; i < o.n_models; i++)
		env_close(envs[i]);
	return rc;
}
