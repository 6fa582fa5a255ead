/* Tests for prune/prune (plans, writer), prune/scorers kernels and prune/calib on the committed family
 * fixtures (tests/fixtures/families) and on synthetic checkpoints: structured slicing of every
 * family checked bit for bit in the stored dtype and by forward pass against the original with the
 * removed neurons zeroed, unstructured masks (zero and --base values), global padding, sharded
 * input, atomicity, refusals and yopo_pruning.json. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calib.h"
#include "err.h"
#include "eval.h"
#include "file.h"
#include "forward.h"
#include "json.h"
#include "ken.h"
#include "model.h"
#include "prune.h"
#include "scorers.h"
#include "synth.h"
#include "testutil.h"
#include "topk.h"

static const char *const families[] = {"llama_gqa", "mistral", "qwen2", "gpt_neo", "gpt2",
				       "gpt2_prefixed", "opt", "gpt_neox", "gpt_neox_seq", "phi"};
#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

static const int tokens[] = {1, 5, 9, 2, 7, 3};
#define N_TOKENS 6

static void fixture_dir(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/families/%s", testutil_fixtures(), name);
}

/* Plans built straight from the prune/scorers.h kernels (the method registry lives above prune/,
 * in pipeline/scorer.h, and is tested in test-scorer). */
static struct prune_plan *magnitude_rows_plan(const struct model *m, double ratio)
{
	int L = m->cfg.n_layers;
	float **sc = calloc((size_t)L, sizeof *sc);
	for (int l = 0; l < L; l++) {
		sc[l] = malloc((size_t)m->layers[l].ffn * sizeof **sc);
		scorers_magnitude_rows(sc[l], m->layers[l].up, m->layers[l].gate, m->layers[l].ffn,
				       m->cfg.hidden, 2);
	}
	struct prune_plan *p = NULL;
	ck_assert_int_eq(prune_plan_from_scores(&p, m, (const float *const *)sc, ratio, false), PRUNE_OK);
	for (int l = 0; l < L; l++)
		free(sc[l]);
	free(sc);
	return p;
}

static struct prune_plan *ken_weights_plan(const struct model *m, double ratio)
{
	struct prune_plan *p = NULL;
	int H = m->cfg.hidden;
	ck_assert_int_eq(prune_plan_new_weights(&p, m), PRUNE_OK);
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const struct model_layer *ly = &m->layers[l];
		unsigned char *mk = prune_plan_mask(p, l, CONFIG_TENSOR_UP);
		ck_assert_int_eq(ken_weights(mk, ly->up, ly->ffn, H, ratio), SCORERS_OK);
		if ((mk = prune_plan_mask(p, l, CONFIG_TENSOR_GATE)))
			ck_assert_int_eq(ken_weights(mk, ly->gate, ly->ffn, H, ratio), SCORERS_OK);
		mk = prune_plan_mask(p, l, CONFIG_TENSOR_DOWN);
		ck_assert_int_eq(ken_weights(mk, ly->down, H, ly->ffn, ratio), SCORERS_OK);
	}
	return p;
}

/* Number of entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static struct model *open_model(const char *dir)
{
	struct model *m = NULL;
	char err[ERR_MAX];
	int rc = model_open(&m, dir, err, sizeof err);
	ck_assert_msg(rc == MODEL_OK, "model_open %s: %s", dir, err);
	return m;
}

static struct cJSON *read_json(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(util_read_file(&text, &len, path, UTIL_TEXT_MAX, true, NULL, 0), UTIL_OK);
	struct cJSON *j = json_parse(text, len);
	free(text);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* logits (N_TOKENS, vocab) of m on the test tokens; caller frees */
static float *run_forward(const struct model *m)
{
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, 8), FORWARD_OK);
	float *logits = malloc((size_t)N_TOKENS * m->cfg.vocab * sizeof *logits);
	ck_assert_ptr_nonnull(logits);
	ck_assert_int_eq(forward_run(f, logits, tokens, N_TOKENS, 0), FORWARD_OK);
	forward_free(f);
	return logits;
}

static void assert_logits_close(const float *a, const float *b, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-4f * (1 + fabsf(b[i])), "%s: logit %d: %g vs %g",
			      what, i, (double)a[i], (double)b[i]);
}

/* The reference for structured pruning, written independently of prune_apply: zero every
 * non-kept neuron's up/gate row and bias entries and down column in m's canonical weights. */
static void zero_neurons(struct model *m, int l, const unsigned char *keep)
{
	struct model_layer *L = &m->layers[l];
	int H = m->cfg.hidden, F = L->ffn;
	for (int i = 0; i < F; i++) {
		if (keep[i])
			continue;
		for (int j = 0; j < H; j++) {
			L->up[(size_t)i * H + j] = 0;
			if (L->gate)
				L->gate[(size_t)i * H + j] = 0;
			L->down[(size_t)j * F + i] = 0;
		}
		if (L->b_up)
			L->b_up[i] = 0;
		if (L->b_gate)
			L->b_gate[i] = 0;
	}
}

/* Which axis of the STORED tensor holds the neurons: gpt2's Conv1D stores (in, out). */
static int neuron_axis(const struct config *c, enum config_tensor which, int ndim)
{
	if (ndim == 1)
		return 0;
	if (which == CONFIG_TENSOR_DOWN)
		return c->conv1d ? 0 : 1;
	return c->conv1d ? 1 : 0;
}

static const enum config_tensor sliced[] = {CONFIG_TENSOR_UP, CONFIG_TENSOR_UP_BIAS,
					    CONFIG_TENSOR_GATE, CONFIG_TENSOR_GATE_BIAS,
					    CONFIG_TENSOR_DOWN};

/* Is name one of the sliced FFN tensors of c? */
static bool is_sliced(const struct config *c, const char *name, int *layer, enum config_tensor *w)
{
	char buf[256];
	for (int l = 0; l < c->n_layers; l++)
		for (size_t t = 0; t < sizeof sliced / sizeof sliced[0]; t++)
			if (!config_tensor_name(buf, sizeof buf, c, sliced[t], l) && !strcmp(buf, name)) {
				*layer = l;
				*w = sliced[t];
				return true;
			}
	return false;
}

/* Checks out's stored tensors against in's: sliced FFN tensors hold exactly in's elements at
 * kept[l] (then zero padding up to width), every other tensor is byte-identical. */
static void check_stored_rows(const struct model *in, const struct model *out,
			      int *const *kept, const int *k, int width)
{
	ck_assert_int_eq(safetensors_count(out->st), safetensors_count(in->st));
	for (int i = 0; i < safetensors_count(in->st); i++) {
		const struct safetensors_tensor *a = safetensors_at(in->st, i);
		const struct safetensors_tensor *b = safetensors_find(out->st, a->name);
		ck_assert_msg(b != NULL, "output lacks %s", a->name);
		ck_assert_int_eq(a->dtype, b->dtype);
		ck_assert_int_eq(a->ndim, b->ndim);
		int l;
		enum config_tensor w;
		if (!is_sliced(&in->cfg, a->name, &l, &w)) {
			for (int d = 0; d < a->ndim; d++)
				ck_assert_int_eq(a->shape[d], b->shape[d]);
			ck_assert_int_eq(memcmp(a->data, b->data, a->nbytes), 0);
			continue;
		}
		size_t es = safetensors_dtype_size(a->dtype);
		int ax = neuron_axis(&in->cfg, w, a->ndim);
		ck_assert_int_eq(b->shape[ax], width);
		size_t cols = a->ndim == 1 ? 1 : (size_t)a->shape[1];
		size_t ocols = a->ndim == 1 ? 1 : (size_t)b->shape[1];
		const unsigned char *src = a->data, *dst = b->data;
		static const unsigned char zero[4] = {0};
		size_t orows = a->ndim == 1 ? (size_t)width : (size_t)b->shape[0];
		for (size_t r = 0; r < orows; r++)
			for (size_t c = 0; c < ocols; c++) {
				size_t t = ax == 0 ? r : c; /* position along the neuron axis */
				const unsigned char *got = dst + (r * ocols + c) * es;
				if ((int)t >= k[l]) {
					ck_assert_int_eq(memcmp(got, zero, es), 0);
					continue;
				}
				size_t sr = ax == 0 ? (size_t)kept[l][t] : r;
				size_t sc = ax == 0 ? c : (size_t)kept[l][t];
				ck_assert_msg(!memcmp(got, src + (sr * cols + sc) * es, es),
					      "%s (%zu, %zu) differs", a->name, r, c);
			}
	}
}

