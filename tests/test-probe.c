/* Tests for env/probe: the sampler's draws against the cumulative rule replayed here, sequence
 * layout (BOS first, ≤ seq_len, EOS ends a sequence), determinism per seed, the recorded
 * activations against a forward run observed here, the row statistics and probe-importance
 * scores on a hand-made probe, env features/functional reward with probes attached, and errors;
 * the streamed route (probe_sample on mapped weights, probe_stream_layer) against probe_collect;
 * ids sampled on F16/BF16 copies of the shared models with the mapped pages kept and evicted and
 * prefetched against each other and against the copy loaded into f32. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "forward.h"
#include "funcreward.h"
#include "layerstream.h"
#include "matmul.h"
#include "model.h"
#include "pcg32.h"
#include "probe.h"
#include "testmodel.h"
#include "testutil.h"

static void family_dir(char *dir, size_t cap, const char *family)
{
	snprintf(dir, cap, "%s/families/%s", testutil_fixtures(), family);
}

START_TEST(test_sample_token)
{
	/* p = (1/4, 3/4, 0) */
	const float logits[3] = {0, 1.0986122886681098f, -200};
	struct pcg32 a, b;
	pcg32_seed(&a, 5, 1);
	b = a;
	int count1 = 0;
	for (int i = 0; i < 400; i++) {
		int t = probe_sample_token(logits, 3, &a);
		double u = pcg32_uniform(&b);
		ck_assert_int_eq(t, u < 0.25 ? 0 : 1);
		count1 += t == 1;
	}
	ck_assert(count1 > 250 && count1 < 350);
}
END_TEST

/* observer of the test: copies layer 1's FFN hidden rows */
struct grab {
	float *buf;
	int n;
};

static void grab_fn(void *ctx, int layer, enum forward_point point, const float *x, int n, int dim)
{
	struct grab *g = ctx;
	if (layer == 1 && point == FORWARD_POINT_FFN_HIDDEN) {
		memcpy(g->buf, x, (size_t)n * dim * sizeof *x);
		g->n = n;
	}
}

START_TEST(test_collect)
{
	struct model *m = testmodel_open_family("llama_gqa");
	struct probe *p = NULL, *q = NULL, *r = NULL;
	char err[512];
	ck_assert_int_eq(probe_collect(&p, m, 100, 3, 12, 4, err, sizeof err), 0);
	ck_assert_int_eq(probe_collect(&q, m, 100, 3, 12, 4, err, sizeof err), 0);
	ck_assert_int_eq(probe_collect(&r, m, 100, 4, 12, 4, err, sizeof err), 0);
	ck_assert_int_eq(p->tokens, 100);
	ck_assert_int_eq(p->starts[0], 0);
	ck_assert_int_eq(p->starts[p->n_seqs], 100);
	ck_assert(p->n_seqs >= 9); /* ≤ 12 tokens each */
	for (int s = 0; s < p->n_seqs; s++) {
		int len = p->starts[s + 1] - p->starts[s];
		ck_assert(len >= 1 && len <= 12);
		ck_assert_int_eq(p->ids[p->starts[s]], m->cfg.bos_id);
		for (int t = p->starts[s] + 1; t < p->starts[s + 1] - 1; t++)
			ck_assert_int_ne(p->ids[t], m->cfg.eos_id); /* EOS only ends a sequence */
		if (len < 12 && s + 4 < p->n_seqs) /* the last 4 (lanes) may be truncated */
			ck_assert_int_eq(p->ids[p->starts[s + 1] - 1], m->cfg.eos_id);
	}
	ck_assert_mem_eq(p->ids, q->ids, 100 * sizeof(int));
	ck_assert_mem_eq(p->act[1], q->act[1], 100 * (size_t)p->ffn[1] * sizeof(float));
	ck_assert(memcmp(p->ids, r->ids, 100 * sizeof(int)) != 0);
	/* second sequence's activations as observed on a separate forward run */
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, 12), 0);
	int F = p->ffn[1], s0 = p->starts[1], len = p->starts[2] - s0;
	struct grab g = {malloc(12 * (size_t)F * sizeof(float)), 0};
	float *logits = malloc(12 * (size_t)m->cfg.vocab * sizeof *logits);
	forward_set_observer(f, grab_fn, &g);
	ck_assert_int_eq(forward_run(f, logits, p->ids + s0, len, 0), 0);
	ck_assert_int_eq(g.n, len);
	for (int i = 0; i < len * F; i++)
		ck_assert_float_eq_tol(p->act[1][(size_t)s0 * F + i], g.buf[i], 1e-6f);
	free(logits);
	free(g.buf);
	forward_free(f);
	probe_free(p);
	probe_free(q);
	probe_free(r);
	ck_assert_int_eq(probe_collect(&p, m, 1, 3, 12, 0, err, sizeof err), PROBE_ERR_ARG);
	ck_assert_int_eq(probe_collect(&p, m, 10, 3, 1000, 0, err, sizeof err), PROBE_ERR_ARG);
	ck_assert_int_eq(probe_collect(&p, m, 10, 3, 12, -1, err, sizeof err), PROBE_ERR_ARG);
	probe_free(NULL);
	model_close(m);
}
END_TEST

