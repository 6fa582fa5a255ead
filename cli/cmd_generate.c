/* yopo generate: greedy decoding from BOS (+ an optional prompt), streamed to stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"

static const char *const cmd = "generate";

/* Defaults of every option. */
static const struct gen_opts {
	const char *model;  /* --model DIR (required) */
	const char *prompt; /* --prompt TEXT: text after BOS */
	long max_tokens;    /* --max-tokens N: new tokens, capped by the context */
} defaults = {NULL, "", 256};

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo generate --model DIR [--prompt TEXT] [--max-tokens N]\n"
		"Greedy decoding from BOS followed by the prompt; stops at EOS, after N new tokens\n"
		"(default %ld) or at the end of the model's context.\n"
		"  --model DIR       Hugging Face checkpoint directory (config.json, model.safetensors,\n"
		"                    tokenizer.json)\n"
		"  --prompt TEXT     text to continue (default: empty)\n"
		"  --max-tokens N    number of tokens to generate, 1..1000000\n"
		"  --help            this text\n",
		defaults.max_tokens);
}

/* Best id among those the tokenizer can decode: a checkpoint's vocab may be padded past the
 * tokenizer's (or have holes), and an undecodable id would end the stream with an error. */
/* Prints the part of decode(ids) not yet printed, if the earlier part is unchanged (a partial
 * UTF-8 sequence from byte fallback can decode differently once its continuation arrives). */
static int stream(const struct tokenizer *tok, const int *ids, size_t n, char **printed, size_t *np)
{
	char *text = NULL;
	size_t len = 0;
	if (tokenizer_decode(tok, ids, n, 1, &text, &len))
		return -1;
	if (len >= *np && (*np == 0 || !memcmp(text, *printed, *np))) {
		fwrite(text + *np, 1, len - *np, stdout);
		fflush(stdout);
		free(*printed);
		*printed = text;
		*np = len;
	} else {
		free(text);
	}
	return 0;
}

struct stream_ctx {
	const struct tokenizer *tok;
	size_t first; /* ids before this are not printed (BOS) */
	char **printed;
	size_t *n_printed;
};

static int on_token(void *ctx, const int *ids, size_t n)
{
	struct stream_ctx *sc = ctx;
	return stream(sc->tok, ids + sc->first, n - sc->first, sc->printed, sc->n_printed);
}

int cmd_generate(int argc, char **argv)
{
	struct gen_opts o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"prompt", required_argument, NULL, 'p'},
		{"max-tokens", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 'p': o.prompt = optarg; break;
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
	if (!o.model) {
		cli_error(cmd, "--model DIR is required (see --help)");
		return 2;
	}

	int rc = 1;
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	int *ids = NULL, *prompt = NULL;
	char *printed = NULL;
	size_t n_printed = 0, n_prompt = 0;
	if (cli_open_model(cmd, o.model, &m, &tok))
		goto out;
	int bos = cli_bos_id(m, tok);
	if (tokenizer_encode(tok, o.prompt, strlen(o.prompt), &prompt, &n_prompt)) {
		cli_error(cmd, "cannot tokenize the prompt");
		goto out;
	}
	int ctx = m->cfg.max_pos;
	size_t n = 0, cap = 1 + n_prompt + (size_t)o.max_tokens;
	if (1 + n_prompt >= (size_t)ctx) {
		cli_error(cmd, "prompt is %zu tokens; the model's context is %d", n_prompt, ctx);
		goto out;
	}
	ids = malloc(cap * sizeof *ids);
	if (!ids) {
		cli_error(cmd, "out of memory");
		goto out;
	}
	if (bos >= 0)
		ids[n++] = bos;
	memcpy(ids + n, prompt, n_prompt * sizeof *ids);
	n += n_prompt;
	if (n == 0) {
		cli_error(cmd, "the model has no BOS token: give a --prompt");
		goto out;
	}
	size_t first = bos >= 0 ? 1 : 0; /* decode without BOS */
	if (stream(tok, ids + first, n - first, &printed, &n_printed))
		goto decode_fail;


	struct stream_ctx sc = {tok, first, &printed, &n_printed};
	struct cli_greedy_result res;
	int err = cli_greedy(m, tok, ids, n, o.max_tokens, on_token, &sc, &res);
	if (err == -2)
		goto decode_fail;
	if (err) {
		cli_error(cmd, "forward pass failed");
		goto out;
	}
	fputc('\n', stdout);
	fprintf(stderr, "yopo generate: %ld tokens in %.3f s (%.1f tokens/s)%s\n", res.generated,
		res.seconds, res.seconds > 0 ? (double)res.generated / res.seconds : 0.0,
		res.hit_context ? ", stopped at the end of the context" : "");
	rc = 0;
	goto out;
decode_fail:
	cli_error(cmd, "cannot decode the generated tokens");
out:
	free(printed);
	free(ids);
	free(prompt);
	tokenizer_free(tok);
	model_close(m);
	return rc;
}
