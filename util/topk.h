/* topk: the selection helpers every scorer, plan and sampler shares — which items are kept, and
 * how many are kept at a ratio — so there is exactly one tie rule and one rounding rule. */
#ifndef YOPO_TOPK_H
#define YOPO_TOPK_H

/* Items kept out of n when `ratio` of them is removed: n - lround(ratio * n). Returns -1 when
 * ratio is NaN or outside [0, 1), when n < 0, or when nothing would be kept while n >= 1. */
int util_keep_count(int n, double ratio);

/* order (k) = indices of the k largest score (n) entries in decreasing score order; equal scores
 * by lower index; NaN ranks below every number. Returns 0, or -1 (k outside [0, n], n < 0,
 * out of memory; order untouched). */
int util_topk(int *order, const float *score, int n, int k);

/* Same on double keys. */
int util_topk_double(int *order, const double *score, int n, int k);

/* keep (n) = 1 for the indices util_topk would return, 0 elsewhere. */
int util_topk_mask(unsigned char *keep, const float *score, int n, int k);

/* Naive reference of util_topk: k selection passes over all items, O(n k). */
int util_topk_naive(int *order, const float *score, int n, int k);

#endif
