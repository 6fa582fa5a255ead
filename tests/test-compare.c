/* Tests for pipeline/compare (with trainjob and kseval) on the shared stories260k checkpoint with
 * 2 evaluation windows: the rows of the report, their counts against the model's shape, the
 * dense and pruned perplexities against independent measurements of the same checkpoints, the
 * report files, and the failures that leave no report behind. Skips (77) without ../shared. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare.h"
#include "err.h"
#include "json.h"
#include "kseval.h"
#include "measure.h"
#include "output.h"
#include "testutil.h"
#include "topk.h"
#include "trainjob.h"

static char model[PATH_MAX], text[PATH_MAX];

static void setup_paths(void)
{
	snprintf(model, sizeof model, "%s/models/stories260k", testutil_shared());
	snprintf(text, sizeof text, "%s/data/tinystories-eval.txt", testutil_shared());
}

/* An untrained (episodes 0) mlp policy for stories260k at path, through the train job. */
static void train_policy(const char *path, const char *log)
{
	static const double ratio = 0.3;
	const char *models[] = {model};
	struct trainjob_opts t = {.models = models, .n_models = 1, .route = SPECTRUM_ROUTE_GRAM,
				  .cache_bytes = 64u << 20, .log = log, .out = path};
	train_opts_default(&t.train);
	t.train.ratios = &ratio;
	t.train.n_ratios = 1;
	t.train.episodes = 1;
	t.train.samples = 2;
	double best = -1;
	char err[ERR_MAX];
	ck_assert_msg(trainjob_run(&best, &t, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert(best > 0 && best < 1);
}

static double ppl_of(const char *dir)
{
	struct measure_text_result r;
	char err[ERR_MAX];
	ck_assert_msg(measure_text(&r, dir, NULL, text, 0, 2, NULL, NULL, err, sizeof err) == 0, "%s", err);
	return r.m.eval.perplexity;
}

START_TEST(test_matrix)
{
	setup_paths();
	char *tmp = testutil_tmpdir_new("compare");
	char *policy = testutil_path_new(tmp, "policy.safetensors"), *log = testutil_path_new(tmp, "log.jsonl");
	char *out = testutil_path_new(tmp, "report"), p[PATH_MAX + 64], err[ERR_MAX];
	train_policy(policy, log);
	/* the log: one JSON object per line (episode 1, then the final greedy evaluation) */
	char *lines = testutil_file_read(log, NULL);
	int n_lines = 0;
	for (char *l = lines; *l; n_lines++) {
		char *nl = strchr(l, '\n');
		ck_assert_ptr_nonnull(nl);
		struct cJSON *o = json_parse(l, (size_t)(nl - l));
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(json_count(json_get(o, "layers")), 5);
		ck_assert_double_eq(json_number(json_get(o, "episode")), n_lines + 1);
		ck_assert_int_eq(json_bool(json_get(o, "final")), n_lines == 1);
		json_free(o);
		l = nl + 1;
	}
	ck_assert_int_eq(n_lines, 2);
	free(lines);

	static const char *const methods[] = {"policy", "random", "ken"};
	static const double ratios[] = {0.25};
	struct compare_opts o = {.model = model, .text = text, .out = out, .methods = methods,
				 .n_methods = 3, .ratios = ratios, .n_ratios = 1, .policy = policy,
				 .max_windows = 2, .sample_tokens = 4, .seed = 1};
	struct compare_result r;
	ck_assert_msg(compare_run(&r, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r.n_rows, 4);
	static const char *const want[] = {"dense", "policy", "random", "ken"};
	for (int i = 0; i < 4; i++)
		ck_assert_str_eq(r.rows[i].method, want[i]);
	ck_assert_int_eq(r.rows[1].g, PRUNE_GRANULARITY_ROWS);
	ck_assert_int_eq(r.rows[3].g, PRUNE_GRANULARITY_WEIGHTS);
	/* dense: the measurement of the input itself, 2 windows of 512 tokens */
	ck_assert_double_eq(r.rows[0].m.eval.perplexity, ppl_of(model));
	ck_assert_uint_eq(r.rows[0].m.eval.windows, 2);
	ck_assert_uint_eq(r.rows[0].m.eval.tokens, 2 * 511);
	/* rows: 172 - lround(0.25 * 172) = 129 neurons kept in each of the 5 layers (no FFN bias) */
	size_t dense_ffn = r.rows[0].m.ffn_params;
	ck_assert_uint_eq(dense_ffn, 5 * 3 * 64 * 172);
	for (int i = 1; i <= 2; i++) {
		ck_assert_uint_eq(r.rows[i].m.ffn_params, 5 * 3 * 64 * 129);
		ck_assert_uint_eq(r.rows[i].m.params, r.rows[0].m.params - 5 * 3 * 64 * 43);
		ck_assert(r.rows[i].m.bytes < r.rows[0].m.bytes);
		ck_assert(r.rows[i].ks > 0 && r.rows[i].ks < 1);
	}
	/* weights: per output row 64 - 16 = 48 of up/gate, 172 - 43 = 129 of down kept; dense shapes */
	ck_assert_uint_eq(r.rows[3].m.ffn_params, 5 * (2 * 172 * 48 + 64 * 129));
	ck_assert_uint_eq(r.rows[3].m.bytes, r.rows[0].m.bytes);
	/* every pruned row measures the checkpoint written under OUT/models, against the dense
	 * model on the same windows (random is seeded: its seed is in the name) */
	snprintf(p, sizeof p, "%s/models/random-rows-0.25-s1", out);
	ck_assert_double_eq(r.rows[2].m.eval.perplexity, ppl_of(p));
	struct measure_text_result kr;
	ck_assert_msg(measure_text(&kr, p, model, text, 0, 2, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert(r.rows[2].m.has_kl && r.rows[2].seeded && r.rows[2].seed == 1);
	ck_assert_double_eq_tol(r.rows[2].m.kl.mean, kr.m.kl.mean, 1e-12);
	ck_assert_double_eq_tol(r.rows[2].m.kl.top1, kr.m.kl.top1, 1e-12);
	ck_assert(kr.m.kl.mean > 0.01 && kr.m.kl.top1 < 1);
	ck_assert(r.rows[0].m.has_kl && r.rows[0].m.kl.mean == 0 && r.rows[0].m.kl.top1 == 1);
	snprintf(p, sizeof p, "%s/models/ken-weights-0.25", out);
	ck_assert_double_eq(r.rows[3].m.eval.perplexity, ppl_of(p));
	/* the report files */
	snprintf(p, sizeof p, "%s/results.csv", out);
	char *csv = testutil_file_read(p, NULL);
	ck_assert_ptr_nonnull(strstr(csv, "\nken,weights,0.25,"));
	int n = 0;
	for (char *c = csv; *c; c++)
		n += *c == '\n';
	ck_assert_int_eq(n, 5);
	free(csv);
	snprintf(p, sizeof p, "%s/models", out);
	ck_assert_int_eq(testutil_dir_count(p), 3);
	compare_result_free(&r);
	/* a second run into the same OUT without force is refused and leaves it as it was */
	ck_assert_int_eq(compare_run(&r, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_OUT);
	ck_assert_msg(strstr(err, "already exists") && strstr(err, "--resume"), "%s", err);
	ck_assert_int_eq(testutil_dir_count(p), 3);
	free(out);
	free(log);
	free(policy);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* A pid that is no running process: a child that has exited and been reaped. */
static long dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return (long)pid;
}

/* Seeds, --no-keep-models, skipped methods, --resume in place and of a dead run's temporary
 * sibling, refused resumes, the lock and the output-inside-input check. */
START_TEST(test_resume)
{
	setup_paths();
	char *tmp = testutil_tmpdir_new("compare"), *out = testutil_path_new(tmp, "report");
	char p[PATH_MAX + 64], err[ERR_MAX];
	static const char *const methods[] = {"wanda", "random", "probe"};
	static const double ratios[] = {0.25};
	struct compare_opts o = {.model = model, .text = text, .out = out, .methods = methods,
				 .n_methods = 3, .ratios = ratios, .n_ratios = 1, .max_windows = 1,
				 .seeds = 2, .probe_tokens = 64, .drop_models = true,
				 .skip_unavailable = true};
	struct compare_result r, r2;
	ck_assert_msg(compare_run(&r, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(strstr(r.notes, "wanda needs --calib"), "%s", r.notes);
	ck_assert_int_eq(r.n_rows, 4);
	static const char *const want[] = {"dense", "random", "random", "probe"};
	for (int i = 0; i < 4; i++)
		ck_assert_str_eq(r.rows[i].method, want[i]);
	ck_assert(r.rows[1].seed == 0 && r.rows[2].seed == 1 && !r.rows[3].seeded);
	ck_assert(r.rows[1].m.kl.mean != r.rows[2].m.kl.mean); /* two seeds, two selections */
	snprintf(p, sizeof p, "%s/models", out);
	ck_assert_int_eq(testutil_dir_count(p), 0);
	snprintf(p, sizeof p, "%s/results.json", out);
	ck_assert(testutil_path_exists(p));
	ck_assert_int_eq(testutil_dir_count(tmp), 1); /* no temporary sibling, no lock file left */

	/* resume in place: every item taken from the report, the same numbers */
	o.resume = true;
	ck_assert_msg(compare_run(&r2, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r2.reused, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_double_eq_tol(r2.rows[i].m.kl.mean, r.rows[i].m.kl.mean, 1e-12);
	compare_result_free(&r2);
	/* one more seed: only the new item runs */
	o.seeds = 3;
	ck_assert_msg(compare_run(&r2, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r2.reused, 4);
	ck_assert_int_eq(r2.n_rows, 5);
	ck_assert(r2.rows[3].seeded && r2.rows[3].seed == 2);
	compare_result_free(&r2);

	/* a run killed before its rename: its sibling is adopted by --resume */
	char stale[PATH_MAX + 64];
	snprintf(stale, sizeof stale, "%s.tmp-%ld-abcdef", out, dead_pid());
	ck_assert_int_eq(rename(out, stale), 0);
	ck_assert_msg(compare_run(&r2, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r2.reused, 5);
	ck_assert(testutil_path_exists(out) && !testutil_path_exists(stale));
	ck_assert_int_eq(testutil_dir_count(tmp), 1);
	compare_result_free(&r2);

	/* other settings: refused, the report untouched */
	o.seed = 7;
	ck_assert_int_eq(compare_run(&r2, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_OUT);
	ck_assert_msg(strstr(err, "--resume") && strstr(err, "seed"), "%s", err);
	o.seed = 0;
	/* without --resume or --force: refused */
	o.resume = false;
	ck_assert_int_eq(compare_run(&r2, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_OUT);
	/* a second run while the lock is held fails at once */
	struct util_lock *lock = NULL;
	ck_assert_int_eq(util_lock_open(&lock, out, err, sizeof err), 0);
	o.force = true;
	ck_assert_int_eq(compare_run(&r2, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_LOCKED);
	ck_assert_msg(strstr(err, "another yopo run"), "%s", err);
	util_lock_close(lock);
	/* never into an input */
	char inside[PATH_MAX + 64];
	snprintf(inside, sizeof inside, "%s/report", model);
	o.out = inside;
	ck_assert_int_eq(compare_run(&r2, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_OUT);
	ck_assert_msg(strstr(err, "input"), "%s", err);
	ck_assert(!testutil_path_exists(inside));
	compare_result_free(&r);
	free(out);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* Failures before OUT exists leave nothing. */
START_TEST(test_failures)
{
	setup_paths();
	char *tmp = testutil_tmpdir_new("compare"), *out = testutil_path_new(tmp, "report");
	char *missing = testutil_path_new(tmp, "missing.txt"), err[ERR_MAX];
	static const char *const wanda[] = {"wanda"}, *const bad[] = {"sparsegpt"},
			  *const rnd[] = {"random"};
	static const double ratios[] = {0.5};
	struct compare_opts o = {.model = model, .text = text, .out = out, .methods = wanda,
				 .n_methods = 1, .ratios = ratios, .n_ratios = 1};
	struct compare_result r;
	ck_assert_int_eq(compare_run(&r, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_USAGE);
	ck_assert_msg(strstr(err, "--calib"), "%s", err);
	o.methods = bad;
	ck_assert_int_eq(compare_run(&r, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_USAGE);
	o.methods = rnd;
	o.text = missing;
	ck_assert_int_eq(compare_run(&r, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_INPUT);
	ck_assert_msg(strstr(err, "missing.txt"), "%s", err);
	o.text = text;
	o.seq_len = 513;
	ck_assert_int_eq(compare_run(&r, &o, NULL, NULL, err, sizeof err), COMPARE_ERR_INPUT);
	ck_assert_msg(strstr(err, "context (512)"), "%s", err);
	ck_assert(!testutil_path_exists(out));
	/* measure_text: each failure its own status */
	struct measure_text_result mr;
	ck_assert_int_eq(measure_text(&mr, model, NULL, text, 513, 1, NULL, NULL, err, sizeof err),
			 MEASURE_ERR_ARG);
	ck_assert_msg(strstr(err, "context (512)"), "%s", err);
	ck_assert_int_eq(measure_text(&mr, model, NULL, missing, 0, 1, NULL, NULL, err, sizeof err),
			 MEASURE_ERR_INPUT);
	ck_assert_msg(strstr(err, "missing.txt"), "%s", err);
	char other[PATH_MAX];
	snprintf(other, sizeof other, "%s/models/tinystories-instruct-3m", testutil_shared());
	ck_assert_int_eq(measure_text(&mr, model, other, text, 0, 1, NULL, NULL, err, sizeof err),
			 MEASURE_ERR_REF);
	ck_assert_msg(strstr(err, "vocabulary") && strstr(err, "14019") && strstr(err, "512"), "%s", err);
	free(missing);
	free(out);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* measure_text against a reference: the model against itself is at KL 0 with full agreement and
 * its own perplexity; with 2 windows of 512 tokens, 2 x 511 predicted tokens. */
START_TEST(test_reference_self)
{
	setup_paths();
	char err[ERR_MAX];
	struct measure_text_result a, b;
	ck_assert_msg(measure_text(&a, model, NULL, text, 0, 2, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(measure_text(&b, model, model, text, 0, 2, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert(!a.m.has_kl && b.m.has_kl);
	ck_assert_double_eq_tol(b.m.kl.mean, 0, 1e-12);
	ck_assert_double_eq_tol(b.m.kl.p99, 0, 1e-12);
	ck_assert_double_eq(b.m.kl.top1, 1);
	ck_assert_uint_eq(b.m.kl.tokens, 2 * 511);
	ck_assert_uint_eq(b.m.eval.tokens, a.m.eval.tokens);
	ck_assert_double_eq_tol(b.m.eval.perplexity, a.m.eval.perplexity, 1e-9);
	ck_assert_double_eq_tol(b.m.kl.ppl_ref, a.m.eval.perplexity, 1e-9);
}
END_TEST

/* kseval: random is the mean of 4 uniform draws; magnitude's one top-k. */
START_TEST(test_kseval)
{
	setup_paths();
	struct kseval_opts o = {.model = model, .ratio = 0.5, .method = "random", .norm_p = 1,
				.samples = 4, .route = SPECTRUM_ROUTE_SVD};
	struct kseval_result r;
	char err[ERR_MAX];
	ck_assert_msg(kseval_run(&r, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r.n_layers, 5);
	ck_assert_int_eq(r.draws, 4);
	double sum = 0;
	for (int l = 0; l < 5; l++) {
		ck_assert(r.ks[l] > 0 && r.ks[l] < 1 && r.sd[l] >= 0);
		sum += r.ks[l];
	}
	ck_assert_double_eq_tol(r.mean, sum / 5, 1e-12);
	kseval_result_free(&r);
	o.method = "magnitude";
	ck_assert_msg(kseval_run(&r, &o, NULL, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r.draws, 1);
	ck_assert_double_eq(r.sd[0], 0);
	kseval_result_free(&r);
	o.method = "ken";
	ck_assert_int_eq(kseval_run(&r, &o, NULL, NULL, err, sizeof err), KSEVAL_ERR_USAGE);
	o.method = "random";
	o.samples = 0;
	ck_assert_int_eq(kseval_run(&r, &o, NULL, NULL, err, sizeof err), KSEVAL_ERR_USAGE);
	o.samples = 4;
	o.sample = true;
	ck_assert_int_eq(kseval_run(&r, &o, NULL, NULL, err, sizeof err), KSEVAL_ERR_USAGE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compare");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_matrix);
	tcase_add_test(tc, test_failures);
	tcase_add_test(tc, test_reference_self);
	tcase_add_test(tc, test_resume);
	tcase_add_test(tc, test_kseval);
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
