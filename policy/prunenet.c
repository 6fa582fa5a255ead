/* prunenet: the PruneNet policy reproduction (see prunenet.h for the formulas). */
#include "prunenet.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampling.h"

/* Logits beyond this are treated as broken input: the float log p would overflow. */
#define PRUNENET_MAX_LOGIT 1e30

struct prunenet {
	int hidden;
	int ffn;
	size_t count;        /* parameters */
	float *block;        /* (4, count): params | grads | adam m | adam v */
	long steps;
	/* last forward */
	const float *weight; /* (ffn, hidden) borrowed */
	double *z;           /* (ffn) logit(alpha) = proj @ r */
	double *y;           /* (ffn) z + logistic noise = logit(p) */
	double *gz;          /* (ffn) scratch: dL/dz */
	double *v;           /* (hidden) A^T r */
	double *dv;          /* (hidden) scratch: dL/dv */
	float *logp;         /* (ffn) log p, the sampling scores */
	int have_forward;
};

const char *prunenet_strerror(int status)
{
	switch (status) {
	case PRUNENET_OK: return "success";
	case PRUNENET_ERR_ARG: return "invalid argument";
	case PRUNENET_ERR_NOMEM: return "out of memory";
	case PRUNENET_ERR_OVERFLOW: return "size overflow";
	case PRUNENET_ERR_NO_FORWARD: return "no forward pass to use";
	case PRUNENET_ERR_INDEX: return "kept index out of range";
	case PRUNENET_ERR_NONFINITE: return "input weights give a non-finite logit";
	case PRUNENET_ERR_DIMS: return "nets have different shapes";
	default: return "unknown prunenet error";
	}
}

static double sigmoid(double x)
{
	if (x >= 0)
		return 1.0 / (1.0 + exp(-x));
	double e = exp(x);
	return e / (1.0 + e);
}

/* log sigmoid(x) = -softplus(-x), without overflow for either sign. */
static double log_sigmoid(double x)
{
	return (x < 0 ? x : 0.0) - log1p(exp(-fabs(x)));
}

static float *par_a(const struct prunenet *p)
{
	return p->block;
}

static float *par_b(const struct prunenet *p)
{
	return p->block + (size_t)p->ffn * (size_t)p->hidden;
}

static float *par_r(const struct prunenet *p)
{
	return par_b(p) + p->ffn;
}

int prunenet_new(struct prunenet **out, int hidden, int ffn, struct pcg32 *rng)
{
	struct prunenet *p = NULL;
	size_t fh, count;
	int rc = PRUNENET_OK;

	if (!out || !rng || hidden <= 0 || ffn <= 0)
		return PRUNENET_ERR_ARG;
	if ((size_t)ffn > SIZE_MAX / (size_t)hidden) {
		rc = PRUNENET_ERR_OVERFLOW;
		goto out;
	}
	fh = (size_t)ffn * (size_t)hidden;
	if (fh > SIZE_MAX - 2 * (size_t)ffn) {
		rc = PRUNENET_ERR_OVERFLOW;
		goto out;
	}
	count = fh + 2 * (size_t)ffn;
	if (count > SIZE_MAX / (4 * sizeof(float))) {
		rc = PRUNENET_ERR_OVERFLOW;
		goto out;
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = PRUNENET_ERR_NOMEM;
		goto out;
	}
	p->hidden = hidden;
	p->ffn = ffn;
	p->count = count;
	p->block = calloc(4 * count, sizeof(float));
	p->z = malloc((size_t)ffn * sizeof(double));
	p->y = malloc((size_t)ffn * sizeof(double));
	p->gz = malloc((size_t)ffn * sizeof(double));
	p->v = malloc((size_t)hidden * sizeof(double));
	p->dv = malloc((size_t)hidden * sizeof(double));
	p->logp = malloc((size_t)ffn * sizeof(float));
	if (!p->block || !p->z || !p->y || !p->gz || !p->v || !p->dv || !p->logp) {
		rc = PRUNENET_ERR_NOMEM;
		goto out;
	}

	/* torch nn.Linear default: kaiming_uniform(a=sqrt 5) => U(+-1/sqrt(fan_in)). */
	double bound = 1.0 / sqrt((double)hidden);
	float *a = par_a(p), *b = par_b(p), *r = par_r(p);
	for (size_t i = 0; i < fh; i++)
		a[i] = (float)((2.0 * pcg32_uniform(rng) - 1.0) * bound);
	for (int j = 0; j < ffn; j++)
		b[j] = (float)((2.0 * pcg32_uniform(rng) - 1.0) * bound);
	for (int j = 0; j < ffn; j++)
		r[j] = (float)pcg32_uniform(rng);

	*out = p;
	p = NULL;
out:
	prunenet_free(p);
	return rc;
}

