/* bench-spectrum: cost of one reward evaluation by each spectrum route on a
 * random FFN up-projection (default 11008 x 4096, LLaMA-7B's shape) with 30%
 * of the rows removed:
 *   (a) GRAM route, per sample: downdate the full Gram + symmetric eigenvalues
 *       (linalg_sym_eigvals, values only);
 *   (b) values-only SVD of W[kept] (dgesdd jobz='N');
 *   (c) full SVD of W[kept] with U and V^T (dgesdd jobz='S'), what the
 *       published implementation computes.
 * Also the per-layer setup: one Gram and one tridiagonal reduction for W's values (no SVD of W)
 * and the features' leading eigenvectors, as env does it, against the separate setup (Gram +
 * values, then Gram + top pairs again) and the exact route's values-only SVD of W.
 * Prints each time, the ratios b/a and c/a, and the KS statistic of each
 * route against W's singular values from the exact SVD (they must agree to ~1e-6).
 * Then the functional reward (funcreward.h, yopo train's default) on the same shape: W's rows are
 * the FFN neurons, T probe tokens of Gaussian activations A (T, rows) and a Gaussian down
 * projection D (cols, rows); its per-layer setup (G = AᵀA ∘ DᵀD), one reward for the same kept
 * set, and the direct route measured in the same run (the removed neurons' output A_R·D_Rᵀ by
 * one f32 product, what a reward costs without G), with their relative disagreement.
 *
 * Usage: bench-spectrum [--rows R] [--cols C] [--ratio X] [--threads T]
 *                       [--samples N] [--seed S] [--tokens T]
 * --tokens T: probe tokens of the functional part (default 2048; 0 skips it).
 * --threads sets OpenBLAS's thread count for every route alike (default: the
 * online CPUs, OpenBLAS's own default, made explicit and printed).
 * --samples N times the GRAM route N times (default 3); b/a and c/a use the
 * mean of calls 2..N (warm scratch), or the single call when N = 1. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "funcreward.h"
#include "ks.h"
#include "linalg.h"
#include "matmul.h"
#include "pcg32.h"
#include "spectrum.h"
#include "timing.h"
#include "topk.h"

static void fill_gaussian(float *x, size_t n, struct pcg32 *g)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)pcg32_normal(g);
}

/* max_i |x_i - y_i| / max(|y_i|, tiny) */
static double max_rel_diff(const double *x, const double *y, int n)
{
	double worst = 0;
	for (int i = 0; i < n; i++) {
		double d = fabs(x[i] - y[i]) / fmax(fabs(y[i]), 1e-300);
		if (d > worst)
			worst = d;
	}
	return worst;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v <= 0 || v > 1000000)
		return -1;
	*out = (int)v;
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--rows R] [--cols C] [--ratio X] [--threads T] [--samples N] [--seed S] "
		"[--tokens T]\n",
		argv0);
}

struct bench_opts {
	int rows, cols, samples, seed, threads, tokens;
	double ratio;
};

/* Fills o from the command line; 0, or -1 after printing the usage. */
static int parse_args(struct bench_opts *o, int argc, char **argv)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	*o = (struct bench_opts){11008, 4096, 3, 1, online > 0 ? (int)online : 1, 2048, 0.3};
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = !v;
		if (!bad && strcmp(argv[i], "--rows") == 0)
			bad = parse_int(v, &o->rows);
		else if (!bad && strcmp(argv[i], "--cols") == 0)
			bad = parse_int(v, &o->cols);
		else if (!bad && strcmp(argv[i], "--threads") == 0)
			bad = parse_int(v, &o->threads);
		else if (!bad && strcmp(argv[i], "--samples") == 0)
			bad = parse_int(v, &o->samples);
		else if (!bad && strcmp(argv[i], "--seed") == 0)
			bad = parse_int(v, &o->seed);
		else if (!bad && strcmp(argv[i], "--tokens") == 0)
			bad = strcmp(v, "0") == 0 ? (o->tokens = 0) : parse_int(v, &o->tokens);
		else if (!bad && strcmp(argv[i], "--ratio") == 0) {
			char *end;
			o->ratio = strtod(v, &end);
			bad = *end != '\0' || !(o->ratio >= 0 && o->ratio < 1);
		} else
			bad = 1;
		if (bad) {
			usage(argv[0]);
			return -1;
		}
		i++;
	}
	return 0;
}

/* w (rows, cols) Gaussian and keep (rows) = a uniform random k-subset, from one PCG32 stream;
 * idx (rows) is scratch. */
