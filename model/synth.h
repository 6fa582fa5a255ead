/* synth: synthetic checkpoints (random weights, any family and size) for demos, tests and
 * benchmarks. The result is a complete Hugging Face directory: config.json, model.safetensors,
 * a byte-level tokenizer.json (256 byte tokens + <|endoftext|>, no merges) and
 * generation_config.json. Its numbers mean nothing: callers must say the model is synthetic. */
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

struct synth_spec {
	enum config_family family;
	int n_layers, hidden, ffn, n_heads, n_kv_heads, vocab, max_pos;
	enum safetensors_dtype dtype;
	uint64_t seed;         /* same spec and seed -> same bytes */
	float scale;           /* weight std-dev; 0 -> 1/sqrt(fan_in) */
};

/* Fills spec with a small default model of `family` (2 layers, hidden 64, ...). */
void synth_spec_default(struct synth_spec *spec, enum config_family family);

/* Writes the checkpoint into dir (created if missing; must be empty or absent). */
int synth_write(const char *dir, const struct synth_spec *spec);

#endif
