/* generate: greedy decoding with a loaded model, shared by yopo generate and the compare report's
 * samples.
 *
 * ids holds n prompt tokens (BOS included when the model has one) and room for max_tokens more.
 * Each step appends the highest-logit id among those the tokenizer can decode (a checkpoint's
 * vocabulary may be padded past the tokenizer's); decoding stops at eos_id, after max_tokens
 * new tokens or at the end of the model's context (max_position_embeddings). */
#ifndef YOPO_GENERATE_H
#define YOPO_GENERATE_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "tokenizer.h"

struct generate_result {
	long generated;   /* new tokens appended to ids */
	bool hit_context; /* stopped at the end of the model's context */
	double seconds;   /* wall time of the decoding */
};

/* Called with the whole sequence (n tokens) after each generated token; non-zero stops. */
typedef int generate_token_fn(void *ctx, const int *ids, size_t n);

enum generate_error {
	GENERATE_OK = 0,
	GENERATE_ERR_ARG = -1,      /* n == 0, n at or past the context, max_tokens < 1 */
	GENERATE_ERR_NOMEM = -2,
	GENERATE_ERR_FORWARD = -3,  /* the forward pass failed */
	GENERATE_ERR_CALLBACK = -4, /* cb returned non-zero */
};

/* Greedy decoding (see above); cb may be NULL. eos_id < 0: no EOS. Returns 0 or a negative
 * generate_error with a one-line reason in err; *res is written on success only. */
int generate_greedy(struct generate_result *res, const struct model *m,
		    const struct tokenizer *tok, int eos_id, int *ids, size_t n, long max_tokens,
		    generate_token_fn *cb, void *ctx, char *err, size_t errlen);

#endif
