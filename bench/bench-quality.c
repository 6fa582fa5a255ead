/* bench-quality: the experiment of issue 14 — does a policy trained with the functional reward
 * and probe features prune better than the baselines, on both shared models?
 *
 * 1. study (pipeline/study.h) on each model: Spearman ρ of every reward against KL damage;
 * 2. training (env/train.h) of mlp policies: on both models and on each one alone, with the
 *    probe feature set and weights only, functional reward; plus today's default (neg-ks,
 *    weights, both models) for reference;
 * 3. every model × ratio: mean KL to dense (eval/kl.h) on the first W windows of the eval text
 *    (window = max_position_embeddings, as `yopo compare`) of: random rows (5 PCG32 seeds,
 *    mean ± sd), magnitude rows (L1, as compare), Wanda rows (calibration text), the
 *    probe-importance baseline (env/probe.h) and each policy. Removed neurons are zeroed (their
 *    down columns), which computes exactly what the pruned checkpoint computes.
 * Prints markdown tables. Flags: --windows N (64) --episodes N (20) --selections M (20)
 * --study-windows N (4) --no-study --ratios a,b,.. (0.2,0.3) --probe-tokens N (2000)
 * --shared DIR (../shared). Deterministic; minutes on a loaded 2-core machine. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "file.h"
#include "scorers.h"
#include "calib.h"
#include "env.h"
#include "err.h"
#include "eval.h"
#include "forward.h"
#include "kl.h"
#include "model.h"
#include "policy.h"
#include "probe.h"
#include "study.h"
#include "tokenizer.h"
#include "topk.h"
#include "train.h"

#define N_MODELS 2
#define MAX_VARIANTS 32
#define MAX_RATIOS 4
#define N_RANDOM 5

static const char *model_names[N_MODELS] = {"stories260k", "tinystories-instruct-3m"};

struct opts {
	const char *shared;
	int windows, episodes, selections, study_windows, probe_tokens, n_ratios, study;
	double ratios[MAX_RATIOS];
};

struct mdl {
	char dir[1024];
	struct model *m;
	struct tokenizer *tok;
	struct probe *probe;
	struct env *env;
	int *ids, *calib;
	size_t n_ids, n_calib;
};

/* A trained policy and what it was trained on. */
struct pol {
	const char *name;
	unsigned trained_mask; /* bit i: model i */
	enum rowfeat_set set;
	enum train_reward reward;
	struct policy *p;
	double seconds;
};

static struct pol pols[] = {
	{"policy both/probe/functional", 3, ROWFEAT_SET_PROBE, TRAIN_REWARD_FUNCTIONAL, NULL, 0},
	{"policy both/weights/functional", 3, ROWFEAT_SET_WEIGHTS, TRAIN_REWARD_FUNCTIONAL, NULL, 0},
	{"policy 260k-only/probe/functional", 1, ROWFEAT_SET_PROBE, TRAIN_REWARD_FUNCTIONAL, NULL, 0},
	{"policy 3m-only/probe/functional", 2, ROWFEAT_SET_PROBE, TRAIN_REWARD_FUNCTIONAL, NULL, 0},
	{"policy 260k-only/weights/functional", 1, ROWFEAT_SET_WEIGHTS, TRAIN_REWARD_FUNCTIONAL, NULL, 0},
	{"policy 3m-only/weights/functional", 2, ROWFEAT_SET_WEIGHTS, TRAIN_REWARD_FUNCTIONAL, NULL, 0},
	{"policy both/weights/neg-ks (today)", 3, ROWFEAT_SET_WEIGHTS, TRAIN_REWARD_NEG_KS, NULL, 0},
};
#define N_POLS ((int)(sizeof pols / sizeof pols[0]))

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "bench-quality: %s: %s\n", what, why);
	return 1;
}

