/* report_read: results.json read back for compare --resume — the settings compared with the
 * new run's, the rows restored. See report.h. */
#include "report.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "json.h"
#include "scorer.h"

/* A string setting: both NULL, or equal. */
static int same_str(const struct cJSON *root, const char *key, const char *want, char *err,
		    size_t errlen)
{
	const struct cJSON *v = json_get(root, key);
	const char *have = v && json_type(v) == JSON_TYPE_STRING ? json_string(v) : NULL;
	if (!v || (json_type(v) != JSON_TYPE_STRING && json_type(v) != JSON_TYPE_NULL))
		return err_set(err, errlen, REPORT_ERR_FORMAT, "results.json: no '%s'", key);
	if ((have == NULL) != (want == NULL) || (have && strcmp(have, want)))
		return err_set(err, errlen, REPORT_ERR_MISMATCH,
			       "--resume: the report was made with %s '%s', this run has '%s'", key,
			       have ? have : "(none)", want ? want : "(none)");
	return REPORT_OK;
}

static int same_num(const struct cJSON *root, const char *key, double want, char *err,
		    size_t errlen)
{
	const struct cJSON *v = json_get(root, key);
	if (!v || json_type(v) != JSON_TYPE_NUMBER)
		return err_set(err, errlen, REPORT_ERR_FORMAT, "results.json: no number '%s'", key);
	if (json_number(v) != want)
		return err_set(err, errlen, REPORT_ERR_MISMATCH,
			       "--resume: the report was made with %s %.17g, this run has %.17g", key,
			       json_number(v), want);
	return REPORT_OK;
}

/* Every setting that changes a row's numbers must be the same. */
static int check_settings(const struct cJSON *root, const struct report_settings *w, char *err,
			  size_t errlen)
{
	int rc;
	if ((rc = same_str(root, "model", w->model, err, errlen)) ||
	    (rc = same_str(root, "text", w->text, err, errlen)) ||
	    (rc = same_num(root, "seq_len", (double)w->seq_len, err, errlen)) ||
	    (rc = same_num(root, "max_windows", (double)w->max_windows, err, errlen)) ||
	    (rc = same_num(root, "seed", (double)w->seed, err, errlen)) ||
	    (rc = same_str(root, "policy_sha256", w->policy_sha256, err, errlen)) ||
	    (rc = same_str(root, "calib", w->calib, err, errlen)) ||
	    (rc = same_num(root, "calib_windows", (double)w->calib_windows, err, errlen)) ||
	    (rc = same_num(root, "probe_tokens", (double)w->probe_tokens, err, errlen)))
		return rc;
	return REPORT_OK;
}

static double num_or(const struct cJSON *o, const char *key, double def)
{
	const struct cJSON *v = json_get(o, key);
	return v && json_type(v) == JSON_TYPE_NUMBER ? json_number(v) : def;
}

/* One results[] entry into *w; -1 when it is not one this version writes. */
static int read_row(struct report_row *w, const struct cJSON *o)
{
	const struct cJSON *mv = json_get(o, "method"), *gv = json_get(o, "granularity");
	const struct cJSON *sv = json_get(o, "seed"), *tv = json_get(o, "sample");
	if (!mv || json_type(mv) != JSON_TYPE_STRING || !gv || json_type(gv) != JSON_TYPE_STRING)
		return -1;
	const char *method = json_string(mv), *g = json_string(gv);
	const struct scorer *s = scorer_find(method);
	*w = (struct report_row){.method = s ? s->name : "dense", .ratio = num_or(o, "ratio", -1)};
	if (!s && strcmp(method, "dense"))
		return -1;
	if (!strcmp(g, "weights"))
		w->g = PRUNE_GRANULARITY_WEIGHTS;
	else if (!strcmp(g, prune_granularity_name(PRUNE_GRANULARITY_NM_2_4)))
		w->g = PRUNE_GRANULARITY_NM_2_4;
	else if (!strcmp(g, prune_granularity_name(PRUNE_GRANULARITY_NM_4_8)))
		w->g = PRUNE_GRANULARITY_NM_4_8;
	else if (strcmp(g, "rows") && strcmp(g, "dense"))
		return -1;
	w->seeded = sv && json_type(sv) == JSON_TYPE_NUMBER;
	w->seed = w->seeded ? (uint64_t)json_number(sv) : 0;
	struct measure *m = &w->m;
	m->params = (size_t)num_or(o, "params", 0);
	m->ffn_params = (size_t)num_or(o, "ffn_params", 0);
	m->bytes = (size_t)num_or(o, "bytes", 0);
	m->flops = num_or(o, "flops_per_token", 0);
	m->eval = (struct eval_result){.nll = num_or(o, "nll", NAN), .tokens = (size_t)num_or(o, "tokens", 0),
				       .windows = (size_t)num_or(o, "windows", 0),
				       .tokens_per_s = num_or(o, "tokens_per_s", 0)};
	m->eval.perplexity = num_or(o, "perplexity", NAN);
	m->has_kl = true;
	m->kl = (struct kl_result){.mean = num_or(o, "kl_mean", NAN), .median = num_or(o, "kl_median", NAN),
				   .p99 = num_or(o, "kl_p99", NAN), .top1 = num_or(o, "top1_agreement", NAN),
				   .tokens = m->eval.tokens, .windows = m->eval.windows};
	w->prune_s = num_or(o, "prune_seconds", 0);
	w->ks = num_or(o, "mean_ks", 0);
	snprintf(m->sample, sizeof m->sample, "%s",
		 tv && json_type(tv) == JSON_TYPE_STRING ? json_string(tv) : "");
	if (w->ratio < 0 || !isfinite(m->eval.perplexity) || !isfinite(m->kl.mean) || !m->params)
		return -1;
	return 0;
}

int report_read_rows(struct report_row **rows, int *n, size_t *calib_tokens, const char *dir,
		     const struct report_settings *want, char *err, size_t errlen)
{
	char path[PATH_MAX];
	char *text = NULL;
	size_t len = 0;
	struct cJSON *root = NULL;
	struct report_row *v = NULL;
	const struct cJSON *arr;
	int count = 0, rc;
	if (util_join(path, sizeof path, dir, "results.json"))
		return err_set(err, errlen, REPORT_ERR_IO, "%s: path too long", dir);
	if (util_read_file(&text, &len, path, 64u << 20, false, err, errlen))
		return REPORT_ERR_IO;
	rc = err_set(err, errlen, REPORT_ERR_FORMAT, "%s: not a yopo compare report", path);
	if (!(root = json_parse(text, len)) || json_get_array(&arr, &count, root, "results", "", NULL, 0) ||
	    count < 1)
		goto out;
	if ((rc = check_settings(root, want, err, errlen)))
		goto out;
	if (!(v = calloc((size_t)count, sizeof *v))) {
		rc = err_set(err, errlen, REPORT_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < count; i++)
		if (read_row(&v[i], json_at(arr, i))) {
			rc = err_set(err, errlen, REPORT_ERR_FORMAT, "%s: results[%d] is not a result row",
				     path, i);
			goto out;
		}
	*rows = v;
	*n = count;
	if (calib_tokens)
		*calib_tokens = (size_t)num_or(root, "calib_tokens", 0);
	v = NULL;
	rc = REPORT_OK;
out:
	free(v);
	json_free(root);
	free(text);
	return rc;
}
