/*
 * test-prunenet: the PruneNet reproduction — factorised forward against the
 * authors' literal formula, the relaxed-Bernoulli noise, gradients of the policy
 * loss and of the KLD term against finite differences with the noise held
 * fixed, sampling (distinct, sorted, deterministic, multinomial frequencies),
 * AdamW, a learning sanity check, and every error code.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pcg32.h"
#include "policy.h"
#include "prunenet.h"
#include "testutil.h"

enum { HID = 5, FFN = 7 };

static struct prunenet *make_net(int hidden, int ffn, uint64_t seed)
{
	struct pcg32 rng;
	struct prunenet *p = NULL;
	pcg32_seed(&rng, seed, 3u);
	ck_assert_int_eq(prunenet_new(&p, hidden, ffn, &rng), PRUNENET_OK);
	ck_assert_ptr_nonnull(p);
	return p;
}

static void fill_normal(float *w, int n, double scale, uint64_t seed)
{
	struct pcg32 rng;
	pcg32_seed(&rng, seed, 8u);
	for (int i = 0; i < n; i++)
		w[i] = (float)(scale * pcg32_normal(&rng));
}

START_TEST(test_forward_matches_reference)
{
	struct prunenet *p = make_net(HID, FFN, 1);
	float w[FFN * HID], alpha[FFN], ref[FFN];
	fill_normal(w, FFN * HID, 0.5, 2);
	ck_assert_uint_eq(prunenet_param_count(p), FFN * HID + 2 * FFN);
	ck_assert_int_eq(prunenet_hidden(p), HID);
	ck_assert_int_eq(prunenet_ffn(p), FFN);
	ck_assert_int_eq(prunenet_forward(p, alpha, w, NULL), PRUNENET_OK);
	ck_assert_int_eq(prunenet_alpha_reference(ref, p, w), PRUNENET_OK);
	int spread = 0;
	for (int i = 0; i < FFN; i++) {
		ck_assert_float_eq_tol(alpha[i], ref[i], 1e-6f);
		spread += fabsf(alpha[i] - 0.5f) > 0.01f;
	}
	ck_assert_int_gt(spread, 0);
	prunenet_free(p);
}
END_TEST

/* p_i = sigmoid(logit(alpha_i) + log eps_i - log(1 - eps_i)), eps_i drawn in row
 * order with pcg32_uniform_open. */
START_TEST(test_noise)
{
	struct prunenet *p = make_net(HID, FFN, 4);
	float w[FFN * HID], alpha[FFN], probs[FFN];
	fill_normal(w, FFN * HID, 0.5, 5);
	ck_assert_int_eq(prunenet_alpha_reference(alpha, p, w), PRUNENET_OK);
	struct pcg32 rng, replay;
	pcg32_seed(&rng, 77u, 1u);
	replay = rng;
	ck_assert_int_eq(prunenet_forward(p, probs, w, &rng), PRUNENET_OK);
	for (int i = 0; i < FFN; i++) {
		double eps = pcg32_uniform_open(&replay);
		double a = alpha[i];
		double y = log(a) - log(1 - a) + log(eps) - log(1 - eps);
		ck_assert_double_eq_tol(probs[i], 1 / (1 + exp(-y)), 2e-6);
	}
	ck_assert_uint_eq(rng.state, replay.state);
	prunenet_free(p);
}
END_TEST

/* Loss at the current parameters with the noise of stream `noise`. */
static double loss_at(struct prunenet *p, const float *w, const struct pcg32 *noise, const int *kept,
		      int k, float weight, int kld)
{
	struct pcg32 r = *noise;
	double l;
	ck_assert_int_eq(prunenet_forward(p, NULL, w, &r), PRUNENET_OK);
	if (kld)
		ck_assert_int_eq(prunenet_kld(&l, p), PRUNENET_OK);
	else
		ck_assert_int_eq(prunenet_loss(&l, p, kept, k, weight), PRUNENET_OK);
	return kld ? weight * l : l;
}

/*
 * Every parameter, central differences with the noise replayed. The step is
 * taken in float and the exact float difference is the denominator; the loss
 * is evaluated in double, so FD error is O(h^2) ~ 1e-7 relative.
 */
