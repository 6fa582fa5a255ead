/* kernel: yopo's own tight f32 matrix-product kernels for the shapes where a oneDNN call costs
 * more than it computes (single-token decoding, the small hidden sizes of the test models).
 *
 * Each call computes a range of output columns [j0, j1) so the caller can split a product into
 * chunks for the worker pool (pool.h); the column range of y written is exactly [j0, j1) of rows
 * [0, m). Accumulation is f32 in 8-lane vectors (contiguous loads, no gather); the summation
 * order therefore differs from the double-accumulating references matmul_nt_ref / matmul_nn_ref
 * (matmul.h), which the tests compare these kernels against.
 *
 * Compiled once per ISA level (x86-64-v4, -v3, baseline) and picked at load time (ifunc). */
#ifndef YOPO_KERNEL_H
#define YOPO_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* y[:, j0:j1] = x · w[j0:j1]ᵀ (+ bias[j0:j1]).
 *   y    (m, ldy) row-major, columns j0..j1-1 written
 *   x    (m, k) row-major
 *   w    (n, k) row-major, rows j0..j1-1 read
 *   bias (n) or NULL
 * Requires m, k > 0, 0 <= j0 < j1 <= ldy; y must not overlap the inputs. */
void kernel_nt(float *y, const float *x, const float *w, const float *bias, int m, int j0, int j1,
	       int k, int ldy);

/* kernel_nt with w stored as IEEE binary16 (n, k) (a checkpoint's F16 mapping, 2-byte aligned),
 * converted exactly as it is read — in registers when m <= 4, else 4 rows at a time into tile
 * (4, k) floats of scratch — with kernel_nt's products and sums, so y is bit-identical to
 * kernel_nt on w converted to f32, without an f32 copy of w. Same contract as kernel_nt. */
void kernel_nt_f16(float *y, const float *x, const uint16_t *w, const float *bias, int m, int j0,
		   int j1, int k, int ldy, float *tile);

/* y[:, j0:j1] = x · w[:, j0:j1] (+ bias[j0:j1]).
 *   y    (m, ldy) row-major, columns j0..j1-1 written
 *   x    (m, k) row-major
 *   w    (k, ldw) row-major, columns j0..j1-1 read
 *   bias (ldw) or NULL
 * Requires m, k > 0, 0 <= j0 < j1 <= min(ldy, ldw); y must not overlap the inputs. */
void kernel_nn(float *y, const float *x, const float *w, const float *bias, int m, int j0, int j1,
	       int k, int ldy, int ldw);

/* Causal attention of one query over keys lo..i of one kv head, softmax in between:
 *   o      (hd) written
 *   scores (max_seq) scratch; entries lo..i are overwritten
 *   q      (hd) the query
 *   kt     (hd, max_seq) keys, position-contiguous per dim (kt[d * max_seq + j])
 *   v      (max_seq, hd) values
 * o = sum_j softmax_j(scale * q·k_j) v_j. The exponential is a vectorised polynomial (relative
 * error about 2e-7, Cephes expf); requires 0 <= lo <= i < max_seq, hd > 0. */
void kernel_attend(float *o, float *scores, const float *q, const float *kt, const float *v,
		   int lo, int i, int hd, int max_seq, float scale);

/* Naive reference of kernel_attend: double accumulation and libm exp. Same contract. */
void kernel_attend_ref(float *o, float *scores, const float *q, const float *kt, const float *v,
		       int lo, int i, int hd, int max_seq, float scale);

/* Activation of the FFN, in place: y[i] = act(y[i]) (gate NULL) or y[i] *= act(gate[i]).
 *   y (n), gate (n) or NULL; must not overlap.
 * SiLU and tanh-GELU (as x sigmoid(2u)) use the vectorised exponential (relative error about
 * 2e-7); exact GELU (f32 erff) and ReLU are scalar. */
void kernel_act(float *y, const float *gate, size_t n, enum config_act kind);

/* Reference of kernel_act in double with libm. Same contract. */
void kernel_act_ref(float *y, const float *gate, size_t n, enum config_act kind);

#endif
