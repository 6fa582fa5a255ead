/* Tests of `mpirun -np N yopo train` (built only with -Dmpi and an mpirun; YOPO_EXE and
 * YOPO_MPIRUN name them): on stories260k and tinystories-instruct-3m the checkpoints of -np 1,
 * 2 and 3 are byte-identical to the one of a plain (no mpirun) run, and only rank 0 reports
 * progress; a failure on one rank — injected (YOPO_DIST_FAIL_RANK), a model path that only one
 * rank gets wrong (mpirun's per-rank argument lists), prunenet over several ranks — ends the job
 * with exactly one line from yopo and no checkpoint. Exits 77 without ../shared. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

enum { MAX_ARGS = 48 };

struct run {
	int code; /* exit status; -1 if killed by a signal */
	char *err;
	size_t n_err;
};

static const char *env_path(const char *var)
{
	const char *v = getenv(var);
	ck_assert_msg(v && *v, "%s is not set (meson sets it)", var);
	return v;
}

/* Runs argv (NULL-terminated) with stdout and stderr into tmp/stderr.txt. */
static void run(struct run *r, const char *tmp, const char *const *argv)
{
	char err_path[1024];
	testutil_path_join(err_path, sizeof err_path, tmp, "stderr.txt");
	int status = testutil_spawn(argv, err_path, NULL);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r->err = testutil_file_read(err_path, &r->n_err);
}

/* argv = [mpirun -q ... -np N] (np > 0) then yopo train with the model, ratios and out. */
static int train_argv(const char **argv, int np, const char *model, const char *out,
		      const char *extra)
{
	static char npbuf[16];
	int n = 0;
	if (np > 0) {
		snprintf(npbuf, sizeof npbuf, "%d", np);
		argv[n++] = env_path("YOPO_MPIRUN");
		argv[n++] = "-q";
		argv[n++] = "--allow-run-as-root";
		argv[n++] = "--oversubscribe";
		argv[n++] = "-np";
		argv[n++] = npbuf;
	}
	const char *train[] = {env_path("YOPO_EXE"), "train", "--model", model, "--ratio", "0.3,0.5",
			       "--episodes", "2", "--samples", "4", "--out", out};
	for (size_t i = 0; i < sizeof train / sizeof train[0]; i++)
		argv[n++] = train[i];
	if (extra)
		argv[n++] = extra;
	argv[n] = NULL;
	return n;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static const char *const models[] = {"stories260k", "tinystories-instruct-3m"};

START_TEST(test_byte_identical)
{
	char *tmp = testutil_tmpdir_new("mpi");
	char model[1024], ref[1024], out[1024];
	snprintf(model, sizeof model, "%s/models/%s", testutil_shared(), models[_i]);
	testutil_path_join(ref, sizeof ref, tmp, "ref.safetensors");
	const char *argv[MAX_ARGS];
	struct run r;
	train_argv(argv, 0, model, ref, NULL);
	run(&r, tmp, argv);
	ck_assert_msg(r.code == 0, "plain run failed: %s", r.err);
	free(r.err);
	size_t n_ref;
	char *want = testutil_file_read(ref, &n_ref);
	for (int np = 1; np <= 3; np++) {
		snprintf(out, sizeof out, "%s/np%d.safetensors", tmp, np);
		train_argv(argv, np, model, out, NULL);
		run(&r, tmp, argv);
		ck_assert_msg(r.code == 0, "%s -np %d failed: %s", models[_i], np, r.err);
		/* rank 0 alone reports: the start line, 2 episodes and the final evaluation, once */
		ck_assert_msg(count(r.err, "yopo train: arch mlp") == 1 &&
			      count(r.err, "yopo train: episode ") == 2 &&
			      count(r.err, "yopo train: wrote ") == 1,
			      "-np %d: progress not from rank 0 alone: %s", np, r.err);
		size_t n;
		char *got = testutil_file_read(out, &n);
		ck_assert_msg(n == n_ref && !memcmp(got, want, n), "%s: -np %d differs from one process",
			      models[_i], np);
		free(got);
		free(r.err);
	}
	free(want);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* A failure: non-zero exit, one line from yopo naming the failing rank, no checkpoint. */
static void assert_clean_failure(const struct run *r, const char *out, const char *expect)
{
	ck_assert_msg(r->code > 0, "exit %d, expected a failure; output: %s", r->code, r->err);
	ck_assert_msg(count(r->err, "yopo train: rank") == 1 && strstr(r->err, expect),
		      "expected one line with '%s': %s", expect, r->err);
	/* mpirun -q adds nothing: the start line (rank 0, before the failure) and the error */
	ck_assert_msg(count(r->err, "\n") <= 2, "more than the error line: %s", r->err);
	ck_assert_msg(!testutil_path_exists(out), "a checkpoint was written despite the failure");
}

START_TEST(test_injected_failure)
{
	char *tmp = testutil_tmpdir_new("mpi");
	char model[1024], out[1024];
	snprintf(model, sizeof model, "%s/models/stories260k", testutil_shared());
	testutil_path_join(out, sizeof out, tmp, "p.safetensors");
	const char *argv[MAX_ARGS];
	struct run r;
	ck_assert_int_eq(setenv("YOPO_DIST_FAIL_RANK", "1", 1), 0);
	train_argv(argv, 3, model, out, NULL);
	run(&r, tmp, argv);
	unsetenv("YOPO_DIST_FAIL_RANK");
	assert_clean_failure(&r, out, "rank 1 of 3: injected failure (YOPO_DIST_FAIL_RANK=1)");
	free(r.err);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* mpirun A : B gives rank 1 its own arguments: a model directory only it gets wrong. */
START_TEST(test_one_rank_bad_path)
{
	char *tmp = testutil_tmpdir_new("mpi");
	char model[1024], bad[1024], out[1024];
	snprintf(model, sizeof model, "%s/models/stories260k", testutil_shared());
	testutil_path_join(bad, sizeof bad, tmp, "missing-model");
	testutil_path_join(out, sizeof out, tmp, "p.safetensors");
	const char *argv[MAX_ARGS];
	int n = train_argv(argv, 1, model, out, NULL);
	argv[n++] = ":";
	const char **second = argv + n;
	train_argv(second, 1, bad, out, NULL);
	/* the second list must not repeat mpirun and its global options */
	memmove(second, second + 4, (MAX_ARGS - n - 4) * sizeof *second);
	struct run r;
	run(&r, tmp, argv);
	assert_clean_failure(&r, out, "rank 1 of 2: ");
	ck_assert_msg(strstr(r.err, "missing-model/config.json"), "no path in: %s", r.err);
	free(r.err);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_prunenet_one_process)
{
	char *tmp = testutil_tmpdir_new("mpi");
	char model[1024], out[1024];
	snprintf(model, sizeof model, "%s/models/stories260k", testutil_shared());
	testutil_path_join(out, sizeof out, tmp, "p.safetensors");
	const char *argv[MAX_ARGS];
	int n = train_argv(argv, 2, model, out, "--arch");
	argv[n++] = "prunenet";
	argv[n] = NULL;
	struct run r;
	run(&r, tmp, argv);
	assert_clean_failure(&r, out, "prunenet takes one AdamW step per layer");
	free(r.err);
	testutil_tmpdir_free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mpi");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 0);
	if (testutil_shared_present()) {
		tcase_add_loop_test(tc, test_byte_identical, 0, (int)(sizeof models / sizeof models[0]));
		tcase_add_test(tc, test_injected_failure);
		tcase_add_test(tc, test_one_rank_bad_path);
		tcase_add_test(tc, test_prunenet_one_process);
	}
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
