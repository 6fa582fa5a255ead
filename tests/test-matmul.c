/* test-matmul: both paths (own kernel, oneDNN) and the dispatch rule of matmul_nt/matmul_nn
 * against the naive references, single- and multi-threaded; the references against
 * hand-computed products; the attention kernel against its reference; the worker pool;
 * primitive-cache behaviour and argument errors. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kernel.h"
#include "halfconv.h"
#include "matmul.h"
#include "pool.h"
#include "testutil.h"

enum { CAP = 32 };	/* the primitive cache's capacity */

/* Guard floats after each output buffer: catches writes past (m, n). */
enum { GUARD = 8 };
static const float GUARD_VALUE = 12345.0f;

/* xorshift64* state; passed explicitly, never global. */
struct rng {
	uint64_t s;
};

static float rng_unit(struct rng *r)	/* uniform in [-1, 1) */
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (float)((r->s * 2685821657736338717ULL) >> 40) / (float)(1 << 23) - 1.0f;
}

static float *rand_buf(struct rng *r, size_t count, float scale)
{
	float *p = malloc(count * sizeof(*p));

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < count; i++)
		p[i] = rng_unit(r) * scale;
	return p;
}

static float *out_buf(size_t count)
{
	float *p = malloc((count + GUARD) * sizeof(*p));

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < count + GUARD; i++)
		p[i] = (i < count) ? NAN : GUARD_VALUE;
	return p;
}

static void assert_guard(const float *p, size_t count)
{
	for (size_t i = count; i < count + GUARD; i++)
		ck_assert_float_eq(p[i], GUARD_VALUE);
}

/* Relative tolerance 1e-4 for values of order one. One assertion per buffer: Check logs every
 * passing assertion, which would dominate the run time on the large shapes. */
static void assert_close(const float *got, const float *want, size_t count)
{
	size_t worst_i = 0;
	double worst = -1;

	for (size_t i = 0; i < count; i++) {
		double e = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));

		if (!(e <= worst)) {	/* NaN counts as the worst */
			worst = isnan(e) ? INFINITY : e;
			worst_i = i;
		}
	}
	ck_assert_msg(worst <= 1e-4, "element %zu: got %g want %g", worst_i, got[worst_i],
		      want[worst_i]);
}

/* Runs the fast kind (nt or nn) and its reference on random data of shape
 * (m, n, k) and compares. Inputs are scaled by 1/sqrt(k) so outputs are O(1). */
static void check_shape(struct matmul *mm, struct rng *r, bool nn, int m, int n,
			int k, bool with_bias)
{
	/* exact tolerance is per element in assert_close */
	size_t mn = (size_t)m * n;
	float *x = rand_buf(r, (size_t)m * k, 1.0f);
	float *w = rand_buf(r, (size_t)n * k, 1.0f / sqrtf((float)k));
	float *bias = with_bias ? rand_buf(r, (size_t)n, 1.0f) : NULL;
	float *y = out_buf(mn);
	float *y_ref = out_buf(mn);
	int rc;

	if (nn) {
		rc = matmul_nn(mm, y, x, w, bias, m, n, k);
		matmul_nn_ref(y_ref, x, w, bias, m, n, k);
	} else {
		rc = matmul_nt(mm, y, x, w, bias, m, n, k);
		matmul_nt_ref(y_ref, x, w, bias, m, n, k);
	}
	ck_assert_msg(rc == MATMUL_OK, "%dx%dx%d: %s", m, n, k, matmul_strerror(rc));
	assert_close(y, y_ref, mn);
	assert_guard(y, mn);
	assert_guard(y_ref, mn);
	free(x);
	free(w);
	free(bias);
	free(y);
	free(y_ref);
}

struct shape {
	int m, n, k;
	bool bias;
};

static const struct shape shapes[] = {
	{ 1, 1, 1, false },
	{ 1, 1, 1, true },
	{ 1, 172, 64, false },
	{ 1, 172, 64, true },
	{ 7, 13, 5, false },
	{ 7, 13, 5, true },
	{ 512, 64, 172, false },
	{ 512, 64, 172, true },
	{ 33, 512, 64, false },
	{ 33, 512, 64, true },
	{ 3, 1, 257, true },	/* single output column */
	{ 1, 511, 3, false },
	{ 17, 19, 23, true },
	{ 64, 512, 128, true },	/* GPT-Neo c_fc */
	{ 5, 14019 / 7, 128, false },
};
enum { N_SHAPES = sizeof(shapes) / sizeof(shapes[0]) };

