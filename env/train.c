/* train: REINFORCE over the spectral environments. See train.h. */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "clock.h"
#include "err.h"
#include "pcg32.h"
#include "rowscore.h"
#include "topk.h"
#include "sampling.h"

struct trainer {
	struct env **envs;
	int n_envs;
	struct train_opts o;
	double *ratios;          /* copy of o.ratios */
	struct pcg32 rng;
	struct policy *mlp, *best_mlp;
	struct prunenet *pn, *best_pn;
	struct train_cell *cells; /* (n_envs * n_ratios * layers) */
	double *baseline;         /* running mean reward per cell, NAN until first visit */
	int n_cells;
	int max_rows;
	float *scores, *dscores, *dtmp; /* (max_rows) */
	train_layer_fn *on_layer;        /* per-layer progress, or NULL */
	void *on_layer_ctx;
	int episode_now, pass_now;       /* for on_layer */
	int *order;               /* (samples * max_rows) */
	double *rewards;          /* (samples) */
	double best_greedy, best_greedy_ks, final_reward, best_reward;
	double t0;
};

const char *train_strerror(int err)
{
	switch (err) {
	case TRAIN_OK: return "success";
	case TRAIN_ERR_ARG: return "invalid training options";
	case TRAIN_ERR_SHAPE: return "prunenet needs models of one shape";
	case TRAIN_ERR_NOMEM: return "out of memory";
	case TRAIN_ERR_ENV: return "environment failed";
	case TRAIN_ERR_POLICY: return "policy failed";
	}
	return "unknown train error";
}

const char *train_reward_name(enum train_reward r)
{
	switch (r) {
	case TRAIN_REWARD_NEG_KS: return "neg-ks";
	case TRAIN_REWARD_INVERSE: return "inverse";
	case TRAIN_REWARD_FUNCTIONAL: return "functional";
	case TRAIN_REWARD_MIX: return "mix";
	}
	return NULL;
}

int train_reward_parse(enum train_reward *out, const char *name)
{
	for (int r = TRAIN_REWARD_NEG_KS; r <= TRAIN_REWARD_MIX; r++)
		if (name && strcmp(name, train_reward_name((enum train_reward)r)) == 0) {
			*out = (enum train_reward)r;
			return 0;
		}
	return -1;
}

void train_opts_default(struct train_opts *o)
{
	*o = (struct train_opts){
		.arch = TRAIN_ARCH_MLP,
		.reward = TRAIN_REWARD_NEG_KS,
		.episodes = 20,
		.lr = 0.1,
		.seed = 0,
		.samples = 16,
		.hidden = 16,
		.entropy = 0,
		.gamma = 0.99,
		.mix = 0.5,
	};
}

static bool uses_ks(const struct trainer *t)
{
	return t->o.reward != TRAIN_REWARD_FUNCTIONAL;
}

static bool uses_func(const struct trainer *t)
{
	return t->o.reward == TRAIN_REWARD_FUNCTIONAL || t->o.reward == TRAIN_REWARD_MIX;
}

/* What the reward minimises (ks or func unused by the reward may be NAN). */
static double loss_of(const struct trainer *t, double ks, double func)
{
	switch (t->o.reward) {
	case TRAIN_REWARD_FUNCTIONAL: return func;
	case TRAIN_REWARD_MIX: return (1 - t->o.mix) * ks + t->o.mix * func;
	default: return ks;
	}
}

static double reward_of(const struct trainer *t, double ks, double func)
{
	if (t->o.reward == TRAIN_REWARD_INVERSE)
		return 1.0 / (ks > 1e-6 ? ks : 1e-6);
	return -loss_of(t, ks, func);
}

/* Every env shows the same feature count; functional rewards need probes everywhere (tried on
 * each env's layer 0 so a missing probe fails here, not mid-training). */
