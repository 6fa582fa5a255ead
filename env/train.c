/* train: REINFORCE over the spectral environments. See train.h. */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dist.h"
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
	int pass_now, episode_now;       /* for on_layer (the final evaluation: episodes + 1) */
	int *order;               /* (samples * max_rows) */
	double *rewards;          /* (samples) */
	double best_greedy, best_greedy_ks, final_reward, best_reward;
	double t0;
	/* distribution (dist.h): items are (model, layer) pairs, cell = item * n_ratios + ratio */
	int n_items;
	int *owner;               /* (n_items) rank that streams and samples the item */
	int episode;              /* seeds the cells' generators (cell_rng) */
	size_t n_params;          /* mlp parameters, 0 for prunenet */
	float *cell_grads;        /* (n_cells * n_params) each cell's gradient contribution */
	double *acc;              /* (n_params) their sum, in cell order */
	float *gsum;              /* (n_params) */
	unsigned char *xsend, *xrecv; /* (n_cells * record) exchange buffers */
	size_t *xcounts, *xoff;   /* (dist_size()) bytes per rank, read offsets */
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
	case TRAIN_ERR_DIST: return "process group failed";
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

int train_layer_count(int n_layers, int max_layers)
{
	return max_layers > 0 && max_layers < n_layers ? max_layers : n_layers;
}

int train_layer_at(int n_layers, int max_layers, int j)
{
	int n = train_layer_count(n_layers, max_layers);
	/* the middle of the j-th of n equal slices of the stack */
	return n == n_layers ? j : (int)(((int64_t)2 * j + 1) * n_layers / (2 * n));
}

static int trained_layers(const struct trainer *t, int e)
{
	return train_layer_count(env_config(t->envs[e])->n_layers, t->o.max_layers);
}

static int layer_of(const struct trainer *t, int e, int j)
{
	return train_layer_at(env_config(t->envs[e])->n_layers, t->o.max_layers, j);
}

/* Every env shows the same feature count; functional rewards need probes everywhere (tried on
 * each env's layer 0, by the rank that owns it, so a missing probe fails here, not
 * mid-training). item0 is the first item of each env. */
