/* Tests for util/sha256: the FIPS 180-2 / NIST example vectors and the file helper. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "file.h"
#include "sha256.h"
#include "testutil.h"

static const struct vector {
	const char *msg;
	const char *hex;
} vectors[] = {
	{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	/* 448 bits: padding needs a second block */
	{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	/* 896 bits */
	{"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
	 "mnopqrstnopqrstu",
	 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

START_TEST(test_vectors)
{
	const struct vector *v = &vectors[_i];
	char hex[SHA256_HEX_BYTES];
	util_sha256_hex(hex, v->msg, strlen(v->msg));
	ck_assert_str_eq(hex, v->hex);
}
END_TEST

START_TEST(test_million_a)
{
	char *msg = malloc(1000000);
	ck_assert_ptr_nonnull(msg);
	memset(msg, 'a', 1000000);
	char hex[SHA256_HEX_BYTES];
	util_sha256_hex(hex, msg, 1000000);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(msg);
}
END_TEST

START_TEST(test_bytes)
{
	/* 3 x (0..255): value computed with Python's hashlib */
	unsigned char big[768];
	for (int i = 0; i < 768; i++)
		big[i] = (unsigned char)i;
	char hex[SHA256_HEX_BYTES];
	util_sha256_hex(hex, big, sizeof big);
	ck_assert_str_eq(hex, "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363");
}
END_TEST

START_TEST(test_file)
{
	char *dir = testutil_tmpdir_new("sha");
	char path[1024];
	testutil_path_join(path, sizeof path, dir, "f.bin");
	testutil_file_write(path, "abc", 3);
	char hex[SHA256_HEX_BYTES] = "untouched";
	char err[ERR_MAX];
	ck_assert_int_eq(util_sha256_file_hex(hex, path, err, sizeof err), UTIL_OK);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	unlink(path);
	char missing[SHA256_HEX_BYTES] = "untouched";
	ck_assert_int_eq(util_sha256_file_hex(missing, path, err, sizeof err), UTIL_ERR_IO);
	ck_assert_str_eq(missing, "untouched");
	ck_assert_ptr_nonnull(strstr(err, "f.bin"));
	/* a directory is refused before any read */
	ck_assert_int_eq(util_sha256_file_hex(missing, dir, err, sizeof err), UTIL_ERR_NOT_REGULAR);
	ck_assert_str_eq(missing, "untouched");
	testutil_tmpdir_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_vectors, 0, (int)(sizeof vectors / sizeof vectors[0]));
	tcase_add_test(tc, test_million_a);
	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_file);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
