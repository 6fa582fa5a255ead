/* Tests for pipeline/stream: the streamed text equals the decoding of generate_greedy's tokens,
 * the prompt comes first, and prompt and model errors are distinct. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "stream.h"
#include "synth.h"
#include "testutil.h"
#include "text.h"

struct sink {
	char buf[4096];
	size_t len;
	int calls;
};

static int collect(void *ctx, const char *text, size_t len)
{
	struct sink *s = ctx;
	ck_assert_uint_lt(s->len + len, sizeof s->buf);
	memcpy(s->buf + s->len, text, len);
	s->len += len;
	s->calls++;
	return 0;
}

/* A sink whose second non-empty write fails as a full disk does. */
static int refuse(void *ctx, const char *text, size_t len)
{
	(void)text;
	if (++((struct sink *)ctx)->calls > 1 && len > 0) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

START_TEST(test_stream)
{
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.max_pos = 32;
	char *tmp = testutil_tmpdir_new("stream"), dir[PATH_MAX], err[ERR_MAX];
	testutil_path_join(dir, sizeof dir, tmp, "model");
	ck_assert_int_eq(synth_write(dir, &spec), SYNTH_OK);
	struct sink s = {.len = 0};
	struct generate_result r;
	ck_assert_msg(stream_generate(&r, dir, "Max", 6, collect, &s, err, sizeof err) == STREAM_OK,
		      "%s", err);
	/* independently: the same greedy tokens, decoded at once */
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	ck_assert_int_eq(text_open_model(&m, &tok, dir, err, sizeof err), TEXT_OK);
	int *ids = NULL;
	size_t n = 0;
	ck_assert_int_eq(text_encode(&ids, &n, m, tok, "Max", 3, 6, err, sizeof err), TEXT_OK);
	struct generate_result g;
	ck_assert_int_eq(generate_greedy(&g, m, tok, text_eos_id(m, tok), ids, n, 6, NULL, NULL, err,
					 sizeof err), GENERATE_OK);
	ck_assert_int_eq(g.generated, r.generated);
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(tokenizer_decode(tok, ids + 1, n - 1 + (size_t)g.generated, 1, &text, &len), 0);
	ck_assert_uint_eq(s.len, len);
	ck_assert_int_eq(memcmp(s.buf, text, len), 0);
	ck_assert_int_eq(memcmp(s.buf, "Max", 3), 0);
	free(text);
	free(ids);
	/* errors: prompt past the context, callback refusing, missing model */
	char long_prompt[64];
	memset(long_prompt, 'a', 40);
	long_prompt[40] = '\0';
	ck_assert_int_eq(stream_generate(&r, dir, long_prompt, 4, collect, &s, err, sizeof err),
			 STREAM_ERR_PROMPT);
	ck_assert_msg(strstr(err, "context is 32"), "%s", err);
	struct sink z = {.len = 0};
	/* a failing sink is a write error with its errno, not a decoding failure (issue 13, 9) */
	ck_assert_int_eq(stream_generate(&r, dir, "Max", 6, refuse, &z, err, sizeof err),
			 STREAM_ERR_OUTPUT);
	ck_assert_msg(strstr(err, "cannot write") && strstr(err, strerror(ENOSPC)), "%s", err);
	testutil_path_join(long_prompt, sizeof long_prompt, tmp, "absent");
	ck_assert_int_eq(stream_generate(&r, long_prompt, "", 4, collect, &s, err, sizeof err),
			 STREAM_ERR_MODEL);
	tokenizer_free(tok);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_stream);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
