/* bench-matmul: where each matmul path wins, and how close the large path gets to the machine.
 *
 * Table 1 (dispatch): every Linear shape of the shared models (decode m = 1 and prefill/eval
 * rows) plus a row sweep, timed on the own kernel and on oneDNN with the default threads; prints
 * both, the path matmul_choose picks and whether the pick is the faster one (within 10 %).
 * Table 2 (threads): the kernel in one call vs split over the pool, around
 * MATMUL_THREAD_MIN_MACS.
 * Table 3 (7B layer): y (128, 11008) = x (128, 4096) · wᵀ as a fraction of the measured sgemm
 * peak (the best square product of any path in this run, oneDNN's own OpenMP threading
 * included) and of the measured FMA peak (a
 * register-only AVX-512 FMA loop on every thread).
 * Every timing is the median of REPS repetitions (each >= MIN_SECONDS of calls, paths
 * interleaved); noise = (max - min) / median. Results are checked against matmul_nt_ref. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kernel.h"
#include "matmul.h"
#include "pcg32.h"
#include "pool.h"
#include "timing.h"

enum { REPS = 5 };
static const double MIN_SECONDS = 0.04;

struct shape {
	const char *name;
	int m, n, k;
};

static const struct shape dispatch_shapes[] = {
	{ "260k q/o decode", 1, 64, 64 },
	{ "260k up/gate decode", 1, 172, 64 },
	{ "260k down decode", 1, 64, 172 },
	{ "260k lm_head decode", 1, 512, 64 },
	{ "260k up/gate 512 tok", 512, 172, 64 },
	{ "260k down 512 tok", 512, 64, 172 },
	{ "260k lm_head 512 tok", 512, 512, 64 },
	{ "3m q/k/v/o decode", 1, 128, 128 },
	{ "3m c_fc decode", 1, 512, 128 },
	{ "3m c_proj decode", 1, 128, 512 },
	{ "3m lm_head decode", 1, 14019, 128 },
	{ "3m q/k/v/o 256 tok", 256, 128, 128 },
	{ "3m c_fc 256 tok", 256, 512, 128 },
	{ "3m c_proj 256 tok", 256, 128, 512 },
	{ "3m lm_head 8 tok", 8, 14019, 128 },
	{ "3m lm_head 16 tok", 16, 14019, 128 },
	{ "3m lm_head 32 tok", 32, 14019, 128 },
	{ "3m lm_head 64 tok", 64, 14019, 128 },
	{ "3m lm_head 256 tok", 256, 14019, 128 },
	{ "c_fc 16 tok", 16, 512, 128 },
	{ "c_fc 32 tok", 32, 512, 128 },
	{ "c_fc 64 tok", 64, 512, 128 },
	{ "1k square 32 tok", 32, 1024, 1024 },
	{ "1k square 128 tok", 128, 1024, 1024 },
	{ "7B up decode", 1, 11008, 4096 },
	{ "7B up 8 tok", 8, 11008, 4096 },
	{ "7B up 32 tok", 32, 11008, 4096 },
};

struct operands {
	float *x, *w, *y, *y_ref;
	int m, n, k;
};

static int operands_new(struct operands *o, struct pcg32 *r, int m, int n, int k)
{
	size_t nx = (size_t)m * k, nw = (size_t)n * k, ny = (size_t)m * n;

	*o = (struct operands){ malloc(nx * 4), malloc(nw * 4), malloc(ny * 4), malloc(ny * 4), m, n, k };
	if (!o->x || !o->w || !o->y || !o->y_ref)
		return -1;
	for (size_t i = 0; i < nx; i++)
		o->x[i] = (float)(2 * pcg32_uniform(r) - 1);
	for (size_t i = 0; i < nw; i++)
		o->w[i] = (float)((2 * pcg32_uniform(r) - 1) / sqrt(k));
	return 0;
}

static void operands_free(struct operands *o)
{
	free(o->x);
	free(o->w);
	free(o->y);
	free(o->y_ref);
}

/* Seconds per call of path on mm (after one untimed warm-up call), or -1 on error. */
static double time_path(struct matmul *mm, enum matmul_path path, struct operands *o)
{
	double t0, t;
	long reps = 0;

	matmul_set_path(mm, path);
	if (matmul_nt(mm, o->y, o->x, o->w, NULL, o->m, o->n, o->k))
		return -1;
	t0 = util_now();
	do {
		if (matmul_nt(mm, o->y, o->x, o->w, NULL, o->m, o->n, o->k))
			return -1;
		reps++;
		t = util_now() - t0;
	} while (t < MIN_SECONDS);
	return t / (double)reps;
}

