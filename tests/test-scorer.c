/* Tests for pipeline/scorer and pipeline/select: every registered scorer on the committed family
 * fixtures, checking WHICH rows (or weights) each plan keeps against an independent computation;
 * the policy method keeps exactly the top-k of the policy's own scores on env's streamed
 * features; usage errors of every method. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "env.h"
#include "err.h"
#include "ken.h"
#include "pcg32.h"
#include "probe.h"
#include "scorer.h"
#include "scorers.h"
#include "select.h"
#include "testmodel.h"
#include "testutil.h"
#include "topk.h"

static const char *const families[] = {"llama_gqa", "gpt2", "opt", "phi"};
#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

static void fixture_dir(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/families/%s", testutil_fixtures(), name);
}

static struct model *open_model(const char *dir)
{
	struct model *m = NULL;
	char err[ERR_MAX];
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	return m;
}

/* A permutation value of row i among n: (i * p) mod n with p coprime to n. */
static int perm(int i, int n)
{
	static const int primes[] = {7, 11, 13, 17, 19, 23, 29, 31};
	for (int q = 0; q < 8; q++)
		if (n % primes[q])
			return (int)(((long)i * primes[q]) % n);
	return i;
}

/* Checks that layer l of plan keeps exactly the rows whose perm value is among the k largest. */
static void assert_kept_perm(const struct prune_plan *p, int l, int F, int k)
{
	const int *kept;
	ck_assert_int_eq(prune_plan_layer_kept(p, l, &kept), k);
	for (int t = 0, i = 0; i < F; i++)
		if (perm(i, F) >= F - k)
			ck_assert_msg(kept[t++] == i, "layer %d: row %d should be kept", l, i);
}

/* assert_kept_perm on every layer of m at the keep count of ratio. */
static void assert_plan_perm(const struct prune_plan *p, const struct model *m, double ratio)
{
	for (int l = 0; l < m->cfg.n_layers; l++)
		assert_kept_perm(p, l, m->layers[l].ffn, util_keep_count(m->layers[l].ffn, ratio));
}

/* Checks that layer l of plan keeps exactly the top-k rows of scores (F) (ties: lower index). */
static void assert_kept_topk(const struct prune_plan *p, int l, const float *scores, int F, int k)
{
	unsigned char *keep = malloc((size_t)F);
	ck_assert_int_eq(util_topk_mask(keep, scores, F, k), 0);
	const int *kept;
	ck_assert_int_eq(prune_plan_layer_kept(p, l, &kept), k);
	for (int i = 0, t = 0; i < F; i++)
		if (keep[i])
			ck_assert_msg(kept[t++] == i, "layer %d: row %d should be kept", l, i);
	free(keep);
}

static struct prune_plan *plan_of(const struct model *m, const char *method, double ratio,
				  enum prune_granularity g, struct select_cache *cache,
				  const char *policy)
{
	struct select_opts o = {.method = method, .policy = policy, .calib = "unused.txt", .norm_p = 1,
				.granularity = g, .seed = 5};
	struct prune_plan *p = NULL;
	char err[ERR_MAX] = "";
	ck_assert_msg(select_plan(&p, m, NULL, &o, ratio, cache, err, sizeof err) == 0, "%s: %s",
		      method, err);
	return p;
}

/* magnitude: |row i| is perm(i) + 1 (in gate when gated) -> the k largest perm values. */
START_TEST(test_magnitude_rows)
{
	struct model *m = testmodel_open_family(families[_i]);
	int H = m->cfg.hidden;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		struct model_layer *ly = &m->layers[l];
		for (int i = 0; i < ly->ffn; i++)
			for (int j = 0; j < H; j++) {
				/* gated: up is flat, so only gate can order the rows */
				float v = (float)(perm(i, ly->ffn) + 1) * (j % 2 ? -1 : 1);
				ly->up[(size_t)i * H + j] = ly->gate ? 1.0f : v;
				if (ly->gate)
					ly->gate[(size_t)i * H + j] = v;
			}
	}
	struct select_cache cache = {0};
	struct prune_plan *p = plan_of(m, "magnitude", 0.25, PRUNE_GRANULARITY_ROWS, &cache, NULL);
	assert_plan_perm(p, m, 0.25);
	prune_plan_free(p);
	model_close(m);
}
END_TEST

