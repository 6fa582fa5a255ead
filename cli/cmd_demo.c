/* yopo demo: the main job end to end on one checkpoint. Without --model it builds a small
 * synthetic checkpoint first and says so: its numbers are not meaningful. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "synth.h"

static const char *const cmd = "demo";

/* Defaults of every option. */
static const struct demo_opts {
	const char *model;   /* --model DIR: a real checkpoint; NULL: synthetic */
	const char *text;    /* --text FILE: evaluation text; NULL: a built-in sample */
	const char *work;    /* --work DIR: where synthetic files go; NULL: a fresh temp dir */
	long max_windows;    /* --max-windows N: evaluation windows */
	long max_tokens;     /* --max-tokens N: generated sample length */
} defaults = {NULL, NULL, NULL, 16, 64};

static const char sample_text[] =
	"Once upon a time, there was a little dog named Max. Max liked to run in the park with his\n"
	"friend Sam. One day, Sam found a big red ball under a tree. \"Look, Max!\" said Sam. Max\n"
	"barked and wagged his tail. They played with the ball until the sun went down. Then they\n"
	"went home, ate dinner and slept. The next morning, Max woke up early and waited by the\n"
	"door. He wanted to play with the red ball again, and Sam laughed and took him outside.\n";

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo demo [--model DIR] [--text FILE] [--work DIR] [--max-windows N] [--max-tokens N]\n"
		"Runs yopo's main job on one checkpoint: evaluates it (perplexity, size, FLOPs, speed)\n"
		"and samples from it. Without --model a small SYNTHETIC random-weight checkpoint is\n"
		"generated first, so the demo runs on a machine with no model at hand; its numbers are\n"
		"not meaningful.\n"
		"  --model DIR       Hugging Face checkpoint directory\n"
		"  --text FILE       evaluation text (default: a short built-in story)\n"
		"  --work DIR        directory for generated files (default: a new temporary directory)\n"
		"  --max-windows N   evaluation windows (default %ld)\n"
		"  --max-tokens N    tokens to generate (default %ld)\n"
		"  --help            this text\n",
		defaults.max_windows, defaults.max_tokens);
}

int cmd_demo(int argc, char **argv)
{
	struct demo_opts o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"text", required_argument, NULL, 't'},
		{"work", required_argument, NULL, 'w'},
		{"max-windows", required_argument, NULL, 'W'},
		{"max-tokens", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 't': o.text = optarg; break;
		case 'w': o.work = optarg; break;
		case 'W':
			if (cli_parse_long(cmd, "--max-windows", optarg, 1, 1L << 40, &o.max_windows))
				return 2;
			break;
		case 'n':
			if (cli_parse_long(cmd, "--max-tokens", optarg, 1, 1000000, &o.max_tokens))
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

	char windows[32], tokens[32];
	snprintf(windows, sizeof windows, "%ld", o.max_windows);
	snprintf(tokens, sizeof tokens, "%ld", o.max_tokens);
	printf("\n== step 1/2: evaluate (yopo eval --model %s --text %s --max-windows %s)\n", model_dir,
	       text_path, windows);
	fflush(stdout);
	char *eval_argv[] = {"eval", "--model", model_dir, "--text", text_path, "--max-windows",
			     windows, NULL};
	int rc = cmd_eval(7, eval_argv);
	if (rc)
		return rc;
	printf("\n== step 2/2: greedy sample (yopo generate --model %s --max-tokens %s)\n", model_dir,
	       tokens);
	fflush(stdout);
	char *gen_argv[] = {"generate", "--model", model_dir, "--max-tokens", tokens, NULL};
	rc = cmd_generate(5, gen_argv);
	if (rc)
		return rc;
	printf("\n== demo done%s\n", o.model ? "" : " (synthetic model: numbers above are not meaningful)");
	return 0;
}
