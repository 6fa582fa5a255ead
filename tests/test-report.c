/* Tests for pipeline/report: exact CSV lines, the JSON document (parsed back), the seed
 * aggregates and the verdicts (a lead counts only beyond random's spread), the Markdown, the
 * round trip through results.json for --resume (and its refusals), and the plot: gnuplot runs
 * without a shell in the report directory, so a directory name with quotes and
 * `;touch INJECTED;` is only a name, and user strings in the script are quoted for gnuplot. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "json.h"
#include "report.h"
#include "testutil.h"

enum { N_ROWS = 12 };
static struct report_row rows[N_ROWS];

/* One pruned row: method at ratio with KL kl (seeded methods get seed). */
static struct report_row row(const char *method, enum prune_granularity g, double ratio,
			     double kl, int seed)
{
	struct report_row w = rows[0];
	w.method = method;
	w.g = g;
	w.ratio = ratio;
	w.seeded = seed >= 0;
	w.seed = seed >= 0 ? (uint64_t)seed : 0;
	w.m.params = 850;
	w.m.bytes = g == PRUNE_GRANULARITY_ROWS ? 1572864 : 2097152; /* 1.5 MiB, or dense 2 MiB */
	w.m.eval.perplexity = 4.0 + 10 * kl;
	w.m.kl.mean = kl;
	w.m.kl.median = kl / 2;
	w.m.kl.p99 = 4 * kl;
	w.m.kl.top1 = 1 - kl / 2;
	w.ks = 0.125;
	w.prune_s = 0.5;
	strcpy(w.m.sample, "a time");
	return w;
}

/* dense; at 0.25: random 0.4/0.5/0.6 (sd 0.1), magnitude 0.3, probe 0.1, ken (weights) 0.2;
 * at 0.5: random 0.8/1.0/1.2 (sd 0.2), magnitude 0.95, probe 0.9. */
