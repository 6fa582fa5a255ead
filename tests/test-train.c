/* Tests for env/train: determinism, the untrained (episodes = 0) evaluation recomputed here, the
 * progress reports, learning on a synthetic checkpoint whose row norms decide the KS, PruneNet's
 * shape check and option validation. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "pcg32.h"
#include "model.h"
#include "policy.h"
#include "probe.h"
#include "prunenet.h"
#include "safetensors.h"
#include "sampling.h"
#include "synth.h"
#include "topk.h"
#include "testutil.h"
#include "train.h"

static struct env *open_fixture(const char *name)
{
	char dir[1024], err[ERR_MAX] = "";
	snprintf(dir, sizeof dir, "%s/families/%s", testutil_fixtures(), name);
	struct env *e = NULL;
	ck_assert_msg(env_open(&e, dir, SPECTRUM_ROUTE_SVD, SIZE_MAX, err, sizeof err) == 0, "%s", err);
	return e;
}

/* Every progress report, with its cells checked against the layout as it arrives. */
#define MAX_EP 64

struct record {
	int calls;
	int n_cells_expected;
	int n_envs, n_layers[4];
	const double *ratios;
	int n_ratios;
	enum train_reward reward;
	int episode[MAX_EP], is_best[MAX_EP];
	double greedy[MAX_EP], mean_ks[MAX_EP], mean_reward[MAX_EP], elapsed[MAX_EP];
	double cell_ks[MAX_EP][16], cell_greedy[MAX_EP][16];
};

static void on_progress(void *ctx, const struct train_episode *ep)
{
	struct record *r = ctx;
	ck_assert_int_lt(r->calls, MAX_EP);
	int c = r->calls++;
	r->episode[c] = ep->episode;
	r->is_best[c] = ep->is_best;
	r->greedy[c] = ep->greedy_ks;
	r->mean_ks[c] = ep->mean_ks;
	r->mean_reward[c] = ep->mean_reward;
	r->elapsed[c] = ep->elapsed;
	ck_assert_int_eq(ep->n_cells, r->n_cells_expected);
	ck_assert_ptr_nonnull(ep->cells);
	double ks = 0, g = 0, rw = 0;
	int i = 0;
	for (int m = 0; m < r->n_envs; m++)
		for (int l = 0; l < r->n_layers[m]; l++)
			for (int q = 0; q < r->n_ratios; q++, i++) {
				const struct train_cell *C = &ep->cells[i];
				ck_assert_int_eq(C->model, m);
				ck_assert_int_eq(C->layer, l);
				ck_assert_double_eq(C->ratio, r->ratios[q]);
				ck_assert(C->ks >= 0 && C->ks <= 1);
				ck_assert(C->greedy_ks >= 0 && C->greedy_ks <= 1);
				if (r->reward == TRAIN_REWARD_NEG_KS)
					ck_assert_double_eq_tol(C->reward, -C->ks, 1e-12);
				else if (C->ks > 1e-6) /* mean of 1/ks ≥ 1/mean ks (Jensen) */
					ck_assert(C->reward >= 1 / C->ks - 1e-9);
				if (i < 16) {
					r->cell_ks[c][i] = C->ks;
					r->cell_greedy[c][i] = C->greedy_ks;
				}
				ks += C->ks;
				g += C->greedy_ks;
				rw += C->reward;
			}
	ck_assert_int_eq(i, ep->n_cells);
	ck_assert_double_eq_tol(ep->mean_ks, ks / i, 1e-12);
	ck_assert_double_eq_tol(ep->greedy_ks, g / i, 1e-12);
	ck_assert_double_eq_tol(ep->mean_reward, rw / i, 1e-9 * (1 + fabs(rw / i)));
	ck_assert(ep->elapsed >= 0);
}

static void record_init(struct record *r, struct env **envs, int n_envs, const struct train_opts *o)
{
	memset(r, 0, sizeof *r);
	r->n_envs = n_envs;
	r->ratios = o->ratios;
	r->n_ratios = o->n_ratios;
	r->reward = o->reward;
	for (int m = 0; m < n_envs; m++) {
		r->n_layers[m] = env_config(envs[m])->n_layers;
		r->n_cells_expected += r->n_layers[m] * o->n_ratios;
	}
}

/* Trains and returns the trainer (caller frees); fills rec. */
static struct trainer *train(struct env **envs, int n_envs, const struct train_opts *o,
			     struct record *rec)
{
	struct trainer *t = NULL;
	char err[ERR_MAX] = "";
	ck_assert_msg(trainer_new(&t, envs, n_envs, o, err, sizeof err) == TRAIN_OK, "%s", err);
	record_init(rec, envs, n_envs, o);
	ck_assert_msg(trainer_run(t, on_progress, rec, err, sizeof err) == TRAIN_OK, "%s", err);
	return t;
}

