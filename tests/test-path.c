/* Tests for util/path: the output-safety rule in every combination (equal, inside, contains,
 * symlinks both ways, dangling symlinks, hard links, outputs not created yet, relative paths,
 * ".."), the paths that must pass, and path_resolve / path_normalize themselves. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "path.h"
#include "testutil.h"

/* The tree every case runs in (the test's working directory):
 *   in/{model.safetensors,config.json}  other/  blob/x  elsewhere/f
 *   link_to_in -> in          link_to_file -> in/model.safetensors
 *   dangling -> in/new.bin    hard (hard link of in/config.json)
 *   outdir/s -> in            in2/model.safetensors -> ../blob/x
 *   D/S -> ../elsewhere       loop_a -> loop_b -> loop_a        in-copy/ */
static char *make_tree(void)
{
	char *dir = testutil_tmpdir_new("path");
	ck_assert_int_eq(chdir(dir), 0);
	const char *dirs[] = {"in", "other", "blob", "elsewhere", "outdir", "in2", "D", "in-copy"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
		ck_assert_int_eq(mkdir(dirs[i], 0755), 0);
	const char *files[] = {"in/model.safetensors", "in/config.json", "blob/x", "elsewhere/f"};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		testutil_file_write(files[i], "x", 1);
	const char *links[][2] = {
		{"in", "link_to_in"},           {"in/model.safetensors", "link_to_file"},
		{"in/new.bin", "dangling"},     {"../in", "outdir/s"},
		{"../blob/x", "in2/model.safetensors"}, {"../elsewhere", "D/S"},
		{"loop_b", "loop_a"},           {"loop_a", "loop_b"},
	};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++)
		ck_assert_int_eq(symlink(links[i][0], links[i][1]), 0);
	ck_assert_int_eq(link("in/config.json", "hard"), 0);
	return dir;
}

struct overlap_case {
	const char *what, *out, *in, *in2; /* in2: a second input (NULL: none) */
	int rc;
	const char *needle; /* in the reason; NULL when rc is 0 */
};

static const struct overlap_case cases[] = {
	{"equal", "in/model.safetensors", "in/model.safetensors", NULL, PATH_ERR_OVERLAP, "' is input '"},
	{"equal dirs, trailing slash", "in/", "in", NULL, PATH_ERR_OVERLAP, "' is input '"},
	{"new file under input dir", "in/out.bin", "in", NULL, PATH_ERR_OVERLAP, "lies inside input 'in'"},
	{"new dirs under input dir", "in/a/b/c", "in", NULL, PATH_ERR_OVERLAP, "lies inside"},
	{"output contains input", "other/..", "in", NULL, PATH_ERR_OVERLAP, "'other/..' contains input 'in'"},
	{"output is a symlink to the input", "link_to_file", "in/model.safetensors", NULL, PATH_ERR_OVERLAP, "' is input '"},
	{"output through a symlinked dir", "link_to_in/new.bin", "in", NULL, PATH_ERR_OVERLAP, "lies inside"},
	{"input named through a symlink", "in/x", "link_to_in", NULL, PATH_ERR_OVERLAP, "lies inside"},
	{"input symlink equals output dir", "in", "link_to_in", NULL, PATH_ERR_OVERLAP, "' is input '"},
	{"dangling symlink into input", "dangling", "in", NULL, PATH_ERR_OVERLAP, "lies inside"},
	{"hard link of the input", "hard", "in/config.json", NULL, PATH_ERR_OVERLAP, "'hard' is input"},
	{"output dir holds symlink to input", "outdir", "in", NULL, PATH_ERR_OVERLAP, "/outdir/s' into input 'in'"},
	{"input dir holds symlink to output", "blob/x", "in2", NULL, PATH_ERR_OVERLAP, "input 'in2' holds symlink"},
	{"input symlink's dir is the output", "blob", "in2", NULL, PATH_ERR_OVERLAP, "holds symlink"},
	{"input through symlink inside output", "D", "D/S/f", NULL, PATH_ERR_OVERLAP, "'D' contains input 'D/S/f'"},
	{"dotdot back into input", "other/../in/x", "in", NULL, PATH_ERR_OVERLAP, "lies inside"},
	{"second input", "in/x", "other", "in", PATH_ERR_OVERLAP, "input 'in'"},
	{"symlink loop", "loop_a/x", "in", NULL, PATH_ERR_LOOP, "symlinks"},
	{"empty output", "", "in", NULL, PATH_ERR_ARG, "empty"},
	{"sibling dir", "other/out.bin", "in", NULL, 0, NULL},
	{"common string prefix", "in-copy/x", "in", NULL, 0, NULL},
	{"dotdot out of input", "in/../other/x", "in", NULL, 0, NULL},
	{"new output beside input file", "in.bin", "in/model.safetensors", NULL, 0, NULL},
	{"symlinked dir to elsewhere", "D/S/g", "in", NULL, 0, NULL},
	{"input absent", "other/x", "missing/in", NULL, 0, NULL},
};

