/* Tests for model/forward (and the loader behind it): logits of every family against fixtures
 * computed by an independent float64 NumPy implementation (tools/ref), full-sequence vs KV-cache
 * runs, with one and two threads, observers, and argument errors; lanes decoded in lockstep
 * against each lane decoded alone. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forward.h"
#include "matmul.h"
#include "model.h"
#include "synth.h"
#include "testmodel.h"
#include "testutil.h"

/* Expected logits of a fixture: tokens (n) and either full rows (vocab) or selected indices. */
struct expected {
	int n, *tokens;
	int n_idx, *idx;  /* columns given; idx NULL -> all vocab columns */
	double *logits;   /* (n, n_idx or vocab) */
	double *lse;      /* (n) log-sum-exp of each row, or NULL */
	cJSON *root;
};

static int *int_array(const cJSON *a, int *n)
{
	*n = cJSON_GetArraySize(a);
	int *v = malloc(sizeof(int) * (size_t)(*n ? *n : 1));
	int i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, a) v[i++] = (int)it->valuedouble;
	return v;
}

static void load_expected(struct expected *e, const char *path, int vocab)
{
	char *text = testutil_file_read(path, NULL);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	memset(e, 0, sizeof *e);
	e->root = cJSON_Parse(text);
	free(text);
	ck_assert_ptr_nonnull(e->root);
	e->tokens = int_array(cJSON_GetObjectItem(e->root, "tokens"), &e->n);
	const cJSON *idx = cJSON_GetObjectItem(e->root, "indices");
	int cols = vocab;
	if (idx) {
		e->idx = int_array(idx, &e->n_idx);
		cols = e->n_idx;
	}
	const cJSON *rows = cJSON_GetObjectItem(e->root, "logits");
	ck_assert_int_eq(cJSON_GetArraySize(rows), e->n);
	e->logits = malloc(sizeof(double) * (size_t)e->n * (size_t)cols);
	int r = 0;
	const cJSON *row;
	cJSON_ArrayForEach(row, rows) {
		ck_assert_int_eq(cJSON_GetArraySize(row), cols);
		int c = 0;
		const cJSON *v;
		cJSON_ArrayForEach(v, row) e->logits[(size_t)r * cols + c++] = v->valuedouble;
		r++;
	}
	const cJSON *lse = cJSON_GetObjectItem(e->root, "logsumexp");
	if (lse) {
		e->lse = malloc(sizeof(double) * (size_t)e->n);
		int i = 0;
		const cJSON *v;
		cJSON_ArrayForEach(v, lse) e->lse[i++] = v->valuedouble;
	}
}

static void free_expected(struct expected *e)
{
	free(e->tokens);
	free(e->idx);
	free(e->logits);
	free(e->lse);
	cJSON_Delete(e->root);
}

/* Max |got - want| over the compared entries, relative to max(1, |want|). */
static double compare(const struct expected *e, const float *logits, int vocab, int row0, int n)
{
	double worst = 0;
	for (int t = row0; t < row0 + n; t++) {
		const float *row = logits + (size_t)(t - row0) * vocab;
		int cols = e->idx ? e->n_idx : vocab;
		for (int c = 0; c < cols; c++) {
			int v = e->idx ? e->idx[c] : c;
			double want = e->logits[(size_t)t * cols + c];
			double d = fabs(row[v] - want) / fmax(1.0, fabs(want));
			if (d > worst)
				worst = d;
		}
		if (e->lse) {
			double mx = row[0], s = 0;
			for (int i = 1; i < vocab; i++)
				mx = fmax(mx, row[i]);
			for (int i = 0; i < vocab; i++)
				s += exp(row[i] - mx);
			double d = fabs(mx + log(s) - e->lse[t]) / fmax(1.0, fabs(e->lse[t]));
			if (d > worst)
				worst = d;
		}
	}
	return worst;
}

