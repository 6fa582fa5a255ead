/* matmul: oneDNN-backed f32 products with a per-handle primitive cache, plus
 * naive double-accumulating references. The only file that includes dnnl.h.
 *
 * Each cache entry owns one compiled matmul primitive and the memory objects
 * that describe its operands; the memory objects are created without a buffer
 * and pointed at the caller's arrays on every call, so nothing is copied.
 * Scratchpad is user-managed (one growable buffer per handle) so that handles
 * used on different threads share no library state. */
#include "matmul.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <dnnl.h>

enum {
	MATMUL_CACHE_CAPACITY = 16,
};

enum matmul_kind {
	MATMUL_KIND_NT,	/* right factor stored (n, k): w read as its transpose */
	MATMUL_KIND_NN,	/* right factor stored (k, n) */
};

struct matmul_key {
	enum matmul_kind kind;
	int m, n, k;
	bool has_bias;
};

struct matmul_entry {
	struct matmul_key key;
	uint64_t last_use;	/* 0 = slot empty */
	dnnl_primitive_t prim;
	dnnl_memory_t src, wei, bias, dst, scratch;	/* bias/scratch may be NULL */
	size_t scratch_bytes;
};

struct matmul {
	dnnl_engine_t engine;
	dnnl_stream_t stream;
	uint64_t tick;		/* LRU clock, advanced on every call */
	void *scratch;		/* shared scratchpad buffer, scratch_cap bytes */
	size_t scratch_cap;
	struct matmul_stats stats;
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
	if (dnnl_stream_create(&mm->stream, mm->engine, dnnl_stream_default_flags)
	    != dnnl_success) {
		mm->stream = NULL;
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

/* Destroys whatever part of e exists and marks the slot empty. */
static void entry_clear(struct matmul_entry *e)
{
	dnnl_memory_t *mems[] = { &e->src, &e->wei, &e->bias, &e->dst, &e->scratch };

	if (e->prim)
		dnnl_primitive_destroy(e->prim);
	for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++) {
		if (*mems[i])
			dnnl_memory_destroy(*mems[i]);
		*mems[i] = NULL;
	}
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
	if (mm->stream)
		dnnl_stream_destroy(mm->stream);
	if (mm->engine)
		dnnl_engine_destroy(mm->engine);
	free(mm->scratch);
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
	return a->kind == b->kind && a->m == b->m && a->n == b->n &&
	       a->k == b->k && a->has_bias == b->has_bias;
}

/* Memory object with no buffer of its own; the handle is set per call. */
static int mem_create(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
		      dnnl_engine_t engine)
{
	if (dnnl_memory_create(mem, md, engine, DNNL_MEMORY_NONE) != dnnl_success) {
		*mem = NULL;
		return MATMUL_ERR_DNNL;
	}
	return MATMUL_OK;
}

/* Compiles the primitive for key into the empty slot e. On failure e is left
 * empty. */
static int entry_build(struct matmul *mm, struct matmul_entry *e,
		       const struct matmul_key *key)
{
	int rc = MATMUL_ERR_DNNL;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_matmul_desc_t desc;
	dnnl_memory_desc_t src_md, wei_md, bias_md, dst_md;
	const dnnl_memory_desc_t *scratch_md;
	dnnl_dims_t src_dims = { key->m, key->k };
	dnnl_dims_t wei_dims = { key->k, key->n };	/* logical (k, n) */
	dnnl_dims_t bias_dims = { 1, key->n };
	dnnl_dims_t dst_dims = { key->m, key->n };
	/* (k, n) with tag ba has strides (1, k): exactly w (n, k) row-major. */
	dnnl_format_tag_t wei_tag = key->kind == MATMUL_KIND_NT ? dnnl_ba : dnnl_ab;

	if (dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_f32, dnnl_ab) != dnnl_success ||
	    dnnl_memory_desc_init_by_tag(&wei_md, 2, wei_dims, dnnl_f32, wei_tag) != dnnl_success ||
	    dnnl_memory_desc_init_by_tag(&bias_md, 2, bias_dims, dnnl_f32, dnnl_ab) != dnnl_success ||
	    dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab) != dnnl_success)
		goto out;
	if (dnnl_matmul_desc_init(&desc, &src_md, &wei_md,
				  key->has_bias ? &bias_md : NULL, &dst_md) != dnnl_success)
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
	if (mem_create(&e->src, &src_md, mm->engine) ||
	    mem_create(&e->wei, &wei_md, mm->engine) ||
	    mem_create(&e->dst, &dst_md, mm->engine) ||
	    (key->has_bias && mem_create(&e->bias, &bias_md, mm->engine)))
		goto out;
	scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	e->scratch_bytes = scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0;
	if (e->scratch_bytes > 0 && mem_create(&e->scratch, scratch_md, mm->engine))
		goto out;
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

/* Finds or builds the entry for key; evicts the least recently used one when
 * the cache is full. */
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

static int set_handle(dnnl_memory_t mem, const void *ptr)
{
	/* oneDNN takes void *; inputs are only read. */
	return dnnl_memory_set_data_handle(mem, (void *)ptr) == dnnl_success
	       ? MATMUL_OK : MATMUL_ERR_DNNL;
}

/* y (m, n), x (m, k), w (n, k) for NT or (k, n) for NN, bias (n) or NULL;
 * all row-major. */
static int matmul_run(struct matmul *mm, enum matmul_kind kind, float *y,
		      const float *x, const float *w, const float *bias,
		      int m, int n, int k)
{
	struct matmul_key key = { kind, m, n, k, bias != NULL };
	struct matmul_entry *e;
	dnnl_exec_arg_t args[5];
	int nargs = 0;
	int rc;

	if (!mm || !y || !x || !w || m <= 0 || n <= 0 || k <= 0)
		return MATMUL_ERR_ARG;
	rc = cache_get(mm, &key, &e);
	if (rc)
		return rc;
	if (e->scratch_bytes > mm->scratch_cap) {
		void *p = realloc(mm->scratch, e->scratch_bytes);

		if (!p)
			return MATMUL_ERR_NOMEM;
		mm->scratch = p;
		mm->scratch_cap = e->scratch_bytes;
	}
	if (set_handle(e->src, x) || set_handle(e->wei, w) || set_handle(e->dst, y) ||
	    (e->bias && set_handle(e->bias, bias)) ||
	    (e->scratch && set_handle(e->scratch, mm->scratch)))
		return MATMUL_ERR_DNNL;
	args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, e->src };
	args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, e->wei };
	args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, e->dst };
	if (e->bias)
		args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, e->bias };
	if (e->scratch)
		args[nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, e->scratch };
	if (dnnl_primitive_execute(e->prim, mm->stream, nargs, args) != dnnl_success ||
	    dnnl_stream_wait(mm->stream) != dnnl_success)
		return MATMUL_ERR_DNNL;
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
