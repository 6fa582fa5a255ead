/* trainjob: environments, trainer, JSONL log and checkpoint. See trainjob.h. */
#include "trainjob.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "dist.h"
#include "err.h"
#include "guard.h"
#include "json.h"
#include "model.h"
#include "plan.h"
#include "probe.h"
#include "prunestream.h"
#include "yopo_version.h"

void trainjob_opts_default(struct trainjob_opts *o)
{
	*o = (struct trainjob_opts){.route = SPECTRUM_ROUTE_GRAM, .cache_bytes = (size_t)8192 << 20,
				    .feature_set = ROWFEAT_SET_PROBE,
				    .probe_tokens = TRAINJOB_PROBE_TOKENS};
	train_opts_default(&o->train);
	o->train.reward = TRAIN_REWARD_FUNCTIONAL;
}

enum rowfeat_set trainjob_feature_set(const struct trainjob_opts *o)
{
	return o->train.arch == TRAIN_ARCH_MLP ? o->feature_set : ROWFEAT_SET_WEIGHTS;
}

bool trainjob_needs_probes(const struct trainjob_opts *o)
{
	return o->train.reward == TRAIN_REWARD_FUNCTIONAL || o->train.reward == TRAIN_REWARD_MIX ||
	       (o->train.arch == TRAIN_ARCH_MLP && o->feature_set == ROWFEAT_SET_PROBE);
}

int trainjob_check_out(const char *out, bool force, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat sb;
	if (!*out || (size_t)snprintf(dir, sizeof dir, "%s", out) >= sizeof dir)
		return err_set(err, errlen, TRAINJOB_ERR_OUT, "--out: bad path '%s'", out);
	if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
		return err_set(err, errlen, TRAINJOB_ERR_OUT, "--out %s is a directory (give a file name)",
			       out);
	if (!force && lstat(out, &sb) == 0)
		return err_set(err, errlen, TRAINJOB_ERR_OUT, "--out %s exists (--force replaces it)",
			       out);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	const char *why = NULL;
	if (stat(dir, &sb))
		why = strerror(errno);
	else if (!S_ISDIR(sb.st_mode))
		why = "not a directory";
	else if (access(dir, W_OK))
		why = strerror(errno);
	if (why)
		return err_set(err, errlen, TRAINJOB_ERR_OUT, "--out %s: directory %s: %s", out, dir, why);
	return TRAINJOB_OK;
}

struct job {
	FILE *log;
	int log_errno; /* the first write error of the log, 0 while it is fine */
	int episodes;
	trainjob_progress_fn *progress;
	void *ctx;
};

/* One JSON line of an episode; false when out of memory or the write failed. */
static bool log_episode(FILE *f, const struct train_episode *ep, bool final)
{
	struct cJSON *o = json_new_object(), *layers = NULL;
	bool ok = o && json_add_number(o, "episode", ep->episode) && json_add_bool(o, "final", final) &&
		  json_add_number(o, "mean_reward", ep->mean_reward) &&
		  json_add_number(o, "mean_ks", ep->mean_ks) &&
		  json_add_number(o, "greedy_ks", ep->greedy_ks) &&
		  json_add_number(o, "greedy_loss", ep->greedy_loss) &&
		  json_add_bool(o, "best", ep->is_best) && json_add_number(o, "elapsed", ep->elapsed) &&
		  (layers = json_add_array(o, "layers"));
	for (int i = 0; ok && i < ep->n_cells; i++) {
		const struct train_cell *c = &ep->cells[i];
		struct cJSON *l = json_add_object(layers, NULL);
		ok = l && json_add_number(l, "model", c->model) && json_add_number(l, "ratio", c->ratio) &&
		     json_add_number(l, "layer", c->layer) && json_add_number(l, "ks", c->ks) &&
		     json_add_number(l, "reward", c->reward) &&
		     json_add_number(l, "greedy_ks", c->greedy_ks) && json_add_number(l, "func", c->func) &&
		     json_add_number(l, "greedy_func", c->greedy_func);
	}
	errno = 0;
	ok = ok && json_write(f, o, false) == 0 && fflush(f) == 0;
	json_free(o);
	return ok;
}