static int check_envs(struct env **envs, int n_envs, const struct train_opts *o, char *err,
		      size_t errlen)
{
	for (int e = 0; e < n_envs; e++) {
		if (env_n_features(envs[e]) != env_n_features(envs[0]))
			return err_set(err, errlen, TRAIN_ERR_ARG,
				       "%s shows %d features, %s %d: use one feature set",
				       env_model_dir(envs[e]), env_n_features(envs[e]),
				       env_model_dir(envs[0]), env_n_features(envs[0]));
		if (o->reward != TRAIN_REWARD_FUNCTIONAL && o->reward != TRAIN_REWARD_MIX)
			continue;
		int rows = env_rows(envs[e], 0), k = util_keep_count(rows, 0.5), rc;
		int *kept = malloc((size_t)k * sizeof *kept);
		double v;
		if (!kept)
			return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
		for (int i = 0; i < k; i++)
			kept[i] = i;
		rc = env_layer_begin(envs[e], 0, NULL, NULL, err, errlen);
		if (!rc)
			rc = env_layer_functional(envs[e], kept, k, &v);
		free(kept);
		if (rc)
			return err_set(err, errlen, rc == ENV_ERR_PROBES ? TRAIN_ERR_ARG : TRAIN_ERR_ENV,
				       "%s: the %s reward needs probes: %s", env_model_dir(envs[e]),
				       train_reward_name(o->reward), env_strerror(rc));
	}
	return TRAIN_OK;
}

int trainer_new(struct trainer **out, struct env **envs, int n_envs, const struct train_opts *o,
		char *err, size_t errlen)
{
	if (n_envs < 1 || o->n_ratios < 1 || o->episodes < 0 || !(o->lr > 0) || o->samples < 1 ||
	    o->hidden < 1 || o->entropy < 0 || !(o->mix >= 0 && o->mix <= 1) ||
	    train_reward_name(o->reward) == NULL) {
		snprintf(err, errlen, "invalid training options");
		return TRAIN_ERR_ARG;
	}
	for (int i = 0; i < o->n_ratios; i++)
		if (!(o->ratios[i] > 0 && o->ratios[i] < 1)) {
			snprintf(err, errlen, "ratio %g is outside (0, 1)", o->ratios[i]);
			return TRAIN_ERR_ARG;
		}
	struct trainer *t = calloc(1, sizeof *t);
	if (!t)
		return TRAIN_ERR_NOMEM;
	t->envs = envs;
	t->n_envs = n_envs;
	t->o = *o;
	t->best_greedy = INFINITY;
	t->best_greedy_ks = NAN;
	t->best_reward = -INFINITY;
	t->final_reward = NAN;
	pcg32_seed(&t->rng, o->seed, 0x796f706fu /* "yopo" */);
	int rc = TRAIN_ERR_NOMEM;
	t->ratios = malloc(sizeof *t->ratios * (size_t)o->n_ratios);
	if (!t->ratios)
		goto fail;
	memcpy(t->ratios, o->ratios, sizeof *t->ratios * (size_t)o->n_ratios);
	t->o.ratios = t->ratios;
	const struct config *c0 = env_config(envs[0]);
	if ((rc = check_envs(envs, n_envs, o, err, errlen)))
		goto fail;
	rc = TRAIN_ERR_NOMEM;
	for (int e = 0; e < n_envs; e++) {
		const struct config *c = env_config(envs[e]);
		t->n_cells += c->n_layers * o->n_ratios;
		for (int l = 0; l < c->n_layers; l++)
			if (env_rows(envs[e], l) > t->max_rows)
				t->max_rows = env_rows(envs[e], l);
		if (o->arch == TRAIN_ARCH_PRUNENET) {
			for (int l = 0; l < c->n_layers; l++)
				if (c->layer_ffn[l] != c0->ffn || c->hidden != c0->hidden) {
					snprintf(err, errlen,
						 "--arch prunenet ties the policy to one shape: %s has hidden %d / ffn %d, %s has hidden %d / ffn %d",
						 env_model_dir(envs[0]), c0->hidden, c0->ffn, env_model_dir(envs[e]),
						 c->hidden, c->layer_ffn[l]);
					rc = TRAIN_ERR_SHAPE;
					goto fail;
				}
		}
	}
	size_t R = (size_t)t->max_rows;
	t->cells = calloc((size_t)t->n_cells, sizeof *t->cells);
	t->baseline = malloc(sizeof *t->baseline * (size_t)t->n_cells);
	t->scores = malloc(R * sizeof(float));
	t->dscores = malloc(R * sizeof(float));
	t->dtmp = malloc(R * sizeof(float));
	t->order = malloc((size_t)o->samples * R * sizeof(int));
	t->rewards = malloc((size_t)o->samples * sizeof(double));
	if (!t->cells || !t->baseline || !t->scores || !t->dscores || !t->dtmp || !t->order ||
	    !t->rewards)
		goto fail;
	for (int i = 0; i < t->n_cells; i++)
		t->baseline[i] = NAN;
	if (o->arch == TRAIN_ARCH_MLP) {
		int nf = env_n_features(envs[0]);
		if (policy_new(&t->mlp, nf, o->hidden, &t->rng) ||
		    policy_new(&t->best_mlp, nf, o->hidden, &t->rng))
			goto fail;
		policy_copy_params(t->best_mlp, t->mlp);
	} else {
		if (prunenet_new(&t->pn, c0->hidden, c0->ffn, &t->rng) ||
		    prunenet_new(&t->best_pn, c0->hidden, c0->ffn, &t->rng))
			goto fail;
		prunenet_copy_params(t->best_pn, t->pn);
	}
	*out = t;
	return TRAIN_OK;
fail:
	trainer_free(t);
	return rc;
}