/* ids = BOS + the tokens of file. */
static int read_ids(int **ids, size_t *n, const char *path, const struct model *m,
		    const struct tokenizer *tok)
{
	char *text = NULL;
	size_t len = 0, ne = 0;
	int *enc = NULL;
	if (util_read_file(&text, &len, path, UTIL_TEXT_MAX, false, NULL, 0) || tokenizer_encode(tok, text, len, &enc, &ne)) {
		free(text);
		return -1;
	}
	*ids = malloc((ne + 1) * sizeof **ids);
	if (*ids) {
		(*ids)[0] = m->cfg.bos_id >= 0 ? m->cfg.bos_id : tokenizer_bos_id(tok);
		memcpy(*ids + 1, enc, ne * sizeof *enc);
		*n = ne + 1;
	}
	free(enc);
	free(text);
	return *ids ? 0 : -1;
}

static int open_mdl(struct mdl *d, const struct opts *o, int i)
{
	char err[ERR_MAX], path[2400];
	snprintf(d->dir, sizeof d->dir, "%.900s/models/%s", o->shared, model_names[i]);
	snprintf(path, sizeof path, "%s/tokenizer.json", d->dir);
	if (model_open(&d->m, d->dir, err, sizeof err))
		return fail(d->dir, err);
	if (tokenizer_open(&d->tok, path))
		return fail(path, "cannot open the tokenizer");
	snprintf(path, sizeof path, "%.900s/data/tinystories-eval.txt", o->shared);
	if (read_ids(&d->ids, &d->n_ids, path, d->m, d->tok))
		return fail(path, "cannot read or tokenize");
	snprintf(path, sizeof path, "%.900s/data/tinystories-calib.txt", o->shared);
	if (read_ids(&d->calib, &d->n_calib, path, d->m, d->tok))
		return fail(path, "cannot read or tokenize");
	if (probe_collect(&d->probe, d->m, o->probe_tokens, 0, 0, 0, err, sizeof err))
		return fail(d->dir, err);
	if (env_open(&d->env, d->dir, SPECTRUM_ROUTE_GRAM, SIZE_MAX, err, sizeof err))
		return fail(d->dir, err);
	return 0;
}

static void close_mdl(struct mdl *d)
{
	env_close(d->env);
	probe_free(d->probe);
	tokenizer_free(d->tok);
	model_close(d->m);
	free(d->ids);
	free(d->calib);
}

/* ---- 1. study ---- */

static int run_study(struct mdl *d, const struct opts *o)
{
	struct study_opts so;
	study_opts_default(&so);
	so.ratio = 0.3;
	so.selections = o->selections;
	so.windows = o->study_windows;
	so.probe_tokens = o->probe_tokens;
	so.seq_len = d->m->cfg.max_pos < 256 ? d->m->cfg.max_pos : 256;
	struct study_result *r = NULL;
	char err[ERR_MAX];
	double t0 = util_now();
	if (study_run(&r, d->dir, d->ids, d->n_ids, &so, err, sizeof err))
		return fail("study", err);
	printf("\n### study: %s (ratio 0.3, %d selections per layer, %d windows of %d, dense ppl %.3f, "
	       "%.0f s)\n\n| reward | pooled ρ | every layer ρ > 0 | per layer |\n|---|---|---|---|\n",
	       d->dir, so.selections, so.windows, so.seq_len, r->dense_ppl, util_now() - t0);
	for (int q = 0; q < STUDY_N_REWARDS; q++) {
		if (isnan(r->pooled[q])) {
			printf("| %s | n/a | n/a | (not defined for this family) |\n",
			       study_reward_name((enum study_reward)q));
			continue;
		}
		printf("| %s | %+.2f | %s |", study_reward_name((enum study_reward)q), r->pooled[q],
		       r->min_layer_positive[q] ? "yes" : "no");
		for (int l = 0; l < r->n_layers; l++)
			printf(" %+.2f", r->rho[l * STUDY_N_REWARDS + q]);
		printf(" |\n");
	}
	fflush(stdout);
	study_result_free(r);
	return 0;
}

/* Microseconds per functional reward evaluation (the env's quadratic form) at ratio 0.3, over
 * every layer; the G build is timed apart. Median of 5 repeats. */