static void check_model(const char *dir, const char *expected_path, double tol)
{
	char err[ERR_MAX] = "";
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s: %s", dir, err);
	struct expected e;
	load_expected(&e, expected_path, m->cfg.vocab);
	int V = m->cfg.vocab, n = e.n;
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, n + 4), 0);
	float *logits = malloc(sizeof(float) * (size_t)n * V);

	/* whole sequence at once */
	ck_assert_int_eq(forward_run(f, logits, e.tokens, n, 0), 0);
	double d = compare(&e, logits, V, 0, n);
	ck_assert_msg(d < tol, "%s: full run differs by %g", dir, d);

	/* one token at a time through the KV cache */
	for (int t = 0; t < n; t++) {
		ck_assert_int_eq(forward_run(f, logits, &e.tokens[t], 1, t), 0);
		d = compare(&e, logits, V, t, 1);
		ck_assert_msg(d < tol, "%s: cached step %d differs by %g", dir, t, d);
	}
	/* a prefix chunk, then the rest */
	int half = n / 2;
	ck_assert_int_eq(forward_run(f, logits, e.tokens, half, 0), 0);
	ck_assert_int_eq(forward_run(f, logits, e.tokens + half, n - half, half), 0);
	d = compare(&e, logits, V, half, n - half);
	ck_assert_msg(d < tol, "%s: chunked run differs by %g", dir, d);

	free(logits);
	forward_free(f);
	free_expected(&e);
	model_close(m);
}

static const char *const family_fixtures[] = {
	"llama_gqa", "mistral", "qwen2", "gpt_neo", "gpt2", "gpt2_prefixed", "opt", "gpt_neox",
	"gpt_neox_seq", "phi",
};

enum { N_FAMILIES = sizeof family_fixtures / sizeof family_fixtures[0] };

/* _i = (fixture, threads 1 or 2): the pool splits attention heads and large products */
START_TEST(test_family_logits)
{
	char dir[1024], exp[1100];
	matmul_set_threads(1 + _i / N_FAMILIES);
	snprintf(dir, sizeof dir, "%s/families/%s", testutil_fixtures(), family_fixtures[_i % N_FAMILIES]);
	snprintf(exp, sizeof exp, "%s/expected.json", dir);
	check_model(dir, exp, 2e-5);
}
END_TEST

static const char *const real_models[] = {"stories260k", "tinystories-instruct-3m"};

START_TEST(test_real_logits)
{
	char dir[1024], exp[1100];
	/* only an absent ../shared skips (main exits 77); a missing model inside it fails */
	if (access(testutil_shared(), F_OK))
		return;
	matmul_set_threads(1 + _i / 2);
	snprintf(dir, sizeof dir, "%s/models/%s", testutil_shared(), real_models[_i % 2]);
	snprintf(exp, sizeof exp, "%s/real/%s.json", testutil_fixtures(), real_models[_i % 2]);
	check_model(dir, exp, 1e-4);
}
END_TEST

struct seen {
	int calls[2];
	int dims[2];
	double sumsq;
};

static void observe(void *ctx, int layer, enum forward_point point, const float *x, int n, int dim)
{
	struct seen *s = ctx;
	(void)layer;
	s->calls[point]++;
	s->dims[point] = dim;
	for (int i = 0; i < n * dim; i++)
		s->sumsq += (double)x[i] * x[i];
}

START_TEST(test_observer_and_errors)
{
	char dir[1024], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/families/llama_gqa", testutil_fixtures());
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, 8), 0);
	float *logits = malloc(sizeof(float) * 8 * (size_t)m->cfg.vocab);
	int toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct seen s = {{0, 0}, {0, 0}, 0};
	forward_set_observer(f, observe, &s);
	ck_assert_int_eq(forward_run(f, logits, toks, 4, 0), 0);
	ck_assert_int_eq(s.calls[FORWARD_POINT_FFN_INPUT], m->cfg.n_layers);
	ck_assert_int_eq(s.calls[FORWARD_POINT_FFN_HIDDEN], m->cfg.n_layers);
	ck_assert_int_eq(s.dims[FORWARD_POINT_FFN_INPUT], m->cfg.hidden);
	ck_assert_int_eq(s.dims[FORWARD_POINT_FFN_HIDDEN], m->cfg.ffn);
	ck_assert(s.sumsq > 0);
	forward_set_observer(f, NULL, NULL);

	int bad[2] = {0, m->cfg.vocab};
	ck_assert_int_eq(forward_run(f, logits, bad, 2, 0), FORWARD_ERR_TOKEN);
	bad[1] = -1;
	ck_assert_int_eq(forward_run(f, logits, bad, 2, 0), FORWARD_ERR_TOKEN);
	ck_assert_int_eq(forward_run(f, logits, toks, 8, 1), FORWARD_ERR_TOO_LONG);
	ck_assert_int_eq(forward_run(f, logits, toks, 0, 0), FORWARD_ERR_ARG);
	ck_assert_int_eq(forward_run(f, logits, toks, 1, -1), FORWARD_ERR_ARG);
	ck_assert_int_eq(forward_new(&(struct forward *){NULL}, m, 0), FORWARD_ERR_ARG);
	forward_free(NULL);
	free(logits);
	forward_free(f);
	model_close(m);
}
END_TEST

