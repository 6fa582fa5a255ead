/* halfconv: F16/BF16 -> f32 with F16C/AVX2 when the CPU has them. See halfconv.h. */
#include "halfconv.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HALFCONV_X86 1
#endif

static float f32_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static uint32_t bits_of_f32(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

/* f32 -> half, round to nearest even, by bit manipulation (the writer's conversion and the F16
 * KV cache's; one element at a time because both store with strides or into little-endian bytes) */
uint16_t halfconv_f16_of(float f)
{
	uint32_t x = bits_of_f32(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
	uint32_t ax = x & 0x7fffffffu;

	if (ax > 0x7f800000u) /* NaN: keep the top payload bits, force quiet so it stays NaN */
		return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
	if (ax >= 0x477ff000u) /* >= 65520 rounds past 65504 (ties to even goes up) */
		return (uint16_t)(sign | 0x7c00u);
	if (ax >= 0x38800000u) { /* normal half: >= 2^-14 */
		uint32_t h = (ax >> 13) - (112u << 10);
		uint32_t rest = ax & 0x1fffu;
		if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
			h++; /* a carry into the exponent is the correct rounding */
		return (uint16_t)(sign | h);
	}
	uint32_t e = ax >> 23;
	if (e < 102) /* below 2^-25: rounds to zero */
		return sign;
	/* subnormal half: q = value / 2^-24 = man x 2^(e-126), shift 14..24 */
	uint32_t man = (ax & 0x7fffffu) | 0x800000u;
	uint32_t shift = 126 - e;
	uint32_t q = man >> shift;
	uint32_t rest = man & ((1u << shift) - 1);
	uint32_t half = 1u << (shift - 1);
	if (rest > half || (rest == half && (q & 1u)))
		q++;
	return (uint16_t)(sign | q);
}

uint16_t halfconv_bf16_of(float f)
{
	uint32_t x = bits_of_f32(f);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x0040u);
	x += 0x7fffu + ((x >> 16) & 1u); /* overflow of the largest finite values into inf is correct */
	return (uint16_t)(x >> 16);
}

static uint16_t load_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static float f16_one(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;

	if (exp == 0x1f) /* inf / NaN: payload moves up unchanged */
		return f32_from_bits(sign | 0x7f800000u | (man << 13));
	if (exp != 0)
		return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
	if (man == 0)
		return f32_from_bits(sign);
	/* subnormal man x 2^-24: normalise so the leading 1 lands on bit 10 */
	uint32_t e = 113;
	while (!(man & 0x400u)) {
		man <<= 1;
		e--;
	}
	return f32_from_bits(sign | (e << 23) | ((man & 0x3ffu) << 13));
}

void halfconv_f16_ref(float *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	for (size_t i = 0; i < n; i++)
		out[i] = f16_one(load_le16(p + 2 * i));
}

void halfconv_bf16_ref(float *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	for (size_t i = 0; i < n; i++)
		out[i] = f32_from_bits((uint32_t)load_le16(p + 2 * i) << 16);
}

#ifdef HALFCONV_X86
__attribute__((target("avx2,f16c"))) static void f16_fast(float *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i));
		_mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
	}
	halfconv_f16_ref(out + i, p + 2 * i, n - i);
}

__attribute__((target("avx2"))) static void bf16_fast(float *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i));
		__m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
		_mm256_storeu_ps(out + i, _mm256_castsi256_ps(w));
	}
	halfconv_bf16_ref(out + i, p + 2 * i, n - i);
}
#endif

int halfconv_fast(void)
{
#ifdef HALFCONV_X86
	/* avx2 (which also checks that the OS saves the AVX state) from libgcc's CPU model; F16C
	 * from CPUID leaf 1, ECX bit 29: clang 14 knows no "f16c" for __builtin_cpu_supports.
	 * Asked once: in a virtual machine CPUID traps to the hypervisor (microseconds), and the
	 * F16 kernel converts a few rows per call (kernel_nt_f16). */
	static atomic_int known = -1;
	int fast = atomic_load_explicit(&known, memory_order_relaxed);
	if (fast < 0) {
		unsigned a, b, c, d;
		fast = __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) &&
		       (c >> 29 & 1);
		atomic_store_explicit(&known, fast, memory_order_relaxed);
	}
	return fast;
#else
	return 0;
#endif
}

void halfconv_f16(float *out, const void *in, size_t n)
{
#ifdef HALFCONV_X86
	if (halfconv_fast()) {
		f16_fast(out, in, n);
		return;
	}
#endif
	halfconv_f16_ref(out, in, n);
}

void halfconv_bf16(float *out, const void *in, size_t n)
{
#ifdef HALFCONV_X86
	if (halfconv_fast()) {
		bf16_fast(out, in, n);
		return;
	}
#endif
	halfconv_bf16_ref(out, in, n);
}