static const enum matmul_path paths[] = { MATMUL_PATH_AUTO, MATMUL_PATH_KERNEL, MATMUL_PATH_DNNL,
					  MATMUL_PATH_DNNL_OMP };
enum { N_PATHS = sizeof(paths) / sizeof(paths[0]) };

/* Every shape on every path, with 1 and 2 threads: _i = (shape, path, threads). */
static void check_table_row(bool nn, int i)
{
	struct matmul *mm = NULL;
	struct rng r = { (nn ? 0x2545f4914f6cdd1dULL : 0x9e3779b97f4a7c15ULL) + (uint64_t)i };
	const struct shape *s = &shapes[i % N_SHAPES];
	struct matmul_stats st;

	matmul_set_threads(1 + (i / (N_SHAPES * N_PATHS)) % 2);
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	matmul_set_path(mm, paths[(i / N_SHAPES) % N_PATHS]);
	check_shape(mm, &r, nn, s->m, s->n, s->k, s->bias);
	matmul_get_stats(mm, &st);
	/* the forced path is the one that ran */
	if (paths[(i / N_SHAPES) % N_PATHS] == MATMUL_PATH_KERNEL)
		ck_assert(st.kernel_calls == 1 && st.dnnl_calls == 0);
	if (paths[(i / N_SHAPES) % N_PATHS] >= MATMUL_PATH_DNNL)
		ck_assert(st.kernel_calls == 0 && st.dnnl_calls == 1);
	matmul_free(mm);
}

START_TEST(test_nt_vs_ref)
{
	check_table_row(false, _i);
}
END_TEST

START_TEST(test_nn_vs_ref)
{
	check_table_row(true, _i);
}
END_TEST

/* The rule sends decode and small-model shapes to the kernel, large products to oneDNN, and
 * AUTO follows it. */
START_TEST(test_dispatch_rule)
{
	struct matmul *mm = NULL;
	struct matmul_stats st;
	struct rng r = { 99 };

	ck_assert_int_eq(matmul_choose(1, 64, 64), MATMUL_PATH_KERNEL);
	ck_assert_int_eq(matmul_choose(1, 14019, 128), MATMUL_PATH_KERNEL);
	ck_assert_int_eq(matmul_choose(1, 11008, 4096), MATMUL_PATH_KERNEL);
	ck_assert_int_eq(matmul_choose(8, 11008, 4096), MATMUL_PATH_KERNEL);
	ck_assert_int_eq(matmul_choose(16, 14019, 128), MATMUL_PATH_KERNEL);
	ck_assert_int_eq(matmul_choose(512, 172, 64), MATMUL_PATH_DNNL);
	ck_assert_int_eq(matmul_choose(128, 11008, 4096), MATMUL_PATH_DNNL);
	ck_assert_int_eq(matmul_choose(256, 14019, 128), MATMUL_PATH_DNNL);
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	check_shape(mm, &r, false, 1, 64, 64, false);
	check_shape(mm, &r, false, 256, 2000, 128, true);
	matmul_get_stats(mm, &st);
	ck_assert_uint_eq(st.kernel_calls, 1);
	ck_assert_uint_eq(st.dnnl_calls, 1);
	matmul_free(mm);
}
END_TEST

/* Products large enough to be split into chunks, with n not a multiple of the chunk width. */
static const struct shape big_shapes[] = {
	{ 64, 1000, 128, true },
	{ 2, 14019, 128, false },
	{ 48, 777, 300, false },
	{ 200, 3001, 64, true },
};
enum { N_BIG = sizeof(big_shapes) / sizeof(big_shapes[0]) };

