/* policy: one-hidden-layer tanh MLP row scorer with backward and Adam (see policy.h). */
#include "policy.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct policy {
	int d;
	int h;
	size_t count;  /* parameters */
	float *block;  /* (4, count): params | grads | adam m | adam v */
	double *acc;   /* (count) gradient accumulator scratch for backward */
	long steps;
	float *x;      /* (cached_n, d) copy of the last forward's input */
	float *act;    /* (cached_n, h) tanh activations of the last forward */
	size_t x_cap;  /* floats allocated in x */
	size_t act_cap;
	int cached_n;  /* rows cached, or -1 when no forward is available */
};

/* Parameter offsets inside the params (or grads, m, v) section. */
#define OFF_W1(p) ((size_t)0)
#define OFF_B1(p) ((size_t)(p)->h * (size_t)(p)->d)
#define OFF_W2(p) (OFF_B1(p) + (size_t)(p)->h)
#define OFF_B2(p) (OFF_W2(p) + (size_t)(p)->h)

const char *policy_strerror(int status)
{
	switch (status) {
	case POLICY_OK: return "success";
	case POLICY_ERR_ARG: return "invalid argument";
	case POLICY_ERR_NOMEM: return "out of memory";
	case POLICY_ERR_OVERFLOW: return "size overflow";
	case POLICY_ERR_NO_FORWARD: return "backward called before forward";
	case POLICY_ERR_ROWS: return "backward row count differs from the last forward";
	case POLICY_ERR_DIMS: return "policies have different shapes";
	default: return "unknown policy error";
	}
}

static int mul_size(size_t *out, size_t a, size_t b)
{
	if (a != 0 && b > SIZE_MAX / a)
		return POLICY_ERR_OVERFLOW;
	*out = a * b;
	return POLICY_OK;
}

int policy_new(struct policy **out, int n_features, int n_hidden, struct pcg32 *rng)
{
	struct policy *p = NULL;
	size_t hd, count, bytes;
	int rc;

	if (!out || !rng || n_features <= 0 || n_hidden <= 0)
		return POLICY_ERR_ARG;
	rc = mul_size(&hd, (size_t)n_hidden, (size_t)n_features);
	if (rc)
		goto out;
	if (hd > SIZE_MAX - 2 * (size_t)n_hidden - 1) {
		rc = POLICY_ERR_OVERFLOW;
		goto out;
	}
	count = hd + 2 * (size_t)n_hidden + 1;
	/* block holds 4 float sections, acc one double section */
	rc = mul_size(&bytes, count, 4 * sizeof(float));
	if (!rc)
		rc = mul_size(&bytes, count, sizeof(double));
	if (rc)
		goto out;

	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = POLICY_ERR_NOMEM;
		goto out;
	}
	p->d = n_features;
	p->h = n_hidden;
	p->count = count;
	p->cached_n = -1;
	p->block = calloc(4 * count, sizeof(float));
	p->acc = calloc(count, sizeof(double));
	if (!p->block || !p->acc) {
		rc = POLICY_ERR_NOMEM;
		goto out;
	}

	float *w1 = p->block + OFF_W1(p);
	float *w2 = p->block + OFF_W2(p);
	double s1 = 1.0 / sqrt((double)n_features);
	double s2 = 0.1 / sqrt((double)n_hidden);
	for (size_t i = 0; i < hd; i++)
		w1[i] = (float)(s1 * pcg32_normal(rng));
	for (int j = 0; j < n_hidden; j++)
		w2[j] = (float)(s2 * pcg32_normal(rng));

	*out = p;
	p = NULL;
	rc = POLICY_OK;
out:
	policy_free(p);
	return rc;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->block);
	free(p->acc);
	free(p->x);
	free(p->act);
	free(p);
}

static int grow(float **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return POLICY_OK;
	float *nb = realloc(*buf, need * sizeof(float));
	if (!nb)
		return POLICY_ERR_NOMEM;
	*buf = nb;
	*cap = need;
	return POLICY_OK;
}

