/*
 * pcg32: O'Neill's PCG32 generator (64-bit LCG state, XSH-RR 32-bit output), the
 * "minimal C implementation" of pcg-random.org, plus the floating-point draws the
 * rest of yopo needs. All randomness in yopo flows through an explicitly passed
 * struct pcg32; there is no global generator.
 */
#ifndef YOPO_PCG32_H
#define YOPO_PCG32_H

#include <stdint.h>

/* Generator state. Public so callers can embed it by value and copy it to replay
 * a stream; treat the fields as opaque. */
struct pcg32 {
	uint64_t state;
	uint64_t inc; /* stream selector, always odd */
};

/* Seed like the reference pcg32_srandom_r(rng, initstate, initseq): state=0,
 * inc=(initseq<<1)|1, step, state+=initstate, step. Same seed => same stream. */
void pcg32_seed(struct pcg32 *r, uint64_t initstate, uint64_t initseq);

/* Next 32-bit output (reference pcg32_random_r). */
uint32_t pcg32_next(struct pcg32 *r);

/* Uniform integer in [0, bound) without modulo bias (reference
 * pcg32_boundedrand_r: rejects draws below 2^32 mod bound). bound must be > 0. */
uint32_t pcg32_bounded(struct pcg32 *r, uint32_t bound);

/* Uniform double in [0, 1) with 53 random bits; consumes two outputs. */
double pcg32_uniform(struct pcg32 *r);

/* Uniform double in the open interval (0, 1): a 52-bit grid shifted by half a
 * step, so it is never 0 or 1 (smallest 2^-53, largest 1 - 2^-53); two outputs. */
double pcg32_uniform_open(struct pcg32 *r);

/* Standard Gumbel draw -log(-log(u)), u from pcg32_uniform_open; always finite
 * (within about [-3.6, 36.7]). Two outputs. */
double pcg32_gumbel(struct pcg32 *r);

/* Standard normal draw by Box–Muller; uses both uniforms for one value and keeps
 * no cached second value, so the stream position depends only on the call count
 * (four outputs per call). */
double pcg32_normal(struct pcg32 *r);

#endif
