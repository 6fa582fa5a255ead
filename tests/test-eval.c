/* Tests for eval/: eval_nll_sum on hand-computed rows (incl. logits that overflow a naive
 * softmax), eval_perplexity against the protocol re-implemented here (one forward_run per window,
 * -log softmax summed by a separate loop) and against the float64 NumPy logits of a family
 * fixture, the window counting rules, argument errors, FLOPs of two fixtures computed by hand,
 * and the size and speed measures. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "eval.h"
#include "forward.h"
#include "json.h"
#include "model.h"
#include "testmodel.h"
#include "testutil.h"

/* ---- helpers ---- */

/* The protocol of eval.h written out independently: windows start at multiples of seq_len, a
 * window runs while at least two ids remain, at most cap windows (0: no cap); each window is
 * one forward_run from position 0 and every row but the last is scored against the next id
 * with -log softmax computed directly (the fixtures' logits are small, so no max shift is
 * needed; asserted). */
struct ref_result {
	double nll_sum;
	size_t tokens, windows;
};

static struct ref_result ref_protocol(struct forward *f, const struct model *m, const int *ids,
				      size_t n_ids, int seq_len, size_t cap)
{
	int vocab = m->cfg.vocab;
	float *logits = malloc((size_t)seq_len * (size_t)vocab * sizeof *logits);
	ck_assert_ptr_nonnull(logits);
	struct ref_result r = {0, 0, 0};
	for (size_t start = 0; start + 1 < n_ids && (cap == 0 || r.windows < cap);
	     start += (size_t)seq_len) {
		size_t len = n_ids - start;
		if (len > (size_t)seq_len)
			len = (size_t)seq_len;
		ck_assert_int_eq(forward_run(f, logits, ids + start, (int)len, 0), 0);
		for (size_t t = 0; t + 1 < len; t++) {
			const float *row = logits + t * (size_t)vocab;
			double z = 0;
			for (int i = 0; i < vocab; i++) {
				ck_assert(fabs(row[i]) < 50);
				z += exp((double)row[i]);
			}
			r.nll_sum += log(z) - (double)row[ids[start + t + 1]];
			r.tokens++;
		}
		r.windows++;
	}
	free(logits);
	return r;
}

/* ---- eval_nll_sum ---- */

/* One row of vocab 3; expected NLL written from the closed form of -log softmax. */
struct nll_case {
	float logits[3];
	int target;
	double expected;
};

START_TEST(test_nll_rows)
{
	/* -log(e^a_t / Σ e^a_i) = log Σ e^(a_i - a_t) */
	const struct nll_case cases[] = {
		{{0, 0, 0}, 1, log(3.0)},
		{{1, 2, 3}, 2, log(1 + exp(-1.0) + exp(-2.0))},
		{{1, 2, 3}, 0, log(1 + exp(1.0) + exp(2.0))},
		{{-2.5f, 0.5f, 4}, 1, log(exp(-3.0) + 1 + exp(3.5))},
		/* naive exp overflows (e^1000) or underflows (e^-1000 = 0 -> log 0) */
		{{1000, 1000, 1000}, 0, log(3.0)},
		{{-1000, -1000, -1000}, 2, log(3.0)},
		{{1000, 0, -1000}, 1, 1000 + log(1 + exp(-1000.0))},
		{{1000, 0, -1000}, 0, log(1 + exp(-1000.0))},
		{{3e38f, 0, 0}, 0, 0},
		{{3e38f, 0, 0}, 2, (double)3e38f},
		{{-3e38f, 0, 0}, 1, log(2.0)},
	};
	const int n = (int)(sizeof cases / sizeof cases[0]);
	double total = 0;
	float all[3 * 16];
	int targets[16];
	for (int i = 0; i < n; i++) {
		double got = eval_nll_sum(cases[i].logits, &cases[i].target, 1, 3);
		ck_assert_msg(isfinite(got), "case %d: %g", i, got);
		ck_assert_double_eq_tol(got, cases[i].expected, 1e-12 * fmax(1, fabs(cases[i].expected)));
		memcpy(all + 3 * i, cases[i].logits, sizeof cases[i].logits);
		targets[i] = cases[i].target;
		total += cases[i].expected;
	}
	/* several rows at once: the sum of the rows' NLLs */
	ck_assert_double_eq_tol(eval_nll_sum(all, targets, n, 3), total, 1e-12 * fabs(total));
	ck_assert_double_eq(eval_nll_sum(all, targets, 0, 3), 0);
}
END_TEST