/* Other keys of config.json preserved, the FFN key set to width, yopo_ffn_sizes gone. */
static void check_config(const char *in_dir, const char *out_dir, const char *ffn_key, int width)
{
	char p[PATH_MAX];
	testutil_path_join(p, sizeof p, in_dir, "config.json");
	struct cJSON *a = read_json(p);
	testutil_path_join(p, sizeof p, out_dir, "config.json");
	struct cJSON *b = read_json(p);
	int n_a = 0, n_b = json_count(b);
	for (const struct cJSON *it = json_child(a); it; it = json_next(it)) {
		n_a++;
		const struct cJSON *o = json_get(b, json_key(it));
		if (!strcmp(json_key(it), ffn_key))
			continue;
		/* same value: same compact text */
		char *ta = json_print(it, false), *tb = o ? json_print(o, false) : NULL;
		ck_assert_msg(tb && !strcmp(ta, tb), "config key %s changed", json_key(it));
		free(ta);
		free(tb);
	}
	const struct cJSON *w = json_get(b, ffn_key);
	ck_assert(json_type(w) == JSON_TYPE_NUMBER);
	ck_assert_int_eq((int)json_number(w), width);
	ck_assert_int_eq(n_b, n_a + ((json_get(a, ffn_key) != NULL) ? 0 : 1));
	json_free(a);
	json_free(b);
}

static const struct prune_info test_info = {
	.method = "test", .ratio = 0.33, .granularity = PRUNE_GRANULARITY_ROWS, .global = false,
	.seed = 18446744073709551615ull, .policy_sha256 = NULL, .calib_file = NULL,
	.calib_tokens = 0, .base_dir = NULL,
};

static int write_plan(const struct model *m, const char *in, const struct prune_plan *p,
		      const struct model *base, const char *out, bool force)
{
	char err[ERR_MAX] = "";
	struct prune_info info = test_info;
	info.granularity = prune_plan_granularity(p);
	int rc = prune_write(m, in, p, base, &info, out, force, err, sizeof err);
	if (rc)
		fprintf(stderr, "prune_write -> %s (%s)\n", prune_strerror(rc), err);
	return rc;
}

/* ---- structured slicing of every family ---- */

