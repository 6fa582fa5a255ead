/* sampler: the next token from a row of logits — greedy (temperature 0) or sampled from the
 * softmax at a temperature, optionally restricted to the top-k ids and to the smallest set of
 * ids whose probability reaches top-p (nucleus), in that order, as llama.cpp and Hugging Face
 * do. Randomness is one PCG32 stream seeded by the caller, so the same seed gives the same
 * tokens. All scratch space is allocated by sampler_new: a pick never allocates. */
#ifndef YOPO_SAMPLER_H
#define YOPO_SAMPLER_H

#include <stdint.h>

struct sample_opts {
	double temperature; /* 0: greedy (argmax, no random draw); else > 0 */
	long top_k;         /* 0: no limit */
	double top_p;       /* in (0, 1]; 1: no limit */
	uint64_t seed;      /* PCG32 seed */
};

enum sampler_error {
	SAMPLER_OK = 0,
	SAMPLER_ERR_ARG = -1, /* vocab < 1, temperature < 0 or not finite, top_k < 0, top_p outside (0, 1] */
	SAMPLER_ERR_NOMEM = -2,
};

struct sampler; /* opaque */

/* A sampler for rows of vocab logits. o NULL: greedy. On success *out is owned by the caller. */
int sampler_new(struct sampler **out, const struct sample_opts *o, int vocab);

/* The chosen id among those with mask[id] set (mask NULL: all ids); -1 when none is. Equal
 * logits rank by lower id. Non-finite logits are never chosen. */
int sampler_pick(struct sampler *s, const float *logits, const unsigned char *mask);

void sampler_free(struct sampler *s);

#endif
