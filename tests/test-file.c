/* Tests for util/file: whole-file reads (missing, empty, too large, binary content around buffer
 * sizes, and a directory, a FIFO and /dev/zero refused at once without blocking), new-file and
 * atomic writes, copies, recursive removal, emptiness, path joining, and that every failure
 * writes a one-line reason and leaves the outputs untouched. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "file.h"
#include "testutil.h"

/* A read that must fail with `want`: outputs untouched, a one-line reason naming the path. */
static void read_fails(const char *path, size_t max, bool allow_empty, int want)
{
	char marker = 'x', *sentinel = &marker, *out = sentinel, err[ERR_MAX] = "";
	size_t len = 12345;
	ck_assert_int_eq(util_read_file(&out, &len, path, max, allow_empty, err, sizeof err), want);
	ck_assert_ptr_eq(out, sentinel);
	ck_assert_uint_eq(len, 12345);
	ck_assert_msg(strstr(err, path) != NULL, "reason '%s' does not name %s", err, path);
	ck_assert_ptr_null(strchr(err, '\n'));
}

START_TEST(test_read_errors)
{
	char *dir = testutil_tmpdir_new("file"), path[1024];
	snprintf(path, sizeof path, "%s/missing.txt", dir);
	read_fails(path, UTIL_TEXT_MAX, false, UTIL_ERR_IO);
	snprintf(path, sizeof path, "%s/empty.txt", dir);
	testutil_file_write(path, "", 0);
	read_fails(path, UTIL_TEXT_MAX, false, UTIL_ERR_EMPTY);
	char *out = NULL, err[ERR_MAX];
	size_t len = 9;
	ck_assert_int_eq(util_read_file(&out, &len, path, UTIL_TEXT_MAX, true, err, sizeof err), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(out[0], '\0');
	free(out);
	snprintf(path, sizeof path, "%s/ten.txt", dir);
	testutil_file_write(path, "0123456789", 10);
	read_fails(path, 9, false, UTIL_ERR_TOO_LARGE);
	ck_assert_int_eq(util_read_file(&out, &len, path, 10, false, err, sizeof err), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(out, "0123456789");
	free(out);
	snprintf(path, sizeof path, "%s/sub", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	read_fails(path, UTIL_TEXT_MAX, false, UTIL_ERR_NOT_REGULAR);
	/* a FIFO with no writer would block a plain open(): refused at once instead */
	snprintf(path, sizeof path, "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	read_fails(path, UTIL_TEXT_MAX, false, UTIL_ERR_NOT_REGULAR);
	/* a device that never ends */
	read_fails("/dev/zero", UTIL_TEXT_MAX, false, UTIL_ERR_NOT_REGULAR);
	read_fails("", UTIL_TEXT_MAX, false, UTIL_ERR_ARG);
	ck_assert_str_eq(util_strerror(UTIL_ERR_NOT_REGULAR), "cannot read: not a regular file");
	ck_assert_str_eq(util_strerror(-99), "unknown file error");
	testutil_tmpdir_free(dir);
}
END_TEST

/* Binary content with NULs, sizes around typical buffer sizes. */
START_TEST(test_read_binary)
{
	char *dir = testutil_tmpdir_new("file"), path[1024];
	const size_t sizes[] = {1, 65535, 65536, 200003};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t n = sizes[k], len = 0;
		unsigned char *data = malloc(n);
		ck_assert_ptr_nonnull(data);
		uint64_t s = 7 + k;
		for (size_t i = 0; i < n; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			data[i] = i % 5 == 0 ? 0 : (unsigned char)(s >> 56);
		}
		snprintf(path, sizeof path, "%s/bin%zu", dir, k);
		testutil_file_write(path, data, n);
		char *out = NULL;
		ck_assert_int_eq(util_read_file(&out, &len, path, UTIL_TEXT_MAX, false, NULL, 0), 0);
		ck_assert_uint_eq(len, n);
		ck_assert_int_eq(memcmp(out, data, n), 0);
		ck_assert_int_eq(out[n], '\0');
		int fd = -1;
		size_t size = 0;
		ck_assert_int_eq(util_open_regular(&fd, &size, path, NULL, 0), 0);
		ck_assert_uint_eq(size, n);
		close(fd);
		free(out);
		free(data);
	}
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_writes)
{
	char *dir = testutil_tmpdir_new("file"), a[1024], b[1024], err[ERR_MAX] = "";
	ck_assert_int_eq(util_join(a, sizeof a, dir, "a.txt"), 0);
	ck_assert_int_eq(util_join(b, 4, dir, "a.txt"), -1); /* does not fit */
	ck_assert_int_eq(util_write_new_file(a, "hello", 5), 0);
	ck_assert_int_eq(util_write_new_file(a, "again", 5), -1); /* exists */
	ck_assert_int_eq(errno, EEXIST);
	size_t len;
	char *got = testutil_file_read(a, &len);
	ck_assert_str_eq(got, "hello");
	free(got);
	/* atomic replacement: new content, no temporary left beside it */
	ck_assert_int_eq(util_write_file_atomic(a, "replaced", 8, err, sizeof err), 0);
	got = testutil_file_read(a, &len);
	ck_assert_str_eq(got, "replaced");
	free(got);
	ck_assert_int_eq(testutil_dir_count(dir), 1);
	/* into a missing directory: fails, names the path, leaves nothing */
	snprintf(b, sizeof b, "%s/no/such/file", dir);
	ck_assert_int_eq(util_write_file_atomic(b, "x", 1, err, sizeof err), UTIL_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, b));
	ck_assert_int_eq(util_write_file_atomic("dir/", "x", 1, err, sizeof err), UTIL_ERR_ARG);
	ck_assert_int_eq(testutil_dir_count(dir), 1);
	ck_assert_int_eq(util_fsync_path(a, false), 0);
	ck_assert_int_eq(util_fsync_path(dir, true), 0);
	ck_assert_int_eq(util_fsync_path(b, false), -1);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_copy_remove)
{
	char *dir = testutil_tmpdir_new("file"), a[1024], b[1024], sub[1024], deep[1024];
	util_join(a, sizeof a, dir, "a.bin");
	util_join(b, sizeof b, dir, "b.bin");
	ck_assert_int_eq(util_copy_file(b, a), 1); /* missing source */
	ck_assert(!testutil_path_exists(b));
	testutil_file_write(a, "\0\1\2xyz", 6);
	ck_assert_int_eq(util_copy_file(b, a), 0);
	size_t len;
	char *got = testutil_file_read(b, &len);
	ck_assert_uint_eq(len, 6);
	ck_assert_int_eq(memcmp(got, "\0\1\2xyz", 6), 0);
	free(got);
	ck_assert_int_eq(util_copy_file(b, a), -1); /* destination exists */
	ck_assert_int_eq(util_copy_file(b, "/dev/zero"), -1); /* not a regular file */
	util_join(sub, sizeof sub, dir, "sub");
	ck_assert_int_eq(util_dir_is_empty(dir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(util_dir_is_empty(sub), 1);
	util_join(deep, sizeof deep, sub, "deep");
	ck_assert_int_eq(mkdir(deep, 0700), 0);
	util_join(deep, sizeof deep, deep, "f");
	testutil_file_write(deep, "f", 1);
	ck_assert_int_eq(util_remove_tree(sub), 0);
	ck_assert(!testutil_path_exists(sub));
	ck_assert_int_eq(util_remove_tree(sub), 0); /* a missing path is success */
	ck_assert_int_eq(util_dir_is_empty(sub), -1);
	ck_assert_int_eq(util_remove_tree(a), 0);
	ck_assert_int_eq(util_remove_tree(b), 0);
	ck_assert_int_eq(util_dir_is_empty(dir), 1);
	testutil_tmpdir_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_read_errors);
	tcase_add_test(tc, test_read_binary);
	tcase_add_test(tc, test_writes);
	tcase_add_test(tc, test_copy_remove);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
