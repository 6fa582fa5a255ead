/* stream: prompt -> streamed greedy text. See stream.h. */
#include "stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "text.h"

struct state {
	const struct tokenizer *tok;
	size_t first;      /* ids before this are not decoded (BOS) */
	char *printed;     /* decoded text passed on so far */
	size_t n_printed;
	stream_text_fn *on_text;
	void *ctx;
	int out_errno;     /* on_text failed: its errno (EIO if none) */
};

/* Passes on the part of decode(ids) not yet passed, if the earlier part is unchanged. */
static int on_token(void *ctx, const int *ids, size_t n)
{
	struct state *s = ctx;
	char *text = NULL;
	size_t len = 0;
	if (tokenizer_decode(s->tok, ids + s->first, n - s->first, 1, &text, &len))
		return -1;
	if (len >= s->n_printed && (s->n_printed == 0 || !memcmp(text, s->printed, s->n_printed))) {
		errno = 0;
		int rc = s->on_text(s->ctx, text + s->n_printed, len - s->n_printed);
		if (rc)
			s->out_errno = errno ? errno : EIO;
		free(s->printed);
		s->printed = text;
		s->n_printed = len;
		return rc;
	}
	free(text);
	return 0;
}

static int from_generate(int e)
{
	switch (e) {
	case GENERATE_OK: return STREAM_OK;
	case GENERATE_ERR_NOMEM: return STREAM_ERR_NOMEM;
	case GENERATE_ERR_CALLBACK: return STREAM_ERR_DECODE;
	case GENERATE_ERR_ARG: return STREAM_ERR_PROMPT;
	}
	return STREAM_ERR_FORWARD;
}

/* Prompt checks, then the prompt is passed on and decoding runs. */
static int run(struct generate_result *res, struct state *s, const struct model *m, int *ids,
	       size_t n, long max_tokens, char *err, size_t errlen)
{
	if (n == 0)
		return err_set(err, errlen, STREAM_ERR_PROMPT,
			       "the model has no BOS token: give a --prompt");
	if (n >= (size_t)m->cfg.max_pos)
		return err_set(err, errlen, STREAM_ERR_PROMPT,
			       "prompt is %zu tokens; the model's context is %d", n - s->first,
			       m->cfg.max_pos);
	bool prompt = true;
	int e = on_token(s, ids, n) ? GENERATE_ERR_CALLBACK : GENERATE_OK;
	if (!e) {
		prompt = false;
		e = generate_greedy(res, m, s->tok, text_eos_id(m, s->tok), ids, n, max_tokens,
				    on_token, s, err, errlen);
	}
	if (e == GENERATE_ERR_CALLBACK && s->out_errno)
		return err_set(err, errlen, STREAM_ERR_OUTPUT, "cannot write the text: %s",
			       strerror(s->out_errno));
	if (e == GENERATE_ERR_CALLBACK)
		return err_set(err, errlen, STREAM_ERR_DECODE, "cannot decode the %s",
			       prompt ? "prompt" : "generated tokens");
	return from_generate(e);
}

int stream_generate(struct generate_result *res, const char *dir, const char *prompt,
		    long max_tokens, stream_text_fn *on_text, void *ctx, char *err, size_t errlen)
{
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	int *ids = NULL;
	size_t n = 0;
	if (text_open_model(&m, &tok, dir, err, errlen))
		return STREAM_ERR_MODEL;
	struct state s = {.tok = tok, .first = text_bos_id(m, tok) >= 0 ? 1 : 0, .on_text = on_text,
			  .ctx = ctx};
	int rc = text_encode(&ids, &n, m, tok, prompt, strlen(prompt), (size_t)max_tokens, err, errlen);
	if (rc)
		rc = rc == TEXT_ERR_NOMEM ? STREAM_ERR_NOMEM : STREAM_ERR_PROMPT;
	else
		rc = run(res, &s, m, ids, n, max_tokens, err, errlen);
	free(ids);
	free(s.printed);
	tokenizer_free(tok);
	model_close(m);
	return rc;
}
