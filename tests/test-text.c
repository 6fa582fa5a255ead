/* Tests for pipeline/text: the one BOS rule (config.json's id when within the vocabulary, else
 * the tokenizer's), BOS-prefixed encoding with extra room, file errors, and model
 * opening errors; calibration uses the same encoding (select.h). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "synth.h"
#include "testutil.h"
#include "text.h"

struct fixture {
	char *tmp, dir[PATH_MAX];
	struct model *m;
	struct tokenizer *tok;
};

/* A small synthetic llama with its byte-level tokenizer (<|endoftext|> = 256 is BOS and EOS). */
static void open_fixture(struct fixture *f)
{
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.hidden = 16;
	spec.ffn = 24;
	spec.n_heads = 4;
	spec.n_kv_heads = 2;
	f->tmp = testutil_tmpdir_new("text");
	testutil_path_join(f->dir, sizeof f->dir, f->tmp, "model");
	ck_assert_int_eq(synth_write(f->dir, &spec), SYNTH_OK);
	char err[ERR_MAX];
	ck_assert_msg(text_open_model(&f->m, &f->tok, f->dir, err, sizeof err) == TEXT_OK, "%s", err);
}

static void close_fixture(struct fixture *f)
{
	tokenizer_free(f->tok);
	model_close(f->m);
	testutil_tmpdir_free(f->tmp);
}

/* config bos_token_id -> the BOS used: in range it wins, out of range or absent the tokenizer's. */
static const struct {
	int config_bos, expect;
} bos_cases[] = {
	{5, 5}, {0, 0}, {-1, 256}, {1 << 20, 256}, {-7, 256},
};

START_TEST(test_bos_rule)
{
	struct fixture f;
	open_fixture(&f);
	ck_assert_int_lt(f.m->cfg.vocab, 1 << 20); /* 1 << 20 is out of this vocabulary */
	f.m->cfg.bos_id = bos_cases[_i].config_bos;
	ck_assert_int_eq(text_bos_id(f.m, f.tok), bos_cases[_i].expect);
	int *ids = NULL, *enc = NULL;
	size_t n = 0, n_enc = 0;
	char err[ERR_MAX] = "";
	ck_assert_int_eq(text_encode(&ids, &n, f.m, f.tok, "Max ran.", 8, 4, err, sizeof err), TEXT_OK);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(tokenizer_encode(f.tok, "Max ran.", 8, &enc, &n_enc), 0);
	ck_assert_uint_eq(n, n_enc + 1);
	ck_assert_int_eq(ids[0], bos_cases[_i].expect);
	ck_assert_int_eq(memcmp(ids + 1, enc, n_enc * sizeof *enc), 0);
	ids[n + 3] = 7; /* the extra room exists (ASan would catch an overflow) */
	free(enc);
	free(ids);
	/* a file goes through the same encoding */
	char path[PATH_MAX];
	testutil_path_join(path, sizeof path, f.tmp, "t.txt");
	testutil_file_write(path, "Max ran.", 8);
	ck_assert_int_eq(text_encode_file(&ids, &n, f.m, f.tok, path, err, sizeof err), TEXT_OK);
	ck_assert_uint_eq(n, n_enc + 1);
	ck_assert_int_eq(ids[0], bos_cases[_i].expect);
	free(ids);
	close_fixture(&f);
}
END_TEST

/* File errors: each its own status, the reason names the file. */
START_TEST(test_file_errors)
{
	struct fixture f;
	open_fixture(&f);
	char missing[PATH_MAX], empty[PATH_MAX], err[ERR_MAX];
	testutil_path_join(missing, sizeof missing, f.tmp, "missing.txt");
	testutil_path_join(empty, sizeof empty, f.tmp, "empty.txt");
	testutil_file_write(empty, "", 0);
	int *ids = NULL;
	size_t n = 0;
	ck_assert_int_eq(text_encode_file(&ids, &n, f.m, f.tok, missing, err, sizeof err), TEXT_ERR_IO);
	ck_assert_msg(strstr(err, "missing.txt") && strstr(err, "cannot read"), "%s", err);
	ck_assert_int_eq(text_encode_file(&ids, &n, f.m, f.tok, empty, err, sizeof err), TEXT_ERR_EMPTY);
	ck_assert_msg(strstr(err, "empty.txt") && strstr(err, "empty"), "%s", err);
	ck_assert_int_eq(text_check_file(f.tmp, err, sizeof err), TEXT_ERR_IO); /* a directory */
	ck_assert_int_eq(text_check_file(missing, err, sizeof err), TEXT_ERR_IO);
	ck_assert_ptr_null(ids);
	/* models */
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	ck_assert_int_eq(text_open_model(&m, &tok, missing, err, sizeof err), TEXT_ERR_MODEL);
	ck_assert_msg(strstr(err, "not a model directory"), "%s", err);
	char path[PATH_MAX];
	testutil_path_join(path, sizeof path, f.dir, "tokenizer.json");
	ck_assert_int_eq(remove(path), 0);
	ck_assert_int_eq(text_open_model(&m, &tok, f.dir, err, sizeof err), TEXT_ERR_MODEL);
	ck_assert_msg(strstr(err, "tokenizer.json"), "%s", err);
	ck_assert_ptr_null(m);
	close_fixture(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_bos_rule, 0, (int)(sizeof bos_cases / sizeof bos_cases[0]));
	tcase_add_test(tc, test_file_errors);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
