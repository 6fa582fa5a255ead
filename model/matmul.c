/* matmul: dispatch between the own kernel and oneDNN, the split of a product into column chunks
 * for the worker pool, oneDNN's primitive cache, and the naive double-accumulating references.
 * The only file that includes dnnl.h and omp.h (oneDNN's runtime).
 *
 * Each cache entry owns one compiled primitive for a chunk shape; memory objects are wrapped
 * around the caller's arrays per chunk (a few microseconds, paid only on the large products this
 * path serves), so nothing is copied and workers share no memory object. Scratchpads and streams
 * are per pool worker, so chunks on different threads share no library state. */
#include "matmul.h"

#include <assert.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>
#include <omp.h>

#include "kernel.h"
#include "pool.h"

enum {
	MATMUL_CACHE_CAPACITY = 32,
	KERNEL_ALIGN = 8,	/* kernel chunks start on a multiple of this column */
	DNNL_ALIGN = 64,	/* oneDNN chunks: whole cache lines of y */
	CHUNKS_PER_THREAD = 4,	/* dynamic claiming needs more chunks than threads */
	/* matmul_choose: oneDNN from this many rows and multiply-adds on (bench-matmul table 1:
	 * the kernel wins every m <= 16 shape, oneDNN most m >= 32 ones above 4M multiply-adds) */
	DNNL_MIN_M = 32,
	DNNL_MIN_MACS = 1 << 22,
};

enum matmul_kind {
	MATMUL_KIND_NT,	/* right factor stored (n, k): w read as its transpose */
	MATMUL_KIND_NN,	/* right factor stored (k, n) */
};

/* One compiled primitive: a chunk of nc columns of a product whose y (and NN w) rows are ld
 * floats apart. */
struct matmul_key {
	enum matmul_kind kind;
	int m, nc, k, ld;
	bool has_bias;
	bool bf16;		/* src and weights BF16 (matmul_nt_bf16), else f32 */
	int omp_threads;	/* OpenMP team the primitive was created for */
};

struct matmul_entry {
	struct matmul_key key;
	uint64_t last_use;	/* 0 = slot empty */
	dnnl_primitive_t prim;
	dnnl_memory_desc_t src_md, wei_md, bias_md, dst_md, scratch_md;
	size_t scratch_bytes;
};

struct matmul {
	dnnl_engine_t engine;
	dnnl_stream_t stream[POOL_MAX_THREADS];	/* per pool worker, created on first use */
	void *scratch[POOL_MAX_THREADS];	/* per pool worker scratchpad, scratch_cap bytes */
	size_t scratch_cap[POOL_MAX_THREADS];
	enum matmul_path path;
	uint64_t tick;		/* LRU clock, advanced on every call */
	struct matmul_stats stats;
	uint16_t *xbf;		/* matmul_nt_bf16: x rounded to BF16, xbf_cap elements */
	size_t xbf_cap;
	struct matmul_entry cache[MATMUL_CACHE_CAPACITY];
};

const char *matmul_strerror(int err)
{
	switch (err) {
	case MATMUL_OK:
		return "success";
	case MATMUL_ERR_DNNL:
		return "oneDNN call failed";
	case MATMUL_ERR_NOMEM:
		return "out of memory";
	case MATMUL_ERR_ARG:
		return "invalid argument (NULL pointer or dimension <= 0)";
	default:
		return "unknown matmul error";
	}
}

int matmul_set_threads(int n)
{
	omp_set_num_threads(1);
	return pool_set_threads(n);
}

int matmul_get_threads(void)
{
	return pool_get_threads();
}

enum matmul_path matmul_choose(int m, int n, int k)
{
	if (m >= DNNL_MIN_M && (double)m * n * k >= DNNL_MIN_MACS)
		return MATMUL_PATH_DNNL;
	return MATMUL_PATH_KERNEL;
}

enum matmul_path matmul_path_for(const struct matmul *mm, int m, int n, int k)
{
	assert(mm);
	return mm->path != MATMUL_PATH_AUTO ? mm->path : matmul_choose(m, n, k);
}

void matmul_set_path(struct matmul *mm, enum matmul_path path)
{
	assert(mm);
	mm->path = path;
}

int matmul_new(struct matmul **out)
{
	int rc = MATMUL_ERR_DNNL;
	struct matmul *mm = NULL;

	if (!out)
		return MATMUL_ERR_ARG;
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return MATMUL_ERR_NOMEM;
	if (dnnl_engine_create(&mm->engine, dnnl_cpu, 0) != dnnl_success) {
		mm->engine = NULL;
		goto out;
	}
	mm->stats.capacity = MATMUL_CACHE_CAPACITY;
	*out = mm;
	mm = NULL;
	rc = MATMUL_OK;
out:
	matmul_free(mm);
	return rc;
}

