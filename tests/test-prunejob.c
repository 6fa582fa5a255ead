/* Tests for pipeline/prunejob on a small synthetic llama: the written checkpoint and its counts,
 * the progress lines, and each refusal (usage, destination, --base) before anything is written. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "prunejob.h"
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
	tcase_add_loop_test(tc, test_refusals, 0, (int)(sizeof refusals / sizeof refusals[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
