/* Tests for pipeline/prunejob on a small synthetic llama: the written checkpoint and its counts,
 * the progress lines, and each refusal (usage, destination, --base) before anything is written. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "prunejob.h"
#include "scorers.h"
#include "select.h"
#include "target.h"
#include "synth.h"
#include "testutil.h"
#include "text.h"

static void make_model(char *dir, size_t cap, const char *tmp, const char *name, int ffn)
{
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.hidden = 16;
	spec.ffn = ffn;
	spec.n_heads = 4;
	spec.n_kv_heads = 2;
	testutil_path_join(dir, cap, tmp, name);
	ck_assert_int_eq(synth_write(dir, &spec), SYNTH_OK);
}

static void count_calls(void *ctx, const char *what)
{
	ck_assert_ptr_nonnull(what);
	(*(int *)ctx)++;
}

START_TEST(test_magnitude_rows)
{
	char *tmp = testutil_tmpdir_new("prunejob"), model[PATH_MAX], out[PATH_MAX], err[ERR_MAX];
	make_model(model, sizeof model, tmp, "model", 24);
	testutil_path_join(out, sizeof out, tmp, "out");
	struct prunejob_opts o = {.model = model, .out = out, .ratio = 0.25,
				  .select = {.method = "magnitude", .norm_p = 2,
					     .granularity = PRUNE_GRANULARITY_ROWS}};
	struct prune_counts c;
	int calls = 0;
	ck_assert_msg(prunejob_run(&c, &o, count_calls, &calls, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(calls, 2);
	ck_assert_int_eq(c.width, 18); /* 24 - lround(0.25 * 24) */
	ck_assert_uint_eq(c.ffn_params_before - c.ffn_params_after, 2 * 3 * 16 * 6);
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	ck_assert_int_eq(text_open_model(&m, &tok, out, err, sizeof err), TEXT_OK);
	ck_assert_int_eq(m->cfg.ffn, 18);
	ck_assert_uint_eq(m->n_ffn_params, c.ffn_params_after);
	tokenizer_free(tok);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* N:M output: every group of every up, gate and down row follows the pattern, with exactly the
 * kept count nonzero (synthetic weights are never 0); widths 24 and 22 (22 leaves a last group
 * of 2 for 2:4 and of 6 for 4:8 in down's rows); and the check sees one broken group. */
START_TEST(test_nm)
{
	static const struct {
		enum prune_granularity g;
		const char *method;
		int ffn, n, m;
	} rows[] = {
		{PRUNE_GRANULARITY_NM_2_4, "magnitude", 24, 2, 4},
		{PRUNE_GRANULARITY_NM_4_8, "magnitude", 22, 4, 8},
		{PRUNE_GRANULARITY_NM_2_4, "magnitude", 22, 2, 4},
	};
	char *tmp = testutil_tmpdir_new("prunejob"), model[PATH_MAX], out[PATH_MAX], err[ERR_MAX];
	make_model(model, sizeof model, tmp, "model", rows[_i].ffn);
	testutil_path_join(out, sizeof out, tmp, "out");
	struct prunejob_opts o = {.model = model, .out = out, .ratio = 0.5,
				  .select = {.method = rows[_i].method, .granularity = rows[_i].g}};
	struct prune_counts c;
	ck_assert_msg(prunejob_run(&c, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	ck_assert_int_eq(text_open_model(&m, &tok, out, err, sizeof err), TEXT_OK);
	ck_assert_int_eq(m->cfg.ffn, rows[_i].ffn);
	int n = rows[_i].n, mm = rows[_i].m, ffn = rows[_i].ffn, hidden = m->cfg.hidden;
	/* kept per row of `cols`: full groups keep n, the last r keep ceil(r n / m) */
	int keep_h = hidden / mm * n + ((hidden % mm) * n + mm - 1) / mm;
	int keep_f = ffn / mm * n + ((ffn % mm) * n + mm - 1) / mm;
	size_t nonzero = 0;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		ck_assert_int_eq(scorers_nm_violations(ly->up, ffn, hidden, n, mm), 0);
		ck_assert_int_eq(scorers_nm_violations(ly->gate, ffn, hidden, n, mm), 0);
		ck_assert_int_eq(scorers_nm_violations(ly->down, hidden, ffn, n, mm), 0);
		size_t nz = 0;
		for (size_t i = 0; i < (size_t)ffn * hidden; i++)
			nz += (ly->up[i] != 0) + (ly->gate[i] != 0) + (ly->down[i] != 0);
		ck_assert_uint_eq(nz, 2 * (size_t)ffn * keep_h + (size_t)hidden * keep_f);
		nonzero += nz;
	}
	ck_assert_uint_eq(c.ffn_params_after, nonzero);
	/* one more nonzero weight in the first group of a row breaks exactly that group */
	float *w = m->layers[0].up;
	int zero = 0;
	while (w[zero] != 0)
		zero++;
	ck_assert_int_lt(zero, mm);
	w[zero] = 1;
	ck_assert_int_eq(scorers_nm_violations(w, ffn, hidden, n, mm), 1);
	tokenizer_free(tok);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* The N:M kernel on one row: magnitude keeps the n largest |w| of each group, Wanda weighs them
 * by ||X_j|| (which flips the choice here); bad n/m and NaN are refused. */
START_TEST(test_nm_kernel)
{
	const float w[10] = {0.1f, -0.9f, 0.5f, 0.2f, 3, -2, 1, 0.5f, 0.3f, -0.4f};
	const float x[10] = {10, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	unsigned char mk[10];
	ck_assert_int_eq(scorers_nm_weights(mk, w, NULL, 1, 10, 2, 4), SCORERS_OK);
	static const unsigned char mag[10] = {0, 1, 1, 0, 1, 1, 0, 0, 0, 1};
	ck_assert_mem_eq(mk, mag, 10);
	ck_assert_int_eq(scorers_nm_weights(mk, w, x, 1, 10, 2, 4), SCORERS_OK);
	static const unsigned char wan[10] = {1, 1, 0, 0, 1, 1, 0, 0, 0, 1};
	ck_assert_mem_eq(mk, wan, 10);
	ck_assert_int_eq(scorers_nm_weights(mk, w, NULL, 1, 10, 4, 4), SCORERS_ERR_ARG);
	ck_assert_int_eq(scorers_nm_weights(mk, w, NULL, 1, 10, 0, 4), SCORERS_ERR_ARG);
	const float bad[4] = {1, NAN, 2, 3};
	ck_assert_int_eq(scorers_nm_weights(mk, bad, NULL, 1, 4, 2, 4), SCORERS_ERR_VALUE);
}
END_TEST

/* Size targets: the ratio found leaves at most the target, one neuron fewer removed would not;
 * sparsity is the share of all parameters; impossible and empty targets are refused. */
START_TEST(test_target)
{
	char *tmp = testutil_tmpdir_new("prunejob"), model[PATH_MAX], err[ERR_MAX];
	make_model(model, sizeof model, tmp, "model", 24);
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	ck_assert_int_eq(text_open_model(&m, &tok, model, err, sizeof err), TEXT_OK);
	size_t total = m->n_params;
	/* a neuron costs 3 * 16 weights per layer (up, gate, down; no biases) */
	size_t per = 3 * 16 * (size_t)m->cfg.n_layers;
	double r;
	struct prune_counts c;
	for (size_t removed = 1; removed < 24; removed += 5) {
		size_t target = total - removed * per + 1; /* needs `removed` neurons gone */
		ck_assert_int_eq(prune_target_ratio(&r, &c, m, target, 0, err, sizeof err), 0);
		ck_assert_double_eq_tol(r, (double)removed / 24, 1e-12);
		ck_assert_uint_le(c.params_after, target);
		ck_assert_uint_eq(c.params_after, total - removed * per);
	}
	/* a sparsity of 10.5 neurons' worth of all parameters removes 11 */
	double sp = 10.5 * (double)per / (double)total;
	ck_assert_int_eq(prune_target_ratio(&r, &c, m, 0, sp, err, sizeof err), 0);
	ck_assert_double_eq_tol(r, 11.0 / 24, 1e-12);
	ck_assert_uint_eq(c.params_after, total - 11 * per);
	ck_assert_int_eq(prune_target_ratio(&r, &c, m, total, 0, err, sizeof err),
			 PRUNE_TARGET_ERR_NOTHING);
	ck_assert_ptr_nonnull(strstr(err, "removes no FFN neuron"));
	ck_assert_int_eq(prune_target_ratio(&r, &c, m, total - 23 * per - 1, 0, err, sizeof err),
			 PRUNE_TARGET_ERR_IMPOSSIBLE);
	ck_assert_ptr_nonnull(strstr(err, "impossible"));
	ck_assert_int_eq(prune_target_ratio(&r, &c, m, 1000, 0.5, err, sizeof err), PRUNE_TARGET_ERR_ARG);
	ck_assert_int_eq(prune_target_ratio(&r, &c, m, 0, 1.5, err, sizeof err), PRUNE_TARGET_ERR_ARG);
	/* the pipeline form opens the model itself */
	ck_assert_int_eq(select_target_ratio(&r, NULL, model, 0, sp, err, sizeof err), SELECT_OK);
	ck_assert_double_eq_tol(r, 11.0 / 24, 1e-12);
	ck_assert_int_eq(select_target_ratio(&r, NULL, model, total, 0, err, sizeof err),
			 SELECT_ERR_USAGE);
	tokenizer_free(tok);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

struct refusal {
	const char *method, *base;
	enum prune_granularity g;
	bool out_is_model;
	int status;
	const char *expect;
	double ratio; /* 0: 0.25 */
};

static const struct refusal refusals[] = {
	{"random", "@W", PRUNE_GRANULARITY_ROWS, false, PRUNEJOB_ERR_USAGE, "--base", 0},
	{"ken", NULL, PRUNE_GRANULARITY_ROWS, false, PRUNEJOB_ERR_USAGE, "ken", 0},
	{"random", NULL, PRUNE_GRANULARITY_ROWS, true, PRUNEJOB_ERR_INPUT, "is input", 0},
	/* the ratio rule against the model's sizes, before scoring (plan.h) */
	{"random", NULL, PRUNE_GRANULARITY_ROWS, false, PRUNEJOB_ERR_INPUT, "removes no FFN neuron",
	 1e-300},
	{"magnitude", NULL, PRUNE_GRANULARITY_ROWS, false, PRUNEJOB_ERR_INPUT, "removes every", 0.99},
	{"ken", "@W", PRUNE_GRANULARITY_WEIGHTS, false, PRUNEJOB_ERR_INPUT, "ffn 32", 0},
	{"policy", NULL, PRUNE_GRANULARITY_ROWS, false, PRUNEJOB_ERR_USAGE, "--policy", 0},
};

START_TEST(test_refusals)
{
	const struct refusal *r = &refusals[_i];
	char *tmp = testutil_tmpdir_new("prunejob"), model[PATH_MAX], wide[PATH_MAX], out[PATH_MAX];
	char err[ERR_MAX] = "";
	make_model(model, sizeof model, tmp, "model", 24);
	make_model(wide, sizeof wide, tmp, "wide", 32);
	testutil_path_join(out, sizeof out, tmp, "out");
	struct prunejob_opts o = {.model = model, .out = r->out_is_model ? model : out, .ratio = r->ratio ? r->ratio : 0.25,
				  .base = r->base ? wide : NULL,
				  .select = {.method = r->method, .norm_p = 1, .granularity = r->g}};
	struct prune_counts c;
	ck_assert_int_eq(prunejob_run(&c, &o, NULL, NULL, err, sizeof err), r->status);
	ck_assert_msg(strstr(err, r->expect) != NULL, "%s", err);
	ck_assert(!testutil_path_exists(out));
	testutil_tmpdir_free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prunejob");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_magnitude_rows);
	tcase_add_loop_test(tc, test_nm, 0, 3);
	tcase_add_test(tc, test_nm_kernel);
	tcase_add_test(tc, test_target);
	tcase_add_loop_test(tc, test_refusals, 0, (int)(sizeof refusals / sizeof refusals[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