/* logits (n, vocab) of ids through the model at dir opened with `weights` (one thread); direct:
 * forward_set_f16_direct's setting */
static float *run_logits_direct(const char *dir, enum model_weights weights, int n, int *vocab,
				bool *stored, bool direct)
{
	char err[ERR_MAX];
	struct model *m = NULL;
	struct forward *f = NULL;
	ck_assert_msg(model_open_weights(&m, dir, weights, err, sizeof err) == 0, "%s", err);
	*vocab = m->cfg.vocab;
	*stored = m->stored;
	/* stored: no f32 copy of the matrices or the embedding */
	ck_assert(!m->stored || (!m->embed && !m->layers[0].up && m->layers[0].attn_norm));
	int *ids = malloc((size_t)n * sizeof *ids);
	float *logits = malloc((size_t)n * (size_t)m->cfg.vocab * sizeof *logits);
	testutil_fill_ids(ids, (size_t)n, m->cfg.vocab, 7);
	ck_assert_int_eq(forward_new(&f, m, n), 0);
	forward_set_f16_direct(f, direct);
	ck_assert_int_eq(forward_run(f, logits, ids, n, 0), 0);
	forward_free(f);
	free(ids);
	model_close(m);
	return logits;
}

static float *run_logits(const char *dir, enum model_weights weights, int n, int *vocab,
			 bool *stored)
{
	return run_logits_direct(dir, weights, n, vocab, stored, true);
}

/* _i = (family, BF16 or F16 copy): stored weights converted one layer at a time
 * (MODEL_WEIGHTS_STORED_F32) give exactly the logits of the whole f32 copy; MODEL_WEIGHTS_STORED
 * does too, except BF16 with avx512_bf16, where it multiplies in BF16 (every matrix in families
 * with separate Q/K/V, the LM head in all): close, not equal. F16 runs of 9 rows multiply the
 * mapped F16 matrices directly (forward_set_f16_direct): equal to the converted route too. */
START_TEST(test_stored_weights)
{
	const char *family = family_fixtures[_i / 2];
	enum safetensors_dtype dt = _i % 2 ? SAFETENSORS_DTYPE_F16 : SAFETENSORS_DTYPE_BF16;
	char src[1024];
	int n = 9, vocab;
	bool stored;
	matmul_set_threads(1);
	snprintf(src, sizeof src, "%s/families/%s", testutil_fixtures(), family);
	char *dir = testutil_tmpdir_new("stored");
	testmodel_copy_dtype(src, dir, dt);
	float *ref = run_logits(dir, MODEL_WEIGHTS_F32, n, &vocab, &stored);
	ck_assert(!stored);
	float *conv = run_logits(dir, MODEL_WEIGHTS_STORED_F32, n, &vocab, &stored);
	ck_assert(stored);
	ck_assert_mem_eq(conv, ref, (size_t)n * vocab * sizeof *ref);
	float *cv = run_logits_direct(dir, MODEL_WEIGHTS_STORED_F32, n, &vocab, &stored, false);
	ck_assert_mem_eq(cv, ref, (size_t)n * vocab * sizeof *ref);
	free(cv);
	float *nat = run_logits(dir, MODEL_WEIGHTS_STORED, n, &vocab, &stored);
	double diff = 0, big = 0;
	for (size_t i = 0; i < (size_t)n * vocab; i++) {
		diff = fmax(diff, fabs((double)nat[i] - ref[i]));
		big = fmax(big, fabs((double)ref[i]));
	}
	if (dt == SAFETENSORS_DTYPE_BF16 && matmul_has_bf16()) {
		ck_assert_msg(diff > 0 && diff < 0.05 * big, "%s: BF16 compute moved logits by %g of %g",
			      family, diff, big);
	} else {
		ck_assert_msg(diff == 0, "%s: %g", family, diff);
	}
	free(nat);
	free(conv);
	free(ref);
	testutil_tmpdir_free(dir);
}
END_TEST