void trainer_free(struct trainer *t)
{
	if (!t)
		return;
	policy_free(t->mlp);
	policy_free(t->best_mlp);
	prunenet_free(t->pn);
	prunenet_free(t->best_pn);
	free(t->ratios);
	free(t->cells);
	free(t->baseline);
	free(t->scores);
	free(t->dscores);
	free(t->dtmp);
	free(t->order);
	free(t->rewards);
	free(t);
}

/* Greedy (deterministic top-k) KS and functional error (NAN without probes) of the current
 * parameters on the current layer, into C. */
static int greedy_ks(struct trainer *t, struct env *env, const float *w, int rows, int k,
		     struct train_cell *C)
{
	if (t->o.arch == TRAIN_ARCH_PRUNENET) {
		/* top-k of alpha: the keep probabilities without noise */
		if (rowscore_policy(t->scores, NULL, t->pn, NULL, w, rows))
			return TRAIN_ERR_POLICY;
	}
	if (util_topk(t->order, t->scores, rows, k))
		return TRAIN_ERR_POLICY;
	if (env_layer_ks(env, t->order, k, &C->greedy_ks, NULL, 0))
		return TRAIN_ERR_ENV;
	C->greedy_func = NAN;
	if (uses_func(t) && env_layer_functional(env, t->order, k, &C->greedy_func))
		return TRAIN_ERR_ENV;
	C->greedy_loss = loss_of(t, C->greedy_ks, C->greedy_func);
	return TRAIN_OK;
}

/* One MLP cell: sample, score, accumulate the REINFORCE gradient (scaled by 1/n_cells). */
/* t->scores must hold the policy's scores of this layer (its forward cache is used). */
static int mlp_cell(struct trainer *t, struct env *env, int cell, int rows, int k)
{
	struct train_cell *C = &t->cells[cell];
	int S = t->o.samples;
	double ks_sum = 0, r_sum = 0, f_sum = 0;
	for (int s = 0; s < S; s++) {
		int *ord = t->order + (size_t)s * t->max_rows;
		double ks = NAN, func = NAN;
		if (sampling_gumbel_topk(ord, t->scores, rows, k, &t->rng))
			return TRAIN_ERR_POLICY;
		if (uses_ks(t) && env_layer_ks(env, ord, k, &ks, NULL, 0))
			return TRAIN_ERR_ENV;
		if (uses_func(t) && env_layer_functional(env, ord, k, &func))
			return TRAIN_ERR_ENV;
		t->rewards[s] = reward_of(t, ks, func);
		ks_sum += ks;
		f_sum += func;
		r_sum += t->rewards[s];
	}
	{
		C->ks = ks_sum / S;
		C->func = f_sum / S;
		C->reward = r_sum / S;
		double *b = &t->baseline[cell];
		for (int i = 0; i < rows; i++)
			t->dscores[i] = 0;
		for (int s = 0; s < S; s++) {
			/* leave-one-out mean of the other samples, else the running mean */
			double base = S > 1 ? (r_sum - t->rewards[s]) / (S - 1) : (isnan(*b) ? t->rewards[s] : *b);
			double adv = t->rewards[s] - base;
			if (adv == 0)
				continue;
			if (sampling_log_prob_grad(t->dtmp, t->scores, t->order + (size_t)s * t->max_rows, rows, k))
				return TRAIN_ERR_POLICY;
			/* loss = -adv · log P  ->  dloss/dscore = -adv · ∇log P */
			float scale = (float)(-adv / S / t->n_cells);
			for (int i = 0; i < rows; i++)
				t->dscores[i] += scale * t->dtmp[i];
		}
		if (t->o.entropy > 0) {
			double h;
			if (sampling_entropy(&h, t->dtmp, t->scores, rows))
				return TRAIN_ERR_POLICY;
			float scale = (float)(-t->o.entropy / t->n_cells);
			for (int i = 0; i < rows; i++)
				t->dscores[i] += scale * t->dtmp[i];
		}
		*b = isnan(*b) ? C->reward : 0.9 * *b + 0.1 * C->reward;
		if (policy_backward(t->mlp, t->dscores, rows))
			return TRAIN_ERR_POLICY;
	}
	return TRAIN_OK;
}

