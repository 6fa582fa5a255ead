/* stream: yopo generate as one call — open the model, encode BOS + prompt (text.h), decode
 * greedily (model/generate.h) and hand each newly decoded piece of text to a callback as soon as
 * it is stable (a partial UTF-8 sequence from byte fallback can decode differently once its
 * continuation arrives, so only text whose earlier part is unchanged is passed on). */
#ifndef YOPO_STREAM_H
#define YOPO_STREAM_H

#include <stddef.h>

#include "generate.h"

enum stream_error {
	STREAM_OK = 0,
	STREAM_ERR_MODEL = -1,  /* the model directory cannot be opened */
	STREAM_ERR_PROMPT = -2, /* no BOS and no prompt, or the prompt fills the context */
	STREAM_ERR_DECODE = -3, /* the prompt or the generated tokens cannot be decoded */
	STREAM_ERR_FORWARD = -4,
	STREAM_ERR_NOMEM = -5,
	STREAM_ERR_OUTPUT = -6, /* on_text failed (stdout on a full disk): the reason is its errno */
};

/* Receives text (len bytes, not NUL-terminated) to append to what came before; non-zero stops
 * the run with STREAM_ERR_OUTPUT and the errno on_text left (a write error). */
typedef int stream_text_fn(void *ctx, const char *text, size_t len);

/* Decodes up to max_tokens after BOS + prompt from the model at dir; the prompt itself is passed
 * to on_text first. On success *res tells how many tokens came and why decoding stopped. */
int stream_generate(struct generate_result *res, const char *dir, const char *prompt,
		    long max_tokens, stream_text_fn *on_text, void *ctx, char *err, size_t errlen);

#endif
