/* bench-matmul: GFLOP/s of matmul_nt (oneDNN) against matmul_nt_ref on the
 * Linear shapes of the shared test models and on a 7B-like FFN projection,
 * with the fast/ref ratio measured in the same run. Each fast result is also
 * checked against the reference so a wrong kernel cannot look fast.
 *
 * The 7B-like shape (m=64, n=11008, k=4096) is timed for the fast path only;
 * the reference runs on its first few rows (same w, same k) to give a rate. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "matmul.h"

/* Each timing repeats the call until this much time has passed. */
static const double MIN_SECONDS = 0.25;

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

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct bench_shape {
	const char *name;
	int m, n, k;
	int ref_m;	/* rows the reference runs on (<= m) */
	int bias;
};

static const struct bench_shape shapes[] = {
	{ "stories260k q_proj  decode", 1, 64, 64, 1, 0 },
	{ "stories260k gate/up decode", 1, 172, 64, 1, 0 },
	{ "stories260k gate/up 256 tok", 256, 172, 64, 256, 0 },
	{ "stories260k down    256 tok", 256, 64, 172, 256, 0 },
	{ "stories260k lm_head 256 tok", 256, 512, 64, 256, 0 },
	{ "gpt-neo-3m  q_proj  256 tok", 256, 128, 128, 256, 0 },
	{ "gpt-neo-3m  c_fc    256 tok", 256, 512, 128, 256, 1 },
	{ "gpt-neo-3m  c_proj  256 tok", 256, 128, 512, 256, 1 },
	{ "gpt-neo-3m  lm_head decode", 1, 14019, 128, 1, 0 },
	{ "gpt-neo-3m  lm_head 64 tok", 64, 14019, 128, 16, 0 },
	{ "7B-like     up_proj 64 tok", 64, 11008, 4096, 2, 0 },
};

typedef void (*bench_fn)(void *ctx);

struct fast_ctx {
	struct matmul *mm;
	float *y;
	const float *x, *w, *bias;
	int m, n, k;
	int rc;
};

static void run_fast(void *p)
{
	struct fast_ctx *c = p;
	int rc = matmul_nt(c->mm, c->y, c->x, c->w, c->bias, c->m, c->n, c->k);

	if (rc)
		c->rc = rc;
}

static void run_ref(void *p)
{
	struct fast_ctx *c = p;

	matmul_nt_ref(c->y, c->x, c->w, c->bias, c->m, c->n, c->k);
}

/* Seconds per call, after one untimed warm-up call (primitive creation). */
static double time_calls(bench_fn fn, void *ctx)
{
	double t0, t;
	long reps = 0;

	fn(ctx);
	t0 = now();
	do {
		fn(ctx);
		reps++;
		t = now() - t0;
	} while (t < MIN_SECONDS);
	return t / (double)reps;
}

static int bench_one(struct matmul *mm, struct rng *r, const struct bench_shape *s)
{
	size_t nx = (size_t)s->m * s->k, nw = (size_t)s->n * s->k;
	size_t ny = (size_t)s->m * s->n, ny_ref = (size_t)s->ref_m * s->n;
	float *x = malloc(nx * sizeof(*x));
	float *w = malloc(nw * sizeof(*w));
	float *bias = malloc((size_t)s->n * sizeof(*bias));
	float *y = malloc(ny * sizeof(*y));
	float *y_ref = malloc(ny_ref * sizeof(*y_ref));
	struct fast_ctx fast, ref;
	double t_fast, t_ref, gf_fast, gf_ref, max_err = 0.0;
	int rc = 1;

	if (!x || !w || !bias || !y || !y_ref) {
		fprintf(stderr, "bench-matmul: out of memory for %s\n", s->name);
		goto out;
	}
	for (size_t i = 0; i < nx; i++)
		x[i] = rng_unit(r);
	for (size_t i = 0; i < nw; i++)
		w[i] = rng_unit(r) / sqrtf((float)s->k);
	for (int i = 0; i < s->n; i++)
		bias[i] = rng_unit(r);

	fast = (struct fast_ctx){ mm, y, x, w, s->bias ? bias : NULL, s->m, s->n, s->k, 0 };
	ref = fast;
	ref.y = y_ref;
	ref.m = s->ref_m;
	t_fast = time_calls(run_fast, &fast);
	if (fast.rc) {
		fprintf(stderr, "bench-matmul: %s: %s\n", s->name, matmul_strerror(fast.rc));
		goto out;
	}
	t_ref = time_calls(run_ref, &ref);

	/* The reference rows are the first ref_m rows of the fast product. */
	for (size_t i = 0; i < ny_ref; i++) {
		double e = fabs((double)y[i] - y_ref[i]) / fmax(1.0, fabs(y_ref[i]));

		max_err = fmax(max_err, e);
	}
	gf_fast = 2.0 * s->m * s->n * s->k / t_fast * 1e-9;
	gf_ref = 2.0 * s->ref_m * s->n * s->k / t_ref * 1e-9;
	printf("%-28s %5d %6d %5d %4s %10.3f %9.3f %5d %8.1fx %9.1e\n", s->name,
	       s->m, s->n, s->k, s->bias ? "yes" : "no", t_fast * 1e3, gf_fast,
	       s->ref_m, gf_fast / gf_ref, max_err);
	if (max_err > 1e-4) {
		fprintf(stderr, "bench-matmul: %s: fast result differs from reference\n",
			s->name);
		goto out;
	}
	rc = 0;
out:
	free(x);
	free(w);
	free(bias);
	free(y);
	free(y_ref);
	return rc;
}

int main(void)
{
	struct matmul *mm = NULL;
	struct matmul_stats st;
	struct rng r = { 0x853c49e6748fea9bULL };
	double load[1];
	int rc;

	rc = matmul_new(&mm);
	if (rc) {
		fprintf(stderr, "bench-matmul: %s\n", matmul_strerror(rc));
		return 1;
	}
	/* oneDNN runs on OpenMP here: with other load on the cores, spinning
	 * barriers can make the fast path orders of magnitude slower, so print
	 * what governs that next to the numbers. */
	if (getloadavg(load, 1) != 1)
		load[0] = NAN;
	printf("OMP_NUM_THREADS=%s OMP_WAIT_POLICY=%s load=%.2f\n",
	       getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)",
	       getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)", load[0]);
	printf("%-28s %5s %6s %5s %4s %10s %9s %5s %9s %9s\n", "shape (y = x.w^T)", "m", "n",
	       "k", "bias", "fast ms", "GFLOP/s", "ref_m", "fast/ref", "max err");
	rc = 0;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !rc; i++)
		rc = bench_one(mm, &r, &shapes[i]);
	matmul_get_stats(mm, &st);
	printf("primitive cache: %llu hits, %llu misses, %llu evictions\n",
	       (unsigned long long)st.hits, (unsigned long long)st.misses,
	       (unsigned long long)st.evictions);
	matmul_free(mm);
	return rc ? 1 : 0;
}
