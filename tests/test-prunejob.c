/* Tests for pipeline/prunejob on a small synthetic llama: the written checkpoint and its counts,
 * the progress lines, and each refusal (usage, destination, --base) before anything is written;
 * the --granularity words and the size rule (--ratio, --target-params, --sparsity, N:M); Wanda's
 * calibration through loaded or streamed weights (select_calibrate). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "checkpoint.h"
#include "err.h"
#include "file.h"
#include "prunejob.h"
#include "prunestream.h"
#include "rowfeat.h"
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

/* prunejob_resolve_ratio: ratio < -0.5 means "not given"; want < 0: the error, else o->ratio. */
static const struct {
	const char *g;
	double ratio;
	int target_neurons; /* > 0: the parameter target that removes this many neurons */
	double sparsity;
	int rc;
	double want;
	const char *err;
} sizes[] = {
	{NULL, 0.25, 0, -1, PRUNEJOB_OK, 0.25, NULL},
	{"2:4", -1, 0, -1, PRUNEJOB_OK, 0.5, NULL},
	{"4:8", -1, 0, -1, PRUNEJOB_OK, 0.5, NULL},
	{NULL, -1, 6, -1, PRUNEJOB_OK, 0.25, NULL},
	{"2:4", 0.25, 0, -1, PRUNEJOB_ERR_USAGE, -1,
	 "--granularity 2:4 sets the ratio (0.5): give no --ratio, --target-params or --sparsity"},
	{NULL, -1, 0, -1, PRUNEJOB_ERR_USAGE, -1,
	 "give one of --ratio R, --target-params N or --sparsity S (see yopo prune --help)"},
	{NULL, 0.25, 6, -1, PRUNEJOB_ERR_USAGE, -1,
	 "give one of --ratio R, --target-params N or --sparsity S (see yopo prune --help)"},
	{"weights", -1, 0, 0.1, PRUNEJOB_ERR_USAGE, -1,
	 "--target-params and --sparsity apply to --granularity rows"},
	{NULL, -1, 0, 0.999, PRUNEJOB_ERR_USAGE, -1, NULL}, /* cannot be met */
};

