/* Tests for util/output: temporary directories honour the umask, stale temporary siblings of dead
 * runs are removed (and only those), the output lock fails a second holder with one line and is
 * freed when its holder dies, and closing a stream on a full device is an error. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "file.h"
#include "output.h"
#include "testutil.h"

static const mode_t umasks[] = {022, 027, 077, 0};

START_TEST(test_temp_dir_umask)
{
	char *dir = testutil_tmpdir_new("out");
	char out[PATH_MAX], buf[PATH_MAX], prefix[PATH_MAX + 64], err[ERR_MAX];
	testutil_path_join(out, sizeof out, dir, "pruned");
	mode_t old = umask(umasks[_i]);
	ck_assert_int_eq(util_temp_dir_new(buf, sizeof buf, out, _i % 2 ? "old" : "tmp", err, sizeof err), 0);
	umask(old);
	snprintf(prefix, sizeof prefix, "%s.%s-%ld-", out, _i % 2 ? "old" : "tmp", (long)getpid());
	ck_assert_int_eq(strncmp(buf, prefix, strlen(prefix)), 0);
	ck_assert_uint_eq(strlen(buf), strlen(prefix) + 6);
	struct stat sb;
	ck_assert_int_eq(stat(buf, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0777 & ~umasks[_i]);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_temp_dir_errors)
{
	char buf[PATH_MAX] = "untouched", small[16] = "untouched", err[ERR_MAX];
	ck_assert_int_eq(util_temp_dir_new(buf, sizeof buf, "x", "bak", err, sizeof err), UTIL_ERR_ARG);
	ck_assert_int_eq(util_temp_dir_new(buf, sizeof buf, "", "tmp", err, sizeof err), UTIL_ERR_ARG);
	ck_assert_int_eq(util_temp_dir_new(small, sizeof small, "/tmp/a-long-name", "tmp", err, sizeof err),
			 UTIL_ERR_ARG);
	ck_assert_int_eq(util_temp_dir_new(buf, sizeof buf, "/nonexistent/yopo/out", "tmp", err, sizeof err),
			 UTIL_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/yopo/out.tmp-"));
	ck_assert_str_eq(buf, "untouched");
	ck_assert_str_eq(small, "untouched");
}
END_TEST

/* A PID that no process has: a child that has exited and been reaped. */
static long dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return (long)pid;
}

static void make_entry(const char *dir, const char *name, bool is_dir)
{
	char path[PATH_MAX], inner[PATH_MAX];
	testutil_path_join(path, sizeof path, dir, name);
	if (is_dir) {
		ck_assert_int_eq(mkdir(path, 0755), 0);
		testutil_path_join(inner, sizeof inner, path, "model.safetensors");
		testutil_file_write(inner, "data", 4);
	} else {
		testutil_file_write(path, "data", 4);
	}
}

static bool entry_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	testutil_path_join(path, sizeof path, dir, name);
	return testutil_path_exists(path);
}

START_TEST(test_remove_stale)
{
	char *dir = testutil_tmpdir_new("out");
	long dead = dead_pid(), me = (long)getpid();
	char out[PATH_MAX], err[ERR_MAX];
	testutil_path_join(out, sizeof out, dir, "pruned");
	ck_assert_int_eq(mkdir(out, 0755), 0);
	struct { char name[96]; bool is_dir, gone; } e[] = {
		{"", true, true}, {"", true, true}, {"", false, true},   /* stale: removed */
		{"", true, false}, {"", true, false}, {"", true, false}, /* alive, other base, bad form */
		{"", false, false}, {"", true, false},
	};
	snprintf(e[0].name, sizeof e[0].name, "pruned.tmp-%ld-a1B2c3", dead);
	snprintf(e[1].name, sizeof e[1].name, "pruned.old-%ld-zzzzzz", dead);
	snprintf(e[2].name, sizeof e[2].name, ".pruned.tmp.%ld.7", dead);
	snprintf(e[3].name, sizeof e[3].name, "pruned.tmp-%ld-a1B2c3", me);
	snprintf(e[4].name, sizeof e[4].name, "pruned.tmp-1-a1B2c3"); /* init is alive */
	snprintf(e[5].name, sizeof e[5].name, "other.tmp-%ld-a1B2c3", dead);
	snprintf(e[6].name, sizeof e[6].name, ".pruned.tmp.%ld.x", dead);
	snprintf(e[7].name, sizeof e[7].name, "pruned.tmp-%ld-abc", dead);
	int n = (int)(sizeof e / sizeof e[0]);
	for (int i = 0; i < n; i++)
		make_entry(dir, e[i].name, e[i].is_dir);
	int removed = -1;
	/* trailing slash on the output: the same siblings */
	char slash[PATH_MAX + 2];
	snprintf(slash, sizeof slash, "%s/", out);
	ck_assert_int_eq(util_remove_stale_temps(&removed, slash, err, sizeof err), 0);
	ck_assert_int_eq(removed, 3);
	for (int i = 0; i < n; i++)
		ck_assert_msg(entry_exists(dir, e[i].name) == !e[i].gone, "%s", e[i].name);
	ck_assert(entry_exists(dir, "pruned"));
	testutil_tmpdir_free(dir);
}
END_TEST

/* An "old" directory of a run killed between its renames is the only copy: it stays while the
 * output is missing; entries of another user stay too. */