static int time_functional(struct mdl *d)
{
	int L = d->m->cfg.n_layers, reps = 2000;
	char err[ERR_MAX];
	if (env_use_probes(d->env, d->probe, ROWFEAT_SET_WEIGHTS, err, sizeof err))
		return fail(d->dir, err);
	double per[5], build = util_now();
	int kept[4096];
	for (int l = 0; l < L; l++) {
		double v;
		int F = env_rows(d->env, l), k = util_keep_count(F, 0.3);
		for (int i = 0; i < k; i++)
			kept[i] = i;
		if (env_layer_begin(d->env, l, NULL, NULL, NULL, 0) || env_layer_functional(d->env, kept, k, &v))
			return fail(d->dir, "functional reward failed");
	}
	build = util_now() - build;
	struct pcg32 rng;
	pcg32_seed(&rng, 1, 1);
	for (int r = 0; r < 5; r++) {
		double t0 = util_now(), sink = 0;
		for (int l = 0; l < L; l++) {
			int F = env_rows(d->env, l), k = util_keep_count(F, 0.3);
			unsigned char keep[4096];
			study_random_keep(keep, F, k, &rng);
			for (int i = 0, j = 0; i < F; i++)
				if (keep[i])
					kept[j++] = i;
			env_layer_begin(d->env, l, NULL, NULL, NULL, 0);
			for (int q = 0; q < reps; q++) {
				double v;
				env_layer_functional(d->env, kept, k, &v);
				sink += v;
			}
		}
		per[r] = (util_now() - t0) / ((double)reps * L) * 1e6 + 0 * sink;
	}
	for (int a = 0; a < 5; a++)
		for (int b = a + 1; b < 5; b++)
			if (per[b] < per[a]) {
				double t = per[a];
				per[a] = per[b];
				per[b] = t;
			}
	printf("| %s | %.2f µs (min %.2f, max %.2f) | %.3f s for all %d layers |\n", d->dir,
	       per[2], per[0], per[4], build, L);
	return 0;
}

/* ---- 2. training ---- */

static int train_one(struct pol *pl, struct mdl *ds, const struct opts *o)
{
	struct env *envs[N_MODELS];
	int n = 0;
	char err[ERR_MAX];
	for (int i = 0; i < N_MODELS; i++) {
		if (!(pl->trained_mask & (1u << i)))
			continue;
		if (env_use_probes(ds[i].env, ds[i].probe, pl->set, err, sizeof err))
			return fail(pl->name, err);
		envs[n++] = ds[i].env;
	}
	struct train_opts to;
	train_opts_default(&to);
	to.reward = pl->reward;
	to.ratios = o->ratios;
	to.n_ratios = o->n_ratios;
	to.episodes = o->episodes;
	struct trainer *t = NULL;
	double t0 = util_now();
	if (trainer_new(&t, envs, n, &to, err, sizeof err) || trainer_run(t, NULL, NULL, err, sizeof err)) {
		trainer_free(t);
		return fail(pl->name, err);
	}
	struct policy *best = trainer_best_mlp(t);
	struct pcg32 rng;
	pcg32_seed(&rng, 0, 0);
	if (policy_new(&pl->p, policy_n_features(best), policy_n_hidden(best), &rng) ||
	    policy_copy_params(pl->p, best)) {
		trainer_free(t);
		return fail(pl->name, "out of memory");
	}
	pl->seconds = util_now() - t0;
	printf("| %s | %.4f | %.1f |\n", pl->name, trainer_best_greedy_loss(t), pl->seconds);
	fflush(stdout);
	trainer_free(t);
	return 0;
}

/* ---- 3. evaluation ---- */

/* A pruning of one model: per layer keep masks. */
struct variant {
	char name[80];
	double ratio;
	unsigned char **keep; /* [layer] (ffn) */
	struct kl_result kl;
};

static int keep_from_scores(unsigned char *keep, const float *scores, int ffn, double ratio)
{
	return util_topk_mask(keep, scores, ffn, util_keep_count(ffn, ratio));
}

