/* kernel: register-blocked f32 products in GCC vector extensions. See kernel.h.
 *
 * NT: a block of MR rows of x times NR rows of w keeps MR*NR 8-lane accumulators in registers
 * over the shared contiguous dimension k, then reduces each to a scalar (the k % 8 tail is added
 * in scalar). Rows past the end of the block are clamped to the last valid row and their results
 * dropped, so every block runs the same unrolled code. NT with F16 weights runs the same blocks on
 * exactly converted values (in registers, or 4 rows at a time into a tile), hence the same bits. NN: a row of x broadcasts into 4 vectors
 * (32 columns) of w's rows. Built with -O3 -ffp-contract=fast (model/meson.build): the multiply
 * adds become FMAs; no reassociation beyond the explicit lanes. */
#include "kernel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "halfconv.h"

typedef float vf8 __attribute__((vector_size(32)));
typedef int vi8 __attribute__((vector_size(32)));
#if !defined(__clang__)
/* IEEE binary16: with F16C (the v3 and v4 clones) a vector conversion is one vcvtph2ps */
__extension__ typedef _Float16 f16_t;
__extension__ typedef _Float16 vh8 __attribute__((vector_size(16)));
#endif

#if defined(__clang__)
/* clang 14 builds no symbol for "arch=" clones; the clang (fuzz) build uses -mavx2 instead */
#define CLONES
#else
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#define INLINE static inline __attribute__((always_inline))

enum {
	LANES = 8,
	MR_MAX = 4,
	NR_MAX = 8,
	NN_VECS = 4,	/* vectors of columns per NN tile */
};

INLINE vf8 load8(const float *p)
{
	vf8 v;

	memcpy(&v, p, sizeof v);
	return v;
}

INLINE void store8(float *p, vf8 v)
{
	memcpy(p, &v, sizeof v);
}

INLINE float hsum8(vf8 v)
{
#if defined(__clang__) /* the fuzz build: clang spells GCC's __builtin_shuffle differently */
	v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
	v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
	v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
#else
	v += __builtin_shuffle(v, (vi8){ 4, 5, 6, 7, 0, 1, 2, 3 });
	v += __builtin_shuffle(v, (vi8){ 2, 3, 0, 1, 6, 7, 4, 5 });
	v += __builtin_shuffle(v, (vi8){ 1, 0, 3, 2, 5, 4, 7, 6 });
#endif
	return v[0];
}

/* 8 elements of w from element `at`: f32, or F16 converted exactly (half, a constant at every
 * call site, so each instantiation keeps one branch). */
INLINE vf8 wload8(const void *w, size_t at, int half)
{
	if (!half)
		return load8((const float *)w + at);
#if defined(__clang__) /* the fuzz build (no x86 _Float16 in clang 14) never runs the kernels */
	float t[LANES];
	halfconv_f16_ref(t, (const uint16_t *)w + at, LANES);
	return load8(t);
#else
	vh8 h;
	memcpy(&h, (const uint16_t *)w + at, sizeof h);
	return __builtin_convertvector(h, vf8);
#endif
}

INLINE float wload1(const void *w, size_t at, int half)
{
	if (!half)
		return ((const float *)w)[at];
#if defined(__clang__)
	float t;
	halfconv_f16_ref(&t, (const uint16_t *)w + at, 1);
	return t;
#else
	f16_t h;
	memcpy(&h, (const uint16_t *)w + at, sizeof h);
	return (float)h;
#endif
}

/* y rows i..i+mr-1, columns j..j+nr-1 (those < m, < j1); x (m, k), w (n, k) f32 or (half) F16,
 * y (m, ldy). mr, nr and half are compile-time constants at every call site: the F16 form does
 * the f32 form's arithmetic on exactly converted values, so their results are bit-identical. */
