/* Tests for pipeline/trainjob with pipeline/select: a policy trained on the shared stories260k
 * checkpoint with either feature set, then `--method policy` must keep exactly the top-k rows of
 * that policy's scores, recomputed here the way training saw them (env features, with the
 * model's own probes for the probe set, through policy_forward). Also: the checkpoint records
 * reward, feature set and probe count / seed; --force; a probe policy's feature set is refused
 * as weights. The command-line choices (trainjob_opts_choose: a table of arch / reward /
 * feature set / mix / lr combinations) and the progress lines, exactly. Skips (77) without
 * ../shared. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "env.h"
#include "err.h"
#include "probe.h"
#include "select.h"
#include "testutil.h"
#include "text.h"
#include "topk.h"
#include "trainjob.h"

#define PROBES 128

static char model[PATH_MAX];

/* max_layers > 0: train that many of the model's layers (their probes alone are kept). */
static void train(const char *out, enum rowfeat_set set, bool force, int max_layers)
{
	static const double ratio = 0.3;
	const char *models[] = {model};
	struct trainjob_opts t;
	trainjob_opts_default(&t);
	t.models = models;
	t.n_models = 1;
	t.out = out;
	t.force = force;
	t.feature_set = set;
	t.probe_tokens = PROBES;
	t.probe_seed = 7;
	t.train.ratios = &ratio;
	t.train.n_ratios = 1;
	t.train.episodes = 2;
	t.train.samples = 4;
	t.train.max_layers = max_layers;
	double best = -1;
	char err[ERR_MAX];
	ck_assert_msg(trainjob_run(&best, &t, NULL, NULL, err, sizeof err) == 0, "%s", err);
}

/* Rows kept by the policy at path, layer by layer through env as the trainer scores them. */
static void expected_keep(unsigned char **keep, const char *path, double ratio)
{
	char err[ERR_MAX];
	struct checkpoint *ck = NULL;
	struct policy *p = NULL;
	struct env *env = NULL;
	struct model *m = NULL;
	struct probe *pr = NULL;
	ck_assert_msg(checkpoint_load(&ck, path, err, sizeof err) == 0, "%s", err);
	const struct checkpoint_info *in = checkpoint_get_info(ck);
	ck_assert_int_eq(checkpoint_make_mlp(ck, &p), 0);
	ck_assert_int_eq(env_open(&env, model, SPECTRUM_ROUTE_SVD, 0, err, sizeof err), 0);
	if (in->feature_set == ROWFEAT_SET_PROBE) {
		ck_assert_int_eq(model_open(&m, model, err, sizeof err), 0);
		ck_assert_int_eq(probe_collect(&pr, m, in->probe_tokens, in->probe_seed, 0, 0, err,
					       sizeof err), 0);
		ck_assert_int_eq(env_use_probes(env, pr, ROWFEAT_SET_PROBE, err, sizeof err), 0);
	}
	for (int l = 0; l < env_config(env)->n_layers; l++) {
		const float *x, *w;
		int rows = env_rows(env, l), k = util_keep_count(rows, ratio);
		float *s = malloc((size_t)rows * sizeof *s);
		ck_assert_int_eq(env_layer_begin(env, l, &x, &w, err, sizeof err), 0);
		ck_assert_int_eq(policy_forward(p, s, x, rows), 0);
		/* kept: fewer than k rows score strictly higher (scores are distinct here) */
		for (int i = 0; i < rows; i++) {
			int above = 0;
			for (int j = 0; j < rows; j++)
				above += s[j] > s[i];
			keep[l][i] = above < k;
		}
		free(s);
	}
	probe_free(pr);
	model_close(m);
	env_close(env);
	policy_free(p);
	checkpoint_free(ck);
}