/* scores of policy pl on model d, layer l (features of pl's set) */
static int policy_scores(float *scores, struct pol *pl, struct mdl *d, int l)
{
	const float *x, *w;
	if (env_layer_begin(d->env, l, &x, &w, NULL, 0))
		return -1;
	return policy_forward(pl->p, scores, x, env_rows(d->env, l));
}

/* Fills v's keep masks for method index meth: 0..N_RANDOM-1 random seeds, then magnitude,
 * wanda, probe-importance, then the policies. */
static int fill_variant(struct variant *v, int meth, struct mdl *d, float **mag, float **wanda,
			double ratio)
{
	const struct model *m = d->m;
	int L = m->cfg.n_layers, max_f = 0, rc = 0;
	for (int l = 0; l < L; l++)
		max_f = m->layers[l].ffn > max_f ? m->layers[l].ffn : max_f;
	float *sc = malloc((size_t)max_f * sizeof *sc);
	if (!sc)
		return -1;
	struct pcg32 rng;
	pcg32_seed(&rng, (uint64_t)meth, STUDY_STREAM);
	struct pol *pl = meth >= N_RANDOM + 3 ? &pols[meth - N_RANDOM - 3] : NULL;
	if (pl && env_use_probes(d->env, d->probe, pl->set, NULL, 0))
		rc = -1;
	v->ratio = ratio;
	if (meth < N_RANDOM)
		snprintf(v->name, sizeof v->name, "random seed %d", meth);
	else if (pl)
		snprintf(v->name, sizeof v->name, "%s", pl->name);
	else
		snprintf(v->name, sizeof v->name, "%s",
			 meth == N_RANDOM ? "magnitude rows" : meth == N_RANDOM + 1 ? "wanda rows"
										 : "probe-importance");
	for (int l = 0; l < L && !rc; l++) {
		int F = m->layers[l].ffn;
		if (meth < N_RANDOM) {
			study_random_keep(v->keep[l], F, util_keep_count(F, ratio), &rng);
			continue;
		}
		const float *use = sc;
		if (meth == N_RANDOM)
			use = mag[l];
		else if (meth == N_RANDOM + 1)
			use = wanda[l];
		else if (meth == N_RANDOM + 2)
			probe_importance_rows(sc, d->probe, l, m->layers[l].down, m->cfg.hidden);
		else
			rc = policy_scores(sc, pl, d, l);
		if (!rc)
			rc = keep_from_scores(v->keep[l], use, F, ratio);
	}
	free(sc);
	return rc ? -1 : 0;
}

/* Per window: one dense forward, then every variant's (all its layers zeroed at once). */
static int measure(struct variant *vs, int nv, struct mdl *d, struct model *pruned, int windows)
{
	const struct model *m = d->m;
	int S = m->cfg.max_pos, V = m->cfg.vocab, L = m->cfg.n_layers, rc = -1;
	struct study_damage dm;
	if (study_damage_open(&dm, m, pruned, S, (size_t)nv))
		return -1;
	for (int w = 0; w < windows && (size_t)(w + 1) * S <= d->n_ids; w++) {
		const int *x = d->ids + (size_t)w * S;
		if (forward_run(dm.fd, dm.ld, x, S, 0))
			goto out;
		for (int i = 0; i < nv; i++) {
			for (int l = 0; l < L; l++)
				study_zero_neurons(pruned, m, l, vs[i].keep[l]);
			if (forward_run(dm.fp, dm.lp, x, S, 0) ||
			    kl_acc_add(dm.acc[i], dm.ld, dm.lp, x + 1, S - 1, V))
				goto out;
		}
	}
	for (int i = 0; i < nv; i++)
		if (kl_acc_result(dm.acc[i], &vs[i].kl))
			goto out;
	rc = 0;
out:
	study_damage_close(&dm);
	return rc;
}

