/* Tests for model/generate: the stories260k sample sentence, stop conditions (max_tokens, EOS,
 * context end, callback), the decodable-id mask, KV-cache decoding against full recomputation,
 * and argument/forward errors with their messages. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "forward.h"
#include "generate.h"
#include "matmul.h"
#include "model.h"
#include "testutil.h"
#include "tokenizer.h"

enum { FIX_VOCAB = 40, FIX_CTX = 64, TOK_VOCAB = 30 };

/* The llama_gqa fixture (vocab 40, context 64) with a tokenizer that knows ids 0..29 only. */
struct fixture {
	struct model *m;
	struct tokenizer *tok;
	char *tmp;
};

static void fixture_open(struct fixture *fx)
{
	char dir[1024], err[ERR_MAX], json[4096], *path;
	size_t o = 0;

	snprintf(dir, sizeof dir, "%s/families/llama_gqa", testutil_fixtures());
	ck_assert_msg(model_open(&fx->m, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(fx->m->cfg.vocab, FIX_VOCAB);
	ck_assert_int_eq(fx->m->cfg.max_pos, FIX_CTX);
	o += (size_t)snprintf(json + o, sizeof json - o, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
	for (int i = 0; i < TOK_VOCAB; i++)
		o += (size_t)snprintf(json + o, sizeof json - o, "%s\"t%d\": %d", i ? ", " : "", i, i);
	snprintf(json + o, sizeof json - o, "}, \"merges\": []}}");
	fx->tmp = testutil_tmpdir_new("generate");
	path = testutil_path_new(fx->tmp, "tokenizer.json");
	testutil_file_write(path, json, strlen(json));
	ck_assert_int_eq(tokenizer_open(&fx->tok, path), 0);
	ck_assert_int_eq(tokenizer_vocab_size(fx->tok), TOK_VOCAB);
	free(path);
}

static void fixture_close(struct fixture *fx)
{
	tokenizer_free(fx->tok);
	model_close(fx->m);
	testutil_tmpdir_free(fx->tmp);
}

/* Greedy by full recomputation (no cache reuse across steps), decodable ids only. */
static void greedy_reference(const struct model *m, int *ids, size_t n, long steps)
{
	struct forward *f = NULL;
	float *logits = malloc(sizeof(float) * FIX_CTX * FIX_VOCAB);

	ck_assert_int_eq(forward_new(&f, m, FIX_CTX), 0);
	for (long s = 0; s < steps; s++, n++) {
		ck_assert_int_eq(forward_run(f, logits, ids, (int)n, 0), 0);
		const float *last = logits + (n - 1) * FIX_VOCAB;
		int best = 0;
		for (int i = 1; i < TOK_VOCAB; i++)
			if (last[i] > last[best])
				best = i;
		ids[n] = best;
	}
	forward_free(f);
	free(logits);
}

/* Cached decoding equals recomputation, single- and multi-threaded; ids >= 30 never chosen. */
START_TEST(test_matches_recompute)
{
	struct fixture fx;
	struct generate_result r;
	int ids[FIX_CTX], ref[FIX_CTX] = { 1, 5, 7 };
	char err[ERR_MAX];

	fixture_open(&fx);
	matmul_set_threads(1 + _i);
	greedy_reference(fx.m, ref, 3, 20);
	memcpy(ids, ref, 3 * sizeof *ids);
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 3, 20, NULL, NULL, err, sizeof err),
			 GENERATE_OK);
	ck_assert_int_eq(r.generated, 20);
	ck_assert(!r.hit_context);
	ck_assert(r.seconds >= 0);
	for (int i = 0; i < 23; i++) {
		ck_assert_int_eq(ids[i], ref[i]);
		ck_assert_int_lt(ids[i], TOK_VOCAB);
	}
	fixture_close(&fx);
}
END_TEST

/* Runs to the end of the context: stops there with hit_context and fills it exactly. */
START_TEST(test_context_end)
{
	struct fixture fx;
	struct generate_result r;
	int ids[FIX_CTX + 8] = { 1 };

	fixture_open(&fx);
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 1, FIX_CTX + 8, NULL, NULL, NULL, 0),
			 GENERATE_OK);
	ck_assert(r.hit_context);
	ck_assert_int_eq(r.generated, FIX_CTX - 1);
	/* max_tokens reached exactly at the context end is not "hit_context" */
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 1, FIX_CTX - 1, NULL, NULL, NULL, 0),
			 GENERATE_OK);
	ck_assert_int_eq(r.generated, FIX_CTX - 1);
	ck_assert(!r.hit_context);
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 1, 0, NULL, NULL, NULL, 0),
			 GENERATE_OK);
	ck_assert_int_eq(r.generated, 0);
	fixture_close(&fx);
}
END_TEST

