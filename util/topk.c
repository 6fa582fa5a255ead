/* topk: keep counts and top-k selection with one tie rule. See topk.h. */
#include "topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int util_keep_count(int n, double ratio)
{
	if (!(ratio >= 0.0 && ratio < 1.0) || n < 0)
		return -1;
	long removed = lround(ratio * (double)n);
	int k = n - (int)removed;
	if (n >= 1 && k < 1)
		return -1;
	return k;
}

struct keyed {
	double key;
	int idx;
};

/* decreasing key, NaN last, then increasing index: a strict total order, so qsort's instability
 * cannot show */
static int cmp_keyed(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;
	int na = isnan(a->key), nb = isnan(b->key);
	if (na != nb)
		return na - nb;
	if (!na && a->key != b->key)
		return a->key > b->key ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* exactly one of fs, ds (n) is non-NULL: the float and double entry points share one path */
static int topk_keys(int *order, const float *fs, const double *ds, int n, int k)
{
	if (n < 0 || k < 0 || k > n)
		return -1;
	struct keyed *items = malloc(((size_t)n + 1) * sizeof *items);
	if (!items)
		return -1;
	for (int i = 0; i < n; i++)
		items[i] = (struct keyed){fs ? (double)fs[i] : ds[i], i};
	qsort(items, (size_t)n, sizeof *items, cmp_keyed);
	for (int i = 0; i < k; i++)
		order[i] = items[i].idx;
	free(items);
	return 0;
}

int util_topk(int *order, const float *score, int n, int k)
{
	return topk_keys(order, score, NULL, n, k);
}

int util_topk_double(int *order, const double *score, int n, int k)
{
	return topk_keys(order, NULL, score, n, k);
}

int util_topk_mask(unsigned char *keep, const float *score, int n, int k)
{
	int *order = malloc(((size_t)k + 1) * sizeof *order);
	if (!order || util_topk(order, score, n, k)) {
		free(order);
		return -1;
	}
	memset(keep, 0, (size_t)n);
	for (int i = 0; i < k; i++)
		keep[order[i]] = 1;
	free(order);
	return 0;
}

int util_topk_naive(int *order, const float *score, int n, int k)
{
	if (n < 0 || k < 0 || k > n)
		return -1;
	unsigned char *taken = calloc((size_t)n + 1, 1);
	if (!taken)
		return -1;
	for (int i = 0; i < k; i++) {
		int best = -1;
		for (int j = 0; j < n; j++) {
			if (taken[j])
				continue;
			if (best < 0 || (isnan(score[best]) && !isnan(score[j])) ||
			    (!isnan(score[j]) && score[j] > score[best]))
				best = j;
		}
		taken[best] = 1;
		order[i] = best;
	}
	free(taken);
	return 0;
}