static void print_results(const struct variant *vs, int nv, const struct mdl *d, double ratio)
{
	double s = 0, ss = 0, p = 0, pp = 0;
	printf("\n### %s @ %.2f (%zu tokens; dense ppl %.3f)\n\n"
	       "| method | mean KL | median KL | p99 KL | top-1 | ppl |\n|---|---|---|---|---|---|\n",
	       d->dir, ratio, vs[0].kl.tokens, vs[0].kl.ppl_ref);
	for (int i = 0; i < nv; i++) {
		const struct kl_result *k = &vs[i].kl;
		if (vs[i].ratio != ratio)
			continue;
		printf("| %s | %.4f | %.4f | %.4f | %.3f | %.3f |\n", vs[i].name, k->mean, k->median,
		       k->p99, k->top1, k->ppl);
		if (strncmp(vs[i].name, "random", 6) == 0) {
			s += k->mean;
			ss += k->mean * k->mean;
			p += k->ppl;
			pp += k->ppl * k->ppl;
		}
	}
	double n = N_RANDOM, mean = s / n, sd = sqrt(fmax(0, (ss - n * mean * mean) / (n - 1)));
	double pm = p / n, psd = sqrt(fmax(0, (pp - n * pm * pm) / (n - 1)));
	printf("| random (%d seeds) mean ± sd | %.4f ± %.4f | | | | %.3f ± %.3f |\n", N_RANDOM, mean,
	       sd, pm, psd);
	fflush(stdout);
}

/* Magnitude (L1 of up and gate) and Wanda row scores of every layer (prune/scorers.h kernels). */
static int baseline_scores(float ***mag, float ***wanda, const struct model *m,
			   const struct calib_norms *norms)
{
	int L = m->cfg.n_layers;
	*mag = calloc((size_t)L, sizeof **mag);
	*wanda = calloc((size_t)L, sizeof **wanda);
	if (!*mag || !*wanda)
		return -1;
	for (int l = 0; l < L; l++) {
		const struct model_layer *y = &m->layers[l];
		(*mag)[l] = malloc((size_t)y->ffn * sizeof(float));
		(*wanda)[l] = malloc((size_t)y->ffn * sizeof(float));
		if (!(*mag)[l] || !(*wanda)[l])
			return -1;
		scorers_magnitude_rows((*mag)[l], y->up, y->gate, y->ffn, m->cfg.hidden, 1);
		scorers_wanda_rows((*wanda)[l], y->up, y->gate, norms->input[l], y->ffn, m->cfg.hidden);
	}
	return 0;
}

static int eval_model(struct mdl *d, const struct opts *o)
{
	const struct model *m = d->m;
	int L = m->cfg.n_layers, n_meth = N_RANDOM + 3 + N_POLS, nv = n_meth * o->n_ratios, rc = 1;
	float **mag = NULL, **wanda = NULL;
	struct calib_norms *norms = NULL;
	struct model *pruned = NULL;
	struct variant *vs = calloc((size_t)nv, sizeof *vs);
	char err[ERR_MAX];
	if (!vs || calib_collect_xnorm(&norms, m, d->calib, d->n_calib, m->cfg.max_pos, 0))
		goto out;
	if (baseline_scores(&mag, &wanda, m, norms) || model_open(&pruned, d->dir, err, sizeof err))
		goto out;
	for (int i = 0; i < nv; i++) {
		vs[i].keep = calloc((size_t)L, sizeof *vs[i].keep);
		for (int l = 0; vs[i].keep && l < L; l++)
			if (!(vs[i].keep[l] = malloc((size_t)m->layers[l].ffn)))
				goto out;
		if (!vs[i].keep || fill_variant(&vs[i], i % n_meth, d, mag, wanda, o->ratios[i / n_meth]))
			goto out;
	}
	double t0 = util_now();
	if (measure(vs, nv, d, pruned, o->windows))
		goto out;
	for (int r = 0; r < o->n_ratios; r++)
		print_results(vs, nv, d, o->ratios[r]);
	printf("\n(%d pruned variants measured in %.0f s)\n", nv, util_now() - t0);
	rc = 0;
out:
	if (rc)
		fail(d->dir, "evaluation failed");
	for (int i = 0; vs && i < nv; i++) {
		for (int l = 0; vs[i].keep && l < L; l++)
			free(vs[i].keep[l]);
		free(vs[i].keep);
	}
	free(vs);
	for (int l = 0; l < L; l++) {
		free(mag ? mag[l] : NULL);
		free(wanda ? wanda[l] : NULL);
	}
	free(mag);
	free(wanda);
	calib_norms_free(norms);
	model_close(pruned);
	return rc;
}