START_TEST(test_rows_every_family)
{
	char in[PATH_MAX], *tmp, out[PATH_MAX + 16];
	fixture_dir(in, sizeof in, families[_i]);
	tmp = testutil_tmpdir_new("prune");
	testutil_path_join(out, sizeof out, tmp, "out");
	struct model *m = open_model(in);
	int L = m->cfg.n_layers, F = m->cfg.ffn;
	int ffn[CONFIG_MAX_LAYERS];
	for (int l = 0; l < L; l++)
		ffn[l] = m->layers[l].ffn;
	struct prune_plan *p = NULL;
	ck_assert_int_eq(prune_plan_new_rows(&p, L, ffn), PRUNE_OK);
	int k = F - F / 3;
	int *kept[CONFIG_MAX_LAYERS], ks[CONFIG_MAX_LAYERS];
	unsigned char *keep[CONFIG_MAX_LAYERS];
	struct pcg32 rng;
	pcg32_seed(&rng, 99 + (uint64_t)_i, 0);
	for (int l = 0; l < L; l++) {
		/* a random k-subset, handed over unsorted */
		int *perm = malloc((size_t)F * sizeof *perm);
		for (int i = 0; i < F; i++)
			perm[i] = i;
		for (int i = F - 1; i > 0; i--) {
			int j = (int)pcg32_bounded(&rng, (uint32_t)(i + 1));
			int t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
		ck_assert_int_eq(prune_plan_set_layer_rows(p, l, perm, k), PRUNE_OK);
		keep[l] = calloc((size_t)F, 1);
		for (int i = 0; i < k; i++)
			keep[l][perm[i]] = 1;
		kept[l] = malloc((size_t)k * sizeof **kept);
		int t = 0;
		for (int i = 0; i < F; i++)
			if (keep[l][i])
				kept[l][t++] = i;
		ks[l] = k;
		const int *got;
		ck_assert_int_eq(prune_plan_layer_kept(p, l, &got), k);
		for (int i = 0; i < k; i++)
			ck_assert_int_eq(got[i], kept[l][i]); /* sorted copy */
		free(perm);
	}
	ck_assert_int_eq(write_plan(m, in, p, NULL, out, false), PRUNE_OK);

	struct model *m2 = open_model(out);
	ck_assert_int_eq(m2->cfg.ffn, k);
	for (int l = 0; l < L; l++)
		ck_assert_int_eq(m2->layers[l].ffn, k);
	ck_assert_int_eq(m2->dtype, m->dtype);
	check_config(in, out, m->cfg.ffn_key, k);
	check_stored_rows(m, m2, kept, ks, k);

	/* parameter counts: every FFN tensor loses F - k of its neurons */
	struct prune_counts cn;
	ck_assert_int_eq(prune_plan_count(&cn, p, m), PRUNE_OK);
	ck_assert_uint_eq(cn.params_after, m2->n_params);
	ck_assert_uint_eq(cn.ffn_params_after, m2->n_ffn_params);
	ck_assert_uint_eq(cn.ffn_params_before, m->n_ffn_params);
	ck_assert_uint_eq(cn.params_stored, cn.params_after);

	/* forward: pruned == original with the removed neurons zeroed */
	float *got = run_forward(m2);
	for (int l = 0; l < L; l++)
		zero_neurons(m, l, keep[l]);
	float *want = run_forward(m);
	assert_logits_close(got, want, N_TOKENS * m->cfg.vocab, families[_i]);
	/* and the zeroing changed the output (the test can fail) */
	struct model *orig = open_model(in);
	float *full = run_forward(orig);
	double diff = 0;
	for (int i = 0; i < N_TOKENS * m->cfg.vocab; i++)
		diff += fabs((double)full[i] - want[i]);
	ck_assert(diff > 1e-3);
	/* prune_apply computes the same zeroed weights */
	ck_assert_int_eq(prune_apply(orig, p, NULL), PRUNE_OK);
	for (int l = 0; l < L; l++) {
		size_t n = (size_t)F * m->cfg.hidden;
		ck_assert_int_eq(memcmp(orig->layers[l].up, m->layers[l].up, n * sizeof(float)), 0);
		ck_assert_int_eq(memcmp(orig->layers[l].down, m->layers[l].down, n * sizeof(float)), 0);
	}

	/* yopo_pruning.json */
	char rp[PATH_MAX + 64];
	testutil_path_join(rp, sizeof rp, out, "yopo_pruning.json");
	struct cJSON *r = read_json(rp);
	static const char *const keys[] = {"yopo_version", "method", "ratio", "granularity", "global",
					   "seed", "policy_sha256", "calibration", "base",
					   "params_before", "params_after", "ffn_params_before",
					   "ffn_params_after", "kept_per_layer", "kept_indices", "note"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		ck_assert_msg((json_get(r, keys[i]) != NULL), "yopo_pruning.json lacks %s", keys[i]);
	ck_assert_str_eq(json_string(json_get(r, "granularity")), "rows");
	ck_assert_str_eq(json_string(json_get(r, "method")), "test");
	ck_assert(json_type(json_get(r, "policy_sha256")) == JSON_TYPE_NULL);
	ck_assert(json_type(json_get(r, "calibration")) == JSON_TYPE_NULL);
	ck_assert_double_eq(json_number(json_get(r, "params_before")), (double)m->n_params);
	ck_assert_double_eq(json_number(json_get(r, "params_after")), (double)m2->n_params);
	/* the seed is written exactly (2^64 - 1 is not a double) */
	char *text;
	size_t tlen;
	ck_assert_int_eq(util_read_file(&text, &tlen, rp, UTIL_TEXT_MAX, true, NULL, 0), UTIL_OK);
	ck_assert_ptr_nonnull(strstr(text, "\"seed\":\t18446744073709551615,"));
	free(text);
	const struct cJSON *ki = json_get(r, "kept_indices");
	ck_assert_int_eq(json_count(ki), L);
	for (int l = 0; l < L; l++) {
		const struct cJSON *row = json_at(ki, l);
		ck_assert_int_eq(json_count(row), k);
		for (int i = 0; i < k; i++)
			ck_assert_int_eq((int)json_number(json_at(row, i)), kept[l][i]);
		ck_assert_int_eq((int)json_number(json_at(json_get(r, "kept_per_layer"), l)), k);
	}
	json_free(r);

	for (int l = 0; l < L; l++) {
		free(keep[l]);
		free(kept[l]);
	}
	free(got);
	free(want);
	free(full);
	model_close(orig);
	model_close(m2);
	model_close(m);
	prune_plan_free(p);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- unstructured masks of every family ---- */

static const enum config_tensor mats[] = {CONFIG_TENSOR_UP, CONFIG_TENSOR_GATE, CONFIG_TENSOR_DOWN};

static float *canon(struct model *m, int l, enum config_tensor w)
{
	struct model_layer *L = &m->layers[l];
	return w == CONFIG_TENSOR_UP ? L->up : w == CONFIG_TENSOR_GATE ? L->gate : L->down;
}

START_TEST(test_weights_every_family)
{
	char in[PATH_MAX], *tmp, out[PATH_MAX + 16];
	fixture_dir(in, sizeof in, families[_i]);
	tmp = testutil_tmpdir_new("prune");
	testutil_path_join(out, sizeof out, tmp, "out");
	struct model *m = open_model(in);
	int L = m->cfg.n_layers, H = m->cfg.hidden;
	struct prune_plan *p = NULL;
	ck_assert_int_eq(prune_plan_new_weights(&p, m), PRUNE_OK);
	ck_assert_ptr_null(prune_plan_mask(p, 0, CONFIG_TENSOR_UP_BIAS));
	ck_assert_int_eq(prune_plan_mask(p, 0, CONFIG_TENSOR_GATE) != NULL, m->cfg.gated);
	for (int l = 0; l < L; l++)
		for (int t = 0; t < 3; t++) {
			unsigned char *mk = prune_plan_mask(p, l, mats[t]);
			if (!mk)
				continue;
			size_t n = (size_t)m->layers[l].ffn * H;
			for (size_t i = 0; i < n; i++) {
				ck_assert_int_eq(mk[i], 1); /* starts all-ones */
				mk[i] = (i * 31 + (size_t)l * 7 + (size_t)t) % 5 != 0;
			}
		}
	ck_assert_int_eq(write_plan(m, in, p, NULL, out, false), PRUNE_OK);
	struct model *m2 = open_model(out);
	/* config.json copied byte for byte */
	char a[PATH_MAX + 16], b[PATH_MAX + 16];
	testutil_path_join(a, sizeof a, in, "config.json");
	testutil_path_join(b, sizeof b, out, "config.json");
	char *ta, *tb;
	size_t la, lb;
	ck_assert_int_eq(util_read_file(&ta, &la, a, UTIL_TEXT_MAX, true, NULL, 0), UTIL_OK);
	ck_assert_int_eq(util_read_file(&tb, &lb, b, UTIL_TEXT_MAX, true, NULL, 0), UTIL_OK);
	ck_assert_uint_eq(la, lb);
	ck_assert_int_eq(memcmp(ta, tb, la), 0);
	free(ta);
	free(tb);
	/* stored bytes: masked entries zero, others the original's; other tensors unchanged */
	char name[256];
	for (int i = 0; i < safetensors_count(m->st); i++) {
		const struct safetensors_tensor *x = safetensors_at(m->st, i);
		const struct safetensors_tensor *y = safetensors_find(m2->st, x->name);
		ck_assert_ptr_nonnull(y);
		ck_assert_int_eq(x->dtype, y->dtype);
		ck_assert_int_eq(x->ndim, y->ndim);
		for (int d = 0; d < x->ndim; d++)
			ck_assert_int_eq(x->shape[d], y->shape[d]);
		int layer = -1, t = -1;
		for (int l = 0; l < L && t < 0; l++)
			for (int q = 0; q < 3; q++)
				if (!config_tensor_name(name, sizeof name, &m->cfg, mats[q], l) &&
				    !strcmp(name, x->name)) {
					layer = l;
					t = q;
				}
		if (t < 0) {
			ck_assert_int_eq(memcmp(x->data, y->data, x->nbytes), 0);
			continue;
		}
		const unsigned char *mk = prune_plan_mask(p, layer, mats[t]);
		size_t es = safetensors_dtype_size(x->dtype);
		size_t F = (size_t)m->layers[layer].ffn;
		size_t cr = mats[t] == CONFIG_TENSOR_DOWN ? (size_t)H : F; /* canonical rows */
		size_t cc = mats[t] == CONFIG_TENSOR_DOWN ? F : (size_t)H;
		static const unsigned char zero[4] = {0};
		for (size_t r = 0; r < cr; r++)
			for (size_t c = 0; c < cc; c++) {
				size_t si = m->cfg.conv1d ? c * cr + r : r * cc + c;
				const unsigned char *got = (const unsigned char *)y->data + si * es;
				const unsigned char *orig = (const unsigned char *)x->data + si * es;
				ck_assert(!memcmp(got, mk[r * cc + c] ? orig : zero, es));
			}
	}
	/* forward equals the original with masked canonical entries zeroed */
	for (int l = 0; l < L; l++)
		for (int t = 0; t < 3; t++) {
			const unsigned char *mk = prune_plan_mask(p, l, mats[t]);
			float *w = canon(m, l, mats[t]);
			for (size_t i = 0; mk && i < (size_t)m->layers[l].ffn * H; i++)
				if (!mk[i])
					w[i] = 0;
		}
	float *got = run_forward(m2), *want = run_forward(m);
	assert_logits_close(got, want, N_TOKENS * m->cfg.vocab, families[_i]);
	/* report */
	testutil_path_join(a, sizeof a, out, "yopo_pruning.json");
	struct cJSON *r = read_json(a);
	ck_assert_str_eq(json_string(json_get(r, "granularity")), "weights");
	ck_assert(!(json_get(r, "kept_indices") != NULL));
	ck_assert_ptr_nonnull(strstr(json_string(json_get(r, "note")),
				     "saves no memory and no time"));
	struct prune_counts cn;
	ck_assert_int_eq(prune_plan_count(&cn, p, m), PRUNE_OK);
	ck_assert_double_eq(json_number(json_get(r, "ffn_params_after")),
			    (double)cn.ffn_params_after);
	ck_assert_uint_eq(cn.params_stored, m->n_params);
	ck_assert_uint_lt(cn.ffn_params_after, cn.ffn_params_before);
	json_free(r);
	free(got);
	free(want);
	model_close(m2);
	model_close(m);
	prune_plan_free(p);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- global allocation and zero padding ---- */

/* With F neurons per layer: layer 0 scores 10, 10, 10 then 0.01 x (F - 3): its mean is
 * m0 = (30 + 0.01 (F - 3)) / F, so the normalised scores are about F/3 and 0.0003 F, far above
 * and far below 1 for 3 < F < 300; layer 1 scores all 100 (normalised 1). Ratio 0.5 of 2F keeps
 * F: each layer's best (index 0) first, then the F - 2 largest normalised scores: layer 0's
 * indices 1, 2 and layer 1's 1 .. F-4 (ties -> lower index). Layer 0 keeps {0, 1, 2}, layer 1
 * keeps {0 .. F-4}: width F-3, and layer 0 is stored with F-6 zero neurons of padding.
 * (Without the per-layer normalisation layer 1's raw 100s would all beat layer 0's 10s.) */
START_TEST(test_global_padding)
{
	char in[PATH_MAX], *tmp, out[PATH_MAX + 16];
	fixture_dir(in, sizeof in, families[_i]);
	tmp = testutil_tmpdir_new("prune");
	testutil_path_join(out, sizeof out, tmp, "out");
	struct model *m = open_model(in);
	ck_assert_int_eq(m->cfg.n_layers, 2);
	int F = m->cfg.ffn, W = F - 3;
	float *s0 = malloc((size_t)F * sizeof *s0), *s1 = malloc((size_t)F * sizeof *s1);
	for (int i = 0; i < F; i++) {
		s0[i] = i < 3 ? 10.0f : 0.01f;
		s1[i] = 100.0f;
	}
	const float *scores[2] = {s0, s1};
	struct prune_plan *p = NULL;
	ck_assert_int_eq(prune_plan_from_scores(&p, m, scores, 0.5, true), PRUNE_OK);
	const int *k0, *k1;
	ck_assert_int_eq(prune_plan_layer_kept(p, 0, &k0), 3);
	ck_assert_int_eq(prune_plan_layer_kept(p, 1, &k1), W);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(k0[i], i);
	for (int i = 0; i < W; i++)
		ck_assert_int_eq(k1[i], i);
	/* uniform allocation of the same scores keeps F/2 per layer */
	struct prune_plan *u = NULL;
	ck_assert_int_eq(prune_plan_from_scores(&u, m, scores, 0.5, false), PRUNE_OK);
	ck_assert_int_eq(prune_plan_layer_kept(u, 0, &k0), F / 2);
	ck_assert_int_eq(prune_plan_layer_kept(u, 1, &k1), F / 2);
	prune_plan_free(u);

	ck_assert_int_eq(write_plan(m, in, p, NULL, out, false), PRUNE_OK);
	struct model *m2 = open_model(out);
	ck_assert_int_eq(m2->cfg.ffn, W);
	check_config(in, out, m->cfg.ffn_key, W);
	int kept0[3] = {0, 1, 2};
	int *kept1 = malloc((size_t)W * sizeof *kept1);
	for (int i = 0; i < W; i++)
		kept1[i] = i;
	int *kept[2] = {kept0, kept1}, ks[2] = {3, W};
	check_stored_rows(m, m2, kept, ks, W);
	/* padded forward == original with the removed neurons zeroed */
	unsigned char *keep0 = calloc((size_t)F, 1), *keep1 = calloc((size_t)F, 1);
	for (int i = 0; i < 3; i++)
		keep0[i] = 1;
	for (int i = 0; i < W; i++)
		keep1[i] = 1;
	zero_neurons(m, 0, keep0);
	zero_neurons(m, 1, keep1);
	float *got = run_forward(m2), *want = run_forward(m);
	assert_logits_close(got, want, N_TOKENS * m->cfg.vocab, families[_i]);
	/* report: true sizes and the effective count */
	char rp[PATH_MAX + 64];
	testutil_path_join(rp, sizeof rp, out, "yopo_pruning.json");
	struct cJSON *r = read_json(rp);
	const struct cJSON *kpl = json_get(r, "kept_per_layer");
	ck_assert_int_eq((int)json_number(json_at(kpl, 0)), 3);
	ck_assert_int_eq((int)json_number(json_at(kpl, 1)), W);
	ck_assert_int_eq((int)json_number(json_get(r, "ffn_width")), W);
	struct prune_counts cn;
	ck_assert_int_eq(prune_plan_count(&cn, p, m), PRUNE_OK);
	/* per neuron: up/gate rows and down column (3H or 2H) + up/gate bias entries */
	const struct model_layer *ly = &m->layers[0];
	int H = m->cfg.hidden;
	size_t per = (size_t)H * (ly->gate ? 3 : 2) + (ly->b_up ? 1 : 0) + (ly->b_gate ? 1 : 0);
	ck_assert_uint_eq(cn.ffn_params_before - cn.ffn_params_after, per * (size_t)F);
	ck_assert_uint_eq(cn.params_stored, m2->n_params);
	ck_assert_uint_eq(cn.params_stored - cn.params_after, per * (size_t)(W - 3));
	ck_assert_double_eq(json_number(json_get(r, "params_after")), (double)cn.params_after);
	ck_assert_double_eq(json_number(json_get(r, "params_stored")), (double)cn.params_stored);
	ck_assert_ptr_nonnull(strstr(json_string(json_get(r, "note")), "padded"));
	json_free(r);
	free(got);
	free(want);
	free(keep0);
	free(keep1);
	free(kept1);
	free(s0);
	free(s1);
	model_close(m2);
	model_close(m);
	prune_plan_free(p);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- plan API ---- */

/* The one ratio rule (prune_check_ratio): each group must lose at least one and keep at least one,
 * per layer (layer 1 narrower here), per row for weights, over all layers with global. */
struct ratio_case {
	double ratio;
	enum prune_granularity g;
	bool global;
	int ok;
	const char *expect; /* substring of the reason when refused */
};

static const struct ratio_case ratio_cases[] = {
	{0.3, PRUNE_GRANULARITY_ROWS, false, 1, NULL},
	{1e-300, PRUNE_GRANULARITY_ROWS, false, 0, "removes no FFN neuron of layer 0 (24)"},
	/* 0.03: 0.72 of layer 0's 24 rounds to 1, 0.3 of layer 1's 10 to 0 */
	{0.03, PRUNE_GRANULARITY_ROWS, false, 0, "removes no FFN neuron of layer 1 (10)"},
	{0.96, PRUNE_GRANULARITY_ROWS, false, 0, "removes every FFN neuron of layer 1 (10)"},
	{0.03, PRUNE_GRANULARITY_ROWS, true, 1, NULL}, /* 34 neurons together: 1 removed */
	{0.01, PRUNE_GRANULARITY_ROWS, true, 0, "removes none of the 34"},
	{0.96, PRUNE_GRANULARITY_ROWS, true, 0, "too many"},
	{0.04, PRUNE_GRANULARITY_WEIGHTS, false, 0, "removes no weight per down row of layer 1"},
	{0.1, PRUNE_GRANULARITY_WEIGHTS, false, 1, NULL},
	{0, PRUNE_GRANULARITY_ROWS, false, 0, "outside (0, 1)"},
	{1, PRUNE_GRANULARITY_ROWS, false, 0, "outside (0, 1)"},
	{NAN, PRUNE_GRANULARITY_ROWS, false, 0, "outside (0, 1)"},
};

START_TEST(test_check_ratio)
{
	const struct ratio_case *c = &ratio_cases[_i];
	struct config cfg = {.n_layers = 2, .hidden = 16, .ffn = 24, .layer_ffn = {24, 10}};
	char err[256] = "";
	int rc = prune_check_ratio(&cfg, c->ratio, c->g, c->global, err, sizeof err);
	if (c->ok) {
		ck_assert_msg(rc == PRUNE_OK, "ratio %g refused: %s", c->ratio, err);
		return;
	}
	ck_assert_int_eq(rc, PRUNE_ERR_RATIO);
	ck_assert_msg(strstr(err, c->expect), "ratio %g: '%s' lacks '%s'", c->ratio, err, c->expect);
}
END_TEST

START_TEST(test_plan_errors)
{
	char in[PATH_MAX];
	fixture_dir(in, sizeof in, "llama_gqa");
	struct model *m = open_model(in);
	int ffn[2] = {24, 24};
	struct prune_plan *p = NULL;
	ck_assert_int_eq(prune_plan_new_rows(&p, 0, ffn), PRUNE_ERR_ARG);
	ck_assert_int_eq(prune_plan_new_rows(&p, 2, (int[]){24, 0}), PRUNE_ERR_ARG);
	ck_assert_int_eq(prune_plan_new_rows(&p, 2, ffn), PRUNE_OK);
	ck_assert_int_eq(prune_plan_granularity(p), PRUNE_GRANULARITY_ROWS);
	ck_assert_int_eq(prune_plan_n_layers(p), 2);
	ck_assert_ptr_null(prune_plan_mask(p, 0, CONFIG_TENSOR_UP));
	ck_assert_int_eq(prune_plan_set_layer_rows(p, 0, (int[]){3, 1, 3}, 3), PRUNE_ERR_PLAN);
	ck_assert_int_eq(prune_plan_set_layer_rows(p, 0, (int[]){3, 24}, 2), PRUNE_ERR_PLAN);
	ck_assert_int_eq(prune_plan_set_layer_rows(p, 0, (int[]){-1}, 1), PRUNE_ERR_PLAN);
	ck_assert_int_eq(prune_plan_set_layer_rows(p, 0, (int[]){1}, 0), PRUNE_ERR_PLAN);
	ck_assert_int_eq(prune_plan_set_layer_rows(p, 2, (int[]){1}, 1), PRUNE_ERR_PLAN);
	const int *kept;
	ck_assert_int_eq(prune_plan_layer_kept(p, 0, &kept), 24); /* unchanged by the failures */
	ck_assert_int_eq(prune_plan_layer_kept(p, 5, &kept), -1);
	ck_assert_int_eq(prune_plan_set_layer_rows(p, 0, (int[]){20, 4, 9}, 3), PRUNE_OK);
	ck_assert_int_eq(prune_plan_layer_kept(p, 0, &kept), 3);
	ck_assert(kept[0] == 4 && kept[1] == 9 && kept[2] == 20);
	prune_plan_free(p);
	prune_plan_free(NULL);

	/* a plan for other widths does not fit */
	ck_assert_int_eq(prune_plan_new_rows(&p, 2, (int[]){24, 23}), PRUNE_OK);
	struct prune_counts cn;
	ck_assert_int_eq(prune_plan_count(&cn, p, m), PRUNE_ERR_PLAN);
	char *tmp, out[PATH_MAX + 16], err[ERR_MAX];
	tmp = testutil_tmpdir_new("prune");
	testutil_path_join(out, sizeof out, tmp, "out");
	ck_assert_int_eq(prune_write(m, in, p, NULL, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_PLAN);
	ck_assert(!testutil_path_exists(out));
	prune_plan_free(p);

	/* scores: ratio range, NaN, ties toward the lower index, lround */
	float s0[24], s1[24];
	for (int i = 0; i < 24; i++)
		s0[i] = s1[i] = (float)(i % 4); /* 3s at 3, 7, 11, ... */
	const float *sc[2] = {s0, s1};
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, 1.0, false), PRUNE_ERR_RATIO);
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, -0.1, true), PRUNE_ERR_RATIO);
	/* uniform 0.99: lround(23.76) = 24 of 24; global 0.99: lround(47.52) = 48 of 48 */
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, 0.99, false), PRUNE_ERR_RATIO);
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, 0.99, true), PRUNE_ERR_RATIO);
	/* global 0.96: lround(46.08) = 46 removed, 2 kept: each layer's best (the first 3) */
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, 0.96, true), PRUNE_OK);
	ck_assert_int_eq(prune_plan_layer_kept(p, 0, &kept), 1);
	ck_assert_int_eq(kept[0], 3);
	prune_plan_free(p);
	/* 0.3 * 24 = 7.2 -> 7 removed, 17 kept: all 3s, 2s, 1s (18) minus the last 1 (index 21) */
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, 0.3, false), PRUNE_OK);
	ck_assert_int_eq(prune_plan_layer_kept(p, 1, &kept), 17);
	int t = 0;
	for (int i = 0; i < 24; i++)
		if (i % 4 != 0 && i != 21)
			ck_assert_int_eq(kept[t++], i);
	prune_plan_free(p);
	s1[5] = NAN;
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, 0.3, false), PRUNE_ERR_SCORES);
	s1[5] = INFINITY;
	ck_assert_int_eq(prune_plan_from_scores(&p, m, sc, 0.3, true), PRUNE_ERR_SCORES);

	/* a base model applies to weights only; a base of another shape is refused */
	ck_assert_int_eq(prune_plan_new_rows(&p, 2, ffn), PRUNE_OK);
	ck_assert_int_eq(prune_write(m, in, p, m, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_ARG);
	prune_plan_free(p);
	char other[PATH_MAX];
	fixture_dir(other, sizeof other, "gpt_neo");
	struct model *o = open_model(other);
	ck_assert_int_eq(prune_plan_new_weights(&p, m), PRUNE_OK);
	ck_assert_int_eq(prune_write(m, in, p, o, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_BASE_SHAPE);
	ck_assert_int_eq(prune_apply(m, p, o), PRUNE_ERR_BASE_SHAPE);
	struct prune_info noname = test_info;
	noname.method = NULL;
	ck_assert_int_eq(prune_write(m, in, p, NULL, &noname, out, false, err, sizeof err),
			 PRUNE_ERR_ARG);
	ck_assert(!testutil_path_exists(out));
	prune_plan_free(p);
	model_close(o);
	/* same family, other FFN width */
	char g2[PATH_MAX], g2p[PATH_MAX];
	fixture_dir(g2, sizeof g2, "gpt2");
	fixture_dir(g2p, sizeof g2p, "gpt2_prefixed");
	struct model *a = open_model(g2), *b = open_model(g2p);
	ck_assert_int_eq(prune_plan_new_weights(&p, a), PRUNE_OK);
	ck_assert_int_eq(prune_write(a, g2, p, b, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_BASE_SHAPE);
	prune_plan_free(p);
	model_close(a);
	model_close(b);
	ck_assert_str_eq(prune_strerror(PRUNE_ERR_OUT_NOT_EMPTY),
			 "output directory exists and is not empty (use --force)");
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- refusals and force ---- */

START_TEST(test_refusals)
{
	char *tmp, in[PATH_MAX + 16], out[PATH_MAX + 32], p[PATH_MAX + 64], err[ERR_MAX];
	char fx[PATH_MAX], src[PATH_MAX + 32];
	tmp = testutil_tmpdir_new("prune");
	fixture_dir(fx, sizeof fx, "qwen2");
	testutil_path_join(in, sizeof in, tmp, "in");
	ck_assert_int_eq(mkdir(in, 0755), 0);
	static const char *const files[] = {"config.json", "model.safetensors"};
	for (int i = 0; i < 2; i++) {
		testutil_path_join(src, sizeof src, fx, files[i]);
		testutil_path_join(p, sizeof p, in, files[i]);
		testutil_file_copy(src, p);
	}
	struct model *m = open_model(in);
	struct prune_plan *plan = NULL;
	ck_assert_int_eq(prune_plan_new_weights(&plan, m), PRUNE_OK);

	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, in, false, err, sizeof err),
			 PRUNE_ERR_OUT_IS_INPUT);
	testutil_path_join(out, sizeof out, in, "");
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, true, err, sizeof err),
			 PRUNE_ERR_OUT_IS_INPUT);
	testutil_path_join(out, sizeof out, in, "../in");
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, true, err, sizeof err),
			 PRUNE_ERR_OUT_IS_INPUT);
	testutil_path_join(out, sizeof out, tmp, "link"); /* a symlink to the input */
	ck_assert_int_eq(symlink(in, out), 0);
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, true, err, sizeof err),
			 PRUNE_ERR_OUT_IS_INPUT);
	unlink(out);
	testutil_path_join(out, sizeof out, in, "sub");
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_OUT_INSIDE_INPUT);
	ck_assert(!testutil_path_exists(out));
	ck_assert_int_eq(count_prefixed(in, "sub"), 0); /* no temp dir either */
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, tmp, true, err, sizeof err),
			 PRUNE_ERR_OUT_CONTAINS_INPUT);
	ck_assert(testutil_path_exists(in));

	/* an existing non-empty directory: refused, then replaced with force */
	testutil_path_join(out, sizeof out, tmp, "out");
	ck_assert_int_eq(mkdir(out, 0755), 0);
	testutil_path_join(p, sizeof p, out, "marker");
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_OUT_NOT_EMPTY);
	ck_assert(testutil_path_exists(p));
	ck_assert_int_eq(write_plan(m, in, plan, NULL, out, true), PRUNE_OK);
	ck_assert(!testutil_path_exists(p));
	testutil_path_join(p, sizeof p, out, "model.safetensors");
	ck_assert(testutil_path_exists(p));
	ck_assert_int_eq(count_prefixed(tmp, "out."), 0); /* neither temp nor old dir left */

	/* an existing empty directory is fine without force */
	testutil_path_join(out, sizeof out, tmp, "empty");
	ck_assert_int_eq(mkdir(out, 0755), 0);
	mode_t old_umask = umask(027);
	ck_assert_int_eq(write_plan(m, in, plan, NULL, out, false), PRUNE_OK);
	umask(old_umask);
	testutil_path_join(p, sizeof p, out, "yopo_pruning.json");
	ck_assert(testutil_path_exists(p));
	/* issue 13 item 10: the umask applies (mkdtemp alone made it 0700) */
	struct stat sb;
	ck_assert_int_eq(stat(out, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0750);

	/* a file in the way */
	testutil_path_join(out, sizeof out, tmp, "afile");
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, true, err, sizeof err),
			 PRUNE_ERR_OUT_NOT_EMPTY);
	/* a missing parent */
	testutil_path_join(out, sizeof out, tmp, "no/such");
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_IO);
	ck_assert_int_eq(count_prefixed(tmp, "no"), 0);

	prune_plan_free(plan);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- atomicity ---- */