static const float *best_params(struct trainer *t, enum train_arch arch, size_t *n)
{
	if (arch == TRAIN_ARCH_MLP) {
		*n = policy_param_count(trainer_best_mlp(t));
		return policy_params(trainer_best_mlp(t));
	}
	*n = prunenet_param_count(trainer_best_prunenet(t));
	return prunenet_params(trainer_best_prunenet(t));
}

static const enum train_arch archs[] = {TRAIN_ARCH_MLP, TRAIN_ARCH_PRUNENET};

/* Same options and seed: bit-identical best parameters and identical reports; another seed:
 * different parameters and reports. */
START_TEST(test_determinism)
{
	enum train_arch arch = archs[_i];
	struct env *envs[2] = {open_fixture("llama_gqa"), open_fixture("mistral")};
	const double ratios[] = {0.3, 0.5};
	struct train_opts o;
	train_opts_default(&o);
	o.arch = arch;
	o.ratios = ratios;
	o.n_ratios = 2;
	o.episodes = 4;
	o.samples = 4;
	o.lr = arch == TRAIN_ARCH_MLP ? 0.05 : 0.01;
	o.seed = 1;
	struct record *r[3];
	struct trainer *t[3];
	for (int i = 0; i < 3; i++) {
		r[i] = malloc(sizeof *r[i]);
		o.seed = i < 2 ? 1 : 2;
		t[i] = train(envs, 2, &o, r[i]);
	}
	size_t n0, n1, n2;
	const float *p0 = best_params(t[0], arch, &n0), *p1 = best_params(t[1], arch, &n1),
		    *p2 = best_params(t[2], arch, &n2);
	ck_assert_uint_eq(n0, n1);
	ck_assert_uint_eq(n0, n2);
	ck_assert(n0 > 0);
	ck_assert_msg(memcmp(p0, p1, n0 * sizeof *p0) == 0, "same seed, different parameters");
	ck_assert_msg(memcmp(p0, p2, n0 * sizeof *p0) != 0, "different seed, same parameters");
	ck_assert_int_eq(r[0]->calls, o.episodes + 1);
	ck_assert_int_eq(r[1]->calls, r[0]->calls);
	int differs = 0;
	for (int c = 0; c < r[0]->calls; c++) {
		ck_assert_double_eq(r[0]->mean_ks[c], r[1]->mean_ks[c]);
		ck_assert_double_eq(r[0]->greedy[c], r[1]->greedy[c]);
		ck_assert_double_eq(r[0]->mean_reward[c], r[1]->mean_reward[c]);
		ck_assert_int_eq(r[0]->is_best[c], r[1]->is_best[c]);
		differs |= r[0]->mean_ks[c] != r[2]->mean_ks[c];
	}
	ck_assert_msg(differs, "a different seed sampled the same selections");
	ck_assert_double_eq(trainer_best_greedy_ks(t[0]), trainer_best_greedy_ks(t[1]));
	ck_assert_double_eq(trainer_final_reward(t[0]), trainer_final_reward(t[1]));
	for (int i = 0; i < 3; i++) {
		trainer_free(t[i]);
		free(r[i]);
	}
	env_close(envs[0]);
	env_close(envs[1]);
}
END_TEST

/* Mean greedy KS of policy p over every (env, layer, ratio), computed here. */
static double own_greedy_ks(struct policy *p, struct env **envs, int n_envs, const double *ratios,
			    int n_ratios)
{
	double sum = 0;
	int cells = 0;
	for (int m = 0; m < n_envs; m++)
		for (int l = 0; l < env_config(envs[m])->n_layers; l++) {
			const float *x;
			ck_assert_int_eq(env_layer_begin(envs[m], l, &x, NULL, NULL, 0), ENV_OK);
			int rows = env_rows(envs[m], l);
			float *scores = malloc(sizeof *scores * (size_t)rows);
			int *order = malloc(sizeof *order * (size_t)rows);
			ck_assert_int_eq(policy_forward(p, scores, x, rows), POLICY_OK);
			for (int q = 0; q < n_ratios; q++) {
				int k = util_keep_count(rows, ratios[q]);
				double ks;
				ck_assert_int_eq(util_topk(order, scores, rows, k), 0);
				ck_assert_int_eq(env_layer_ks(envs[m], order, k, &ks, NULL, 0), ENV_OK);
				sum += ks;
				cells++;
			}
			free(order);
			free(scores);
		}
	return sum / cells;
}

/* episodes = 0: the initial parameters (policy_new from the trainer's generator: pcg32 seeded with
 * (seed, "yopo") as train.c does) are kept and their greedy KS is reported once, as episode 0. */