static void on_episode(void *ctx, const struct train_episode *ep)
{
	struct job *j = ctx;
	bool final = ep->episode == 0 || ep->episode > j->episodes;
	if (j->log && !j->log_errno && !log_episode(j->log, ep, final))
		j->log_errno = errno ? errno : EIO;
	if (j->progress)
		j->progress(j->ctx, ep, j->episodes);
}

static int probe_count(const struct trainjob_opts *o)
{
	return o->probe_tokens > 0 ? o->probe_tokens : TRAINJOB_PROBE_TOKENS;
}

/* Samples the probes of model i and attaches them to its env with the job's feature set. No f32
 * copy of the model: the ids are sampled on the mapped weights, one layer in f32 at a time, and
 * the activations streamed one layer at a time (prunestream.h; probe_collect's bit for bit). Only
 * the trained layers' activations are kept (max_layers as train.h's; at 7B, 6 of 32 layers keep
 * 0.5 GB instead of 2.9 GB). */
static int attach_probes(struct probe **p, struct env *env, const struct trainjob_opts *o,
			 int i, int max_layers, char *err, size_t errlen)
{
	struct model *m = NULL;
	struct layerstream *ls = NULL;
	int n_layers = env_config(env)->n_layers, rc = TRAINJOB_ERR_PROBES;
	bool *keep = calloc((size_t)n_layers, sizeof *keep);
	if (!keep) {
		err_set(err, errlen, rc, "out of memory");
		goto out;
	}
	for (int j = 0; j < train_layer_count(n_layers, max_layers); j++)
		keep[train_layer_at(n_layers, max_layers, j)] = true;
	if (prunestream_probe_sample(p, o->models[i], probe_count(o), o->probe_seed, o->probe_lanes,
				     err, errlen))
		goto out;
	if (prunestream_open(&m, o->models[i], err, errlen)) {
		rc = TRAINJOB_ERR_MODEL;
		goto out;
	}
	bool failed = probe_stream_open(&ls, *p, m, err, errlen) ||
		      probe_stream_all(*p, ls, keep, err, errlen);
	layerstream_free(ls);
	model_close(m);
	if (failed) {
		err_prefix(err, errlen, rc, "%s: probes", o->models[i]);
		goto out;
	}
	if (env_use_probes(env, *p, trainjob_feature_set(o), err, errlen))
		goto out;
	rc = TRAINJOB_OK;
out:
	free(keep);
	return rc;
}

/* The layers trained per model (train.h max_layers) and each env's cache decision over them:
 * o->train.max_layers when set, else every layer when they all fit the cache budget, else as
 * many evenly spaced layers as fit it (at least one): a 7B-shaped model's layer keeps 1.3 GB
 * (matrix, Gram and the functional G), and a layer that has to be recomputed every episode costs
 * ~30 s there, so a few resident layers train faster than every layer streamed. */
static int plan_layers(const struct trainjob_opts *o, struct env **envs)
{
	bool func = o->train.reward == TRAIN_REWARD_FUNCTIONAL || o->train.reward == TRAIN_REWARD_MIX;
	int max_layers = o->train.max_layers;
	for (int i = 0; i < o->n_models && o->train.max_layers == 0; i++) {
		const struct config *c = env_config(envs[i]);
		size_t total = 0, widest = 0;
		for (int l = 0; l < c->n_layers; l++) {
			size_t b = env_layer_bytes(envs[i], l, func);
			total += b;
			widest = b > widest ? b : widest;
		}
		if (total <= o->cache_bytes)
			continue;
		size_t fit = o->cache_bytes / widest;
		int n = fit < 1 ? 1 : fit < (size_t)c->n_layers ? (int)fit : c->n_layers;
		if (max_layers == 0 || n < max_layers)
			max_layers = n;
	}
	for (int i = 0; i < o->n_models; i++) {
		const struct config *c = env_config(envs[i]);
		int n = train_layer_count(c->n_layers, max_layers);
		int *layers = malloc((size_t)n * sizeof *layers);
		if (!layers)
			continue; /* env_open's decision stands: slower, not wrong */
		for (int j = 0; j < n; j++)
			layers[j] = train_layer_at(c->n_layers, max_layers, j);
		env_plan_cache(envs[i], layers, n, func);
		free(layers);
	}
	return max_layers;
}