START_TEST(test_atomic_failure)
{
	char *tmp, in[PATH_MAX + 16], out[PATH_MAX + 32], p[PATH_MAX + 64], err[ERR_MAX];
	char fx[PATH_MAX], src[PATH_MAX + 32];
	tmp = testutil_tmpdir_new("prune");
	fixture_dir(fx, sizeof fx, "gpt2");
	testutil_path_join(in, sizeof in, tmp, "in");
	ck_assert_int_eq(mkdir(in, 0755), 0);
	static const char *const files[] = {"config.json", "model.safetensors"};
	for (int i = 0; i < 2; i++) {
		testutil_path_join(src, sizeof src, fx, files[i]);
		testutil_path_join(p, sizeof p, in, files[i]);
		testutil_file_copy(src, p);
	}
	struct model *m = open_model(in);
	int ffn[2] = {m->layers[0].ffn, m->layers[1].ffn};
	struct prune_plan *plan = NULL;
	ck_assert_int_eq(prune_plan_new_rows(&plan, 2, ffn), PRUNE_OK);
	ck_assert_int_eq(prune_plan_set_layer_rows(plan, 0, (int[]){0, 5, 7}, 3), PRUNE_OK);
	/* tokenizer.json is a directory: copying it fails after the weights are written */
	testutil_path_join(p, sizeof p, in, "tokenizer.json");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	testutil_path_join(out, sizeof out, tmp, "out");
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, false, err, sizeof err),
			 PRUNE_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, "tokenizer.json"));
	ck_assert(!testutil_path_exists(out));
	ck_assert_int_eq(count_prefixed(tmp, "out"), 0);
	/* with force over an existing output: the old one stays as it was */
	ck_assert_int_eq(mkdir(out, 0755), 0);
	testutil_path_join(p, sizeof p, out, "marker");
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("old", f);
	fclose(f);
	ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, out, true, err, sizeof err),
			 PRUNE_ERR_IO);
	ck_assert(testutil_path_exists(p));
	ck_assert_int_eq(count_prefixed(out, ""), 3); /* ".", "..", marker */
	ck_assert_int_eq(count_prefixed(tmp, "out"), 1);
	/* a read-only parent (root ignores permissions, so only checked as another user) */
	testutil_path_join(p, sizeof p, in, "tokenizer.json");
	ck_assert_int_eq(rmdir(p), 0);
	if (geteuid() != 0) {
		char ro[PATH_MAX + 16], ro_out[PATH_MAX + 32];
		testutil_path_join(ro, sizeof ro, tmp, "ro");
		ck_assert_int_eq(mkdir(ro, 0555), 0);
		testutil_path_join(ro_out, sizeof ro_out, ro, "out");
		ck_assert_int_eq(prune_write(m, in, plan, NULL, &test_info, ro_out, false, err, sizeof err),
				 PRUNE_ERR_IO);
		ck_assert_int_eq(count_prefixed(ro, ""), 2);
		chmod(ro, 0755);
	}
	/* the same write succeeds once the obstacle is gone */
	ck_assert_int_eq(write_plan(m, in, plan, NULL, out, true), PRUNE_OK);
	testutil_path_join(p, sizeof p, out, "marker");
	ck_assert(!testutil_path_exists(p));
	prune_plan_free(plan);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- sharded input, extra files, KEN base of another dtype (synthetic checkpoints) ---- */