/* 2 tokens, one layer of 3 neurons: a = [[1, -2, 0], [3, 0, 0]]; down (2, 3) columns
 * (1, 0), (0, 2), (1, 1). E[a²] = (5, 2, 0), E|a| = (2, 1, 0); ‖d‖² = (1, 4, 2). */
/* ---- streamed: the ids sampled on the mapped weights and the layer-streamed activations equal
 * probe_collect's bit for bit (F32 matrices used where mapped, Conv1D/fused/F16/BF16 converted
 * per layer) ---- */

static const struct {
	const char *shared, *family;
	int tokens, seq_len;
} streams[] = {
	{"stories260k", NULL, 300, 0},
	{"tinystories-instruct-3m", NULL, 200, 0},
	{NULL, "llama_gqa", 90, 12},
	{NULL, "gpt2", 90, 12},          /* F16, Conv1D */
	{NULL, "gpt2_prefixed", 90, 12}, /* F32, Conv1D: converted per layer, embedding mapped */
	{NULL, "gpt_neox", 90, 12},      /* fused QKV */
	{NULL, "opt", 90, 12},           /* BF16, learned positions */
	{NULL, "phi", 90, 12},
};

START_TEST(test_stream)
{
	char dir[4096], err[512];
	if (streams[_i].shared) {
		if (!testutil_shared_present())
			return;
		snprintf(dir, sizeof dir, "%s/models/%s", testutil_shared(), streams[_i].shared);
	} else {
		family_dir(dir, sizeof dir, streams[_i].family);
	}
	struct model *m = NULL, *mapped = NULL, *w = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(model_open_weights(&mapped, dir, MODEL_WEIGHTS_MAPPED_F32, err, sizeof err) == 0,
		      "%s", err);
	ck_assert_msg(model_open(&w, dir, err, sizeof err) == 0, "%s", err);
	/* F32 llama-like checkpoints: every matrix is the mapping itself, nothing converted */
	if (!strcmp(dir + strlen(dir) - 9, "llama_gqa"))
		ck_assert(!mapped->stored && mapped->layers[0].up != NULL);
	struct probe *p = NULL, *q = NULL;
	struct layerstream *ls = NULL;
	int n = streams[_i].tokens, seq = streams[_i].seq_len;
	ck_assert_msg(probe_collect(&p, m, n, 11, seq, 0, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(probe_sample(&q, mapped, n, 11, seq, 0, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(q->n_seqs, p->n_seqs);
	ck_assert_int_eq(q->seq_len, p->seq_len);
	ck_assert(!memcmp(q->ids, p->ids, (size_t)n * sizeof *p->ids));
	ck_assert(!memcmp(q->starts, p->starts, ((size_t)p->n_seqs + 1) * sizeof *p->starts));
	for (int l = 0; l < q->n_layers; l++)
		ck_assert_ptr_null(q->act[l]);
	ck_assert_msg(probe_stream_open(&ls, q, w, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(probe_stream_layer(q, ls, 1, err, sizeof err), PROBE_ERR_ARG); /* order */
	for (int l = 0; l < q->n_layers; l++) {
		ck_assert_msg(probe_stream_layer(q, ls, l, err, sizeof err) == 0, "%s", err);
		for (int k = 0; k < q->n_layers; k++)
			ck_assert(k == l ? q->act[k] != NULL : q->act[k] == NULL);
		size_t bytes = (size_t)n * (size_t)p->ffn[l] * sizeof(float);
		ck_assert_msg(!memcmp(q->act[l], p->act[l], bytes), "layer %d differs", l);
		ck_assert_ptr_null(w->layers[l].down); /* the layer's weights are freed again */
	}
	layerstream_free(ls);
	ls = NULL;
	/* probe_stream_all (yopo train): every layer kept, all equal to probe_collect's; then only
	 * the even layers (the layers train trains), the others NULL */
	ck_assert_msg(probe_stream_open(&ls, q, w, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(probe_stream_all(q, ls, NULL, err, sizeof err) == 0, "%s", err);
	for (int l = 0; l < q->n_layers; l++) {
		size_t bytes = (size_t)n * (size_t)p->ffn[l] * sizeof(float);
		ck_assert_msg(q->act[l] && !memcmp(q->act[l], p->act[l], bytes), "all: layer %d", l);
	}
	layerstream_free(ls);
	bool even[64];
	ck_assert_int_le(q->n_layers, 64);
	for (int l = 0; l < q->n_layers; l++)
		even[l] = l % 2 == 0;
	ck_assert_msg(probe_stream_open(&ls, q, w, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(probe_stream_all(q, ls, even, err, sizeof err) == 0, "%s", err);
	for (int l = 0; l < q->n_layers; l++) {
		size_t bytes = (size_t)n * (size_t)p->ffn[l] * sizeof(float);
		if (l % 2)
			ck_assert_msg(q->act[l] == NULL, "even: layer %d kept", l);
		else
			ck_assert_msg(q->act[l] && !memcmp(q->act[l], p->act[l], bytes),
				      "even: layer %d", l);
	}
	layerstream_free(ls);
	probe_free(q);
	probe_free(p);
	model_close(w);
	model_close(mapped);
	model_close(m);
}
END_TEST

START_TEST(test_stats)
{
	float act[6] = {1, -2, 0, 3, 0, 0};
	float *acts[1] = {act};
	int ffn[1] = {3};
	struct probe p = {.n_layers = 1, .tokens = 2, .seq_len = 2, .ffn = ffn, .act = acts};
	const float down[6] = {1, 0, 1, 0, 2, 1};
	double msq[3], mabs[3];
	probe_row_stats(msq, mabs, &p, 0);
	ck_assert_double_eq_tol(msq[0], 5, 1e-12);
	ck_assert_double_eq_tol(msq[1], 2, 1e-12);
	ck_assert_double_eq_tol(msq[2], 0, 1e-12);
	ck_assert_double_eq_tol(mabs[0], 2, 1e-12);
	ck_assert_double_eq_tol(mabs[1], 1, 1e-12);
	float sc[3];
	probe_importance_rows(sc, &p, 0, down, 2);
	ck_assert_float_eq_tol(sc[0], 5, 1e-6f);
	ck_assert_float_eq_tol(sc[1], 8, 1e-6f);
	ck_assert_float_eq_tol(sc[2], 0, 1e-6f);
}
END_TEST

/* env with probes: 8 feature columns whose first 6 equal the weights-only ones; functional error
 * of keeping everything is 0 and of keeping one neuron is in (0, 1]. */
START_TEST(test_env_probes)
{
	struct model *m = testmodel_open_family("llama_gqa");
	char dir[1024], err[512];
	family_dir(dir, sizeof dir, "llama_gqa");
	struct probe *p = NULL;
	ck_assert_int_eq(probe_collect(&p, m, 60, 1, 16, 0, err, sizeof err), 0);
	struct env *e = NULL;
	ck_assert_int_eq(env_open(&e, dir, SPECTRUM_ROUTE_SVD, 0, err, sizeof err), 0);
	const float *x6, *x8, *w;
	int rows = env_rows(e, 0);
	ck_assert_int_eq(env_layer_begin(e, 0, &x6, &w, NULL, 0), 0);
	float *copy = malloc((size_t)rows * ROWFEAT_COUNT * sizeof *copy);
	memcpy(copy, x6, (size_t)rows * ROWFEAT_COUNT * sizeof *copy);
	double v;
	int kept[64];
	for (int i = 0; i < rows; i++)
		kept[i] = i;
	ck_assert_int_eq(env_layer_functional(e, kept, rows, &v), ENV_ERR_PROBES);
	ck_assert_int_eq(env_use_probes(e, NULL, ROWFEAT_SET_PROBE, err, sizeof err), ENV_ERR_PROBES);
	ck_assert_int_eq(env_use_probes(e, p, ROWFEAT_SET_PROBE, err, sizeof err), 0);
	ck_assert_int_eq(env_n_features(e), 8);
	ck_assert_int_eq(env_layer_begin(e, 0, &x8, &w, NULL, 0), 0);
	double msq[64], mabs[64], mean = 0;
	probe_row_stats(msq, mabs, p, 0);
	for (int i = 0; i < rows; i++) {
		for (int f = 0; f < ROWFEAT_COUNT; f++)
			ck_assert_float_eq(x8[i * 8 + f], copy[i * ROWFEAT_COUNT + f]);
		mean += x8[i * 8 + 6] / rows;
	}
	ck_assert_double_eq_tol(mean, 0, 1e-5);
	/* the neuron with the largest E[a²] has the largest probe_sq feature */
	int best = 0, bestx = 0;
	for (int i = 1; i < rows; i++) {
		best = msq[i] > msq[best] ? i : best;
		bestx = x8[i * 8 + 6] > x8[bestx * 8 + 6] ? i : bestx;
	}
	ck_assert_int_eq(best, bestx);
	ck_assert_int_eq(env_layer_functional(e, kept, rows, &v), 0);
	ck_assert_double_eq_tol(v, 0, 1e-12);
	ck_assert_int_eq(env_layer_functional(e, kept, 1, &v), 0);
	ck_assert(v > 0 && v <= 1);
	/* a cached env gives the same value, and both agree with funcreward's direct reference */
	struct env *ec = NULL;
	ck_assert_int_eq(env_open(&ec, dir, SPECTRUM_ROUTE_SVD, SIZE_MAX, err, sizeof err), 0);
	ck_assert_int_eq(env_use_probes(ec, p, ROWFEAT_SET_WEIGHTS, err, sizeof err), 0);
	ck_assert_int_eq(env_n_features(ec), 6);
	ck_assert_int_eq(env_layer_begin(ec, 1, NULL, NULL, NULL, 0), 0);
	ck_assert_int_eq(env_layer_begin(e, 1, NULL, NULL, NULL, 0), 0);
	double vc;
	int half[32];
	unsigned char keep[64] = {0};
	for (int i = 0; i < rows / 2; i++) {
		half[i] = 2 * i;
		keep[2 * i] = 1;
	}
	ck_assert_int_eq(env_layer_functional(e, half, rows / 2, &v), 0);
	ck_assert_int_eq(env_layer_functional(ec, half, rows / 2, &vc), 0);
	ck_assert_double_eq(v, vc);
	ck_assert_double_eq_tol(v, funcreward_error_direct(p->act[1], p->tokens, m->layers[1].down,
							   m->cfg.hidden, rows, keep), 1e-9);
	env_close(ec);
	free(copy);
	env_close(e);
	probe_free(p);
	model_close(m);
}
END_TEST

/* A config.json without BOS and EOS ids: nothing to start sampling from. */
START_TEST(test_no_bos)
{
	char src[1024], *dir = testutil_tmpdir_new("probe"), err[512] = "";
	family_dir(src, sizeof src, "llama_gqa");
	char *from = testutil_path_new(src, "model.safetensors");
	char *to = testutil_path_new(dir, "model.safetensors");
	testutil_file_copy(from, to);
	free(from);
	free(to);
	from = testutil_path_new(src, "config.json");
	to = testutil_path_new(dir, "config.json");
	size_t len;
	char *cfg = testutil_file_read(from, &len);
	const char *keys[2] = {"\"bos_token_id\": 1,", "\"eos_token_id\": 2,"};
	for (int i = 0; i < 2; i++) {
		char *at = strstr(cfg, keys[i]);
		ck_assert_ptr_nonnull(at);
		memmove(at, at + strlen(keys[i]), strlen(at + strlen(keys[i])) + 1);
	}
	testutil_file_write(to, cfg, strlen(cfg));
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(m->cfg.bos_id, -1);
	struct probe *p = NULL;
	ck_assert_int_eq(probe_collect(&p, m, 20, 0, 8, 0, err, sizeof err), PROBE_ERR_NO_BOS);
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(strstr(err, "BOS"));
	model_close(m);
	free(cfg);
	free(from);
	free(to);
	testutil_tmpdir_free(dir);
}
END_TEST

/* The reference sampler: sequence after sequence, one forward_run per token, sequence s drawing
 * from stream probe_seq_stream(s), KV cache kv. ids (n), starts (n + 1); returns the sequence
 * count. keep: a stored model's pages stay mapped between tokens (forward_set_keep_pages). */
static int reference_ids_kv(int *ids, int *starts, const struct model *m, int n, uint64_t seed,
			    int seq_len, bool keep, enum forward_kv kv)
{
	struct forward *f = NULL;
	float *logits = malloc((size_t)m->cfg.vocab * sizeof *logits);
	ck_assert_int_eq(forward_new_lanes_kv(&f, m, seq_len, 1, kv), 0);
	forward_set_keep_pages(f, keep);
	int k = 0, s = 0;
	while (k < n) {
		struct pcg32 rng;
		pcg32_seed(&rng, seed, probe_seq_stream(s));
		starts[s++] = k;
		ids[k++] = m->cfg.bos_id;
		for (int len = 1; k < n && len < seq_len; len++) {
			ck_assert_int_eq(forward_run(f, logits, &ids[k - 1], 1, len - 1), 0);
			int t = probe_sample_token(logits, m->cfg.vocab, &rng);
			ids[k++] = t;
			if (t == m->cfg.eos_id)
				break;
		}
	}
	starts[s] = k;
	forward_free(f);
	free(logits);
	return s;
}

static int reference_ids(int *ids, int *starts, const struct model *m, int n, uint64_t seed,
			 int seq_len, bool keep)
{
	return reference_ids_kv(ids, starts, m, n, seed, seq_len, keep, FORWARD_KV_F32);
}

/* (model, tokens, seq_len, lanes): probe_sample's invariants for each lane count */
static const struct lanes_case {
	const char *family; /* fixture, or NULL: ../shared tinystories-instruct-3m */
	int tokens, seq_len, lanes;
} lanes_cases[] = {
	{"llama_gqa", 150, 12, 1}, {"llama_gqa", 150, 12, 5}, {"llama_gqa", 150, 12, 0},
	{"gpt_neo", 97, 9, 3}, {"gpt2", 40, 16, 0}, {"llama_gqa", 7, 12, 0}, {NULL, 300, 24, 1},
	{NULL, 300, 24, 8},
};

/* A case's model: the fixture family, or (NULL) the shared tinystories-instruct-3m; NULL when
 * ../shared is absent. */
static struct model *case_open(const char *family)
{
	char dir[1024], err[512];
	struct model *m = NULL;
	if (family)
		return testmodel_open_family(family);
	if (access(testutil_shared(), F_OK))
		return NULL;
	snprintf(dir, sizeof dir, "%s/models/tinystories-instruct-3m", testutil_shared());
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	return m;
}

START_TEST(test_lanes)
{
	const struct lanes_case *lc = &lanes_cases[_i];
	char err[512];
	struct model *m = case_open(lc->family);
	if (!m)
		return;
	matmul_set_threads(1);
	int n = lc->tokens, L = lc->seq_len, bos = m->cfg.bos_id, eos = m->cfg.eos_id;
	int lanes = lc->lanes ? lc->lanes : PROBE_DEFAULT_LANES;
	if (lanes > n / 2)
		lanes = n / 2;
	struct probe *p = NULL, *q = NULL;
	ck_assert_msg(probe_sample(&p, m, n, 9, L, lc->lanes, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(probe_sample(&q, m, n, 9, L, lc->lanes, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(p->tokens, n);
	ck_assert_int_eq(p->starts[0], 0);
	ck_assert_int_eq(p->starts[p->n_seqs], n);
	ck_assert_int_eq(q->n_seqs, p->n_seqs);
	ck_assert_mem_eq(p->ids, q->ids, (size_t)n * sizeof(int));
	int ended = 0; /* sequences that ended at EOS or seq_len, not truncated */
	for (int s = 0; s < p->n_seqs; s++) {
		int a = p->starts[s], len = p->starts[s + 1] - a;
		ck_assert(len >= 1 && len <= L);
		ck_assert_int_eq(p->ids[a], bos);
		for (int t = a + 1; t < a + len - 1; t++)
			ck_assert_int_ne(p->ids[t], eos);
		if (len == L || p->ids[a + len - 1] == eos)
			ended++;
	}
	ck_assert_int_ge(ended, p->n_seqs - lanes); /* only the running ones are truncated */
	int *ids = malloc((size_t)n * sizeof *ids), *starts = malloc(((size_t)n + 1) * sizeof *starts);
	int n_seqs = reference_ids(ids, starts, m, n, 9, L, false);
	if (lanes == 1) {
		ck_assert_int_eq(p->n_seqs, n_seqs);
		ck_assert_mem_eq(p->ids, ids, (size_t)n * sizeof(int));
		ck_assert_mem_eq(p->starts, starts, ((size_t)n_seqs + 1) * sizeof(int));
	} else {
		/* lanes interleave the sequences, not their draws: sequence 0 is the reference's, or
		 * a prefix of it when truncated (equal here; in general up to the rounding of the
		 * batched products) */
		int len0 = p->starts[1];
		ck_assert_int_le(len0, starts[1]);
		ck_assert_mem_eq(p->ids, ids, (size_t)len0 * sizeof(int));
	}
	free(ids);
	free(starts);
	probe_free(p);
	probe_free(q);
	model_close(m);
}
END_TEST

/* ---- pages: probe_sample on a stored model with every page kept mapped (a small file, the
 * default) and with each layer evicted after its run and prefetched before the next (a large file;
 * probe_set_keep_pages_max(0) here): the values read, so the ids drawn, are the same, and those of
 * the same checkpoint loaded into f32, and (lanes 1) the reference sampler's, pages evicted or
 * kept ---- */

static const struct pages_case {
	const char *shared;
	enum safetensors_dtype dtype; /* of the copy: F16 multiplied from the mapping, BF16 converted */
	int tokens, seq_len, lanes;
} pages_cases[] = {
	{"stories260k", SAFETENSORS_DTYPE_F16, 300, 40, 1},
	{"stories260k", SAFETENSORS_DTYPE_F16, 300, 40, 0},
	{"tinystories-instruct-3m", SAFETENSORS_DTYPE_F16, 200, 40, 1},
	{"tinystories-instruct-3m", SAFETENSORS_DTYPE_F16, 200, 40, 0},
	{"tinystories-instruct-3m", SAFETENSORS_DTYPE_BF16, 200, 40, 0},
};

START_TEST(test_pages)
{
	const struct pages_case *pc = &pages_cases[_i];
	char src[1024], err[512];
	if (!testutil_shared_present())
		return;
	snprintf(src, sizeof src, "%s/models/%s", testutil_shared(), pc->shared);
	char *dir = testutil_tmpdir_new("pages");
	testmodel_copy_dtype(src, dir, pc->dtype);
	struct model *mapped = NULL, *loaded = NULL;
	ck_assert_msg(model_open_weights(&mapped, dir, MODEL_WEIGHTS_MAPPED_F32, err, sizeof err) == 0,
		      "%s", err);
	ck_assert(mapped->stored);
	ck_assert_msg(model_open(&loaded, dir, err, sizeof err) == 0, "%s", err);
	ck_assert(!loaded->stored);
	matmul_set_threads(1);
	int n = pc->tokens, L = pc->seq_len;
	struct probe *p[3] = {NULL, NULL, NULL}; /* kept, evicted, loaded */
	ck_assert_msg(probe_sample(&p[0], mapped, n, 5, L, pc->lanes, err, sizeof err) == 0, "%s",
		      err);
	probe_set_keep_pages_max(0);
	int rc = probe_sample(&p[1], mapped, n, 5, L, pc->lanes, err, sizeof err);
	probe_set_keep_pages_max(PROBE_KEEP_PAGES_MAX);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_msg(probe_sample(&p[2], loaded, n, 5, L, pc->lanes, err, sizeof err) == 0, "%s",
		      err);
	for (int k = 1; k < 3; k++) {
		ck_assert_int_eq(p[k]->n_seqs, p[0]->n_seqs);
		ck_assert_mem_eq(p[k]->ids, p[0]->ids, (size_t)n * sizeof(int));
		ck_assert_mem_eq(p[k]->starts, p[0]->starts, ((size_t)p[0]->n_seqs + 1) * sizeof(int));
	}
	for (int keep = 0; pc->lanes == 1 && keep < 2; keep++) {
		int *ids = malloc((size_t)n * sizeof *ids);
		int *starts = malloc(((size_t)n + 1) * sizeof *starts);
		ck_assert(ids && starts);
		ck_assert_int_eq(reference_ids(ids, starts, mapped, n, 5, L, keep), p[0]->n_seqs);
		ck_assert_mem_eq(p[0]->ids, ids, (size_t)n * sizeof(int));
		ck_assert_mem_eq(p[0]->starts, starts, ((size_t)p[0]->n_seqs + 1) * sizeof(int));
		free(ids);
		free(starts);
	}
	for (int k = 0; k < 3; k++)
		probe_free(p[k]);
	model_close(loaded);
	model_close(mapped);
	testutil_tmpdir_free(dir);
}
END_TEST

/* ---- F16 KV caches (probe_set_kv_f16_min(0) here; the shared models' caches are far below the
 * default threshold): 1 lane draws the reference sampler's ids on F16_REF caches, any lane count
 * is deterministic, and a key past the F16 range makes sampling start over with f32 caches (the
 * f32 ids) ---- */

static const struct kv16_case {
	const char *family; /* fixture, or NULL: ../shared tinystories-instruct-3m */
	int tokens, seq_len, lanes;
	bool overflow; /* the last layer's keys scaled past the F16 range */
} kv16_cases[] = {
	{"llama_gqa", 150, 12, 1, false}, {"gpt_neo", 97, 9, 1, false}, {NULL, 300, 24, 1, false},
	{NULL, 300, 24, 0, false},        {"llama_gqa", 150, 12, 0, true}, {NULL, 200, 24, 1, true},
};

START_TEST(test_kv16)
{
	const struct kv16_case *kc = &kv16_cases[_i];
	char err[512];
	struct model *m = case_open(kc->family);
	if (!m)
		return;
	const struct config *c = &m->cfg;
	if (kc->overflow)
		for (size_t i = 0; i < (size_t)c->n_kv_heads * c->head_dim * c->hidden; i++)
			m->layers[c->n_layers - 1].wk[i] *= 1e7f;
	matmul_set_threads(1);
	int n = kc->tokens, L = kc->seq_len;
	struct probe *p[3] = {NULL, NULL, NULL}; /* F16 twice, f32 */
	probe_set_kv_f16_min(0);
	for (int k = 0; k < 2; k++)
		ck_assert_msg(probe_sample(&p[k], m, n, 9, L, kc->lanes, err, sizeof err) == 0, "%s",
			      err);
	probe_set_kv_f16_min(SIZE_MAX);
	int rc = probe_sample(&p[2], m, n, 9, L, kc->lanes, err, sizeof err);
	probe_set_kv_f16_min(PROBE_KV_F16_MIN);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_mem_eq(p[0]->ids, p[1]->ids, (size_t)n * sizeof(int));
	if (!kc->family && !kc->overflow) /* proof the F16 caches ran: on this model and seed their
					  * rounding changes a draw within 200 tokens */
		ck_assert(memcmp(p[0]->ids, p[2]->ids, 200 * sizeof(int)) != 0);
	if (kc->overflow)
		ck_assert_mem_eq(p[0]->ids, p[2]->ids, (size_t)n * sizeof(int));
	if (kc->lanes == 1 && !kc->overflow) {
		int *ids = malloc((size_t)n * sizeof *ids);
		int *starts = malloc(((size_t)n + 1) * sizeof *starts);
		ck_assert(ids && starts);
		int n_seqs = reference_ids_kv(ids, starts, m, n, 9, L, false, FORWARD_KV_F16_REF);
		ck_assert_int_eq(p[0]->n_seqs, n_seqs);
		ck_assert_mem_eq(p[0]->ids, ids, (size_t)n * sizeof(int));
		ck_assert_mem_eq(p[0]->starts, starts, ((size_t)n_seqs + 1) * sizeof(int));
		free(ids);
		free(starts);
	}
	for (int k = 0; k < 3; k++)
		probe_free(p[k]);
	model_close(m);
}
END_TEST

/* ---- row statistics gathered while sampling: sum_sq / sum_abs over every probe token equal the
 * sums over probe_collect's recorded activations up to the rounding of the products (tokens run
 * in lanes vs one window per sequence), for sequences ended at EOS, at seq_len and truncated;
 * lanes_cases' shapes ---- */

START_TEST(test_sums)
{
	const struct lanes_case *lc = &lanes_cases[_i];
	char err[512];
	struct model *m = case_open(lc->family);
	if (!m)
		return;
	matmul_set_threads(1);
	struct probe *p = NULL;
	ck_assert_msg(probe_collect(&p, m, lc->tokens, 9, lc->seq_len, lc->lanes, err, sizeof err) == 0,
		      "%s", err);
	ck_assert_ptr_nonnull(p->sum_sq);
	for (int l = 0; l < p->n_layers; l++) {
		int F = p->ffn[l];
		double *msq = malloc((size_t)F * sizeof *msq), *mabs = malloc((size_t)F * sizeof *mabs);
		ck_assert(msq && mabs);
		probe_row_stats(msq, mabs, p, l); /* from act */
		for (int i = 0; i < F; i++) {
			double sq = p->sum_sq[l][i] / p->tokens, ab = p->sum_abs[l][i] / p->tokens;
			ck_assert_double_eq_tol(sq, msq[i], 1e-5 * msq[i] + 1e-30);
			ck_assert_double_eq_tol(ab, mabs[i], 1e-5 * mabs[i] + 1e-30);
		}
		free(msq);
		free(mabs);
	}
	/* without act the statistics come from the sums */
	for (int l = 0; l < p->n_layers; l++) {
		free(p->act[l]);
		p->act[l] = NULL;
	}
	double one_sq, one_abs;
	int F0 = p->ffn[0];
	ck_assert(probe_has_stats(p, 0));
	double *msq = malloc((size_t)F0 * sizeof *msq), *mabs = malloc((size_t)F0 * sizeof *mabs);
	ck_assert(msq && mabs);
	probe_row_stats(msq, mabs, p, 0);
	one_sq = p->sum_sq[0][F0 - 1] / p->tokens;
	one_abs = p->sum_abs[0][F0 - 1] / p->tokens;
	ck_assert_double_eq(msq[F0 - 1], one_sq);
	ck_assert_double_eq(mabs[F0 - 1], one_abs);
	free(msq);
	free(mabs);
	probe_free(p);
	model_close(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_sample_token);
	tcase_add_test(tc, test_collect);
	tcase_add_loop_test(tc, test_stream, 0, (int)(sizeof streams / sizeof streams[0]));
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_env_probes);
	tcase_add_test(tc, test_no_bos);
	tcase_add_loop_test(tc, test_lanes, 0, (int)(sizeof lanes_cases / sizeof lanes_cases[0]));
	tcase_add_loop_test(tc, test_pages, 0, (int)(sizeof pages_cases / sizeof pages_cases[0]));
	tcase_add_loop_test(tc, test_kv16, 0, (int)(sizeof kv16_cases / sizeof kv16_cases[0]));
	tcase_add_loop_test(tc, test_sums, 0, (int)(sizeof lanes_cases / sizeof lanes_cases[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