/* An F32 checkpoint is materialised whatever the weights mode: today's exact route. */
START_TEST(test_stored_f32_checkpoint)
{
	char dir[1024];
	int vocab;
	bool stored;
	snprintf(dir, sizeof dir, "%s/families/llama_gqa", testutil_fixtures());
	float *a = run_logits(dir, MODEL_WEIGHTS_STORED, 5, &vocab, &stored);
	ck_assert(!stored);
	float *b = run_logits(dir, MODEL_WEIGHTS_F32, 5, &vocab, &stored);
	ck_assert_mem_eq(a, b, (size_t)5 * vocab * sizeof *a);
	free(a);
	free(b);
}
END_TEST

/* ---- lanes: several sequences decoded in lockstep ---- */

/* A lane's schedule: sequence seq decoded from step `start` for len tokens. Lane 0 restarts at
 * position 0 with sequence 3 while lanes 1 and 2 are mid-way; lanes 1 and 2 join late. */
struct lane_run {
	int lane, seq, start, len;
};

static const struct lane_run lane_runs[] = {
	{0, 0, 0, 6}, {1, 1, 2, 10}, {2, 2, 4, 8}, {0, 3, 6, 6},
};

enum { N_LANE_RUNS = 4, LANES = 3, LANE_STEPS = 12, LANE_SEQ = 12 };
/* F16 vs f32 KV caches: worst logit difference, relative past 1 (tinystories-instruct-3m, whose
 * GPT-Neo attention has no 1/sqrt(d) scale: 0.0137; the fixtures and stories260k far less) */
#define KV16_TOL 3e-2

/* Worst relative difference between decoding the lane_runs in lockstep (rows passed in reverse
 * lane order, inactive lanes left out) and decoding each sequence alone with forward_run, one
 * token at a time. */
static double lanes_vs_alone(const struct model *m)
{
	int V = m->cfg.vocab;
	int ids[N_LANE_RUNS][LANE_SEQ];
	float *ref = malloc(sizeof(float) * N_LANE_RUNS * LANE_SEQ * (size_t)V);
	float *got = malloc(sizeof(float) * LANES * (size_t)V);
	struct forward *one = NULL, *f = NULL;
	ck_assert_int_eq(forward_new(&one, m, LANE_SEQ), 0);
	ck_assert_int_eq(forward_new_lanes(&f, m, LANE_SEQ, LANES), 0);
	for (int s = 0; s < N_LANE_RUNS; s++) {
		testutil_fill_ids(ids[s], LANE_SEQ, V, 100 + (unsigned long long)s);
		for (int t = 0; t < lane_runs[s].len; t++)
			ck_assert_int_eq(forward_run(one, ref + ((size_t)s * LANE_SEQ + t) * V,
						     &ids[s][t], 1, t), 0);
	}
	double worst = 0;
	for (int step = 0; step < LANE_STEPS; step++) {
		int tok[LANES], lane[LANES], pos[LANES], run[LANES], n = 0;
		for (int l = LANES - 1; l >= 0; l--)
			for (int s = 0; s < N_LANE_RUNS; s++) {
				const struct lane_run *r = &lane_runs[s];
				if (r->lane != l || step < r->start || step >= r->start + r->len)
					continue;
				lane[n] = l;
				pos[n] = step - r->start;
				tok[n] = ids[s][pos[n]];
				run[n++] = s;
			}
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(forward_run_lanes(f, got, tok, lane, pos, n), 0);
		for (int t = 0; t < n; t++) {
			const float *want = ref + ((size_t)run[t] * LANE_SEQ + pos[t]) * V;
			for (int v = 0; v < V; v++) {
				double d = fabs((double)got[(size_t)t * V + v] - want[v]) /
					   fmax(1.0, fabs(want[v]));
				worst = fmax(worst, d);
			}
		}
	}
	forward_free(f);
	forward_free(one);
	free(got);
	free(ref);
	return worst;
}