START_TEST(test_sizes)
{
	char *tmp = testutil_tmpdir_new("prunejob"), model[PATH_MAX], err[ERR_MAX] = "";
	make_model(model, sizeof model, tmp, "model", 24);
	struct model *m = NULL;
	ck_assert_int_eq(model_open(&m, model, err, sizeof err), 0);
	size_t per = 3 * 16 * (size_t)m->cfg.n_layers, total = m->n_params;
	model_close(m);
	struct prunejob_opts o = {.model = model, .ratio = sizes[_i].ratio};
	o.select.method = "magnitude";
	o.select.granularity = prunejob_granularity(sizes[_i].g, "magnitude");
	long target = sizes[_i].target_neurons ? (long)(total - (size_t)sizes[_i].target_neurons * per)
					       : 0;
	int rc = prunejob_resolve_ratio(&o, target, sizes[_i].sparsity, err, sizeof err);
	ck_assert_int_eq(rc, sizes[_i].rc);
	if (!rc)
		ck_assert_double_eq_tol(o.ratio, sizes[_i].want, 1e-12);
	if (sizes[_i].err)
		ck_assert_str_eq(err, sizes[_i].err);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_granularity_words)
{
	ck_assert_int_eq(prunejob_granularity(NULL, "magnitude"), PRUNE_GRANULARITY_ROWS);
	ck_assert_int_eq(prunejob_granularity(NULL, "ken"), PRUNE_GRANULARITY_WEIGHTS);
	ck_assert_int_eq(prunejob_granularity("rows", "ken"), PRUNE_GRANULARITY_ROWS);
	ck_assert_int_eq(prunejob_granularity("weights", "magnitude"), PRUNE_GRANULARITY_WEIGHTS);
	ck_assert_int_eq(prunejob_granularity("2:4", "wanda"), PRUNE_GRANULARITY_NM_2_4);
	ck_assert_int_eq(prunejob_granularity("4:8", "wanda"), PRUNE_GRANULARITY_NM_4_8);
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
	/* (no --policy is no refusal: the shipped policy is the default) */
	{"policy", NULL, PRUNE_GRANULARITY_WEIGHTS, false, PRUNEJOB_ERR_USAGE, "selects rows", 0},
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

/* ---- the streamed route writes what the whole-model route writes ---- */

/* One comparison: a shared model (name) or a synthetic one of `layers` layers (more than 10, so
 * the file's tensor order, layers 0, 1, 10, 11, ..., differs from the numeric order the random
 * scorer's stream follows). */
struct same {
	const char *shared;
	enum config_family family;
	enum safetensors_dtype dtype;
	int layers;
	const char *method;
	enum prune_granularity g;
	bool global;
	long calib_tokens;
	int base; /* KEN --base: 0 none, else a second synthetic model: 1 the same dtype, 2 BF16 */
	bool shipped; /* policy: the shipped default (probe features) instead of a weights-only one */
};

static const struct same sames[] = {
	{"stories260k", 0, 0, 0, "magnitude", PRUNE_GRANULARITY_ROWS, false, 0, 0, false},
	{"stories260k", 0, 0, 0, "random", PRUNE_GRANULARITY_ROWS, true, 0, 0, false},
	{"stories260k", 0, 0, 0, "ken", PRUNE_GRANULARITY_WEIGHTS, false, 0, 0, false},
	{"stories260k", 0, 0, 0, "random", PRUNE_GRANULARITY_WEIGHTS, false, 0, 0, false},
	{"stories260k", 0, 0, 0, "wanda", PRUNE_GRANULARITY_ROWS, false, 300, 0, false},
	{"tinystories-instruct-3m", 0, 0, 0, "magnitude", PRUNE_GRANULARITY_WEIGHTS, false, 0,
	 0, false},
	{"tinystories-instruct-3m", 0, 0, 0, "wanda", PRUNE_GRANULARITY_WEIGHTS, false,
	 300, 0, false},
	{"tinystories-instruct-3m", 0, 0, 0, "policy", PRUNE_GRANULARITY_ROWS, false, 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_F16, 12, "random", PRUNE_GRANULARITY_WEIGHTS,
	 false, 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_BF16, 12, "magnitude", PRUNE_GRANULARITY_ROWS,
	 true, 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F16, 11, "ken", PRUNE_GRANULARITY_WEIGHTS, false,
	 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F32, 3, "policy", PRUNE_GRANULARITY_ROWS, false,
	 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F16, 2, "ken", PRUNE_GRANULARITY_WEIGHTS, false,
	 0, 1, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_F32, 2, "ken", PRUNE_GRANULARITY_WEIGHTS, false,
	 0, 2, false},
	/* self-sampled probes: sampled on the mapped weights, activations streamed per layer */
	{"stories260k", 0, 0, 0, "probe", PRUNE_GRANULARITY_ROWS, false, 0, 0, false},
	{"stories260k", 0, 0, 0, "policy", PRUNE_GRANULARITY_ROWS, false, 0, 0, true},
	{"tinystories-instruct-3m", 0, 0, 0, "probe", PRUNE_GRANULARITY_ROWS, true, 0, 0,
	 false},
	{"tinystories-instruct-3m", 0, 0, 0, "policy", PRUNE_GRANULARITY_ROWS, false, 0, 0, true},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_F16, 12, "probe", PRUNE_GRANULARITY_ROWS, false,
	 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F32, 3, "probe", PRUNE_GRANULARITY_ROWS, false, 0,
	 0, false},
	{NULL, CONFIG_FAMILY_OPT, SAFETENSORS_DTYPE_BF16, 2, "policy", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, true},
	/* one pass (rows at a per-layer ratio: each layer scored when the writer reaches it) for
	 * every rows method, also in file order layers 0, 1, 10, 11, 2, ... */
	{"stories260k", 0, 0, 0, "random", PRUNE_GRANULARITY_ROWS, false, 0, 0, false},
	{"stories260k", 0, 0, 0, "policy", PRUNE_GRANULARITY_ROWS, false, 0, 0, false},
	{"tinystories-instruct-3m", 0, 0, 0, "random", PRUNE_GRANULARITY_ROWS, false, 0, 0, false},
	{"tinystories-instruct-3m", 0, 0, 0, "magnitude", PRUNE_GRANULARITY_ROWS, false, 0, 0,
	 false},
	{"tinystories-instruct-3m", 0, 0, 0, "wanda", PRUNE_GRANULARITY_ROWS, false, 300, 0, false},
	{"tinystories-instruct-3m", 0, 0, 0, "probe", PRUNE_GRANULARITY_ROWS, false, 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_F16, 12, "random", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_BF16, 12, "random", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_BF16, 12, "magnitude", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_F16, 12, "wanda", PRUNE_GRANULARITY_ROWS,
	 false, 300, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_F16, 12, "policy", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_BF16, 12, "policy", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, true},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_BF16, 12, "probe", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F16, 11, "random", PRUNE_GRANULARITY_ROWS, false,
	 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F16, 11, "magnitude", PRUNE_GRANULARITY_ROWS,
	 false, 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F16, 11, "policy", PRUNE_GRANULARITY_ROWS, false,
	 0, 0, false},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_BF16, 11, "policy", PRUNE_GRANULARITY_ROWS, false,
	 0, 0, true},
	{NULL, CONFIG_FAMILY_GPT2, SAFETENSORS_DTYPE_F16, 11, "probe", PRUNE_GRANULARITY_ROWS, false,
	 0, 0, false},
	{NULL, CONFIG_FAMILY_LLAMA, SAFETENSORS_DTYPE_BF16, 12, "ken", PRUNE_GRANULARITY_WEIGHTS,
	 false, 0, 0, false},
};

