/* sampler: greedy, temperature, top-k and top-p picks from a logits row. See sampler.h. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>

#include "pcg32.h"

struct cand {
	float logit;
	int id;
};

struct sampler {
	struct sample_opts o;
	int vocab;
	struct pcg32 rng;
	struct cand *c;   /* vocab candidates */
	double *p;        /* vocab unnormalised probabilities */
	float top;        /* largest candidate logit */
};

int sampler_new(struct sampler **out, const struct sample_opts *o, int vocab)
{
	struct sample_opts g = {0, 0, 1, 0};
	if (!o)
		o = &g;
	if (!out || vocab < 1 || !isfinite(o->temperature) || o->temperature < 0 || o->top_k < 0 ||
	    !(o->top_p > 0 && o->top_p <= 1))
		return SAMPLER_ERR_ARG;
	struct sampler *s = calloc(1, sizeof *s);
	if (!s)
		return SAMPLER_ERR_NOMEM;
	s->o = *o;
	s->vocab = vocab;
	s->c = malloc((size_t)vocab * sizeof *s->c);
	s->p = malloc((size_t)vocab * sizeof *s->p);
	if (!s->c || !s->p) {
		sampler_free(s);
		return SAMPLER_ERR_NOMEM;
	}
	pcg32_seed(&s->rng, o->seed, 0x79706f70u); /* stream "ypop" */
	*out = s;
	return SAMPLER_OK;
}

void sampler_free(struct sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s->p);
	free(s);
}

/* Larger logit first, then lower id: a total order, so qsort's result is unique. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit > y->logit ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int argmax(const float *logits, const unsigned char *mask, int V)
{
	int best = -1;
	for (int i = 0; i < V; i++)
		if ((!mask || mask[i]) && isfinite(logits[i]) && (best < 0 || logits[i] > logits[best]))
			best = i;
	return best;
}

static void swap(struct cand *a, struct cand *b)
{
	struct cand t = *a;
	*a = *b;
	*b = t;
}

/* Moves the k first candidates of c[0..n) in cand_cmp order to c[0..k) (any order), O(n) on
 * average (Hoare's selection, middle pivot). */
static void select_first(struct cand *c, int n, int k)
{
	int lo = 0, hi = n - 1;
	while (lo < hi) {
		swap(&c[(lo + hi) / 2], &c[hi]);
		int store = lo;
		for (int i = lo; i < hi; i++)
			if (cand_cmp(&c[i], &c[hi]) < 0)
				swap(&c[i], &c[store++]);
		swap(&c[store], &c[hi]);
		if (store == k - 1 || store == k)
			return;
		if (store < k)
			lo = store + 1;
		else
			hi = store - 1;
	}
}

/* Candidates (unsorted), cut to the top-k (any order); returns their count. */
static int candidates(struct sampler *s, const float *logits, const unsigned char *mask)
{
	int n = 0;
	float top = -INFINITY;
	for (int i = 0; i < s->vocab; i++)
		if ((!mask || mask[i]) && isfinite(logits[i])) {
			s->c[n++] = (struct cand){logits[i], i};
			if (logits[i] > top)
				top = logits[i];
		}
	if (s->o.top_k > 0 && s->o.top_k < n) {
		select_first(s->c, n, (int)s->o.top_k);
		n = (int)s->o.top_k;
	}
	s->top = top;
	return n;
}

/* Sorts the shortest prefix in probability order whose mass reaches top_p of total and returns
 * its length (its mass in *total). Only a growing head is sorted — 64, 256, ... candidates, each
 * brought to the front by selection — since a nucleus is usually a few ids of a large
 * vocabulary. */
static int nucleus(struct sampler *s, int n, double *total)
{
	for (int k = n < 64 ? n : 64;; k = 4 * k < n ? 4 * k : n) {
		if (k < n)
			select_first(s->c, n, k);
		qsort(s->c, (size_t)k, sizeof *s->c, cand_cmp);
		double mass = 0;
		for (int i = 0; i < k; i++) {
			mass += exp(((double)s->c[i].logit - s->top) / s->o.temperature);
			if (mass >= s->o.top_p * *total) {
				*total = mass;
				return i + 1;
			}
		}
		if (k == n)
			return n; /* rounding: the whole mass fell just short */
	}
}

int sampler_pick(struct sampler *s, const float *logits, const unsigned char *mask)
{
	if (s->o.temperature == 0 || s->o.top_k == 1)
		return argmax(logits, mask, s->vocab);
	int n = candidates(s, logits, mask);
	if (n == 0)
		return -1;
	double total = 0;
	for (int i = 0; i < n; i++)
		total += exp(((double)s->c[i].logit - s->top) / s->o.temperature);
	if (s->o.top_p < 1)
		n = nucleus(s, n, &total);
	for (int i = 0; i < n; i++)
		s->p[i] = exp(((double)s->c[i].logit - s->top) / s->o.temperature);
	double u = pcg32_uniform(&s->rng) * total, acc = 0;
	for (int i = 0; i < n; i++) {
		acc += s->p[i];
		if (u < acc)
			return s->c[i].id;
	}
	return s->c[n - 1].id; /* rounding left u at the very end */
}