START_TEST(test_episodes_zero)
{
	struct env *envs[2] = {open_fixture("llama_gqa"), open_fixture("opt")};
	const double ratios[] = {0.25, 0.6};
	struct train_opts o;
	train_opts_default(&o);
	o.ratios = ratios;
	o.n_ratios = 2;
	o.episodes = 0;
	o.seed = 42;
	o.hidden = 8;
	struct record *r = malloc(sizeof *r);
	struct trainer *t = train(envs, 2, &o, r);

	struct pcg32 rng;
	pcg32_seed(&rng, 42, 0x796f706fu);
	struct policy *init = NULL;
	ck_assert_int_eq(policy_new(&init, ROWFEAT_COUNT, 8, &rng), POLICY_OK);
	struct policy *best = trainer_best_mlp(t);
	ck_assert_ptr_nonnull(best);
	ck_assert_ptr_null(trainer_best_prunenet(t));
	ck_assert_uint_eq(policy_param_count(best), policy_param_count(init));
	ck_assert(memcmp(policy_params(best), policy_params(init),
			 policy_param_count(init) * sizeof(float)) == 0);

	double g = own_greedy_ks(init, envs, 2, ratios, 2);
	ck_assert(g > 0 && g < 1);
	ck_assert_int_eq(r->calls, 1);
	ck_assert_int_eq(r->episode[0], 0);
	ck_assert_int_eq(r->is_best[0], 1);
	ck_assert_double_eq_tol(r->greedy[0], g, 1e-12);
	ck_assert_double_eq_tol(r->mean_ks[0], g, 1e-12);
	ck_assert_double_eq_tol(trainer_best_greedy_ks(t), g, 1e-12);
	ck_assert_double_eq_tol(trainer_final_reward(t), -g, 1e-12);
	ck_assert_double_eq_tol(trainer_best_reward(t), -g, 1e-12);
	policy_free(init);
	trainer_free(t);
	free(r);
	env_close(envs[0]);
	env_close(envs[1]);
}
END_TEST

struct progress_case {
	enum train_arch arch;
	enum train_reward reward;
	const char *models[2];
};

static const struct progress_case progress_cases[] = {
	{TRAIN_ARCH_MLP, TRAIN_REWARD_NEG_KS, {"llama_gqa", "gpt2"}},
	{TRAIN_ARCH_MLP, TRAIN_REWARD_INVERSE, {"opt", "phi"}},
	{TRAIN_ARCH_PRUNENET, TRAIN_REWARD_NEG_KS, {"llama_gqa", "qwen2"}},
};

/* episodes + 1 reports numbered 1..episodes then the final evaluation; cells laid out
 * model × layer × ratio; is_best exactly when the greedy KS beats every earlier one. */
START_TEST(test_progress)
{
	const struct progress_case *pc = &progress_cases[_i];
	struct env *envs[2] = {open_fixture(pc->models[0]), open_fixture(pc->models[1])};
	const double ratios[] = {0.2, 0.5};
	struct train_opts o;
	train_opts_default(&o);
	o.arch = pc->arch;
	o.reward = pc->reward;
	o.ratios = ratios;
	o.n_ratios = 2;
	o.episodes = 5;
	o.samples = 3;
	o.entropy = pc->arch == TRAIN_ARCH_MLP ? 0.01 : 0;
	struct record *r = malloc(sizeof *r);
	struct trainer *t = train(envs, 2, &o, r);
	ck_assert_int_eq(r->calls, o.episodes + 1);
	ck_assert_int_eq(r->n_cells_expected, (2 + 2) * 2);
	double best = INFINITY;
	for (int c = 0; c < r->calls; c++) {
		ck_assert_int_eq(r->episode[c], c + 1);
		ck_assert_msg(r->is_best[c] == (r->greedy[c] < best), "episode %d: is_best %d, greedy %g, best %g",
			      c + 1, r->is_best[c], r->greedy[c], best);
		best = r->greedy[c] < best ? r->greedy[c] : best;
		if (c)
			ck_assert(r->elapsed[c] >= r->elapsed[c - 1]);
	}
	ck_assert_int_eq(r->is_best[0], 1);
	ck_assert_double_eq(trainer_best_greedy_ks(t), best);
	/* the final report is an evaluation: the sampled KS is the greedy one */
	int last = r->calls - 1;
	ck_assert_double_eq_tol(r->mean_ks[last], r->greedy[last], 1e-12);
	for (int i = 0; i < r->n_cells_expected; i++)
		ck_assert_double_eq(r->cell_ks[last][i], r->cell_greedy[last][i]);
	/* the final reward is the last training episode's mean sampled reward */
	ck_assert_double_eq_tol(trainer_final_reward(t), r->mean_reward[last - 1],
				1e-12 * (1 + fabs(r->mean_reward[last - 1])));
	/* the kept best parameters reproduce the best greedy KS (mlp: recomputed here) */
	if (pc->arch == TRAIN_ARCH_MLP)
		ck_assert_double_eq_tol(own_greedy_ks(trainer_best_mlp(t), envs, 2, ratios, 2), best, 1e-12);
	trainer_free(t);
	free(r);
	env_close(envs[0]);
	env_close(envs[1]);
}
END_TEST

