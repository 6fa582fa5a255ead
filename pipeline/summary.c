/* summary: the --json objects and text tables the commands print (see summary.h). */
#include "summary.h"

#include <math.h>
#include <string.h>

#include "json.h"
#include "report.h"

/* The object, or NULL (freed) when any member could not be added. */
static struct cJSON *done(struct cJSON *root, bool ok)
{
	if (ok)
		return root;
	json_free(root);
	return NULL;
}

struct cJSON *summary_train_json(const struct trainjob_opts *o, double best_loss, double best_ks,
				 double seconds)
{
	bool probes = trainjob_needs_probes(o);
	char seed[24], pseed[24]; /* uint64 as decimal strings, as in the checkpoint */
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->train.seed);
	snprintf(pseed, sizeof pseed, "%llu", (unsigned long long)o->probe_seed);
	struct cJSON *root = json_new_object(), *a = NULL, *r = NULL;
	bool ok = root && json_add_string(root, "out", o->out) && (a = json_add_array(root, "models")) &&
		  (r = json_add_array(root, "ratios"));
	for (int i = 0; ok && i < o->n_models; i++)
		ok = json_add_string(a, NULL, o->models[i]) != NULL;
	for (int i = 0; ok && i < o->train.n_ratios; i++)
		ok = json_add_number(r, NULL, o->train.ratios[i]) != NULL;
	ok = ok && json_add_string(root, "arch", o->train.arch == TRAIN_ARCH_MLP ? "mlp" : "prunenet") &&
	     json_add_string(root, "reward", train_reward_name(o->train.reward)) &&
	     json_add_string(root, "feature_set", rowfeat_set_name(trainjob_feature_set(o))) &&
	     json_add_number(root, "probe_tokens", probes ? o->probe_tokens : 0) &&
	     json_add_string(root, "probe_seed", pseed) &&
	     json_add_number(root, "episodes", o->train.episodes) && json_add_string(root, "seed", seed) &&
	     json_add_number(root, "best_greedy_loss", best_loss) &&
	     json_add_number(root, "best_greedy_ks", best_ks) && json_add_number(root, "seconds", seconds);
	return done(root, ok);
}

struct cJSON *summary_prune_json(const struct prunejob_opts *o, const struct prune_counts *c,
				 double seconds)
{
	struct cJSON *j = json_new_object();
	bool ok = j && json_add_string(j, "out", o->out) && json_add_string(j, "model", o->model) &&
		  json_add_string(j, "method", o->select.method) &&
		  json_add_string(j, "granularity", prune_granularity_name(o->select.granularity)) &&
		  json_add_bool(j, "global", o->select.global) && json_add_number(j, "ratio", o->ratio) &&
		  prune_counts_json(j, c) &&
		  json_add_number(j, "sparsity",
				  1 - (double)c->params_after / (double)c->params_before) &&
		  json_add_number(j, "seconds", seconds);
	return done(j, ok);
}

void summary_prune_text(FILE *out, const struct prunejob_opts *o, const struct prune_counts *c)
{
	char a[32], b[32], f1[32], f2[32];
	bool weights = o->select.granularity != PRUNE_GRANULARITY_ROWS;
	fprintf(out, "wrote %s: %s method, %s, ratio %g\n", o->out, o->select.method,
		prune_granularity_name(o->select.granularity), o->ratio);
	fprintf(out, "params %s -> %s (FFN %s -> %s)%s\n", report_group(a, sizeof a, c->params_before),
		report_group(b, sizeof b, c->params_after),
		report_group(f1, sizeof f1, c->ffn_params_before),
		report_group(f2, sizeof f2, c->ffn_params_after),
		weights ? " nonzero; zeroed weights save no memory or time by themselves" : "");
	if (!weights && c->params_stored != c->params_after)
		fprintf(out, "the file holds %s parameters (FFN %s): every layer is zero-padded to the "
			"widest (%d neurons)\n", report_group(a, sizeof a, c->params_stored),
			report_group(f1, sizeof f1, c->ffn_params_stored), c->width);
}

