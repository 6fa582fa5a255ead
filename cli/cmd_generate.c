/* yopo generate: greedy or sampled decoding from BOS (+ an optional prompt), streamed to stdout
 * (pipeline/stream.h, model/sampler.h). */
#include <stdio.h>

#include "cli.h"
#include "err.h"
#include "stream.h"

struct printed {
	char last; /* last byte written to stdout */
};

static int print_text(void *ctx, const char *text, size_t len)
{
	struct printed *p = ctx;
	if (len)
		p->last = text[len - 1];
	fwrite(text, 1, len, stdout);
	return fflush(stdout) ? -1 : 0;
}

int cmd_generate(int argc, char **argv)
{
	const char *model = NULL, *prompt = "";
	long max_tokens = 256;
	struct sample_opts so = {.temperature = 0, .top_k = 0, .top_p = 1, .seed = 0};
	unsigned long long seed = 0;
	const struct opt opts[] = {
		{"model", 'm', OPT_STRING, &model, 0, 0, "DIR",
		 "Hugging Face checkpoint directory (config.json,\n"
		 "model.safetensors, tokenizer.json)", NULL, true},
		{"prompt", 'p', OPT_STRING, &prompt, 0, 0, "TEXT",
		 "text to continue (default: empty)", NULL, false},
		{"max-tokens", 'n', OPT_LONG, &max_tokens, 1, 1000000, "N",
		 "number of tokens to generate (default 256)", NULL, false},
		{"temperature", 0, OPT_DOUBLE, &so.temperature, 0, 100, "T",
		 "0 (default): greedy; > 0: sample from softmax(logits / T)", NULL, false},
		{"top-k", 0, OPT_LONG, &so.top_k, 0, 1L << 30, "K",
		 "sample among the K most likely tokens only (0, default: all)", NULL, false},
		{"top-p", 0, OPT_DOUBLE, &so.top_p, 0, 1, "P",
		 "sample among the fewest most likely tokens whose probability\n"
		 "reaches P, in (0, 1] (default 1: all); applied after --top-k", NULL, false},
		{"seed", 0, OPT_SEED, &seed, 0, 0, "S",
		 "PCG32 seed of the sampling (default 0): same seed, same text", NULL, false},
	};
	const struct opt_cmd c = {"generate",
		"Decoding from BOS followed by the prompt: greedy by default, sampled with\n"
		"--temperature T > 0 (and --top-k, --top-p, --seed); stops at EOS, after N new tokens\n"
		"or at the end of the model's context. The text goes to stdout, the statistics line\n"
		"to stderr.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	if (so.top_p <= 0) {
		cli_error("generate", "--top-p: %g is out of range: it lies in (0, 1]", so.top_p);
		return 2;
	}
	if (so.temperature == 0 && (so.top_k > 0 || so.top_p < 1)) {
		cli_error("generate", "--top-k and --top-p need --temperature T > 0 (default 0: greedy)");
		return 2;
	}
	so.seed = seed;
	struct generate_result res;
	struct printed pr = {'\n'};
	char err[ERR_MAX];
	if (stream_generate(&res, model, prompt, max_tokens, &so, print_text, &pr, err, sizeof err))
		return cli_fail("generate", 1, 0, err);
	/* the statistics line starts on its own line even when stdout and stderr share a pipe */
	if (pr.last != '\n')
		fputc('\n', stdout);
	fflush(stdout);
	fprintf(stderr, "yopo generate: %ld tokens in %.3f s (%.1f tokens/s)%s\n", res.generated,
		res.seconds, res.seconds > 0 ? (double)res.generated / res.seconds : 0.0,
		res.hit_context ? ", stopped at the end of the context" : "");
	return 0;
}
