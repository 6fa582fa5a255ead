/* probe: data-free probe tokens and the FFN activations they produce.
 *
 * No user text: sequences are sampled from the dense model itself, temperature 1, each starting at
 * BOS and ending at EOS — which it keeps — or at seq_len tokens. Sequence s (s = 0, 1, ... in
 * order of start) draws from its own generator, pcg32_seed(seed, probe_seq_stream(s)) =
 * PROBE_STREAM ^ (s << 32), so its tokens do not depend on how sequences are interleaved. B lanes
 * (probe_sample's `lanes`, default PROBE_DEFAULT_LANES, at most n_tokens / 2) decode in lockstep:
 * lane l starts sequence l at BOS, every step runs the last token of every running lane through
 * one forward_run_lanes call (each layer read, and converted for stored weights, once per step
 * for all lanes; (B, in) x (in, out) products) and draws each lane's next token; a lane whose
 * sequence ended starts the next sequence (next s; lanes in order) at once. Sampling stops when
 * n_tokens tokens exist (counting every BOS): in the last step only the first running lanes that
 * fit decode, and sequences still running are truncated there. ids holds the sequences back to
 * back in order of s. About n_tokens / B steps. The ids are a function of (seed, n_tokens,
 * seq_len, lanes): a different lane count batches the products differently, which may change the
 * rounding of the logits and so a draw; lanes = 1 is one forward_run per token, sequence after
 * sequence. Each record step then runs each sequence as one window from position 0 with the
 * forward observer on FORWARD_POINT_FFN_HIDDEN, recording every layer's FFN intermediate a (the
 * input of the down projection: act(gate)·up in gated families) for every probe token.
 *
 * Memory: n_tokens × Σ_l ffn_l floats of activations (2000 probe tokens of an 8-layer, 512-wide
 * FFN: 32 MiB), plus one window of logits (seq_len × vocab floats) while collecting; sampling
 * holds B KV caches of the positions a lane can reach, min(seq_len, ceil(n_tokens / B) + 1)
 * (together ≈ n_tokens × n_layers × 2·n_kv·head_dim values: a 7B model, 2048 tokens, 2.16 GB in
 * f32) and B rows of logits. Caches that would take more than PROBE_KV_F16_MIN (512 MiB;
 * probe_set_kv_f16_min) in f32 are held in F16 (forward.h: keys and values rounded to the
 * nearest half; the 7B model's take 1.08 GB): the ids are then those of a model whose keys and
 * values are so rounded, which may change a draw against the f32 caches (the shared models'
 * caches are far smaller and stay f32). Should a key or value overflow F16, sampling starts over
 * with f32 caches. A stored model whose file is larger than PROBE_KEEP_PAGES_MAX (1 GiB;
 * probe_set_keep_pages_max) has its mapped pages held one layer at a time, as forward does by
 * default: each layer is prefetched before it runs and evicted after, so RSS counts one layer (7B
 * F16: 0.4 GB) and the LM head, not the file; a smaller file stays mapped (at most 1 GiB of RSS),
 * since its re-mapping dominates its small steps (a 4 x 512 F16 model, 16 lanes: 24 ms per step
 * evicted vs 10.5 ms kept). Until 2026-12-02 (session 5) every file of at most 3/4 of the RAM
 * stayed mapped (a 7B prune: peak RSS 14.8 GB; then 2.5 GB; with F16 KV caches
 * and the statistics taken while sampling, 1.4 GB). At 7B, what re-mapping costs per step
 * depends on the page cache: with the file cached in 2 MiB folios (what a cold read leaves here),
 * a 16-lane step took 1.96 s evicted and prefetched vs 1.86 s kept (1.05x; faulted in without
 * prefetch 1.93 s; same run, median of 5, noise 16 %); just after the file was written (small
 * folios, mapped 4 KiB at a time) 4.6 s vs 2.9 s (1.6x): this virtual machine makes a fresh
 * 4 KiB mapping slow to read the first time.
 *
 * Statistics while sampling: an observer on FORWARD_POINT_FFN_HIDDEN adds every sampled token's
 * FFN intermediate into sum_sq / sum_abs (Σa², Σ|a| per neuron and layer), which is all the probe
 * and policy scorers read (probe_row_stats). The last token of a sequence is drawn but never run
 * while sampling; it runs once, for the sums only, in the next step beside the next sequence's BOS
 * in the same lane (forward_run_lanes: a pos-0 row may share a lane with a later one; the BOS row
 * starts the lane's cache over), and any left at the end run in one last call. The draws are
 * those of sampling without it. The sums equal the statistics of probe_collect's activations up
 * to the rounding of the batched products (test-probe). So `yopo prune` needs no second pass:
 * until 2026-12-03 (session 7) it streamed the probes through the model once more, layer by layer.
 *
 * Streamed activations (yopo train on models too large to load): probe_sample draws the same ids
 * on a model opened with MODEL_WEIGHTS_MAPPED_F32 (one layer in f32 at a time, the same f32
 * values, so the same ids), then probe_stream_layer runs every sequence through one layer at a
 * time (layerstream.h) and leaves only that layer's activations in act: n_tokens × (hidden +
 * ffn_l) floats besides one layer's weights. The activations equal probe_collect's bit for bit.
 * Sampling runs one forward over all layers per lockstep step (a 7B model, 2048 tokens, 16 lanes:
 * ~130 reads of the whole model, each mapping and reading every layer once). */
