/* Tests for prune/sha256: the FIPS 180-2 / NIST example vectors, incremental feeding split at
 * every offset around block boundaries, and the file helper. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	sha256_hex(hex, v->msg, strlen(v->msg));
	ck_assert_str_eq(hex, v->hex);
}
END_TEST

START_TEST(test_million_a)
{
	char *msg = malloc(1000000);
	ck_assert_ptr_nonnull(msg);
	memset(msg, 'a', 1000000);
	char hex[SHA256_HEX_BYTES];
	sha256_hex(hex, msg, 1000000);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* the same fed in uneven pieces */
	struct sha256_ctx ctx;
	unsigned char d[SHA256_DIGEST_BYTES];
	sha256_init(&ctx);
	size_t off = 0, step = 1;
	while (off < 1000000) {
		size_t n = 1000000 - off < step ? 1000000 - off : step;
		sha256_update(&ctx, msg + off, n);
		off += n;
		step = step * 7 % 131 + 1;
	}
	sha256_final(&ctx, d);
	ck_assert_uint_eq(d[0], 0xcd);
	ck_assert_uint_eq(d[1], 0xc7);
	ck_assert_uint_eq(d[31], 0xd0);
	free(msg);
}
END_TEST

/* Every split point of messages around the 55/56/64-byte padding edges equals the one-shot hash. */
START_TEST(test_incremental_splits)
{
	unsigned char msg[200];
	for (int i = 0; i < 200; i++)
		msg[i] = (unsigned char)(i * 37 + 11);
	static const size_t lens[] = {55, 56, 57, 63, 64, 65, 119, 120, 128, 200};
	for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
		size_t len = lens[li];
		char one[SHA256_HEX_BYTES];
		sha256_hex(one, msg, len);
		for (size_t cut = 0; cut <= len; cut++) {
			struct sha256_ctx ctx;
			unsigned char d[SHA256_DIGEST_BYTES];
			char two[SHA256_HEX_BYTES];
			sha256_init(&ctx);
			sha256_update(&ctx, msg, cut);
			sha256_update(&ctx, msg + cut, len - cut);
			sha256_final(&ctx, d);
			for (int i = 0; i < SHA256_DIGEST_BYTES; i++)
				snprintf(two + 2 * i, 3, "%02x", d[i]);
			ck_assert_str_eq(two, one);
		}
	}
	/* 3 x (0..255): value computed with Python's hashlib */
	unsigned char big[768];
	for (int i = 0; i < 768; i++)
		big[i] = (unsigned char)i;
	char hex[SHA256_HEX_BYTES];
	sha256_hex(hex, big, sizeof big);
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
	ck_assert_int_eq(sha256_file_hex(hex, path), SHA256_OK);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	unlink(path);
	char missing[SHA256_HEX_BYTES] = "untouched";
	ck_assert_int_eq(sha256_file_hex(missing, path), SHA256_ERR_IO);
	ck_assert_str_eq(missing, "untouched");
	/* a directory opens but cannot be read */
	ck_assert_int_eq(sha256_file_hex(missing, dir), SHA256_ERR_IO);
	ck_assert_str_eq(sha256_strerror(SHA256_ERR_IO), "cannot read the file");
	testutil_tmpdir_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_vectors, 0, (int)(sizeof vectors / sizeof vectors[0]));
	tcase_add_test(tc, test_million_a);
	tcase_add_test(tc, test_incremental_splits);
	tcase_add_test(tc, test_file);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