INLINE void nt_block(float *restrict y, const float *restrict x, const void *restrict w,
		     const float *restrict bias, int m, int i, int j, int j1, int k, int ldy,
		     int mr, int nr, int half)
{
	const float *xr[MR_MAX];
	size_t wr[NR_MAX]; /* first element of each row of w */
	vf8 acc[MR_MAX][NR_MAX];
	int p;

	for (int r = 0; r < mr; r++)
		xr[r] = x + (size_t)(i + r < m ? i + r : m - 1) * k;
	for (int c = 0; c < nr; c++)
		wr[c] = (size_t)(j + c < j1 ? j + c : j1 - 1) * k;
	for (int r = 0; r < mr; r++)
		for (int c = 0; c < nr; c++)
			acc[r][c] = (vf8){ 0 };
	for (p = 0; p + LANES <= k; p += LANES) {
		vf8 wv[NR_MAX];

		for (int c = 0; c < nr; c++)
			wv[c] = wload8(w, wr[c] + p, half);
		for (int r = 0; r < mr; r++) {
			vf8 xv = load8(xr[r] + p);

			for (int c = 0; c < nr; c++)
				acc[r][c] += xv * wv[c];
		}
	}
	for (int r = 0; r < mr; r++)
		for (int c = 0; c < nr; c++) {
			float s = hsum8(acc[r][c]);

			for (int q = p; q < k; q++)
				s += xr[r][q] * wload1(w, wr[c] + q, half);
			if (i + r < m && j + c < j1)
				y[(size_t)(i + r) * ldy + j + c] = s + (bias ? bias[j + c] : 0.0f);
		}
}

/* kernel_nt and kernel_nt_f16's direct form: the blocking for the element type `half`. */
INLINE void nt_blocks(float *y, const float *x, const void *w, const float *bias, int m, int j0,
		      int j1, int k, int ldy, int half)
{
	if (m == 1) {
		/* decode: one row of x, wide over w for independent accumulators */
		for (int j = j0; j < j1; j += 8)
			nt_block(y, x, w, bias, m, 0, j, j1, k, ldy, 1, 8, half);
		return;
	}
	for (int j = j0; j < j1; j += 4)
		for (int i = 0; i < m; i += 4)
			nt_block(y, x, w, bias, m, i, j, j1, k, ldy, 4, 4, half);
}

CLONES void kernel_nt(float *y, const float *x, const float *w, const float *bias, int m, int j0,
		      int j1, int k, int ldy)
{
	nt_blocks(y, x, w, bias, m, j0, j1, k, ldy, 0);
}

CLONES void kernel_nt_f16(float *y, const float *x, const uint16_t *w, const float *bias, int m,
			  int j0, int j1, int k, int ldy, float *tile)
{
	if (m <= MR_MAX) {
		/* one block of x rows: each weight is used once, converted in registers */
		nt_blocks(y, x, w, bias, m, j0, j1, k, ldy, 1);
		return;
	}
	/* Several blocks of x rows reuse each 4 rows of w: convert them once into tile, then run
	 * kernel_nt's f32 blocks on it (columns j..j+3 as columns 0..3 of y + j): the same values
	 * in the same order as kernel_nt on the converted matrix. */
	for (int j = j0; j < j1; j += 4) {
		int nr = j1 - j < 4 ? j1 - j : 4;
		halfconv_f16(tile, w + (size_t)j * k, (size_t)nr * k);
		for (int i = 0; i < m; i += 4)
			nt_block(y + j, x, tile, bias ? bias + j : NULL, m, i, 0, nr, k, ldy, 4, 4, 0);
	}
}

/* y row i, columns j..j+32 of x (m, k) · w (k, ldw). */
INLINE void nn_tile(float *restrict yr, const float *restrict xr, const float *restrict w,
		    const float *restrict bias, int j, int k, int ldw)
{
	vf8 acc[NN_VECS];

	for (int v = 0; v < NN_VECS; v++)
		acc[v] = bias ? load8(bias + j + v * LANES) : (vf8){ 0 };
	for (int p = 0; p < k; p++) {
		const float *wp = w + (size_t)p * ldw + j;
		vf8 xs = (vf8){ 0 } + xr[p];

		for (int v = 0; v < NN_VECS; v++)
			acc[v] += xs * load8(wp + v * LANES);
	}
	for (int v = 0; v < NN_VECS; v++)
		store8(yr + j + v * LANES, acc[v]);
}

