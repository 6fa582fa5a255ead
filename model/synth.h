/* synth: synthetic checkpoints (random weights, any family and size) for demos, tests and
 * benchmarks. The result is a complete Hugging Face directory: config.json, model.safetensors,
 * a byte-level tokenizer.json (256 byte tokens + <|endoftext|>, no merges) and
 * generation_config.json. Its numbers mean nothing: callers must say the model is synthetic.
 * Weights are generated while the file is written, so memory use does not grow with the model
 * (a 7B-shaped F16 checkpoint, 13.5 GB, is written in a few MB of RSS). */
#ifndef YOPO_SYNTH_H
#define YOPO_SYNTH_H

#include <stdint.h>

#include "config.h"
#include "safetensors.h"

enum synth_error {
	SYNTH_OK = 0,
	SYNTH_ERR_ARG = -1,    /* sizes out of range or inconsistent */
	SYNTH_ERR_IO = -2,     /* cannot create dir or write a file */
	SYNTH_ERR_NOMEM = -3,
};

const char *synth_strerror(int err);

/* PCG32 stream of the weights: pcg32_seed(spec->seed, SYNTH_RNG_STREAM), one pcg32_normal per
 * element, tensors in file order. */
#define SYNTH_RNG_STREAM 0x73796e74u /* "synt" */

struct synth_spec {
	enum config_family family;
	int n_layers, hidden, ffn, n_heads, n_kv_heads, vocab, max_pos;
	enum safetensors_dtype dtype;
	uint64_t seed;         /* same spec and seed -> same bytes */
	float scale;           /* matrix weight std-dev; 0 -> 1/sqrt(fan_in) (vectors: 0.02) */
};

/* Fills spec with a small default model of `family` (2 layers, hidden 64, ...). */
void synth_spec_default(struct synth_spec *spec, enum config_family family);

/* Fills spec with the Llama-2-7B shape: 32 layers, hidden 4096, ffn 11008, 32 heads (32 kv),
 * vocab 32000, max_pos 4096, F16, seed 1: 6,738,415,616 parameters, 13,476,831,232 bytes of
 * tensor data. */
void synth_spec_7b(struct synth_spec *spec);

/* Writes the checkpoint into dir (created if missing; must be empty or absent). Errors:
 * SYNTH_ERR_ARG for an unknown family or dtype, a size out of range (layers 1..CONFIG_MAX_LAYERS,
 * hidden and ffn 1..2^20, vocab 257..2^24, max_pos 2..2^24), hidden not a multiple of n_heads,
 * n_heads not a multiple of n_kv_heads, or a negative / non-finite scale (dir is not touched);
 * SYNTH_ERR_IO if dir is not empty or a file cannot be written; SYNTH_ERR_NOMEM. On error the
 * files written so far are removed, and dir too if this call created it. */
int synth_write(const char *dir, const struct synth_spec *spec);

#endif