START_TEST(test_overlap)
{
	const struct overlap_case *c = &cases[_i];
	char *dir = make_tree();
	const char *outs[] = {NULL, c->out};
	const char *ins[] = {c->in, NULL, c->in2};
	char err[ERR_MAX] = "";
	int rc = path_check_outputs(outs, 2, ins, 3, err, sizeof err);
	ck_assert_msg(rc == c->rc, "%s: rc %d, want %d (%s)", c->what, rc, c->rc, err);
	if (c->needle) {
		ck_assert_msg(strstr(err, c->needle), "%s: '%s' lacks '%s'", c->what, err, c->needle);
		ck_assert(!strchr(err, '\n'));
	} else {
		ck_assert_str_eq(err, "");
	}
	testutil_tmpdir_free(dir);
}
END_TEST

/* The same check with absolute paths on one side only. */
START_TEST(test_absolute_against_relative)
{
	char *dir = make_tree();
	char real[PATH_MAX], out[PATH_MAX + 16], err[ERR_MAX];
	ck_assert_ptr_nonnull(realpath(".", real));
	snprintf(out, sizeof out, "%s/in/x", real);
	const char *outs[] = {out}, *ins[] = {"in"};
	ck_assert_int_eq(path_check_outputs(outs, 1, ins, 1, err, sizeof err), PATH_ERR_OVERLAP);
	ck_assert_ptr_nonnull(strstr(err, "lies inside"));
	const char *ok[] = {"other"};
	ck_assert_int_eq(path_check_outputs(outs, 1, ok, 1, err, sizeof err), 0);
	testutil_tmpdir_free(dir);
}
END_TEST

struct resolve_case {
	const char *path, *want; /* want: relative to the tree's real path */
};

static const struct resolve_case resolves[] = {
	{"in", "/in"},
	{"./in//model.safetensors", "/in/model.safetensors"},
	{"link_to_in/sub/../a", "/in/a"},
	{"link_to_file", "/in/model.safetensors"},
	{"dangling", "/in/new.bin"},
	{"in2/model.safetensors", "/blob/x"},
	{"D/S/f", "/elsewhere/f"},
	{"missing/../in", "/in"},
	{"in/model.safetensors/deeper", "/in/model.safetensors/deeper"},
};

START_TEST(test_resolve)
{
	char *dir = make_tree();
	char real[PATH_MAX], want[2 * PATH_MAX], got[PATH_MAX] = "", err[ERR_MAX];
	ck_assert_ptr_nonnull(realpath(".", real));
	snprintf(want, sizeof want, "%s%s", real, resolves[_i].want);
	ck_assert_int_eq(path_resolve(got, sizeof got, resolves[_i].path, err, sizeof err), 0);
	ck_assert_str_eq(got, want);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_normalize_and_errors)
{
	char *dir = make_tree();
	char cwd[PATH_MAX], want[2 * PATH_MAX], got[PATH_MAX], err[ERR_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	/* lexical: the symlink is not followed */
	snprintf(want, sizeof want, "%s/link_to_in/a", cwd);
	ck_assert_int_eq(path_normalize(got, sizeof got, "x/../link_to_in/./a/", err, sizeof err), 0);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(path_normalize(got, sizeof got, "/../..//", err, sizeof err), 0);
	ck_assert_str_eq(got, "/");
	char small[4] = "abc";
	ck_assert_int_eq(path_resolve(small, sizeof small, "in", err, sizeof err), PATH_ERR_ARG);
	ck_assert_str_eq(small, "abc"); /* untouched on failure */
	ck_assert_ptr_nonnull(strstr(err, "too long"));
	ck_assert_int_eq(path_resolve(got, sizeof got, "loop_a", err, sizeof err), PATH_ERR_LOOP);
	ck_assert_int_eq(path_resolve(got, sizeof got, NULL, err, sizeof err), PATH_ERR_ARG);
	/* an unreadable component is an I/O error, not a silent pass (root reads anything) */
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod("other", 0), 0);
		ck_assert_int_eq(path_resolve(got, sizeof got, "other/x", err, sizeof err), PATH_ERR_IO);
		ck_assert_int_eq(chmod("other", 0755), 0);
	}
	testutil_tmpdir_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("path");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_overlap, 0, (int)(sizeof cases / sizeof cases[0]));
	tcase_add_test(tc, test_absolute_against_relative);
	tcase_add_loop_test(tc, test_resolve, 0, (int)(sizeof resolves / sizeof resolves[0]));
	tcase_add_test(tc, test_normalize_and_errors);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
