/* testutil: the file-system helpers shared by the Check tests (see testutil.h). Every failure
 * is a ck_assert* failure of the calling test. */
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int testutil_spawn(const char *const *argv, const char *out_path, const char *err_path)
{
	posix_spawn_file_actions_t fa;
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1, out_path,
							  O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	if (err_path)
		ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, err_path,
								  O_WRONLY | O_CREAT | O_TRUNC,
								  0600), 0);
	else
		ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
	pid_t pid;
	/* posix_spawn's argv is char *const[] for historical reasons; it does not write to it */
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)(void *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(rc == 0, "posix_spawn %s: %s", argv[0], strerror(rc));
	int status;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	ck_assert_int_eq(w, pid);
	return status;
}

char *testutil_tmpdir_new(const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	size_t cap = strlen(base) + strlen(tag) + sizeof "/yopo--XXXXXX";
	char *dir = malloc(cap);
	ck_assert_ptr_nonnull(dir);
	ck_assert((size_t)snprintf(dir, cap, "%s/yopo-%s-XXXXXX", base, tag) < cap);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s failed", dir);
	return dir;
}

void testutil_tmpdir_free(char *dir)
{
	testutil_tree_remove(dir);
	free(dir);
}

void testutil_tree_remove(const char *path)
{
	struct stat sb;
	ck_assert_msg(lstat(path, &sb) == 0, "cannot stat %s", path);
	if (!S_ISDIR(sb.st_mode)) {
		ck_assert_msg(unlink(path) == 0, "cannot remove %s", path);
		return;
	}
	DIR *d = opendir(path);
	ck_assert_msg(d != NULL, "cannot open %s", path);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *child = testutil_path_new(path, e->d_name);
		testutil_tree_remove(child);
		free(child);
	}
	closedir(d);
	ck_assert_msg(rmdir(path) == 0, "cannot remove directory %s", path);
}

void testutil_path_join(char *buf, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	ck_assert_msg(n > 0 && (size_t)n < cap, "path %s/%s does not fit in %zu bytes", dir, name, cap);
}

char *testutil_path_new(const char *dir, const char *name)
{
	size_t cap = strlen(dir) + strlen(name) + 2;
	char *p = malloc(cap);
	ck_assert_ptr_nonnull(p);
	testutil_path_join(p, cap, dir, name);
	return p;
}

bool testutil_path_exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

int testutil_dir_count(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

void testutil_assert_same_file(const char *a_dir, const char *b_dir, const char *name)
{
	char *pa = testutil_path_new(a_dir, name), *pb = testutil_path_new(b_dir, name);
	size_t la = 0, lb = 0;
	char *ta = testutil_file_read(pa, &la), *tb = testutil_file_read(pb, &lb);
	ck_assert_msg(la == lb && !memcmp(ta, tb, la), "%s differs", name);
	free(ta);
	free(tb);
	free(pa);
	free(pb);
}

char *testutil_file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (n + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	ck_assert_msg(!ferror(f), "cannot read %s", path);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

void testutil_file_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	if (len)
		ck_assert_msg(fwrite(data, 1, len, f) == len, "cannot write %s", path);
	ck_assert_msg(fclose(f) == 0, "cannot close %s", path);
}

void testutil_file_copy(const char *from, const char *to)
{
	size_t len;
	char *data = testutil_file_read(from, &len);
	testutil_file_write(to, data, len);
	free(data);
}

const char *testutil_fixtures(void)
{
	const char *d = getenv("YOPO_FIXTURES");
	return d ? d : "fixtures";
}

const char *testutil_shared(void)
{
	const char *s = getenv("YOPO_SHARED");
	return s ? s : "../../shared";
}

bool testutil_shared_present(void)
{
	struct stat sb;
	return stat(testutil_shared(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

int testutil_run(Suite *s, bool uses_shared)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		return EXIT_FAILURE;
	return uses_shared && !testutil_shared_present() ? 77 : EXIT_SUCCESS;
}

void testutil_fill_ids(int *ids, size_t n, int vocab, unsigned long long seed)
{
	unsigned long long s = seed;
	for (size_t i = 0; i < n; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = (int)((s >> 33) % (unsigned long long)vocab);
	}
}