START_TEST(test_policy_topk)
{
	if (!testutil_shared_present())
		return;
	snprintf(model, sizeof model, "%s/models/stories260k", testutil_shared());
	enum rowfeat_set set = _i ? ROWFEAT_SET_WEIGHTS : ROWFEAT_SET_PROBE;
	char *tmp = testutil_tmpdir_new("trainjob"), err[ERR_MAX];
	char *path = testutil_path_new(tmp, "p.safetensors");
	train(path, set, false, 0);

	/* the checkpoint says how it was trained */
	struct checkpoint *ck = NULL;
	ck_assert_msg(checkpoint_load(&ck, path, err, sizeof err) == 0, "%s", err);
	const struct checkpoint_info *in = checkpoint_get_info(ck);
	ck_assert_str_eq(in->reward, "functional");
	ck_assert_int_eq(in->feature_set, set);
	ck_assert_int_eq(in->n_features, set == ROWFEAT_SET_PROBE ? 8 : 6);
	ck_assert_int_eq(in->probe_tokens, PROBES);
	ck_assert_uint_eq(in->probe_seed, 7);
	/* a checkpoint refuses a feature set it was not trained with */
	enum rowfeat_set other = set == ROWFEAT_SET_PROBE ? ROWFEAT_SET_WEIGHTS : ROWFEAT_SET_PROBE;
	ck_assert_int_eq(checkpoint_check_features(ck, other, err, sizeof err),
			 CHECKPOINT_ERR_FEATURES);
	ck_assert_msg(strstr(err, rowfeat_set_name(set)), "%s", err);
	checkpoint_free(ck);

	/* an existing --out is refused without force, replaced with it */
	const char *models[] = {model};
	static const double ratio = 0.3;
	struct trainjob_opts t;
	trainjob_opts_default(&t);
	t.models = models;
	t.n_models = 1;
	t.out = path;
	t.train.ratios = &ratio;
	t.train.n_ratios = 1;
	double best;
	ck_assert_int_eq(trainjob_run(&best, &t, NULL, NULL, err, sizeof err), TRAINJOB_ERR_OUT);
	ck_assert_msg(strstr(err, "--force"), "%s", err);
	train(path, set, true, 2); /* a layer subset: the checks below hold whatever was trained */

	/* select's plan = the top-k of the policy's scores, every layer */
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	ck_assert_int_eq(text_open_model(&m, &tok, model, err, sizeof err), 0);
	struct select_opts so = {.method = "policy", .policy = path, .norm_p = 1,
				 .granularity = PRUNE_GRANULARITY_ROWS};
	struct select_cache cache = {0};
	struct prune_plan *plan = NULL;
	ck_assert_msg(select_plan(&plan, m, tok, &so, 0.3, &cache, err, sizeof err) == 0, "%s", err);
	int L = m->cfg.n_layers, F = m->cfg.ffn;
	unsigned char **keep = malloc((size_t)L * sizeof *keep);
	for (int l = 0; l < L; l++)
		keep[l] = calloc((size_t)F, 1);
	expected_keep(keep, path, 0.3);
	for (int l = 0; l < L; l++) {
		const int *kept;
		int k = prune_plan_layer_kept(plan, l, &kept), n_expected = 0;
		ck_assert_int_eq(k, util_keep_count(F, 0.3));
		for (int i = 0; i < F; i++)
			n_expected += keep[l][i];
		ck_assert_int_eq(n_expected, k);
		for (int j = 0; j < k; j++)
			ck_assert_msg(keep[l][kept[j]], "layer %d keeps row %d, not in the top %d", l,
				      kept[j], k);
		free(keep[l]);
	}
	free(keep);
	prune_plan_free(plan);
	select_cache_free(&cache);
	tokenizer_free(tok);
	model_close(m);
	free(path);
	testutil_tmpdir_free(tmp);
}
END_TEST

