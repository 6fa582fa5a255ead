/* yopo generate: greedy decoding from BOS (+ an optional prompt), streamed to stdout
 * (pipeline/stream.h). */
#include <stdio.h>

#include "cli.h"
#include "err.h"
#include "stream.h"

static int print_text(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	fwrite(text, 1, len, stdout);
	return fflush(stdout) ? -1 : 0;
}

int cmd_generate(int argc, char **argv)
{
	const char *model = NULL, *prompt = "";
	long max_tokens = 256;
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &model, 0, 0, "DIR",
		 "Hugging Face checkpoint directory (config.json,\n"
		 "model.safetensors, tokenizer.json)", NULL, true},
		{"prompt", 0, OPT_STRING, &prompt, 0, 0, "TEXT",
		 "text to continue (default: empty)", NULL, false},
		{"max-tokens", 0, OPT_LONG, &max_tokens, 1, 1000000, "N",
		 "number of tokens to generate (default 256)", NULL, false},
	};
	const struct opt_cmd c = {"generate",
		"Greedy decoding from BOS followed by the prompt; stops at EOS, after N new tokens\n"
		"or at the end of the model's context.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	struct generate_result res;
	char err[ERR_MAX];
	if (stream_generate(&res, model, prompt, max_tokens, print_text, NULL, err, sizeof err)) {
		cli_error("generate", "%s", err);
		return 1;
	}
	fputc('\n', stdout);
	fprintf(stderr, "yopo generate: %ld tokens in %.3f s (%.1f tokens/s)%s\n", res.generated,
		res.seconds, res.seconds > 0 ? (double)res.generated / res.seconds : 0.0,
		res.hit_context ? ", stopped at the end of the context" : "");
	return 0;
}