/* Saves the best parameters of tr with their provenance. */
static int save(const struct trainjob_opts *o, struct trainer *tr, struct env **envs, char *err,
		size_t errlen)
{
	struct checkpoint_model trained[TRAINJOB_MODELS_MAX];
	for (int i = 0; i < o->n_models; i++) {
		const struct config *c = env_config(envs[i]);
		trained[i] = (struct checkpoint_model){(char *)o->models[i], (char *)c->model_type,
						       c->hidden, c->ffn, c->n_layers};
	}
	const struct train_opts *t = &o->train;
	struct checkpoint_info info = {
		.arch = t->arch == TRAIN_ARCH_MLP ? CHECKPOINT_ARCH_MLP : CHECKPOINT_ARCH_PRUNENET,
		.n_features = env_n_features(envs[0]), .n_hidden = t->hidden,
		.feature_set = trainjob_feature_set(o),
		.mix = t->reward == TRAIN_REWARD_MIX ? t->mix : 0,
		.probe_tokens = trainjob_needs_probes(o) ? probe_count(o) : 0,
		.probe_seed = trainjob_needs_probes(o) ? o->probe_seed : 0,
		.hidden = env_config(envs[0])->hidden, .ffn = env_config(envs[0])->ffn,
		.trained_on = trained, .n_trained_on = o->n_models, .ratios = (double *)t->ratios,
		.n_ratios = t->n_ratios, .seed = t->seed, .episodes = t->episodes,
		.final_reward = trainer_final_reward(tr), .best_reward = trainer_best_reward(tr),
	};
	snprintf(info.reward, sizeof info.reward, "%s", train_reward_name(t->reward));
	snprintf(info.yopo_version, sizeof info.yopo_version, "%s", YOPO_VERSION);
	int e = t->arch == TRAIN_ARCH_MLP ? checkpoint_save_mlp(o->out, trainer_best_mlp(tr), &info)
					  : checkpoint_save_prunenet(o->out, trainer_best_prunenet(tr), &info);
	if (e)
		return err_set(err, errlen, TRAINJOB_ERR_SAVE, "%s: %s%s%s", o->out,
			       checkpoint_strerror(e), e == CHECKPOINT_ERR_IO ? ": " : "",
			       e == CHECKPOINT_ERR_IO ? strerror(errno) : "");
	return TRAINJOB_OK;
}

/* The lead rank's checks before any work: --out writable; neither the policy, its lock nor the
 * log may overwrite or land inside a model (issue 13, 1-2); one run per --out at a time; stale
 * temporaries of --out removed (guard.h). *lock is held for the run. */
static int check_outputs(const struct trainjob_opts *o, struct util_lock **lock, char *err,
			 size_t errlen)
{
	int rc = trainjob_check_out(o->out, true, err, errlen);
	if (rc)
		return rc;
	/* neither the policy, its lock nor the log may overwrite or land inside a model (issue 13,
	 * 1-2); one run per --out at a time; stale temporaries of --out removed (guard.h) */
	if (guard_open(lock, NULL, o->out, &o->log, 1, (const char *const *)o->models,
		       (size_t)o->n_models, err, errlen))
		return TRAINJOB_ERR_OUT;
	return trainjob_check_out(o->out, o->force, err, errlen); /* after: names the input */
}