START_TEST(test_threaded_vs_ref)
{
	const struct shape *s = &big_shapes[_i % N_BIG];
	struct rng r = { 4242 + (uint64_t)_i };
	struct matmul *mm = NULL;

	ck_assert_int_eq(matmul_set_threads(2 + _i / N_BIG), 2 + _i / N_BIG);
	ck_assert_int_eq(matmul_get_threads(), 2 + _i / N_BIG);
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	for (int p = 0; p < N_PATHS; p++) {
		matmul_set_path(mm, paths[p]);
		check_shape(mm, &r, false, s->m, s->n, s->k, s->bias);
		check_shape(mm, &r, true, s->m, s->n, s->k, s->bias);
	}
	matmul_free(mm);
}
END_TEST

struct pool_probe {
	atomic_int runs[1000];
	atomic_int bad_worker;
	int threads;
};

static void probe_chunk(void *ctx, int chunk, int worker)
{
	struct pool_probe *p = ctx;

	atomic_fetch_add(&p->runs[chunk], 1);
	if (worker < 0 || worker >= p->threads)
		atomic_store(&p->bad_worker, 1);
}

/* Every chunk runs exactly once, on a valid worker index, across thread-count changes. */
START_TEST(test_pool_chunks)
{
	static struct pool_probe p;
	const int counts[] = { 3, 1, 2, 4 };

	ck_assert_int_eq(pool_set_threads(0) >= 1, 1);
	for (size_t t = 0; t < sizeof(counts) / sizeof(counts[0]); t++) {
		p.threads = pool_set_threads(counts[t]);
		ck_assert_int_eq(p.threads, counts[t]);
		for (int rep = 0; rep < 20; rep++) {
			int n = 1 + (rep * 97) % 1000;

			for (int c = 0; c < 1000; c++)
				atomic_store(&p.runs[c], 0);
			pool_run(probe_chunk, &p, n);
			for (int c = 0; c < 1000; c++)
				ck_assert_int_eq(atomic_load(&p.runs[c]), c < n ? 1 : 0);
		}
	}
	ck_assert_int_eq(atomic_load(&p.bad_worker), 0);
	ck_assert_int_eq(pool_set_threads(POOL_MAX_THREADS + 5), POOL_MAX_THREADS);
}
END_TEST

struct first_job {
	atomic_int helper_ran;
	atomic_int caller_ran;
	atomic_int caller_saw_helper;
};

/* The caller's chunk, whichever it draws, waits for a chunk run by a worker. Under load the worker
 * may draw both chunks and the caller none, so the test holds in every order. With a pool whose new
 * worker skips the job that started it, the caller runs both chunks, the wait never ends and
 * meson's timeout fails the test (no wall-clock bound here). */
static void first_job_chunk(void *ctx, int chunk, int worker)
{
	struct first_job *f = ctx;

	(void)chunk;
	if (worker != 0) {
		atomic_store(&f->helper_ran, 1);
		return;
	}
	atomic_store(&f->caller_ran, 1);
	while (!atomic_load(&f->helper_ran))
		sched_yield();
	atomic_store(&f->caller_saw_helper, 1);
}

/* A worker started for a job joins that very job: a single long job (one KEN matrix) used to run
 * on the caller alone, the new worker waiting for the next one. */
START_TEST(test_pool_first_job)
{
	static struct first_job f;

	ck_assert_int_eq(pool_set_threads(2), 2); /* the one worker starts with the next job */
	pool_run(first_job_chunk, &f, 2);
	ck_assert_int_eq(atomic_load(&f.helper_ran), 1);
	ck_assert_int_eq(atomic_load(&f.caller_saw_helper), atomic_load(&f.caller_ran));
	pool_set_threads(0);
}
END_TEST