static struct report sample_report(void)
{
	memset(rows, 0, sizeof rows);
	rows[0] = (struct report_row){.method = "dense", .g = PRUNE_GRANULARITY_ROWS};
	rows[0].m = (struct measure){.params = 1000, .ffn_params = 600, .bytes = 2097152, .flops = 2000,
				     .has_kl = true};
	rows[0].m.eval = (struct eval_result){.perplexity = 4.0, .nll = 1.386294, .tokens = 62,
					      .windows = 2, .tokens_per_s = 1234.56};
	rows[0].m.kl.top1 = 1;
	strcpy(rows[0].m.sample, "Once upon");
	const enum prune_granularity R = PRUNE_GRANULARITY_ROWS, W = PRUNE_GRANULARITY_WEIGHTS;
	int n = 1;
	for (int s = 0; s < 3; s++)
		rows[n++] = row("random", R, 0.25, 0.4 + 0.1 * s, s);
	rows[n++] = row("magnitude", R, 0.25, 0.3, -1);
	rows[n++] = row("probe", R, 0.25, 0.1, -1);
	rows[n++] = row("ken", W, 0.25, 0.2, -1);
	for (int s = 0; s < 3; s++)
		rows[n++] = row("random", R, 0.5, 0.8 + 0.2 * s, s);
	rows[n++] = row("magnitude", R, 0.5, 0.95, -1);
	rows[n++] = row("probe", R, 0.5, 0.9, -1);
	struct report r = {.n_ids = 1234567, .rows = rows, .n_rows = n};
	r.s = (struct report_settings){.command = "yopo compare --model models/m", .version = "9.9",
				       .date = "2026-01-01T00:00:00Z", .model = "models/it's",
				       .text = "text \"q\".txt", .seq_len = 32, .max_windows = 2,
				       .seed = 0, .seeds = 3, .probe_tokens = 64, .probe_seed = 0};
	ck_assert_int_eq(n, N_ROWS);
	return r;
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The content a writer produces, as a string (caller frees). */
static char *written(int (*fn)(FILE *, const struct report *), const struct report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(fn(f, r), REPORT_OK);
	fclose(f);
	return buf;
}

START_TEST(test_csv)
{
	struct report r = sample_report();
	char *csv = written(report_write_csv, &r);
	ck_assert_msg(starts_with(csv,
		"method,granularity,ratio,seed,params,ffn_params,params_removed_pct,mib_saved,bytes,"
		"flops_per_token,perplexity,delta_perplexity,kl_mean,kl_median,kl_p99,top1_agreement,"
		"tokens_per_s,prune_seconds,mean_ks,sample\n"
		"dense,-,0,,1000,600,0.0000,0.0000,2097152,2000,4.000000,0.000000,0.000000,0.000000,"
		"0.000000,1.000000,1234.6,0.000,0.000000,\"Once upon\"\n"
		"random,rows,0.25,0,850,600,15.0000,0.5000,1572864,2000,8.000000,4.000000,0.400000,"
		"0.200000,1.600000,0.800000,1234.6,0.500,0.125000,\"a time\"\n"), "%s", csv);
	ck_assert_ptr_nonnull(strstr(csv, "\nrandom,rows,0.25,2,"));
	ck_assert_ptr_nonnull(strstr(csv, "\nken,weights,0.25,,850,600,15.0000,0.0000,2097152,"));
	free(csv);
}
END_TEST

START_TEST(test_stats)
{
	struct report r = sample_report();
	struct report_stat st[N_ROWS];
	ck_assert_int_eq(report_stats(st, &r), 7);
	ck_assert_str_eq(st[0].method, "random");
	ck_assert_int_eq(st[0].n, 3);
	ck_assert_int_eq(st[0].first, 1);
	ck_assert_double_eq_tol(st[0].kl, 0.5, 1e-12);
	ck_assert_double_eq_tol(st[0].kl_sd, 0.1, 1e-12);
	ck_assert_double_eq_tol(st[0].ppl, 9.0, 1e-12);
	ck_assert_double_eq_tol(st[0].ppl_sd, 1.0, 1e-12);
	ck_assert_str_eq(st[3].method, "ken");
	ck_assert_int_eq(st[3].n, 1);
	ck_assert_double_eq(st[3].kl_sd, 0);
	ck_assert_double_eq_tol(st[4].kl_sd, 0.2, 1e-12);
	ck_assert_double_eq(st[4].ratio, 0.5);
}
END_TEST

START_TEST(test_json)
{
	struct report r = sample_report();
	char *text = written(report_write_json, &r);
	struct cJSON *doc = json_parse(text, strlen(text));
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string(json_get(doc, "model")), "models/it's");
	ck_assert_str_eq(json_string(json_get(doc, "text")), "text \"q\".txt");
	ck_assert_str_eq(json_string(json_get(doc, "command")), "yopo compare --model models/m");
	ck_assert_str_eq(json_string(json_get(doc, "yopo_version")), "9.9");
	ck_assert_double_eq(json_number(json_get(doc, "evaluation_tokens")), 1234567);
	ck_assert_double_eq(json_number(json_get(doc, "seeds")), 3);
	ck_assert_double_eq(json_number(json_get(doc, "probe_tokens")), 64);
	ck_assert_double_eq(json_number(json_get(doc, "predicted_tokens")), 62);
	ck_assert_int_eq(json_type(json_get(doc, "policy_sha256")), JSON_TYPE_NULL);
	const struct cJSON *res = json_get(doc, "results");
	ck_assert_int_eq(json_count(res), N_ROWS);
	const struct cJSON *d = json_at(res, 0), *s2 = json_at(res, 3), *k = json_at(res, 6);
	ck_assert_str_eq(json_string(json_get(d, "granularity")), "dense");
	ck_assert_int_eq(json_type(json_get(d, "seed")), JSON_TYPE_NULL);
	ck_assert_double_eq(json_number(json_get(s2, "seed")), 2);
	ck_assert_double_eq_tol(json_number(json_get(s2, "kl_mean")), 0.6, 1e-12);
	ck_assert_str_eq(json_string(json_get(k, "method")), "ken");
	ck_assert_str_eq(json_string(json_get(k, "granularity")), "weights");
	ck_assert_double_eq_tol(json_number(json_get(k, "delta_perplexity")), 2.0, 1e-12);
	ck_assert_double_eq_tol(json_number(json_get(k, "params_removed_pct")), 15, 1e-12);
	ck_assert_double_eq(json_number(json_get(k, "mib_saved")), 0);
	ck_assert_str_eq(json_string(json_get(k, "sample")), "a time");
	/* verdicts: at 0.25 probe leads by 0.2 (magnitude) and 0.4 (random) > sd 0.1; at 0.5 by
	 * 0.05 and 0.1 < sd 0.2 */
	const struct cJSON *v = json_get(doc, "verdicts");
	ck_assert_int_eq(json_count(v), 2);
	ck_assert_str_eq(json_string(json_get(json_at(v, 0), "best")), "probe");
	ck_assert_str_eq(json_string(json_get(json_at(v, 0), "runner_up")), "magnitude");
	ck_assert(json_bool(json_get(json_at(v, 0), "better_than_runner_up")));
	ck_assert(json_bool(json_get(json_at(v, 0), "better_than_random")));
	ck_assert_str_eq(json_string(json_get(json_at(v, 1), "best")), "probe");
	ck_assert(!json_bool(json_get(json_at(v, 1), "better_than_runner_up")));
	ck_assert(!json_bool(json_get(json_at(v, 1), "better_than_random")));
	ck_assert(json_bool(json_get(json_at(v, 1), "spread_known")));
	json_free(doc);
	free(text);
}
END_TEST