START_TEST(test_nll_wide_row)
{
	/* vocab 1000, every logit equal except the target: log(999 e^0 + e^d) - d */
	enum { V = 1000 };
	float row[V];
	for (int i = 0; i < V; i++)
		row[i] = 0;
	const double ds[] = {0, 5, -5, 80, -80};
	for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
		int target = (int)(k * 211 % V);
		row[target] = (float)ds[k];
		double expected = log((V - 1) + exp(ds[k])) - ds[k];
		ck_assert_double_eq_tol(eval_nll_sum(row, &target, 1, V), expected, 1e-10);
		row[target] = 0;
	}
}
END_TEST

/* ---- eval_perplexity ---- */

/* Window counting: hand-counted windows and predicted tokens for seq_len 8 unless stated. */
struct window_case {
	size_t n_ids;
	int seq_len;
	size_t max_windows;
	size_t windows, tokens;
};

static const struct window_case window_cases[] = {
	{17, 8, 0, 2, 14},  /* 2·seq+1: two full windows, the 1-id remainder predicts nothing */
	{18, 8, 0, 3, 15},  /* 2·seq+2: the 2-id remainder is a window with one prediction */
	{16, 8, 0, 2, 14},  /* exact multiple */
	{2, 8, 0, 1, 1},    /* shortest text */
	{5, 8, 0, 1, 4},    /* one partial window */
	{40, 8, 3, 3, 21},  /* cap below the 5 windows */
	{40, 8, 10, 5, 35}, /* cap above: all 5 */
	{41, 8, 0, 5, 35},  /* 5 full + dropped 1 */
	{5, 2, 0, 2, 2},    /* seq 2: [0,1] [2,3], id 4 alone is dropped */
	{129, 64, 0, 2, 126}, /* seq == the model's context */
	{130, 64, 1, 1, 63},
};

struct progress_log {
	size_t calls, last_done, total;
	int ordered;
};

static void on_progress(void *ctx, size_t done, size_t total)
{
	struct progress_log *p = ctx;
	if (done != p->last_done + 1 || (p->calls && total != p->total))
		p->ordered = 0;
	p->calls++;
	p->last_done = done;
	p->total = total;
}

START_TEST(test_perplexity_windows)
{
	const struct window_case *c = &window_cases[_i];
	struct model *m = testmodel_open_family("llama_gqa");
	ck_assert_int_eq(m->cfg.vocab, 40);
	ck_assert_int_eq(m->cfg.max_pos, 64);
	int *ids = malloc(c->n_ids * sizeof *ids);
	ck_assert_ptr_nonnull(ids);
	testutil_fill_ids(ids, c->n_ids, m->cfg.vocab, 1234 + (uint64_t)_i);
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, c->seq_len), 0);

	struct progress_log plog = {0, 0, 0, 1};
	struct eval_result r;
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, c->n_ids, c->seq_len, c->max_windows,
					 on_progress, &plog), EVAL_OK);
	ck_assert_uint_eq(r.windows, c->windows);
	ck_assert_uint_eq(r.tokens, c->tokens);
	ck_assert_uint_eq(plog.calls, c->windows);
	ck_assert_uint_eq(plog.total, c->windows);
	ck_assert(plog.ordered);

	struct ref_result ref = ref_protocol(f, m, ids, c->n_ids, c->seq_len, c->max_windows);
	ck_assert_uint_eq(ref.windows, c->windows);
	ck_assert_uint_eq(ref.tokens, c->tokens);
	double nll = ref.nll_sum / (double)ref.tokens;
	/* the same float logits summed in double: only summation order may differ */
	ck_assert_double_eq_tol(r.nll, nll, 1e-12 * fmax(1, nll));
	ck_assert_double_eq_tol(r.perplexity, exp(nll), 1e-10 * exp(nll));
	/* random ids under a near-uniform random model: NLL near log(40) = 3.69 */
	ck_assert(r.nll > 1 && r.nll < 8);
	ck_assert(r.seconds >= 0 && r.tokens_per_s >= 0);

	forward_free(f);
	free(ids);
	model_close(m);
}
END_TEST

/* NLL of the fixture's 10 tokens from the float64 NumPy logits in expected.json (tools/ref,
 * independent of forward.c): one window of 10, so 9 predictions. */