struct cJSON *summary_eval_json(const struct measure_text_result *r)
{
	const struct measure *m = &r->m;
	struct cJSON *o = json_new_object();
	bool ok = o && json_add_number(o, "perplexity", m->eval.perplexity) &&
		  json_add_number(o, "nll", m->eval.nll) &&
		  json_add_number(o, "tokens", (double)m->eval.tokens) &&
		  json_add_number(o, "windows", (double)m->eval.windows) &&
		  json_add_number(o, "params", (double)m->params) &&
		  json_add_number(o, "ffn_params", (double)m->ffn_params) &&
		  json_add_number(o, "flops_per_token", m->flops) &&
		  json_add_number(o, "bytes", (double)m->bytes) &&
		  json_add_number(o, "tokens_per_s", m->eval.tokens_per_s) &&
		  json_add_number(o, "peak_rss_bytes", (double)r->peak_rss);
	if (ok && m->has_kl)
		ok = json_add_number(o, "kl_mean", m->kl.mean) &&
		     json_add_number(o, "kl_median", m->kl.median) &&
		     json_add_number(o, "kl_p99", m->kl.p99) &&
		     json_add_number(o, "top1_agreement", m->kl.top1) &&
		     json_add_number(o, "reference_perplexity", m->kl.ppl_ref);
	return done(o, ok);
}

void summary_eval_text(FILE *out, const char *model, const char *reference, const char *text,
		       const struct measure_text_result *r)
{
	const struct measure *m = &r->m;
	char a[32], b[32];
	fprintf(out, "model          %s (%s, %d layers, hidden %d, FFN %d)\n", model, r->model_type,
		r->n_layers, r->hidden, r->ffn);
	fprintf(out, "text           %s (%s tokens incl. BOS)\n", text,
		report_group(a, sizeof a, r->n_ids));
	fprintf(out, "windows        %zu x %d tokens\n", m->eval.windows, r->seq_len);
	fprintf(out, "perplexity     %.4f\n", m->eval.perplexity);
	fprintf(out, "nll            %.6f nats over %s predicted tokens\n", m->eval.nll,
		report_group(a, sizeof a, m->eval.tokens));
	fprintf(out, "params         %s (FFN %s)\n", report_group(a, sizeof a, m->params),
		report_group(b, sizeof b, m->ffn_params));
	fprintf(out, "FLOPs/token    %s\n", report_group(a, sizeof a, (unsigned long long)m->flops));
	fprintf(out, "bytes on disk  %s (safetensors)\n", report_group(a, sizeof a, m->bytes));
	fprintf(out, "tokens/s       %.1f\n", m->eval.tokens_per_s);
	fprintf(out, "peak RSS       %.1f MiB\n", (double)r->peak_rss / (1 << 20));
	if (!m->has_kl)
		return;
	fprintf(out, "reference      %s (perplexity %.4f)\n", reference, m->kl.ppl_ref);
	fprintf(out, "KL(ref||model) mean %.6f, median %.6f, p99 %.6f nats per predicted token\n",
		m->kl.mean, m->kl.median, m->kl.p99);
	fprintf(out, "top-1 agree    %.4f\n", m->kl.top1);
}

struct cJSON *summary_study_json(const char *model, const char *text, const struct study_opts *o,
				 const struct study_result *r)
{
	char seed[24], pseed[24];
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
	snprintf(pseed, sizeof pseed, "%llu", (unsigned long long)o->probe_seed);
	struct cJSON *root = json_new_object(), *rw = NULL;
	bool ok = root && json_add_string(root, "model", model) && json_add_string(root, "text", text) &&
		  json_add_number(root, "ratio", o->ratio) &&
		  json_add_number(root, "selections", r->selections) &&
		  json_add_number(root, "windows", o->windows) &&
		  json_add_number(root, "tokens", (double)r->tokens) && json_add_string(root, "seed", seed) &&
		  json_add_number(root, "probe_tokens", o->probe_tokens) &&
		  json_add_string(root, "probe_seed", pseed) &&
		  json_add_number(root, "dense_ppl", r->dense_ppl) &&
		  (rw = json_add_array(root, "rewards"));
	for (int q = 0; ok && q < STUDY_N_REWARDS; q++) {
		struct cJSON *x = json_add_object(rw, NULL), *l = NULL;
		ok = x && json_add_string(x, "reward", study_reward_name(q)) &&
		     json_add_number(x, "pooled_rho", r->pooled[q]) &&
		     json_add_bool(x, "every_layer_positive", r->min_layer_positive[q]) &&
		     (l = json_add_array(x, "layer_rho"));
		for (int k = 0; ok && k < r->n_layers; k++)
			ok = json_add_number(l, NULL, r->rho[(size_t)k * STUDY_N_REWARDS + q]) != NULL;
	}
	return done(root, ok);
}