/* kernel_attend against its double reference: windows (lo > 0), one key, long rows, odd hd. */
START_TEST(test_attend_vs_ref)
{
	enum { S = 300 };
	const int cases[][3] = { { 0, 0, 8 }, { 0, 7, 8 }, { 0, 299, 8 }, { 40, 299, 64 },
				 { 5, 6, 3 }, { 0, 130, 17 }, { 100, 100, 16 } };
	struct rng r = { 31337 };

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int lo = cases[c][0], i = cases[c][1], hd = cases[c][2];
		float *q = rand_buf(&r, (size_t)hd, 2.0f);
		float *kt = rand_buf(&r, (size_t)hd * S, 2.0f);
		float *v = rand_buf(&r, (size_t)S * hd, 1.0f);
		float *sc = rand_buf(&r, S, 1.0f), *sc_ref = rand_buf(&r, S, 1.0f);
		float *o = out_buf((size_t)hd), *o_ref = out_buf((size_t)hd);

		kernel_attend(o, sc, q, kt, v, lo, i, hd, S, 1.0f / sqrtf((float)hd));
		kernel_attend_ref(o_ref, sc_ref, q, kt, v, lo, i, hd, S, 1.0f / sqrtf((float)hd));
		for (int d = 0; d < hd; d++)
			ck_assert_double_eq_tol(o[d], o_ref[d], 2e-6 * fmax(1.0, fabs(o_ref[d])));
		assert_guard(o, (size_t)hd);
		if (i == lo)	/* one key: softmax is 1, the output is that value row */
			for (int d = 0; d < hd; d++)
				ck_assert_double_eq_tol(o[d], v[(size_t)i * hd + d], 1e-6);
		free(q);
		free(kt);
		free(v);
		free(sc);
		free(sc_ref);
		free(o);
		free(o_ref);
	}
}
END_TEST

/* x (2, 3), w (2, 3), bias (2); products worked out by hand:
 * row 0: (1,2,3)·(1,0,-1) = -2,  (1,2,3)·(2,1,0) = 4
 * row 1: (4,5,6)·(1,0,-1) = -2,  (4,5,6)·(2,1,0) = 13 */
START_TEST(test_ref_by_hand)
{
	const float x[] = { 1, 2, 3, 4, 5, 6 };
	const float w[] = { 1, 0, -1, 2, 1, 0 };
	const float wt[] = { 1, 2, 0, 1, -1, 0 };	/* w transposed: (3, 2) */
	const float bias[] = { 0.5f, -1.0f };
	const float want[] = { -2, 4, -2, 13 };
	const float want_b[] = { -1.5f, 3, -1.5f, 12 };
	struct matmul *mm = NULL;
	float y[4];

	matmul_nt_ref(y, x, w, NULL, 2, 2, 3);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(y[i], want[i]);
	matmul_nt_ref(y, x, w, bias, 2, 2, 3);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(y[i], want_b[i]);
	matmul_nn_ref(y, x, wt, bias, 2, 2, 3);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(y[i], want_b[i]);

	/* Small integers are exact in f32, so the fast path must match exactly. */
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	ck_assert_int_eq(matmul_nt(mm, y, x, w, bias, 2, 2, 3), MATMUL_OK);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(y[i], want_b[i]);
	ck_assert_int_eq(matmul_nn(mm, y, x, wt, NULL, 2, 2, 3), MATMUL_OK);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(y[i], want[i]);
	matmul_free(mm);
}
END_TEST

/* nt with w must equal nn with wᵀ, for both the references and the fast path. */
START_TEST(test_nt_equals_nn_transposed)
{
	enum { M = 9, N = 21, K = 14 };
	struct rng r = { 77 };
	float *x = rand_buf(&r, M * K, 1.0f);
	float *w = rand_buf(&r, N * K, 0.3f);
	float *bias = rand_buf(&r, N, 1.0f);
	float wt[K * N], a[M * N], b[M * N];
	struct matmul *mm = NULL;

	for (int j = 0; j < N; j++)
		for (int p = 0; p < K; p++)
			wt[p * N + j] = w[j * K + p];
	matmul_nt_ref(a, x, w, bias, M, N, K);
	matmul_nn_ref(b, x, wt, bias, M, N, K);
	for (int i = 0; i < M * N; i++)
		ck_assert_float_eq(a[i], b[i]);

	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	ck_assert_int_eq(matmul_nt(mm, a, x, w, bias, M, N, K), MATMUL_OK);
	ck_assert_int_eq(matmul_nn(mm, b, x, wt, bias, M, N, K), MATMUL_OK);
	assert_close(a, b, M * N);
	matmul_free(mm);
	free(x);
	free(w);
	free(bias);
}
END_TEST