/* EOS stops before it is appended: with eos = the token greedy picks third, two are generated. */
START_TEST(test_eos)
{
	struct fixture fx;
	struct generate_result r;
	int ids[16] = { 2 }, again[16] = { 2 };

	fixture_open(&fx);
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 1, 8, NULL, NULL, NULL, 0), 0);
	int eos = ids[3], first = 1;
	while (ids[first] != eos)
		first++;
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, eos, again, 1, 8, NULL, NULL, NULL, 0), 0);
	ck_assert_int_eq(r.generated, first - 1);
	ck_assert_int_eq(memcmp(again, ids, (size_t)first * sizeof *ids), 0);
	fixture_close(&fx);
}
END_TEST

struct cb_log {
	size_t calls, last_n, stop_at;
};

static int on_token(void *ctx, const int *ids, size_t n)
{
	struct cb_log *l = ctx;

	(void)ids;
	ck_assert_uint_eq(n, l->last_n + 1);
	l->last_n = n;
	return ++l->calls == l->stop_at;
}

START_TEST(test_callback)
{
	struct fixture fx;
	struct generate_result r = { -7, true, -1 };
	struct cb_log log = { 0, 2, 5 };
	int ids[32] = { 1, 3 };
	char err[ERR_MAX] = "";

	fixture_open(&fx);
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 2, 10, on_token, &log, err,
					 sizeof err), GENERATE_ERR_CALLBACK);
	ck_assert_uint_eq(log.calls, 5);
	ck_assert_ptr_nonnull(strstr(err, "callback after 5 tokens"));
	ck_assert_int_eq(r.generated, -7); /* untouched on failure */
	log = (struct cb_log){ 0, 2, 0 };
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 2, 10, on_token, &log, err,
					 sizeof err), GENERATE_OK);
	ck_assert_uint_eq(log.calls, 10);
	fixture_close(&fx);
}
END_TEST

START_TEST(test_errors)
{
	struct fixture fx;
	struct generate_result r;
	int ids[FIX_CTX + 4] = { 1 };
	char err[ERR_MAX];

	fixture_open(&fx);
	const struct {
		const struct model *m;
		const struct tokenizer *tok;
		int *ids;
		size_t n;
		long max;
		int want;
		const char *msg;
	} rows[] = {
		{ NULL, fx.tok, ids, 1, 4, GENERATE_ERR_ARG, "invalid argument" },
		{ fx.m, NULL, ids, 1, 4, GENERATE_ERR_ARG, "invalid argument" },
		{ fx.m, fx.tok, NULL, 1, 4, GENERATE_ERR_ARG, "invalid argument" },
		{ fx.m, fx.tok, ids, 0, 4, GENERATE_ERR_ARG, "invalid argument" },
		{ fx.m, fx.tok, ids, 1, -1, GENERATE_ERR_ARG, "invalid argument" },
		{ fx.m, fx.tok, ids, FIX_CTX, 1, GENERATE_ERR_ARG, "no room in the context of 64" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		err[0] = '\0';
		ck_assert_int_eq(generate_greedy(&r, rows[i].m, rows[i].tok, -1, rows[i].ids, rows[i].n,
						 rows[i].max, NULL, NULL, err, sizeof err), rows[i].want);
		ck_assert_msg(strstr(err, rows[i].msg), "row %zu: %s", i, err);
	}
	ck_assert_int_eq(generate_greedy(NULL, fx.m, fx.tok, -1, ids, 1, 4, NULL, NULL, NULL, 0),
			 GENERATE_ERR_ARG);
	ids[1] = FIX_VOCAB; /* outside the model's vocabulary */
	ck_assert_int_eq(generate_greedy(&r, fx.m, fx.tok, -1, ids, 2, 4, NULL, NULL, err, sizeof err),
			 GENERATE_ERR_FORWARD);
	ck_assert_ptr_nonnull(strstr(err, "token id out of the vocabulary"));
	fixture_close(&fx);
}
END_TEST

/* The sample llama2.c's README shows for stories260K (also checked through the CLI in test-cli). */
START_TEST(test_real_story)
{
	char dir[1024], path[1100], err[ERR_MAX];
	static const char story[] = "Once upon a time, there was a little girl named Lily.";
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct generate_result r;
	int ids[64];
	char *text = NULL;
	size_t len;

	if (access(testutil_shared(), F_OK))
		return;
	snprintf(dir, sizeof dir, "%s/models/stories260k", testutil_shared());
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(tokenizer_open(&tok, path), 0);
	ids[0] = m->cfg.bos_id;
	ck_assert_int_eq(generate_greedy(&r, m, tok, m->cfg.eos_id, ids, 1, 40, NULL, NULL, err,
					 sizeof err), GENERATE_OK);
	ck_assert_int_eq(r.generated, 40);
	ck_assert_int_eq(tokenizer_decode(tok, ids + 1, (size_t)r.generated, 1, &text, &len), 0);
	ck_assert_msg(!strncmp(text, story, strlen(story)), "generated: %s", text);
	free(text);
	tokenizer_free(tok);
	model_close(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("generate");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_matches_recompute, 0, 2);
	tcase_add_test(tc, test_context_end);
	tcase_add_test(tc, test_eos);
	tcase_add_test(tc, test_callback);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_real_story);
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