CLONES void kernel_nn(float *y, const float *x, const float *w, const float *bias, int m, int j0,
		      int j1, int k, int ldy, int ldw)
{
	const int tile = NN_VECS * LANES;

	for (int i = 0; i < m; i++) {
		float *restrict yr = y + (size_t)i * ldy;
		const float *restrict xr = x + (size_t)i * k;
		int j = j0;

		for (; j + tile <= j1; j += tile)
			nn_tile(yr, xr, w, bias, j, k, ldw);
		for (; j < j1; j++) {
			float s = bias ? bias[j] : 0.0f;

			for (int p = 0; p < k; p++)
				s += xr[p] * w[(size_t)p * ldw + j];
			yr[j] = s;
		}
	}
}

/* Lanes of a where mask is all ones, else b. */
INLINE vf8 select8(vi8 mask, vf8 a, vf8 b)
{
	return (vf8)(((vi8)a & mask) | ((vi8)b & ~mask));
}

/* e^x (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial, 2^n from the exponent
 * bits); x is clamped to [-87, 88]: no denormals, no infinities. */
INLINE vf8 exp8(vf8 x)
{
	const vf8 lo = (vf8){ 0 } - 87.0f, hi = (vf8){ 0 } + 88.0f;
	const vf8 magic = (vf8){ 0 } + 12582912.0f; /* 1.5 * 2^23 */
	vf8 n, r, p;
	vi8 e;

	x = select8(x < lo, lo, x);
	x = select8(x > hi, hi, x);
	n = (x * 1.44269504088896341f + magic) - magic; /* round to nearest */
	r = x - n * 0.693359375f - n * -2.12194440e-4f;
	p = (vf8){ 0 } + 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * (r * r) + r + 1.0f;
	e = (__builtin_convertvector(n, vi8) + 127) << 23;
	return p * (vf8)e;
}

/* s[j] = e^(s[j] - mx) for j < len; returns their sum (f32 lanes, summed in double). */
INLINE double exp_sum(float *restrict s, int len, float mx)
{
	vf8 acc = (vf8){ 0 };
	double sum = 0;
	int j = 0;

	for (; j + LANES <= len; j += LANES) {
		vf8 e = exp8(load8(s + j) - mx);

		store8(s + j, e);
		acc += e;
	}
	for (; j < len; j++) {
		vf8 e = exp8((vf8){ 0 } + (s[j] - mx));

		s[j] = e[0];
		sum += s[j];
	}
	for (int l = 0; l < LANES; l++)
		sum += acc[l];
	return sum;
}

