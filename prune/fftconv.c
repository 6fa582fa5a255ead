/* fftconv: circular convolutions through FFTW's real transforms. See fftconv.h. */
#include "fftconv.h"

#include <fftw3.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fftconv {
	int n, nc;          /* size, n / 2 + 1 complex bins */
	double *x;          /* (n) real buffer: the plans' input and the inverse's output */
	fftw_complex *fa;   /* (nc) transform of a_q */
	fftw_complex *fb;   /* (nc) transform of b_q */
	fftw_complex *acc;  /* (nc) sum of the products */
	fftw_plan fwd_a, fwd_b, inv;
};

static pthread_mutex_t planner = PTHREAD_MUTEX_INITIALIZER;

void fftconv_free(struct fftconv *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&planner);
	if (f->fwd_a)
		fftw_destroy_plan(f->fwd_a);
	if (f->fwd_b)
		fftw_destroy_plan(f->fwd_b);
	if (f->inv)
		fftw_destroy_plan(f->inv);
	pthread_mutex_unlock(&planner);
	fftw_free(f->x);
	fftw_free(f->fa);
	fftw_free(f->fb);
	fftw_free(f->acc);
	free(f);
}

int fftconv_new(struct fftconv **out, int n)
{
	if (n < 2)
		return -1;
	struct fftconv *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	f->n = n;
	f->nc = n / 2 + 1;
	f->x = fftw_alloc_real((size_t)n);
	f->fa = fftw_alloc_complex((size_t)f->nc);
	f->fb = fftw_alloc_complex((size_t)f->nc);
	f->acc = fftw_alloc_complex((size_t)f->nc);
	if (!f->x || !f->fa || !f->fb || !f->acc)
		goto fail;
	pthread_mutex_lock(&planner);
	f->fwd_a = fftw_plan_dft_r2c_1d(n, f->x, f->fa, FFTW_ESTIMATE);
	f->fwd_b = fftw_plan_dft_r2c_1d(n, f->x, f->fb, FFTW_ESTIMATE);
	f->inv = fftw_plan_dft_c2r_1d(n, f->acc, f->x, FFTW_ESTIMATE);
	pthread_mutex_unlock(&planner);
	if (!f->fwd_a || !f->fwd_b || !f->inv)
		goto fail;
	*out = f;
	return 0;
fail:
	fftconv_free(f);
	return -1;
}

int fftconv_size(const struct fftconv *f)
{
	return f->n;
}

void fftconv_sum(struct fftconv *f, double *out, const double *a, const double *b, int terms)
{
	size_t n = (size_t)f->n;
	memset(f->acc, 0, (size_t)f->nc * sizeof *f->acc);
	for (int q = 0; q < terms; q++) {
		memcpy(f->x, a + (size_t)q * n, n * sizeof *f->x);
		fftw_execute(f->fwd_a);
		memcpy(f->x, b + (size_t)q * n, n * sizeof *f->x);
		fftw_execute(f->fwd_b);
		for (int i = 0; i < f->nc; i++) {
			double ar = f->fa[i][0], ai = f->fa[i][1], br = f->fb[i][0], bi = f->fb[i][1];
			f->acc[i][0] += ar * br - ai * bi;
			f->acc[i][1] += ar * bi + ai * br;
		}
	}
	fftw_execute(f->inv); /* unnormalised: n times the convolution; destroys acc */
	double s = 1.0 / (double)n;
	for (size_t j = 0; j < n; j++)
		out[j] = f->x[j] * s;
}

int fftconv_good_size(int n)
{
	if (n < 1 || n > INT_MAX / 2)
		return -1;
	for (int m = n;; m++) {
		int r = m;
		while (r % 2 == 0)
			r /= 2;
		while (r % 3 == 0)
			r /= 3;
		while (r % 5 == 0)
			r /= 5;
		if (r == 1)
			return m;
	}
}