static double numpy_nll(const char *family, int **tokens_out, int *n_out)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/families/%s/expected.json", testutil_fixtures(), family);
	size_t n;
	char *text = testutil_file_read(path, &n);
	ck_assert(n > 0);
	struct cJSON *root = json_parse(text, n);
	free(text);
	ck_assert_ptr_nonnull(root);
	const struct cJSON *toks = json_get(root, "tokens");
	const struct cJSON *rows = json_get(root, "logits");
	ck_assert(json_type(toks) == JSON_TYPE_ARRAY && json_type(rows) == JSON_TYPE_ARRAY);
	int nt = json_count(toks);
	ck_assert_int_eq(json_count(rows), nt);
	int *tokens = malloc((size_t)nt * sizeof *tokens);
	ck_assert_ptr_nonnull(tokens);
	for (int i = 0; i < nt; i++)
		tokens[i] = (int)json_number(json_at(toks, i));
	double sum = 0;
	for (int t = 0; t + 1 < nt; t++) {
		const struct cJSON *row = json_at(rows, t);
		double z = 0;
		for (const struct cJSON *v = json_child(row); v; v = json_next(v))
			z += exp(json_number(v));
		sum += log(z) - json_number(json_at(row, tokens[t + 1]));
	}
	json_free(root);
	*tokens_out = tokens;
	*n_out = nt;
	return sum / (nt - 1);
}

START_TEST(test_perplexity_numpy)
{
	static const char *const families[] = {"llama_gqa", "gpt_neo"};
	const char *fam = families[_i];
	int *tokens, nt;
	double expected = numpy_nll(fam, &tokens, &nt);
	ck_assert_int_eq(nt, 10);
	struct model *m = testmodel_open_family(fam);
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, nt), 0);
	struct eval_result r;
	ck_assert_int_eq(eval_perplexity(&r, f, m, tokens, (size_t)nt, nt, 0, NULL, NULL), EVAL_OK);
	ck_assert_uint_eq(r.windows, 1);
	ck_assert_uint_eq(r.tokens, 9);
	/* float32 forward vs float64 reference */
	ck_assert_double_eq_tol(r.nll, expected, 1e-5);
	ck_assert_double_eq_tol(r.perplexity, exp(expected), 1e-5 * exp(expected));
	forward_free(f);
	model_close(m);
	free(tokens);
}
END_TEST

START_TEST(test_perplexity_errors)
{
	struct model *m = testmodel_open_family("llama_gqa");
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, 16), 0);
	int ids[64];
	testutil_fill_ids(ids, 64, m->cfg.vocab, 99);
	struct eval_result sentinel, r;
	memset(&sentinel, 0xA5, sizeof sentinel);
	r = sentinel;

	/* too few ids for one prediction */
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 1, 8, 0, NULL, NULL), EVAL_ERR_EMPTY);
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 0, 8, 0, NULL, NULL), EVAL_ERR_EMPTY);
	/* seq_len below 2 cannot predict anything */
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 20, 1, 0, NULL, NULL), EVAL_ERR_ARG);
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 20, 0, 0, NULL, NULL), EVAL_ERR_ARG);
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 20, -4, 0, NULL, NULL), EVAL_ERR_ARG);
	ck_assert_int_eq(eval_perplexity(&r, f, m, NULL, 20, 8, 0, NULL, NULL), EVAL_ERR_ARG);
	/* windows longer than the forward's cache */
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 64, 32, 0, NULL, NULL), EVAL_ERR_FORWARD);
	/* an id outside the vocabulary, in the second window */
	ids[10] = m->cfg.vocab;
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 20, 8, 0, NULL, NULL), EVAL_ERR_FORWARD);
	/* no failure wrote the result */
	ck_assert_int_eq(memcmp(&r, &sentinel, sizeof r), 0);
	/* the bad id is not reached when the cap stops after the first window */
	ck_assert_int_eq(eval_perplexity(&r, f, m, ids, 20, 8, 1, NULL, NULL), EVAL_OK);
	ck_assert_uint_eq(r.windows, 1);
	ck_assert_uint_eq(r.tokens, 7);

	forward_free(f);
	model_close(m);
}
END_TEST

START_TEST(test_strerror)
{
	const int codes[] = {EVAL_OK, EVAL_ERR_EMPTY, EVAL_ERR_NOMEM, EVAL_ERR_FORWARD,
			     EVAL_ERR_ARG};
	const int n = (int)(sizeof codes / sizeof codes[0]);
	const char *unknown = eval_strerror(-100);
	ck_assert_ptr_nonnull(unknown);
	for (int i = 0; i < n; i++) {
		const char *s = eval_strerror(codes[i]);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, unknown);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(s, eval_strerror(codes[j]));
	}
}
END_TEST

/* ---- eval_flops_per_token ----
 *
 * The formula of eval.h, per layer l with hidden H, q width Q = n_heads·head_dim, kv width
 * K = n_kv_heads·head_dim, FFN width F_l, window w_l (0: global):
 *   MACs_l = H·(Q + 2K) + Q·H                       q, k, v, o projections
 *          + H·F_l·(gated ? 3 : 2)                  up, (gate), down
 *          + 2·Q·keys_l                             q·k and p·v
 *   keys_l = (1/S)·Σ_{i=1..S} (w_l > 0 ? min(i, w_l) : i)   mean keys seen at length S
 * FLOPs = 2·(Σ_l MACs_l + H·vocab)                   (LM head included, 2 FLOPs per MAC). */