static int check_envs(const struct trainer *t, const int *item0, char *err, size_t errlen)
{
	struct env **envs = t->envs;
	const struct train_opts *o = &t->o;
	for (int e = 0; e < t->n_envs; e++) {
		if (env_n_features(envs[e]) != env_n_features(envs[0]))
			return err_set(err, errlen, TRAIN_ERR_ARG,
				       "%s shows %d features, %s %d: use one feature set",
				       env_model_dir(envs[e]), env_n_features(envs[e]),
				       env_model_dir(envs[0]), env_n_features(envs[0]));
		if (!uses_func(t) || t->owner[item0[e]] != dist_rank())
			continue;
		int l0 = train_layer_at(env_config(envs[e])->n_layers, o->max_layers, 0);
		int rows = env_rows(envs[e], l0), k = util_keep_count(rows, 0.5), rc;
		int *kept = malloc((size_t)k * sizeof *kept);
		double v;
		if (!kept)
			return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
		for (int i = 0; i < k; i++)
			kept[i] = i;
		rc = env_layer_begin(envs[e], l0, NULL, NULL, err, errlen);
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

/* prunenet ties the policy to one shape */
static int check_shapes(const struct trainer *t, char *err, size_t errlen)
{
	const struct config *c0 = env_config(t->envs[0]);
	for (int e = 0; e < t->n_envs && t->o.arch == TRAIN_ARCH_PRUNENET; e++) {
		const struct config *c = env_config(t->envs[e]);
		for (int l = 0; l < c->n_layers; l++)
			if (c->layer_ffn[l] != c0->ffn || c->hidden != c0->hidden)
				return err_set(err, errlen, TRAIN_ERR_SHAPE,
					       "--arch prunenet ties the policy to one shape: %s has hidden %d / ffn %d, %s has hidden %d / ffn %d",
					       env_model_dir(t->envs[0]), c0->hidden, c0->ffn,
					       env_model_dir(t->envs[e]), c->hidden, c->layer_ffn[l]);
	}
	return TRAIN_OK;
}

/* Counts items and cells, and spreads the items over the ranks by their cost, rows × cols²
 * (the Gram of a layer and each KS's eigenvalues scale so); item0[e] = first item of env e. */
static int plan_items(struct trainer *t, int *item0, char *err, size_t errlen)
{
	for (int e = 0; e < t->n_envs; e++) {
		int n = trained_layers(t, e);
		item0[e] = t->n_items;
		t->n_items += n;
		t->n_cells += n * t->o.n_ratios;
		for (int j = 0; j < n; j++)
			if (env_rows(t->envs[e], layer_of(t, e, j)) > t->max_rows)
				t->max_rows = env_rows(t->envs[e], layer_of(t, e, j));
	}
	double *cost = malloc((size_t)t->n_items * sizeof *cost);
	t->owner = malloc((size_t)t->n_items * sizeof *t->owner);
	if (!cost || !t->owner) {
		free(cost);
		return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
	}
	for (int e = 0, i = 0; e < t->n_envs; e++) {
		double cols = env_cols(t->envs[e]);
		for (int j = 0; j < trained_layers(t, e); j++)
			cost[i++] = env_rows(t->envs[e], layer_of(t, e, j)) * cols * cols;
	}
	int rc = dist_plan(t->owner, cost, t->n_items, dist_size());
	free(cost);
	return rc ? err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory") : TRAIN_OK;
}

/* Buffers of the passes and the exchange; the policy (its generator draws the initial
 * parameters, identically on every rank). */
static int alloc_state(struct trainer *t, char *err, size_t errlen)
{
	size_t R = (size_t)t->max_rows, C = (size_t)t->n_cells;
	const struct config *c0 = env_config(t->envs[0]);
	t->cells = calloc(C, sizeof *t->cells);
	t->baseline = malloc(sizeof *t->baseline * C);
	t->scores = malloc(R * sizeof(float));
	t->dscores = malloc(R * sizeof(float));
	t->dtmp = malloc(R * sizeof(float));
	t->order = malloc((size_t)t->o.samples * R * sizeof(int));
	t->rewards = malloc((size_t)t->o.samples * sizeof(double));
	t->xcounts = calloc(2 * (size_t)dist_size(), sizeof *t->xcounts);
	if (!t->cells || !t->baseline || !t->scores || !t->dscores || !t->dtmp || !t->order ||
	    !t->rewards || !t->xcounts)
		return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
	t->xoff = t->xcounts + dist_size();
	for (size_t i = 0; i < C; i++)
		t->baseline[i] = NAN;
	if (t->o.arch == TRAIN_ARCH_MLP) {
		int nf = env_n_features(t->envs[0]);
		if (policy_new(&t->mlp, nf, t->o.hidden, &t->rng) ||
		    policy_new(&t->best_mlp, nf, t->o.hidden, &t->rng))
			return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
		policy_copy_params(t->best_mlp, t->mlp);
		t->n_params = policy_param_count(t->mlp);
	} else {
		if (prunenet_new(&t->pn, c0->hidden, c0->ffn, &t->rng) ||
		    prunenet_new(&t->best_pn, c0->hidden, c0->ffn, &t->rng))
			return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
		prunenet_copy_params(t->best_pn, t->pn);
	}
	size_t P = t->n_params ? t->n_params : 1, rec = sizeof(struct train_cell) + P * sizeof(float);
	t->cell_grads = malloc(C * P * sizeof(float));
	t->acc = malloc(P * sizeof(double));
	t->gsum = malloc(P * sizeof(float));
	t->xsend = malloc(C * rec);
	t->xrecv = malloc(C * rec);
	if (!t->cell_grads || !t->acc || !t->gsum || !t->xsend || !t->xrecv)
		return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
	return TRAIN_OK;
}

static int trainer_setup(struct trainer *t, char *err, size_t errlen)
{
	int rc, *item0 = malloc((size_t)t->n_envs * sizeof *item0);
	if (!item0)
		return err_set(err, errlen, TRAIN_ERR_NOMEM, "out of memory");
	if (t->o.arch == TRAIN_ARCH_PRUNENET && dist_size() > 1)
		rc = err_set(err, errlen, TRAIN_ERR_ARG,
			     "--arch prunenet takes one AdamW step per layer, in layer order, so it runs in one process: start it without mpirun or with -np 1");
	else if (!(rc = plan_items(t, item0, err, errlen)) &&
		 !(rc = check_envs(t, item0, err, errlen)) && !(rc = check_shapes(t, err, errlen)))
		rc = alloc_state(t, err, errlen);
	free(item0);
	return rc;
}

int trainer_new(struct trainer **out, struct env **envs, int n_envs, const struct train_opts *o,
		char *err, size_t errlen)
{
	if (n_envs < 1 || o->n_ratios < 1 || o->episodes < 0 || !(o->lr > 0) || o->samples < 1 ||
	    o->hidden < 1 || o->entropy < 0 || !(o->mix >= 0 && o->mix <= 1) || o->max_layers < 0 ||
	    train_reward_name(o->reward) == NULL) {
		snprintf(err, errlen, "invalid training options");
		return TRAIN_ERR_ARG;
	}
	for (int i = 0; i < o->n_ratios; i++)
		if (!(o->ratios[i] > 0 && o->ratios[i] < 1)) {
			snprintf(err, errlen, "ratio %g is outside (0, 1)", o->ratios[i]);
			return TRAIN_ERR_ARG;
		}
	/* from here a failure may hit one rank only: all ranks agree on the outcome */
	int rc = TRAIN_ERR_NOMEM;
	struct trainer *t = calloc(1, sizeof *t);
	if (!t) {
		err_set(err, errlen, rc, "out of memory");
	} else {
		t->envs = envs;
		t->n_envs = n_envs;
		t->o = *o;
		t->best_greedy = INFINITY;
		t->best_greedy_ks = NAN;
		t->best_reward = -INFINITY;
		t->final_reward = NAN;
		pcg32_seed(&t->rng, o->seed, 0x796f706fu /* "yopo" */);
		t->ratios = malloc(sizeof *t->ratios * (size_t)o->n_ratios);
		if (!t->ratios) {
			err_set(err, errlen, rc, "out of memory");
		} else {
			memcpy(t->ratios, o->ratios, sizeof *t->ratios * (size_t)o->n_ratios);
			t->o.ratios = t->ratios;
			rc = trainer_setup(t, err, errlen);
		}
	}
	if ((rc = dist_agree(rc, err, errlen))) {
		trainer_free(t);
		return rc;
	}
	*out = t;
	return TRAIN_OK;
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
	free(t->owner);
	free(t->cell_grads);
	free(t->acc);
	free(t->gsum);
	free(t->xsend);
	free(t->xrecv);
	free(t->xcounts);
	free(t);
}

/* Greedy (deterministic top-k) KS and functional error (NAN without probes) of the current
 * parameters on the current layer, into C. */
static int greedy_ks(struct trainer *t, struct env *env, const float *w, int rows, int k,
		     bool want_ks, struct train_cell *C)
{
	if (t->o.arch == TRAIN_ARCH_PRUNENET) {
		/* top-k of alpha: the keep probabilities without noise */
		if (rowscore_policy(t->scores, NULL, t->pn, NULL, w, rows))
			return TRAIN_ERR_POLICY;
	}
	if (util_topk(t->order, t->scores, rows, k))
		return TRAIN_ERR_POLICY;
	C->greedy_ks = NAN;
	if (want_ks && env_layer_ks(env, t->order, k, &C->greedy_ks, NULL, 0))
		return TRAIN_ERR_ENV;
	C->greedy_func = NAN;
	if (uses_func(t) && env_layer_functional(env, t->order, k, &C->greedy_func))
		return TRAIN_ERR_ENV;
	C->greedy_loss = loss_of(t, C->greedy_ks, C->greedy_func);
	return TRAIN_OK;
}

/* The generator of a cell's samples: one stream per cell, one state per (seed, episode), so
 * the draws depend neither on which rank samples the cell nor on the order cells are visited. */
static void cell_rng(const struct trainer *t, int cell, struct pcg32 *rng)
{
	uint64_t x = t->o.seed + 0x9e3779b97f4a7c15u * (uint64_t)(t->episode + 1);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u; /* splitmix64's finaliser */
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	pcg32_seed(rng, x ^ (x >> 31), (uint64_t)0x63656c6cu << 32 /* "cell" */ | (uint32_t)cell);
}

/* One MLP cell: sample, score, the cell's REINFORCE gradient (scaled by 1/n_cells) into
 * t->cell_grads; the step sums them in cell order (sum_grads).
 * t->scores must hold the policy's scores of this layer (its forward cache is used). */
static int mlp_cell(struct trainer *t, struct env *env, int cell, int rows, int k)
{
	struct train_cell *C = &t->cells[cell];
	int S = t->o.samples;
	double ks_sum = 0, r_sum = 0, f_sum = 0;
	struct pcg32 rng;
	cell_rng(t, cell, &rng);
	for (int s = 0; s < S; s++) {
		int *ord = t->order + (size_t)s * t->max_rows;
		double ks = NAN, func = NAN;
		if (sampling_gumbel_topk(ord, t->scores, rows, k, &rng))
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
		policy_zero_grad(t->mlp);
		if (policy_backward(t->mlp, t->dscores, rows))
			return TRAIN_ERR_POLICY;
		memcpy(t->cell_grads + (size_t)cell * t->n_params, policy_grads(t->mlp),
		       t->n_params * sizeof(float));
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

/* Visits every cell of the items this rank owns, then exchanges the cells (and, learning, their
 * gradients) so every rank holds all of them. EVAL: greedy KS only. LEARN: sampled KS and
 * rewards, gradients (mlp) or per-layer steps (prunenet); for mlp the greedy KS is measured in
 * the same pass, since its parameters only change after the pass. */
enum pass { PASS_EVAL, PASS_LEARN };

/* The cells of one (model, layer) item; cell0 = its first cell. */
static int run_item(struct trainer *t, enum pass pass, int e, int l, int cell0, char *err,
		    size_t errlen)
{
	struct env *env = t->envs[e];
	const float *x, *w;
	int rc;
	if (env_layer_begin(env, l, &x, &w, err, errlen))
		return TRAIN_ERR_ENV;
	int rows = env_rows(env, l);
	if (t->mlp && rowscore_policy(t->scores, t->mlp, NULL, x, w, rows))
		return err_set(err, errlen, TRAIN_ERR_POLICY, "policy forward failed on layer %d", l);
	for (int r = 0; r < t->o.n_ratios; r++) {
		int cell = cell0 + r;
		struct train_cell *C = &t->cells[cell];
		C->model = e;
		C->layer = l;
		C->ratio = t->ratios[r];
		int k = util_keep_count(rows, t->ratios[r]);
		if (k < 1)
			return err_set(err, errlen, TRAIN_ERR_ARG, "%s: layer %d: ratio %g keeps no row of %d",
				       env_model_dir(env), l, t->ratios[r], rows);
		/* learning under the functional reward the KS decides nothing: it is measured in
		 * the evaluation passes only (a 7B layer's spectrum costs seconds) */
		bool want_ks = pass == PASS_EVAL || uses_ks(t);
		if ((pass == PASS_EVAL || t->mlp) && (rc = greedy_ks(t, env, w, rows, k, want_ks, C)))
			goto fail;
		if (pass == PASS_EVAL)
			continue;
		rc = t->mlp ? mlp_cell(t, env, cell, rows, k) : prunenet_cell(t, env, cell, w, k);
		if (rc)
			goto fail;
	}
	return TRAIN_OK;
fail:
	return err_set(err, errlen, rc, "%s (%s)", train_strerror(rc),
		       rc == TRAIN_ERR_ENV ? "spectrum of a layer" : "scores or sampling");
}

/* Packs this rank's cells (cell order), gathers every rank's, unpacks them by the plan. */
static int exchange(struct trainer *t, enum pass pass, char *err, size_t errlen)
{
	size_t P = pass == PASS_LEARN ? t->n_params : 0, cb = sizeof(struct train_cell);
	size_t rec = cb + P * sizeof(float);
	int me = dist_rank(), ranks = dist_size();
	unsigned char *p = t->xsend;
	for (int r = 0; r < ranks; r++)
		t->xcounts[r] = 0;
	for (int cell = 0; cell < t->n_cells; cell++) {
		int r = t->owner[cell / t->o.n_ratios];
		t->xcounts[r] += rec;
		if (r != me)
			continue;
		memcpy(p, &t->cells[cell], cb);
		memcpy(p + cb, t->cell_grads + (size_t)cell * t->n_params, P * sizeof(float));
		p += rec;
	}
	if (dist_allgather(t->xrecv, t->xsend, t->xcounts, err, errlen))
		return TRAIN_ERR_DIST;
	t->xoff[0] = 0;
	for (int r = 1; r < ranks; r++)
		t->xoff[r] = t->xoff[r - 1] + t->xcounts[r - 1];
	for (int cell = 0; cell < t->n_cells; cell++) {
		size_t *off = &t->xoff[t->owner[cell / t->o.n_ratios]];
		memcpy(&t->cells[cell], t->xrecv + *off, cb);
		memcpy(t->cell_grads + (size_t)cell * t->n_params, t->xrecv + *off + cb, P * sizeof(float));
		*off += rec;
	}
	return TRAIN_OK;
}

/* The policy's gradient: the cells' contributions summed in cell order, whatever the ranks. */
static void sum_grads(struct trainer *t)
{
	size_t P = t->n_params;
	for (size_t j = 0; j < P; j++)
		t->acc[j] = 0;
	for (int cell = 0; cell < t->n_cells; cell++)
		for (size_t j = 0; j < P; j++)
			t->acc[j] += t->cell_grads[(size_t)cell * P + j];
	for (size_t j = 0; j < P; j++)
		t->gsum[j] = (float)t->acc[j];
	policy_set_grads(t->mlp, t->gsum);
}

void trainer_set_layer_progress(struct trainer *t, train_layer_fn *fn, void *ctx)
{
	t->on_layer = fn;
	t->on_layer_ctx = ctx;
}

/* Reports this rank's item `done` (0-based) of `mine` in the current pass to on_layer. */
static void layer_done(struct trainer *t, int done, int mine)
{
	if (!t->on_layer)
		return;
	/* the last pass may be best_ks's: counted, so the ETA errs long */
	int passes = t->o.episodes * (t->pn ? 2 : 1) + 1 + (t->mlp && !uses_ks(t));
	t->on_layer(t->on_layer_ctx, t->episode_now, t->pass_now, passes, done, mine,
		    util_now() - t->t0);
}

static int run_cells(struct trainer *t, enum pass pass, char *err, size_t errlen)
{
	int rc = TRAIN_OK, item = 0, me = dist_rank(), mine = 0, done = 0;
	t->pass_now++;
	for (int i = 0; i < t->n_items; i++)
		mine += t->owner[i] == me;
	for (int e = 0; e < t->n_envs && !rc; e++)
		for (int j = 0; j < trained_layers(t, e) && !rc; j++, item++)
			if (t->owner[item] == me) {
				rc = run_item(t, pass, e, layer_of(t, e, j), item * t->o.n_ratios, err,
					      errlen);
				if (!rc)
					layer_done(t, done++, mine);
			}
	if (!rc && pass == PASS_LEARN && dist_injected_failure(err, errlen))
		rc = TRAIN_ERR_DIST;
	/* a failure on any rank ends every rank here, with the lowest failing rank's reason */
	if ((rc = dist_agree(rc, err, errlen)) || (rc = exchange(t, pass, err, errlen)))
		return rc;
	if (pass == PASS_LEARN && t->mlp)
		sum_grads(t);
	return TRAIN_OK;
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

/* The best parameters' greedy KS when it was not measured (a learning pass under the functional
 * reward was best): one more evaluation pass, of the best parameters. */
static int best_ks(struct trainer *t, char *err, size_t errlen)
{
	if (!t->mlp || !isnan(t->best_greedy_ks))
		return TRAIN_OK;
	policy_copy_params(t->mlp, t->best_mlp);
	int rc = run_cells(t, PASS_EVAL, err, errlen);
	if (rc)
		return rc;
	double ks = 0;
	for (int i = 0; i < t->n_cells; i++)
		ks += t->cells[i].greedy_ks;
	t->best_greedy_ks = ks / t->n_cells;
	return TRAIN_OK;
}

int trainer_run(struct trainer *t, train_progress_fn *progress, void *ctx, char *err,
		size_t errlen)
{
	int rc;
	t->t0 = util_now();
	t->pass_now = 0;
	struct train_episode ep = {0};
	for (int e = 1; e <= t->o.episodes; e++) {
		ep.episode = t->episode = t->episode_now = e;
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
	t->episode_now = t->o.episodes > 0 ? t->o.episodes + 1 : 0;
	/* the parameters after the last update (episode 0 when there was no training) */
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
	return best_ks(t, err, errlen);
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