/* Destroys the primitive of e and marks the slot empty. */
static void entry_clear(struct matmul_entry *e)
{
	if (e->prim)
		dnnl_primitive_destroy(e->prim);
	e->prim = NULL;
	e->scratch_bytes = 0;
	e->last_use = 0;
}

void matmul_free(struct matmul *mm)
{
	if (!mm)
		return;
	for (int i = 0; i < MATMUL_CACHE_CAPACITY; i++)
		entry_clear(&mm->cache[i]);
	for (int i = 0; i < POOL_MAX_THREADS; i++) {
		if (mm->stream[i])
			dnnl_stream_destroy(mm->stream[i]);
		free(mm->scratch[i]);
	}
	free(mm->xbf);
	if (mm->engine)
		dnnl_engine_destroy(mm->engine);
	free(mm);
}

void matmul_get_stats(const struct matmul *mm, struct matmul_stats *out)
{
	assert(mm && out);
	*out = mm->stats;
	out->entries = 0;
	for (int i = 0; i < MATMUL_CACHE_CAPACITY; i++)
		out->entries += mm->cache[i].last_use != 0;
}

static bool key_eq(const struct matmul_key *a, const struct matmul_key *b)
{
	return a->kind == b->kind && a->m == b->m && a->nc == b->nc && a->k == b->k &&
	       a->ld == b->ld && a->has_bias == b->has_bias && a->bf16 == b->bf16 &&
	       a->omp_threads == b->omp_threads;
}

/* Memory descriptors of a chunk: src (m, k), wei logical (k, nc), bias (1, nc), dst (m, nc) with
 * row stride ld. */
static int entry_descs(struct matmul_entry *e, const struct matmul_key *key)
{
	dnnl_dims_t src_dims = { key->m, key->k };
	dnnl_dims_t wei_dims = { key->k, key->nc };
	dnnl_dims_t bias_dims = { 1, key->nc };
	dnnl_dims_t dst_dims = { key->m, key->nc };
	dnnl_dims_t dst_strides = { key->ld, 1 };
	/* NT: chunk rows of w (n, k) are a contiguous (nc, k) block = (k, nc) with strides (1, k).
	 * NN: columns of w (k, n) = (k, nc) with strides (ld, 1). */
	dnnl_dims_t wei_strides = { 1, key->k };
	dnnl_data_type_t in = key->bf16 ? dnnl_bf16 : dnnl_f32;

	if (key->kind == MATMUL_KIND_NN) {
		wei_strides[0] = key->ld;
		wei_strides[1] = 1;
	}
	if (dnnl_memory_desc_init_by_tag(&e->src_md, 2, src_dims, in, dnnl_ab) != dnnl_success ||
	    dnnl_memory_desc_init_by_strides(&e->wei_md, 2, wei_dims, in, wei_strides)
	    != dnnl_success ||
	    dnnl_memory_desc_init_by_tag(&e->bias_md, 2, bias_dims, dnnl_f32, dnnl_ab) != dnnl_success ||
	    dnnl_memory_desc_init_by_strides(&e->dst_md, 2, dst_dims, dnnl_f32, dst_strides)
	    != dnnl_success)
		return MATMUL_ERR_DNNL;
	return MATMUL_OK;
}

/* Compiles the primitive for key into the empty slot e. On failure e is left empty. */
static int entry_build(struct matmul *mm, struct matmul_entry *e,
		       const struct matmul_key *key)
{
	int rc = MATMUL_ERR_DNNL;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_matmul_desc_t desc;
	const dnnl_memory_desc_t *scratch_md;

	if (entry_descs(e, key))
		goto out;
	if (dnnl_matmul_desc_init(&desc, &e->src_md, &e->wei_md,
				  key->has_bias ? &e->bias_md : NULL, &e->dst_md) != dnnl_success)
		goto out;
	if (dnnl_primitive_attr_create(&attr) != dnnl_success) {
		attr = NULL;
		goto out;
	}
	if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)
	    != dnnl_success)
		goto out;
	if (dnnl_primitive_desc_create(&pd, &desc, attr, mm->engine, NULL) != dnnl_success) {
		pd = NULL;
		goto out;
	}
	if (dnnl_primitive_create(&e->prim, pd) != dnnl_success) {
		e->prim = NULL;
		goto out;
	}
	scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	e->scratch_bytes = scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0;
	if (e->scratch_bytes > 0)
		e->scratch_md = *scratch_md;
	e->key = *key;
	rc = MATMUL_OK;
