/* train: REINFORCE training of a pruning policy on the spectral environments of one or more
 * checkpoints and ratios.
 *
 * arch MLP (yopo's policy): every layer's rows are scored by the size-agnostic network from
 * their features; `samples` orderings of k rows are drawn per layer (Gumbel-top-k, i.e.
 * Plackett–Luce); the gradient is the exact ∇ log P(ordering) times the advantage
 * reward − baseline, where the baseline is the mean reward of the layer's other samples
 * (leave-one-out) or, with one sample, a running mean per (model, ratio, layer). Optional
 * entropy bonus. One Adam step per episode on the mean over all layers.
 *
 * arch PRUNENET (reproduction of the published method, for comparison): per layer the keep
 * probabilities come from the layer's weights through the (hidden→ffn) network, k rows are
 * sampled, and the loss −γ^layer · reward · Σ log p_kept (p from a fresh noisy forward) takes one
 * AdamW step per layer; no baseline.
 *
 * After every episode the deterministic (top-k) selection of the current parameters is scored;
 * the parameters with the lowest mean greedy loss are kept as the best policy (the loss is the
 * KS for neg-ks and inverse, the functional error for functional, their mix for mix).
 *
 * The policy's input width is the envs' feature count (env_n_features: all envs must agree).
 *
 * Distribution (dist.h): under mpirun every rank builds the same trainer; the (model, layer)
 * items are split by dist_plan (cost rows × cols²) and a rank streams and samples only its own.
 * Each cell draws from its own PCG32 stream (seed, episode, cell) and keeps its own gradient; after
 * each pass all ranks gather every cell and sum the gradients in cell order, so the parameters,
 * cells and progress are the same on every rank and byte-identical to one process. Failures go
 * through dist_agree: all ranks return the same status and reason. prunenet (sequential AdamW
 * steps per layer) refuses more than one rank. */
#ifndef YOPO_TRAIN_H
#define YOPO_TRAIN_H

#include <stdint.h>

#include "env.h"
#include "policy.h"
#include "prunenet.h"

enum train_arch { TRAIN_ARCH_MLP, TRAIN_ARCH_PRUNENET };
/* What a selection earns: NEG_KS −KS (spectral); INVERSE 1/max(KS, 1e-6) (PruneNet);
 * FUNCTIONAL −err(R), the relative output error over the env's probes (funcreward.h; every env
 * needs probes, env_use_probes); MIX −((1 − mix)·KS + mix·err(R)). */
enum train_reward {
	TRAIN_REWARD_NEG_KS,
	TRAIN_REWARD_INVERSE,
	TRAIN_REWARD_FUNCTIONAL,
	TRAIN_REWARD_MIX,
};

/* "neg-ks", "inverse", "functional", "mix"; NULL outside the enum. */
const char *train_reward_name(enum train_reward r);

/* Parses a reward name: 0, or -1 (out untouched). */
int train_reward_parse(enum train_reward *out, const char *name);

enum train_error {
	TRAIN_OK = 0,
	TRAIN_ERR_ARG = -1,    /* bad options */
	TRAIN_ERR_SHAPE = -2,  /* prunenet on models of different shapes */
	TRAIN_ERR_NOMEM = -3,
	TRAIN_ERR_ENV = -4,    /* reading a layer or computing a spectrum failed */
	TRAIN_ERR_POLICY = -5, /* the network or sampler failed (e.g. non-finite scores) */
	TRAIN_ERR_DIST = -6,   /* the MPI exchange failed, or a rank's failure was injected */
};

const char *train_strerror(int err);

struct train_opts {
	enum train_arch arch;
	enum train_reward reward;
	const double *ratios;  /* (n_ratios) in (0, 1) */
	int n_ratios;
	int episodes;          /* ≥ 0; 0 keeps the initial policy */
	double lr;
	uint64_t seed;
	int samples;           /* orderings per layer per episode (mlp) */
	int hidden;            /* mlp hidden width */
	double entropy;        /* entropy bonus coefficient (mlp), 0: none */
	double gamma;          /* prunenet discount per layer */
	double mix;            /* weight of the functional error in TRAIN_REWARD_MIX, in [0, 1] */
	int max_layers;        /* per model, train on at most this many layers, evenly spaced
				* (train_layer_at); 0: every layer */
};

