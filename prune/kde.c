/* kde: binned Taylor moments convolved by FFT. See kde.h. */
#include "kde.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "fftconv.h"

enum { KDE_P_MAX = 16, KDE_MIN_K = 64 };
#define KDE_CUT 10.0  /* kernel truncation, in bandwidths */
#define KDE_MAX_D 0.1 /* coarsest grid step, in bandwidths */

struct kde {
	struct fftconv *fft;
	int cap_p, cap_n; /* a, kern: (cap_p, cap_n); out: (cap_n) */
	double *a, *kern;/* (P, N) binned moments and kernels */
	double *out;     /* (N) */
};

int kde_new(struct kde **out)
{
	struct kde *w = calloc(1, sizeof *w);
	if (!w)
		return KDE_NOMEM;
	*out = w;
	return KDE_OK;
}

void kde_free(struct kde *w)
{
	if (!w)
		return;
	fftconv_free(w->fft);
	free(w->a);
	free(w->kern);
	free(w->out);
	free(w);
}

/* Transform of size n; a and kern hold P x n doubles and out n. Capacities only grow, in P and n
 * separately (a row's n and P move in opposite directions from row to row). */
static int kde_reserve(struct kde *w, int n, int p)
{
	if (!w->fft || fftconv_size(w->fft) != n) {
		fftconv_free(w->fft);
		w->fft = NULL;
		if (fftconv_new(&w->fft, n))
			return KDE_NOMEM;
	}
	if (p <= w->cap_p && n <= w->cap_n)
		return KDE_OK;
	int cp = p > w->cap_p ? p : w->cap_p, cn = n > w->cap_n ? n : w->cap_n;
	free(w->a);
	free(w->kern);
	free(w->out);
	size_t need = (size_t)cp * (size_t)cn;
	w->a = malloc(need * sizeof *w->a);
	w->kern = malloc(need * sizeof *w->kern);
	w->out = malloc((size_t)cn * sizeof *w->out);
	bool ok = w->a && w->kern && w->out;
	w->cap_p = ok ? cp : 0;
	w->cap_n = ok ? cn : 0;
	return ok ? KDE_OK : KDE_NOMEM;
}

/* Fewest terms P with remainder (x^P / P!) e^(2x) <= 1e-15, x = max |t delta|; 0 if > P_MAX. */
static int kde_terms(double x)
{
	double term = 1;
	for (int p = 1; p <= KDE_P_MAX; p++) {
		term *= x / p;
		if (term * exp(2 * x) <= 1e-15)
			return p;
	}
	return 0;
}

/* a (P, N): a[p][m] = sum over x in bin m of exp(-delta^2/2) delta^p / p!. */
static void kde_bin(double *a, const double *xs, int n, double lo, double step, int k, double h,
		    int p_terms, int N)
{
	for (size_t i = 0; i < (size_t)p_terms * (size_t)N; i++)
		a[i] = 0;
	for (int i = 0; i < n; i++) {
		long m = lround((xs[i] - lo) / step);
		m = m < 0 ? 0 : m >= k ? k - 1 : m;
		double delta = (xs[i] - (lo + (double)m * step)) / h;
		double c = exp(-0.5 * delta * delta);
		for (int p = 0; p < p_terms; p++) {
			a[(size_t)p * N + (size_t)m] += c;
			c *= delta / (p + 1);
		}
	}
}

/* kern (P, N): kern[p][tau mod N] = exp(-t^2/2) t^p, t = tau d, |tau| <= L; returns
 * sum_p ||kern_p||_2 * ||a_p||_2 for the FFT's error bound. */
static double kde_kernels(double *kern, const double *a, double d, int L, int p_terms, int N)
{
	for (size_t i = 0; i < (size_t)p_terms * (size_t)N; i++)
		kern[i] = 0;
	for (int tau = -L; tau <= L; tau++) {
		double t = tau * d, c = exp(-0.5 * t * t);
		size_t slot = (size_t)(tau < 0 ? tau + N : tau);
		for (int p = 0; p < p_terms; p++) {
			kern[(size_t)p * N + slot] = c;
			c *= t;
		}
	}
	double s = 0;
	for (int p = 0; p < p_terms; p++) {
		double na = 0, nk = 0;
		for (int i = 0; i < N; i++) {
			na += a[(size_t)p * N + i] * a[(size_t)p * N + i];
			nk += kern[(size_t)p * N + i] * kern[(size_t)p * N + i];
		}
		s += sqrt(na) * sqrt(nk);
	}
	return s;
}

int kde_transform_size(const struct kde *w)
{
	return w->fft ? fftconv_size(w->fft) : 0;
}

/* The transform size for a linear convolution of `need` points: any N >= need leaves the k
 * sums unwrapped (the kernel reaches L points either way, a holds k bins), so the current plan
 * is kept while it is at most 1/4 larger than need; a new one gets 1/16 of headroom. Neighbouring
 * rows of a matrix need sizes a few percent apart, and planning (twiddles, FFTW's hashing) cost
 * ~9 % of KEN's selection when every row planned anew (2000 rows: 2162 plans, now a handful).
 * The sums then depend on earlier rows by rounding only, which the error bound covers. */
static int kde_size(const struct kde *w, int need)
{
	int cur = kde_transform_size(w);
	if (cur >= need && cur - need <= need / 4)
		return cur;
	return fftconv_good_size(need > INT_MAX - need / 16 ? need : need + need / 16);
}

int kde_grid_sums(struct kde *w, double *sums, double *rel, double *abs, const double *xs, int n,
		  double lo, double step, int k, double h)
{
	if (!(h > 0) || !(step > 0) || n < 1 || k < KDE_MIN_K)
		return KDE_UNSUITABLE;
	double d = step / h;
	if (!(d <= KDE_MAX_D))
		return KDE_UNSUITABLE;
	/* |delta| <= d/2 up to rounding, |t| <= KDE_CUT + d */
	int p_terms = kde_terms((KDE_CUT + d) * d * 0.51);
	double span = ceil(KDE_CUT / d);
	if (!p_terms || span > (double)k)
		return KDE_UNSUITABLE; /* the kernel would cover the whole grid: no saving */
	int L = (int)span < k - 1 ? (int)span : k - 1;
	int N = kde_size(w, k + L);
	if (N < 0 || (size_t)p_terms * (size_t)N > SIZE_MAX / sizeof(double))
		return KDE_UNSUITABLE;
	int rc = kde_reserve(w, N, p_terms);
	if (rc)
		return rc;
	kde_bin(w->a, xs, n, lo, step, k, h, p_terms, N);
	double norms = kde_kernels(w->kern, w->a, d, L, p_terms, N);
	fftconv_sum(w->fft, w->out, w->a, w->kern, p_terms);
	for (int j = 0; j < k; j++)
		sums[j] = w->out[j];
	/* rel: series remainder (1e-15), products and exp() (~4 P eps), and the direct sum's own
	 * rounding of (g - x) / h, relative |u| eps max|x| / h per term; abs: truncation past
	 * KDE_CUT (n e^-50) and the FFT. Each doubled, then doubled again for margin. */
	double xmax = fmax(fabs(xs[0]), fabs(xs[n - 1])) + fabs(lo) + k * step;
	double r = 1e-15 + 4 * (p_terms + 4) * DBL_EPSILON +
		   (KDE_CUT + 1) * 4 * DBL_EPSILON * xmax / h + n * DBL_EPSILON;
	double a = n * exp(-0.5 * KDE_CUT * KDE_CUT) + 10 * DBL_EPSILON * log2((double)N) * norms;
	*rel = 4 * r;
	*abs = 4 * a;
	return KDE_OK;
}