/* A synthetic Llama (hidden 32, ffn 256, 2 layers) whose gate_proj rows are rescaled by
 * exp(0.5 N(0,1)): keeping the high-norm rows then preserves the spectrum far better than a
 * random choice (python/numpy on the same construction: top-norm KS ~0.19 against ~0.49 for
 * random halves), and row_norm is a policy feature, so training must find it. */
#define LR_ROWS 256
#define LR_COLS 32

static void write_skewed_model(const char *dir)
{
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.hidden = LR_COLS;
	spec.ffn = LR_ROWS;
	spec.n_layers = 2;
	spec.seed = 5;
	ck_assert_int_eq(synth_write(dir, &spec), SYNTH_OK);
	char path[2100];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open(&st, path), 0);
	int n = safetensors_count(st);
	struct safetensors_entry *entries = calloc((size_t)n, sizeof *entries);
	float *scaled[2] = {NULL, NULL};
	struct pcg32 rng;
	pcg32_seed(&rng, 99, 1);
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(st, i);
		entries[i] = (struct safetensors_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
							.data = t->data};
		memcpy(entries[i].shape, t->shape, sizeof t->shape);
		int layer;
		if (sscanf(t->name, "model.layers.%d.mlp.gate_proj.weight", &layer) == 1 &&
		    strstr(t->name, "gate_proj")) {
			ck_assert_int_eq(t->dtype, SAFETENSORS_DTYPE_F32);
			float *w = malloc(t->nelem * sizeof *w);
			safetensors_read_f32(w, t);
			for (int r = 0; r < LR_ROWS; r++) {
				float f = (float)exp(0.5 * pcg32_normal(&rng));
				for (int j = 0; j < LR_COLS; j++)
					w[r * LR_COLS + j] *= f;
			}
			scaled[layer] = w;
			entries[i].data = w;
		}
	}
	ck_assert(scaled[0] && scaled[1]);
	static const char *const meta[] = {"format", "pt"};
	ck_assert_int_eq(safetensors_write(path, entries, n, meta, 1), 0);
	free(scaled[0]);
	free(scaled[1]);
	free(entries);
	safetensors_close(st);
}

START_TEST(test_learning)
{
	char *dir = testutil_tmpdir_new("train");
	write_skewed_model(dir);
	struct env *e = NULL;
	char err[ERR_MAX] = "";
	ck_assert_msg(env_open(&e, dir, SPECTRUM_ROUTE_SVD, SIZE_MAX, err, sizeof err) == 0, "%s", err);
	const double ratio = 0.5;
	int k = util_keep_count(LR_ROWS, ratio);

	/* references: mean KS of 32 random subsets, and of the top-norm rows, over both layers */
	struct pcg32 rng;
	pcg32_seed(&rng, 2024, 7);
	double random_ks = 0, norm_ks = 0;
	int kept[LR_ROWS];
	for (int l = 0; l < 2; l++) {
		const float *w;
		ck_assert_int_eq(env_layer_begin(e, l, NULL, &w, NULL, 0), ENV_OK);
		for (int s = 0; s < 32; s++) {
			int perm[LR_ROWS];
			for (int i = 0; i < LR_ROWS; i++)
				perm[i] = i;
			for (int i = 0; i < k; i++) {
				int j = i + (int)pcg32_bounded(&rng, (uint32_t)(LR_ROWS - i));
				int tmp = perm[i];
				perm[i] = perm[j];
				perm[j] = tmp;
			}
			double ks;
			ck_assert_int_eq(env_layer_ks(e, perm, k, &ks, NULL, 0), ENV_OK);
			random_ks += ks / 64;
		}
		float norms[LR_ROWS];
		for (int i = 0; i < LR_ROWS; i++) {
			double sq = 0;
			for (int j = 0; j < LR_COLS; j++)
				sq += (double)w[i * LR_COLS + j] * w[i * LR_COLS + j];
			norms[i] = (float)sqrt(sq);
		}
		ck_assert_int_eq(util_topk(kept, norms, LR_ROWS, k), 0);
		double ks;
		ck_assert_int_eq(env_layer_ks(e, kept, k, &ks, NULL, 0), ENV_OK);
		norm_ks += ks / 2;
	}
	ck_assert_msg(norm_ks < random_ks - 0.15, "premise: top-norm %g, random %g", norm_ks, random_ks);

	const double ratios[] = {ratio};
	struct train_opts o;
	train_opts_default(&o);
	o.ratios = ratios;
	o.n_ratios = 1;
	o.episodes = 40;
	o.samples = 8;
	o.lr = 0.05;
	o.seed = 3;
	struct record *r = malloc(sizeof *r);
	struct trainer *t = train(&e, 1, &o, r);
	double best = trainer_best_greedy_ks(t);
	fprintf(stderr, "learning: random %.4f, top-norm %.4f, initial greedy %.4f, best greedy %.4f\n",
		random_ks, norm_ks, r->greedy[0], best);
	ck_assert_msg(best < random_ks - 0.1, "trained greedy KS %g, random subsets %g", best, random_ks);
	ck_assert_msg(best < r->greedy[0], "no improvement over the initial %g", r->greedy[0]);
	/* the sampled selections improve too: last episodes against the first */
	double first = (r->mean_ks[0] + r->mean_ks[1]) / 2;
	double late = (r->mean_ks[o.episodes - 2] + r->mean_ks[o.episodes - 1]) / 2;
	ck_assert_msg(late < first - 0.05, "sampled KS %g -> %g", first, late);
	trainer_free(t);
	free(r);
	env_close(e);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_prunenet_shape)
{
	struct env *envs[2] = {open_fixture("llama_gqa"), open_fixture("opt")};
	const double ratios[] = {0.5};
	struct train_opts o;
	train_opts_default(&o);
	o.arch = TRAIN_ARCH_PRUNENET;
	o.ratios = ratios;
	o.n_ratios = 1;
	struct trainer *t = (struct trainer *)&o; /* any non-NULL sentinel */
	char err[ERR_MAX] = "";
	ck_assert_int_eq(trainer_new(&t, envs, 2, &o, err, sizeof err), TRAIN_ERR_SHAPE);
	ck_assert_ptr_eq(t, (struct trainer *)&o);
	ck_assert_msg(strstr(err, env_model_dir(envs[0])) && strstr(err, env_model_dir(envs[1])),
		      "message does not name both models: %s", err);
	ck_assert_msg(strstr(err, "24") && strstr(err, "32"), "message lacks the widths: %s", err);
	/* the mlp is size-agnostic: the same pair is fine */
	o.arch = TRAIN_ARCH_MLP;
	t = NULL;
	ck_assert_int_eq(trainer_new(&t, envs, 2, &o, err, sizeof err), TRAIN_OK);
	trainer_free(t);
	trainer_free(NULL);
	env_close(envs[0]);
	env_close(envs[1]);
}
END_TEST