out:
	if (rc != MATMUL_OK)
		entry_clear(e);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return rc;
}

/* Finds or builds the entry for key; evicts the least recently used one when the cache is full. */
static int cache_get(struct matmul *mm, const struct matmul_key *key,
		     struct matmul_entry **out)
{
	struct matmul_entry *victim = NULL;
	int rc;

	for (int i = 0; i < MATMUL_CACHE_CAPACITY; i++) {
		struct matmul_entry *e = &mm->cache[i];

		if (e->last_use && key_eq(&e->key, key)) {
			e->last_use = ++mm->tick;
			mm->stats.hits++;
			*out = e;
			return MATMUL_OK;
		}
		if (!victim || e->last_use < victim->last_use)
			victim = e;
	}
	if (victim->last_use) {
		entry_clear(victim);
		mm->stats.evictions++;
	}
	rc = entry_build(mm, victim, key);
	if (rc)
		return rc;
	mm->stats.misses++;
	victim->last_use = ++mm->tick;
	*out = victim;
	return MATMUL_OK;
}

/* One product split into n_chunks column chunks of nc columns (the last may be shorter). */
struct job {
	struct matmul *mm;
	enum matmul_kind kind;
	float *y;
	const void *x, *w;	/* f32, or BF16 when esz == 2 (oneDNN path only) */
	const float *bias;
	size_t esz;		/* bytes per element of x and w */
	int m, n, k, nc;
	struct matmul_entry *full, *last;	/* oneDNN path only */
	int omp_threads;			/* OpenMP team per oneDNN call */
	atomic_int rc;
	bool f16;				/* kernel path: w is F16 (matmul_nt_f16) */
};

static void kernel_chunk(void *ctx, int chunk, int worker)
{
	struct job *jb = ctx;
	int j0 = chunk * jb->nc, j1 = j0 + jb->nc < jb->n ? j0 + jb->nc : jb->n;

	if (jb->f16)
		kernel_nt_f16(jb->y, (const float *)jb->x, (const uint16_t *)jb->w, jb->bias, jb->m,
			      j0, j1, jb->k, jb->n, jb->mm->scratch[worker]);
	else if (jb->kind == MATMUL_KIND_NT)
		kernel_nt(jb->y, (const float *)jb->x, (const float *)jb->w, jb->bias, jb->m, j0, j1,
			  jb->k, jb->n);
	else
		kernel_nn(jb->y, (const float *)jb->x, (const float *)jb->w, jb->bias, jb->m, j0, j1,
			  jb->k, jb->n, jb->n);
}

/* Memory object over the caller's buffer (oneDNN takes void *; inputs are only read). */
static dnnl_memory_t mem_wrap(const dnnl_memory_desc_t *md, dnnl_engine_t engine, const void *p)
{
	dnnl_memory_t mem;

	if (dnnl_memory_create(&mem, md, engine, (void *)p) != dnnl_success)
		return NULL;
	return mem;
}
static void dnnl_chunk(void *ctx, int chunk, int worker)
{
	struct job *jb = ctx;
	struct matmul *mm = jb->mm;
	int j0 = chunk * jb->nc;
	struct matmul_entry *e = j0 + jb->nc <= jb->n ? jb->full : jb->last;
	size_t w_off = jb->kind == MATMUL_KIND_NT ? (size_t)j0 * jb->k : (size_t)j0;
	const void *w = (const unsigned char *)jb->w + w_off * jb->esz;
	dnnl_memory_t mems[5] = { NULL };
	dnnl_exec_arg_t args[5];
	int nargs = 0;

	/* a pool worker is a thread of its own: keep oneDNN's OpenMP team at one thread there too */
	omp_set_num_threads(jb->omp_threads);
	mems[0] = mem_wrap(&e->src_md, mm->engine, jb->x);
	mems[1] = mem_wrap(&e->wei_md, mm->engine, w);
	mems[2] = mem_wrap(&e->dst_md, mm->engine, jb->y + j0);
	if (!mems[0] || !mems[1] || !mems[2])
		goto fail;
	args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, mems[0] };
	args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, mems[1] };
	args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, mems[2] };
	if (e->key.has_bias) {
		if (!(mems[3] = mem_wrap(&e->bias_md, mm->engine, jb->bias + j0)))
			goto fail;
		args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, mems[3] };
	}
	if (e->scratch_bytes) {
		if (!(mems[4] = mem_wrap(&e->scratch_md, mm->engine, mm->scratch[worker])))
			goto fail;
		args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, mems[4] };
	}
	if (dnnl_primitive_execute(e->prim, mm->stream[worker], nargs, args) != dnnl_success ||
	    dnnl_stream_wait(mm->stream[worker]) != dnnl_success)
		goto fail;
	goto out;
