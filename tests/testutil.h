/* testutil: the file-system helpers the Check tests share — temporary directories, recursive
 * removal, whole-file reads, writes and copies, path joining, and where the committed fixtures
 * and the shared real checkpoints are.
 *
 * For use inside Check tests only: every helper checks what it does with ck_assert*, so a
 * failure (a file that cannot be opened, a path that does not fit, ...) is an assertion failure
 * of the running test, never a return value to check. Nothing here is thread-safe. */
#ifndef YOPO_TESTUTIL_H
#define YOPO_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Runs argv (NULL-terminated; argv[0] a path, no shell) with stdin from /dev/null, stdout into
 * out_path and stderr into err_path (NULL: into out_path too), both truncated; waits for it and
 * returns its wait status. */
int testutil_spawn(const char *const *argv, const char *out_path, const char *err_path);

/* A new empty directory $TMPDIR/yopo-<tag>-XXXXXX (/tmp when TMPDIR is unset or empty), made
 * with mkdtemp. The caller owns the returned name and releases both the directory and the name
 * with testutil_tmpdir_free. */
char *testutil_tmpdir_new(const char *tag);

/* Removes dir and everything below it (testutil_tree_remove) and frees the name, which must
 * come from testutil_tmpdir_new. */
void testutil_tmpdir_free(char *dir);

/* rm -r path: a directory is emptied depth-first and removed, anything else (files, symlinks)
 * unlinked. Uses lstat and never follows a symlink, so a link to a directory outside the tree
 * removes only the link. path must exist and every removal must succeed. */
void testutil_tree_remove(const char *path);

/* buf = "dir/name"; the result must fit in cap bytes (with its NUL). */
void testutil_path_join(char *buf, size_t cap, const char *dir, const char *name);

/* "dir/name" in a new buffer the caller frees with free(). */
char *testutil_path_new(const char *dir, const char *name);

/* Whether path exists (lstat: a dangling symlink exists). */
bool testutil_path_exists(const char *path);

/* The number of entries of directory dir, "." and ".." not counted. */
int testutil_dir_count(const char *dir);

/* The whole content of path in a new buffer the caller frees with free(), with a NUL after the
 * last byte (not counted). *len (when len is not NULL) is set to the number of bytes read. */
char *testutil_file_read(const char *path, size_t *len);

/* Creates or truncates path and writes the len bytes at data to it (data may be NULL when len
 * is 0). */
void testutil_file_write(const char *path, const void *data, size_t len);

/* Fails the test unless a_dir/name and b_dir/name hold the same bytes. */
void testutil_assert_same_file(const char *a_dir, const char *b_dir, const char *name);

/* Copies the file from to the file to (created or truncated). */
void testutil_file_copy(const char *from, const char *to);

/* The committed fixtures directory: $YOPO_FIXTURES, else "fixtures" (the tests run in tests/).
 * The string is not to be freed. */
const char *testutil_fixtures(void);

/* The directory of the real checkpoints and texts: $YOPO_SHARED, else "../../shared" (the
 * project's ../shared seen from tests/, as meson sets it). The string is not to be freed; the
 * directory may be absent, and tests that need it skip then (see testutil_shared_present). */
const char *testutil_shared(void);

/* Whether testutil_shared() exists and is a directory. */
bool testutil_shared_present(void);

/* Runs every test of s (Check's CK_NORMAL output) and returns the process exit code: failure
 * if any test failed; else 77 (meson's "skipped") when uses_shared and the shared real
 * checkpoints are absent, since the tests that need them could not run; else success. Frees s. */
/* ids (n) = deterministic token ids in [0, vocab) from a 64-bit LCG seeded with seed. */
void testutil_fill_ids(int *ids, size_t n, int vocab, unsigned long long seed);

struct Suite;
int testutil_run(struct Suite *s, bool uses_shared);

#endif