/* wanda: only input feature 0 has a nonzero norm, and row i's weight on it is perm(i) + 1, so
 * the scores order the rows as perm does whatever the other weights are. */
START_TEST(test_wanda_rows)
{
	struct model *m = testmodel_open_family(families[_i]);
	struct select_cache cache = {0};
	ck_assert_int_eq(calib_norms_new(&cache.norms, m), 0);
	int H = m->cfg.hidden;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		struct model_layer *ly = &m->layers[l];
		cache.norms->input[l][0] = 2.0f;
		for (int i = 0; i < ly->ffn; i++) {
			ly->up[(size_t)i * H] = (float)(perm(i, ly->ffn) + 1);
			if (ly->gate)
				ly->gate[(size_t)i * H] = -(float)(perm(i, ly->ffn) + 1);
		}
	}
	struct prune_plan *p = plan_of(m, "wanda", 0.5, PRUNE_GRANULARITY_ROWS, &cache, NULL);
	assert_plan_perm(p, m, 0.5);
	prune_plan_free(p);
	/* weights: down is compared with the intermediate norms, up with the input norms */
	for (int l = 0; l < m->cfg.n_layers; l++)
		for (int j = 0; j < m->layers[l].ffn; j++)
			cache.norms->inter[l][j] = (float)(j + 1);
	p = plan_of(m, "wanda", 0.5, PRUNE_GRANULARITY_WEIGHTS, &cache, NULL);
	int F = m->layers[1].ffn;
	unsigned char *want = malloc((size_t)F * H);
	ck_assert_int_eq(scorers_wanda_weights(want, m->layers[1].down, cache.norms->inter[1], H, F, 0.5), 0);
	ck_assert_int_eq(memcmp(want, prune_plan_mask(p, 1, CONFIG_TENSOR_DOWN), (size_t)F * H), 0);
	ck_assert_int_eq(scorers_wanda_weights(want, m->layers[1].up, cache.norms->input[1], F, H, 0.5), 0);
	ck_assert_int_eq(memcmp(want, prune_plan_mask(p, 1, CONFIG_TENSOR_UP), (size_t)F * H), 0);
	free(want);
	prune_plan_free(p);
	select_cache_free(&cache);
	model_close(m);
}
END_TEST

/* random: one splitmix64 stream seeded per plan and consumed layer by layer. */
START_TEST(test_random_rows)
{
	struct model *m = testmodel_open_family(families[_i]);
	struct select_cache cache = {0};
	struct prune_plan *p = plan_of(m, "random", 0.5, PRUNE_GRANULARITY_ROWS, &cache, NULL);
	struct pcg32 state = scorers_rng(5);
	for (int l = 0; l < m->cfg.n_layers; l++) {
		int F = m->layers[l].ffn, k = util_keep_count(F, 0.5);
		float *sc = malloc((size_t)F * sizeof *sc);
		scorers_random_rows(sc, F, &state);
		assert_kept_topk(p, l, sc, F, k);
		free(sc);
	}
	/* the same seed again: the same plan (the stream restarts) */
	struct prune_plan *q = plan_of(m, "random", 0.5, PRUNE_GRANULARITY_ROWS, &cache, NULL);
	const int *a, *b;
	int ka = prune_plan_layer_kept(p, 1, &a), kb = prune_plan_layer_kept(q, 1, &b);
	ck_assert_int_eq(ka, kb);
	ck_assert_int_eq(memcmp(a, b, (size_t)ka * sizeof *a), 0);
	prune_plan_free(q);
	prune_plan_free(p);
	model_close(m);
}
END_TEST

/* probe: the plan keeps the top-k of E[a_i^2]*||d_i||^2, computed here from an independent
 * collection of the same probes (same seed and count), and records nothing else. */