static void assert_stats(const struct matmul *mm, uint64_t hits, uint64_t misses,
			 uint64_t evictions, int entries)
{
	struct matmul_stats st;

	matmul_get_stats(mm, &st);
	ck_assert_uint_eq(st.hits, hits);
	ck_assert_uint_eq(st.misses, misses);
	ck_assert_uint_eq(st.evictions, evictions);
	ck_assert_int_eq(st.entries, entries);
	ck_assert_int_eq(st.capacity, CAP);
}

/* Same shape twice reuses one primitive, but with the new buffers. */
START_TEST(test_cache_same_shape)
{
	struct matmul *mm = NULL;
	struct rng r = { 5 };

	matmul_set_threads(1);	/* one chunk, one primitive per product */
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	matmul_set_path(mm, MATMUL_PATH_DNNL);
	assert_stats(mm, 0, 0, 0, 0);
	check_shape(mm, &r, false, 7, 13, 5, true);
	assert_stats(mm, 0, 1, 0, 1);
	check_shape(mm, &r, false, 7, 13, 5, true);	/* fresh buffers, same key */
	assert_stats(mm, 1, 1, 0, 1);
	check_shape(mm, &r, false, 7, 13, 5, false);	/* bias is part of the key */
	assert_stats(mm, 1, 2, 0, 2);
	check_shape(mm, &r, true, 7, 13, 5, false);	/* so is the kind */
	assert_stats(mm, 1, 3, 0, 3);
	check_shape(mm, &r, false, 7, 13, 5, false);
	assert_stats(mm, 2, 3, 0, 3);
	matmul_free(mm);
}
END_TEST

/* More distinct shapes than the cache holds: results stay right, the least
 * recently used entry is the one evicted. */
START_TEST(test_cache_eviction)
{
	enum { EXTRA = 5 };
	struct matmul *mm = NULL;
	struct rng r = { 11 };
	int total = CAP + EXTRA;

	matmul_set_threads(1);
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	matmul_set_path(mm, MATMUL_PATH_DNNL);
	for (int i = 0; i < CAP; i++)
		check_shape(mm, &r, false, 2 + i, 3, 4, false);
	assert_stats(mm, 0, CAP, 0, CAP);
	/* Touch shape 0 so shape 1 becomes the oldest. */
	check_shape(mm, &r, false, 2, 3, 4, false);
	assert_stats(mm, 1, CAP, 0, CAP);
	check_shape(mm, &r, false, 100, 3, 4, false);
	assert_stats(mm, 1, CAP + 1, 1, CAP);
	check_shape(mm, &r, false, 2, 3, 4, false);	/* survived: hit */
	assert_stats(mm, 2, CAP + 1, 1, CAP);
	check_shape(mm, &r, false, 3, 3, 4, false);	/* shape 1 evicted: miss */
	assert_stats(mm, 2, CAP + 2, 2, CAP);

	for (int i = 0; i < total; i++)
		check_shape(mm, &r, i % 2, 1 + i, 1 + (i * 7) % 31, 1 + (i * 5) % 17, i % 3 == 0);
	for (int i = 0; i < total; i++)
		check_shape(mm, &r, i % 2, 1 + i, 1 + (i * 7) % 31, 1 + (i * 5) % 17, i % 3 == 0);
	{
		struct matmul_stats st;

		matmul_get_stats(mm, &st);
		ck_assert_int_eq(st.entries, CAP);
		ck_assert_uint_eq(st.hits + st.misses, CAP + 4 + 2 * (uint64_t)total);
		ck_assert_uint_eq(st.evictions, st.misses - CAP);
	}
	matmul_free(mm);
}
END_TEST

typedef int (*matmul_fn)(struct matmul *, float *, const float *, const float *,
			 const float *, int, int, int);