/* Every ratio against every model (the rule of plan.h), before training. */
static int check_ratios(const struct trainjob_opts *o, struct env **envs, char *err,
			size_t errlen)
{
	for (int i = 0; i < o->n_models; i++)
		for (int r = 0; r < o->train.n_ratios; r++)
			if (prune_check_ratio(env_config(envs[i]), o->train.ratios[r],
					      PRUNE_GRANULARITY_ROWS, false, err, errlen))
				return err_prefix(err, errlen, TRAINJOB_ERR_MODEL, "%s", o->models[i]);
	return TRAINJOB_OK;
}

/* Closes the log (checking the flush and the close) and folds its errors into rc. */
static int close_log(struct job *j, const struct trainjob_opts *o, int rc, char *err,
		     size_t errlen)
{
	if (!j->log)
		return rc;
	char why[ERR_MAX];
	int e = util_file_close(j->log, o->log, why, sizeof why);
	j->log = NULL;
	if (rc)
		return rc;
	if (j->log_errno)
		return err_set(err, errlen, TRAINJOB_ERR_LOG, "error writing %s: %s", o->log,
			       strerror(j->log_errno));
	if (e)
		return err_set(err, errlen, TRAINJOB_ERR_LOG, "%s", why);
	return rc;
}

/* Under mpirun every rank runs this; only rank 0 (the lead) checks, locks and writes the
 * outputs and reports progress. Each failure point is followed by a dist_agree, so a failure on
 * any rank ends all of them with the same reason, before anything is written. */
int trainjob_run(double *best_ks, const struct trainjob_opts *o, trainjob_progress_fn *progress,
		 void *ctx, char *err, size_t errlen)
{
	struct env *envs[TRAINJOB_MODELS_MAX] = {NULL};
	struct probe *probes[TRAINJOB_MODELS_MAX] = {NULL};
	struct trainer *tr = NULL;
	struct util_lock *lock = NULL;
	struct job j = {.episodes = o->train.episodes, .progress = progress, .ctx = ctx};
	if (dist_init(err, errlen))
		return TRAINJOB_ERR_DIST;
	if (o->n_models < 1 || o->n_models > TRAINJOB_MODELS_MAX)
		return err_set(err, errlen, TRAINJOB_ERR_MODEL, "1 to %d models", TRAINJOB_MODELS_MAX);
	bool lead = dist_rank() == 0;
	int rc = lead ? check_outputs(o, &lock, err, errlen) : TRAINJOB_OK;
	for (int i = 0; !rc && i < o->n_models; i++)
		if (env_open(&envs[i], o->models[i], o->route, o->cache_bytes, err, errlen))
			rc = TRAINJOB_ERR_MODEL;
	if (!rc)
		rc = check_ratios(o, envs, err, errlen);
	if ((rc = dist_agree(rc, err, errlen)))
		goto out;
	struct train_opts topt = o->train;
	topt.max_layers = plan_layers(o, envs);
	for (int i = 0; i < o->n_models && trainjob_needs_probes(o); i++)
		if ((rc = attach_probes(&probes[i], envs[i], o, i, topt.max_layers, err, errlen)))
			goto out;
	rc = TRAINJOB_ERR_TRAIN;
	if (trainer_new(&tr, envs, o->n_models, &topt, err, errlen))
		goto out;
	if (lead)
		trainer_set_layer_progress(tr, o->layer_progress, o->layer_ctx);
	if (lead && o->log && !(j.log = fopen(o->log, "w")))
		rc = err_set(err, errlen, TRAINJOB_ERR_LOG, "%s: cannot open the log for writing: %s",
			     o->log, strerror(errno));
	else
		rc = TRAINJOB_OK;
	if ((rc = dist_agree(rc, err, errlen)))
		goto out;
	if (progress && lead)
		progress(ctx, NULL, o->train.episodes);
	rc = TRAINJOB_ERR_TRAIN;
	if (trainer_run(tr, lead ? on_episode : NULL, &j, err, errlen))
		goto out;
	/* a log that could not be written fails the run before the policy is saved */
	rc = close_log(&j, o, TRAINJOB_OK, err, errlen);
	if (!rc && lead)
		rc = save(o, tr, envs, err, errlen);
	rc = dist_agree(rc, err, errlen);
out:
	rc = close_log(&j, o, rc, err, errlen);
	if (rc == TRAINJOB_OK)
		*best_ks = trainer_best_greedy_ks(tr);
	trainer_free(tr);
	for (int i = 0; i < o->n_models; i++) {
		env_close(envs[i]);
		probe_free(probes[i]);
	}
	util_lock_close(lock);
	return rc;
}

