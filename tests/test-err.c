/* Tests for util/err: reasons are formatted, truncated to the buffer, prefixed, and always one
 * printable line (control bytes of quoted untrusted text become '?'). */
#include <check.h>
#include <string.h>

#include "err.h"
#include "testutil.h"

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
	tcase_add_test(tc, test_set_and_prefix);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