CLONES void kernel_attend(float *o, float *scores, const float *q, const float *kt,
			  const float *v, int lo, int i, int hd, int max_seq, float scale)
{
	int len = i - lo + 1;
	float *restrict s = scores + lo;
	float *restrict out = o;
	float mx = -INFINITY;

	for (int j = 0; j < len; j++)
		s[j] = 0;
	/* dims outside, keys inside: contiguous and vectorised over keys, while each key's dot
	 * product still sums its dims in order */
	for (int d = 0; d < hd; d++) {
		const float *restrict kd = kt + (size_t)d * max_seq + lo;
		float qd = q[d];

		for (int j = 0; j < len; j++)
			s[j] += qd * kd[j];
	}
	for (int j = 0; j < len; j++) {
		s[j] *= scale;
		mx = s[j] > mx ? s[j] : mx;
	}
	float inv = (float)(1.0 / exp_sum(s, len, mx));
	if (hd % LANES == 0) {
		/* 8 dims at a time, 4 independent accumulators over keys (FMA latency) */
		for (int d0 = 0; d0 < hd; d0 += LANES) {
			const float *vd = v + (size_t)lo * hd + d0;
			vf8 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
			int j = 0;

			for (; j + 4 <= len; j += 4) {
				a0 += s[j] * load8(vd + (size_t)j * hd);
				a1 += s[j + 1] * load8(vd + (size_t)(j + 1) * hd);
				a2 += s[j + 2] * load8(vd + (size_t)(j + 2) * hd);
				a3 += s[j + 3] * load8(vd + (size_t)(j + 3) * hd);
			}
			for (; j < len; j++)
				a0 += s[j] * load8(vd + (size_t)j * hd);
			store8(out + d0, ((a0 + a1) + (a2 + a3)) * inv);
		}
		return;
	}
	for (int d = 0; d < hd; d++)
		out[d] = 0;
	for (int j = 0; j < len; j++) {
		const float *restrict vv = v + (size_t)(lo + j) * hd;
		float p = s[j] * inv;

		for (int d = 0; d < hd; d++)
			out[d] += p * vv[d];
	}
}

void kernel_attend_ref(float *o, float *scores, const float *q, const float *kt, const float *v,
		       int lo, int i, int hd, int max_seq, float scale)
{
	double mx = -INFINITY, sum = 0;

	for (int j = lo; j <= i; j++) {
		double acc = 0;

		for (int d = 0; d < hd; d++)
			acc += (double)q[d] * kt[(size_t)d * max_seq + j];
		scores[j] = (float)(acc * scale);
		mx = fmax(mx, scores[j]);
	}
	for (int j = lo; j <= i; j++)
		sum += exp(scores[j] - mx);
	for (int d = 0; d < hd; d++) {
		double acc = 0;

		for (int j = lo; j <= i; j++)
			acc += exp(scores[j] - mx) / sum * v[(size_t)j * hd + d];
		o[d] = (float)acc;
	}
}

/* act(x) for SiLU and tanh-GELU. */
INLINE vf8 act8(vf8 x, enum config_act kind)
{
	if (kind == CONFIG_ACT_SILU)
		return x / (1.0f + exp8(-x));
	/* 0.5 x (1 + tanh u) = x sigmoid(2u) = x / (1 + e^(-2u)): no cancellation for x < 0 */
	vf8 u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
	return x / (1.0f + exp8(-2.0f * u));
}

static float act1(float x, enum config_act kind)
{
	switch (kind) {
	case CONFIG_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
	case CONFIG_ACT_RELU: return x > 0 ? x : 0;
	default: return act8((vf8){ 0 } + x, kind)[0];
	}
}

CLONES void kernel_act(float *y, const float *gate, size_t n, enum config_act kind)
{
	float *restrict out = y;
	const float *restrict g = gate;
	size_t i = 0;

	if (kind == CONFIG_ACT_SILU || kind == CONFIG_ACT_GELU_TANH)
		for (; i + LANES <= n; i += LANES) {
			vf8 a = act8(load8(g ? g + i : out + i), kind);

			store8(out + i, g ? load8(out + i) * a : a);
		}
	for (; i < n; i++)
		out[i] = g ? out[i] * act1(g[i], kind) : act1(out[i], kind);
}

void kernel_act_ref(float *y, const float *gate, size_t n, enum config_act kind)
{
	for (size_t i = 0; i < n; i++) {
		double x = gate ? gate[i] : y[i], a = 0;

		switch (kind) {
		case CONFIG_ACT_SILU: a = x / (1.0 + exp(-x)); break;
		case CONFIG_ACT_GELU: a = 0.5 * x * (1.0 + erf(x / sqrt(2.0))); break;
		case CONFIG_ACT_GELU_TANH:
			a = 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
			break;
		case CONFIG_ACT_RELU: a = x > 0 ? x : 0; break;
		}
		y[i] = gate ? (float)(y[i] * a) : (float)a;
	}
}
