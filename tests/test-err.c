/* Tests for util/err and util/clock: err_set writes a truncated one-line reason and returns the
 * status, NULL or empty buffers are skipped; err_prefix prepends; util_now is monotonic;
 * util_format_duration's three ranges. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "testutil.h"

START_TEST(test_err_set)
{
	char err[ERR_MAX] = "old";
	ck_assert_int_eq(err_set(err, sizeof err, -7, "%s: %d", "layer", 3), -7);
	ck_assert_str_eq(err, "layer: 3");
	ck_assert_int_eq(err_set(NULL, 99, -2, "ignored"), -2);
	char tiny[5] = "abcd";
	ck_assert_int_eq(err_set(tiny, 0, -3, "x"), -3);
	ck_assert_str_eq(tiny, "abcd"); /* errlen 0: untouched */
	ck_assert_int_eq(err_set(tiny, sizeof tiny, -3, "123456789"), -3);
	ck_assert_str_eq(tiny, "1234"); /* truncated, still terminated */
	ck_assert_int_eq(err_prefix(err, sizeof err, -4, "model %s", "m"), -4);
	ck_assert_str_eq(err, "model m: layer: 3");
}
END_TEST

START_TEST(test_clock)
{
	double a = util_now(), b = util_now();
	ck_assert(a > 0 && b >= a);
	char buf[32];
	ck_assert_str_eq(util_format_duration(buf, sizeof buf, 12.34), "12.3 s");
	ck_assert_str_eq(util_format_duration(buf, sizeof buf, 245), "4 min 05 s");
	ck_assert_str_eq(util_format_duration(buf, sizeof buf, 7620), "2 h 07 min");
	ck_assert_str_eq(util_format_duration(buf, sizeof buf, NAN), "?");
	ck_assert_str_eq(util_format_duration(buf, sizeof buf, -1), "?");
}
END_TEST

START_TEST(test_set_and_prefix)
{
	char err[ERR_MAX] = "";
	ck_assert_int_eq(err_set(err, sizeof err, -3, "%s: bad value \"%s\"", "cfg", "a\nb\x1b[2J\x7f"), -3);
	ck_assert_str_eq(err, "cfg: bad value \"a?b?[2J?\"");
	ck_assert_int_eq(err_prefix(err, sizeof err, -4, "load %s", "m\r"), -4);
	ck_assert_str_eq(err, "load m?: cfg: bad value \"a?b?[2J?\"");
	char small[6];
	err_set(small, sizeof small, -1, "%s", "abcdefgh");
	ck_assert_str_eq(small, "abcde");
	ck_assert_int_eq(err_set(NULL, 0, -7, "x"), -7); /* no buffer: status only */
	/* UTF-8 stays: only control bytes are replaced */
	err_set(err, sizeof err, -1, "%s", "caf\xc3\xa9\t");
	ck_assert_str_eq(err, "caf\xc3\xa9?");
	err_clean(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("err");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_err_set);
	tcase_add_test(tc, test_clock);
	tcase_add_test(tc, test_set_and_prefix);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