START_TEST(test_sharded_and_extras)
{
	char *tmp, one[PATH_MAX + 16], sh[PATH_MAX + 16], p[PATH_MAX + 64];
	char o1[PATH_MAX + 16], o2[PATH_MAX + 16];
	tmp = testutil_tmpdir_new("prune");
	testutil_path_join(one, sizeof one, tmp, "one");
	testutil_path_join(sh, sizeof sh, tmp, "sharded");
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.hidden = 16;
	spec.ffn = 40;
	spec.vocab = 300;
	spec.dtype = SAFETENSORS_DTYPE_BF16;
	ck_assert_int_eq(synth_write(one, &spec), SYNTH_OK);
	struct model *m = open_model(one);
	/* split the checkpoint into two shards + index */
	ck_assert_int_eq(mkdir(sh, 0755), 0);
	int n = safetensors_count(m->st);
	struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
	struct cJSON *idx = json_new_object(), *wm = json_add_object(idx, "weight_map");
	json_add_object(idx, "metadata");
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(m->st, i);
		e[i] = (struct safetensors_entry){t->name, t->dtype, t->ndim, {0}, t->data};
		memcpy(e[i].shape, t->shape, sizeof e[i].shape);
		json_add_string(wm, t->name, i < n / 2 ? "model-00001-of-00002.safetensors"
							       : "model-00002-of-00002.safetensors");
	}
	const char *meta[2] = {"format", "pt"};
	testutil_path_join(p, sizeof p, sh, "model-00001-of-00002.safetensors");
	ck_assert_int_eq(safetensors_write(p, e, n / 2, meta, 1), SAFETENSORS_OK);
	testutil_path_join(p, sizeof p, sh, "model-00002-of-00002.safetensors");
	ck_assert_int_eq(safetensors_write(p, e + n / 2, n - n / 2, meta, 1), SAFETENSORS_OK);
	char *js = json_print(idx, true);
	testutil_path_join(p, sizeof p, sh, "model.safetensors.index.json");
	FILE *f = fopen(p, "w");
	fputs(js, f);
	fclose(f);
	free(js);
	json_free(idx);
	free(e);
	static const char *const extras[] = {"config.json", "tokenizer.json", "generation_config.json"};
	char src[PATH_MAX + 64];
	for (int i = 0; i < 3; i++) {
		testutil_path_join(src, sizeof src, one, extras[i]);
		testutil_path_join(p, sizeof p, sh, extras[i]);
		testutil_file_copy(src, p);
	}
	testutil_path_join(p, sizeof p, sh, "merges.txt"); /* any listed extra file is copied */
	f = fopen(p, "w");
	fputs("#version: 0.2\n", f);
	fclose(f);
	struct model *ms = open_model(sh);

	/* the same magnitude plan on both inputs: the sharded output keeps the input's two shard
	 * files and an index, and holds tensor for tensor the bytes of the single-file output */
	struct prune_plan *pa = magnitude_rows_plan(m, 0.4), *pb = magnitude_rows_plan(ms, 0.4);
	testutil_path_join(o1, sizeof o1, tmp, "o1");
	testutil_path_join(o2, sizeof o2, tmp, "o2");
	ck_assert_int_eq(write_plan(m, one, pa, NULL, o1, false), PRUNE_OK);
	ck_assert_int_eq(write_plan(ms, sh, pb, NULL, o2, false), PRUNE_OK);
	testutil_path_join(p, sizeof p, o2, "model.safetensors");
	ck_assert(!testutil_path_exists(p));
	static const char *const shards[] = {"model-00001-of-00002.safetensors",
					     "model-00002-of-00002.safetensors"};
	for (int i = 0; i < 2; i++) {
		testutil_path_join(p, sizeof p, o2, shards[i]);
		ck_assert(testutil_path_exists(p));
	}
	struct safetensors *s1 = NULL, *s2 = NULL, *h2 = NULL;
	ck_assert_int_eq(safetensors_open_dir(&s1, o1), SAFETENSORS_OK);
	ck_assert_int_eq(safetensors_open_dir(&s2, o2), SAFETENSORS_OK);
	ck_assert_int_eq(safetensors_count(s1), n);
	ck_assert_int_eq(safetensors_count(s2), n);
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *x = safetensors_at(s1, i), *y = safetensors_at(s2, i);
		ck_assert_str_eq(x->name, y->name);
		ck_assert_uint_eq(x->nbytes, y->nbytes);
		ck_assert_int_eq(memcmp(x->data, y->data, x->nbytes), 0);
		total += x->nbytes;
	}
	/* the first shard holds the first half of the tensors, as in the input */
	testutil_path_join(p, sizeof p, o2, shards[0]);
	ck_assert_int_eq(safetensors_open(&h2, p), SAFETENSORS_OK);
	ck_assert_int_eq(safetensors_count(h2), n / 2);
	ck_assert_str_eq(safetensors_at(h2, 0)->name, safetensors_at(s1, 0)->name);
	safetensors_close(h2);
	safetensors_close(s1);
	safetensors_close(s2);
	char *ti;
	size_t li;
	testutil_path_join(p, sizeof p, o2, "model.safetensors.index.json");
	ck_assert_int_eq(util_read_file(&ti, &li, p, UTIL_TEXT_MAX, false, NULL, 0), UTIL_OK);
	struct cJSON *ri = json_parse(ti, li);
	free(ti);
	ck_assert_double_eq_tol(json_number(json_get(json_get(ri, "metadata"), "total_size")),
				(double)total, 0.5);
	ck_assert_int_eq(json_count(json_get(ri, "weight_map")), n);
	json_free(ri);
	for (int i = 1; i < 3; i++) {
		testutil_path_join(p, sizeof p, o2, extras[i]);
		ck_assert(testutil_path_exists(p));
	}
	testutil_path_join(p, sizeof p, o2, "merges.txt");
	ck_assert(testutil_path_exists(p));
	testutil_path_join(p, sizeof p, o1, "merges.txt");
	ck_assert(!testutil_path_exists(p));
	struct model *r = open_model(o2);
	ck_assert_int_eq(r->cfg.ffn, 40 - 16);
	ck_assert_int_eq(r->dtype, SAFETENSORS_DTYPE_BF16);
	model_close(r);
	prune_plan_free(pa);
	prune_plan_free(pb);
	model_close(ms);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_ken_base)
{
	char *tmp, fine[PATH_MAX + 16], base[PATH_MAX + 16], out[PATH_MAX + 16];
	tmp = testutil_tmpdir_new("prune");
	testutil_path_join(fine, sizeof fine, tmp, "fine");
	testutil_path_join(base, sizeof base, tmp, "base");
	testutil_path_join(out, sizeof out, tmp, "out");
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_GPT2); /* Conv1D storage */
	spec.hidden = 16;
	spec.ffn = 32;
	spec.vocab = 300;
	spec.seed = 1;
	ck_assert_int_eq(synth_write(fine, &spec), SYNTH_OK);
	spec.seed = 2;
	spec.dtype = SAFETENSORS_DTYPE_BF16; /* base in another dtype: values converted */
	ck_assert_int_eq(synth_write(base, &spec), SYNTH_OK);
	struct model *m = open_model(fine), *b = open_model(base);
	struct prune_plan *p = ken_weights_plan(m, 0.3);
	char err[ERR_MAX];
	/* each mask row is KEN of that canonical row */
	int H = m->cfg.hidden, F = m->layers[0].ffn;
	unsigned char *row = malloc((size_t)F);
	const unsigned char *mk = prune_plan_mask(p, 1, CONFIG_TENSOR_DOWN);
	for (int r = 0; r < H; r++) {
		ck_assert_int_eq(ken_row(row, m->layers[1].down + (size_t)r * F, F,
						 util_keep_count(F, 0.3)), SCORERS_OK);
		ck_assert_int_eq(memcmp(row, mk + (size_t)r * F, (size_t)F), 0);
	}
	free(row);
	struct prune_info info = test_info;
	info.method = "ken";
	info.granularity = PRUNE_GRANULARITY_WEIGHTS;
	info.base_dir = base;
	ck_assert_int_eq(prune_write(m, fine, p, b, &info, out, false, err, sizeof err), PRUNE_OK);
	struct model *o = open_model(out);
	ck_assert_int_eq(o->dtype, SAFETENSORS_DTYPE_F32);
	for (int l = 0; l < m->cfg.n_layers; l++)
		for (int t = 0; t < 2; t++) {
			enum config_tensor w = t ? CONFIG_TENSOR_DOWN : CONFIG_TENSOR_UP;
			const unsigned char *mm = prune_plan_mask(p, l, w);
			const float *got = canon(o, l, w), *orig = canon(m, l, w), *bv = canon(b, l, w);
			size_t masked = 0;
			for (size_t i = 0; i < (size_t)F * H; i++) {
				/* BF16 values are exact in F32 */
				ck_assert(got[i] == (mm[i] ? orig[i] : bv[i]));
				masked += !mm[i];
			}
			ck_assert_uint_eq(masked, (size_t)(t ? H : F) *
						    (size_t)((t ? F : H) - util_keep_count(t ? F : H, 0.3)));
		}
	/* prune_apply with the base gives the same weights */
	ck_assert_int_eq(prune_apply(m, p, b), PRUNE_OK);
	ck_assert_int_eq(memcmp(m->layers[0].up, o->layers[0].up, (size_t)F * H * sizeof(float)), 0);
	char rp[PATH_MAX + 64];
	testutil_path_join(rp, sizeof rp, out, "yopo_pruning.json");
	struct cJSON *r = read_json(rp);
	ck_assert_str_eq(json_string(json_get(r, "base")), base);
	ck_assert_str_eq(json_string(json_get(r, "method")), "ken");
	ck_assert_ptr_nonnull(strstr(json_string(json_get(r, "note")), "base model"));
	json_free(r);
	model_close(o);
	model_close(b);
	model_close(m);
	prune_plan_free(p);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- calibration norms ---- */

