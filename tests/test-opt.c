/* Tests for util/opt: one table of command lines parsed against one option table (both
 * --flag=value and --flag value, short names, every type, range errors, unknown options with and
 * without a suggestion, missing values, required options, the common table), the strict number
 * parsers, opt_closest and the displayed command line, and the exact --help text. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "opt.h"
#include "testutil.h"

/* Every destination of the test table, reset before each row. */
static struct values {
	const char *model, *mode;
	long n;
	double x, r;
	unsigned long long seed;
	int verbose, common_flag;
	struct opt_doubles ratios;
	struct opt_strings names, paths;
} v;

static const struct opt opts[] = {
	{"model", 'm', OPT_STRING, &v.model, 0, 0, "DIR", "input\ndirectory", NULL, true},
	{"n", 'n', OPT_LONG, &v.n, 1, 10, "N", "a count", NULL, false},
	{"x", 0, OPT_DOUBLE, &v.x, -1, 1, "X", "a number", NULL, false},
	{"ratio", 0, OPT_RATIO, &v.r, 0, 0, "R", "a ratio", NULL, false},
	{"seed", 0, OPT_SEED, &v.seed, 0, 0, "S", "a seed", NULL, false},
	{"mode", 0, OPT_CHOICE, &v.mode, 0, 0, "M", "a choice", "fast,slow", false},
	{"verbose", 'v', OPT_FLAG, &v.verbose, 0, 0, NULL, "a flag", NULL, false},
	{"ratios", 0, OPT_RATIOS, &v.ratios, 0, 0, "LIST", "ratios", NULL, false},
	{"names", 0, OPT_STRINGS, &v.names, 0, 0, "LIST", "names", NULL, false},
	{"path", 0, OPT_REPEAT, &v.paths, 0, 0, "P", "paths", NULL, false},
};
static const struct opt common[] = {
	{"loud", 'l', OPT_FLAG, &v.common_flag, 0, 0, NULL, "shared by every command", NULL, false},
};
static const struct opt_prog prog = {"prog", common, 1};
static const struct opt_cmd cmd = {"sub", "Does things.", opts, 10};

static const struct {
	int result;
	const char *args; /* space-separated, after the command name */
	const char *err;  /* exact reason on OPT_ERR_USAGE */
} rows[] = {
	/* parsed; both forms, and the short names, store the same values */
	{OPT_OK, "--model d", NULL},
	{OPT_OK, "--model=d --n=7 --x -0.5 --ratio=0.25 --seed 12 --mode slow -v", NULL},
	{OPT_OK, "-m d -n 7 --x=-0.5 --ratio 0.25 --seed=12 --mode=slow --verbose", NULL},
	{OPT_OK, "--model d --ratios 0.1,0.2 --ratios=0.3 --names a,b --path x,y --path z -l",
	 NULL},
	/* --help stops the parse */
	{OPT_HELP, "--model d --help --bogus", NULL},
	{OPT_HELP, "-h", NULL},
	/* numbers: strict decimal, in range */
	{OPT_ERR_USAGE, "--model d --n 11", "--n: 11 is out of range [1, 10]"},
	{OPT_ERR_USAGE, "--model d --n=0x3", "--n: '0x3' is not an integer"},
	{OPT_ERR_USAGE, "--model d --x 1.5", "--x: 1.5 is out of range [-1, 1]"},
	{OPT_ERR_USAGE, "--model d --x nan", "--x: 'nan' is not a number"},
	{OPT_ERR_USAGE, "--model d --ratio 1",
	 "--ratio: 1 is out of range: a ratio lies strictly between 0 and 1"},
	{OPT_ERR_USAGE, "--model d --seed -1",
	 "--seed: -1 is out of range [0, 9223372036854775807]"},
	/* words and lists */
	{OPT_ERR_USAGE, "--model d --mode medium", "--mode: 'medium' is not one of fast,slow"},
	{OPT_ERR_USAGE, "--model d --ratios 0.1,,0.2", "--ratios: empty item in '0.1,,0.2'"},
	/* the shape of the command line */
	{OPT_ERR_USAGE, "--model d --verbose=1", "--verbose takes no value"},
	{OPT_ERR_USAGE, "--model", "--model needs a value (DIR)"},
	{OPT_ERR_USAGE, "--model d stray", "unexpected argument 'stray'"},
	{OPT_ERR_USAGE, "--n 3", "--model is required (see prog sub --help)"},
	/* unknown options: the closest name (common ones included) or the help hint */
	{OPT_ERR_USAGE, "--modell d", "unknown option '--modell' (did you mean --model?)"},
	{OPT_ERR_USAGE, "--model d --lod", "unknown option '--lod' (did you mean --loud?)"},
	{OPT_ERR_USAGE, "--zzzzzzzz", "unknown option '--zzzzzzzz' (see prog sub --help)"},
};