int trainjob_opts_choose(struct trainjob_opts *o, const char *arch, const char *reward,
			 const char *fset, bool weights_only, double mix, double lr, char *err,
			 size_t errlen)
{
	if (!strcmp(arch, "prunenet")) {
		o->train.arch = TRAIN_ARCH_PRUNENET;
		o->train.reward = TRAIN_REWARD_INVERSE;
		o->train.lr = 1e-3;
		o->feature_set = ROWFEAT_SET_WEIGHTS;
	}
	if (reward)
		train_reward_parse(&o->train.reward, reward);
	if (weights_only && fset && strcmp(fset, "weights"))
		return err_set(err, errlen, TRAINJOB_ERR_USAGE,
			       "--weights-only contradicts --feature-set %s", fset);
	if (weights_only)
		o->feature_set = ROWFEAT_SET_WEIGHTS;
	else if (fset)
		rowfeat_set_parse(&o->feature_set, fset);
	if (o->train.arch == TRAIN_ARCH_PRUNENET && o->feature_set == ROWFEAT_SET_PROBE && fset)
		return err_set(err, errlen, TRAINJOB_ERR_USAGE,
			       "--arch prunenet sees weights only (no --feature-set probe)");
	if (mix >= 0 && o->train.reward != TRAIN_REWARD_MIX)
		return err_set(err, errlen, TRAINJOB_ERR_USAGE, "--mix applies to --reward mix");
	if (mix >= 0)
		o->train.mix = 1 - mix; /* mix weighs the spectral part, train_opts.mix the functional */
	if (lr > 0)
		o->train.lr = lr;
	return TRAINJOB_OK;
}

void trainjob_start_line(char *buf, size_t cap, const struct trainjob_opts *o, int episodes)
{
	snprintf(buf, cap,
		 "arch %s, reward %s, features %s, %d model(s), %d ratio(s), %d episodes, seed %llu",
		 o->train.arch == TRAIN_ARCH_MLP ? "mlp" : "prunenet", train_reward_name(o->train.reward),
		 rowfeat_set_name(trainjob_feature_set(o)),
		 o->n_models, o->train.n_ratios, episodes, (unsigned long long)o->train.seed);
}

void trainjob_episode_line(char *buf, size_t cap, const struct train_episode *ep, int episodes)
{
	if (ep->episode == 0 || ep->episode > episodes) {
		snprintf(buf, cap, "final    greedy loss %.4f  greedy KS %.4f  %s(%.1f s)",
			 ep->greedy_loss, ep->greedy_ks, ep->is_best ? "best " : "", ep->elapsed);
		return;
	}
	char el[32], eta[32], ks[32] = "-"; /* "-": not measured (functional reward, train.h) */
	util_format_duration(el, sizeof el, ep->elapsed);
	util_format_duration(eta, sizeof eta, ep->elapsed / ep->episode * (episodes - ep->episode));
	if (!isnan(ep->greedy_ks))
		snprintf(ks, sizeof ks, "%.4f", ep->greedy_ks);
	snprintf(buf, cap,
		 "episode %d/%d  mean reward %.4f  greedy loss %.4f  greedy KS %s  %selapsed %s  "
		 "ETA %s", ep->episode, episodes, ep->mean_reward, ep->greedy_loss, ks,
		 ep->is_best ? "best " : "", el, eta);
}