/* Layers of an n_layers model trained under max_layers (0: all), and the j-th of them
 * (0 <= j < the count): the middle layer of the j-th of count equal slices of the stack, so a
 * 32-layer model under 4 trains layers 4, 12, 20, 28. The policy scores rows from per-row
 * features whatever the layer, so it applies to every layer of any model. */
int train_layer_count(int n_layers, int max_layers);
int train_layer_at(int n_layers, int max_layers, int j);

/* Defaults: mlp, neg-ks, 20 episodes, lr 0.1, seed 0, 16 samples, hidden 16, no entropy,
 * gamma 0.99, mix 0.5 (ratios left empty). */
void train_opts_default(struct train_opts *o);

/* One (model, ratio, layer) cell of an episode. */
struct train_cell {
	int model, layer;
	double ratio;
	double ks;        /* mean KS of this episode's sampled selections (NAN: not used) */
	double reward;    /* mean reward of those */
	double greedy_ks; /* KS of the deterministic top-k of the parameters used */
	double func;      /* mean functional error of the sampled selections (NAN: not used) */
	double greedy_func; /* functional error of the top-k (NAN without probes) */
	double greedy_loss; /* what the reward minimises, of the top-k: KS, err or the mix */
};

struct train_episode {
	int episode;             /* 1-based */
	double mean_reward, mean_ks, greedy_ks;
	double greedy_loss;      /* mean greedy loss (= greedy_ks for the spectral rewards) */
	double elapsed;          /* seconds since training started */
	const struct train_cell *cells;
	int n_cells;
	int is_best;             /* these parameters are the best so far */
};

typedef void train_progress_fn(void *ctx, const struct train_episode *ep);

struct trainer;

/* Called after every layer of every pass: pass counts the passes over all layers started so far
 * (1-based) of n_passes, layer is 0-based of n_layers (summed over the models), elapsed seconds
 * since training started. For progress lines with an ETA on models whose layers take seconds. */
typedef void train_layer_fn(void *ctx, int episode, int pass, int n_passes, int layer,
			    int n_layers, double elapsed);

/* envs (borrowed, n_envs ≥ 1) must outlive the trainer. TRAIN_ERR_ARG also when the envs'
 * feature counts differ, or a functional / mix reward meets an env without probes. */
int trainer_new(struct trainer **out, struct env **envs, int n_envs, const struct train_opts *o,
		char *err, size_t errlen);

void trainer_free(struct trainer *t);

/* Sets the per-layer callback for later trainer_run calls; fn NULL disables. */
void trainer_set_layer_progress(struct trainer *t, train_layer_fn *fn, void *ctx);

/* Runs all episodes, calling progress after each (episode 0 = the initial parameters'
 * greedy evaluation). Returns 0 or a negative train_error (err gets a one-line reason). */
int trainer_run(struct trainer *t, train_progress_fn *progress, void *ctx, char *err,
		size_t errlen);

/* The best parameters found (borrowed from the trainer), their greedy KS and the mean reward
 * of their greedy selections; the final reward is the mean sampled reward of the last training
 * episode (the greedy one when episodes = 0). The generator is seeded with
 * pcg32_seed(seed, 0x796f706f) and first draws the initial parameters. */
struct policy *trainer_best_mlp(struct trainer *t);
struct prunenet *trainer_best_prunenet(struct trainer *t);
double trainer_best_greedy_ks(const struct trainer *t);
double trainer_best_greedy_loss(const struct trainer *t);
double trainer_final_reward(const struct trainer *t);
double trainer_best_reward(const struct trainer *t);

#endif