/* Max relative error of y against the reference on the first rows (the reference is slow). */
static double check_rows(struct operands *o, int rows)
{
	double worst = 0;

	rows = rows < o->m ? rows : o->m;
	matmul_nt_ref(o->y_ref, o->x, o->w, NULL, rows, o->n, o->k);
	for (size_t i = 0; i < (size_t)rows * o->n; i++)
		worst = fmax(worst, fabs(o->y[i] - o->y_ref[i]) / fmax(1.0, fabs(o->y_ref[i])));
	return worst;
}

static const char *path_name(enum matmul_path p)
{
	return p == MATMUL_PATH_KERNEL ? "kernel" : p == MATMUL_PATH_DNNL ? "oneDNN"
	       : p == MATMUL_PATH_DNNL_OMP ? "oneDNN on its OpenMP threads" : "auto";
}

/* Times both paths on s, interleaved; *worse counts picks slower than the other path by > 10 %. */
static int bench_dispatch(struct matmul *mm, struct pcg32 *r, const struct shape *s, int *worse)
{
	struct operands o;
	double tk[REPS], td[REPS], nk, nd, err = 0;
	int rc = -1;

	if (operands_new(&o, r, s->m, s->n, s->k))
		goto out;
	for (int i = 0; i < REPS; i++) {
		tk[i] = time_path(mm, MATMUL_PATH_KERNEL, &o);
		err = fmax(err, check_rows(&o, 2));
		td[i] = time_path(mm, MATMUL_PATH_DNNL, &o);
		err = fmax(err, check_rows(&o, 2));
		if (tk[i] < 0 || td[i] < 0)
			goto out;
	}
	double k_s = bench_median(tk, REPS, &nk), d_s = bench_median(td, REPS, &nd);
	double flop = 2.0 * s->m * s->n * s->k;
	enum matmul_path pick = matmul_choose(s->m, s->n, s->k);
	double pick_s = pick == MATMUL_PATH_KERNEL ? k_s : d_s, best = fmin(k_s, d_s);
	bool ok = pick_s <= 1.10 * best;

	*worse += !ok;
	printf("%-22s %4d %6d %5d | %9.1f %7.1f %4.0f%% | %9.1f %7.1f %4.0f%% | %6.2f | %-6s %s | %.0e\n",
	       s->name, s->m, s->n, s->k, k_s * 1e6, flop / k_s * 1e-9, 100 * nk, d_s * 1e6,
	       flop / d_s * 1e-9, 100 * nd, d_s / k_s, path_name(pick), ok ? "ok" : "SLOWER", err);
	rc = err > 1e-4 ? -1 : 0;
out:
	operands_free(&o);
	return rc;
}

/* Median GFLOP/s of path on (m, n, k) with the current threads. */
static double gflops(struct matmul *mm, struct pcg32 *r, enum matmul_path path, int m, int n,
		     int k, double *noise)
{
	struct operands o;
	double t[REPS], g = -1;

	if (operands_new(&o, r, m, n, k))
		goto out;
	for (int i = 0; i < REPS; i++)
		if ((t[i] = time_path(mm, path, &o)) < 0)
			goto out;
	if (check_rows(&o, 2) > 1e-4)
		goto out;
	g = 2.0 * m * n * k / bench_median(t, REPS, noise) * 1e-9;
out:
	operands_free(&o);
	return g;
}

struct split {
	struct operands *o;
	int nc;
};