/* _i = (fixture family, threads 1 or 2) */
START_TEST(test_lanes_families)
{
	matmul_set_threads(1 + _i / N_FAMILIES);
	struct model *m = testmodel_open_family(family_fixtures[_i % N_FAMILIES]);
	double d = lanes_vs_alone(m);
	ck_assert_msg(d < 1e-4, "%s: lanes differ by %g", family_fixtures[_i % N_FAMILIES], d);
	model_close(m);
}
END_TEST

static const enum config_family synth_families[] = {
	CONFIG_FAMILY_LLAMA, CONFIG_FAMILY_GPT_NEO, CONFIG_FAMILY_GPT2, CONFIG_FAMILY_OPT,
	CONFIG_FAMILY_GPT_NEOX, CONFIG_FAMILY_PHI,
};

/* _i = synth family, default small shape, F16 weights opened MODEL_WEIGHTS_MAPPED_F32 (one layer
 * converted per call) */
START_TEST(test_lanes_synth)
{
	char err[ERR_MAX];
	struct synth_spec spec;
	struct model *m = NULL;
	matmul_set_threads(1);
	synth_spec_default(&spec, synth_families[_i]);
	spec.dtype = SAFETENSORS_DTYPE_F16;
	char *dir = testutil_tmpdir_new("lanes");
	char sub[1100];
	snprintf(sub, sizeof sub, "%s/m", dir);
	ck_assert_int_eq(synth_write(sub, &spec), 0);
	ck_assert_msg(model_open_weights(&m, sub, MODEL_WEIGHTS_MAPPED_F32, err, sizeof err) == 0,
		      "%s", err);
	ck_assert(m->stored);
	double d = lanes_vs_alone(m);
	ck_assert_msg(d < 1e-4, "synth family %d: lanes differ by %g", (int)synth_families[_i], d);
	model_close(m);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_lanes_real)
{
	char dir[1024], err[ERR_MAX];
	if (access(testutil_shared(), F_OK))
		return;
	matmul_set_threads(1 + _i / 2);
	snprintf(dir, sizeof dir, "%s/models/%s", testutil_shared(), real_models[_i % 2]);
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s: %s", dir, err);
	double d = lanes_vs_alone(m);
	ck_assert_msg(d < 1e-4, "%s: lanes differ by %g", dir, d);
	model_close(m);
}
END_TEST

/* forward_run_lanes argument errors on a 3-lane forward of 8 positions */
static const struct lane_err {
	const char *name;
	int n, tok[3], lane[3], pos[3], want;
} lane_errs[] = {
	{"lane negative", 2, {1, 2}, {0, -1}, {0, 0}, FORWARD_ERR_ARG},
	{"lane = n_lanes", 1, {1}, {3}, {0}, FORWARD_ERR_ARG},
	{"lane twice, neither at 0", 3, {1, 2, 3}, {2, 0, 2}, {1, 1, 2}, FORWARD_ERR_ARG},
	{"lane twice, both at 0", 3, {1, 2, 3}, {2, 0, 2}, {0, 1, 0}, FORWARD_ERR_ARG},
	{"lane thrice", 3, {1, 2, 3}, {1, 1, 1}, {0, 3, 4}, FORWARD_ERR_ARG},
	{"lane twice, at 0 and later", 3, {1, 2, 3}, {2, 0, 2}, {0, 1, 5}, FORWARD_OK},
	{"pos = max_seq", 2, {1, 2}, {0, 1}, {0, 8}, FORWARD_ERR_TOO_LONG},
	{"pos negative", 1, {1}, {1}, {-1}, FORWARD_ERR_ARG},
	{"no rows", 0, {1}, {0}, {0}, FORWARD_ERR_ARG},
	{"token = vocab", 2, {1, -2}, {0, 1}, {0, 0}, FORWARD_ERR_TOKEN},
	{"valid", 3, {1, 2, 3}, {2, 0, 1}, {7, 0, 3}, FORWARD_OK},
};