START_TEST(test_stale_kept)
{
	char *dir = testutil_tmpdir_new("out");
	long dead = dead_pid();
	char out[PATH_MAX], name[96], err[ERR_MAX];
	testutil_path_join(out, sizeof out, dir, "pruned");
	snprintf(name, sizeof name, "pruned.old-%ld-zzzzzz", dead);
	make_entry(dir, name, true);
	int removed = -1;
	ck_assert_int_eq(util_remove_stale_temps(&removed, out, err, sizeof err), 0);
	ck_assert_int_eq(removed, 0);
	ck_assert(entry_exists(dir, name));
	if (geteuid() == 0) {
		char path[PATH_MAX];
		snprintf(name, sizeof name, "pruned.tmp-%ld-zzzzzz", dead);
		make_entry(dir, name, true);
		testutil_path_join(path, sizeof path, dir, name);
		ck_assert_int_eq(lchown(path, 12345, 12345), 0);
		ck_assert_int_eq(util_remove_stale_temps(&removed, out, err, sizeof err), 0);
		ck_assert_int_eq(removed, 0);
		ck_assert(entry_exists(dir, name));
	}
	ck_assert_int_eq(util_remove_stale_temps(NULL, "/nonexistent/yopo/out", err, sizeof err),
			 UTIL_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/yopo"));
	ck_assert_int_eq(util_remove_stale_temps(NULL, "/", err, sizeof err), UTIL_ERR_ARG);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_lock)
{
	char *dir = testutil_tmpdir_new("out");
	char out[PATH_MAX], lockpath[PATH_MAX + 8], err[ERR_MAX] = "", want[64];
	testutil_path_join(out, sizeof out, dir, "pruned");
	snprintf(lockpath, sizeof lockpath, "%s.lock", out);
	int ready[2];
	ck_assert_int_eq(pipe(ready), 0);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) { /* holds the lock until killed */
		struct util_lock *l = NULL;
		char c = util_lock_open(&l, out, NULL, 0) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c = 0;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	struct util_lock *l = (struct util_lock *)0x1;
	ck_assert_int_eq(util_lock_open(&l, out, err, sizeof err), UTIL_ERR_LOCKED);
	ck_assert_ptr_eq(l, (struct util_lock *)0x1);
	snprintf(want, sizeof want, "another yopo run (pid %ld) is writing", (long)child);
	ck_assert_msg(strstr(err, want) && strstr(err, lockpath), "%s", err);
	/* the holder dies without cleaning up: its stale lock file no longer locks */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	ck_assert(testutil_path_exists(lockpath));
	l = NULL;
	ck_assert_int_eq(util_lock_open(&l, out, err, sizeof err), 0);
	snprintf(want, sizeof want, "%ld\n", (long)getpid());
	char *text = testutil_file_read(lockpath, NULL);
	ck_assert_str_eq(text, want);
	free(text);
	util_lock_close(l);
	ck_assert(!testutil_path_exists(lockpath));
	util_lock_close(NULL);
	/* a symlink planted as the lock file is not followed */
	ck_assert_int_eq(symlink("victim", lockpath), 0);
	ck_assert_int_eq(util_lock_open(&l, out, err, sizeof err), UTIL_ERR_IO);
	ck_assert(!entry_exists(dir, "victim"));
	close(ready[0]);
	close(ready[1]);
	testutil_tmpdir_free(dir);
}
END_TEST

/* Runs util_close_stdout in a child whose stdout is path after printing text; returns the
 * child's status code and its reason in err. */
static int close_stdout_on(const char *path, const char *text, char *err, size_t errlen)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(99);
		fputs(text, stdout);
		char e[ERR_MAX] = "";
		int rc = util_close_stdout(e, sizeof e);
		if (write(p[1], e, strlen(e)) < 0)
			_exit(98);
		_exit(-rc);
	}
	close(p[1]);
	ssize_t n = read(p[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return -WEXITSTATUS(status);
}

START_TEST(test_close_stdout)
{
	char err[ERR_MAX];
	ck_assert_int_eq(close_stdout_on("/dev/full", "hello\n", err, sizeof err), UTIL_ERR_IO);
	ck_assert_str_eq(err, "error writing standard output: No space left on device");
	ck_assert_int_eq(close_stdout_on("/dev/null", "hello\n", err, sizeof err), 0);
	ck_assert_str_eq(err, "");
	/* more than a buffer: the error comes from an earlier write */
	static char big[1 << 17];
	memset(big, 'x', sizeof big - 1);
	ck_assert_int_eq(close_stdout_on("/dev/full", big, err, sizeof err), UTIL_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, "error writing standard output: "));
	/* util_file_close on a log */
	FILE *f = fopen("/dev/full", "w");
	ck_assert_ptr_nonnull(f);
	fputs("log line\n", f);
	ck_assert_int_eq(util_file_close(f, "train.log", err, sizeof err), UTIL_ERR_IO);
	ck_assert_str_eq(err, "error writing train.log: No space left on device");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("output");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_temp_dir_umask, 0, (int)(sizeof umasks / sizeof umasks[0]));
	tcase_add_test(tc, test_temp_dir_errors);
	tcase_add_test(tc, test_remove_stale);
	tcase_add_test(tc, test_stale_kept);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_close_stdout);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