fail:
	atomic_store(&jb->rc, MATMUL_ERR_DNNL);
out:
	for (int i = 0; i < 5; i++)
		if (mems[i])
			dnnl_memory_destroy(mems[i]);
}

/* Worker i's scratch holds at least bytes (contents not kept). */
static int scratch_reserve(struct matmul *mm, int i, size_t bytes)
{
	if (bytes <= mm->scratch_cap[i])
		return MATMUL_OK;
	void *p = realloc(mm->scratch[i], bytes);
	if (!p)
		return MATMUL_ERR_NOMEM;
	mm->scratch[i] = p;
	mm->scratch_cap[i] = bytes;
	return MATMUL_OK;
}

/* Streams and scratchpads for workers 0..threads-1, sized for the chunks' primitives. */
static int workers_prepare(struct matmul *mm, int threads, size_t scratch_bytes)
{
	for (int i = 0; i < threads; i++) {
		if (!mm->stream[i] &&
		    dnnl_stream_create(&mm->stream[i], mm->engine, dnnl_stream_default_flags)
		    != dnnl_success) {
			mm->stream[i] = NULL;
			return MATMUL_ERR_DNNL;
		}
		if (scratch_reserve(mm, i, scratch_bytes))
			return MATMUL_ERR_NOMEM;
	}
	return MATMUL_OK;
}

/* Chunk width for n columns on `threads` threads: one chunk when the product is small or there is
 * one thread, else about CHUNKS_PER_THREAD per thread, a multiple of align. */
static int chunk_cols(int m, int n, int k, int threads, int align)
{
	int want, nc;

	if (threads <= 1 || (double)m * n * k < MATMUL_THREAD_MIN_MACS)
		return n;
	want = threads * CHUNKS_PER_THREAD;
	nc = (n + want - 1) / want;
	nc = (nc + align - 1) / align * align;
	return nc < n ? nc : n;
}

/* omp: one call on an OpenMP team of the pool's size (MATMUL_PATH_DNNL_OMP) instead of chunks. */
static int run_dnnl(struct job *jb, bool omp)
{
	struct matmul *mm = jb->mm;
	int threads = pool_get_threads(), n_chunks, rc;
	struct matmul_key key = { jb->kind, jb->m, 0, jb->k, jb->n, jb->bias != NULL, jb->esz == 2, 1 };
	size_t scratch;

	jb->omp_threads = key.omp_threads = omp ? threads : 1;
	omp_set_num_threads(jb->omp_threads);
	jb->nc = omp ? jb->n : chunk_cols(jb->m, jb->n, jb->k, threads, DNNL_ALIGN);
	n_chunks = (jb->n + jb->nc - 1) / jb->nc;
	key.nc = jb->nc;
	if ((rc = cache_get(mm, &key, &jb->full)))
		return rc;
	jb->last = jb->full;
	if (jb->n % jb->nc) {
		key.nc = jb->n % jb->nc;
		if ((rc = cache_get(mm, &key, &jb->last)))
			return rc;
	}
	scratch = jb->full->scratch_bytes > jb->last->scratch_bytes ? jb->full->scratch_bytes
								    : jb->last->scratch_bytes;
	if ((rc = workers_prepare(mm, n_chunks > 1 ? threads : 1, scratch)))
		return rc;
	mm->stats.dnnl_calls++;
	pool_run(dnnl_chunk, jb, n_chunks);
	omp_set_num_threads(1);
	return atomic_load(&jb->rc);
}

/* y (m, n), x (m, k), w (n, k) for NT or (k, n) for NN, bias (n) or NULL; all row-major. */
static int matmul_run(struct matmul *mm, enum matmul_kind kind, float *y, const float *x,
		      const float *w, const float *bias, int m, int n, int k)
{
	struct job jb = { mm, kind, y, x, w, bias, sizeof(float), m, n, k, n, NULL, NULL, 1, MATMUL_OK,
			  false };
	enum matmul_path path;

	if (!mm || !y || !x || !w || m <= 0 || n <= 0 || k <= 0)
		return MATMUL_ERR_ARG;
	path = matmul_path_for(mm, m, n, k);
	if (path == MATMUL_PATH_DNNL || path == MATMUL_PATH_DNNL_OMP)
		return run_dnnl(&jb, path == MATMUL_PATH_DNNL_OMP);
	jb.nc = chunk_cols(m, n, k, pool_get_threads(), KERNEL_ALIGN);
	mm->stats.kernel_calls++;
	pool_run(kernel_chunk, &jb, (n + jb.nc - 1) / jb.nc);
	return MATMUL_OK;
}