static void check_arg_errors(matmul_fn fn)
{
	struct matmul *mm = NULL;
	float x[6] = { 1, 2, 3, 4, 5, 6 }, w[6] = { 1, 1, 1, 1, 1, 1 };
	float b[3] = { 0 }, y[4] = { -7, -7, -7, -7 };
	const int bad[] = { 0, -1, -1000 };

	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	ck_assert_int_eq(fn(NULL, y, x, w, b, 2, 2, 3), MATMUL_ERR_ARG);
	ck_assert_int_eq(fn(mm, NULL, x, w, b, 2, 2, 3), MATMUL_ERR_ARG);
	ck_assert_int_eq(fn(mm, y, NULL, w, b, 2, 2, 3), MATMUL_ERR_ARG);
	ck_assert_int_eq(fn(mm, y, x, NULL, b, 2, 2, 3), MATMUL_ERR_ARG);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(fn(mm, y, x, w, b, bad[i], 2, 3), MATMUL_ERR_ARG);
		ck_assert_int_eq(fn(mm, y, x, w, b, 2, bad[i], 3), MATMUL_ERR_ARG);
		ck_assert_int_eq(fn(mm, y, x, w, b, 2, 2, bad[i]), MATMUL_ERR_ARG);
	}
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(y[i], -7.0f);	/* untouched on error */
	assert_stats(mm, 0, 0, 0, 0);	/* no primitive was built */
	/* The handle still works after rejected calls. */
	ck_assert_int_eq(fn(mm, y, x, w, NULL, 2, 2, 3), MATMUL_OK);
	ck_assert_float_eq(y[0], 6.0f);	/* 1+2+3 for both kinds with all-ones w */
	matmul_free(mm);
}

START_TEST(test_arg_errors)
{
	check_arg_errors(matmul_nt);
	check_arg_errors(matmul_nn);
	ck_assert_int_eq(matmul_new(NULL), MATMUL_ERR_ARG);
	matmul_free(NULL);
}
END_TEST

START_TEST(test_strerror)
{
	const int codes[] = { MATMUL_OK, MATMUL_ERR_DNNL, MATMUL_ERR_NOMEM, MATMUL_ERR_ARG };
	const int n = sizeof(codes) / sizeof(codes[0]);

	for (int i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(matmul_strerror(codes[i]));
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(matmul_strerror(codes[i]), matmul_strerror(codes[j]));
	}
	ck_assert_str_eq(matmul_strerror(-99), "unknown matmul error");
}
END_TEST

/* kernel_act against its double reference, every kind, with and without a gate, over a range
 * that reaches the exponential's clamps; n not a multiple of the vector width. */
START_TEST(test_act_vs_ref)
{
	enum { N = 1003 };
	const enum config_act kinds[] = { CONFIG_ACT_SILU, CONFIG_ACT_GELU, CONFIG_ACT_GELU_TANH,
					  CONFIG_ACT_RELU };
	float x[N], g[N], y[N], y_ref[N];
	struct rng r = { 2718 };

	for (int i = 0; i < N; i++) {
		x[i] = (float)(i - N / 2) / 5.0f;	/* -100.2 .. 100.2 */
		g[i] = rng_unit(&r) * 20.0f;
	}
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
		for (int gated = 0; gated < 2; gated++) {
			memcpy(y, x, sizeof y);
			memcpy(y_ref, x, sizeof y_ref);
			kernel_act(y, gated ? g : NULL, N, kinds[k]);
			kernel_act_ref(y_ref, gated ? g : NULL, N, kinds[k]);
			double worst = 0;
			for (int i = 0; i < N; i++)
				worst = fmax(worst, fabs(y[i] - y_ref[i]) / fmax(1.0, fabs(y_ref[i])));
			/* exact GELU is f32 erff, as the forward pass always computed it */
			double tol = kinds[k] == CONFIG_ACT_GELU ? 1e-5 : 1e-6;
			ck_assert_msg(worst < tol, "kind %zu gated %d: %g", k, gated, worst);
		}
	/* exact points: act(0) = 0 for all kinds, ReLU and SiLU signs */
	float z[3] = { 0, -3, 3 };
	kernel_act(z, NULL, 3, CONFIG_ACT_RELU);
	ck_assert(z[0] == 0 && z[1] == 0 && z[2] == 3);
	float s[1] = { 0 };
	kernel_act(s, NULL, 1, CONFIG_ACT_SILU);
	ck_assert_float_eq(s[0], 0);
}
END_TEST