static void check_grad(int kld)
{
	struct prunenet *p = make_net(HID, FFN, 6);
	float w[FFN * HID];
	fill_normal(w, FFN * HID, 0.5, 7);
	const int kept[4] = {0, 2, 3, 6};
	const float weight = 1.7f;
	struct pcg32 noise;
	pcg32_seed(&noise, 99u, 2u);

	struct pcg32 r = noise;
	ck_assert_int_eq(prunenet_forward(p, NULL, w, &r), PRUNENET_OK);
	prunenet_zero_grad(p);
	if (kld)
		ck_assert_int_eq(prunenet_backward_kld(p, weight), PRUNENET_OK);
	else
		ck_assert_int_eq(prunenet_backward(p, kept, 4, weight), PRUNENET_OK);
	size_t np = prunenet_param_count(p);
	float *g = malloc(np * sizeof(float));
	ck_assert_ptr_nonnull(g);
	memcpy(g, prunenet_grads(p), np * sizeof(float));

	float *th = prunenet_params(p);
	double worst = 0;
	int nonzero = 0;
	for (size_t i = 0; i < np; i++) {
		float keep = th[i];
		float up = keep + 1e-3f, dn = keep - 1e-3f;
		th[i] = up;
		double lu = loss_at(p, w, &noise, kept, 4, weight, kld);
		th[i] = dn;
		double ld = loss_at(p, w, &noise, kept, 4, weight, kld);
		th[i] = keep;
		double fd = (lu - ld) / ((double)up - (double)dn);
		double err = fabs(fd - g[i]) / fmax(fabs(fd), 1e-2);
		ck_assert_msg(err < 1e-4, "%s param %zu: analytic %g fd %g", kld ? "kld" : "loss", i,
			      (double)g[i], fd);
		worst = fmax(worst, err);
		nonzero += fabs(fd) > 1e-3;
	}
	ck_assert_int_gt(nonzero, (int)np / 2);
	free(g);
	prunenet_free(p);
}

START_TEST(test_grad_loss)
{
	check_grad(0);
}
END_TEST

START_TEST(test_grad_kld)
{
	check_grad(1);
}
END_TEST

/* Loss value: -w sum log p over kept, a repeated index counts twice, and
 * backward accumulates into existing gradients. */
START_TEST(test_loss_value)
{
	struct prunenet *p = make_net(HID, FFN, 8);
	float w[FFN * HID], probs[FFN];
	fill_normal(w, FFN * HID, 0.5, 9);
	struct pcg32 rng;
	pcg32_seed(&rng, 3u, 3u);
	ck_assert_int_eq(prunenet_forward(p, probs, w, &rng), PRUNENET_OK);
	const int kept[3] = {1, 4, 5}, twice[2] = {4, 4};
	double l, l2;
	ck_assert_int_eq(prunenet_loss(&l, p, kept, 3, 0.5f), PRUNENET_OK);
	double want = -0.5 * (log(probs[1]) + log(probs[4]) + log(probs[5]));
	ck_assert_double_eq_tol(l, want, 1e-6 * fabs(want));
	ck_assert_int_eq(prunenet_loss(&l, p, kept + 1, 1, 1.0f), PRUNENET_OK);
	ck_assert_int_eq(prunenet_loss(&l2, p, twice, 2, 1.0f), PRUNENET_OK);
	ck_assert_double_eq_tol(l2, 2 * l, 1e-12);

	size_t np = prunenet_param_count(p);
	prunenet_zero_grad(p);
	ck_assert_int_eq(prunenet_backward(p, kept, 3, 1.0f), PRUNENET_OK);
	float *g1 = malloc(np * sizeof(float));
	ck_assert_ptr_nonnull(g1);
	memcpy(g1, prunenet_grads(p), np * sizeof(float));
	ck_assert_int_eq(prunenet_backward(p, kept, 3, 1.0f), PRUNENET_OK);
	for (size_t i = 0; i < np; i++)
		ck_assert_float_eq_tol(prunenet_grads(p)[i], 2 * g1[i], 1e-6f * (1 + fabsf(g1[i])));
	prunenet_zero_grad(p);
	for (size_t i = 0; i < np; i++)
		ck_assert_float_eq(prunenet_grads(p)[i], 0.0f);
	free(g1);
	prunenet_free(p);
}
END_TEST

