/* matmul: dense f32 matrix products for the forward pass: yopo's own kernel for small shapes,
 * oneDNN for large ones, both split across the worker pool (pool.h) when the work is large.
 *
 * Dispatch (matmul_choose): a oneDNN call has a fixed cost (argument checks, memory objects,
 * dispatch into its JIT code) of several microseconds, which dominates single-token decoding and
 * the small hidden sizes of the test models; there the own kernel (kernel.h) wins. The rule's
 * thresholds come from bench/bench-matmul, which times both paths per shape and prints the
 * chosen one. The oneDNN path wraps caller buffers in memory objects (no copies) and keeps a
 * per-handle cache of compiled primitives, because creating one costs far more than running a
 * small product.
 *
 * Threads (matmul_set_threads): one policy for both paths. A product is split into column chunks
 * run by the worker pool only when it has at least MATMUL_THREAD_MIN_MACS multiply-adds; oneDNN's
 * own OpenMP runtime is held at one thread in every calling thread, so libgomp never starts a team
 * and never spins, whatever OMP_WAIT_POLICY says. OpenBLAS (env/linalg.c, linalg_set_threads) is
 * the only other threaded runtime and is not touched here.
 *
 * Each fast function has a naive double-accumulating reference beside it with the same contract,
 * used by the tests.
 *
 * Shapes: all matrices are row-major, f32, contiguous. Dimensions must be
 * positive (k = 0 is rejected too: no model layer has an empty reduction, and
 * treating it as an error catches uninitialised sizes early). */
#ifndef YOPO_MATMUL_H
#define YOPO_MATMUL_H

#include <stdbool.h>
#include <stdint.h>

enum matmul_error {
	MATMUL_OK = 0,
	MATMUL_ERR_DNNL = -1,	/* oneDNN refused a descriptor, primitive or execution */
	MATMUL_ERR_NOMEM = -2,
	MATMUL_ERR_ARG = -3,	/* NULL handle/buffer or a dimension <= 0 */
};

/* Which implementation runs a product. */
enum matmul_path {
	MATMUL_PATH_AUTO = 0,	/* matmul_choose decides per call (the default) */
	MATMUL_PATH_KERNEL,	/* yopo's own kernel (kernel.h) */
	MATMUL_PATH_DNNL,	/* oneDNN, column chunks on the worker pool */
	/* oneDNN in one call on its own OpenMP team of matmul_get_threads() threads: the library's
	 * native threading, for benchmarks only (it spins and splits statically; never chosen) */
	MATMUL_PATH_DNNL_OMP,
};

enum {
	/* Products smaller than this (m*n*k) run in the calling thread only: waking a worker costs
	 * tens of microseconds, and on a loaded machine the second core is often not free
	 * (bench/bench-matmul, table 2: no gain below ~2M multiply-adds even then). */
	MATMUL_THREAD_MIN_MACS = 1 << 21,
};

/* Static description of err (a matmul_error value); never NULL. */
const char *matmul_strerror(int err);

/* Owns a oneDNN CPU engine, per-worker streams and scratchpads and the primitive cache. Not
 * thread-safe: use one handle per thread. */
struct matmul;

/* Primitive-cache counters, for tests and benchmarks. */
struct matmul_stats {
	uint64_t hits;		/* calls that reused a cached primitive */
	uint64_t misses;	/* calls that had to create one */
	uint64_t evictions;	/* cached primitives destroyed to make room */
	int entries;		/* primitives currently cached */
	int capacity;		/* maximum number of cached primitives */
	uint64_t kernel_calls;	/* products run by the own kernel */
	uint64_t dnnl_calls;	/* products run by oneDNN */
};

/* Sets the threads every product may use, the caller included (n < 1: the online CPUs) and keeps
 * oneDNN's OpenMP runtime at one thread in the calling thread (each pool worker does the same).
 * Process-wide; call it between products, not while one runs. Returns the count in effect.
 * The caller also sets OpenBLAS with linalg_set_threads (env/) for a --threads option. */
int matmul_set_threads(int n);

/* Threads products may use (the online CPUs until matmul_set_threads is called). */
int matmul_get_threads(void);

/* The path MATMUL_PATH_AUTO takes for a product of shape (m, n, k): the measured rule. */
enum matmul_path matmul_choose(int m, int n, int k);

/* The path matmul_nt / matmul_nn on mm take for (m, n, k): the forced one, else matmul_choose's. */
enum matmul_path matmul_path_for(const struct matmul *mm, int m, int n, int k);

/* Forces a path for later calls on mm (tests and benchmarks); MATMUL_PATH_AUTO restores the
 * rule. mm must be non-NULL. */
void matmul_set_path(struct matmul *mm, enum matmul_path path);

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

/* True when the CPU has native BF16 dot products (avx512_bf16), where matmul_nt_bf16 runs
 * oneDNN's BF16 kernels; elsewhere oneDNN would emulate them slowly, so callers convert to f32. */
bool matmul_has_bf16(void);

/* matmul_nt with w stored as BF16 (n, k) (little-endian, 2-byte aligned, e.g. a checkpoint's
 * mapping): x is rounded to BF16 (into a buffer of the handle), products accumulate in f32 and y
 * is f32. Always oneDNN, column chunks on the worker pool as for matmul_nt. Errors as matmul_nt
 * (MATMUL_ERR_ARG also for an odd w). */
int matmul_nt_bf16(struct matmul *mm, float *y, const float *x, const uint16_t *w,
		   const float *bias, int m, int n, int k);

/* matmul_nt with w stored as F16 (n, k) (IEEE binary16, little-endian, 2-byte aligned: a
 * checkpoint's mapping), read as F16 and converted in registers: no f32 copy of w. Always the own
 * kernel (kernel_nt_f16), column chunks on the worker pool as matmul_nt's kernel path, so y is
 * bit-identical to matmul_nt on w converted to f32 whenever matmul_path_for(mm, m, n, k) is
 * MATMUL_PATH_KERNEL (every m < 32 unless a path is forced). For the few rows of decoding and
 * probe sampling, where converting a whole layer costs more than the product. Errors as
 * matmul_nt (MATMUL_ERR_ARG also for an odd w). */
int matmul_nt_f16(struct matmul *mm, float *y, const float *x, const uint16_t *w,
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