#ifndef YOPO_PROBE_H
#define YOPO_PROBE_H

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>

#include "layerstream.h"
#include "model.h"
#include "pcg32.h"

#define PROBE_DEFAULT_TOKENS 2000
#define PROBE_DEFAULT_LANES 16
#define PROBE_STREAM 0x70726f62u /* "prob": the PCG32 streams of probe sampling */
#define PROBE_KEEP_PAGES_MAX ((size_t)1 << 30) /* probe_set_keep_pages_max's default: 1 GiB */
#define PROBE_KV_F16_MIN ((size_t)1 << 29)     /* probe_set_kv_f16_min's default: 512 MiB */

enum probe_error {
	PROBE_OK = 0,
	PROBE_ERR_ARG = -1,     /* n_tokens < 2, seq_len < 2, lanes < 0 */
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
	float **act;  /* [layer] (tokens, ffn[layer]) FFN intermediate activations; NULL for layers
		       * not collected (probe_sample: all; probe_stream_layer: all but the last one
		       * streamed) */
	double **sum_sq, **sum_abs; /* [layer] (ffn[layer]) Σ a_i² and Σ |a_i| of the FFN
				     * intermediate over every probe token, gathered while sampling
				     * (probe_sample); NULL in a probe built by hand */
};

/* Samples n_tokens probe tokens from m (seq_len: sequence length, 0 = min(max_pos, 256); lanes:
 * sequences decoded in lockstep, 0 = PROBE_DEFAULT_LANES) and records the activations. On success
 * *out is owned by the caller (probe_free). Errors: PROBE_ERR_ARG, PROBE_ERR_NO_BOS,
 * PROBE_ERR_FORWARD, PROBE_ERR_NOMEM (reason in err). */
int probe_collect(struct probe **out, const struct model *m, int n_tokens, uint64_t seed,
		  int seq_len, int lanes, char *err, size_t errlen);

/* probe_collect's sampling alone: ids, starts and the sums (sum_sq, sum_abs), every act[l] NULL.
 * m may keep its weights stored (MODEL_WEIGHTS_MAPPED_F32): the ids are those of the f32 model. */
int probe_sample(struct probe **out, const struct model *m, int n_tokens, uint64_t seed,
		 int seq_len, int lanes, char *err, size_t errlen);

/* The PCG32 stream (pcg32_seed's initseq) of probe sequence s: PROBE_STREAM ^ (s << 32). */
uint64_t probe_seq_stream(int s);