struct bad_opts_case {
	const char *what;
	double ratio;
	int n_ratios, episodes, samples, hidden, n_envs;
	double lr, entropy;
	const char *needle;
};

/* Each changes one field of a valid set (ratio 0.5, 1 ratio, 2 episodes, 4 samples, hidden 4,
 * 1 env, lr 0.1, entropy 0). */
static const struct bad_opts_case bad_opts[] = {
	{"ratio 0", 0.0, 1, 2, 4, 4, 1, 0.1, 0, "ratio"},
	{"ratio 1", 1.0, 1, 2, 4, 4, 1, 0.1, 0, "ratio"},
	{"ratio < 0", -0.2, 1, 2, 4, 4, 1, 0.1, 0, "ratio"},
	{"ratio > 1", 1.5, 1, 2, 4, 4, 1, 0.1, 0, "ratio"},
	{"ratio NaN", NAN, 1, 2, 4, 4, 1, 0.1, 0, "ratio"},
	{"no ratio", 0.5, 0, 2, 4, 4, 1, 0.1, 0, "option"},
	{"episodes < 0", 0.5, 1, -1, 4, 4, 1, 0.1, 0, "option"},
	{"samples 0", 0.5, 1, 2, 0, 4, 1, 0.1, 0, "option"},
	{"samples < 0", 0.5, 1, 2, -3, 4, 1, 0.1, 0, "option"},
	{"hidden 0", 0.5, 1, 2, 4, 0, 1, 0.1, 0, "option"},
	{"lr 0", 0.5, 1, 2, 4, 4, 1, 0.0, 0, "option"},
	{"lr < 0", 0.5, 1, 2, 4, 4, 1, -0.1, 0, "option"},
	{"lr NaN", 0.5, 1, 2, 4, 4, 1, NAN, 0, "option"},
	{"entropy < 0", 0.5, 1, 2, 4, 4, 1, 0.1, -0.01, "option"},
	{"no env", 0.5, 1, 2, 4, 4, 0, 0.1, 0, "option"},
};

START_TEST(test_bad_options)
{
	const struct bad_opts_case *b = &bad_opts[_i];
	struct env *e = open_fixture("llama_gqa");
	double ratios[] = {b->ratio};
	struct train_opts o;
	train_opts_default(&o);
	o.ratios = ratios;
	o.n_ratios = b->n_ratios;
	o.episodes = b->episodes;
	o.samples = b->samples;
	o.hidden = b->hidden;
	o.lr = b->lr;
	o.entropy = b->entropy;
	struct trainer *t = (struct trainer *)&o;
	char err[ERR_MAX] = "";
	ck_assert_msg(trainer_new(&t, &e, b->n_envs, &o, err, sizeof err) == TRAIN_ERR_ARG, "%s", b->what);
	ck_assert_ptr_eq(t, (struct trainer *)&o);
	ck_assert_msg(strstr(err, b->needle) != NULL, "%s: '%s' lacks '%s'", b->what, err, b->needle);
	env_close(e);
}
END_TEST