/* Splits args into argv (argv[0] = "sub") inside buf. */
static int split(char **argv, char *buf, size_t cap, const char *args)
{
	snprintf(buf, cap, "%s", args);
	int argc = 0;
	argv[argc++] = "sub";
	for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
		argv[argc++] = t;
	return argc;
}

START_TEST(test_table)
{
	char buf[256], *argv[32], err[ERR_MAX] = "";
	memset(&v, 0, sizeof v);
	v.n = 5;
	int argc = split(argv, buf, sizeof buf, rows[_i].args);
	int rc = opt_parse(&prog, &cmd, argc, argv, err, sizeof err);
	ck_assert_msg(rc == rows[_i].result, "row %d (%s): %d", _i, rows[_i].args, rc);
	if (rows[_i].err)
		ck_assert_str_eq(err, rows[_i].err);
	if (_i == 0) { /* defaults stay */
		ck_assert_str_eq(v.model, "d");
		ck_assert_int_eq(v.n, 5);
		ck_assert_int_eq(v.verbose, 0);
	}
	if (_i == 1 || _i == 2) { /* both forms store the same values */
		ck_assert_str_eq(v.model, "d");
		ck_assert_int_eq(v.n, 7);
		ck_assert_double_eq(v.x, -0.5);
		ck_assert_double_eq(v.r, 0.25);
		ck_assert_uint_eq(v.seed, 12);
		ck_assert_str_eq(v.mode, "slow");
		ck_assert_int_eq(v.verbose, 1);
	}
	if (_i == 3) { /* lists append; a repeat keeps its commas */
		ck_assert_int_eq(v.ratios.n, 3);
		ck_assert_double_eq(v.ratios.v[2], 0.3);
		ck_assert_int_eq(v.names.n, 2);
		ck_assert_str_eq(v.names.v[1], "b");
		ck_assert_int_eq(v.paths.n, 2);
		ck_assert_str_eq(v.paths.v[0], "x,y");
		ck_assert_int_eq(v.common_flag, 1);
	}
}
END_TEST

START_TEST(test_help_text)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	opt_help(&prog, &cmd, f);
	fclose(f);
	const char *want =
		"usage: prog sub --model DIR [options]\n"
		"Does things.\n"
		"  -m, --model DIR            input\n"
		"                             directory\n"
		"  -n, --n N                  a count\n"
		"      --x X                  a number\n"
		"      --ratio R              a ratio\n"
		"      --seed S               a seed\n"
		"      --mode M               a choice\n"
		"  -v, --verbose              a flag\n"
		"      --ratios LIST          ratios\n"
		"      --names LIST           names\n"
		"      --path P               paths\n"
		"  -l, --loud                 shared by every command\n"
		"  -h, --help                 this text\n";
	ck_assert_str_eq(text, want);
	free(text);
}
END_TEST

START_TEST(test_numbers)
{
	char err[ERR_MAX];
	long l = 99;
	double d = 99;
	ck_assert_int_eq(opt_parse_long(&l, " 3", 0, 9, err, sizeof err), -1);
	ck_assert_int_eq(l, 99); /* untouched on failure */
	ck_assert_int_eq(opt_parse_long(&l, "-3", -5, 9, err, sizeof err), 0);
	ck_assert_int_eq(l, -3);
	ck_assert_int_eq(opt_parse_double(&d, "1e400", 0, 1, err, sizeof err), -1);
	ck_assert_str_eq(err, "'1e400' is not a number");
	ck_assert_int_eq(opt_parse_double(&d, "2.5e-1", 0, 1, err, sizeof err), 0);
	ck_assert_double_eq(d, 0.25);
	ck_assert_int_eq(opt_parse_ratio(&d, "0", err, sizeof err), -1);
	ck_assert_double_eq(d, 0.25);
	static const char *const names[] = {"prune", "train", "compare"};
	ck_assert_str_eq(opt_closest("trian", names, 3), "train");
	ck_assert_str_eq(opt_closest("compre", names, 3), "compare");
	ck_assert_ptr_null(opt_closest("xyzxyzxyz", names, 3));
	/* the displayed command line: quotes where a shell would need them, truncated to fit */
	char *argv[] = {"sub", "--model", "a b", "--ratios=0.1,0.2", "", "it's"};
	char line[128], small[12];
	opt_command_line(line, sizeof line, "prog", 6, argv);
	ck_assert_str_eq(line, "prog sub --model 'a b' --ratios=0.1,0.2 '' 'it's'");
	opt_command_line(small, sizeof small, "prog", 6, argv);
	ck_assert_str_eq(small, "prog sub --");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("opt");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_help_text);
	tcase_add_test(tc, test_numbers);
	tcase_add_loop_test(tc, test_table, 0, (int)(sizeof rows / sizeof rows[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