struct sums {
	int L, H, F;
	double in[4][64], mid[4][256];
};

static void sum_obs(void *ctx, int layer, enum forward_point pt, const float *x, int n, int dim)
{
	struct sums *s = ctx;
	for (int t = 0; t < n; t++)
		for (int j = 0; j < dim; j++) {
			double v = x[(size_t)t * dim + j];
			if (pt == FORWARD_POINT_FFN_INPUT)
				s->in[layer][j] += v * v;
			else
				s->mid[layer][j] += v * v;
		}
}

START_TEST(test_calib_and_wanda)
{
	char in[PATH_MAX];
	fixture_dir(in, sizeof in, families[_i]);
	struct model *m = open_model(in);
	int ids[11];
	for (int i = 0; i < 11; i++)
		ids[i] = (i * 7 + 3) % m->cfg.vocab;
	ck_assert(m->cfg.n_layers <= 4 && m->cfg.hidden <= 64 && m->cfg.ffn <= 256);
	struct calib_norms *cn = NULL;
	ck_assert_int_eq(calib_collect_xnorm(&cn, m, ids, 11, 4, 0), CALIB_OK);
	ck_assert_uint_eq(cn->tokens, 11);
	ck_assert_uint_eq(cn->windows, 3); /* 4 + 4 + 3 */
	/* expected: the same windows run by hand, each from position 0 */
	struct sums *s = calloc(1, sizeof *s);
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, 4), FORWARD_OK);
	forward_set_observer(f, sum_obs, s);
	float *logits = malloc((size_t)4 * m->cfg.vocab * sizeof *logits);
	for (int st = 0; st < 11; st += 4)
		ck_assert_int_eq(forward_run(f, logits, ids + st, st + 4 <= 11 ? 4 : 11 - st, 0), FORWARD_OK);
	for (int l = 0; l < m->cfg.n_layers; l++) {
		for (int j = 0; j < m->cfg.hidden; j++)
			ck_assert_float_eq_tol(cn->input[l][j], (float)sqrt(s->in[l][j]), 1e-5f);
		for (int j = 0; j < m->layers[l].ffn; j++)
			ck_assert_float_eq_tol(cn->inter[l][j], (float)sqrt(s->mid[l][j]), 1e-5f);
	}
	/* max_windows */
	struct calib_norms *c1 = NULL;
	ck_assert_int_eq(calib_collect_xnorm(&c1, m, ids, 11, 4, 1), CALIB_OK);
	ck_assert_uint_eq(c1->tokens, 4);
	ck_assert_uint_eq(c1->windows, 1);
	calib_norms_free(c1);
	ck_assert_int_eq(calib_collect_xnorm(&c1, m, ids, 0, 4, 0), CALIB_ERR_ARG);
	ck_assert_int_eq(calib_collect_xnorm(&c1, m, ids, 11, m->cfg.max_pos + 1, 0), CALIB_ERR_ARG);
	int bad[2] = {0, m->cfg.vocab};
	ck_assert_int_eq(calib_collect_xnorm(&c1, m, bad, 2, 4, 0), CALIB_ERR_FORWARD);

	free(logits);
	forward_free(f);
	free(s);
	calib_norms_free(cn);
	model_close(m);
}
END_TEST