/* The valid base of bad_opts is accepted (so each case fails for its one change). */
START_TEST(test_good_options)
{
	struct env *e = open_fixture("llama_gqa");
	double ratios[] = {0.5};
	struct train_opts o;
	train_opts_default(&o);
	o.ratios = ratios;
	o.n_ratios = 1;
	o.episodes = 2;
	o.samples = 1; /* one sample: the running-mean baseline */
	o.hidden = 4;
	struct trainer *t = NULL;
	char err[ERR_MAX] = "";
	ck_assert_msg(trainer_new(&t, &e, 1, &o, err, sizeof err) == TRAIN_OK, "%s", err);
	ck_assert_int_eq(trainer_run(t, NULL, NULL, err, sizeof err), TRAIN_OK);
	ck_assert(trainer_best_greedy_ks(t) > 0 && trainer_best_greedy_ks(t) < 1);
	trainer_free(t);
	env_close(e);
}
END_TEST

struct layer_rec {
	int calls, last_pass, n_passes, n_layers, bad;
};

static void on_layer_rec(void *ctx, int episode, int pass, int n_passes, int layer, int n_layers,
			 double elapsed)
{
	struct layer_rec *r = ctx;
	/* layers in order within a pass, passes in order, episode = pass for mlp (final: E + 1) */
	int want_layer = r->calls % n_layers, want_pass = r->calls / n_layers + 1;
	r->bad += layer != want_layer || pass != want_pass || episode != pass || !(elapsed >= 0);
	r->calls++;
	r->last_pass = pass;
	r->n_passes = n_passes;
	r->n_layers = n_layers;
}

/* The per-layer progress: every layer of every pass (2 learning + the final evaluation), in order. */
START_TEST(test_layer_progress)
{
	struct env *e = open_fixture("llama_gqa");
	double ratios[] = {0.5};
	struct train_opts o;
	train_opts_default(&o);
	o.ratios = ratios;
	o.n_ratios = 1;
	o.episodes = 2;
	o.samples = 2;
	o.hidden = 4;
	struct trainer *t = NULL;
	struct layer_rec r = {0};
	char err[ERR_MAX] = "";
	ck_assert_msg(trainer_new(&t, &e, 1, &o, err, sizeof err) == TRAIN_OK, "%s", err);
	trainer_set_layer_progress(t, on_layer_rec, &r);
	ck_assert_int_eq(trainer_run(t, NULL, NULL, err, sizeof err), TRAIN_OK);
	int L = env_config(e)->n_layers;
	ck_assert_int_eq(r.n_layers, L);
	ck_assert_int_eq(r.n_passes, 3);
	ck_assert_int_eq(r.calls, 3 * L);
	ck_assert_int_eq(r.last_pass, 3);
	ck_assert_int_eq(r.bad, 0);
	trainer_free(t);
	env_close(e);
}
END_TEST

/* Functional reward with probe features on two models at once: byte-identical parameters for
 * one seed, a different seed differs, the best greedy loss is the functional error recomputed
 * here for the best policy, and training lowers it below the initial policy's. */
static struct probe *fixture_probe(const char *name, uint64_t seed)
{
	char dir[1024], err[512] = "";
	snprintf(dir, sizeof dir, "%s/families/%s", testutil_fixtures(), name);
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	struct probe *p = NULL;
	ck_assert_msg(probe_collect(&p, m, 200, seed, 16, 0, err, sizeof err) == 0, "%s", err);
	model_close(m);
	return p;
}

/* Default options with the functional reward at the single ratio 0.5. */
static void functional_opts(struct train_opts *o)
{
	static const double ratio_half[1] = {0.5};
	train_opts_default(o);
	o->reward = TRAIN_REWARD_FUNCTIONAL;
	o->ratios = ratio_half;
	o->n_ratios = 1;
}