int policy_forward(struct policy *p, float *scores, const float *x, int n)
{
	size_t nx, na, tmp;
	int rc;

	if (!p)
		return POLICY_ERR_ARG;
	p->cached_n = -1;
	if (n < 0 || (n > 0 && (!scores || !x)))
		return POLICY_ERR_ARG;
	rc = mul_size(&nx, (size_t)n, (size_t)p->d);
	if (!rc)
		rc = mul_size(&na, (size_t)n, (size_t)p->h);
	if (!rc)
		rc = mul_size(&tmp, nx > na ? nx : na, sizeof(float));
	if (rc)
		return rc;
	rc = grow(&p->x, &p->x_cap, nx);
	if (!rc)
		rc = grow(&p->act, &p->act_cap, na);
	if (rc)
		return rc;
	if (nx)
		memcpy(p->x, x, nx * sizeof(float));

	const float *w1 = p->block + OFF_W1(p);
	const float *b1 = p->block + OFF_B1(p);
	const float *w2 = p->block + OFF_W2(p);
	const float b2 = p->block[OFF_B2(p)];
	const int d = p->d, h = p->h;
	for (int r = 0; r < n; r++) {
		const float *xr = p->x + (size_t)r * (size_t)d;
		float *ar = p->act + (size_t)r * (size_t)h;
		double s = b2;
		for (int j = 0; j < h; j++) {
			const float *wj = w1 + (size_t)j * (size_t)d;
			double z = b1[j];
			for (int i = 0; i < d; i++)
				z += (double)wj[i] * xr[i];
			ar[j] = (float)tanh(z);
			s += (double)w2[j] * ar[j];
		}
		scores[r] = (float)s;
	}
	p->cached_n = n;
	return POLICY_OK;
}

int policy_backward(struct policy *p, const float *dscores, int n)
{
	if (!p || n < 0 || (n > 0 && !dscores))
		return POLICY_ERR_ARG;
	if (p->cached_n < 0)
		return POLICY_ERR_NO_FORWARD;
	if (n != p->cached_n)
		return POLICY_ERR_ROWS;

	const int d = p->d, h = p->h;
	const float *w2 = p->block + OFF_W2(p);
	double *gw1 = p->acc + OFF_W1(p);
	double *gb1 = p->acc + OFF_B1(p);
	double *gw2 = p->acc + OFF_W2(p);
	double *gb2 = p->acc + OFF_B2(p);
	memset(p->acc, 0, p->count * sizeof(double));

	for (int r = 0; r < n; r++) {
		const float *xr = p->x + (size_t)r * (size_t)d;
		const float *ar = p->act + (size_t)r * (size_t)h;
		double g = dscores[r];
		*gb2 += g;
		for (int j = 0; j < h; j++) {
			double a = ar[j];
			double delta = g * w2[j] * (1.0 - a * a);
			double *gj = gw1 + (size_t)j * (size_t)d;
			gw2[j] += g * a;
			gb1[j] += delta;
			for (int i = 0; i < d; i++)
				gj[i] += delta * xr[i];
		}
	}

	float *grads = p->block + p->count;
	for (size_t i = 0; i < p->count; i++)
		grads[i] = (float)(grads[i] + p->acc[i]);
	return POLICY_OK;
}

void policy_zero_grad(struct policy *p)
{
	assert(p);
	memset(p->block + p->count, 0, p->count * sizeof(float));
}

void policy_set_grads(struct policy *p, const float *g)
{
	assert(p && g);
	memcpy(p->block + p->count, g, p->count * sizeof(float));
}

void policy_adam_update(float *params, float *m, float *v, const float *grads,
			const struct policy_adam *cfg, long step, size_t count)
{
	assert(cfg && step >= 1);
	const double b1 = cfg->beta1, b2 = cfg->beta2;
	const double bc1 = 1.0 - pow(b1, (double)step);
	const double bc2 = 1.0 - pow(b2, (double)step);
	const double lr = cfg->lr, eps = cfg->eps;
	const double decay = cfg->weight_decay > 0 ? 1.0 - lr * cfg->weight_decay : 1.0;

	for (size_t i = 0; i < count; i++) {
		double g = grads[i];
		double mi = b1 * m[i] + (1.0 - b1) * g;
		double vi = b2 * v[i] + (1.0 - b2) * g * g;
		m[i] = (float)mi;
		v[i] = (float)vi;
		double upd = (mi / bc1) / (sqrt(vi / bc2) + eps);
		params[i] = (float)(params[i] * decay - lr * upd);
	}
}

void policy_adam_step(struct policy *p, const struct policy_adam *cfg)
{
	assert(p && cfg);
	float *params = p->block;
	float *grads = p->block + p->count;
	float *m = p->block + 2 * p->count;
	float *v = p->block + 3 * p->count;
	p->steps++;
	policy_adam_update(params, m, v, grads, cfg, p->steps, p->count);
}

size_t policy_param_count(const struct policy *p)
{
	return p->count;
}

float *policy_params(struct policy *p)
{
	return p->block;
}

const float *policy_grads(const struct policy *p)
{
	return p->block + p->count;
}

int policy_n_features(const struct policy *p)
{
	return p->d;
}

int policy_n_hidden(const struct policy *p)
{
	return p->h;
}

long policy_adam_steps(const struct policy *p)
{
	return p->steps;
}

int policy_copy_params(struct policy *dst, const struct policy *src)
{
	if (!dst || !src)
		return POLICY_ERR_ARG;
	if (dst->d != src->d || dst->h != src->h)
		return POLICY_ERR_DIMS;
	memcpy(dst->block, src->block, src->count * sizeof(float));
	return POLICY_OK;
}