struct flops_case {
	const char *family;
	int seq_len;
	double flops;
};

static const struct flops_case flops_cases[] = {
	/* llama_gqa: H 16, Q 16, K 8, F 24 gated, 2 layers, vocab 40.
	 * fixed part per layer 16·32 + 256 + 16·24·3 = 1920; LM head 640. */
	{"llama_gqa", 1, 2 * (2 * (1920 + 32 * 1.0) + 640)},      /* keys 1 */
	{"llama_gqa", 8, 2 * (2 * (1920 + 32 * 4.5) + 640)},      /* keys 36/8 = 4.5 -> 9536 */
	{"llama_gqa", 64, 2 * (2 * (1920 + 32 * 32.5) + 640)},    /* keys 65/2 -> 13120 */
	/* gpt_neo: H 16, Q = K = 16, F 64 (4·H), not gated, layer 0 global, layer 1 window 4,
	 * vocab 40 (tied head still costs its matmul). Fixed part per layer 16·48 + 256 + 16·64·2 =
	 * 3072; LM head 640. */
	{"gpt_neo", 2, 2 * (3072 + 32 * 1.5 + 3072 + 32 * 1.5 + 640)},      /* window not reached */
	{"gpt_neo", 4, 2 * (3072 + 32 * 2.5 + 3072 + 32 * 2.5 + 640)},      /* keys 10/4 both */
	{"gpt_neo", 8, 2 * (3072 + 32 * 4.5 + 3072 + 32 * 3.25 + 640)},     /* local (1+2+3+4·5)/8 */
	{"gpt_neo", 32, 2 * (3072 + 32 * 16.5 + 3072 + 32 * 3.8125 + 640)}, /* local (6+4·29)/32 */
};

START_TEST(test_flops)
{
	const struct flops_case *c = &flops_cases[_i];
	struct model *m = testmodel_open_family(c->family);
	/* the shapes the hand counts above assume */
	ck_assert_int_eq(m->cfg.hidden, 16);
	ck_assert_int_eq(m->cfg.n_heads * m->cfg.head_dim, 16);
	ck_assert_int_eq(m->cfg.n_layers, 2);
	ck_assert_int_eq(m->cfg.vocab, 40);
	if (!strcmp(c->family, "llama_gqa")) {
		ck_assert_int_eq(m->cfg.n_kv_heads * m->cfg.head_dim, 8);
		ck_assert(m->cfg.gated);
		ck_assert_int_eq(m->layers[0].ffn, 24);
		ck_assert_int_eq(m->cfg.window[0] + m->cfg.window[1], 0);
	} else {
		ck_assert_int_eq(m->cfg.n_kv_heads * m->cfg.head_dim, 16);
		ck_assert(!m->cfg.gated);
		ck_assert_int_eq(m->layers[0].ffn, 64);
		ck_assert_int_eq(m->cfg.window[0], 0);
		ck_assert_int_eq(m->cfg.window[1], 4);
	}
	ck_assert_double_eq_tol(eval_flops_per_token(m, c->seq_len), c->flops, 1e-9 * c->flops);
	model_close(m);
}
END_TEST

START_TEST(test_measures)
{
	/* something is resident: at least the test binary's pages */
	size_t rss = eval_peak_rss_bytes();
	ck_assert_uint_gt(rss, 1u << 20);
	/* peak RSS grows once a touched 32 MiB buffer is resident */
	size_t big = (size_t)32 << 20;
	char *buf = malloc(big);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, big);
	size_t rss2 = eval_peak_rss_bytes();
	ck_assert_uint_ge(rss2, rss);
	ck_assert_uint_ge(rss2, big);
	ck_assert_int_eq(buf[big - 1], 1);
	free(buf);

	double t0 = util_now(), t1 = util_now();
	ck_assert(t0 > 0 && t1 >= t0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("eval");
	TCase *tc = tcase_create("nll");
	tcase_add_test(tc, test_nll_rows);
	tcase_add_test(tc, test_nll_wide_row);
	suite_add_tcase(s, tc);
	tc = tcase_create("perplexity");
	tcase_add_loop_test(tc, test_perplexity_windows, 0,
			    (int)(sizeof window_cases / sizeof window_cases[0]));
	tcase_add_loop_test(tc, test_perplexity_numpy, 0, 2);
	tcase_add_test(tc, test_perplexity_errors);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	tc = tcase_create("flops");
	tcase_add_loop_test(tc, test_flops, 0, (int)(sizeof flops_cases / sizeof flops_cases[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("files");
	tcase_add_test(tc, test_measures);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