START_TEST(test_sample_distinct_sorted_deterministic)
{
	enum { H = 8, F = 200, K = 140 };
	struct prunenet *p = make_net(H, F, 10);
	float *w = malloc(F * H * sizeof(float));
	ck_assert_ptr_nonnull(w);
	fill_normal(w, F * H, 0.3, 11);
	int a[F], b[F], c[F];
	for (int rep = 0; rep < 3; rep++) {
		struct pcg32 r1, r2;
		pcg32_seed(&r1, 500u + (uint64_t)rep, 1u);
		pcg32_seed(&r2, 500u + (uint64_t)rep, 1u);
		ck_assert_int_eq(prunenet_forward(p, NULL, w, &r1), PRUNENET_OK);
		ck_assert_int_eq(prunenet_sample(p, a, K, &r1), PRUNENET_OK);
		ck_assert_int_eq(prunenet_forward(p, NULL, w, &r2), PRUNENET_OK);
		ck_assert_int_eq(prunenet_sample(p, b, K, &r2), PRUNENET_OK);
		ck_assert_mem_eq(a, b, K * sizeof(int));
		for (int t = 0; t < K; t++) {
			ck_assert(a[t] >= 0 && a[t] < F);
			if (t > 0)
				ck_assert_int_lt(a[t - 1], a[t]); /* sorted and distinct */
		}
		if (rep > 0)
			ck_assert(memcmp(a, c, K * sizeof(int)) != 0);
		memcpy(c, a, sizeof(c));
	}
	struct pcg32 r;
	pcg32_seed(&r, 1u, 1u);
	ck_assert_int_eq(prunenet_sample(p, a, F, &r), PRUNENET_OK);
	for (int t = 0; t < F; t++)
		ck_assert_int_eq(a[t], t);
	ck_assert_int_eq(prunenet_sample(p, a, 0, &r), PRUNENET_OK);
	free(w);
	prunenet_free(p);
}
END_TEST

/* One pick (k = 1) is multinomial in p: frequencies over 100k picks from one
 * forward, 3 degrees of freedom, P(chi2 > 20) ~ 2e-4. Two picks: the second
 * given the first follows p renormalised over the rest. */
START_TEST(test_sample_frequencies)
{
	enum { F = 4, H = 3, DRAWS = 100000 };
	struct prunenet *p = make_net(H, F, 12);
	float w[F * H], probs[F];
	fill_normal(w, F * H, 1.0, 13);
	struct pcg32 rng;
	pcg32_seed(&rng, 2025u, 1u);
	ck_assert_int_eq(prunenet_forward(p, probs, w, &rng), PRUNENET_OK);
	double tot = 0;
	for (int i = 0; i < F; i++)
		tot += probs[i];
	int count[F] = {0}, pair[F][F] = {{0}};
	for (int d = 0; d < DRAWS; d++) {
		int kept[2];
		ck_assert_int_eq(prunenet_sample(p, kept, 1, &rng), PRUNENET_OK);
		count[kept[0]]++;
		ck_assert_int_eq(prunenet_sample(p, kept, 2, &rng), PRUNENET_OK);
		pair[kept[0]][kept[1]]++;
	}
	double chi2 = 0, chi2_pair = 0;
	for (int i = 0; i < F; i++) {
		double e = DRAWS * probs[i] / tot;
		chi2 += (count[i] - e) * (count[i] - e) / e;
	}
	ck_assert_double_lt(chi2, 20.0);
	/* unordered pairs {i < j}: P = p_i/T * p_j/(T - p_i) + p_j/T * p_i/(T - p_j);
	 * 6 cells, 5 degrees of freedom, P(chi2 > 25) ~ 1.4e-4 */
	for (int i = 0; i < F; i++)
		for (int j = i + 1; j < F; j++) {
			double pi = probs[i] / tot, pj = probs[j] / tot;
			double e = DRAWS * (pi * pj / (1 - pi) + pj * pi / (1 - pj));
			chi2_pair += (pair[i][j] - e) * (pair[i][j] - e) / e;
		}
	ck_assert_double_lt(chi2_pair, 25.0);
	prunenet_free(p);
}
END_TEST

