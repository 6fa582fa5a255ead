/*
 * test-policy: the MLP row scorer — forward on a hand-computed case, backward
 * against finite differences of an independent double-precision forward, Adam
 * and AdamW against hand-computed steps, a small regression that must learn,
 * and every error code.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pcg32.h"
#include "policy.h"
#include "testutil.h"

static struct policy *make_policy(int d, int h, uint64_t seed)
{
	struct pcg32 rng;
	struct policy *p = NULL;
	pcg32_seed(&rng, seed, 1u);
	ck_assert_int_eq(policy_new(&p, d, h, &rng), POLICY_OK);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Independent reference: the documented layout W1 (h,d) | b1 (h) | w2 (h) | b2,
 * evaluated in double from double parameters. x (n, d). */
static double ref_loss(const double *theta, const float *x, const double *c, int n, int d, int h)
{
	const double *w1 = theta, *b1 = theta + h * d, *w2 = b1 + h, *b2 = w2 + h;
	double loss = 0.0;
	for (int r = 0; r < n; r++) {
		double s = *b2;
		for (int j = 0; j < h; j++) {
			double z = b1[j];
			for (int i = 0; i < d; i++)
				z += w1[j * d + i] * x[r * d + i];
			s += w2[j] * tanh(z);
		}
		loss += c[r] * s;
	}
	return loss;
}

START_TEST(test_forward_hand_2x2)
{
	struct policy *p = make_policy(2, 2, 1);
	ck_assert_uint_eq(policy_param_count(p), 2 * 2 + 2 * 2 + 1);
	float *th = policy_params(p);
	/* W1 = [[1, -1], [0.5, 2]], b1 = [0, 0.5], w2 = [2, -1], b2 = 0.25 */
	const float set[] = {1.0f, -1.0f, 0.5f, 2.0f, 0.0f, 0.5f, 2.0f, -1.0f, 0.25f};
	memcpy(th, set, sizeof(set));
	const float x[] = {1.0f, 2.0f, 0.0f, -1.0f};
	float s[2];
	ck_assert_int_eq(policy_forward(p, s, x, 2), POLICY_OK);
	/* row 0: pre = [1*1 - 1*2 + 0, 0.5*1 + 2*2 + 0.5] = [-1, 5]
	 *        s = 2 tanh(-1) - tanh(5) + 0.25 = -2.2730975
	 * row 1: pre = [0 + 1, 0 - 2 + 0.5] = [1, -1.5]
	 *        s = 2 tanh(1) - tanh(-1.5) + 0.25 = 2.6783366 */
	ck_assert_float_eq_tol(s[0], -2.2730975f, 1e-6f);
	ck_assert_float_eq_tol(s[1], 2.6783366f, 1e-6f);
	ck_assert_double_eq_tol(s[0], 2 * tanh(-1.0) - tanh(5.0) + 0.25, 1e-6);
	ck_assert_double_eq_tol(s[1], 2 * tanh(1.0) - tanh(-1.5) + 0.25, 1e-6);
	policy_free(p);
}
END_TEST

/* Analytic gradient of L = sum_r c_r s_r against central differences of the
 * double reference (step 1e-5, so truncation and rounding are both < 1e-8). */
START_TEST(test_gradient_fd)
{
	enum { D = 3, H = 4, N = 6 };
	struct policy *p = make_policy(D, H, 7);
	struct pcg32 rng;
	pcg32_seed(&rng, 1234u, 5u);
	size_t np = policy_param_count(p);
	float *th = policy_params(p);
	/* unit-scale parameters so every gradient is O(0.1..1), not just b2's */
	for (size_t i = 0; i < np; i++)
		th[i] = (float)pcg32_normal(&rng);
	float x[N * D], s[N], c[N];
	double cd[N];
	for (int i = 0; i < N * D; i++)
		x[i] = (float)pcg32_normal(&rng);
	for (int r = 0; r < N; r++) {
		c[r] = (float)pcg32_normal(&rng);
		cd[r] = c[r];
	}

	ck_assert_int_eq(policy_forward(p, s, x, N), POLICY_OK);
	double *theta = malloc(np * sizeof(double));
	ck_assert_ptr_nonnull(theta);
	for (size_t i = 0; i < np; i++)
		theta[i] = th[i];
	/* the library forward agrees with the reference */
	double lib_loss = 0;
	for (int r = 0; r < N; r++)
		lib_loss += cd[r] * s[r];
	ck_assert_double_eq_tol(lib_loss, ref_loss(theta, x, cd, N, D, H), 1e-5);

	policy_zero_grad(p);
	ck_assert_int_eq(policy_backward(p, c, N), POLICY_OK);
	const float *g = policy_grads(p);
	double worst = 0;
	for (size_t i = 0; i < np; i++) {
		const double step = 1e-5;
		double keep = theta[i];
		theta[i] = keep + step;
		double lp = ref_loss(theta, x, cd, N, D, H);
		theta[i] = keep - step;
		double lm = ref_loss(theta, x, cd, N, D, H);
		theta[i] = keep;
		double fd = (lp - lm) / (2 * step);
		double rel = fabs(fd - g[i]) / fmax(fabs(fd), 1e-3);
		ck_assert_msg(rel < 1e-3, "param %zu: analytic %g fd %g", i, (double)g[i], fd);
		worst = fmax(worst, rel);
	}
	/* float parameters and activations: expect ~1e-6, far inside the bound */
	ck_assert_double_lt(worst, 1e-4);

	/* a second backward accumulates */
	float g1[D * H + 2 * H + 1];
	memcpy(g1, g, sizeof(g1));
	ck_assert_int_eq(policy_backward(p, c, N), POLICY_OK);
	for (size_t i = 0; i < np; i++)
		ck_assert_float_eq_tol(g[i], 2 * g1[i], 1e-6f * (1 + fabsf(g1[i])));
	policy_zero_grad(p);
	for (size_t i = 0; i < np; i++)
		ck_assert_float_eq(g[i], 0.0f);
	free(theta);
	policy_free(p);
}
END_TEST