int matmul_nt(struct matmul *mm, float *y, const float *x, const float *w,
	      const float *bias, int m, int n, int k)
{
	return matmul_run(mm, MATMUL_KIND_NT, y, x, w, bias, m, n, k);
}

int matmul_nn(struct matmul *mm, float *y, const float *x, const float *w,
	      const float *bias, int m, int n, int k)
{
	return matmul_run(mm, MATMUL_KIND_NN, y, x, w, bias, m, n, k);
}

int matmul_nt_f16(struct matmul *mm, float *y, const float *x, const uint16_t *w,
		  const float *bias, int m, int n, int k)
{
	struct job jb = { mm, MATMUL_KIND_NT, y, x, w, bias, 2, m, n, k, n, NULL, NULL, 1,
			  MATMUL_OK, true };

	if (!mm || !y || !x || !w || m <= 0 || n <= 0 || k <= 0 || ((uintptr_t)w & 1))
		return MATMUL_ERR_ARG;
	int threads = pool_get_threads();
	jb.nc = chunk_cols(m, n, k, threads, KERNEL_ALIGN);
	/* kernel_nt_f16's tile: 4 converted rows of w per worker */
	for (int i = 0; i < threads; i++)
		if (scratch_reserve(mm, i, 4 * (size_t)k * sizeof(float)))
			return MATMUL_ERR_NOMEM;
	mm->stats.kernel_calls++;
	pool_run(kernel_chunk, &jb, (n + jb.nc - 1) / jb.nc);
	return MATMUL_OK;
}

bool matmul_has_bf16(void)
{
	return __builtin_cpu_supports("avx512bf16");
}

/* f32 -> BF16, round to nearest even (NaN stays NaN) */
static uint16_t bf16_round(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

int matmul_nt_bf16(struct matmul *mm, float *y, const float *x, const uint16_t *w,
		   const float *bias, int m, int n, int k)
{
	struct job jb = { mm, MATMUL_KIND_NT, y, NULL, w, bias, 2, m, n, k, n, NULL, NULL, 1,
			  MATMUL_OK, false };
	size_t nx = (size_t)m * (size_t)k;

	if (!mm || !y || !x || !w || m <= 0 || n <= 0 || k <= 0 || ((uintptr_t)w & 1))
		return MATMUL_ERR_ARG;
	if (nx > mm->xbf_cap) {
		uint16_t *p = realloc(mm->xbf, nx * sizeof *p);
		if (!p)
			return MATMUL_ERR_NOMEM;
		mm->xbf = p;
		mm->xbf_cap = nx;
	}
	for (size_t i = 0; i < nx; i++)
		mm->xbf[i] = bf16_round(x[i]);
	jb.x = mm->xbf;
	return run_dnnl(&jb, false);
}

/* y (m, n), x (m, k), w (n, k), bias (n) or NULL; all row-major. */
void matmul_nt_ref(float *y, const float *x, const float *w, const float *bias,
		   int m, int n, int k)
{
	assert(y && x && w && m > 0 && n > 0 && k > 0);
	for (size_t i = 0; i < (size_t)m; i++) {
		const float *xi = x + i * (size_t)k;

		for (size_t j = 0; j < (size_t)n; j++) {
			const float *wj = w + j * (size_t)k;
			double acc = bias ? bias[j] : 0.0;

			for (size_t p = 0; p < (size_t)k; p++)
				acc += (double)xi[p] * wj[p];
			y[i * (size_t)n + j] = (float)acc;
		}
	}
}

/* y (m, n), x (m, k), w (k, n), bias (n) or NULL; all row-major. */
void matmul_nn_ref(float *y, const float *x, const float *w, const float *bias,
		   int m, int n, int k)
{
	assert(y && x && w && m > 0 && n > 0 && k > 0);
	for (size_t i = 0; i < (size_t)m; i++) {
		const float *xi = x + i * (size_t)k;

		for (size_t j = 0; j < (size_t)n; j++) {
			double acc = bias ? bias[j] : 0.0;

			for (size_t p = 0; p < (size_t)k; p++)
				acc += (double)xi[p] * w[p * (size_t)n + j];
			y[i * (size_t)n + j] = (float)acc;
		}
	}
}
