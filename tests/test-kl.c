/* Tests for eval/kl: KL of hand-computed 2-token rows, quantiles on known values, a model
 * against itself (KL 0, agreement 1, both NLLs equal to eval_perplexity's), a pruned copy against
 * its dense model (KL recomputed here window by window), and the vocabulary-mismatch error. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "forward.h"
#include "kl.h"
#include "model.h"
#include "synth.h"
#include "testmodel.h"
#include "testutil.h"

/* rows: p, q logits over 2 tokens; KL(p‖q) by hand. */
static const struct {
	float p[2], q[2];
	double kl;
	int agree;
} rows[] = {
	/* p = (1/2, 1/2), q = (1/4, 3/4): 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3) */
	{{0, 0}, {0, 1.0986122886681098f}, 0.14384103622589045, 0},
	/* p = (3/4, 1/4), q = (1/2, 1/2): 3/4 ln(3/2) + 1/4 ln(1/2) */
	{{1.0986122886681098f, 0}, {5, 5}, 0.13081203594113694, 1},
	/* identical rows, shifted by a constant: KL 0 */
	{{2, -1}, {12, 9}, 0.0, 1},
};

START_TEST(test_kl_rows)
{
	int agree = -1;
	double kl = kl_logits(rows[_i].p, rows[_i].q, 2, &agree);
	ck_assert_double_eq_tol(kl, rows[_i].kl, 1e-7);
	ck_assert_int_eq(agree, rows[_i].agree);
}
END_TEST

/* The accumulator over the three rows above: mean of their KLs, agreement 2/3. */
START_TEST(test_acc)
{
	struct kl_acc *a = NULL;
	struct kl_result r;
	ck_assert_int_eq(kl_acc_new(&a), 0);
	ck_assert_int_eq(kl_acc_result(a, &r), KL_ERR_EMPTY);
	float p[6], q[6];
	int targets[3] = {1, 0, 0};
	for (int i = 0; i < 3; i++) {
		memcpy(p + 2 * i, rows[i].p, sizeof rows[i].p);
		memcpy(q + 2 * i, rows[i].q, sizeof rows[i].q);
	}
	ck_assert_int_eq(kl_acc_add(a, p, q, targets, 2, 2), 0);
	ck_assert_int_eq(kl_acc_add(a, p + 4, q + 4, targets + 2, 1, 2), 0);
	ck_assert_int_eq(kl_acc_result(a, &r), 0);
	ck_assert_uint_eq(r.tokens, 3);
	ck_assert_double_eq_tol(r.mean, (rows[0].kl + rows[1].kl + rows[2].kl) / 3, 1e-7);
	ck_assert_double_eq_tol(r.median, rows[1].kl, 1e-7);
	ck_assert_double_eq_tol(r.top1, 2.0 / 3, 1e-12);
	/* NLL of the targets under p: -ln(1/2), -ln(3/4), -ln(softmax(2, -1)[0]) */
	double want = (log(2) - log(0.75) + log(1 + exp(-3))) / 3;
	ck_assert_double_eq_tol(r.nll_ref, want, 1e-6);
	kl_acc_free(a);
	kl_acc_free(NULL);
}
END_TEST

START_TEST(test_quantiles)
{
	double v[5] = {5, 1, 4, 2, 3};
	ck_assert_double_eq_tol(kl_quantile(v, 5, 0.5), 3.0, 1e-12);
	double w[5] = {5, 1, 4, 2, 3};
	/* position 0.99 * 4 = 3.96: 4 + 0.96 * (5 - 4) */
	ck_assert_double_eq_tol(kl_quantile(w, 5, 0.99), 4.96, 1e-12);
	double x[4] = {10, 0, 20, 30};
	ck_assert_double_eq_tol(kl_quantile(x, 4, 0.5), 15.0, 1e-12); /* between 10 and 20 */
	double y[1] = {7};
	ck_assert_double_eq_tol(kl_quantile(y, 1, 0.99), 7.0, 1e-12);
}
END_TEST

START_TEST(test_self_is_zero)
{
	struct model *m = testmodel_open_family("llama_gqa");
	struct forward *f1 = NULL, *f2 = NULL;
	ck_assert_int_eq(forward_new(&f1, m, 16), 0);
	ck_assert_int_eq(forward_new(&f2, m, 16), 0);
	int ids[53];
	testutil_fill_ids(ids, 53, m->cfg.vocab, 3);
	struct kl_result r;
	char err[512];
	ck_assert_int_eq(kl_eval(&r, f1, m, f2, m, ids, 53, 16, 0, err, sizeof err), 0);
	ck_assert_double_eq_tol(r.mean, 0, 1e-12);
	ck_assert_double_eq_tol(r.p99, 0, 1e-12);
	ck_assert_double_eq(r.top1, 1);
	/* windows 16, 16, 16, 5: 15 * 3 + 4 predicted tokens */
	ck_assert_uint_eq(r.windows, 4);
	ck_assert_uint_eq(r.tokens, 49);
	struct eval_result e;
	ck_assert_int_eq(eval_perplexity(&e, f1, m, ids, 53, 16, 0, NULL, NULL), 0);
	ck_assert_double_eq_tol(r.nll_ref, e.nll, 1e-12);
	ck_assert_double_eq_tol(r.nll, e.nll, 1e-12);
	ck_assert_double_eq_tol(r.ppl, e.perplexity, 1e-9);
	forward_free(f1);
	forward_free(f2);
	model_close(m);
}
END_TEST