static const struct {
	const char *arch, *reward, *fset;
	bool weights_only;
	double mix, lr;
	int rc;
	enum train_arch want_arch;
	enum train_reward want_reward;
	enum rowfeat_set want_set;
	double want_lr, want_mix; /* want_mix: train_opts.mix, the functional weight */
	const char *err;
} choices[] = {
	{"mlp", NULL, NULL, false, -1, 0, 0, TRAIN_ARCH_MLP, TRAIN_REWARD_FUNCTIONAL, ROWFEAT_SET_PROBE,
	 0.1, -1, NULL},
	{"prunenet", NULL, NULL, false, -1, 0, 0, TRAIN_ARCH_PRUNENET, TRAIN_REWARD_INVERSE,
	 ROWFEAT_SET_WEIGHTS, 1e-3, -1, NULL},
	{"prunenet", "neg-ks", NULL, false, -1, 0.5, 0, TRAIN_ARCH_PRUNENET, TRAIN_REWARD_NEG_KS,
	 ROWFEAT_SET_WEIGHTS, 0.5, -1, NULL},
	{"mlp", "mix", NULL, true, 0.25, 0, 0, TRAIN_ARCH_MLP, TRAIN_REWARD_MIX, ROWFEAT_SET_WEIGHTS,
	 0.1, 0.75, NULL},
	{"mlp", NULL, "probe", true, -1, 0, TRAINJOB_ERR_USAGE, 0, 0, 0, 0, 0,
	 "--weights-only contradicts --feature-set probe"},
	{"prunenet", NULL, "probe", false, -1, 0, TRAINJOB_ERR_USAGE, 0, 0, 0, 0, 0,
	 "--arch prunenet sees weights only (no --feature-set probe)"},
	{"mlp", "neg-ks", NULL, false, 0.5, 0, TRAINJOB_ERR_USAGE, 0, 0, 0, 0, 0,
	 "--mix applies to --reward mix"},
};

START_TEST(test_choose)
{
	struct trainjob_opts o;
	trainjob_opts_default(&o);
	char err[ERR_MAX] = "";
	double mix0 = o.train.mix;
	int rc = trainjob_opts_choose(&o, choices[_i].arch, choices[_i].reward, choices[_i].fset,
				      choices[_i].weights_only, choices[_i].mix, choices[_i].lr, err,
				      sizeof err);
	ck_assert_int_eq(rc, choices[_i].rc);
	if (rc) {
		ck_assert_str_eq(err, choices[_i].err);
		return;
	}
	ck_assert_int_eq(o.train.arch, choices[_i].want_arch);
	ck_assert_int_eq(o.train.reward, choices[_i].want_reward);
	ck_assert_int_eq(trainjob_feature_set(&o), choices[_i].want_set);
	ck_assert_double_eq_tol(o.train.lr, choices[_i].want_lr, 1e-15);
	ck_assert_double_eq_tol(o.train.mix, choices[_i].want_mix < 0 ? mix0 : choices[_i].want_mix,
				1e-15);
}
END_TEST

START_TEST(test_lines)
{
	struct trainjob_opts o;
	trainjob_opts_default(&o);
	static const double ratios[] = {0.3};
	o.train.ratios = ratios;
	o.train.n_ratios = 1;
	o.n_models = 2;
	o.train.seed = 7;
	char line[256];
	trainjob_start_line(line, sizeof line, &o, 20);
	ck_assert_str_eq(line, "arch mlp, reward functional, features probe, 2 model(s), 1 ratio(s), "
			       "20 episodes, seed 7");
	struct train_episode ep = {.episode = 5, .mean_reward = -0.5, .greedy_ks = 0.25,
				   .greedy_loss = 0.125, .elapsed = 50, .is_best = 1};
	trainjob_episode_line(line, sizeof line, &ep, 20);
	ck_assert_str_eq(line, "episode 5/20  mean reward -0.5000  greedy loss 0.1250  greedy KS "
			       "0.2500  best elapsed 50.0 s  ETA 2 min 30 s");
	ep.episode = 21;
	ep.is_best = 0;
	trainjob_episode_line(line, sizeof line, &ep, 20);
	ck_assert_str_eq(line, "final    greedy loss 0.1250  greedy KS 0.2500  (50.0 s)");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trainjob");
	TCase *tc = tcase_create("trainjob");
	tcase_add_loop_test(tc, test_policy_topk, 0, 2);
	tcase_add_loop_test(tc, test_choose, 0, (int)(sizeof choices / sizeof choices[0]));
	tcase_add_test(tc, test_lines);
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