START_TEST(test_init)
{
	enum { H = 16, F = 64 };
	struct prunenet *p = make_net(H, F, 14);
	struct prunenet *q = make_net(H, F, 14);
	size_t np = prunenet_param_count(p);
	ck_assert_mem_eq(prunenet_params(p), prunenet_params(q), np * sizeof(float));
	const float *th = prunenet_params(p);
	double bound = 1.0 / sqrt(H), rsum = 0, amax = 0;
	for (int i = 0; i < F * H + F; i++) {
		ck_assert_double_le(fabs(th[i]), bound);
		amax = fmax(amax, fabs(th[i]));
	}
	ck_assert_double_gt(amax, 0.9 * bound);
	for (int j = 0; j < F; j++) {
		float r = th[F * H + F + j];
		ck_assert(r >= 0.0f && r < 1.0f);
		rsum += r;
	}
	ck_assert_double_eq_tol(rsum / F, 0.5, 0.15);
	prunenet_free(p);
	prunenet_free(q);
}
END_TEST

START_TEST(test_adamw)
{
	struct policy_adam cfg = prunenet_adamw_defaults();
	ck_assert_float_eq(cfg.lr, 1e-3f);
	ck_assert_float_eq(cfg.beta1, 0.9f);
	ck_assert_float_eq(cfg.beta2, 0.999f);
	ck_assert_float_eq(cfg.eps, 1e-8f);
	ck_assert_float_eq(cfg.weight_decay, 0.01f);

	struct prunenet *p = make_net(HID, FFN, 15);
	size_t np = prunenet_param_count(p);
	float *before = malloc(np * sizeof(float));
	ck_assert_ptr_nonnull(before);
	memcpy(before, prunenet_params(p), np * sizeof(float));
	/* zero gradient: only the decoupled decay acts, theta *= 1 - 1e-5 */
	prunenet_zero_grad(p);
	prunenet_adamw_step(p, &cfg);
	ck_assert_int_eq(prunenet_adam_steps(p), 1);
	for (size_t i = 0; i < np; i++)
		ck_assert_double_eq_tol(prunenet_params(p)[i], before[i] * (1 - 1e-5), 1e-7);
	free(before);
	prunenet_free(p);
}
END_TEST

/* Minimising -sum_{kept} log p with a fixed kept set must raise those rows'
 * alpha above the others'. */
START_TEST(test_learns_kept_set)
{
	enum { H = 6, F = 12 };
	struct prunenet *p = make_net(H, F, 16);
	float w[F * H], alpha[F];
	fill_normal(w, F * H, 1.0, 17);
	const int kept[4] = {1, 4, 7, 10};
	struct policy_adam cfg = prunenet_adamw_defaults();
	cfg.lr = 1e-2f;
	struct pcg32 rng;
	pcg32_seed(&rng, 18u, 1u);
	double gap0 = 0, gap1 = 0;
	for (int it = 0; it <= 300; it++) {
		ck_assert_int_eq(prunenet_forward(p, alpha, w, NULL), PRUNENET_OK);
		double in = 0, out = 0;
		for (int i = 0; i < F; i++) {
			int k = i % 3 == 1;
			in += k ? alpha[i] : 0;
			out += k ? 0 : alpha[i];
		}
		double gap = in / 4 - out / 8;
		if (it == 0)
			gap0 = gap;
		gap1 = gap;
		ck_assert_int_eq(prunenet_forward(p, NULL, w, &rng), PRUNENET_OK);
		prunenet_zero_grad(p);
		ck_assert_int_eq(prunenet_backward(p, kept, 4, 1.0f), PRUNENET_OK);
		prunenet_adamw_step(p, &cfg);
	}
	ck_assert_double_gt(gap1, gap0 + 0.2);
	prunenet_free(p);
}
END_TEST

START_TEST(test_copy_params)
{
	struct prunenet *a = make_net(HID, FFN, 20);
	struct prunenet *b = make_net(HID, FFN, 21);
	struct prunenet *c = make_net(FFN, HID, 22);
	size_t np = prunenet_param_count(a);
	ck_assert_int_eq(prunenet_copy_params(b, a), PRUNENET_OK);
	ck_assert_mem_eq(prunenet_params(a), prunenet_params(b), np * sizeof(float));
	ck_assert_int_eq(prunenet_copy_params(c, a), PRUNENET_ERR_DIMS);
	ck_assert_int_eq(prunenet_copy_params(NULL, a), PRUNENET_ERR_ARG);
	prunenet_free(a);
	prunenet_free(b);
	prunenet_free(c);
}
END_TEST