static void split_chunk(void *ctx, int chunk, int worker)
{
	struct split *sp = ctx;
	int j0 = chunk * sp->nc, j1 = j0 + sp->nc < sp->o->n ? j0 + sp->nc : sp->o->n;

	(void)worker;
	kernel_nt(sp->o->y, sp->o->x, sp->o->w, NULL, sp->o->m, j0, j1, sp->o->k, sp->o->n);
}

/* Seconds per product: the kernel in one call (chunks 1) or split into chunks on the pool. */
static double time_split(struct operands *o, int chunks)
{
	struct split sp = { o, ((o->n + chunks - 1) / chunks + 7) / 8 * 8 };
	int n_chunks = (o->n + sp.nc - 1) / sp.nc;
	double t0 = util_now(), t;
	long reps = 0;

	do {
		pool_run(split_chunk, &sp, n_chunks);
		reps++;
		t = util_now() - t0;
	} while (t < MIN_SECONDS);
	return t / (double)reps;
}

/* Where splitting a kernel product across the pool starts to pay (MATMUL_THREAD_MIN_MACS). */
static int bench_threads(struct pcg32 *r)
{
	static const struct shape s[] = {
		{ "c_proj 1 tok", 1, 128, 512 }, { "c_fc 1 tok", 1, 512, 128 },
		{ "c_fc 4 tok", 4, 512, 128 }, { "c_fc 8 tok", 8, 512, 128 },
		{ "c_fc 16 tok", 16, 512, 128 }, { "lm_head 1 tok", 1, 14019, 128 },
		{ "lm_head 4 tok", 4, 14019, 128 },
	};
	int threads = matmul_get_threads();

	printf("\nkernel split over the pool: us per product, 1 chunk vs %d chunks on %d threads "
	       "(rule: split from %d MACs)\n", 4 * threads, threads, MATMUL_THREAD_MIN_MACS);
	printf("%-14s %4s %6s %5s %9s | %9s %9s | %7s | %s\n", "shape", "m", "n", "k", "MACs",
	       "1 chunk", "split", "speedup", "rule");
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		struct operands o;
		double t1[REPS], t2[REPS], n1, n2, macs = (double)s[i].m * s[i].n * s[i].k;

		if (operands_new(&o, r, s[i].m, s[i].n, s[i].k)) {
			operands_free(&o);
			return -1;
		}
		for (int k = 0; k < REPS; k++) {
			t1[k] = time_split(&o, 1);
			t2[k] = time_split(&o, 4 * threads);
		}
		double a = bench_median(t1, REPS, &n1), b = bench_median(t2, REPS, &n2);

		printf("%-14s %4d %6d %5d %9.0f | %9.1f %9.1f | %7.2f | %s\n", s[i].name, s[i].m,
		       s[i].n, s[i].k, macs, a * 1e6, b * 1e6, a / b,
		       macs >= MATMUL_THREAD_MIN_MACS ? "split" : "one thread");
		operands_free(&o);
	}
	return 0;
}

typedef float vf16 __attribute__((vector_size(64)));

struct fma_ctx {
	long iters;
	float sink[POOL_MAX_THREADS];
};

#define FMA12(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9) op(10) op(11)
#define FMA_INIT(i) vf16 a##i = (vf16){ 0 } + (float)(i);
#define FMA_STEP(i) a##i = a##i * m + d;
#define FMA_SUM(i) s += a##i;

/* 12 independent FMA chains on 16 lanes: the core's f32 FMA throughput, no memory traffic. */
__attribute__((target("avx512f"))) static void fma_chunk(void *ctx, int chunk, int worker)
{
	struct fma_ctx *c = ctx;
	vf16 m = (vf16){ 0 } + 0.999999f, d = (vf16){ 0 } + 1e-7f, s = (vf16){ 0 };

	(void)worker;
	FMA12(FMA_INIT)
	for (long it = 0; it < c->iters; it++) {
		FMA12(FMA_STEP)
	}
	FMA12(FMA_SUM)
	c->sink[chunk % POOL_MAX_THREADS] = s[0];
}

