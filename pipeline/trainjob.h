/* trainjob: the whole of yopo train as one call — open an environment per model, sample its
 * data-free probes when the reward or the feature set needs them (env/probe.h: the model's own
 * tokens, no user text), run the trainer (env/train.h), log every episode as one JSON line
 * (util/json.h), save the best policy as a checkpoint (checkpoints/) with its provenance
 * (reward, feature set, probe count and seed). */
#ifndef YOPO_TRAINJOB_H
#define YOPO_TRAINJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "train.h"

enum trainjob_error {
	TRAINJOB_OK = 0,
	TRAINJOB_ERR_OUT = -1,   /* --out cannot be written (checked before training) */
	TRAINJOB_ERR_MODEL = -2, /* a model cannot be opened */
	TRAINJOB_ERR_TRAIN = -3, /* the trainer failed */
	TRAINJOB_ERR_LOG = -4,   /* the log cannot be written */
	TRAINJOB_ERR_SAVE = -5,  /* the checkpoint cannot be saved */
	TRAINJOB_ERR_PROBES = -6, /* probes cannot be sampled from a model */
	TRAINJOB_ERR_DIST = -7,  /* the MPI process group could not start (env/dist.h) */
	TRAINJOB_ERR_USAGE = -8, /* contradictory choices (trainjob_opts_choose) */
};

#define TRAINJOB_MODELS_MAX 16

struct trainjob_opts {
	const char *const *models;  /* model directories (1..TRAINJOB_MODELS_MAX) */
	int n_models;
	struct train_opts train;    /* ratios, arch, reward, lr, ... */
	enum rowfeat_set feature_set; /* what an mlp policy sees (prunenet: weights only) */
	int probe_tokens;           /* probe tokens per model (0: TRAINJOB_PROBE_TOKENS), used when needed */
	int probe_lanes;            /* probe sequences in lockstep (0: PROBE_DEFAULT_LANES) */
	uint64_t probe_seed;
	bool force;                 /* replace an existing --out */
	enum spectrum_route route;
	size_t cache_bytes;         /* keep layers resident up to this size */
	const char *log;            /* JSON lines, or NULL */
	const char *out;            /* policy checkpoint to write */
	train_layer_fn *layer_progress; /* per-layer progress (train.h), or NULL */
	void *layer_ctx;
};

/* yopo train's defaults, chosen by `yopo study` (README): mlp, functional reward, probe features,
 * TRAINJOB_PROBE_TOKENS probes with seed 0, gram route, 8 GiB cache, layers chosen by the cache
 * (train.max_layers 0: every layer when all fit, else as many evenly spaced ones as fit); ratios,
 * models, out empty. */
void trainjob_opts_default(struct trainjob_opts *o);

#define TRAINJOB_PROBE_TOKENS 2048

/* What the policy sees per row: o->feature_set for mlp, weights for prunenet. */
enum rowfeat_set trainjob_feature_set(const struct trainjob_opts *o);

/* Whether training with o samples probes (functional / mix reward, or probe features). */
bool trainjob_needs_probes(const struct trainjob_opts *o);

/* yopo train's choices that need more than an option table, applied to o (defaults before):
 * arch "prunenet" also sets the inverse reward, lr 1e-3 and weights features; reward and fset
 * (NULL: the arch's default) are names train_reward_parse / rowfeat_set_parse accept;
 * weights_only means fset "weights"; mix >= 0 is the weight of the spectral part of the mix
 * reward (< 0: unset); lr > 0 replaces the learning rate. TRAINJOB_ERR_USAGE (o partly set) on
 * --weights-only with another feature set, prunenet with probe features, or a mix without the
 * mix reward. */
int trainjob_opts_choose(struct trainjob_opts *o, const char *arch, const char *reward,
			 const char *fset, bool weights_only, double mix, double lr, char *err,
			 size_t errlen);

/* yopo train's first progress line (no newline): arch, reward, features, models, ratios,
 * episodes and seed. */
void trainjob_start_line(char *buf, size_t cap, const struct trainjob_opts *o, int episodes);

/* A progress line (no newline) after an episode: its rewards, greedy loss and KS, elapsed time
 * and an ETA from the mean episode time; for the greedy evaluations (episode 0 and past
 * episodes) the "final" line. */
void trainjob_episode_line(char *buf, size_t cap, const struct train_episode *ep, int episodes);

/* Called once when training starts (ep == NULL) and after every episode (episode 0 and past
 * `episodes` are the greedy evaluations of the initial and the final parameters). */
typedef void trainjob_progress_fn(void *ctx, const struct train_episode *ep, int episodes);

/* Refuses an --out that cannot be written, before hours of training: its directory must exist
 * and be writable, out itself must not be a directory, and must not exist unless force. */
int trainjob_check_out(const char *out, bool force, char *err, size_t errlen);

/* Runs the job; *best_ks receives the best greedy KS. progress may be NULL. Before any work:
 * --out, OUT.lock and --log against the models (guard.h), the lock held for the run, stale
 * temporaries of --out removed, and every ratio against every model (prune_check_ratio). A log
 * that cannot be written (full disk) fails the run, naming the log and errno, before saving.
 * Started by mpirun -np N, the N ranks split the layers (env/train.h) and end with the same
 * status; only rank 0 checks the outputs, holds the lock, writes --out and --log and calls
 * progress (every rank checks the ratios). */
int trainjob_run(double *best_ks, const struct trainjob_opts *o, trainjob_progress_fn *progress,
		 void *ctx, char *err, size_t errlen);

#endif