START_TEST(test_probe_rows)
{
	struct model *m = testmodel_open_family(families[_i]);
	struct select_cache cache = {0};
	struct select_opts o = {.method = "probe", .norm_p = 1, .granularity = PRUNE_GRANULARITY_ROWS,
				.seed = 5, .probe_tokens = 64};
	struct prune_plan *p = NULL;
	char err[ERR_MAX] = "";
	ck_assert_msg(select_plan(&p, m, NULL, &o, 0.5, &cache, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(cache.probe->tokens, 64);
	struct probe *pr = NULL;
	ck_assert_msg(probe_collect(&pr, m, 64, 5, 0, 0, err, sizeof err) == 0, "%s", err);
	int H = m->cfg.hidden;
	for (int l = 0; l < m->cfg.n_layers; l++) {
		int F = m->layers[l].ffn, k = util_keep_count(F, 0.5);
		const float *d = m->layers[l].down; /* (H, F) */
		float *sc = malloc((size_t)F * sizeof *sc);
		for (int i = 0; i < F; i++) {
			double a2 = 0, d2 = 0;
			for (int t = 0; t < pr->tokens; t++)
				a2 += (double)pr->act[l][(size_t)t * F + i] * pr->act[l][(size_t)t * F + i];
			for (int j = 0; j < H; j++)
				d2 += (double)d[(size_t)j * F + i] * d[(size_t)j * F + i];
			sc[i] = (float)(a2 / pr->tokens * d2);
		}
		assert_kept_topk(p, l, sc, F, k);
		free(sc);
	}
	/* another seed draws other probes: the cache collects them again */
	o.seed = 6;
	struct prune_plan *q = NULL;
	ck_assert_msg(select_plan(&q, m, NULL, &o, 0.5, &cache, err, sizeof err) == 0, "%s", err);
	ck_assert(cache.probe_seed == 6);
	prune_plan_free(q);
	probe_free(pr);
	prune_plan_free(p);
	select_cache_free(&cache);
	model_close(m);
}
END_TEST

/* ken: every output row of every matrix is KEN of that row. */
START_TEST(test_ken_weights)
{
	struct model *m = testmodel_open_family(families[_i]);
	struct select_cache cache = {0};
	struct prune_plan *p = plan_of(m, "ken", 0.3, PRUNE_GRANULARITY_WEIGHTS, &cache, NULL);
	int H = m->cfg.hidden, F = m->layers[0].ffn;
	unsigned char *row = malloc((size_t)(F > H ? F : H));
	const unsigned char *down = prune_plan_mask(p, 0, CONFIG_TENSOR_DOWN);
	const unsigned char *up = prune_plan_mask(p, 0, CONFIG_TENSOR_UP);
	for (int r = 0; r < H; r++) {
		ck_assert_int_eq(ken_row(row, m->layers[0].down + (size_t)r * F, F,
						 util_keep_count(F, 0.3)), 0);
		ck_assert_int_eq(memcmp(row, down + (size_t)r * F, (size_t)F), 0);
	}
	for (int r = 0; r < F; r++) {
		ck_assert_int_eq(ken_row(row, m->layers[0].up + (size_t)r * H, H,
						 util_keep_count(H, 0.3)), 0);
		ck_assert_int_eq(memcmp(row, up + (size_t)r * H, (size_t)H), 0);
	}
	free(row);
	prune_plan_free(p);
	model_close(m);
}
END_TEST

/* Writes a random policy checkpoint of arch for a model of (hidden, ffn). */
static void write_policy(const char *path, enum checkpoint_arch arch, int hidden, int ffn)
{
	static struct checkpoint_model trained = {"fixture", "llama", 0, 0, 2};
	static double ratios[1] = {0.3};
	struct checkpoint_info in = {.arch = arch, .n_features = ROWFEAT_COUNT, .n_hidden = 8,
				     .hidden = hidden, .ffn = ffn, .trained_on = &trained,
				     .n_trained_on = 1, .ratios = ratios, .n_ratios = 1, .episodes = 1};
	trained.hidden = hidden;
	trained.ffn = ffn;
	strcpy(in.reward, "neg-ks");
	struct pcg32 rng;
	pcg32_seed(&rng, 3, 1u);
	if (arch == CHECKPOINT_ARCH_MLP) {
		struct policy *p = NULL;
		ck_assert_int_eq(policy_new(&p, ROWFEAT_COUNT, 8, &rng), 0);
		ck_assert_int_eq(checkpoint_save_mlp(path, p, &in), 0);
		policy_free(p);
	} else {
		struct prunenet *p = NULL;
		ck_assert_int_eq(prunenet_new(&p, hidden, ffn, &rng), 0);
		ck_assert_int_eq(checkpoint_save_prunenet(path, p, &in), 0);
		prunenet_free(p);
	}
}

/* policy: the plan keeps exactly the top-k of the policy's scores, computed here on env's
 * streamed layers (the scorer itself reads the loaded model's layer view). _i: arch. */
START_TEST(test_policy_topk)
{
	char dir[PATH_MAX], err[ERR_MAX];
	fixture_dir(dir, sizeof dir, "llama_gqa");
	struct model *m = open_model(dir);
	char *tmp = testutil_tmpdir_new("scorer"), *path = testutil_path_new(tmp, "p.safetensors");
	enum checkpoint_arch arch = _i ? CHECKPOINT_ARCH_PRUNENET : CHECKPOINT_ARCH_MLP;
	write_policy(path, arch, m->cfg.hidden, m->cfg.ffn);
	struct select_cache cache = {0};
	struct prune_plan *p = plan_of(m, "policy", 0.25, PRUNE_GRANULARITY_ROWS, &cache, path);
	ck_assert_int_eq(strlen(cache.policy_sha256), 64);
	struct env *env = NULL;
	ck_assert_msg(env_open(&env, dir, SPECTRUM_ROUTE_SVD, 0, err, sizeof err) == 0, "%s", err);
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const float *x, *w;
		int F = env_rows(env, l), k = util_keep_count(F, 0.25);
		float *sc = malloc((size_t)F * sizeof *sc);
		ck_assert_int_eq(env_layer_begin(env, l, &x, &w, NULL, 0), 0);
		ck_assert_int_eq(cache.mlp ? policy_forward(cache.mlp, sc, x, F)
					   : prunenet_forward(cache.pn, sc, w, NULL), 0);
		assert_kept_topk(p, l, sc, F, k);
		free(sc);
	}
	env_close(env);
	prune_plan_free(p);
	select_cache_free(&cache);
	free(path);
	testutil_tmpdir_free(tmp);
	model_close(m);
}
END_TEST

/* Input files are checked before any scoring; each failure names the file. */
START_TEST(test_prepare_errors)
{
	char dir[PATH_MAX], err[ERR_MAX];
	fixture_dir(dir, sizeof dir, "llama_gqa");
	struct model *m = open_model(dir);
	char *tmp = testutil_tmpdir_new("scorer");
	char *missing = testutil_path_new(tmp, "missing.safetensors");
	char *wide = testutil_path_new(tmp, "wide.safetensors"), *empty = testutil_path_new(tmp, "e.txt");
	write_policy(wide, CHECKPOINT_ARCH_PRUNENET, m->cfg.hidden, m->cfg.ffn + 8);
	testutil_file_write(empty, "", 0);
	struct select_cache cache = {0};
	struct select_opts o = {.method = "policy", .policy = missing, .norm_p = 1};
	ck_assert_int_eq(select_prepare(m, &o, &cache, err, sizeof err), SELECT_ERR_INPUT);
	ck_assert_msg(strstr(err, "missing.safetensors"), "%s", err);
	o.policy = wide;
	ck_assert_int_eq(select_prepare(m, &o, &cache, err, sizeof err), SELECT_ERR_INPUT);
	ck_assert_msg(strstr(err, "wide.safetensors") && strstr(err, "32"), "%s", err);
	select_cache_free(&cache);
	o = (struct select_opts){.method = "wanda", .calib = empty, .norm_p = 1};
	ck_assert_int_eq(select_prepare(m, &o, &cache, err, sizeof err), SELECT_ERR_INPUT);
	ck_assert_msg(strstr(err, "e.txt") && strstr(err, "empty"), "%s", err);
	o.method = "random"; /* nothing to check */
	ck_assert_int_eq(select_prepare(m, &o, &cache, err, sizeof err), SELECT_OK);
	free(empty);
	free(wide);
	free(missing);
	testutil_tmpdir_free(tmp);
	model_close(m);
}
END_TEST

struct usage_case {
	const char *method, *policy, *calib;
	enum prune_granularity g;
	bool global;
	int status;
	const char *expect;
};

static const struct usage_case usage_cases[] = {
	{"sparsegpt", NULL, NULL, PRUNE_GRANULARITY_ROWS, false, SELECT_ERR_USAGE, "unknown method"},
	/* no --policy: the shipped policies/default.safetensors */
	{"policy", NULL, NULL, PRUNE_GRANULARITY_ROWS, false, SELECT_OK, NULL},
	{"policy", "p", NULL, PRUNE_GRANULARITY_WEIGHTS, false, SELECT_ERR_USAGE, "selects rows"},
	{"wanda", NULL, NULL, PRUNE_GRANULARITY_ROWS, false, SELECT_ERR_USAGE, "--calib"},
	{"ken", NULL, NULL, PRUNE_GRANULARITY_ROWS, false, SELECT_ERR_USAGE, "ken"},
	{"random", NULL, NULL, PRUNE_GRANULARITY_WEIGHTS, true, SELECT_ERR_USAGE, "--global"},
	{"random", NULL, NULL, PRUNE_GRANULARITY_WEIGHTS, false, SELECT_OK, NULL},
	{"ken", NULL, NULL, PRUNE_GRANULARITY_WEIGHTS, false, SELECT_OK, NULL},
	{"magnitude", NULL, NULL, PRUNE_GRANULARITY_ROWS, true, SELECT_OK, NULL},
};

START_TEST(test_usage)
{
	const struct usage_case *u = &usage_cases[_i];
	struct select_opts o = {.method = u->method, .policy = u->policy, .calib = u->calib,
				.granularity = u->g, .global = u->global, .norm_p = 1};
	char err[ERR_MAX] = "";
	ck_assert_int_eq(select_check_usage(&o, err, sizeof err), u->status);
	if (u->expect)
		ck_assert_msg(strstr(err, u->expect) != NULL, "%s: %s", u->method, err);
	else
		ck_assert_str_eq(err, "");
}
END_TEST

/* The registry: every scorer found by name, with at least one form; names listed in order. */
START_TEST(test_registry)
{
	int n;
	const struct scorer *const *all = scorer_all(&n);
	ck_assert_int_eq(n, 6);
	for (int i = 0; i < n; i++) {
		ck_assert_ptr_eq(scorer_find(all[i]->name), all[i]);
		ck_assert(all[i]->score_rows || all[i]->mask_weights);
		ck_assert(scorer_supports(all[i], all[i]->natural));
	}
	ck_assert_str_eq(scorer_names(), "policy,random,magnitude,wanda,ken,probe");
	ck_assert(scorer_find("random")->seeded && !scorer_find("probe")->seeded);
	ck_assert(scorer_find("probe")->needs & SCORER_NEEDS_PROBE);
	ck_assert_ptr_null(scorer_find("sparsegpt"));
	ck_assert(!scorer_supports(scorer_find("ken"), PRUNE_GRANULARITY_ROWS));
	ck_assert(!scorer_supports(scorer_find("policy"), PRUNE_GRANULARITY_WEIGHTS));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scorer");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_magnitude_rows, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_wanda_rows, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_random_rows, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_ken_weights, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_probe_rows, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_policy_topk, 0, 2);
	tcase_add_loop_test(tc, test_usage, 0, (int)(sizeof usage_cases / sizeof usage_cases[0]));
	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_prepare_errors);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
