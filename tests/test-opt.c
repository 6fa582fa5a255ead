/* Tests for util/opt: one table of command lines parsed against one option table (both
 * --flag=value and --flag value, short names, every type, range errors, unknown options with and
 * without a suggestion, missing values, required options, the common table), the strict number
 * parsers, opt_closest, the exact --help text and the displayed command line. */
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
static const struct opt_cmd cmd = {"prog", "sub", "Does things.", opts, 10, common, 1};

static const struct {
	const char *args; /* space-separated, after the command name */
	int result;
	const char *err;  /* exact reason on OPT_ERR_USAGE */
} rows[] = {
	{"--model d", OPT_OK, NULL},
	{"--model=d --n=7 --x -0.5 --ratio=0.25 --seed 12 --mode slow -v", OPT_OK, NULL},
	{"-m d -n 7 --x=-0.5 --ratio 0.25 --seed=12 --mode=slow --verbose", OPT_OK, NULL},
	{"--model d --ratios 0.1,0.2 --ratios=0.3 --names a,b --path x,y --path z -l", OPT_OK, NULL},
	{"--model d --help --bogus", OPT_HELP, NULL},
	{"-h", OPT_HELP, NULL},
	{"--model d --n 11", OPT_ERR_USAGE, "--n: 11 is out of range [1, 10]"},
	{"--model d --n=0x3", OPT_ERR_USAGE, "--n: '0x3' is not an integer"},
	{"--model d --x 1.5", OPT_ERR_USAGE, "--x: 1.5 is out of range [-1, 1]"},
	{"--model d --x nan", OPT_ERR_USAGE, "--x: 'nan' is not a number"},
	{"--model d --ratio 1", OPT_ERR_USAGE,
	 "--ratio: 1 is out of range: a ratio lies strictly between 0 and 1"},
	{"--model d --seed -1", OPT_ERR_USAGE, "--seed: -1 is out of range [0, 9223372036854775807]"},
	{"--model d --mode medium", OPT_ERR_USAGE, "--mode: 'medium' is not one of fast,slow"},
	{"--model d --ratios 0.1,,0.2", OPT_ERR_USAGE, "--ratios: empty item in '0.1,,0.2'"},
	{"--model d --verbose=1", OPT_ERR_USAGE, "--verbose takes no value"},
	{"--model", OPT_ERR_USAGE, "--model needs a value (DIR)"},
	{"--modell d", OPT_ERR_USAGE, "unknown option '--modell' (did you mean --model?)"},
	{"--model d --lod", OPT_ERR_USAGE, "unknown option '--lod' (did you mean --loud?)"},
	{"--model d --zzzzzzzz", OPT_ERR_USAGE, "unknown option '--zzzzzzzz' (see prog sub --help)"},
	{"--model d stray", OPT_ERR_USAGE, "unexpected argument 'stray'"},
	{"--n 3", OPT_ERR_USAGE, "--model is required (see prog sub --help)"},
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
	int rc = opt_parse(&cmd, argc, argv, err, sizeof err);
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
	opt_help(&cmd, f);
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
}
END_TEST

START_TEST(test_command_line)
{
	char *argv[] = {"sub", "--model", "a b", "--ratios=0.1,0.2", "", "it's"};
	char buf[128];
	opt_command_line(buf, sizeof buf, "prog", 6, argv);
	ck_assert_str_eq(buf, "prog sub --model 'a b' --ratios=0.1,0.2 '' 'it's'");
	char small[12];
	opt_command_line(small, sizeof small, "prog", 6, argv);
	ck_assert_str_eq(small, "prog sub --");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("opt");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_table, 0, (int)(sizeof rows / sizeof rows[0]));
	tcase_add_test(tc, test_help_text);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_command_line);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
