/* generate: greedy or sampled decoding (sampler.h) with the KV cache of forward.h.
 *
 * The prompt runs as one chunk, then one token per step; each step costs one forward_run of one
 * token (which touches each weight once) and one masked argmax over the logits. Everything is
 * allocated before the first step: the forward state, one logits buffer and the mask of ids the
 * tokenizer can decode (a vocabulary may be padded past the tokenizer's), so no step allocates,
 * creates a oneDNN primitive or makes another pass over the vocabulary. */
#ifndef YOPO_GENERATE_H
#define YOPO_GENERATE_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

struct generate_result {
	long generated;    /* new tokens appended to ids */
	bool hit_context;  /* stopped at the end of the model's context (max_position_embeddings) */
	double seconds;    /* wall time of the prompt chunk and every step */
};

/* Called with the whole sequence after each generated token; non-zero stops generation. */
typedef int generate_token_fn(void *ctx, const int *ids, size_t n);

enum generate_error {
	GENERATE_OK = 0,
	GENERATE_ERR_ARG = -1,      /* NULL model/tokenizer/ids/res, n == 0, n >= context, max < 0 */
	GENERATE_ERR_NOMEM = -2,
	GENERATE_ERR_FORWARD = -3,  /* the forward pass failed (e.g. a prompt id out of the vocab) */
	GENERATE_ERR_CALLBACK = -4, /* cb returned non-zero */
};

/* ids holds n prompt tokens (BOS included) and room for max_tokens more; stops at eos_id (-1:
 * none), after max_tokens or at the context end; only ids the tokenizer can decode are chosen.
 * cb may be NULL. On success *res is written; on failure a one-line reason goes to err (when
 * given) and ids may already hold tokens generated before the failure. */
int generate_greedy(struct generate_result *res, const struct model *m,
		    const struct tokenizer *tok, int eos_id, int *ids, size_t n,
		    long max_tokens, generate_token_fn *cb, void *ctx, char *err,
		    size_t errlen);

/* generate_greedy with each next token chosen by a sampler built from so (NULL: greedy; see
 * sampler.h): same seed, same tokens. Invalid sampling options are GENERATE_ERR_ARG. The sampler
 * is allocated once before the first step. */
int generate_sample(struct generate_result *res, const struct model *m,
		    const struct tokenizer *tok, int eos_id, int *ids, size_t n,
		    long max_tokens, const struct sample_opts *so, generate_token_fn *cb,
		    void *ctx, char *err, size_t errlen);

#endif