/* One PruneNet cell as in the published loop: noisy forward, sample, reward, fresh noisy
 * forward, loss -γ^layer · reward · Σ log p_kept, one AdamW step. */
static int prunenet_cell(struct trainer *t, struct env *env, int cell, const float *w, int k)
{
	struct train_cell *C = &t->cells[cell];
	double ks = NAN, func = NAN;
	if (prunenet_forward(t->pn, NULL, w, &t->rng) || prunenet_sample(t->pn, t->order, k, &t->rng))
		return TRAIN_ERR_POLICY;
	if ((uses_ks(t) && env_layer_ks(env, t->order, k, &ks, NULL, 0)) ||
	    (uses_func(t) && env_layer_functional(env, t->order, k, &func)))
		return TRAIN_ERR_ENV;
	C->ks = ks;
	C->func = func;
	C->reward = reward_of(t, ks, func);
	struct policy_adam cfg = prunenet_adamw_defaults();
	cfg.lr = (float)t->o.lr;
	prunenet_zero_grad(t->pn);
	if (prunenet_forward(t->pn, NULL, w, &t->rng) ||
	    prunenet_backward(t->pn, t->order, k, (float)(pow(t->o.gamma, C->layer) * C->reward)))
		return TRAIN_ERR_POLICY;
	prunenet_adamw_step(t->pn, &cfg);
	return TRAIN_OK;
}

/* Visits every cell. EVAL: greedy KS only. LEARN: sampled KS and rewards, gradients (mlp) or
 * per-layer steps (prunenet); for mlp the greedy KS is measured in the same pass, since its
 * parameters only change after the pass. */
enum pass { PASS_EVAL, PASS_LEARN };

void trainer_set_layer_progress(struct trainer *t, train_layer_fn *fn, void *ctx)
{
	t->on_layer = fn;
	t->on_layer_ctx = ctx;
}

/* Reports layer `done` (0-based over all models) of the current pass to on_layer. */
static void layer_done(struct trainer *t, int done)
{
	if (!t->on_layer)
		return;
	int layers = 0, passes = t->o.episodes * (t->pn ? 2 : 1) + 1;
	for (int e = 0; e < t->n_envs; e++)
		layers += env_config(t->envs[e])->n_layers;
	t->on_layer(t->on_layer_ctx, t->episode_now, t->pass_now, passes, done, layers,
		    util_now() - t->t0);
}

static int run_cells(struct trainer *t, enum pass pass, char *err, size_t errlen)
{
	int cell = 0, rc, done = 0;
	t->pass_now++;
	if (pass == PASS_LEARN && t->mlp)
		policy_zero_grad(t->mlp);
	for (int e = 0; e < t->n_envs; e++) {
		struct env *env = t->envs[e];
		int L = env_config(env)->n_layers;
		for (int l = 0; l < L; l++) {
			const float *x, *w;
			if ((rc = env_layer_begin(env, l, &x, &w, err, errlen))) {
				return TRAIN_ERR_ENV;
			}
			int rows = env_rows(env, l);
			if (t->mlp && rowscore_policy(t->scores, t->mlp, NULL, x, w, rows)) {
				snprintf(err, errlen, "policy forward failed on layer %d", l);
				return TRAIN_ERR_POLICY;
			}
			for (int r = 0; r < t->o.n_ratios; r++, cell++) {
				struct train_cell *C = &t->cells[cell];
				C->model = e;
				C->layer = l;
				C->ratio = t->ratios[r];
				int k = util_keep_count(rows, t->ratios[r]);
				if (k < 1)
					return err_set(err, errlen, TRAIN_ERR_ARG,
						       "%s: layer %d: ratio %g keeps no row of %d",
						       env_model_dir(env), l, t->ratios[r], rows);
				if ((pass == PASS_EVAL || t->mlp) &&
				    (rc = greedy_ks(t, env, w, rows, k, C)))
					goto fail;
				if (pass == PASS_EVAL)
					continue;
				rc = t->mlp ? mlp_cell(t, env, cell, rows, k) : prunenet_cell(t, env, cell, w, k);
				if (rc)
					goto fail;
			}
			layer_done(t, done++);
		}
	}
	return TRAIN_OK;
fail:
	snprintf(err, errlen, "%s (%s)", train_strerror(rc),
		 rc == TRAIN_ERR_ENV ? "spectrum of a layer" : "scores or sampling");
	return rc;
}