/* A layerstream (layerstream.h) of p's sequences through m (borrowed; may be weightless), each
 * sequence one window from position 0 as probe_collect runs it. *out owned by the caller
 * (layerstream_free). Errors: PROBE_ERR_ARG (layer count differs), PROBE_ERR_NOMEM,
 * PROBE_ERR_FORWARD. */
int probe_stream_open(struct layerstream **out, const struct probe *p, struct model *m,
		      char *err, size_t errlen);

/* Runs every probe sequence through `layer` (the next one of ls, 0 first) and leaves its
 * activations, and only those, in p->act[layer]: equal to probe_collect's. */
int probe_stream_layer(struct probe *p, struct layerstream *ls, int layer, char *err,
		       size_t errlen);

/* probe_stream_layer for every layer in order, keeping the activations of each layer l with
 * keep[l] (keep NULL: every layer): p->act then holds them, equal to probe_collect's, and NULL for
 * the others (n_tokens × Σ_kept ffn_l floats; yopo train, whose rewards revisit the layers it
 * trains), while only one layer's weights are ever held. Errors as probe_stream_layer. */
int probe_stream_all(struct probe *p, struct layerstream *ls, const bool *keep, char *err,
		     size_t errlen);

void probe_free(struct probe *p);

/* What a progress report counts: sampled tokens of n_tokens (probe_sample, after every lockstep
 * step), or layers streamed of n_layers (probe_stream_layer). */
enum probe_phase { PROBE_PHASE_SAMPLE, PROBE_PHASE_STREAM };
typedef void probe_progress_fn(void *ctx, enum probe_phase phase, int done, int total);

/* Sets the hook every later probe call of this process reports to (NULL: none). One per process
 * like the thread count: the commands that sample probes print their progress through it (a 7B
 * model samples for minutes). */
void probe_set_progress(probe_progress_fn *fn, void *ctx);

/* Stored models whose files take at most `bytes` keep their mapped pages between sampling steps;
 * larger ones hold one layer at a time (the memory note at the top). Default PROBE_KEEP_PAGES_MAX;
 * 0 evicts for every stored model, SIZE_MAX keeps them all (the tests compare the two). One per
 * process like probe_set_progress. */
void probe_set_keep_pages_max(size_t bytes);

/* Sampling's KV caches are held in F16 (forward.h, FORWARD_KV_F16) when in f32 they would take
 * more than `bytes`, else in f32 (the memory note at the top). Default PROBE_KV_F16_MIN; 0 holds
 * every model's in F16, SIZE_MAX none (the tests use both). One per process like
 * probe_set_progress. */
void probe_set_kv_f16_min(size_t bytes);

/* Whether probe_row_stats has what it needs for layer (0 <= layer < n_layers): sums, or act. */
bool probe_has_stats(const struct probe *p, int layer);

/* msq, mabs (ffn[layer]) = E[a_i²], E[|a_i|] over the probe tokens (double sums): from act[layer]
 * when p holds it (probe_collect, the streamed layers), else from sum_sq / sum_abs (a probe only
 * sampled: no activations needed). The two differ by the rounding of the products only (tokens
 * run in lanes vs in windows; test-probe). */
void probe_row_stats(double *msq, double *mabs, const struct probe *p, int layer);

/* Probe-importance baseline: scores (ffn[layer]) = E[a_i²] · ‖d_i‖², larger = keep (removing the
 * lowest ones removes the least output energy if neurons were uncorrelated), E[a_i²] as
 * probe_row_stats takes it. down (hidden, ffn). */
void probe_importance_rows(float *scores, const struct probe *p, int layer, const float *down,
			   int hidden);

/* Draws one token from softmax(logits) (vocab) at temperature 1: the first index whose
 * cumulative probability exceeds u·total, u = pcg32_uniform (two outputs). Double math. */
int probe_sample_token(const float *logits, int vocab, struct pcg32 *rng);

#endif
