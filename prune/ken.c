/* ken: KEN's kernel-density selection of each row's weights. See ken.h. */
#include "ken.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kde.h"
#include "pool.h"
#include "topk.h"


/* Past this many bandwidths a Gaussian term exp(-u^2/2) is exactly 0 in double (u^2/2 > 745.2),
 * so summing only inside the window gives the same bits as the full sum. */
#define KEN_WINDOW 39.0

static bool ken_fast = true;

void ken_set_fast(bool on)
{
	ken_fast = on;
}

double ken_bandwidth(const float *row, int n)
{
	if (n < 1)
		return 0;
	double mean = 0, ss = 0;
	for (int i = 0; i < n; i++)
		mean += row[i];
	mean /= n;
	for (int i = 0; i < n; i++)
		ss += ((double)row[i] - mean) * ((double)row[i] - mean);
	double sigma = sqrt(ss / n);
	return 1.06 * sigma * pow((double)n, -0.2);
}

struct vi {
	float v;
	int i;
};

/* Order-preserving unsigned key of a finite float: -0 and +0 share one key (they compare equal). */
static uint32_t float_key(float v)
{
	uint32_t u;
	if (v == 0)
		v = 0; /* -0 -> +0 */
	memcpy(&u, &v, sizeof u);
	return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* s (n) sorted by (value, index), given s in index order: a stable LSD radix sort on the
 * float keys, 4 passes of 8 bits through tmp (n). */
static void sort_by_value(struct vi *s, struct vi *tmp, int n)
{
	struct vi *from = s, *to = tmp;
	for (int shift = 0; shift < 32; shift += 8) {
		int count[257] = {0};
		for (int i = 0; i < n; i++)
			count[((float_key(from[i].v) >> shift) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (int i = 0; i < n; i++)
			to[count[(float_key(from[i].v) >> shift) & 0xff]++] = from[i];
		struct vi *t = from;
		from = to;
		to = t;
	}
	/* four passes: the result is back in s */
}

/* Scratch for one row of up to n weights and k grid points (one allocation). */
struct ken_ws {
	int n_cap, k_cap;
	struct vi *s;        /* (n) row sorted by (value, index) */
	struct vi *s2;       /* (n) the sort's scratch */
	double *xs;          /* (n) sorted values */
	int *run;            /* (n) first sorted position of each value's run of equal values */
	int *nxt;            /* (n+1) union-find: next untaken position >= p (n: none) */
	int *prv;            /* (n+1) slot p+1: previous untaken position <= p, shifted (0: none) */
	double *grid, *dens; /* (k) */
	int *order;          /* (k) grid points by decreasing density */
	int *first_ge;       /* (k) first sorted position with value >= grid point */
	unsigned char *taken;/* (n) naive path */
	double step;         /* grid step */
	struct dj *run_buf;  /* (k) a run of undecided grid points, re-sorted by exact density */
	struct kde *kde;     /* fast density (NULL: direct sums only) */
	void *mem;
};

struct dj {
	double dens;
	int j;
};

static void ken_ws_free(struct ken_ws *w)
{
	kde_free(w->kde);
	free(w->mem);
}

static int ken_ws_init(struct ken_ws *w, int n, int k)
{
	size_t N = (size_t)n + 1, K = (size_t)k + 1;
	size_t bytes = 2 * N * sizeof(struct vi) + N * sizeof(double) + 3 * N * sizeof(int) +
		       2 * K * sizeof(double) + 2 * K * sizeof(int) + N + K * sizeof(struct dj);
	char *p = malloc(bytes + 64);
	if (!p)
		return SCORERS_ERR_NOMEM;
	w->mem = p;
	w->kde = NULL;
	w->n_cap = n;
	w->k_cap = k;
	/* largest alignment first */
	w->xs = (double *)p; p += N * sizeof(double);
	w->grid = (double *)p; p += K * sizeof(double);
	w->dens = (double *)p; p += K * sizeof(double);
	w->run_buf = (struct dj *)p; p += K * sizeof(struct dj);
	w->s = (struct vi *)p; p += N * sizeof(struct vi);
	w->s2 = (struct vi *)p; p += N * sizeof(struct vi);
	w->run = (int *)p; p += N * sizeof(int);
	w->nxt = (int *)p; p += N * sizeof(int);
	w->prv = (int *)p; p += N * sizeof(int);
	w->order = (int *)p; p += K * sizeof(int);
	w->first_ge = (int *)p; p += K * sizeof(int);
	w->taken = (unsigned char *)p;
	return SCORERS_OK;
}

/* Sorts the row into w->s / w->xs / w->run and fills the grid (k) and w->step. Returns
 * SCORERS_ERR_VALUE for a non-finite weight. */
static int ken_sort_grid(struct ken_ws *w, const float *row, int n, int k)
{
	for (int i = 0; i < n; i++) {
		if (!isfinite(row[i]))
			return SCORERS_ERR_VALUE;
		w->s[i] = (struct vi){row[i], i};
	}
	sort_by_value(w->s, w->s2, n);
	for (int p = 0; p < n; p++) {
		w->xs[p] = w->s[p].v;
		w->run[p] = p > 0 && w->s[p].v == w->s[p - 1].v ? w->run[p - 1] : p;
	}
	double lo = w->xs[0], hi = w->xs[n - 1];
	w->step = k > 1 ? (hi - lo) / (k - 1) : 0;
	for (int j = 0; j < k; j++)
		w->grid[j] = j == k - 1 && k > 1 ? hi : lo + j * w->step;
	return SCORERS_OK;
}

static double ken_norm(int n, double h)
{
	return 1.0 / ((double)n * h * sqrt(2.0 * M_PI));
}

/* The windowed sum at grid value g: the sorted values p with g - xs[p] <= reach and
 * xs[p] - g <= reach, found by binary search — the same terms, added in the same order, as
 * ken_dens_direct's sliding window, hence the same bits. */
static double ken_sum_at(const struct ken_ws *w, int n, double g, double h)
{
	double reach = KEN_WINDOW * h;
	int a = 0, hb = n;
	while (a < hb) { /* first p with g - xs[p] <= reach */
		int mid = a + (hb - a) / 2;
		if (g - w->xs[mid] > reach)
			a = mid + 1;
		else
			hb = mid;
	}
	int b = a;
	hb = n;
	while (b < hb) { /* first p with xs[p] - g > reach */
		int mid = b + (hb - b) / 2;
		if (w->xs[mid] - g <= reach)
			b = mid + 1;
		else
			hb = mid;
	}
	double sum = 0;
	for (int p = a; p < b; p++) {
		double u = (g - w->xs[p]) / h;
		sum += exp(-0.5 * u * u);
	}
	return sum;
}

/* density (k) by direct sums; full: every term (the naive reference) instead of the window. */
static void ken_dens_direct(struct ken_ws *w, int n, int k, double h, bool full)
{
	double norm = ken_norm(n, h), reach = KEN_WINDOW * h;
	int a = 0, b = 0; /* window [a, b) of sorted values within reach of the grid point */
	for (int j = 0; j < k; j++) {
		double g = w->grid[j];
		int from = 0, to = n;
		if (!full) {
			while (a < n && g - w->xs[a] > reach)
				a++;
			if (b < a)
				b = a;
			while (b < n && w->xs[b] - g <= reach)
				b++;
			from = a;
			to = b;
		}
		double sum = 0;
		for (int p = from; p < to; p++) {
			double u = (g - w->xs[p]) / h;
			sum += exp(-0.5 * u * u);
		}
		w->dens[j] = sum * norm;
	}
}

/* Sorts the row and fills grid and density (k) by direct sums. Returns SCORERS_ERR_VALUE for a
 * non-finite weight. full: sum every term (the naive reference) instead of the window. */
static int ken_prepare(struct ken_ws *w, const float *row, int n, int k, bool full)
{
	int rc = ken_sort_grid(w, row, n, k);
	if (rc)
		return rc;
	double h = ken_bandwidth(row, n);
	if (!(h > 0) || !isfinite(h)) {
		for (int j = 0; j < k; j++)
			w->dens[j] = 0;
		return SCORERS_OK;
	}
	ken_dens_direct(w, n, k, h, full);
	return SCORERS_OK;
}

/* w->order = grid points by decreasing density, ties lower j first */
static int ken_order(struct ken_ws *w, int k)
{
	return util_topk_double(w->order, w->dens, k, k) ? SCORERS_ERR_NOMEM : SCORERS_OK;
}

static int cmp_dj(const void *pa, const void *pb)
{
	const struct dj *a = pa, *b = pb;
	if (a->dens != b->dens)
		return a->dens > b->dens ? -1 : 1;
	return (a->j > b->j) - (a->j < b->j);
}

/* Error allowance of an approximate density v whose exact value e obeys
 * |v - e| <= rel * e + abs: twice that bound at e = max(v, 0) covers e <= (v + abs) / (1 - rel);
 * v - tol(v) and v + tol(v) both grow with v. */
static double ken_tol(double v, double rel, double abs)
{
	return 2 * (rel * fmax(v, 0) + abs);
}

/* Puts every run of neighbours in w->order that the approximate densities cannot separate
 * (gap <= the sum of their allowances) in the order of their exact densities (ken_sum_at,
 * ties lower j). Between runs the approximate order is already the exact one, because both ends
 * of the allowance grow with the density. */
static void ken_resolve_runs(struct ken_ws *w, int n, int k, double h, double rel, double abs)
{
	double norm = ken_norm(n, h);
	const double *v = w->dens;
	int *o = w->order;
	for (int t = 0; t < k;) {
		int e = t;
		while (e + 1 < k &&
		       v[o[e]] - v[o[e + 1]] <= ken_tol(v[o[e]], rel, abs) + ken_tol(v[o[e + 1]], rel, abs))
			e++;
		if (e > t) {
			for (int i = t; i <= e; i++)
				w->run_buf[i - t] = (struct dj){ken_sum_at(w, n, w->grid[o[i]], h) * norm, o[i]};
			qsort(w->run_buf, (size_t)(e - t + 1), sizeof *w->run_buf, cmp_dj);
			for (int i = t; i <= e; i++)
				o[i] = w->run_buf[i - t].j;
		}
		t = e + 1;
	}
}

/* w->order for a sorted row (ken_sort_grid done) from kde.h's approximate densities, made exact
 * by ken_resolve_runs. Returns 1 when the fast densities do not apply (the caller sums directly),
 * else 0 or an error. */
static int ken_order_fast(struct ken_ws *w, int n, int k, double h)
{
	if (!(h > 0) || !isfinite(h))
		return 1;
	if (!w->kde && kde_new(&w->kde))
		return SCORERS_ERR_NOMEM;
	double rel, abs;
	int rc = kde_grid_sums(w->kde, w->dens, &rel, &abs, w->xs, n, w->grid[0], w->step, k, h);
	if (rc)
		return rc == KDE_UNSUITABLE ? 1 : SCORERS_ERR_NOMEM;
	double norm = ken_norm(n, h);
	for (int j = 0; j < k; j++)
		w->dens[j] *= norm;
	if ((rc = ken_order(w, k)))
		return rc;
	ken_resolve_runs(w, n, k, h, rel, abs * norm);
	return SCORERS_OK;
}

static int find_next(int *nxt, int p)
{
	while (nxt[p] != p) {
		nxt[p] = nxt[nxt[p]];
		p = nxt[p];
	}
	return p;
}

/* slot q = p + 1; returns the untaken position <= p, or -1 */
static int find_prev(int *prv, int p)
{
	int q = p + 1;
	while (prv[q] != q) {
		prv[q] = prv[prv[q]];
		q = prv[q];
	}
	return q - 1;
}

static int check_args(int n, int k)
{
	return n < 0 || k < 0 || k > n ? SCORERS_ERR_ARG : SCORERS_OK;
}

/* keep (n) for one row with prepared scratch. */
static int ken_row_ws(unsigned char *keep, const float *row, int n, int k, struct ken_ws *w)
{
	if (k == n || k == 0) {
		for (int i = 0; i < n; i++)
			if (!isfinite(row[i]))
				return SCORERS_ERR_VALUE;
		memset(keep, k == n, (size_t)n);
		return SCORERS_OK;
	}
	if (n < 2 || k < 1 || k >= n) /* 0 < k < n from here on */
		return SCORERS_ERR_ARG;
	int rc = ken_sort_grid(w, row, n, k);
	if (rc)
		return rc;
	double h = ken_bandwidth(row, n);
	rc = ken_fast ? ken_order_fast(w, n, k, h) : 1;
	if (rc == 1) { /* direct sums */
		if (!(h > 0) || !isfinite(h))
			memset(w->dens, 0, (size_t)k * sizeof *w->dens);
		else
			ken_dens_direct(w, n, k, h, false);
		rc = ken_order(w, k);
	}
	if (rc)
		return rc;
	for (int j = 0, p = 0; j < k; j++) { /* grid ascending: one merge */
		while (p < n && w->xs[p] < w->grid[j])
			p++;
		w->first_ge[j] = p;
	}
	for (int p = 0; p <= n; p++) {
		w->nxt[p] = p;
		w->prv[p] = p;
	}
	memset(keep, 0, (size_t)n);
	for (int t = 0; t < k; t++) {
		double g = w->grid[w->order[t]];
		int lb = w->first_ge[w->order[t]];
		int above = find_next(w->nxt, lb);
		int below = lb > 0 ? find_prev(w->prv, lb - 1) : -1;
		if (below >= 0)
			below = find_next(w->nxt, w->run[below]); /* lowest index among equal values */
		int pick;
		if (above == n)
			pick = below;
		else if (below < 0)
			pick = above;
		else {
			double da = w->xs[above] - g, db = g - w->xs[below];
			if (da != db)
				pick = da < db ? above : below;
			else
				pick = w->s[above].i < w->s[below].i ? above : below;
		}
		keep[w->s[pick].i] = 1;
		w->nxt[pick] = pick + 1;
		w->prv[pick + 1] = pick;
	}
	return SCORERS_OK;
}

int ken_density(double *density, double *grid, const float *row, int n, int k)
{
	if (n < 1 || k < 1)
		return SCORERS_ERR_ARG;
	struct ken_ws w;
	if (ken_ws_init(&w, n, k))
		return SCORERS_ERR_NOMEM;
	int rc = ken_prepare(&w, row, n, k, false);
	if (!rc) {
		memcpy(density, w.dens, (size_t)k * sizeof *density);
		memcpy(grid, w.grid, (size_t)k * sizeof *grid);
	}
	ken_ws_free(&w);
	return rc;
}

int ken_row(unsigned char *keep, const float *row, int n, int k)
{
	int rc = check_args(n, k);
	if (rc)
		return rc;
	struct ken_ws w;
	if (ken_ws_init(&w, n, k))
		return SCORERS_ERR_NOMEM;
	unsigned char *tmp = malloc((size_t)n + 1);
	rc = tmp ? ken_row_ws(tmp, row, n, k, &w) : SCORERS_ERR_NOMEM;
	if (!rc)
		memcpy(keep, tmp, (size_t)n);
	free(tmp);
	ken_ws_free(&w);
	return rc;
}

int ken_row_naive(unsigned char *keep, const float *row, int n, int k)
{
	int rc = check_args(n, k);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++)
		if (!isfinite(row[i]))
			return SCORERS_ERR_VALUE;
	if (k == 0 || k == n) {
		memset(keep, k == n, (size_t)n);
		return SCORERS_OK;
	}
	struct ken_ws w;
	if (ken_ws_init(&w, n, k))
		return SCORERS_ERR_NOMEM;
	rc = ken_prepare(&w, row, n, k, true);
	if (rc)
		goto out;
	if ((rc = ken_order(&w, k)))
		goto out;
	memset(w.taken, 0, (size_t)n);
	for (int t = 0; t < k; t++) {
		double g = w.grid[w.order[t]];
		int best = -1;
		double bd = 0;
		for (int i = 0; i < n; i++) {
			if (w.taken[i])
				continue;
			double d = fabs(g - (double)row[i]);
			if (best < 0 || d < bd) {
				best = i;
				bd = d;
			}
		}
		w.taken[best] = 1;
	}
	memcpy(keep, w.taken, (size_t)n);
out:
	ken_ws_free(&w);
	return rc;
}

struct ken_job {
	unsigned char *mask;
	const float *w;
	int rows, cols, k;
	struct ken_ws *ws; /* (threads) one per worker */
	int *rc;           /* (chunks) */
};

enum { KEN_CHUNK_ROWS = 16 };

static void ken_chunk(void *ctx, int chunk, int worker)
{
	struct ken_job *j = ctx;
	int r0 = chunk * KEN_CHUNK_ROWS, r1 = r0 + KEN_CHUNK_ROWS < j->rows ? r0 + KEN_CHUNK_ROWS : j->rows;
	int rc = SCORERS_OK;
	for (int r = r0; r < r1 && !rc; r++)
		rc = ken_row_ws(j->mask + (size_t)r * j->cols, j->w + (size_t)r * j->cols, j->cols, j->k,
				&j->ws[worker]);
	j->rc[chunk] = rc;
}

int ken_weights(unsigned char *mask, const float *w, int rows, int cols, double ratio)
{
	if (rows < 0 || cols < 0)
		return SCORERS_ERR_ARG;
	int k = util_keep_count(cols, ratio);
	if (k < 0)
		return SCORERS_ERR_RATIO;
	if (rows == 0 || cols == 0)
		return SCORERS_OK;
	int threads = pool_get_threads(), chunks = (rows + KEN_CHUNK_ROWS - 1) / KEN_CHUNK_ROWS;
	struct ken_job j = {.mask = mask, .w = w, .rows = rows, .cols = cols, .k = k,
			    .ws = calloc((size_t)threads, sizeof *j.ws),
			    .rc = calloc((size_t)chunks, sizeof *j.rc)};
	int rc = j.ws && j.rc ? SCORERS_OK : SCORERS_ERR_NOMEM, made = 0;
	for (; made < threads && !rc; made++)
		rc = ken_ws_init(&j.ws[made], cols, k);
	if (rc && made > 0)
		made--; /* the failed one holds nothing */
	if (!rc) {
		pool_run(ken_chunk, &j, chunks);
		for (int c = 0; c < chunks && !rc; c++)
			rc = j.rc[c];
	}
	for (int t = 0; t < made; t++)
		ken_ws_free(&j.ws[t]);
	free(j.ws);
	free(j.rc);
	return rc;
}