static int md_plotted(FILE *f, const struct report *r)
{
	return report_write_md(f, r, true);
}

START_TEST(test_md)
{
	struct report r = sample_report();
	char *md = written(md_plotted, &r);
	ck_assert_ptr_nonnull(strstr(md, "| command | `yopo compare --model models/m` |"));
	ck_assert_ptr_nonnull(strstr(md, "| yopo | 9.9 |"));
	ck_assert_ptr_nonnull(strstr(md, "(1,234,567 tokens incl. BOS)"));
	ck_assert_ptr_nonnull(strstr(md, "| windows | 2 x 32 tokens (first windows only), 62 predicted"));
	ck_assert_ptr_nonnull(strstr(md, "| seeds | 3 (seeded methods: seeds 0..2) |"));
	ck_assert_ptr_nonnull(strstr(md, "| probe tokens | 64 sampled from the model itself, seed 0 |"));
	ck_assert_ptr_nonnull(strstr(md, "| dense | - | 0 | 1 | 1,000 | 0.0% | 0.00 | 4.000 | +0.000 |"));
	ck_assert_ptr_nonnull(strstr(md, "| random | rows | 0.25 | 3 | 850 | 15.0% | 0.50 | 9.000 ± 1.000 | "
					 "+5.000 | 0.5000 ± 0.1000 | 0.750 ± 0.050 |"));
	ck_assert_ptr_nonnull(strstr(md, "| ken | weights | 0.25 | 1 | 850 | 15.0% | 0.00 | 6.000 | +2.000 | 0.2000 |"));
	ck_assert_ptr_nonnull(strstr(md, "- ratio 0.25: best structured method **probe** (KL 0.1000), lead "
					 "0.2000 over magnitude, +0.4000 against random (0.5000 ± 0.1000 "
					 "over 3 seeds). Beyond random's spread: better than random **yes**, "
					 "better than magnitude **yes**."));
	ck_assert_ptr_nonnull(strstr(md, "- ratio 0.5: best structured method **probe** (KL 0.9000)"));
	ck_assert_ptr_nonnull(strstr(md, "better than random **no**, better than magnitude **no**."));
	ck_assert_ptr_nonnull(strstr(md, "](plot.png)"));
	free(md);
	/* one seed: no claim */
	r.n_rows = 2;
	md = written(md_plotted, &r);
	ck_assert_ptr_nonnull(strstr(md, "- ratio 0.25: no structured method besides random ran."));
	free(md);
	rows[2] = rows[5]; /* random seed 0, then probe */
	r.n_rows = 3;
	md = written(md_plotted, &r);
	ck_assert_ptr_nonnull(strstr(md, "No claim: random's spread needs --seeds >= 2."));
	free(md);
	char buf[32];
	ck_assert_str_eq(report_group(buf, sizeof buf, 0), "0");
	ck_assert_str_eq(report_group(buf, sizeof buf, 999), "999");
	ck_assert_str_eq(report_group(buf, sizeof buf, 1000), "1,000");
	ck_assert_str_eq(report_group(buf, sizeof buf, 12345678901ULL), "12,345,678,901");
}
END_TEST

/* results.json read back: every row as written; other settings, garbage and absence refused. */
START_TEST(test_read_back)
{
	char *tmp = testutil_tmpdir_new("report"), err[ERR_MAX], p[PATH_MAX];
	struct report r = sample_report();
	r.s.calib_tokens = 4242;
	ck_assert_int_eq(report_write_all(tmp, &r, false, err, sizeof err), REPORT_OK);
	struct report_row *back = NULL;
	int n = 0;
	size_t ct = 0;
	ck_assert_msg(report_read_rows(&back, &n, &ct, tmp, &r.s, err, sizeof err) == REPORT_OK, "%s", err);
	ck_assert_int_eq(n, N_ROWS);
	ck_assert_uint_eq(ct, 4242);
	for (int i = 0; i < n; i++) {
		ck_assert_str_eq(back[i].method, rows[i].method);
		ck_assert_int_eq(back[i].g, rows[i].g);
		ck_assert_double_eq(back[i].ratio, rows[i].ratio);
		ck_assert_int_eq(back[i].seeded, rows[i].seeded);
		ck_assert_uint_eq(back[i].seed, rows[i].seed);
		ck_assert_uint_eq(back[i].m.params, rows[i].m.params);
		ck_assert_uint_eq(back[i].m.bytes, rows[i].m.bytes);
		ck_assert_double_eq_tol(back[i].m.eval.perplexity, rows[i].m.eval.perplexity, 1e-9);
		ck_assert_double_eq_tol(back[i].m.kl.mean, rows[i].m.kl.mean, 1e-12);
		ck_assert_double_eq_tol(back[i].m.kl.top1, rows[i].m.kl.top1, 1e-12);
		ck_assert_str_eq(back[i].m.sample, rows[i].m.sample);
	}
	free(back);
	struct report_settings other = r.s;
	other.seq_len = 16;
	ck_assert_int_eq(report_read_rows(&back, &n, NULL, tmp, &other, err, sizeof err), REPORT_ERR_MISMATCH);
	ck_assert_msg(strstr(err, "seq_len 32") && strstr(err, "16"), "%s", err);
	other = r.s;
	other.policy_sha256 = "abc";
	ck_assert_int_eq(report_read_rows(&back, &n, NULL, tmp, &other, err, sizeof err), REPORT_ERR_MISMATCH);
	ck_assert_msg(strstr(err, "policy_sha256"), "%s", err);
	testutil_path_join(p, sizeof p, tmp, "results.json");
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(report_read_rows(&back, &n, NULL, tmp, &r.s, err, sizeof err), REPORT_ERR_IO);
	testutil_file_write(p, "{\"results\": 3}", 14);
	ck_assert_int_eq(report_read_rows(&back, &n, NULL, tmp, &r.s, err, sizeof err), REPORT_ERR_FORMAT);
	ck_assert_msg(strstr(err, "not a yopo compare report"), "%s", err);
	testutil_tmpdir_free(tmp);
}
END_TEST