/* GFLOP/s of the FMA loop with one chunk per thread. */
static double fma_peak(void)
{
	struct fma_ctx c = { 5000000, { 0 } };
	int threads = matmul_get_threads();
	double t0, t;

	if (!__builtin_cpu_supports("avx512f"))
		return -1;
	t0 = util_now();
	pool_run(fma_chunk, &c, threads);
	t = util_now() - t0;
	return 2.0 * 16 * 12 * (double)c.iters * threads / t * 1e-9;
}

static int bench_7b(struct matmul *mm, struct pcg32 *r)
{
	static const int squares[] = { 1024, 2048 };
	double peak = 0, noise, fma = fma_peak(), g;

	printf("\n7B layer (threads %d); peak = best square sgemm in this run\n", matmul_get_threads());
	for (size_t i = 0; i < sizeof squares / sizeof squares[0]; i++) {
		int s = squares[i];

		for (int p = MATMUL_PATH_KERNEL; p <= MATMUL_PATH_DNNL_OMP; p++) {
			g = gflops(mm, r, (enum matmul_path)p, s, s, s, &noise);
			if (g < 0)
				return -1;
			printf("square %4d %-28s %8.1f GFLOP/s (noise %.0f%%)\n", s,
			       path_name((enum matmul_path)p), g, 100 * noise);
			peak = fmax(peak, g);
		}
	}
	printf("FMA-loop peak %8.1f GFLOP/s\n", fma);
	g = gflops(mm, r, MATMUL_PATH_DNNL_OMP, 128, 11008, 4096, &noise);
	if (g < 0)
		return -1;
	printf("7B up_proj 128 tok, oneDNN on its OpenMP threads: %.1f GFLOP/s (noise %.0f%%) = %.0f%% "
	       "of the sgemm peak\n", g, 100 * noise, 100 * g / peak);
	g = gflops(mm, r, MATMUL_PATH_AUTO, 128, 11008, 4096, &noise);
	if (g < 0)
		return -1;
	printf("7B up_proj 128 tok, yopo (auto path): %.1f GFLOP/s (noise %.0f%%) = %.0f%% of the "
	       "sgemm peak, %.0f%% of the FMA peak [%s]\n", g, 100 * noise, 100 * g / peak, fma > 0 ? 100 * g / fma : NAN,
	       g >= 0.7 * peak ? "ok: >= 70%" : "BELOW 70%");
	return 0;
}

/* argv[1] "--7b": only the 7B table (quick). */
int main(int argc, char **argv)
{
	bool only_7b = argc > 1 && !strcmp(argv[1], "--7b");
	struct matmul *mm = NULL;
	struct pcg32 r;
	double load[1];
	int worse = 0, rc = 1;

	pcg32_seed(&r, 42, 54);
	matmul_set_threads(0);
	if (matmul_new(&mm)) {
		fprintf(stderr, "bench-matmul: cannot create a matmul handle\n");
		return 1;
	}
	if (getloadavg(load, 1) != 1)
		load[0] = NAN;
	printf("threads %d, load average %.2f; times are medians of %d, noise = (max-min)/median\n",
	       matmul_get_threads(), load[0], REPS);
	printf("%-22s %4s %6s %5s | %9s %7s %5s | %9s %7s %5s | %6s | %-9s | %s\n", "shape (x.w^T)",
	       "m", "n", "k", "kernel us", "GFLOP/s", "noise", "oneDNN us", "GFLOP/s", "noise",
	       "dnn/kr", "chosen", "err");
	for (size_t i = 0; i < sizeof dispatch_shapes / sizeof dispatch_shapes[0] && !only_7b; i++)
		if (bench_dispatch(mm, &r, &dispatch_shapes[i], &worse))
			goto out;
	if (!only_7b)
		printf("picks slower than the other path by > 10%%: %d of %zu\n", worse,
		       sizeof dispatch_shapes / sizeof dispatch_shapes[0]);
	if ((!only_7b && bench_threads(&r)) || bench_7b(mm, &r))
		goto out;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench-matmul: a product failed or differs from the reference\n");
	matmul_free(mm);
	return rc;
}
