/* Tests for pipeline/report: exact CSV lines, the JSON document (parsed back), the Markdown table,
 * and the plot: gnuplot runs without a shell in the report directory, so a directory name with
 * quotes and `;touch INJECTED;` is only a name. */
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

static struct report_row rows[3];

static struct report sample_report(void)
{
	memset(rows, 0, sizeof rows);
	rows[0] = (struct report_row){.method = "dense", .g = PRUNE_GRANULARITY_ROWS};
	rows[0].m = (struct measure){.params = 1000, .ffn_params = 600, .bytes = 4096, .flops = 2000};
	rows[0].m.eval.perplexity = 4.0;
	rows[0].m.eval.nll = 1.386294;
	rows[0].m.eval.tokens_per_s = 1234.56;
	strcpy(rows[0].m.sample, "Once upon");
	rows[1] = rows[0];
	rows[1].method = "random";
	rows[1].ratio = 0.25;
	rows[1].m.params = 850;
	rows[1].m.eval.perplexity = 5.5;
	rows[1].ks = 0.125;
	rows[1].prune_s = 0.5;
	strcpy(rows[1].m.sample, "a time");
	rows[2] = rows[1];
	rows[2].method = "ken";
	rows[2].g = PRUNE_GRANULARITY_WEIGHTS;
	rows[2].m.eval.perplexity = 4.5;
	return (struct report){"models/m", "text \"q\".txt", 1234567, 2, rows, 3};
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
	ck_assert_str_eq(csv,
		"method,granularity,ratio,params,ffn_params,bytes,flops_per_token,perplexity,"
		"delta_perplexity,tokens_per_s,prune_seconds,mean_ks,sample\n"
		"dense,-,0,1000,600,4096,2000,4.000000,0.000000,1234.6,0.000,0.000000,\"Once upon\"\n"
		"random,rows,0.25,850,600,4096,2000,5.500000,1.500000,1234.6,0.500,0.125000,\"a time\"\n"
		"ken,weights,0.25,850,600,4096,2000,4.500000,0.500000,1234.6,0.500,0.125000,\"a time\"\n");
	free(csv);
}
END_TEST

START_TEST(test_json)
{
	struct report r = sample_report();
	char *text = written(report_write_json, &r);
	struct cJSON *doc = json_parse(text, strlen(text));
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string(json_get(doc, "model")), "models/m");
	ck_assert_str_eq(json_string(json_get(doc, "text")), "text \"q\".txt");
	ck_assert_double_eq(json_number(json_get(doc, "evaluation_tokens")), 1234567);
	const struct cJSON *res = json_get(doc, "results");
	ck_assert_int_eq(json_count(res), 3);
	const struct cJSON *d = json_at(res, 0), *k = json_at(res, 2);
	ck_assert_str_eq(json_string(json_get(d, "granularity")), "dense");
	ck_assert_str_eq(json_string(json_get(k, "method")), "ken");
	ck_assert_str_eq(json_string(json_get(k, "granularity")), "weights");
	ck_assert_double_eq_tol(json_number(json_get(k, "delta_perplexity")), 0.5, 1e-12);
	ck_assert_double_eq_tol(json_number(json_get(k, "mean_ks")), 0.125, 1e-12);
	ck_assert_double_eq(json_number(json_get(k, "params")), 850);
	ck_assert_str_eq(json_string(json_get(k, "sample")), "a time");
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
	ck_assert_ptr_nonnull(strstr(md, "(1,234,567 tokens incl. BOS, first windows only"));
	ck_assert_ptr_nonnull(strstr(md, "| dense | - | 0 | 1,000 | 600 | 4,096 | 2,000 | 4.000 | +0.000 |"));
	ck_assert_ptr_nonnull(strstr(md, "| ken | weights | 0.25 | 850 | 600 | 4,096 | 2,000 | 4.500 | +0.500 |"));
	ck_assert_ptr_nonnull(strstr(md, "![perplexity against ratio](perplexity.svg)"));
	free(md);
	char buf[32];
	ck_assert_str_eq(report_group(buf, sizeof buf, 0), "0");
	ck_assert_str_eq(report_group(buf, sizeof buf, 999), "999");
	ck_assert_str_eq(report_group(buf, sizeof buf, 1000), "1,000");
	ck_assert_str_eq(report_group(buf, sizeof buf, 12345678901ULL), "12,345,678,901");
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
	ck_assert_str_eq(argv[1], "perplexity.gp");
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
		testutil_path_join(p, sizeof p, dir, "perplexity.svg");
		ck_assert(testutil_path_exists(p));
	} else {
		ck_assert_int_eq(rc, REPORT_ERR_PLOT);
	}
	testutil_path_join(p, sizeof p, tmp, "INJECTED");
	ck_assert(!testutil_path_exists(p));
	testutil_path_join(p, sizeof p, dir, "INJECTED");
	ck_assert(!testutil_path_exists(p));
	/* the script names only relative files: two series (random rows, ken weights) */
	testutil_path_join(p, sizeof p, dir, "perplexity.gp");
	char *gp = testutil_file_read(p, NULL);
	ck_assert_ptr_null(strstr(gp, tmp));
	ck_assert_ptr_nonnull(strstr(gp, "set output 'perplexity.svg'"));
	ck_assert_ptr_nonnull(strstr(gp, "'perplexity.dat' index 1 using 1:2 with linespoints title 'ken (weights)'"));
	free(gp);
	testutil_path_join(p, sizeof p, dir, "perplexity.dat");
	char *dat = testutil_file_read(p, NULL);
	ck_assert_str_eq(dat, "# random-rows\n0 4\n0.25 5.5\n\n\n# ken-weights\n0 4\n0.25 4.5\n\n\n");
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
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_md);
	tcase_add_test(tc, test_plot_without_shell);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
