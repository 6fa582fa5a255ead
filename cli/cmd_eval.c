/* yopo eval: perplexity of a checkpoint on a text file, with size and speed measures. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval.h"
#include "clock.h"
#include "file.h"
#include "forward.h"

static const char *const cmd = "eval";

/* Defaults of every option. */
static const struct eval_opts {
	const char *model; /* --model DIR (required) */
	const char *text;  /* --text FILE (required) */
	long seq_len;      /* --seq-len N; 0: the model's max_position_embeddings */
	long max_windows;  /* --max-windows N; 0: every window */
	int json;          /* --json: one JSON object on stdout */
} defaults = {NULL, NULL, 0, 0, 0};

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo eval --model DIR --text FILE [--seq-len N] [--max-windows N] [--json]\n"
		"Perplexity with the standard protocol: the whole file is tokenized once with BOS at\n"
		"the start and cut into non-overlapping windows of N tokens; the mean negative\n"
		"log-likelihood is taken over every predicted position of every window.\n"
		"  --model DIR       Hugging Face checkpoint directory\n"
		"  --text FILE       UTF-8 text to evaluate on\n"
		"  --seq-len N       window length (default: max_position_embeddings)\n"
		"  --max-windows N   evaluate only the first N windows (default: all)\n"
		"  --json            print one JSON object: perplexity, nll, tokens, windows, params,\n"
		"                    ffn_params, flops_per_token, bytes, tokens_per_s, peak_rss_bytes\n"
		"  --help            this text\n");
}

struct progress {
	double t0;
	size_t last_pct;
};

static void on_progress(void *ctx, size_t done, size_t total)
{
	struct progress *p = ctx;
	size_t pct = done * 100 / total;
	if (done != total && pct < p->last_pct + 10)
		return;
	p->last_pct = pct;
	fprintf(stderr, "yopo eval: window %zu/%zu (%zu%%), %.1f s\n", done, total, pct,
		util_now() - p->t0);
}

int cmd_eval(int argc, char **argv)
{
	struct eval_opts o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"text", required_argument, NULL, 't'},
		{"seq-len", required_argument, NULL, 's'},
		{"max-windows", required_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 't': o.text = optarg; break;
		case 's':
			if (cli_parse_long(cmd, "--seq-len", optarg, 2, 1 << 24, &o.seq_len))
				return 2;
			break;
		case 'w':
			if (cli_parse_long(cmd, "--max-windows", optarg, 1, 1L << 40, &o.max_windows))
				return 2;
			break;
		case 'j': o.json = 1; break;
		case 'h': help(stdout); return 0;
		default: help(stderr); return 2;
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!o.model || !o.text) {
		cli_error(cmd, "--model DIR and --text FILE are required (see --help)");
		return 2;
	}

	int rc = 1;
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct forward *f = NULL;
	char *text = NULL;
	int *enc = NULL, *ids = NULL;
	size_t len = 0, n_enc = 0;
	int err = util_read_file(&text, &len, o.text, UTIL_TEXT_MAX, false, NULL, 0);
	if (err) {
		cli_error(cmd, "%s: %s", o.text, util_strerror(err));
		goto out;
	}
	if (cli_open_model(cmd, o.model, &m, &tok))
		goto out;
	if (o.seq_len == 0)
		o.seq_len = m->cfg.max_pos;
	if (o.seq_len > m->cfg.max_pos) {
		cli_error(cmd, "--seq-len %ld exceeds the model's context (%d)", o.seq_len, m->cfg.max_pos);
		goto out;
	}
	if (tokenizer_encode(tok, text, len, &enc, &n_enc)) {
		cli_error(cmd, "%s: cannot tokenize", o.text);
		goto out;
	}
	int bos = cli_bos_id(m, tok);
	size_t n_ids = 0;
	ids = malloc((n_enc + 1) * sizeof *ids);
	if (!ids || forward_new(&f, m, (int)o.seq_len)) {
		cli_error(cmd, "out of memory");
		goto out;
	}
	if (bos >= 0)
		ids[n_ids++] = bos;
	memcpy(ids + n_ids, enc, n_enc * sizeof *ids);
	n_ids += n_enc;

	struct progress prog = {util_now(), 0};
	struct eval_result r;
	err = eval_perplexity(&r, f, m, ids, n_ids, (int)o.seq_len, (size_t)o.max_windows, on_progress,
			      &prog);
	if (err) {
		cli_error(cmd, "%s: %s", o.text, eval_strerror(err));
		goto out;
	}
	double flops = eval_flops_per_token(m, (int)o.seq_len);
	size_t rss = eval_peak_rss_bytes();
	if (o.json) {
		printf("{\"perplexity\": %.10g, \"nll\": %.10g, \"tokens\": %zu, \"windows\": %zu, "
		       "\"params\": %zu, \"ffn_params\": %zu, \"flops_per_token\": %.10g, \"bytes\": %zu, "
		       "\"tokens_per_s\": %.6g, \"peak_rss_bytes\": %zu}\n",
		       r.perplexity, r.nll, r.tokens, r.windows, m->n_params, m->n_ffn_params, flops,
		       m->file_bytes, r.tokens_per_s, rss);
	} else {
		char a[32], b[32];
		printf("model          %s (%s, %d layers, hidden %d, FFN %d)\n", o.model, m->cfg.model_type,
		       m->cfg.n_layers, m->cfg.hidden, m->cfg.ffn);
		printf("text           %s (%s tokens incl. BOS)\n", o.text, cli_group(a, sizeof a, n_ids));
		printf("windows        %zu x %ld tokens\n", r.windows, o.seq_len);
		printf("perplexity     %.4f\n", r.perplexity);
		printf("nll            %.6f nats over %s predicted tokens\n", r.nll,
		       cli_group(a, sizeof a, r.tokens));
		printf("params         %s (FFN %s)\n", cli_group(a, sizeof a, m->n_params),
		       cli_group(b, sizeof b, m->n_ffn_params));
		printf("FLOPs/token    %s\n", cli_group(a, sizeof a, (unsigned long long)flops));
		printf("bytes on disk  %s (safetensors)\n", cli_group(a, sizeof a, m->file_bytes));
		printf("tokens/s       %.1f\n", r.tokens_per_s);
		printf("peak RSS       %.1f MiB\n", (double)rss / (1 << 20));
	}
	rc = 0;
out:
	free(ids);
	free(enc);
	free(text);
	forward_free(f);
	tokenizer_free(tok);
	model_close(m);
	return rc;
}