static void summarise(const struct trainer *t, struct train_episode *ep, enum pass pass)
{
	double r = 0, ks = 0, g = 0, gl = 0;
	for (int i = 0; i < t->n_cells; i++) {
		struct train_cell *C = &t->cells[i];
		if (pass == PASS_EVAL) {
			C->ks = C->greedy_ks;
			C->func = C->greedy_func;
			C->reward = reward_of(t, C->greedy_ks, C->greedy_func);
		}
		r += C->reward;
		ks += C->ks;
		g += C->greedy_ks;
		gl += C->greedy_loss;
	}
	ep->greedy_loss = gl / t->n_cells;
	ep->mean_reward = r / t->n_cells;
	ep->mean_ks = ks / t->n_cells;
	ep->greedy_ks = g / t->n_cells;
	ep->cells = t->cells;
	ep->n_cells = t->n_cells;
	ep->elapsed = util_now() - t->t0;
}

/* Keeps the current parameters if their greedy loss (in ep) is the best so far. */
static void track_best(struct trainer *t, struct train_episode *ep)
{
	ep->is_best = ep->greedy_loss < t->best_greedy;
	if (!ep->is_best)
		return;
	t->best_greedy = ep->greedy_loss;
	t->best_greedy_ks = ep->greedy_ks;
	double r = 0;
	for (int i = 0; i < t->n_cells; i++)
		r += reward_of(t, t->cells[i].greedy_ks, t->cells[i].greedy_func);
	t->best_reward = r / t->n_cells;
	if (t->mlp)
		policy_copy_params(t->best_mlp, t->mlp);
	else
		prunenet_copy_params(t->best_pn, t->pn);
}

int trainer_run(struct trainer *t, train_progress_fn *progress, void *ctx, char *err,
		size_t errlen)
{
	int rc;
	t->t0 = util_now();
	t->pass_now = 0;
	struct train_episode ep = {0};
	for (int e = 1; e <= t->o.episodes; e++) {
		ep.episode = t->episode_now = e;
		if (t->pn) {
			/* prunenet steps after every layer: score its start-of-episode parameters first */
			if ((rc = run_cells(t, PASS_EVAL, err, errlen)))
				return rc;
			summarise(t, &ep, PASS_EVAL);
			track_best(t, &ep);
		}
		if ((rc = run_cells(t, PASS_LEARN, err, errlen)))
			return rc;
		double greedy = ep.greedy_ks, greedy_loss = ep.greedy_loss;
		summarise(t, &ep, PASS_LEARN);
		if (t->pn) {
			ep.greedy_ks = greedy; /* measured by the EVAL pass */
			ep.greedy_loss = greedy_loss;
		}
		if (t->mlp) {
			track_best(t, &ep); /* greedy KS of the parameters before this step */
			struct policy_adam cfg = {(float)t->o.lr, 0.9f, 0.999f, 1e-8f, 0.0f};
			policy_adam_step(t->mlp, &cfg);
		}
		t->final_reward = ep.mean_reward;
		if (progress)
			progress(ctx, &ep);
	}
	/* the parameters after the last update (episode 0 when there was no training) */
	t->episode_now = t->o.episodes > 0 ? t->o.episodes + 1 : 0;
	if ((rc = run_cells(t, PASS_EVAL, err, errlen)))
		return rc;
	ep.episode = t->o.episodes > 0 ? t->o.episodes + 1 : 0;
	summarise(t, &ep, PASS_EVAL);
	double reward = ep.mean_reward;
	track_best(t, &ep);
	if (t->o.episodes == 0)
		t->final_reward = reward;
	if (progress)
		progress(ctx, &ep);
	return TRAIN_OK;
}

struct policy *trainer_best_mlp(struct trainer *t)
{
	return t->best_mlp;
}

struct prunenet *trainer_best_prunenet(struct trainer *t)
{
	return t->best_pn;
}

double trainer_best_greedy_ks(const struct trainer *t)
{
	return t->best_greedy_ks;
}

double trainer_best_greedy_loss(const struct trainer *t)
{
	return t->best_greedy;
}

double trainer_final_reward(const struct trainer *t)
{
	return t->final_reward;
}

double trainer_best_reward(const struct trainer *t)
{
	return t->best_reward;
}