/* A random MLP policy checkpoint for (hidden, ffn). */
static void write_policy(const char *path, int hidden, int ffn)
{
	static struct checkpoint_model trained = {"fixture", "llama", 0, 0, 2};
	static double ratios[1] = {0.3};
	struct checkpoint_info in = {.arch = CHECKPOINT_ARCH_MLP, .n_features = ROWFEAT_COUNT,
				     .n_hidden = 8, .hidden = hidden, .ffn = ffn,
				     .trained_on = &trained, .n_trained_on = 1, .ratios = ratios,
				     .n_ratios = 1, .episodes = 1};
	trained.hidden = hidden;
	trained.ffn = ffn;
	strcpy(in.reward, "neg-ks");
	struct pcg32 rng;
	pcg32_seed(&rng, 3, 1u);
	struct policy *p = NULL;
	ck_assert_int_eq(policy_new(&p, ROWFEAT_COUNT, 8, &rng), 0);
	ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), 0);
	policy_free(p);
}

/* The whole-model route (model_open, select_plan, prune_write) into out. */
static void write_loaded(const char *dir, const char *out, const struct select_opts *so,
			 double ratio, const char *base_dir)
{
	char err[ERR_MAX];
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct select_cache cache = {0};
	struct prune_plan *plan = NULL;
	ck_assert_msg(text_open_model(&m, &tok, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(select_plan(&plan, m, tok, so, ratio, &cache, err, sizeof err) == 0, "%s", err);
	struct model *base = NULL;
	if (base_dir)
		ck_assert_msg(model_open(&base, base_dir, err, sizeof err) == 0, "%s", err);
	struct prune_info info = select_info(so, &cache, ratio, base_dir);
	info.source_model = dir; /* as prunejob records it */
	ck_assert_msg(prune_write(m, dir, plan, base, &info, out, false, err, sizeof err) == 0, "%s",
		      err);
	model_close(base);
	prune_plan_free(plan);
	select_cache_free(&cache);
	tokenizer_free(tok);
	model_close(m);
}

START_TEST(test_stream_same_bytes)
{
	const struct same *c = &sames[_i];
	if (c->shared && !testutil_shared_present())
		return;
	char *tmp = testutil_tmpdir_new("prunejob"), model[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	char pol[PATH_MAX], calib[PATH_MAX], base[PATH_MAX], err[ERR_MAX];
	testutil_path_join(base, sizeof base, tmp, "base");
	if (c->shared) {
		snprintf(model, sizeof model, "%s/models/%s", testutil_shared(), c->shared);
	} else {
		struct synth_spec spec;
		synth_spec_default(&spec, c->family);
		spec.hidden = 16;
		spec.ffn = 24;
		spec.n_layers = c->layers;
		spec.dtype = c->dtype;
		testutil_path_join(model, sizeof model, tmp, "model");
		ck_assert_int_eq(synth_write(model, &spec), SYNTH_OK);
		spec.seed = 9;
		spec.dtype = c->base == 2 ? SAFETENSORS_DTYPE_BF16 : c->dtype;
		if (c->base)
			ck_assert_int_eq(synth_write(base, &spec), SYNTH_OK);
	}
	snprintf(calib, sizeof calib, "%s/data/tinystories-calib.txt", testutil_shared());
	testutil_path_join(pol, sizeof pol, tmp, "policy.ckpt");
	struct config cfg;
	struct safetensors *st = NULL;
	ck_assert_int_eq(model_inspect(&cfg, &st, model, err, sizeof err), 0);
	safetensors_close(st);
	write_policy(pol, cfg.hidden, cfg.ffn);
	testutil_path_join(a, sizeof a, tmp, "streamed");
	testutil_path_join(b, sizeof b, tmp, "loaded");
	struct prunejob_opts o = {.model = model, .out = a, .ratio = 0.3,
				  .base = c->base ? base : NULL,
				  .select = {.method = c->method, .policy = c->shipped ? NULL : pol,
					     .calib = calib,
					     .calib_tokens = c->calib_tokens, .norm_p = 1,
					     .granularity = c->g, .global = c->global, .seed = 7}};
	struct prune_counts cn;
	ck_assert_msg(prunejob_run(&cn, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	write_loaded(model, b, &o.select, o.ratio, o.base);
	testutil_assert_same_file(a, b, "model.safetensors");
	testutil_assert_same_file(a, b, "config.json");
	testutil_assert_same_file(a, b, "yopo_pruning.json"); /* kept_indices: the same rows */
	/* prunejob's own whole-model route writes the same */
	testutil_path_join(b, sizeof b, tmp, "whole");
	o.out = b;
	o.whole_model = true;
	ck_assert_msg(prunejob_run(&cn, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	testutil_assert_same_file(a, b, "model.safetensors");
	testutil_assert_same_file(a, b, "yopo_pruning.json");
	/* and the streamed two-pass route (every layer scored before the write) */
	testutil_path_join(b, sizeof b, tmp, "twopass");
	o.out = b;
	o.whole_model = false;
	o.two_pass = true;
	ck_assert_msg(prunejob_run(&cn, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	testutil_assert_same_file(a, b, "model.safetensors");
	testutil_assert_same_file(a, b, "config.json");
	testutil_assert_same_file(a, b, "yopo_pruning.json");
	testutil_tmpdir_free(tmp);
}
END_TEST

/* Streamed Wanda calibration (one layer's weights at a time) gives the whole-model route's
 * norms; also with a partial last window and a window limit. */
START_TEST(test_calib_stream)
{
	static const char *const models[] = {"stories260k", "tinystories-instruct-3m"};
	if (!testutil_shared_present())
		return;
	char dir[PATH_MAX], path[PATH_MAX], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/models/%s", testutil_shared(), models[_i]);
	snprintf(path, sizeof path, "%s/data/tinystories-calib.txt", testutil_shared());
	struct model *m = NULL, *w = NULL;
	struct tokenizer *tok = NULL;
	ck_assert_msg(text_open_model(&m, &tok, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(prunestream_open(&w, dir, err, sizeof err), 0);
	int *ids = NULL;
	size_t n = 0;
	ck_assert_int_eq(text_encode_file(&ids, &n, m, tok, path, err, sizeof err), 0);
	ck_assert_uint_gt(n, 700);
	/* seq 0: the model's context (beyond GPT-Neo's local window of 256 on the 3M model, whose
	 * layers alternate global and local attention) */
	static const struct { size_t n; int seq; size_t maxw; } runs[] = {
		{700, 256, 0}, {700, 64, 3}, {700, 0, 0}};
	for (size_t r = 0; r < 3; r++) {
		struct calib_norms *x = NULL, *y = NULL;
		int seq = runs[r].seq ? runs[r].seq : m->cfg.max_pos;
		ck_assert_int_eq(calib_collect_xnorm(&x, m, ids, runs[r].n, seq, runs[r].maxw), 0);
		ck_assert_int_eq(calib_stream_xnorm(&y, w, ids, runs[r].n, seq, runs[r].maxw), 0);
		ck_assert_uint_eq(x->tokens, y->tokens);
		ck_assert_uint_eq(x->windows, y->windows);
		for (int l = 0; l < m->cfg.n_layers; l++) {
			ck_assert_ptr_null(w->layers[l].up);
			for (int j = 0; j < m->cfg.hidden; j++)
				ck_assert_float_eq_tol(y->input[l][j], x->input[l][j],
						       1e-5f * (1 + x->input[l][j]));
			for (int j = 0; j < m->layers[l].ffn; j++)
				ck_assert_float_eq_tol(y->inter[l][j], x->inter[l][j],
						       1e-5f * (1 + x->inter[l][j]));
		}
		calib_norms_free(x);
		calib_norms_free(y);
	}
	/* select_calibrate: the first calib_tokens of the file, through either route, once per cache */
	struct select_opts so = {.method = "wanda", .calib_tokens = 300};
	struct select_cache loaded = {0}, streamed = {0};
	ck_assert_int_eq(select_calibrate(&streamed, w, w, tok, &so, err, sizeof err), SELECT_ERR_USAGE);
	ck_assert_str_eq(err, "method wanda needs --calib FILE (calibration text)");
	so.calib = path;
	ck_assert_int_eq(select_calibrate(&loaded, m, NULL, tok, &so, err, sizeof err), SELECT_OK);
	ck_assert_int_eq(select_calibrate(&streamed, w, w, tok, &so, err, sizeof err), SELECT_OK);
	struct calib_norms *first = loaded.norms;
	ck_assert_int_eq(select_calibrate(&loaded, m, NULL, tok, &so, err, sizeof err), SELECT_OK);
	ck_assert_ptr_eq(loaded.norms, first); /* kept, not recomputed */
	ck_assert_uint_eq(loaded.calib_tokens, 300);
	ck_assert_uint_eq(streamed.calib_tokens, 300);
	for (int j = 0; j < m->layers[0].ffn; j++)
		ck_assert_float_eq_tol(streamed.norms->inter[0][j], loaded.norms->inter[0][j],
				       1e-5f * (1 + loaded.norms->inter[0][j]));
	select_cache_free(&loaded);
	select_cache_free(&streamed);
	int bad[2] = {1, 1 << 30};
	struct calib_norms *z = NULL;
	ck_assert_int_eq(calib_stream_xnorm(&z, w, bad, 2, 4, 0), CALIB_ERR_FORWARD);
	ck_assert_int_eq(calib_stream_xnorm(&z, w, ids, 0, 4, 0), CALIB_ERR_ARG);
	ck_assert_int_eq(calib_stream_xnorm(&z, w, ids, 4, m->cfg.max_pos + 1, 0), CALIB_ERR_ARG);
	free(ids);
	tokenizer_free(tok);
	model_close(w);
	model_close(m);
}
END_TEST

/* A synthetic GPT-Neo whose second layer attends locally (window 256) over windows of 600
 * tokens: the streamed route must run each layer with its own attention span. */
START_TEST(test_calib_stream_local)
{
	char *tmp = testutil_tmpdir_new("prunejob"), dir[PATH_MAX], err[ERR_MAX];
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_GPT_NEO);
	spec.n_layers = 2;
	spec.max_pos = 600;
	testutil_path_join(dir, sizeof dir, tmp, "neo");
	ck_assert_int_eq(synth_write(dir, &spec), SYNTH_OK);
	struct model *m = NULL, *w = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(prunestream_open(&w, dir, err, sizeof err), 0);
	ck_assert_int_eq(m->cfg.window[0], 0);
	ck_assert_int_eq(m->cfg.window[1], 256);
	int ids[600];
	struct pcg32 rng;
	pcg32_seed(&rng, 11, 12);
	for (int i = 0; i < 600; i++)
		ids[i] = (int)pcg32_bounded(&rng, 257);
	struct calib_norms *x = NULL, *y = NULL;
	ck_assert_int_eq(calib_collect_xnorm(&x, m, ids, 600, 600, 0), 0);
	ck_assert_int_eq(calib_stream_xnorm(&y, w, ids, 600, 600, 0), 0);
	for (int l = 0; l < 2; l++)
		for (int j = 0; j < m->cfg.hidden; j++)
			ck_assert_float_eq_tol(y->input[l][j], x->input[l][j], 1e-5f * (1 + x->input[l][j]));
	calib_norms_free(x);
	calib_norms_free(y);
	model_close(w);
	model_close(m);
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
	tcase_add_loop_test(tc, test_sizes, 0, (int)(sizeof sizes / sizeof sizes[0]));
	tcase_add_test(tc, test_granularity_words);
	tcase_add_loop_test(tc, test_refusals, 0, (int)(sizeof refusals / sizeof refusals[0]));
	tcase_add_loop_test(tc, test_stream_same_bytes, 0, (int)(sizeof sames / sizeof sames[0]));
	tcase_add_loop_test(tc, test_calib_stream, 0, 2);
	tcase_add_test(tc, test_calib_stream_local);
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