static bool gnuplot_on_path(void)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX];
	for (const char *p = path ? path : ""; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(dir, sizeof dir, "%.*s/gnuplot", (int)n, p);
		if (access(dir, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

START_TEST(test_plot_without_shell)
{
	const char *const *argv = report_plot_argv();
	ck_assert_str_eq(argv[0], "gnuplot");
	ck_assert_str_eq(argv[1], "plot.gp");
	ck_assert_ptr_null(argv[2]);
	char *tmp = testutil_tmpdir_new("report");
	char dir[PATH_MAX], p[PATH_MAX + 64], err[ERR_MAX], cwd[PATH_MAX];
	testutil_path_join(dir, sizeof dir, tmp, "it's \"q\";touch INJECTED;'");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(tmp), 0); /* where a shell would have run touch */
	struct report r = sample_report();
	int rc = report_plot(dir, &r, err, sizeof err);
	ck_assert_int_eq(chdir(cwd), 0);
	if (gnuplot_on_path()) {
		ck_assert_msg(rc == REPORT_OK, "%s", err);
		testutil_path_join(p, sizeof p, dir, "plot.png");
		ck_assert(testutil_path_exists(p));
	} else {
		ck_assert_int_eq(rc, REPORT_ERR_PLOT);
	}
	testutil_path_join(p, sizeof p, tmp, "INJECTED");
	ck_assert(!testutil_path_exists(p));
	testutil_path_join(p, sizeof p, dir, "INJECTED");
	ck_assert(!testutil_path_exists(p));
	/* the script names only relative files; the model's quote is doubled for gnuplot */
	testutil_path_join(p, sizeof p, dir, "plot.gp");
	char *gp = testutil_file_read(p, NULL);
	ck_assert_ptr_null(strstr(gp, tmp));
	ck_assert_ptr_nonnull(strstr(gp, "set output 'plot.png'"));
	ck_assert_ptr_nonnull(strstr(gp, "'yopo compare: models/it''s on text \"q\".txt (dense perplexity 4.000)'"));
	ck_assert_ptr_nonnull(strstr(gp, "'plot.dat' index 4 using 1:2:3 with yerrorlines lw 2 pt 6 "
					 "lc rgb '#9467bd' dt 2 title 'ken (weights)'"));
	ck_assert_ptr_nonnull(strstr(gp, "4 with lines lw 2 dt 3 lc rgb 'black' title 'dense (4.000)'"));
	free(gp);
	/* dense block, then per series: the dense point and the ratio means */
	testutil_path_join(p, sizeof p, dir, "plot.dat");
	char *dat = testutil_file_read(p, NULL);
	ck_assert_msg(starts_with(dat, "# dense\n0 4 0 0 0 1000\n\n\n# random-rows\n0 4 0 0 0 1000\n"
				    "0.25 9 1 0.5 0.1 850\n0.5 14 2 1 0.2 850\n\n\n"), "%s", dat);
	free(dat);
	/* the three report files, written atomically */
	ck_assert_int_eq(report_write_all(dir, &r, rc == REPORT_OK, err, sizeof err), REPORT_OK);
	ck_assert_int_eq(testutil_dir_count(dir), rc == REPORT_OK ? 6 : 5);
	testutil_tmpdir_free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_csv);
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_md);
	tcase_add_test(tc, test_read_back);
	tcase_add_test(tc, test_plot_without_shell);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