static int parse(struct opts *o, int argc, char **argv)
{
	*o = (struct opts){.shared = "../shared", .windows = 64, .episodes = 20, .selections = 20,
			   .study_windows = 4, .probe_tokens = 2000, .n_ratios = 2, .study = 1,
			   .ratios = {0.2, 0.3}};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--no-study") == 0) {
			o->study = 0;
			continue;
		}
		if (!v)
			return fail(a, "unknown flag or missing value");
		i++;
		if (strcmp(a, "--shared") == 0)
			o->shared = v;
		else if (strcmp(a, "--windows") == 0)
			o->windows = atoi(v);
		else if (strcmp(a, "--episodes") == 0)
			o->episodes = atoi(v);
		else if (strcmp(a, "--selections") == 0)
			o->selections = atoi(v);
		else if (strcmp(a, "--study-windows") == 0)
			o->study_windows = atoi(v);
		else if (strcmp(a, "--probe-tokens") == 0)
			o->probe_tokens = atoi(v);
		else if (strcmp(a, "--ratios") == 0) {
			char *end;
			o->n_ratios = 0;
			for (const char *p = v; *p && o->n_ratios < MAX_RATIOS; p = *end ? end + 1 : end) {
				o->ratios[o->n_ratios++] = strtod(p, &end);
				if (end == p)
					return fail(a, v);
			}
		} else
			return fail(a, "unknown flag");
	}
	if (o->windows < 1 || o->episodes < 0 || o->selections < 2 || o->study_windows < 1 ||
	    o->probe_tokens < 2 || o->n_ratios < 1)
		return fail("options", "out of range");
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct mdl ds[N_MODELS] = {0};
	int rc = parse(&o, argc, argv);
	char probe_dir[1200];
	snprintf(probe_dir, sizeof probe_dir, "%s/models", o.shared);
	FILE *f = rc ? NULL : fopen(probe_dir, "r");
	if (!rc && !f) {
		fprintf(stderr, "bench-quality: %s absent: skipped\n", probe_dir);
		return 77;
	}
	if (f)
		fclose(f);
	for (int i = 0; !rc && i < N_MODELS; i++)
		rc = open_mdl(&ds[i], &o, i);
	printf("# bench-quality: %d probe tokens (seed 0), %d episodes, ratios", o.probe_tokens,
	       o.episodes);
	for (int r = 0; r < o.n_ratios; r++)
		printf(" %.2f", o.ratios[r]);
	printf(", %d eval windows\n", o.windows);
	for (int i = 0; !rc && o.study && i < N_MODELS; i++)
		rc = run_study(&ds[i], &o);
	if (!rc)
		printf("\n### functional reward cost (ratio 0.3, median of 5)\n\n"
		       "| model | per evaluation | G build + probes' Gram |\n|---|---|---|\n");
	for (int i = 0; !rc && i < N_MODELS; i++)
		rc = time_functional(&ds[i]);
	if (!rc)
		printf("\n### training\n\n| policy | best greedy loss | seconds |\n|---|---|---|\n");
	for (int p = 0; !rc && p < N_POLS; p++)
		rc = train_one(&pols[p], ds, &o);
	for (int i = 0; !rc && i < N_MODELS; i++)
		rc = eval_model(&ds[i], &o);
	for (int p = 0; p < N_POLS; p++)
		policy_free(pols[p].p);
	for (int i = 0; i < N_MODELS; i++)
		close_mdl(&ds[i]);
	return rc;
}