/*
 * One parameter (b2) with gradient 2 then -1, lr 0.1, betas 0.9/0.999, eps 1e-8.
 * Step 1: m = 0.2, v = 0.004, m^ = 2, v^ = 4: b2 = 1 - 0.1 * 2 / 2 = 0.9.
 * Step 2: m = 0.9*0.2 - 0.1 = 0.08, v = 0.999*0.004 + 0.001 = 0.004996,
 *         m^ = 0.08 / 0.19 = 0.4210526, v^ = 0.004996 / 0.001999 = 2.4992496,
 *         b2 = 0.9 - 0.1 * 0.4210526 / 1.5809015 = 0.8733663.
 * AdamW (decay 0.1) multiplies by 1 - lr*wd = 0.99 first:
 *         b2 = 0.99 - 0.1 = 0.89, then 0.89*0.99 - 0.0266337 = 0.8544663;
 *         W1 (zero gradient) = 0.5 * 0.99^2 = 0.49005.
 * With w2 = 0 and x = 0, only b2 receives gradient; the others stay put (Adam)
 * or only decay (AdamW).
 */
START_TEST(test_adam_hand)
{
	const float wds[2] = {0.0f, 0.1f};
	const double want_b2[2][2] = {{0.9, 0.8733663}, {0.89, 0.8544663}};
	const double want_w1[2] = {0.5, 0.49005};
	for (int c = 0; c < 2; c++) {
		struct policy *p = make_policy(1, 1, 3);
		float *th = policy_params(p);
		th[0] = 0.5f; /* W1 */
		th[1] = 0.0f; /* b1 */
		th[2] = 0.0f; /* w2 */
		th[3] = 1.0f; /* b2 */
		struct policy_adam cfg = {0.1f, 0.9f, 0.999f, 1e-8f, wds[c]};
		const float gs[2] = {2.0f, -1.0f};
		for (int t = 0; t < 2; t++) {
			float x = 0.0f, s;
			ck_assert_int_eq(policy_forward(p, &s, &x, 1), POLICY_OK);
			policy_zero_grad(p);
			ck_assert_int_eq(policy_backward(p, &gs[t], 1), POLICY_OK);
			ck_assert_float_eq(policy_grads(p)[3], gs[t]);
			ck_assert_float_eq(policy_grads(p)[0], 0.0f);
			policy_adam_step(p, &cfg);
			ck_assert_int_eq(policy_adam_steps(p), t + 1);
			ck_assert_double_eq_tol(th[3], want_b2[c][t], 2e-7);
		}
		ck_assert_double_eq_tol(th[0], want_w1[c], 1e-7);
		ck_assert_float_eq(th[1], 0.0f);
		ck_assert_float_eq(th[2], 0.0f);
		policy_free(p);
	}
}
END_TEST

/* W1 ~ N(0, 1/d), w2 ~ N(0, 0.01/h), biases 0; same seed => same parameters. */
START_TEST(test_init)
{
	enum { D = 64, H = 64 };
	struct policy *p = make_policy(D, H, 11);
	struct policy *q = make_policy(D, H, 11);
	struct policy *o = make_policy(D, H, 12);
	size_t np = policy_param_count(p);
	ck_assert_int_eq(policy_n_features(p), D);
	ck_assert_int_eq(policy_n_hidden(p), H);
	ck_assert_mem_eq(policy_params(p), policy_params(q), np * sizeof(float));
	ck_assert(memcmp(policy_params(p), policy_params(o), np * sizeof(float)) != 0);
	const float *th = policy_params(p);
	double s2 = 0;
	for (int i = 0; i < D * H; i++)
		s2 += (double)th[i] * th[i];
	ck_assert_double_eq_tol(sqrt(s2 / (D * H)), 1.0 / sqrt(D), 0.05 / sqrt(D));
	double w2 = 0;
	for (int j = 0; j < H; j++) {
		ck_assert_float_eq(th[D * H + j], 0.0f);
		w2 += (double)th[D * H + H + j] * th[D * H + H + j];
	}
	ck_assert_double_eq_tol(sqrt(w2 / H), 0.1 / sqrt(H), 0.3 * 0.1 / sqrt(H));
	ck_assert_float_eq(th[np - 1], 0.0f);
	policy_free(p);
	policy_free(q);
	policy_free(o);
}
END_TEST

