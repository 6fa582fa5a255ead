/* study: does a data-free reward predict the damage pruning really does? (issue 14, item 4)
 *
 * For a model, a ratio and a text: per layer, `selections` random row selections (each keeps
 * ffn − lround(ratio·ffn) neurons of that layer; every other layer stays dense) are drawn from
 * PCG32 (pcg32_seed(seed, STUDY_STREAM), layer by layer). For each selection every reward below
 * is computed as a distance (larger = predicted worse), and the damage is measured: the mean
 * KL(dense ‖ pruned) per predicted token (eval/kl.h) and the perplexity, on the first `windows`
 * windows of the text, with the layer's removed neurons zeroed (their down columns: the neuron
 * then adds exactly nothing). Spearman's ρ(distance, KL) is reported per layer and pooled (the
 * mean of the per-layer ρ, i.e. within-layer ranks pooled).
 *
 * Distances (singular values s(·) by LAPACK; KS = two-sample Kolmogorov–Smirnov statistic,
 * W1 = 1-Wasserstein distance of the empirical distributions):
 *   functional       err(R) over self-sampled probes (env/funcreward.h)
 *   ks_up            KS(s(up), s(up[kept, :]))
 *   ks_gate          KS(s(gate), s(gate[kept, :])) (NaN for families without gate)
 *   ks_down          KS(s(down), s(down[:, kept]))
 *   ks_mean          mean of the KS above over the FFN's matrices
 *   ks_map           KS of the FFN map W_down·W_up (hidden × hidden) and W_down[:, kept]·W_up[kept, :]
 *   w1_map           W1 of the same singular values
 *   w1_logsv_down    W1 of log singular values of down and down[:, kept]
 *   w1_logsv_map     W1 of log singular values of the two maps
 * (logs floored at 1e-12 · the largest full singular value). */
#ifndef YOPO_STUDY_H
#define YOPO_STUDY_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "pcg32.h"

#define STUDY_STREAM 0x73747564u /* "stud" */

enum study_error {
	STUDY_OK = 0,
	STUDY_ERR_ARG = -1,     /* ratio, selections, windows out of range */
	STUDY_ERR_MODEL = -2,   /* the model could not be opened */
	STUDY_ERR_NOMEM = -3,
	STUDY_ERR_COMPUTE = -4, /* probes, a forward pass or singular values failed */
	STUDY_ERR_TEXT = -5,    /* too few tokens for one window */
};

const char *study_strerror(int err);

enum study_reward {
	STUDY_FUNCTIONAL,
	STUDY_KS_UP,
	STUDY_KS_GATE,
	STUDY_KS_DOWN,
	STUDY_KS_MEAN,
	STUDY_KS_MAP,
	STUDY_W1_MAP,
	STUDY_W1_LOGSV_DOWN,
	STUDY_W1_LOGSV_MAP,
	STUDY_N_REWARDS,
};

/* Stable name of a reward ("functional", "ks_up", ...); NULL outside the enum. */
const char *study_reward_name(enum study_reward r);

struct study_opts {
	double ratio;        /* in (0, 1) */
	int selections;      /* M ≥ 2 per layer */
	uint64_t seed;       /* selections */
	int probe_tokens;    /* self-sampled probe tokens (env/probe.h) */
	int probe_lanes;     /* probe sequences sampled in lockstep; 0: PROBE_DEFAULT_LANES */
	uint64_t probe_seed;
	int seq_len;         /* window length; 0 = min(max_pos, 256) */
	int windows;         /* KL windows ≥ 1 */
};

/* ratio 0.3, 40 selections, seed 0, 2048 probe tokens, probe seed 0, seq_len 0, 8 windows. */
void study_opts_default(struct study_opts *o);

struct study_result {
	int n_layers, selections;
	double *distance;  /* (n_layers, selections, STUDY_N_REWARDS); NaN where undefined */
	double *kl;        /* (n_layers, selections) mean KL to dense */
	double *ppl;       /* (n_layers, selections) */
	double *rho;       /* (n_layers, STUDY_N_REWARDS) Spearman ρ(distance, KL) */
	double pooled[STUDY_N_REWARDS]; /* mean of the defined per-layer ρ; NaN if none */
	int min_layer_positive[STUDY_N_REWARDS]; /* 1 when every layer's ρ > 0 */
	double dense_ppl;
	size_t tokens;     /* predicted tokens per KL measurement */
};

/* Runs the study on the model in model_dir and ids (n_ids, BOS first). On success *out is owned by
 * the caller (study_result_free). Errors (reason in err): STUDY_ERR_ARG, STUDY_ERR_MODEL,
 * STUDY_ERR_TEXT, STUDY_ERR_COMPUTE, STUDY_ERR_NOMEM. */
int study_run(struct study_result **out, const char *model_dir, const int *ids, size_t n_ids,
	      const struct study_opts *o, char *err, size_t errlen);

/* study_run on the text file at text_path, encoded by the model's tokenizer (pipeline/text.h:
 * BOS first). Errors as study_run, plus STUDY_ERR_TEXT for an unreadable or empty file and
 * STUDY_ERR_MODEL for a missing tokenizer. */
int study_run_text(struct study_result **out, const char *model_dir, const char *text_path,
		   const struct study_opts *o, char *err, size_t errlen);

void study_result_free(struct study_result *r);

/* Spearman's ρ of x and y (n): Pearson correlation of their ranks, ties given their average
 * rank. NaN when n < 2 or either is constant. */
double study_spearman(const double *x, const double *y, int n);

/* 1-Wasserstein distance ∫|F_a − F_b| of the empirical distributions of a (na ≥ 1) and
 * b (nb ≥ 1). */
double study_w1(const double *a, int na, const double *b, int nb);

/* keep (n) = 1 for k uniformly random indices (a partial Fisher–Yates shuffle from rng), 0 else. */
void study_random_keep(unsigned char *keep, int n, int k, struct pcg32 *rng);

/* Layer `layer` of m computes dense's layer with the neurons keep[i] == 0 removed: m's down
 * matrix becomes dense's with those columns zeroed (keep NULL: restored). m and dense must have
 * the same shapes. */
void study_zero_neurons(struct model *m, const struct model *dense, int layer,
			const unsigned char *keep);

struct forward;
struct kl_acc;

/* What every dense-vs-pruned KL measurement holds (study_run, bench-quality): one forward pass
 * per model over seq_len positions, their logits and n_acc KL accumulators (eval/kl.h). */
struct study_damage {
	struct forward *fd, *fp;	/* dense, pruned */
	float *ld, *lp;			/* (seq_len, vocab) logits of fd, fp */
	struct kl_acc **acc;		/* n_acc */
	size_t n_acc;
};

/* Allocates all of d for dense and pruned (borrowed, same shapes). Returns 0 or
 * STUDY_ERR_NOMEM (d then holds nothing); study_damage_close(d) after success. */
int study_damage_open(struct study_damage *d, const struct model *dense, struct model *pruned,
		      int seq_len, size_t n_acc);
/* Frees what d holds; a zeroed d is a no-op. */
void study_damage_close(struct study_damage *d);

#endif
