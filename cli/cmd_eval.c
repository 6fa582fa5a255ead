/* yopo eval: perplexity of a checkpoint on a text file, with size and speed measures
 * (pipeline/measure.h). */
#include <stdio.h>

#include "cli.h"
#include "clock.h"
#include "err.h"
#include "summary.h"

struct progress {
	double t0;
	size_t last_pct;
};

static void on_progress(void *ctx, size_t done, size_t total)
{
	struct progress *p = ctx;
	if (cli_quiet())
		return;
	size_t pct = done * 100 / total;
	if (done != total && pct < p->last_pct + 10)
		return;
	p->last_pct = pct;
	fprintf(stderr, "yopo eval: window %zu/%zu (%zu%%), %.1f s\n", done, total, pct,
		util_now() - p->t0);
}

int cmd_eval(int argc, char **argv)
{
	const char *model = NULL, *text = NULL, *reference = NULL, *compute = NULL;
	long seq_len = 0, max_windows = 0;
	int json = 0;
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &model, 0, 0, "DIR",
		 "Hugging Face checkpoint directory", NULL, true},
		{"text", 0, OPT_STRING, &text, 0, 0, "FILE",
		 "UTF-8 text to evaluate on", NULL, true},
		{"reference", 0, OPT_STRING, &reference, 0, 0, "DIR",
		 "dense model to compare with: adds KL(reference || model) per predicted\n"
		 "token (mean, median, p99, nats) and top-1 agreement; same tokenizer and\n"
		 "vocabulary required", NULL, false},
		{"seq-len", 0, OPT_LONG, &seq_len, 2, 1 << 24, "N",
		 "window length (default: max_position_embeddings)", NULL, false},
		{"max-windows", 0, OPT_LONG, &max_windows, 1, 1L << 40, "N",
		 "evaluate only the first N windows (default: all)", NULL, false},
		{"compute", 0, OPT_CHOICE, &compute, 0, 0, "C",
		 "F16/BF16 checkpoints: native (default) keeps the weights in their dtype, one layer\n"
		 "converted to f32 at a time, BF16 products in BF16 where the CPU has avx512_bf16;\n"
		 "f32: every product in f32 (same NLL as a whole-model f32 copy). F32 checkpoints: f32",
		 "native,f32", false},
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL,
		 "print one JSON object: perplexity, nll, tokens, windows, params,\n"
		 "ffn_params, flops_per_token, bytes, tokens_per_s, peak_rss_bytes; with\n"
		 "--reference also kl_mean, kl_median, kl_p99, top1_agreement,\n"
		 "reference_perplexity", NULL, false},
	};
	const struct opt_cmd c = {"eval",
		"Perplexity with the standard protocol: the whole file is tokenized once with BOS at\n"
		"the start and cut into non-overlapping windows of N tokens; the mean negative\n"
		"log-likelihood is taken over every predicted position of every window.\n"
		"With --reference, each window also runs through the dense model, one window of\n"
		"logits at a time.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	char err[ERR_MAX];
	struct progress prog = {util_now(), 0};
	struct measure_text_result r;
	enum model_weights weights = compute && compute[0] == 'f' ? MODEL_WEIGHTS_STORED_F32
								  : MODEL_WEIGHTS_STORED;
	if (measure_text_weights(&r, model, reference, text, (int)seq_len, (size_t)max_windows,
				 weights, on_progress, &prog, err, sizeof err))
		return cli_fail("eval", 1, 0, err);
	if (json)
		return cli_json("eval", summary_eval_json(&r));
	summary_eval_text(stdout, model, reference, text, &r);
	return 0;
}