START_TEST(test_lanes_errors)
{
	const struct lane_err *e = &lane_errs[_i];
	struct model *m = testmodel_open_family("llama_gqa");
	struct forward *f = NULL;
	int tok[3];
	ck_assert_int_eq(forward_new_lanes(&f, m, 8, 3), 0);
	float *logits = malloc(sizeof(float) * 3 * (size_t)m->cfg.vocab);
	for (int t = 0; t < 3; t++)
		tok[t] = e->tok[t] == -2 ? m->cfg.vocab : e->tok[t];
	ck_assert_msg(forward_run_lanes(f, logits, tok, e->lane, e->pos, e->n) == e->want, "%s",
		      e->name);
	int seven[7] = {0, 1, 2, 0, 1, 2, 0};
	ck_assert_int_eq(forward_run_lanes(f, logits, seven, seven, seven, 7), FORWARD_ERR_ARG);
	ck_assert_int_eq(forward_new_lanes(&(struct forward *){NULL}, m, 8, 0), FORWARD_ERR_ARG);
	free(logits);
	forward_free(f);
	model_close(m);
}
END_TEST

/* A lane ending a sequence and starting the next at the same BOS in one call: the row at the end
 * of the old sequence reads that sequence's keys (position 0's are the new BOS's, the same), and
 * the BOS row gives BOS alone. _i = fixture family. */
START_TEST(test_lanes_shared_bos)
{
	struct model *m = testmodel_open_family(family_fixtures[_i]);
	int V = m->cfg.vocab, ids[6], lane[2] = {1, 1}, pos[2] = {0, 5};
	testutil_fill_ids(ids, 6, V, 77);
	matmul_set_threads(1);
	float *ref = malloc(sizeof(float) * 6 * (size_t)V), *got = malloc(sizeof(float) * 2 * (size_t)V);
	struct forward *one = NULL, *f = NULL;
	ck_assert(ref && got);
	ck_assert_int_eq(forward_new(&one, m, 8), 0);
	ck_assert_int_eq(forward_new_lanes(&f, m, 8, 2), 0);
	for (int t = 0; t < 6; t++)
		ck_assert_int_eq(forward_run(one, ref + (size_t)t * V, &ids[t], 1, t), 0);
	for (int t = 0; t < 5; t++)
		ck_assert_int_eq(forward_run_lanes(f, got, &ids[t], &lane[0], &t, 1), 0);
	int tok[2] = {ids[0], ids[5]};
	ck_assert_int_eq(forward_run_lanes(f, got, tok, lane, pos, 2), 0);
	for (int v = 0; v < V; v++) {
		ck_assert_float_eq_tol(got[v], ref[v], 1e-4f * fmaxf(1.0f, fabsf(ref[v])));
		ck_assert_float_eq_tol(got[V + v], ref[5 * (size_t)V + v],
				       1e-4f * fmaxf(1.0f, fabsf(ref[5 * (size_t)V + v])));
	}
	forward_free(f);
	forward_free(one);
	free(ref);
	free(got);
	model_close(m);
}
END_TEST

/* ---- F16 KV caches ---- */

/* logits (LANE_STEPS, LANES, vocab) of the lane_runs schedule decoded in lockstep with caches kv
 * (rows of idle lanes left 0); returns the first failing status, else 0. */
static int lanes_logits(float *logits, const struct model *m, enum forward_kv kv)
{
	int V = m->cfg.vocab, ids[N_LANE_RUNS][LANE_SEQ], rc = 0;
	struct forward *f = NULL;
	float *got = malloc(sizeof(float) * LANES * (size_t)V);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(forward_new_lanes_kv(&f, m, LANE_SEQ, LANES, kv), 0);
	for (int s = 0; s < N_LANE_RUNS; s++)
		testutil_fill_ids(ids[s], LANE_SEQ, V, 100 + (unsigned long long)s);
	memset(logits, 0, sizeof(float) * LANE_STEPS * LANES * (size_t)V);
	for (int step = 0; step < LANE_STEPS && !rc; step++) {
		int tok[LANES], lane[LANES], pos[LANES], n = 0;
		for (int s = 0; s < N_LANE_RUNS; s++) {
			const struct lane_run *r = &lane_runs[s];
			if (step < r->start || step >= r->start + r->len)
				continue;
			lane[n] = r->lane;
			pos[n] = step - r->start;
			tok[n] = ids[s][pos[n]];
			n++;
		}
		if ((rc = forward_run_lanes(f, got, tok, lane, pos, n)))
			break;
		for (int t = 0; t < n; t++)
			memcpy(logits + ((size_t)step * LANES + lane[t]) * V, got + (size_t)t * V,
			       sizeof(float) * (size_t)V);
	}
	forward_free(f);
	free(got);
	return rc;
}

