/* matmul: dense f32 matrix products for the forward pass, backed by oneDNN.
 *
 * The fast path wraps caller buffers in oneDNN memory objects (no copies) and
 * keeps a small per-handle cache of compiled primitives, because creating a
 * oneDNN primitive costs far more than running a small product. Each fast
 * function has a naive reference beside it with the same contract, used by
 * the tests and usable as a fallback.
 *
 * Shapes: all matrices are row-major, f32, contiguous. Dimensions must be
 * positive (k = 0 is rejected too: no model layer has an empty reduction, and
 * treating it as an error catches uninitialised sizes early). */
#ifndef YOPO_MATMUL_H
#define YOPO_MATMUL_H

#include <stdint.h>

enum matmul_error {
	MATMUL_OK = 0,
	MATMUL_ERR_DNNL = -1,	/* oneDNN refused a descriptor, primitive or execution */
	MATMUL_ERR_NOMEM = -2,
	MATMUL_ERR_ARG = -3,	/* NULL handle/buffer or a dimension <= 0 */
};

/* Static description of err (a matmul_error value); never NULL. */
const char *matmul_strerror(int err);

/* Owns a oneDNN CPU engine + stream and the primitive cache. Not thread-safe:
 * use one handle per thread. */
struct matmul;

/* Primitive-cache counters, for tests and benchmarks. */
struct matmul_stats {
	uint64_t hits;		/* calls that reused a cached primitive */
	uint64_t misses;	/* calls that had to create one */
	uint64_t evictions;	/* cached primitives destroyed to make room */
	int entries;		/* primitives currently cached */
	int capacity;		/* maximum number of cached primitives */
};

/* Creates a handle. On success *out owns it (release with matmul_free).
 * Errors: MATMUL_ERR_ARG (out NULL), MATMUL_ERR_NOMEM,
 * MATMUL_ERR_DNNL (engine or stream creation failed). */
int matmul_new(struct matmul **out);

/* Releases the handle and every cached primitive. NULL is a no-op. */
void matmul_free(struct matmul *mm);

/* y = x · wᵀ (+ bias): the Linear layer with nn.Linear (out, in) weights.
 *   y    (m, n) row-major, written
 *   x    (m, k) row-major
 *   w    (n, k) row-major
 *   bias (n) or NULL
 * y must not overlap x, w or bias. On an argument, memory or setup error y
 * is untouched; if oneDNN fails while executing, y's contents are unspecified.
 * Errors: MATMUL_ERR_ARG, MATMUL_ERR_NOMEM, MATMUL_ERR_DNNL. */
int matmul_nt(struct matmul *mm, float *y, const float *x, const float *w,
	      const float *bias, int m, int n, int k);

/* y = x · w (+ bias): for products whose right factor is stored (k, n),
 * e.g. attention output = probs · V.
 *   y    (m, n) row-major, written
 *   x    (m, k) row-major
 *   w    (k, n) row-major
 *   bias (n) or NULL
 * Same errors and aliasing rule as matmul_nt. */
int matmul_nn(struct matmul *mm, float *y, const float *x, const float *w,
	      const float *bias, int m, int n, int k);

/* Writes the handle's cache counters into *out. mm and out must be non-NULL. */
void matmul_get_stats(const struct matmul *mm, struct matmul_stats *out);

/* Naive reference of matmul_nt with double accumulation. Same shapes and
 * aliasing rule; arguments must be valid (asserted), there is no error path. */
void matmul_nt_ref(float *y, const float *x, const float *w, const float *bias,
		   int m, int n, int k);

/* Naive reference of matmul_nn with double accumulation; as matmul_nt_ref. */
void matmul_nn_ref(float *y, const float *x, const float *w, const float *bias,
		   int m, int n, int k);

#endif