/* One-pass rows: the writer asks each layer's kept neurons when it first reaches the layer. */
struct on_demand {
	struct prune_plan *plan;
	float **scores;
	int order[64], n_calls;
	int fail; /* 0: fill; 1: return PRUNE_ERR_SCORES; 2: change the layer's count */
};

static int fill_layer_rows(void *vctx, int layer, char *err, size_t errlen)
{
	struct on_demand *od = vctx;
	ck_assert_int_lt(od->n_calls, 64);
	od->order[od->n_calls++] = layer;
	if (od->fail == 1)
		return err_set(err, errlen, PRUNE_ERR_SCORES, "layer %d: refused", layer);
	if (od->fail == 2) {
		int one = 0;
		return prune_plan_set_layer_rows(od->plan, layer, &one, 1);
	}
	return prune_plan_set_layer_scores(od->plan, layer, od->scores[layer]);
}

/* What prune_set_write_progress reported. */
struct write_log {
	int calls;
	size_t last, total;
	bool monotone;
};

static void log_write(void *ctx, size_t done, size_t total)
{
	struct write_log *w = ctx;
	w->monotone = (w->calls == 0 || done > w->last) && (w->calls == 0 || w->monotone);
	w->calls++;
	w->last = done;
	w->total = total;
}

/* Kept neurons set one layer at a time (any order) equal prune_plan_from_scores's, and the
 * writer filling them on demand, in file order (12 layers: 0, 1, 10, 11, 2, ...), writes the
 * bytes of the whole plan; a failing fill or one that changes a count fails the write. */