static void make_problem(float *w, unsigned char *keep, int *idx, int rows, int cols, int k,
			 uint64_t seed)
{
	struct pcg32 rng;
	pcg32_seed(&rng, seed, 0);
	fill_gaussian(w, (size_t)rows * cols, &rng);
	for (int i = 0; i < rows; i++)
		idx[i] = i;
	for (int i = 0; i < k; i++) { /* partial Fisher-Yates: the first k are kept */
		int j = i + (int)pcg32_bounded(&rng, (uint32_t)(rows - i));
		int t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	for (int i = 0; i < k; i++)
		keep[idx[i]] = 1;
}

/* Route GRAM, `samples` calls: the first also pays the page faults of its fresh scratch; the
 * steady state (mean of the others) is what a training loop sees. Returns that time. */
static int time_gram_route(double *t_a, double *ks, double *sv, const struct spectrum *sp,
			   const unsigned char *keep, int samples)
{
	double t_first = 0, t_rest = 0;
	for (int i = 0; i < samples; i++) {
		double t0 = util_now();
		int err = spectrum_ks(sp, keep, ks, sv);
		double t = util_now() - t0;
		if (err)
			return err;
		if (i == 0)
			t_first = t;
		else
			t_rest += t;
	}
	*t_a = samples > 1 ? t_rest / (samples - 1) : t_first;
	printf("(a) GRAM route per sample: first call %.3f s, mean of the next %d %9.3f s\n",
	       t_first, samples - 1, *t_a);
	return 0;
}

/* Gathers the kept rows of w (rows, cols) into sub (k, cols) and takes their singular values
 * sv (min(k, cols)): values only, or with u (k, min) and vt (min, cols) when u is not NULL.
 * *t: seconds of gather + SVD. */
static int time_kept_svd(double *t, double *sv, double *u, double *vt, float *sub, const float *w,
			 const unsigned char *keep, int rows, int cols, int k)
{
	double t0 = util_now();
	for (int r = 0, at = 0; r < rows; r++)
		if (keep[r])
			memcpy(sub + (size_t)at++ * cols, w + (size_t)r * cols, (size_t)cols * sizeof(float));
	int err = u ? linalg_svd_full(sv, u, vt, sub, k, cols) : linalg_singular_values(sv, sub, k, cols);
	*t = util_now() - t0;
	return err;
}

enum { SETUP_REPS = 3 };

/* The separate setup (what a layer cost before they shared): spectrum_new(GRAM) (Gram +
 * eigenvalues) and what env_view_features computes, the Gram again and its top r eigenpairs.
 * t[0], t[1] their times. g (cols, cols), lam (r), vec (r, cols) scratch. */
static int time_setup_separate(double t[2], struct spectrum **sp, double *g, double *lam,
			       double *vec, const float *w, int rows, int cols, int r)
{
	double t0 = util_now();
	int err = spectrum_new(sp, w, rows, cols, SPECTRUM_ROUTE_GRAM);
	t[0] = util_now() - t0;
	if (err)
		return err;
	t0 = util_now();
	if (!(err = linalg_gram(g, w, rows, cols)))
		err = linalg_sym_eig_top(lam, vec, g, cols, r);
	t[1] = util_now() - t0;
	return err;
}

/* The shared setup as env's shared_setup does it: one Gram, one tridiagonal reduction for all
 * eigenvalues and the top r pairs, the spectrum built on them (into *sp). t[0] the Gram, t[1]
 * the rest. g (cols, cols), lam (r), vec (r, cols) scratch. */
static int time_setup_shared(double t[2], struct spectrum **sp, double *g, double *lam,
			     double *vec, const float *w, int rows, int cols, int r)
{
	size_t cc = (size_t)cols * cols;
	double *gram = malloc(cc * sizeof *gram), *eig = malloc((size_t)cols * sizeof *eig);
	int err = !gram || !eig ? SPECTRUM_ERR_NOMEM : 0;
	double t0 = util_now();
	if (err || (err = linalg_gram(gram, w, rows, cols)))
		goto out;
	t[0] = util_now() - t0;
	memcpy(g, gram, cc * sizeof *g);
	if ((err = linalg_sym_eig_split(eig, lam, vec, g, cols, r)) ||
	    (err = spectrum_new_gram(sp, w, rows, cols, gram, eig)))
		goto out;
	gram = NULL;
	t[1] = util_now() - t0 - t[0];
out:
	free(eig);
	free(gram);
	return err;
}

/* Per-layer setup: SETUP_REPS runs of the shared setup env does (linalg_sym_eig_split: top r =
 * min(rows, cols) / 8 pairs) and of the separate one it replaced, alternating, medians; the
 * last shared spectrum goes to *sp, and must hold the separate one's values. *rate: dsyrk's
 * flop rate in the median shared run. g (cols, cols) scratch. */
static int time_setup(double *t, double *rate, struct spectrum **sp, double *g, const float *w,
		      int rows, int cols)
{
	int kmin = rows < cols ? rows : cols, r = kmin / 8 > 0 ? kmin / 8 : 1;
	double *lam = malloc((size_t)r * sizeof *lam), *vec = malloc((size_t)r * cols * sizeof *vec);
	struct spectrum *old = NULL;
	double sep[SETUP_REPS][2], sh[SETUP_REPS][2], tot_sep[SETUP_REPS], tot_sh[SETUP_REPS];
	double gram[SETUP_REPS], rest[SETUP_REPS];
	int err = !lam || !vec ? SPECTRUM_ERR_NOMEM : 0;
	for (int i = 0; !err && i < SETUP_REPS; i++) {
		spectrum_free(old);
		spectrum_free(*sp);
		old = *sp = NULL;
		if ((err = time_setup_separate(sep[i], &old, g, lam, vec, w, rows, cols, r)) ||
		    (err = time_setup_shared(sh[i], sp, g, lam, vec, w, rows, cols, r)))
			break;
		tot_sep[i] = sep[i][0] + sep[i][1];
		tot_sh[i] = gram[i] = sh[i][0];
		tot_sh[i] += rest[i] = sh[i][1];
	}
	if (err)
		goto out;
	int n_old, n_new;
	const double *s_old = spectrum_orig(old, &n_old), *s_new = spectrum_orig(*sp, &n_new);
	double nz_sep, nz_sh, nz_g, nz_r;
	double m_sep = bench_median(tot_sep, SETUP_REPS, &nz_sep);
	double m_sh = bench_median(tot_sh, SETUP_REPS, &nz_sh);
	double m_gram = bench_median(gram, SETUP_REPS, &nz_g);
	double m_rest = bench_median(rest, SETUP_REPS, &nz_r);
	printf("setup per layer, median of %d: shared %.3f s (noise %.0f%%: Gram %.3f s + one "
	       "reduction for all values and the top %d pairs %.3f s)\n",
	       SETUP_REPS, m_sh, 100 * nz_sh, m_gram, r, m_rest);
	printf("  separate (Gram + values, Gram + top pairs) %.3f s (noise %.0f%%): ratio %.2f; "
	       "target <= 5 s; W's values max rel diff %.3g\n",
	       m_sep, 100 * nz_sep, m_sep / m_sh,
	       max_rel_diff(s_new, s_old, n_old < n_new ? n_old : n_new));
	/* the floor: dsyrk's rows·cols² flops, dsytrd's 4/3·cols³, the back-transformation's
	 * 2·cols²·r, at the rate dsyrk reached here (about the machine's dgemm peak) */
	*rate = (double)rows * cols * cols / m_gram;
	double flops = (double)rows * cols * cols + 4.0 / 3 * pow(cols, 3) + 2.0 * cols * cols * r;
	printf("  floor at dsyrk's %.1f GFLOP/s: %.3f s (shared reaches %.0f%% of it)\n",
	       *rate / 1e9, flops / *rate, 100 * flops / *rate / m_sh);
	*t = m_sh;
out:
	spectrum_free(old);
	free(vec);
	free(lam);
	return err;
}

/* ‖A_R·D_Rᵀ‖²_F by one f32 product: act (tokens, ffn), down (hidden, ffn), R = !keep (ffn);
 * ar (tokens, ffn), dr (hidden, ffn), y (tokens, hidden) scratch. The gather is timed too. */
static int direct_removed(double *sq, struct matmul *mm, float *ar, float *dr, float *y,
			  const float *act, const float *down, const unsigned char *keep, int tokens,
			  int hidden, int ffn)
{
	int nr = 0;
	for (int i = 0; i < ffn; i++) {
		if (keep && keep[i])
			continue;
		for (int t = 0; t < tokens; t++)
			ar[(size_t)t * ffn + nr] = act[(size_t)t * ffn + i];
		for (int h = 0; h < hidden; h++)
			dr[(size_t)h * ffn + nr] = down[(size_t)h * ffn + i];
		nr++;
	}
	/* ar, dr are used as (tokens, nr) and (hidden, nr) with row stride nr: compact them */
	for (int t = 1; t < tokens; t++)
		memmove(ar + (size_t)t * nr, ar + (size_t)t * ffn, (size_t)nr * sizeof *ar);
	for (int h = 1; h < hidden; h++)
		memmove(dr + (size_t)h * nr, dr + (size_t)h * ffn, (size_t)nr * sizeof *dr);
	if (matmul_nt(mm, y, ar, dr, NULL, tokens, hidden, nr))
		return -1;
	double s = 0;
	for (size_t i = 0; i < (size_t)tokens * hidden; i++)
		s += (double)y[i] * y[i];
	*sq = s;
	return 0;
}

/* The functional reward at W's shape (rows = ffn neurons, cols = hidden), same kept set. */
static int bench_functional(const struct bench_opts *o, const unsigned char *keep, int k)
{
	int ffn = o->rows, hidden = o->cols, T = o->tokens, ret = 1;
	size_t na = (size_t)T * ffn, nd = (size_t)hidden * ffn;
	struct funcreward *fr = NULL;
	struct matmul *mm = NULL;
	float *act = malloc(na * sizeof(float)), *down = malloc(nd * sizeof(float));
	float *ar = malloc(na * sizeof(float)), *dr = malloc(nd * sizeof(float));
	float *y = malloc((size_t)T * hidden * sizeof(float));
	int *kept = malloc((size_t)k * sizeof(int));
	if (!act || !down || !ar || !dr || !y || !kept || matmul_new(&mm)) {
		fprintf(stderr, "out of memory (functional part)\n");
		goto out;
	}
	matmul_set_threads(o->threads);
	struct pcg32 rng;
	pcg32_seed(&rng, (uint64_t)o->seed, 1);
	fill_gaussian(act, na, &rng);
	fill_gaussian(down, nd, &rng);
	for (int i = 0, j = 0; i < ffn; i++)
		if (keep[i])
			kept[j++] = i;
	double t0 = util_now();
	int err = funcreward_new(&fr, act, T, down, hidden, ffn);
	double t_setup = util_now() - t0;
	if (err) {
		fprintf(stderr, "funcreward: %s\n", funcreward_strerror(err));
		goto out;
	}
	double rel = 0, t_g = 0, t_d = 0, sq_r = 0, sq_f = 0;
	for (int i = 0; i < o->samples; i++) { /* steady state: the minimum of the calls */
		t0 = util_now();
		funcreward_error(fr, kept, k, &rel);
		double t = util_now() - t0;
		t_g = i == 0 || t < t_g ? t : t_g;
		t0 = util_now();
		if (direct_removed(&sq_r, mm, ar, dr, y, act, down, keep, T, hidden, ffn))
			goto out;
		t = util_now() - t0;
		t_d = i == 0 || t < t_d ? t : t_d;
	}
	if (direct_removed(&sq_f, mm, ar, dr, y, act, down, NULL, T, hidden, ffn))
		goto out;
	double rel_d = sq_r / sq_f;
	printf("functional reward: %d probe tokens; setup G = AᵀA ∘ DᵀD %9.3f s (%.0f MiB)\n", T,
	       t_setup, (double)ffn * ffn * 8 / 1048576);
	printf("functional reward: one reward by G %9.6f s, direct f32 product A_R·D_Rᵀ %9.3f s "
	       "(ratio %.0fx; min of %d)\n", t_g, t_d, t_d / t_g, o->samples);
	printf("functional reward: err(R) by G %.9f, direct %.9f, rel diff %.3g\n", rel, rel_d,
	       fabs(rel - rel_d) / rel_d);
	ret = fabs(rel - rel_d) / rel_d > 1e-3;
	if (ret)
		fprintf(stderr, "functional routes disagree\n");
out:
	funcreward_free(fr);
	matmul_free(mm);
	free(kept);
	free(y);
	free(dr);
	free(ar);
	free(down);
	free(act);
	return ret;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	if (parse_args(&o, argc, argv))
		return 2;
	int rows = o.rows, cols = o.cols, samples = o.samples, seed = o.seed;
	double ratio = o.ratio;
	int k = util_keep_count(rows, ratio), removed = rows - k;
	if (k < 1) {
		fprintf(stderr, "ratio %.3f leaves no row of %d\n", ratio, rows);
		return 2;
	}
	int nk = k < cols ? k : cols;
	linalg_set_threads(o.threads);
	printf("spectrum bench: W %d x %d f32 (Gaussian, seed %d), remove %d rows (ratio %.2f), "
	       "keep %d; OpenBLAS threads %d\n",
	       rows, cols, seed, removed, ratio, k, linalg_get_threads());

	int ret = 1, err = 0;
	struct spectrum *sp = NULL, *sp_svd = NULL;
	float *w = malloc((size_t)rows * cols * sizeof(float));
	float *sub = malloc((size_t)k * cols * sizeof(float));
	unsigned char *keep = calloc((size_t)rows, 1);
	int *idx = malloc((size_t)rows * sizeof(int));
	double *g = malloc((size_t)cols * cols * sizeof(double));
	double *sv_a = malloc((size_t)nk * sizeof(double)), *sv_b = malloc((size_t)nk * sizeof(double));
	double *sv_c = malloc((size_t)nk * sizeof(double));
	double *u = NULL, *vt = NULL;
	if (!w || !sub || !keep || !idx || !g || !sv_a || !sv_b || !sv_c) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	make_problem(w, keep, idx, rows, cols, k, (uint64_t)seed);

	double t_setup = 0, rate = 1;
	if ((err = time_setup(&t_setup, &rate, &sp, g, w, rows, cols)))
		goto out;
	/* The exact route: W's values by a values-only SVD (the old setup), KS against them. */
	double t0 = util_now();
	err = spectrum_new(&sp_svd, w, rows, cols, SPECTRUM_ROUTE_SVD);
	double t_svd = util_now() - t0;
	if (err)
		goto out;
	printf("exact: spectrum_new(SVD) = values-only SVD of W             %9.3f s\n", t_svd);
	int n_orig;
	const double *s_orig = spectrum_orig(sp_svd, &n_orig);

	double ks_a = 0, t_a = 0;
	if ((err = time_gram_route(&t_a, &ks_a, sv_a, sp, keep, samples)))
		goto out;

	/* No route that reduces G_kept to tridiagonal form (every dense symmetric eigensolver)
	 * beats its flops at BLAS 3 rate: the downdate's removed·cols², dsytrd's 4/3·cols³. */
	double floor_a = ((double)removed * cols * cols + 4.0 / 3 * pow(cols, 3)) / rate;
	printf("(a) floor at dsyrk's %.1f GFLOP/s: %.3f s (a reaches %.0f%% of it; target 1.5 s)\n",
	       rate / 1e9, floor_a, 100 * floor_a / t_a);

	/* (b) and (c) include the gather of the kept rows, as the SVD route does. */
	double t_b, t_c;
	if ((err = time_kept_svd(&t_b, sv_b, NULL, NULL, sub, w, keep, rows, cols, k)))
		goto out;
	double ks_b = ks_2samp(s_orig, n_orig, sv_b, nk);
	printf("(b) values-only SVD of W[kept] (dgesdd 'N')  %9.3f s\n", t_b);
	u = malloc((size_t)k * nk * sizeof(double));
	vt = malloc((size_t)nk * cols * sizeof(double));
	if (!u || !vt) {
		fprintf(stderr, "out of memory for U, V^T\n");
		goto out;
	}
	if ((err = time_kept_svd(&t_c, sv_c, u, vt, sub, w, keep, rows, cols, k)))
		goto out;
	double ks_c = ks_2samp(s_orig, n_orig, sv_c, nk);
	printf("(c) full SVD of W[kept] with U, V^T ('S')    %9.3f s\n", t_c);

	printf("ratio b/a %.2f (target >= 10), c/a %.2f; setup ratio exact SVD / new setup %.2f\n",
	       t_b / t_a, t_c / t_a, t_svd / t_setup);
	printf("KS: (a) %.9f  (b, exact) %.9f  (c) %.9f  max |diff| %.3g%s\n", ks_a, ks_b, ks_c,
	       fmax(fabs(ks_a - ks_b), fmax(fabs(ks_a - ks_c), fabs(ks_b - ks_c))),
	       ks_a == ks_b ? " (a == b exactly)" : "");
	printf("singular values of W[kept]: max rel diff a-b %.3g, c-b %.3g; "
	       "sigma_max %.6g, sigma_min %.6g\n",
	       max_rel_diff(sv_a, sv_b, nk), max_rel_diff(sv_c, sv_b, nk), sv_b[0], sv_b[nk - 1]);
	if (fabs(ks_a - ks_b) > 1e-6 || fabs(ks_c - ks_b) > 1e-6) {
		fprintf(stderr, "KS statistics of the routes disagree\n");
		goto out;
	}
	ret = o.tokens ? bench_functional(&o, keep, k) : 0;
out:
	if (err)
		fprintf(stderr, "error: %s\n", spectrum_strerror(err));
	free(vt);
	free(u);
	spectrum_free(sp_svd);
	spectrum_free(sp);
	free(sv_c);
	free(sv_b);
	free(sv_a);
	free(g);
	free(idx);
	free(keep);
	free(sub);
	free(w);
	return ret;
}