void prunenet_free(struct prunenet *p)
{
	if (!p)
		return;
	free(p->block);
	free(p->z);
	free(p->y);
	free(p->gz);
	free(p->v);
	free(p->dv);
	free(p->logp);
	free(p);
}

int prunenet_forward(struct prunenet *p, float *probs, const float *weight, struct pcg32 *rng)
{
	if (!p || !weight)
		return PRUNENET_ERR_ARG;
	p->have_forward = 0;
	const int hidden = p->hidden, ffn = p->ffn;
	const float *a = par_a(p), *b = par_b(p), *r = par_r(p);

	/* proj @ r = W (A^T r) + b.r */
	double c = 0.0;
	for (int h = 0; h < hidden; h++)
		p->v[h] = 0.0;
	for (int j = 0; j < ffn; j++) {
		const float *aj = a + (size_t)j * (size_t)hidden;
		double rj = r[j];
		for (int h = 0; h < hidden; h++)
			p->v[h] += (double)aj[h] * rj;
		c += (double)b[j] * rj;
	}
	for (int i = 0; i < ffn; i++) {
		const float *wi = weight + (size_t)i * (size_t)hidden;
		double z = c;
		for (int h = 0; h < hidden; h++)
			z += (double)wi[h] * p->v[h];
		if (!(fabs(z) <= PRUNENET_MAX_LOGIT))
			return PRUNENET_ERR_NONFINITE;
		p->z[i] = z;
	}

	for (int i = 0; i < ffn; i++) {
		double noise = 0.0;
		if (rng) {
			double eps = pcg32_uniform_open(rng);
			noise = log(eps) - log1p(-eps);
		}
		double y = p->z[i] + noise;
		p->y[i] = y;
		p->logp[i] = (float)log_sigmoid(y);
		if (probs)
			probs[i] = (float)sigmoid(y);
	}
	p->weight = weight;
	p->have_forward = 1;
	return PRUNENET_OK;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int prunenet_sample(struct prunenet *p, int *kept, int k, struct pcg32 *rng)
{
	if (!p || !rng || k < 0 || k > (p ? p->ffn : 0) || (k > 0 && !kept))
		return PRUNENET_ERR_ARG;
	if (!p->have_forward)
		return PRUNENET_ERR_NO_FORWARD;
	if (k == 0)
		return PRUNENET_OK;
	int rc = sampling_gumbel_topk(kept, p->logp, p->ffn, k, rng);
	if (rc == SAMPLING_ERR_NOMEM)
		return PRUNENET_ERR_NOMEM;
	/* logp is finite by construction (|y| is bounded in forward) */
	assert(rc == SAMPLING_OK);
	qsort(kept, (size_t)k, sizeof(*kept), cmp_int);
	return PRUNENET_OK;
}

static int check_kept(const struct prunenet *p, const int *kept, int k)
{
	if (!p || k < 0 || (k > 0 && !kept))
		return PRUNENET_ERR_ARG;
	if (!p->have_forward)
		return PRUNENET_ERR_NO_FORWARD;
	for (int t = 0; t < k; t++)
		if (kept[t] < 0 || kept[t] >= p->ffn)
			return PRUNENET_ERR_INDEX;
	return PRUNENET_OK;
}

int prunenet_loss(double *out, const struct prunenet *p, const int *kept, int k, float weight)
{
	if (!out)
		return PRUNENET_ERR_ARG;
	int rc = check_kept(p, kept, k);
	if (rc)
		return rc;
	double s = 0.0;
	for (int t = 0; t < k; t++)
		s += log_sigmoid(p->y[kept[t]]);
	*out = -(double)weight * s;
	return PRUNENET_OK;
}

/*
 * Push gz = dL/dz (ffn) back to the parameters. z_i = W_i . v + c with
 * v = A^T r and c = b . r, so dL/dv = W^T gz, dL/dc = sum gz, and
 * dA_j = r_j dL/dv, db_j = r_j dL/dc, dr_j = A_j . dL/dv + b_j dL/dc.
 */
static void chain_rule(struct prunenet *p)
{
	const int hidden = p->hidden, ffn = p->ffn;
	const float *a = par_a(p), *b = par_b(p), *r = par_r(p);
	float *grads = p->block + p->count;
	float *ga = grads;
	float *gb = grads + (size_t)ffn * (size_t)hidden;
	float *gr = gb + ffn;

	double gc = 0.0;
	for (int h = 0; h < hidden; h++)
		p->dv[h] = 0.0;
	for (int i = 0; i < ffn; i++) {
		double g = p->gz[i];
		if (g == 0.0)
			continue;
		const float *wi = p->weight + (size_t)i * (size_t)hidden;
		gc += g;
		for (int h = 0; h < hidden; h++)
			p->dv[h] += g * wi[h];
	}
	for (int j = 0; j < ffn; j++) {
		const float *aj = a + (size_t)j * (size_t)hidden;
		float *gaj = ga + (size_t)j * (size_t)hidden;
		double rj = r[j];
		double dr = (double)b[j] * gc;
		for (int h = 0; h < hidden; h++) {
			gaj[h] = (float)(gaj[h] + rj * p->dv[h]);
			dr += (double)aj[h] * p->dv[h];
		}
		gb[j] = (float)(gb[j] + rj * gc);
		gr[j] = (float)(gr[j] + dr);
	}
}

int prunenet_backward(struct prunenet *p, const int *kept, int k, float weight)
{
	int rc = check_kept(p, kept, k);
	if (rc)
		return rc;
	for (int i = 0; i < p->ffn; i++)
		p->gz[i] = 0.0;
	/* d(-w log sigmoid(y))/dz = -w (1 - sigmoid(y)) = -w sigmoid(-y) */
	for (int t = 0; t < k; t++)
		p->gz[kept[t]] -= (double)weight * sigmoid(-p->y[kept[t]]);
	chain_rule(p);
	return PRUNENET_OK;
}

int prunenet_kld(double *out, const struct prunenet *p)
{
	if (!out || !p)
		return PRUNENET_ERR_ARG;
	if (!p->have_forward)
		return PRUNENET_ERR_NO_FORWARD;
	double s = 0.0;
	for (int i = 0; i < p->ffn; i++) {
		double z = p->z[i];
		double al = sigmoid(z);
		s += -(1.0 - al) * log_sigmoid(z) - al * log_sigmoid(-z) + log(0.5);
	}
	*out = s;
	return PRUNENET_OK;
}

int prunenet_backward_kld(struct prunenet *p, float weight)
{
	if (!p)
		return PRUNENET_ERR_ARG;
	if (!p->have_forward)
		return PRUNENET_ERR_NO_FORWARD;
	/* f(alpha) = -(1-a) log a - a log(1-a): df/dz = a(1-a) z + 2a - 1 */
	for (int i = 0; i < p->ffn; i++) {
		double z = p->z[i];
		double al = sigmoid(z);
		p->gz[i] = (double)weight * (al * (1.0 - al) * z + 2.0 * al - 1.0);
	}
	chain_rule(p);
	return PRUNENET_OK;
}

void prunenet_zero_grad(struct prunenet *p)
{
	assert(p);
	memset(p->block + p->count, 0, p->count * sizeof(float));
}

struct policy_adam prunenet_adamw_defaults(void)
{
	struct policy_adam cfg = {
		.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
	};
	return cfg;
}

void prunenet_adamw_step(struct prunenet *p, const struct policy_adam *cfg)
{
	assert(p && cfg);
	p->steps++;
	policy_adam_update(p->block, p->block + 2 * p->count, p->block + 3 * p->count,
			   p->block + p->count, cfg, p->steps, p->count);
}

int prunenet_alpha_reference(float *alpha, const struct prunenet *p, const float *weight)
{
	if (!alpha || !p || !weight)
		return PRUNENET_ERR_ARG;
	const int hidden = p->hidden, ffn = p->ffn;
	const float *a = par_a(p), *b = par_b(p), *r = par_r(p);
	for (int i = 0; i < ffn; i++) {
		const float *wi = weight + (size_t)i * (size_t)hidden;
		double acc = 0.0;
		for (int j = 0; j < ffn; j++) {
			const float *aj = a + (size_t)j * (size_t)hidden;
			double proj = b[j];
			for (int h = 0; h < hidden; h++)
				proj += (double)wi[h] * aj[h];
			acc += proj * r[j];
		}
		alpha[i] = (float)sigmoid(acc);
	}
	return PRUNENET_OK;
}

size_t prunenet_param_count(const struct prunenet *p)
{
	return p->count;
}

float *prunenet_params(struct prunenet *p)
{
	return p->block;
}

const float *prunenet_grads(const struct prunenet *p)
{
	return p->block + p->count;
}

int prunenet_hidden(const struct prunenet *p)
{
	return p->hidden;
}

int prunenet_ffn(const struct prunenet *p)
{
	return p->ffn;
}

long prunenet_adam_steps(const struct prunenet *p)
{
	return p->steps;
}

int prunenet_copy_params(struct prunenet *dst, const struct prunenet *src)
{
	if (!dst || !src)
		return PRUNENET_ERR_ARG;
	if (dst->hidden != src->hidden || dst->ffn != src->ffn)
		return PRUNENET_ERR_DIMS;
	memcpy(dst->block, src->block, src->count * sizeof(float));
	return PRUNENET_OK;
}