/* _i = (model, threads 1 or 2): fixtures of every family (GQA, local windows, learned positions),
 * then the shared models. The F16 caches give their reference's logits bit for bit, and differ
 * from the f32 caches' by the rounding of keys and values only (not 0, well under 1 %). */
START_TEST(test_kv16)
{
	int k = _i % (N_FAMILIES + 2);
	struct model *m = NULL;
	char dir[1024], err[ERR_MAX];
	if (k < N_FAMILIES) {
		m = testmodel_open_family(family_fixtures[k]);
	} else {
		if (access(testutil_shared(), F_OK))
			return;
		snprintf(dir, sizeof dir, "%s/models/%s", testutil_shared(), real_models[k - N_FAMILIES]);
		ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s: %s", dir, err);
	}
	matmul_set_threads(1 + _i / (N_FAMILIES + 2));
	size_t n = (size_t)LANE_STEPS * LANES * (size_t)m->cfg.vocab;
	float *l16 = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
	float *l32 = malloc(n * sizeof(float));
	ck_assert(l16 && ref && l32);
	ck_assert_int_eq(lanes_logits(l16, m, FORWARD_KV_F16), 0);
	ck_assert_int_eq(lanes_logits(ref, m, FORWARD_KV_F16_REF), 0);
	ck_assert_int_eq(lanes_logits(l32, m, FORWARD_KV_F32), 0);
	ck_assert_mem_eq(l16, ref, n * sizeof(float));
	double worst = 0;
	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fabs((double)l16[i] - l32[i]) / fmax(1.0, fabs(l32[i])));
	ck_assert_msg(worst > 0 && worst < KV16_TOL, "model %d: F16 vs f32 caches differ by %g", k,
		      worst);
	free(l16);
	free(ref);
	free(l32);
	model_close(m);
}
END_TEST

/* A key past the largest half: the F16 caches (and their reference) refuse the call; f32 runs. */
START_TEST(test_kv16_range)
{
	struct model *m = testmodel_open_family("llama_gqa");
	const struct config *c = &m->cfg;
	size_t nk = (size_t)c->n_kv_heads * c->head_dim * c->hidden;
	for (size_t i = 0; i < nk; i++)
		m->layers[c->n_layers - 1].wk[i] *= 1e7f;
	size_t n = (size_t)LANE_STEPS * LANES * (size_t)c->vocab;
	float *logits = malloc(n * sizeof(float));
	ck_assert_ptr_nonnull(logits);
	ck_assert_int_eq(lanes_logits(logits, m, FORWARD_KV_F16), FORWARD_ERR_KV_RANGE);
	ck_assert_int_eq(lanes_logits(logits, m, FORWARD_KV_F16_REF), FORWARD_ERR_KV_RANGE);
	ck_assert_int_eq(lanes_logits(logits, m, FORWARD_KV_F32), 0);
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new_lanes_kv(&f, m, 8, 2, (enum forward_kv)7), FORWARD_ERR_ARG);
	ck_assert_ptr_null(f);
	ck_assert_str_eq(forward_strerror(FORWARD_ERR_KV_RANGE),
			 "a key or value is beyond the F16 KV cache's range");
	free(logits);
	model_close(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_family_logits, 0, 2 * N_FAMILIES);
	tcase_add_loop_test(tc, test_real_logits, 0, 2 * (int)(sizeof real_models / sizeof real_models[0]));
	tcase_add_test(tc, test_observer_and_errors);
	tcase_add_loop_test(tc, test_stored_weights, 0, 2 * N_FAMILIES);
	tcase_add_test(tc, test_stored_f32_checkpoint);
	tcase_add_loop_test(tc, test_lanes_families, 0, 2 * N_FAMILIES);
	tcase_add_loop_test(tc, test_lanes_synth, 0, (int)(sizeof synth_families / sizeof synth_families[0]));
	tcase_add_loop_test(tc, test_lanes_real, 0, 2 * (int)(sizeof real_models / sizeof real_models[0]));
	tcase_add_loop_test(tc, test_lanes_errors, 0, (int)(sizeof lane_errs / sizeof lane_errs[0]));
	tcase_add_loop_test(tc, test_lanes_shared_bos, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_kv16, 0, 2 * (N_FAMILIES + 2));
	tcase_add_test(tc, test_kv16_range);
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