/* Pruned = dense with half of every layer's FFN neurons zeroed; KL recomputed here. */
START_TEST(test_pruned_against_dense)
{
	struct model *ref = testmodel_open_family("llama_gqa"), *m = testmodel_open_family("llama_gqa");
	for (int l = 0; l < m->cfg.n_layers; l++) {
		struct model_layer *L = &m->layers[l];
		for (int i = 0; i < L->ffn; i += 2)
			for (int j = 0; j < m->cfg.hidden; j++)
				L->down[(size_t)j * L->ffn + i] = 0;
	}
	struct forward *fr = NULL, *fm = NULL;
	ck_assert_int_eq(forward_new(&fr, ref, 12), 0);
	ck_assert_int_eq(forward_new(&fm, m, 12), 0);
	int ids[36];
	testutil_fill_ids(ids, 36, m->cfg.vocab, 9);
	struct kl_result r;
	char err[512];
	ck_assert_int_eq(kl_eval(&r, fr, ref, fm, m, ids, 36, 12, 2, err, sizeof err), 0);
	ck_assert_uint_eq(r.windows, 2);
	ck_assert_uint_eq(r.tokens, 22);
	int V = m->cfg.vocab;
	float *a = malloc(12 * (size_t)V * sizeof *a), *b = malloc(12 * (size_t)V * sizeof *b);
	double sum = 0, mx = 0;
	int agree = 0;
	for (int w = 0; w < 2; w++) {
		ck_assert_int_eq(forward_run(fr, a, ids + 12 * w, 12, 0), 0);
		ck_assert_int_eq(forward_run(fm, b, ids + 12 * w, 12, 0), 0);
		for (int t = 0; t < 11; t++) {
			double zp = 0, zq = 0, kl = 0;
			int ap = 0, aq = 0;
			for (int v = 0; v < V; v++) {
				zp += exp(a[t * V + v]);
				zq += exp(b[t * V + v]);
				ap = a[t * V + v] > a[t * V + ap] ? v : ap;
				aq = b[t * V + v] > b[t * V + aq] ? v : aq;
			}
			for (int v = 0; v < V; v++) {
				double p = exp(a[t * V + v]) / zp, q = exp(b[t * V + v]) / zq;
				kl += p * log(p / q);
			}
			sum += kl;
			mx = kl > mx ? kl : mx;
			agree += ap == aq;
		}
	}
	ck_assert(sum > 1e-6);
	ck_assert_double_eq_tol(r.mean, sum / 22, 1e-9);
	ck_assert_double_eq_tol(r.top1, agree / 22.0, 1e-12);
	ck_assert(r.p99 <= mx + 1e-12 && r.p99 >= r.median);
	ck_assert(r.nll != r.nll_ref);
	free(a);
	free(b);
	forward_free(fr);
	forward_free(fm);
	model_close(ref);
	model_close(m);
}
END_TEST

START_TEST(test_vocab_mismatch)
{
	char *dir = testutil_tmpdir_new("kl");
	char d1[1024], d2[1024];
	testutil_path_join(d1, sizeof d1, dir, "a");
	testutil_path_join(d2, sizeof d2, dir, "b");
	struct synth_spec s;
	synth_spec_default(&s, CONFIG_FAMILY_LLAMA);
	s.vocab = 300;
	ck_assert_int_eq(synth_write(d1, &s), 0);
	s.vocab = 301;
	ck_assert_int_eq(synth_write(d2, &s), 0);
	struct model *a = NULL, *b = NULL;
	char err[512];
	ck_assert_int_eq(model_open(&a, d1, err, sizeof err), 0);
	ck_assert_int_eq(model_open(&b, d2, err, sizeof err), 0);
	struct forward *fa = NULL, *fb = NULL;
	ck_assert_int_eq(forward_new(&fa, a, 8), 0);
	ck_assert_int_eq(forward_new(&fb, b, 8), 0);
	int ids[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct kl_result r = {.mean = -1};
	err[0] = 0;
	ck_assert_int_eq(kl_eval(&r, fa, a, fb, b, ids, 8, 8, 0, err, sizeof err), KL_ERR_VOCAB);
	ck_assert_ptr_nonnull(strstr(err, "300"));
	ck_assert_double_eq(r.mean, -1);
	/* too few ids; seq_len < 2 */
	ck_assert_int_eq(kl_eval(&r, fa, a, fa, a, ids, 1, 8, 0, err, sizeof err), KL_ERR_EMPTY);
	ck_assert_int_eq(kl_eval(&r, fa, a, fa, a, ids, 8, 1, 0, err, sizeof err), KL_ERR_ARG);
	forward_free(fa);
	forward_free(fb);
	model_close(a);
	model_close(b);
	testutil_tmpdir_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kl");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_kl_rows, 0, (int)(sizeof rows / sizeof rows[0]));
	tcase_add_test(tc, test_quantiles);
	tcase_add_test(tc, test_acc);
	tcase_add_test(tc, test_self_is_zero);
	tcase_add_test(tc, test_pruned_against_dense);
	tcase_add_test(tc, test_vocab_mismatch);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
