/* halfconv: F16 and BF16 arrays to f32, the conversion behind every stored-dtype layer read, and
 * single f32 values back (the writer's and the F16 KV cache's rounding).
 *
 * A 7B-shaped F16 checkpoint has 6.7e9 weights; converting them one element at a time with the
 * bit-level reference (branches for subnormals) took ~10 s per pass over the model, which every
 * streamed command pays once per layer read and probe sampling once per sampled step. The fast
 * path uses the CPU's F16C conversion (exact for every F16 value, subnormals included) and a
 * vector shift for BF16, 8 elements per instruction; it is picked at run time when the CPU has
 * AVX2 and F16C, else the references run.
 *
 * Inputs are little-endian 16-bit words at any alignment (a checkpoint's mapping); out holds n
 * floats and must not overlap in. */
#ifndef YOPO_HALFCONV_H
#define YOPO_HALFCONV_H

#include <stddef.h>
#include <stdint.h>

/* out (n) = the F16 values at in (n little-endian halves). */
void halfconv_f16(float *out, const void *in, size_t n);

/* out (n) = the BF16 values at in (n little-endian words). */
void halfconv_bf16(float *out, const void *in, size_t n);

/* The element-at-a-time references (bit manipulation, no CPU features). NaNs keep their payload
 * here; the F16C path returns them quieted, the only difference between the two. */
void halfconv_f16_ref(float *out, const void *in, size_t n);
void halfconv_bf16_ref(float *out, const void *in, size_t n);

/* The half (F16) and BF16 words nearest f (ties to even); NaN stays NaN (quiet, top payload bits
 * kept), values past the largest finite half round to infinity as IEEE rounding does. */
uint16_t halfconv_f16_of(float f);
uint16_t halfconv_bf16_of(float f);

/* Whether the fast path is in use on this CPU. */
int halfconv_fast(void);

#endif