static void train_functional(float *params, size_t *n, double *best_loss, uint64_t seed,
			     int episodes, struct env **envs, struct probe **pr)
{
	struct train_opts o;
	functional_opts(&o);
	o.episodes = episodes;
	o.seed = seed;
	o.samples = 8;
	char err[512] = "";
	for (int e = 0; e < 2; e++)
		ck_assert_int_eq(env_use_probes(envs[e], pr[e], ROWFEAT_SET_PROBE, err, sizeof err), 0);
	struct trainer *t = NULL;
	ck_assert_msg(trainer_new(&t, envs, 2, &o, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(trainer_run(t, NULL, NULL, err, sizeof err), 0);
	struct policy *best = trainer_best_mlp(t);
	ck_assert_int_eq(policy_n_features(best), 8);
	*n = policy_param_count(best);
	memcpy(params, policy_params(best), *n * sizeof *params);
	*best_loss = trainer_best_greedy_loss(t);
	/* recompute the best policy's greedy functional error */
	double sum = 0;
	int cells = 0;
	for (int e = 0; e < 2; e++)
		for (int l = 0; l < env_config(envs[e])->n_layers; l++) {
			const float *x, *w;
			ck_assert_int_eq(env_layer_begin(envs[e], l, &x, &w, NULL, 0), 0);
			int rows = env_rows(envs[e], l), k = util_keep_count(rows, 0.5);
			float sc[256];
			int ord[256];
			double v;
			ck_assert_int_eq(policy_forward(best, sc, x, rows), 0);
			ck_assert_int_eq(util_topk(ord, sc, rows, k), 0);
			ck_assert_int_eq(env_layer_functional(envs[e], ord, k, &v), 0);
			sum += v;
			cells++;
		}
	ck_assert_double_eq_tol(*best_loss, sum / cells, 1e-9);
	/* the KS, unmeasured while learning, is the best policy's (final or extra pass) */
	ck_assert_double_eq_tol(trainer_best_greedy_ks(t), own_greedy_ks(best, envs, 2, o.ratios, 1),
				1e-12);
	trainer_free(t);
}

/* Learning passes under the functional reward report no KS; the final evaluation does. */
static void on_functional_episode(void *ctx, const struct train_episode *ep)
{
	int *bad = ctx;
	bool final = ep->episode == 0 || ep->episode > 2;
	for (int i = 0; i < ep->n_cells; i++)
		*bad += final == isnan(ep->cells[i].greedy_ks) || isnan(ep->cells[i].greedy_func);
	*bad += final == isnan(ep->greedy_ks);
}

START_TEST(test_functional_no_ks_while_learning)
{
	struct env *e = open_fixture("llama_gqa");
	struct probe *pr = fixture_probe("llama_gqa", 1);
	char err[512] = "";
	ck_assert_int_eq(env_use_probes(e, pr, ROWFEAT_SET_PROBE, err, sizeof err), 0);
	struct train_opts o;
	functional_opts(&o);
	o.episodes = 2;
	struct trainer *t = NULL;
	int bad = 0;
	ck_assert_msg(trainer_new(&t, &e, 1, &o, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(trainer_run(t, on_functional_episode, &bad, err, sizeof err), 0);
	ck_assert_int_eq(bad, 0);
	ck_assert(!isnan(trainer_best_greedy_ks(t)));
	trainer_free(t);
	env_close(e);
	probe_free(pr);
}
END_TEST

/* (n_layers, max_layers) -> the trained layers */
static const struct {
	int n, max, count, want[8];
} subset_cases[] = {
	{32, 4, 4, {4, 12, 20, 28}},
	{5, 2, 2, {1, 3}},
	{7, 3, 3, {1, 3, 5}},
	{8, 0, 8, {0, 1, 2, 3, 4, 5, 6, 7}},
	{3, 5, 3, {0, 1, 2}},
	{2, 1, 1, {1}},
};

START_TEST(test_layer_subset_table)
{
	ck_assert_int_eq(train_layer_count(subset_cases[_i].n, subset_cases[_i].max),
			 subset_cases[_i].count);
	for (int j = 0; j < subset_cases[_i].count; j++)
		ck_assert_int_eq(train_layer_at(subset_cases[_i].n, subset_cases[_i].max, j),
				 subset_cases[_i].want[j]);
}
END_TEST

/* Every cell of every report belongs to a trained layer, each trained layer once per ratio. */
struct subset_rec {
	int n_layers, max_layers, n_ratios, bad, reports;
};

static void on_subset_episode(void *ctx, const struct train_episode *ep)
{
	struct subset_rec *r = ctx;
	int count = train_layer_count(r->n_layers, r->max_layers);
	r->reports++;
	r->bad += ep->n_cells != count * r->n_ratios;
	for (int i = 0; i < ep->n_cells && i < count * r->n_ratios; i++)
		r->bad += ep->cells[i].layer !=
			  train_layer_at(r->n_layers, r->max_layers, i / r->n_ratios);
}

START_TEST(test_layer_subset_trainer)
{
	struct env *e = open_fixture("llama_gqa");
	const double ratios[] = {0.25, 0.5};
	struct train_opts o;
	train_opts_default(&o);
	o.ratios = ratios;
	o.n_ratios = 2;
	o.episodes = 2;
	o.samples = 2;
	o.max_layers = 1;
	struct subset_rec r = {env_config(e)->n_layers, 1, 2, 0, 0};
	ck_assert_int_ge(r.n_layers, 2); /* else the subset is the whole model */
	struct trainer *t = NULL;
	char err[512] = "";
	ck_assert_msg(trainer_new(&t, &e, 1, &o, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(trainer_run(t, on_subset_episode, &r, err, sizeof err), 0);
	ck_assert_int_eq(r.reports, 3);
	ck_assert_int_eq(r.bad, 0);
	trainer_free(t);
	o.max_layers = -1;
	ck_assert_int_eq(trainer_new(&t, &e, 1, &o, err, sizeof err), TRAIN_ERR_ARG);
	env_close(e);
}
END_TEST

START_TEST(test_functional_multi_model)
{
	struct env *envs[2] = {open_fixture("llama_gqa"), open_fixture("gpt_neox")};
	struct probe *pr[2] = {fixture_probe("llama_gqa", 1), fixture_probe("gpt_neox", 1)};
	static float a[4096], b[4096], c[4096];
	size_t na, nb, nc;
	double la, lb, lc, l0;
	train_functional(a, &na, &la, 7, 6, envs, pr);
	train_functional(b, &nb, &lb, 7, 6, envs, pr);
	train_functional(c, &nc, &lc, 8, 6, envs, pr);
	ck_assert_uint_eq(na, nb);
	ck_assert_mem_eq(a, b, na * sizeof *a);
	ck_assert(memcmp(a, c, na * sizeof *a) != 0);
	ck_assert_double_eq(la, lb);
	train_functional(c, &nc, &l0, 7, 0, envs, pr); /* the initial policy */
	ck_assert(la <= l0);
	ck_assert(la > 0 && la < 1);
	/* without probes the functional reward is refused */
	char err[512] = "";
	ck_assert_int_eq(env_use_probes(envs[1], NULL, ROWFEAT_SET_WEIGHTS, err, sizeof err), 0);
	ck_assert_int_eq(env_use_probes(envs[0], NULL, ROWFEAT_SET_WEIGHTS, err, sizeof err), 0);
	struct train_opts o;
	functional_opts(&o);
	struct trainer *t = NULL;
	ck_assert_int_eq(trainer_new(&t, envs, 2, &o, err, sizeof err), TRAIN_ERR_ARG);
	ck_assert_ptr_nonnull(strstr(err, "probes"));
	/* feature sets must agree */
	ck_assert_int_eq(env_use_probes(envs[0], pr[0], ROWFEAT_SET_PROBE, err, sizeof err), 0);
	o.reward = TRAIN_REWARD_NEG_KS;
	ck_assert_int_eq(trainer_new(&t, envs, 2, &o, err, sizeof err), TRAIN_ERR_ARG);
	ck_assert_ptr_nonnull(strstr(err, "feature set"));
	for (int e = 0; e < 2; e++) {
		env_close(envs[e]);
		probe_free(pr[e]);
	}
}
END_TEST

START_TEST(test_reward_names)
{
	enum train_reward r = TRAIN_REWARD_NEG_KS;
	const char *names[] = {"neg-ks", "inverse", "functional", "mix"};
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(train_reward_parse(&r, names[i]), 0);
		ck_assert_int_eq((int)r, i);
		ck_assert_str_eq(train_reward_name(r), names[i]);
	}
	ck_assert_int_eq(train_reward_parse(&r, "ks"), -1);
	ck_assert_int_eq((int)r, 3);
}
END_TEST

START_TEST(test_strerror)
{
	const int codes[] = {TRAIN_OK, TRAIN_ERR_ARG, TRAIN_ERR_SHAPE, TRAIN_ERR_NOMEM, TRAIN_ERR_ENV,
			     TRAIN_ERR_POLICY};
	const int n = (int)(sizeof codes / sizeof codes[0]);
	for (int i = 0; i < n; i++) {
		ck_assert_str_ne(train_strerror(codes[i]), "unknown train error");
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(train_strerror(codes[i]), train_strerror(codes[j]));
	}
	ck_assert_str_eq(train_strerror(-99), "unknown train error");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("train");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_determinism, 0, 2);
	tcase_add_test(tc, test_episodes_zero);
	tcase_add_loop_test(tc, test_progress, 0, (int)(sizeof progress_cases / sizeof progress_cases[0]));
	tcase_add_test(tc, test_learning);
	tcase_add_test(tc, test_prunenet_shape);
	tcase_add_loop_test(tc, test_bad_options, 0, (int)(sizeof bad_opts / sizeof bad_opts[0]));
	tcase_add_test(tc, test_good_options);
	tcase_add_test(tc, test_layer_progress);
	tcase_add_test(tc, test_strerror);
	tcase_add_test(tc, test_functional_multi_model);
	tcase_add_test(tc, test_functional_no_ks_while_learning);
	tcase_add_loop_test(tc, test_layer_subset_table, 0,
			    (int)(sizeof subset_cases / sizeof subset_cases[0]));
	tcase_add_test(tc, test_layer_subset_trainer);
	tcase_add_test(tc, test_reward_names);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
