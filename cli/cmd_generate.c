/* yopo generate: greedy decoding from BOS (+ an optional prompt), streamed to stdout
 * (model/generate.h through pipeline/text.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "generate.h"
#include "text.h"

/* Prints the part of decode(ids) not yet printed, if the earlier part is unchanged (a partial
 * UTF-8 sequence from byte fallback can decode differently once its continuation arrives). */
struct stream {
	const struct tokenizer *tok;
	size_t first;   /* ids before this are not printed (BOS) */
	char *printed;
	size_t n_printed;
};

static int on_token(void *ctx, const int *ids, size_t n)
{
	struct stream *s = ctx;
	char *text = NULL;
	size_t len = 0;
	if (tokenizer_decode(s->tok, ids + s->first, n - s->first, 1, &text, &len))
		return -1;
	if (len >= s->n_printed && (s->n_printed == 0 || !memcmp(text, s->printed, s->n_printed))) {
		fwrite(text + s->n_printed, 1, len - s->n_printed, stdout);
		fflush(stdout);
		free(s->printed);
		s->printed = text;
		s->n_printed = len;
	} else {
		free(text);
	}
	return 0;
}

/* Encodes BOS + prompt with room for max_tokens, then decodes greedily. */
static int generate(struct generate_result *res, struct stream *s, const struct model *m,
		    const char *prompt, long max_tokens, char *err, size_t errlen)
{
	int *ids = NULL, rc = 1;
	size_t n = 0;
	if (text_encode(&ids, &n, m, s->tok, prompt, strlen(prompt), (size_t)max_tokens, err, errlen))
		return 1;
	s->first = text_bos_id(m, s->tok) >= 0 ? 1 : 0;
	if (n == 0)
		err_set(err, errlen, 1, "the model has no BOS token: give a --prompt");
	else if (n >= (size_t)m->cfg.max_pos)
		err_set(err, errlen, 1, "prompt is %zu tokens; the model's context is %d", n - s->first,
			m->cfg.max_pos);
	else if (on_token(s, ids, n))
		err_set(err, errlen, 1, "cannot decode the generated tokens");
	else if ((rc = generate_greedy(res, m, s->tok, text_eos_id(m, s->tok), ids, n, max_tokens,
				       on_token, s, err, errlen)) == GENERATE_ERR_CALLBACK)
		err_set(err, errlen, 1, "cannot decode the generated tokens");
	free(ids);
	return rc ? 1 : 0;
}

int cmd_generate(int argc, char **argv)
{
	const char *model = NULL, *prompt = "";
	long max_tokens = 256;
	const struct opt opts[] = {
		{"model", 0, OPT_STRING, &model, 0, 0, "DIR", "Hugging Face checkpoint directory (config.json,\nmodel.safetensors, tokenizer.json)", NULL, true},
		{"prompt", 0, OPT_STRING, &prompt, 0, 0, "TEXT", "text to continue (default: empty)", NULL, false},
		{"max-tokens", 0, OPT_LONG, &max_tokens, 1, 1000000, "N", "number of tokens to generate (default 256)", NULL, false},
	};
	const struct opt_cmd c = {"generate",
		"Greedy decoding from BOS followed by the prompt; stops at EOS, after N new tokens\n"
		"or at the end of the model's context.",
		opts, (int)(sizeof opts / sizeof opts[0])};
	int rc = cli_parse(&c, argc, argv);
	if (rc >= 0)
		return rc;
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct generate_result res;
	char err[ERR_MAX];
	if (text_open_model(&m, &tok, model, err, sizeof err)) {
		cli_error("generate", "%s", err);
		return 1;
	}
	struct stream s = {.tok = tok};
	if ((rc = generate(&res, &s, m, prompt, max_tokens, err, sizeof err)))
		cli_error("generate", "%s", err);
	else
		fputc('\n', stdout);
	if (!rc)
		fprintf(stderr, "yopo generate: %ld tokens in %.3f s (%.1f tokens/s)%s\n", res.generated,
			res.seconds, res.seconds > 0 ? (double)res.generated / res.seconds : 0.0,
			res.hit_context ? ", stopped at the end of the context" : "");
	free(s.printed);
	tokenizer_free(tok);
	model_close(m);
	return rc;
}