START_TEST(test_errors)
{
	struct pcg32 rng;
	struct prunenet *p = NULL;
	pcg32_seed(&rng, 1u, 1u);
	/* PRUNENET_ERR_ARG / PRUNENET_ERR_OVERFLOW from new */
	ck_assert_int_eq(prunenet_new(&p, 0, 4, &rng), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_new(&p, 4, -2, &rng), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_new(&p, 4, 4, NULL), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_new(&p, INT_MAX, INT_MAX, &rng), PRUNENET_ERR_OVERFLOW);
	ck_assert_ptr_null(p);

	p = make_net(HID, FFN, 30);
	float w[FFN * HID];
	int kept[3] = {0, 1, 2};
	double l;
	fill_normal(w, FFN * HID, 0.5, 31);
	/* PRUNENET_ERR_NO_FORWARD */
	ck_assert_int_eq(prunenet_sample(p, kept, 3, &rng), PRUNENET_ERR_NO_FORWARD);
	ck_assert_int_eq(prunenet_loss(&l, p, kept, 3, 1.0f), PRUNENET_ERR_NO_FORWARD);
	ck_assert_int_eq(prunenet_backward(p, kept, 3, 1.0f), PRUNENET_ERR_NO_FORWARD);
	ck_assert_int_eq(prunenet_kld(&l, p), PRUNENET_ERR_NO_FORWARD);
	ck_assert_int_eq(prunenet_backward_kld(p, 1.0f), PRUNENET_ERR_NO_FORWARD);
	/* PRUNENET_ERR_ARG */
	ck_assert_int_eq(prunenet_forward(p, NULL, NULL, &rng), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_forward(p, NULL, w, &rng), PRUNENET_OK);
	ck_assert_int_eq(prunenet_sample(p, kept, FFN + 1, &rng), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_sample(p, kept, -1, &rng), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_sample(p, kept, 2, NULL), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_loss(NULL, p, kept, 3, 1.0f), PRUNENET_ERR_ARG);
	ck_assert_int_eq(prunenet_alpha_reference(NULL, p, w), PRUNENET_ERR_ARG);
	/* PRUNENET_ERR_INDEX */
	const int bad_hi[2] = {0, FFN}, bad_lo[2] = {-1, 0};
	ck_assert_int_eq(prunenet_loss(&l, p, bad_hi, 2, 1.0f), PRUNENET_ERR_INDEX);
	ck_assert_int_eq(prunenet_backward(p, bad_lo, 2, 1.0f), PRUNENET_ERR_INDEX);
	/* PRUNENET_ERR_NONFINITE: NaN and overflowing weights; the forward is dropped */
	float bad[FFN * HID];
	memcpy(bad, w, sizeof(bad));
	bad[3] = NAN;
	struct pcg32 before = rng;
	ck_assert_int_eq(prunenet_forward(p, NULL, bad, &rng), PRUNENET_ERR_NONFINITE);
	ck_assert_uint_eq(rng.state, before.state);
	ck_assert_int_eq(prunenet_loss(&l, p, kept, 3, 1.0f), PRUNENET_ERR_NO_FORWARD);
	bad[3] = 3e38f;
	bad[4] = 3e38f;
	ck_assert_int_eq(prunenet_forward(p, NULL, bad, &rng), PRUNENET_ERR_NONFINITE);
	prunenet_free(p);
	prunenet_free(NULL);

	const int codes[] = {PRUNENET_OK, PRUNENET_ERR_ARG, PRUNENET_ERR_NOMEM, PRUNENET_ERR_OVERFLOW,
			     PRUNENET_ERR_NO_FORWARD, PRUNENET_ERR_INDEX, PRUNENET_ERR_NONFINITE,
			     PRUNENET_ERR_DIMS};
	const int nc = (int)(sizeof(codes) / sizeof(codes[0]));
	for (int i = 0; i < nc; i++)
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(prunenet_strerror(codes[i]), prunenet_strerror(codes[j]));
	ck_assert_str_eq(prunenet_strerror(-99), "unknown prunenet error");
}
END_TEST

static Suite *prunenet_suite(void)
{
	Suite *s = suite_create("prunenet");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_forward_matches_reference);
	tcase_add_test(tc, test_noise);
	tcase_add_test(tc, test_grad_loss);
	tcase_add_test(tc, test_grad_kld);
	tcase_add_test(tc, test_loss_value);
	tcase_add_test(tc, test_sample_distinct_sorted_deterministic);
	tcase_add_test(tc, test_sample_frequencies);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_adamw);
	tcase_add_test(tc, test_learns_kept_set);
	tcase_add_test(tc, test_copy_params);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(prunenet_suite(), false);
}
