/* probe: data-free probe tokens and the FFN activations they produce.
 *
 * No user text: sequences are sampled from the dense model itself (PCG32 seeded with
 * pcg32_seed(seed, PROBE_STREAM), temperature 1, each sequence starting at BOS and ending at
 * EOS — which it keeps — or at seq_len tokens, when the next one starts at BOS again) until
 * n_tokens tokens exist. Each sequence is then run as one window from position 0 with the forward
 * observer on FORWARD_POINT_FFN_HIDDEN, recording every layer's FFN intermediate a (the input of
 * the down projection: act(gate)·up in gated families) for every probe token.
 *
 * Memory: n_tokens × Σ_l ffn_l floats of activations (2000 probe tokens of an 8-layer, 512-wide
 * FFN: 32 MiB), plus one window of logits (seq_len × vocab floats) while collecting. */
#ifndef YOPO_PROBE_H
#define YOPO_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "pcg32.h"

#define PROBE_DEFAULT_TOKENS 2000
#define PROBE_STREAM 0x70726f62u /* "prob": the PCG32 stream of probe sampling */

enum probe_error {
	PROBE_OK = 0,
	PROBE_ERR_ARG = -1,     /* n_tokens < 2, seq_len < 2 */
	PROBE_ERR_NOMEM = -2,
	PROBE_ERR_FORWARD = -3, /* a forward pass failed */
	PROBE_ERR_NO_BOS = -4,  /* config.json names no BOS (nor EOS) token to start from */
};

const char *probe_strerror(int err);

struct probe {
	int n_layers, tokens, seq_len, n_seqs;
	uint64_t seed;
	int *ids;     /* (tokens) the sampled tokens, sequences back to back */
	int *starts;  /* (n_seqs + 1) first token of each sequence; starts[n_seqs] = tokens */
	int *ffn;     /* (n_layers) FFN width of each layer */
	float **act;  /* [layer] (tokens, ffn[layer]) FFN intermediate activations */
};

/* Samples n_tokens probe tokens from m (seq_len: sequence length, 0 = min(max_pos, 256)) and
 * records the activations. On success *out is owned by the caller (probe_free). Errors:
 * PROBE_ERR_ARG, PROBE_ERR_NO_BOS, PROBE_ERR_FORWARD, PROBE_ERR_NOMEM (reason in err). */
int probe_collect(struct probe **out, const struct model *m, int n_tokens, uint64_t seed,
		  int seq_len, char *err, size_t errlen);

void probe_free(struct probe *p);

/* msq, mabs (ffn[layer]) = E[a_i²], E[|a_i|] over the probe tokens (double sums). */
void probe_row_stats(double *msq, double *mabs, const struct probe *p, int layer);

/* Probe-importance baseline: scores (ffn[layer]) = E[a_i²] · ‖d_i‖², larger = keep (removing the
 * lowest ones removes the least output energy if neurons were uncorrelated). down (hidden, ffn). */
void probe_importance_rows(float *scores, const struct probe *p, int layer, const float *down,
			   int hidden);

/* Draws one token from softmax(logits) (vocab) at temperature 1: the first index whose
 * cumulative probability exceeds u·total, u = pcg32_uniform (two outputs). Double math. */
int probe_sample_token(const float *logits, int vocab, struct pcg32 *rng);

#endif