void summary_study_text(FILE *out, const char *model, const char *text, const struct study_opts *o,
			const struct study_result *r)
{
	fprintf(out, "model    %s, %d layers; text %s\n", model, r->n_layers, text);
	fprintf(out, "ratio %g, %d random selections per layer (seed %llu), KL on %zu tokens; "
		"%d probe tokens (seed %llu)\n", o->ratio, r->selections, (unsigned long long)o->seed,
		r->tokens, o->probe_tokens, (unsigned long long)o->probe_seed);
	fprintf(out, "dense perplexity %.3f\n", r->dense_ppl);
	fprintf(out, "Spearman rho(distance, KL damage); higher = the reward tracks the damage\n");
	fprintf(out, "%-15s %7s %6s", "reward", "pooled", "all>0");
	for (int l = 0; l < r->n_layers; l++)
		fprintf(out, "  L%-4d", l);
	fprintf(out, "\n");
	for (int q = 0; q < STUDY_N_REWARDS; q++) {
		if (isnan(r->pooled[q])) /* undefined for this family (no gate) */
			fprintf(out, "%-15s %7s %6s", study_reward_name(q), "-", "-");
		else
			fprintf(out, "%-15s %+7.3f %6s", study_reward_name(q), r->pooled[q],
				r->min_layer_positive[q] ? "yes" : "no");
		for (int l = 0; l < r->n_layers; l++) {
			double v = r->rho[(size_t)l * STUDY_N_REWARDS + q];
			if (isnan(v))
				fprintf(out, "  %5s", "-");
			else
				fprintf(out, "  %+.2f", v);
		}
		fprintf(out, "\n");
	}
}

struct cJSON *summary_spectrum_json(const struct kseval_opts *o, const struct kseval_result *r)
{
	struct cJSON *root = json_new_object(), *layers = NULL;
	bool ok = root && json_add_string(root, "model", o->model) &&
		  json_add_string(root, "method", o->method) && json_add_number(root, "ratio", o->ratio) &&
		  json_add_number(root, "samples", r->draws) && json_add_number(root, "mean_ks", r->mean) &&
		  (!r->policy[0] ||
		   (json_add_string(root, "policy", r->policy) &&
		    json_add_string(root, "policy_reward", r->reward) &&
		    json_add_string(root, "policy_feature_set", r->feature_set) &&
		    json_add_number(root, "probe_tokens", r->probe_tokens))) &&
		  (layers = json_add_array(root, "layers"));
	for (int l = 0; ok && l < r->n_layers; l++) {
		struct cJSON *x = json_add_object(layers, NULL);
		ok = x && json_add_number(x, "layer", l) && json_add_number(x, "ks", r->ks[l]) &&
		     json_add_number(x, "std", r->sd[l]);
	}
	return done(root, ok);
}

void summary_spectrum_text(FILE *out, const struct kseval_opts *o, const struct kseval_result *r)
{
	fprintf(out, "model    %s (%s, %d layers, ffn %d x hidden %d)\n", o->model, r->model_type,
		r->n_layers, r->ffn, r->hidden);
	fprintf(out, "method   %s%s, ratio %g, %d selection(s) per layer\n", o->method,
		!strcmp(o->method, "random") ? "" : (o->sample ? " (sampled)" : " (top-k)"), o->ratio,
		r->draws);
	if (r->policy[0])
		fprintf(out, "policy   %s (trained with reward %s, feature set %s)\n", r->policy,
			r->reward, r->feature_set);
	fprintf(out, "layer    KS        std\n");
	for (int l = 0; l < r->n_layers; l++)
		fprintf(out, "%5d    %.4f    %.4f\n", l, r->ks[l], r->sd[l]);
	fprintf(out, "mean     %.4f\n", r->mean);
}
