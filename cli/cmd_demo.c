/* yopo demo: the main job end to end on one checkpoint — train a short policy, prune with it and
 * with the baselines, compare, print where the report is. Without --model it builds a small
 * synthetic checkpoint first and says so: its numbers are not meaningful. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "synth.h"

static const char *const cmd = "demo";

/* Defaults of every option. */
static const struct demo_opts {
	const char *model;   /* --model DIR: a real checkpoint; NULL: synthetic */
	const char *text;    /* --text FILE: evaluation text; NULL: a built-in sample */
	const char *calib;   /* --calib FILE: Wanda calibration text; NULL: the built-in sample */
	const char *work;    /* --work DIR: where everything goes; NULL: a fresh temp dir */
	long max_windows;    /* --max-windows N: evaluation windows */
	long episodes;       /* --episodes N: policy training episodes */
	const char *ratios;  /* --ratios list */
} defaults = {NULL, NULL, NULL, NULL, 16, 20, "0.1,0.2,0.3"};

static const char sample_text[] =
	"Once upon a time, there was a little dog named Max. Max liked to run in the park with his\n"
	"friend Sam. One day, Sam found a big red ball under a tree. \"Look, Max!\" said Sam. Max\n"
	"barked and wagged his tail. They played with the ball until the sun went down. Then they\n"
	"went home, ate dinner and slept. The next morning, Max woke up early and waited by the\n"
	"door. He wanted to play with the red ball again, and Sam laughed and took him outside.\n";

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo demo [--model DIR] [--text FILE] [--calib FILE] [--work DIR]\n"
		"                 [--episodes N] [--ratios LIST] [--max-windows N]\n"
		"Runs yopo's main job on one checkpoint: trains a pruning policy on its weights\n"
		"(yopo train), prunes with it and with the baselines at every ratio, evaluates every\n"
		"result (yopo compare) and prints where the report is. Without --model a small\n"
		"SYNTHETIC random-weight checkpoint is generated first, so the demo runs on a machine\n"
		"with no model at hand; its numbers are not meaningful.\n"
		"  --model DIR       Hugging Face checkpoint directory\n"
		"  --text FILE       evaluation text (default: a short built-in story)\n"
		"  --calib FILE      calibration text for Wanda (default: the built-in story)\n"
		"  --work DIR        directory for everything written (default: a new temporary one)\n"
		"  --episodes N      policy training episodes (default %ld)\n"
		"  --ratios LIST     pruning ratios (default %s)\n"
		"  --max-windows N   evaluation windows (default %ld)\n"
		"  --help            this text\n",
		defaults.episodes, defaults.ratios, defaults.max_windows);
}

int cmd_demo(int argc, char **argv)
{
	struct demo_opts o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"text", required_argument, NULL, 't'},
		{"calib", required_argument, NULL, 'c'},
		{"work", required_argument, NULL, 'w'},
		{"max-windows", required_argument, NULL, 'W'},
		{"episodes", required_argument, NULL, 'e'},
		{"ratios", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 't': o.text = optarg; break;
		case 'c': o.calib = optarg; break;
		case 'w': o.work = optarg; break;
		case 'r': o.ratios = optarg; break;
		case 'W':
			if (cli_parse_long(cmd, "--max-windows", optarg, 1, 1L << 40, &o.max_windows))
				return 2;
			break;
		case 'e':
			if (cli_parse_long(cmd, "--episodes", optarg, 0, 100000, &o.episodes))
				return 2;
			break;
		case 'h': help(stdout); return 0;
		default: help(stderr); return 2;
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return 2;
	}

	char work[PATH_MAX], model_dir[PATH_MAX], text_path[PATH_MAX];
	if (o.work) {
		snprintf(work, sizeof work, "%s", o.work);
		if (mkdir(work, 0777) && errno != EEXIST) {
			cli_error(cmd, "%s: cannot create: %s", work, strerror(errno));
			return 1;
		}
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(work, sizeof work, "%s/yopo-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(work)) {
			cli_error(cmd, "cannot create a temporary directory in %s", tmp && *tmp ? tmp : "/tmp");
			return 1;
		}
	}
	if (o.model) {
		snprintf(model_dir, sizeof model_dir, "%s", o.model);
		printf("== yopo demo on %s\n", o.model);
	} else {
		struct synth_spec spec;
		synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
		if ((size_t)snprintf(model_dir, sizeof model_dir, "%s/synthetic-llama", work) >= sizeof model_dir) {
			cli_error(cmd, "%s: path too long", work);
			return 1;
		}
		int err = synth_write(model_dir, &spec);
		if (err) {
			cli_error(cmd, "%s: %s", model_dir, synth_strerror(err));
			return 1;
		}
		printf("== yopo demo: no --model given, so this run uses a SYNTHETIC checkpoint with random\n"
		       "   weights written to %s.\n"
		       "   Its perplexity and samples are NOT meaningful; they only show the pipeline works.\n"
		       "   Run `yopo demo --model DIR` with a real Hugging Face checkpoint for real numbers.\n",
		       model_dir);
	}
	if (o.text) {
		snprintf(text_path, sizeof text_path, "%s", o.text);
	} else {
		if ((size_t)snprintf(text_path, sizeof text_path, "%s/sample.txt", work) >= sizeof text_path) {
			cli_error(cmd, "%s: path too long", work);
			return 1;
		}
		FILE *f = fopen(text_path, "wb");
		if (!f || fwrite(sample_text, 1, sizeof sample_text - 1, f) != sizeof sample_text - 1 ||
		    fclose(f)) {
			cli_error(cmd, "%s: cannot write the sample text", text_path);
			return 1;
		}
	}
	fflush(stdout);

	char windows[32], episodes[32], policy[PATH_MAX], report[PATH_MAX];
	snprintf(windows, sizeof windows, "%ld", o.max_windows);
	snprintf(episodes, sizeof episodes, "%ld", o.episodes);
	if ((size_t)snprintf(policy, sizeof policy, "%s/policy.safetensors", work) >= sizeof policy ||
	    (size_t)snprintf(report, sizeof report, "%s/report", work) >= sizeof report) {
		cli_error(cmd, "%s: path too long", work);
		return 1;
	}
	const char *calib = o.calib ? o.calib : text_path;
	printf("\n== step 1/2: train a pruning policy on the weights (yopo train --model %s --ratio 0.3 "
	       "--episodes %s --out %s)\n", model_dir, episodes, policy);
	fflush(stdout);
	char *train_argv[] = {"train", "--model", model_dir, "--ratio", "0.3", "--episodes", episodes,
			      "--out", policy, NULL};
	int rc = cmd_train(9, train_argv);
	if (rc)
		return rc;
	printf("\n== step 2/2: prune with the policy and the baselines, evaluate everything (yopo compare "
	       "--model %s --policy %s --text %s --calib %s --ratios %s --max-windows %s --out %s)\n",
	       model_dir, policy, text_path, calib, o.ratios, windows, report);
	fflush(stdout);
	char *compare_argv[] = {"compare", "--model", model_dir, "--policy", policy, "--text", text_path,
				"--calib", (char *)calib, "--ratios", (char *)o.ratios, "--max-windows",
				windows, "--out", report, "--force", NULL};
	rc = cmd_compare(16, compare_argv);
	if (rc)
		return rc;
	printf("\n== demo done: the report is %s/report.md (with results.csv, results.json, "
	       "perplexity.svg)%s\n", report,
	       o.model ? "" : "\n   (synthetic model: the numbers in it are not meaningful)");
	return 0;
}