START_TEST(test_rows_on_demand)
{
	char *tmp = testutil_tmpdir_new("prune"), in[PATH_MAX + 16], a[PATH_MAX + 16];
	char b[PATH_MAX + 16], err[ERR_MAX];
	testutil_path_join(in, sizeof in, tmp, "in");
	testutil_path_join(a, sizeof a, tmp, "whole");
	testutil_path_join(b, sizeof b, tmp, "ondemand");
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.hidden = 16;
	spec.ffn = 24;
	spec.n_layers = 12;
	spec.dtype = SAFETENSORS_DTYPE_F16;
	ck_assert_int_eq(synth_write(in, &spec), SYNTH_OK);
	struct model *m = open_model(in);
	int L = m->cfg.n_layers, F = m->cfg.ffn;
	float **sc = calloc((size_t)L, sizeof *sc);
	for (int l = 0; l < L; l++) {
		sc[l] = malloc((size_t)F * sizeof **sc);
		scorers_magnitude_rows(sc[l], m->layers[l].up, m->layers[l].gate, F, m->cfg.hidden, 1);
		sc[l][l % F] = sc[l][(l + 1) % F]; /* a tie: the lower index stays */
	}
	struct prune_plan *whole = NULL, *lazy = NULL;
	ck_assert_int_eq(prune_plan_from_scores(&whole, m, (const float *const *)sc, 0.3, false),
			 PRUNE_OK);
	ck_assert_int_eq(prune_plan_new_rows_ratio(&lazy, m, 0.3), PRUNE_OK);
	for (int l = L - 1; l >= 0; l--) {
		const int *kw, *kl;
		int n = prune_plan_layer_kept(whole, l, &kw);
		ck_assert_int_eq(prune_plan_layer_kept(lazy, l, &kl), n); /* counts before scores */
		ck_assert_int_eq(n, F - (int)lround(0.3 * F));
		ck_assert_int_eq(prune_plan_set_layer_scores(lazy, l, sc[l]), PRUNE_OK);
		prune_plan_layer_kept(lazy, l, &kl);
		for (int i = 0; i < n; i++)
			ck_assert_int_eq(kl[i], kw[i]);
	}
	prune_plan_free(lazy);
	/* written on demand */
	ck_assert_int_eq(write_plan(m, in, whole, NULL, a, false), PRUNE_OK);
	struct on_demand od = {.scores = sc};
	ck_assert_int_eq(prune_plan_new_rows_ratio(&od.plan, m, 0.3), PRUNE_OK);
	struct prune_rows rows = {fill_layer_rows, &od};
	struct prune_counts cw, cl;
	ck_assert_int_eq(prune_plan_count(&cw, whole, m), PRUNE_OK);
	struct write_log wl = {0};
	prune_set_write_progress(log_write, &wl);
	ck_assert_msg(prune_write_stream(&cl, m, od.plan, NULL, &rows, NULL, &test_info, b, false,
					 err, sizeof err) == PRUNE_OK, "%s", err);
	prune_set_write_progress(NULL, NULL);
	ck_assert_int_eq(od.n_calls, L);
	/* progress: one report per tensor, in input bytes, ending at the total */
	size_t total = 0;
	for (int i = 0; i < safetensors_count(m->st); i++)
		total += safetensors_at(m->st, i)->nbytes;
	ck_assert_int_eq(wl.calls, safetensors_count(m->st));
	ck_assert_uint_eq(wl.last, total);
	ck_assert_uint_eq(wl.total, total);
	ck_assert(wl.monotone);
	static const int file_order[] = {0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9};
	for (int i = 0; i < L; i++)
		ck_assert_int_eq(od.order[i], file_order[i]);
	ck_assert_int_eq(cl.params_after, cw.params_after);
	ck_assert_int_eq(cl.width, cw.width);
	testutil_assert_same_file(a, b, "model.safetensors");
	testutil_assert_same_file(a, b, "config.json");
	testutil_assert_same_file(a, b, "yopo_pruning.json");
	/* failures: the fill's own code, or a count the header was not laid out for */
	for (int f = 1; f <= 2; f++) {
		char c[PATH_MAX + 16];
		testutil_path_join(c, sizeof c, tmp, f == 1 ? "refused" : "recounted");
		od.fail = f;
		od.n_calls = 0;
		err[0] = '\0';
		ck_assert_int_eq(prune_write_stream(NULL, m, od.plan, NULL, &rows, NULL, &test_info, c,
						    false, err, sizeof err),
				 f == 1 ? PRUNE_ERR_SCORES : PRUNE_ERR_PLAN);
		ck_assert_int_eq(od.n_calls, 1);
		ck_assert_ptr_nonnull(strstr(err, f == 1 ? "refused" : "laid out for"));
		ck_assert_int_eq(count_prefixed(tmp, f == 1 ? "refused" : "recounted"), 0);
	}
	/* rows without a plan, or with a weights plan */
	ck_assert_int_eq(prune_write_stream(NULL, m, NULL, NULL, &rows, NULL, &test_info, b, true,
					    err, sizeof err), PRUNE_ERR_ARG);
	/* plan errors */
	struct prune_plan *w = NULL;
	ck_assert_int_eq(prune_plan_new_weights(&w, m), PRUNE_OK);
	ck_assert_int_eq(prune_plan_set_layer_scores(w, 0, sc[0]), PRUNE_ERR_PLAN);
	prune_plan_free(w);
	ck_assert_int_eq(prune_plan_set_layer_scores(od.plan, L, sc[0]), PRUNE_ERR_PLAN);
	sc[0][3] = NAN;
	ck_assert_int_eq(prune_plan_set_layer_scores(od.plan, 0, sc[0]), PRUNE_ERR_SCORES);
	ck_assert_int_eq(prune_plan_new_rows_ratio(&w, m, 1.0), PRUNE_ERR_RATIO);
	ck_assert_int_eq(prune_plan_new_rows_ratio(&w, m, 0.99), PRUNE_ERR_RATIO);
	for (int l = 0; l < L; l++)
		free(sc[l]);
	free(sc);
	prune_plan_free(od.plan);
	prune_plan_free(whole);
	model_close(m);
	testutil_tmpdir_free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prune");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rows_every_family, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_weights_every_family, 0, N_FAMILIES);
	tcase_add_loop_test(tc, test_global_padding, 0, N_FAMILIES);
	tcase_add_test(tc, test_plan_errors);
	tcase_add_loop_test(tc, test_check_ratio, 0,
			    (int)(sizeof ratio_cases / sizeof ratio_cases[0]));
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_atomic_failure);
	tcase_add_test(tc, test_sharded_and_extras);
	tcase_add_test(tc, test_rows_on_demand);
	tcase_add_test(tc, test_ken_base);
	tcase_add_loop_test(tc, test_calib_and_wanda, 0, N_FAMILIES);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
