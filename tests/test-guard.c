/* Tests for pipeline/guard: an output overlapping an input is refused before anything is
 * created, the lock refuses a second holder, and stale temporaries of dead runs are removed
 * while a live run's are kept. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "guard.h"
#include "testutil.h"

START_TEST(test_overlap)
{
	char *tmp = testutil_tmpdir_new("guard"), *in = testutil_path_new(tmp, "model"),
	     *out = testutil_path_new(in, "out"), *log = testutil_path_new(in, "log.jsonl"),
	     *ok = testutil_path_new(tmp, "out"), *lock = testutil_path_new(tmp, "out.lock");
	ck_assert_int_eq(mkdir(in, 0700), 0);
	const char *inputs[] = {in, NULL};
	char err[ERR_MAX];
	struct util_lock *l = NULL;
	ck_assert_int_eq(guard_open(&l, NULL, out, NULL, 0, inputs, 2, err, sizeof err),
			 GUARD_ERR_PATH);
	ck_assert_msg(strstr(err, "lies inside input"), "%s", err);
	/* the log is an output too */
	const char *extra[] = {log};
	ck_assert_int_eq(guard_open(&l, NULL, ok, extra, 1, inputs, 2, err, sizeof err),
			 GUARD_ERR_PATH);
	ck_assert_msg(strstr(err, "log.jsonl"), "%s", err);
	ck_assert_int_eq(testutil_dir_count(in), 0); /* nothing created */
	ck_assert(!testutil_path_exists(lock));
	/* a clean output: the lock exists while held, and is gone after */
	int removed = -1;
	ck_assert_int_eq(guard_open(&l, &removed, ok, NULL, 0, inputs, 2, err, sizeof err), 0);
	ck_assert_int_eq(removed, 0);
	ck_assert(testutil_path_exists(lock));
	struct util_lock *second = NULL;
	ck_assert_int_eq(guard_open(&second, NULL, ok, NULL, 0, inputs, 2, err, sizeof err),
			 GUARD_ERR_LOCKED);
	ck_assert_msg(strstr(err, "another yopo run"), "%s", err);
	util_lock_close(l);
	ck_assert(!testutil_path_exists(lock));
	free(in);
	free(out);
	free(log);
	free(ok);
	free(lock);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_stale)
{
	char *tmp = testutil_tmpdir_new("guard"), *out = testutil_path_new(tmp, "out"), name[256];
	pid_t p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(0);
	int st;
	ck_assert_int_eq(waitpid(p, &st, 0), p);
	long pids[2] = {(long)p, (long)getpid()}; /* dead, live */
	for (int k = 0; k < 2; k++) {
		snprintf(name, sizeof name, "out.tmp-%ld-abcdef", pids[k]);
		char *d = testutil_path_new(tmp, name);
		ck_assert_int_eq(mkdir(d, 0700), 0);
		free(d);
	}
	struct util_lock *l = NULL;
	int removed = -1;
	char err[ERR_MAX];
	ck_assert_int_eq(guard_open(&l, &removed, out, NULL, 0, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(removed, 1);
	for (int k = 0; k < 2; k++) {
		snprintf(name, sizeof name, "out.tmp-%ld-abcdef", pids[k]);
		char *d = testutil_path_new(tmp, name);
		ck_assert_msg(testutil_path_exists(d) == (k == 1), "%s", name);
		free(d);
	}
	util_lock_close(l);
	free(out);
	testutil_tmpdir_free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_overlap);
	tcase_add_test(tc, test_stale);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