/* Threads of this process (entries of /proc/self/task), -1 without /proc. */
static int task_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The oneDNN path never starts an OpenMP team: after split products on both paths the process
 * has exactly the caller and the pool's one worker. */
START_TEST(test_no_openmp_team)
{
	struct matmul *mm = NULL;
	struct rng r = { 8 };

	if (task_count() < 0)
		return;
	ck_assert_int_eq(task_count(), 1);
	ck_assert_int_eq(matmul_set_threads(2), 2);
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	for (int p = 0; p < 3; p++) {
		matmul_set_path(mm, paths[p]);
		check_shape(mm, &r, false, 64, 1000, 128, true);
		check_shape(mm, &r, false, 1, 64, 64, false);
	}
	ck_assert_int_eq(task_count(), 2);
	matmul_free(mm);
}
END_TEST

static float bf16_value(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* matmul_nt_bf16 (2 threads, large enough to split) against the double reference on the BF16
 * values of w and of x rounded to BF16: only the f32 accumulation differs. Odd w: ARG. Without
 * avx512_bf16 oneDNN emulates the product (slow, still exact to f32 accumulation). */
START_TEST(test_nt_bf16_vs_ref)
{
	int m = 33, n = 200, k = 520;
	uint16_t *w = malloc((size_t)n * k * sizeof *w + 2);
	float *wf = malloc((size_t)n * k * sizeof *wf), *x = malloc((size_t)m * k * sizeof *x);
	float *xr = malloc((size_t)m * k * sizeof *xr), *bias = malloc((size_t)n * sizeof *bias);
	float *y = malloc((size_t)m * n * sizeof *y), *ref = malloc((size_t)m * n * sizeof *ref);
	ck_assert(w && wf && x && xr && bias && y && ref);
	uint32_t st = 12345;
	for (size_t i = 0; i < (size_t)n * k; i++) {
		st = st * 1664525u + 1013904223u;
		w[i] = (uint16_t)(0x3c00 + (st >> 24)) ^ (uint16_t)((st >> 16) & 0x8000); /* ±[2^-7, 2^-6) */
		wf[i] = bf16_value(w[i]);
	}
	for (size_t i = 0; i < (size_t)m * k; i++) {
		st = st * 1664525u + 1013904223u;
		x[i] = (float)((double)(st >> 8) / (1 << 24) - 0.5);
		uint32_t u;
		memcpy(&u, &x[i], sizeof u);
		u += 0x7fffu + ((u >> 16) & 1);
		xr[i] = bf16_value((uint16_t)(u >> 16));
	}
	for (int j = 0; j < n; j++)
		bias[j] = 0.01f * (float)j;
	matmul_set_threads(2);
	struct matmul *mm = NULL;
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	ck_assert_int_eq(matmul_nt_bf16(mm, y, x, w, bias, m, n, k), MATMUL_OK);
	matmul_nt_ref(ref, xr, wf, bias, m, n, k);
	for (size_t i = 0; i < (size_t)m * n; i++)
		ck_assert_float_eq_tol(y[i], ref[i], 1e-4f);
	/* an odd weight address is refused, y untouched */
	y[0] = -7.0f;
	ck_assert_int_eq(matmul_nt_bf16(mm, y, x, (const uint16_t *)((char *)w + 1), bias, m, n, k),
			 MATMUL_ERR_ARG);
	ck_assert_float_eq(y[0], -7.0f);
	matmul_free(mm);
	matmul_set_threads(1);
	free(w), free(wf), free(x), free(xr), free(bias), free(y), free(ref);
}
END_TEST

/* matmul_nt_f16 = matmul_nt's kernel path on the converted weights, bit for bit (m = 1 decode
 * blocks, m = 3 and 16 with clamped rows, k with and without a tail, n split over 2 threads or
 * not, with and without bias), and within 1e-4 of the double reference; odd w: ARG. Weights are
 * F16 bit patterns of every sign and a wide range of exponents, subnormals included. */
static const int f16_shapes[][3] = {{1, 37, 64}, {3, 50, 67}, {16, 300, 256}, {16, 1031, 520},
				    {31, 9, 8}};

START_TEST(test_nt_f16_bitwise)
{
	int m = f16_shapes[_i][0], n = f16_shapes[_i][1], k = f16_shapes[_i][2];
	uint16_t *w = malloc((size_t)n * k * sizeof *w + 2);
	float *wf = malloc((size_t)n * k * sizeof *wf), *x = malloc((size_t)m * k * sizeof *x);
	float *bias = malloc((size_t)n * sizeof *bias), *y = malloc((size_t)m * n * sizeof *y);
	float *y32 = malloc((size_t)m * n * sizeof *y32), *ref = malloc((size_t)m * n * sizeof *ref);
	ck_assert(w && wf && x && bias && y && y32 && ref);
	uint32_t st = 777u + (uint32_t)_i;
	for (size_t i = 0; i < (size_t)n * k; i++) {
		st = st * 1664525u + 1013904223u;
		/* exponents 0..21 (0: subnormals), either sign: magnitudes below 128 */
		w[i] = (uint16_t)(((st >> 16) & 0x83ffu) | ((((st >> 26) % 22u)) << 10));
	}
	halfconv_f16_ref(wf, w, (size_t)n * k);
	for (size_t i = 0; i < (size_t)m * k; i++) {
		st = st * 1664525u + 1013904223u;
		x[i] = (float)((double)(st >> 8) / (1 << 24) - 0.5);
	}
	for (int j = 0; j < n; j++)
		bias[j] = 0.01f * (float)j;
	matmul_set_threads(2);
	struct matmul *mm = NULL;
	ck_assert_int_eq(matmul_new(&mm), MATMUL_OK);
	matmul_set_path(mm, MATMUL_PATH_KERNEL);
	for (int b = 0; b < 2; b++) {
		const float *bs = b ? bias : NULL;
		ck_assert_int_eq(matmul_nt_f16(mm, y, x, w, bs, m, n, k), MATMUL_OK);
		ck_assert_int_eq(matmul_nt(mm, y32, x, wf, bs, m, n, k), MATMUL_OK);
		ck_assert_msg(!memcmp(y, y32, (size_t)m * n * sizeof *y), "shape %d bias %d", _i, b);
		matmul_nt_ref(ref, x, wf, bs, m, n, k);
		for (size_t i = 0; i < (size_t)m * n; i++)
			ck_assert_float_eq_tol(y[i], ref[i], 1e-4f * (1.0f + fabsf(ref[i])));
	}
	y[0] = -7.0f;
	ck_assert_int_eq(matmul_nt_f16(mm, y, x, (const uint16_t *)((char *)w + 1), bias, m, n, k),
			 MATMUL_ERR_ARG);
	ck_assert_float_eq(y[0], -7.0f);
	matmul_free(mm);
	matmul_set_threads(1);
	free(w), free(wf), free(x), free(bias), free(y), free(y32), free(ref);
}
END_TEST

static Suite *matmul_suite(void)
{
	Suite *s = suite_create("matmul");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_nt_vs_ref, 0, N_SHAPES * N_PATHS * 2);
	tcase_add_loop_test(tc, test_nn_vs_ref, 0, N_SHAPES * N_PATHS * 2);
	tcase_add_test(tc, test_dispatch_rule);
	tcase_add_loop_test(tc, test_threaded_vs_ref, 0, N_BIG * 2);
	tcase_add_test(tc, test_pool_chunks);
	tcase_add_test(tc, test_pool_first_job);
	tcase_add_test(tc, test_attend_vs_ref);
	tcase_add_test(tc, test_act_vs_ref);
	tcase_add_test(tc, test_no_openmp_team);
	tcase_add_test(tc, test_ref_by_hand);
	tcase_add_test(tc, test_nt_equals_nn_transposed);
	tcase_add_test(tc, test_cache_same_shape);
	tcase_add_test(tc, test_cache_eviction);
	tcase_add_test(tc, test_arg_errors);
	tcase_add_test(tc, test_nt_bf16_vs_ref);
	tcase_add_loop_test(tc, test_nt_f16_bitwise, 0, (int)(sizeof f16_shapes / sizeof f16_shapes[0]));
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(matmul_suite(), false);
}