/* Fit s(x) = sin(x0) - x1^2 on 64 rows with squared loss: the loss must fall 20x. */
START_TEST(test_learns_regression)
{
	enum { D = 2, H = 16, N = 64 };
	struct policy *p = make_policy(D, H, 21);
	struct pcg32 rng;
	pcg32_seed(&rng, 77u, 2u);
	float x[N * D], y[N], s[N], g[N];
	for (int r = 0; r < N; r++) {
		x[r * D] = (float)(2 * pcg32_uniform(&rng) - 1);
		x[r * D + 1] = (float)(2 * pcg32_uniform(&rng) - 1);
		y[r] = sinf(x[r * D]) - x[r * D + 1] * x[r * D + 1];
	}
	struct policy_adam cfg = {0.01f, 0.9f, 0.999f, 1e-8f, 0.0f};
	double first = 0, last = 0;
	for (int it = 0; it < 1500; it++) {
		ck_assert_int_eq(policy_forward(p, s, x, N), POLICY_OK);
		double loss = 0;
		for (int r = 0; r < N; r++) {
			loss += 0.5 * (s[r] - y[r]) * (s[r] - y[r]) / N;
			g[r] = (s[r] - y[r]) / N;
		}
		if (it == 0)
			first = loss;
		last = loss;
		policy_zero_grad(p);
		ck_assert_int_eq(policy_backward(p, g, N), POLICY_OK);
		policy_adam_step(p, &cfg);
	}
	ck_assert_double_lt(last, first / 20);
	policy_free(p);
}
END_TEST

START_TEST(test_copy_params)
{
	struct policy *a = make_policy(3, 5, 1);
	struct policy *b = make_policy(3, 5, 2);
	struct policy *c = make_policy(5, 3, 3);
	size_t np = policy_param_count(a);
	ck_assert(memcmp(policy_params(a), policy_params(b), np * sizeof(float)) != 0);
	ck_assert_int_eq(policy_copy_params(b, a), POLICY_OK);
	ck_assert_mem_eq(policy_params(a), policy_params(b), np * sizeof(float));
	ck_assert_int_eq(policy_copy_params(c, a), POLICY_ERR_DIMS);
	policy_free(a);
	policy_free(b);
	policy_free(c);
}
END_TEST

START_TEST(test_errors)
{
	struct pcg32 rng;
	struct policy *p = NULL;
	pcg32_seed(&rng, 1u, 1u);
	ck_assert_int_eq(policy_new(&p, 0, 4, &rng), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_new(&p, 4, -1, &rng), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_new(&p, 4, 4, NULL), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_new(NULL, 4, 4, &rng), POLICY_ERR_ARG);
	/* (INT_MAX^2 + ...) * 16 bytes does not fit in size_t */
	ck_assert_int_eq(policy_new(&p, INT_MAX, INT_MAX, &rng), POLICY_ERR_OVERFLOW);
	ck_assert_ptr_null(p);

	p = make_policy(2, 3, 5);
	float x[4] = {1, 2, 3, 4}, s[2], g[2] = {1, 1};
	ck_assert_int_eq(policy_backward(p, g, 2), POLICY_ERR_NO_FORWARD);
	ck_assert_int_eq(policy_forward(p, s, x, -1), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_forward(p, NULL, x, 2), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_forward(p, s, x, 2), POLICY_OK);
	ck_assert_int_eq(policy_backward(p, g, 1), POLICY_ERR_ROWS);
	ck_assert_int_eq(policy_backward(p, g, -1), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_backward(p, g, 2), POLICY_OK);
	/* a failed forward invalidates the cache */
	ck_assert_int_eq(policy_forward(p, s, x, -1), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_forward(p, NULL, x, 2), POLICY_ERR_ARG);
	ck_assert_int_eq(policy_backward(p, g, 2), POLICY_ERR_NO_FORWARD);
	ck_assert_int_eq(policy_forward(p, s, x, 0), POLICY_OK);
	ck_assert_int_eq(policy_backward(p, g, 0), POLICY_OK);
	ck_assert_int_eq(policy_copy_params(NULL, p), POLICY_ERR_ARG);
	policy_free(p);
	policy_free(NULL);

	const int codes[] = {POLICY_OK, POLICY_ERR_ARG, POLICY_ERR_NOMEM, POLICY_ERR_OVERFLOW,
			     POLICY_ERR_NO_FORWARD, POLICY_ERR_ROWS, POLICY_ERR_DIMS};
	const int nc = (int)(sizeof(codes) / sizeof(codes[0]));
	for (int i = 0; i < nc; i++)
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(policy_strerror(codes[i]), policy_strerror(codes[j]));
	ck_assert_str_eq(policy_strerror(12345), "unknown policy error");
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_forward_hand_2x2);
	tcase_add_test(tc, test_gradient_fd);
	tcase_add_test(tc, test_adam_hand);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_learns_regression);
	tcase_add_test(tc, test_copy_params);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(policy_suite(), false);
}
