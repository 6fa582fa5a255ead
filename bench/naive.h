/* naive: the benchmarks' reference forward pass, written like llama2.c's run.c: one token at a
 * time, plain loops over the same f32 weights (struct model) with f32 accumulation, no threads,
 * no library calls. Compiled with the build's default flags, it is the "plain C loop" yopo's
 * forward pass is measured against (bench-generate, bench-eval). Supports the sequential-residual
 * families (llama, mistral, qwen2, gpt_neo, gpt2, opt, gpt_neox_seq); others are rejected. */
#ifndef YOPO_BENCH_NAIVE_H
#define YOPO_BENCH_NAIVE_H

#include "model.h"

struct naive;

/* State for up to max_seq positions of m (borrowed). Returns NULL when out of memory or the
 * model's residual layout is not sequential. */
struct naive *naive_new(const struct model *m, int max_seq);
void naive_free(struct naive *nv);

/* Runs token at position pos (0 <= pos < max_seq) and returns its logits (vocab), valid until
 * the next call. */
const float *naive_step(struct naive *nv, int token, int pos);

#endif
