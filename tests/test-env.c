/* Tests for env/env: the per-layer spectral environment on the committed family fixtures
 * (gated, Conv1D (in, out) storage, F16 and BF16) and on a synthetic checkpoint. The expected
 * matrices, features, singular values and KS statistics are recomputed here from the tensors
 * read directly with safetensors (transposed by hand for Conv1D), independently of env.c. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "ks.h"
#include "linalg.h"
#include "topk.h"
#include "pcg32.h"
#include "safetensors.h"
#include "synth.h"
#include "testutil.h"

/* One fixture: tensor name patterns (%d = layer) of the scored matrix, its gated pair and down,
 * whether matrices are stored (in, out) (Conv1D), and the scored matrix's (ffn, hidden). */
struct family_case {
	const char *dir;
	const char *scored, *pair, *down;
	int conv1d;
	int rows, cols, layers;
};

static const struct family_case families[] = {
	{"llama_gqa", "model.layers.%d.mlp.gate_proj.weight", "model.layers.%d.mlp.up_proj.weight",
	 "model.layers.%d.mlp.down_proj.weight", 0, 24, 16, 2},
	{"mistral", "model.layers.%d.mlp.gate_proj.weight", "model.layers.%d.mlp.up_proj.weight",
	 "model.layers.%d.mlp.down_proj.weight", 0, 24, 16, 2},
	{"qwen2", "model.layers.%d.mlp.gate_proj.weight", "model.layers.%d.mlp.up_proj.weight",
	 "model.layers.%d.mlp.down_proj.weight", 0, 24, 16, 2},
	{"gpt_neo", "transformer.h.%d.mlp.c_fc.weight", NULL, "transformer.h.%d.mlp.c_proj.weight", 0,
	 64, 16, 2},
	{"gpt2", "h.%d.mlp.c_fc.weight", NULL, "h.%d.mlp.c_proj.weight", 1, 64, 16, 2},
	{"gpt2_prefixed", "transformer.h.%d.mlp.c_fc.weight", NULL, "transformer.h.%d.mlp.c_proj.weight",
	 1, 48, 16, 2},
	{"opt", "model.decoder.layers.%d.fc1.weight", NULL, "model.decoder.layers.%d.fc2.weight", 0, 32,
	 16, 2},
	{"gpt_neox", "gpt_neox.layers.%d.mlp.dense_h_to_4h.weight", NULL,
	 "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight", 0, 48, 32, 2},
	{"gpt_neox_seq", "gpt_neox.layers.%d.mlp.dense_h_to_4h.weight", NULL,
	 "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight", 0, 48, 32, 2},
	{"phi", "model.layers.%d.mlp.fc1.weight", NULL, "model.layers.%d.mlp.fc2.weight", 0, 48, 32, 2},
};

/* out (rows, cols) = the tensor `pattern` of layer, stored (rows, cols), or (cols, rows) when
 * transposed; converted to f32 by safetensors alone. Returns a malloc'ed buffer. */
static float *read_tensor(const struct safetensors *st, const char *pattern, int layer, int rows,
			  int cols, int transposed)
{
	char name[256];
	snprintf(name, sizeof name, pattern, layer);
	const struct safetensors_tensor *t = safetensors_find(st, name);
	ck_assert_msg(t != NULL, "no tensor %s", name);
	ck_assert_int_eq(t->ndim, 2);
	ck_assert_int_eq(t->shape[0], transposed ? cols : rows);
	ck_assert_int_eq(t->shape[1], transposed ? rows : cols);
	float *raw = malloc(t->nelem * sizeof *raw), *out = malloc(t->nelem * sizeof *out);
	ck_assert_ptr_nonnull(raw);
	ck_assert_ptr_nonnull(out);
	safetensors_read_f32(raw, t);
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			out[(size_t)i * cols + j] = transposed ? raw[(size_t)j * rows + i] : raw[(size_t)i * cols + j];
	free(raw);
	return out;
}

/* z-scores (population std) of log(v); all 0 when v is constant. */
static void zscore_log(double *z, const double *v, int n)
{
	double mean = 0, var = 0;
	for (int i = 0; i < n; i++)
		mean += log(v[i]);
	mean /= n;
	for (int i = 0; i < n; i++)
		var += (log(v[i]) - mean) * (log(v[i]) - mean);
	double sd = sqrt(var / n);
	for (int i = 0; i < n; i++)
		z[i] = sd > 0 ? (log(v[i]) - mean) / sd : 0;
}

/* Feature column f of x (rows, ROWFEAT_COUNT) against z-scored log norms v (rows). */
static void assert_feature(const float *x, int f, const double *v, int rows, const char *what)
{
	double *z = malloc(sizeof *z * (size_t)rows);
	zscore_log(z, v, rows);
	for (int i = 0; i < rows; i++)
		ck_assert_msg(fabs(x[(size_t)i * ROWFEAT_COUNT + f] - z[i]) < 1e-4,
			      "%s: %s row %d: %g, expected %g", what, rowfeat_name(f), i,
			      (double)x[(size_t)i * ROWFEAT_COUNT + f], z[i]);
	free(z);
}

/* KS between W's singular values and those of W[kept], computed here. */
static double own_ks(const float *w, int rows, int cols, const int *kept, int k)
{
	int n = rows < cols ? rows : cols, nk = k < cols ? k : cols;
	double *s = malloc(sizeof *s * (size_t)n), *sk = malloc(sizeof *sk * (size_t)nk);
	float *wk = malloc(sizeof *wk * (size_t)k * (size_t)cols);
	ck_assert(s && sk && wk);
	for (int i = 0; i < k; i++)
		memcpy(wk + (size_t)i * cols, w + (size_t)kept[i] * cols, sizeof *wk * (size_t)cols);
	ck_assert_int_eq(linalg_singular_values(s, w, rows, cols), 0);
	ck_assert_int_eq(linalg_singular_values(sk, wk, k, cols), 0);
	double d = ks_2samp(s, n, sk, nk);
	free(wk);
	free(sk);
	free(s);
	return d;
}

/* kept (k) = k distinct rows of [0, rows) in random order (partial Fisher–Yates). */
static void random_subset(int *kept, int k, int rows, struct pcg32 *rng)
{
	int *perm = malloc(sizeof *perm * (size_t)rows);
	ck_assert_ptr_nonnull(perm);
	for (int i = 0; i < rows; i++)
		perm[i] = i;
	for (int i = 0; i < k; i++) {
		int j = i + (int)pcg32_bounded(rng, (uint32_t)(rows - i));
		int tmp = perm[i];
		perm[i] = perm[j];
		perm[j] = tmp;
		kept[i] = perm[i];
	}
	free(perm);
}

/* Matrix, features, singular values and KS of every layer of a fixture, against direct reads. */
START_TEST(test_family_layers)
{
	const struct family_case *fc = &families[_i];
	char dir[1024], err[ERR_MAX] = "";
	snprintf(dir, sizeof dir, "%s/families/%s", testutil_fixtures(), fc->dir);
	struct env *e = NULL;
	ck_assert_msg(env_open(&e, dir, SPECTRUM_ROUTE_SVD, 0, err, sizeof err) == ENV_OK, "%s", err);
	ck_assert_int_eq(env_config(e)->n_layers, fc->layers);
	ck_assert_int_eq(env_cols(e), fc->cols);
	ck_assert_str_eq(env_model_dir(e), dir);
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open_dir(&st, dir), 0);
	int rows = fc->rows, cols = fc->cols, n = rows < cols ? rows : cols;
	struct pcg32 rng;
	pcg32_seed(&rng, 7, (uint64_t)_i);
	for (int l = 0; l < fc->layers; l++) {
		ck_assert_int_eq(env_rows(e, l), rows);
		const float *x = NULL, *w = NULL;
		ck_assert_int_eq(env_layer_begin(e, l, &x, &w, NULL, 0), ENV_OK);
		ck_assert(x && w);

		float *own = read_tensor(st, fc->scored, l, rows, cols, fc->conv1d);
		for (size_t i = 0; i < (size_t)rows * cols; i++)
			ck_assert_msg(w[i] == own[i], "%s layer %d element %zu: %g != %g", fc->dir, l, i,
				      (double)w[i], (double)own[i]);

		/* features: norms of W's rows, of down's columns (rows of the stored Conv1D c_proj),
		 * of the pair's rows; maxima of W's rows; depth */
		float *down = read_tensor(st, fc->down, l, cols, rows, fc->conv1d); /* (hidden, ffn) */
		float *pair = fc->pair ? read_tensor(st, fc->pair, l, rows, cols, 0) : NULL;
		double *nw = malloc(sizeof(double) * (size_t)rows), *nd = malloc(sizeof(double) * (size_t)rows);
		double *mx = malloc(sizeof(double) * (size_t)rows), *np = malloc(sizeof(double) * (size_t)rows);
		for (int i = 0; i < rows; i++) {
			nw[i] = nd[i] = mx[i] = np[i] = 0;
			for (int j = 0; j < cols; j++) {
				double a = own[(size_t)i * cols + j];
				nw[i] += a * a;
				mx[i] = fabs(a) > mx[i] ? fabs(a) : mx[i];
				nd[i] += (double)down[(size_t)j * rows + i] * down[(size_t)j * rows + i];
				if (pair)
					np[i] += (double)pair[(size_t)i * cols + j] * pair[(size_t)i * cols + j];
			}
			nw[i] = sqrt(nw[i]);
			nd[i] = sqrt(nd[i]);
			np[i] = sqrt(np[i]);
		}
		assert_feature(x, 0, nw, rows, fc->dir);
		assert_feature(x, 1, nd, rows, fc->dir);
		assert_feature(x, 2, mx, rows, fc->dir);
		for (int i = 0; i < rows; i++) {
			if (pair)
				ck_assert(isfinite(x[(size_t)i * ROWFEAT_COUNT + 4]));
			else
				ck_assert_float_eq(x[(size_t)i * ROWFEAT_COUNT + 4], 0.0f);
			ck_assert_float_eq(x[(size_t)i * ROWFEAT_COUNT + 5], (float)l / (float)(fc->layers - 1));
			ck_assert(isfinite(x[(size_t)i * ROWFEAT_COUNT + 3]));
		}
		if (pair)
			assert_feature(x, 4, np, rows, fc->dir);
		/* leverage (its rank is env's choice): standardised like the others */
		double mean = 0, var = 0;
		for (int i = 0; i < rows; i++)
			mean += x[(size_t)i * ROWFEAT_COUNT + 3] / rows;
		for (int i = 0; i < rows; i++)
			var += (x[(size_t)i * ROWFEAT_COUNT + 3] - mean) * (x[(size_t)i * ROWFEAT_COUNT + 3] - mean);
		ck_assert_double_eq_tol(mean, 0, 1e-5);
		ck_assert_double_eq_tol(sqrt(var / rows), 1, 1e-4);

		/* singular values of the full matrix */
		int ns = -1;
		const double *sv = env_layer_singular_values(e, &ns);
		ck_assert_ptr_nonnull(sv);
		ck_assert_int_eq(ns, n);
		double *s = malloc(sizeof *s * (size_t)n);
		ck_assert_int_eq(linalg_singular_values(s, own, rows, cols), 0);
		for (int i = 0; i < n; i++)
			ck_assert_double_eq_tol(sv[i], s[i], 1e-12 * s[0]);
		ck_assert(s[n - 1] > 1e-6 * s[0]); /* full rank: no value is snapped to zero */

		/* KS: every row kept (in a shuffled order) is 0; subsets against the own computation */
		int *kept = malloc(sizeof *kept * (size_t)rows);
		double ks = -1;
		random_subset(kept, rows, rows, &rng);
		ck_assert_int_eq(env_layer_ks(e, kept, rows, &ks, NULL, 0), ENV_OK);
		ck_assert_double_eq(ks, 0.0);
		const int ks_sizes[] = {1, cols / 2, cols - 1, cols, util_keep_count(rows, 0.3), rows - 1};
		double ks_max = 0;
		for (size_t c = 0; c < sizeof ks_sizes / sizeof ks_sizes[0]; c++) {
			int k = ks_sizes[c];
			random_subset(kept, k, rows, &rng);
			ck_assert_int_eq(env_layer_ks(e, kept, k, &ks, NULL, 0), ENV_OK);
			double expect = own_ks(own, rows, cols, kept, k);
			ck_assert_msg(fabs(ks - expect) < 1e-12, "%s layer %d k %d: ks %g, expected %g",
				      fc->dir, l, k, ks, expect);
			ks_max = ks > ks_max ? ks : ks_max;
		}
		ck_assert(ks_max > 0.2); /* the subsets are not all trivially close */
		free(kept);
		free(s);
		free(nw);
		free(nd);
		free(mx);
		free(np);
		free(pair);
		free(down);
		free(own);
	}
	safetensors_close(st);
	env_close(e);
}
END_TEST

/* Both routes, cached and streamed, visiting layers in different orders, give the same KS and
 * features for the same selections. */
#define SY_LAYERS 3
#define SY_SEL 4

START_TEST(test_cache_stream_routes)
{
	char *dir = testutil_tmpdir_new("env");
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.n_layers = SY_LAYERS;
	spec.hidden = 32;
	spec.ffn = 96;
	spec.seed = 11;
	ck_assert_int_eq(synth_write(dir, &spec), SYNTH_OK);

	/* selections per layer: sizes below, at and above cols */
	int sizes[SY_SEL] = {20, 32, 60, 95};
	int kept[SY_LAYERS][SY_SEL][96];
	struct pcg32 rng;
	pcg32_seed(&rng, 3, 5);
	for (int l = 0; l < SY_LAYERS; l++)
		for (int s = 0; s < SY_SEL; s++)
			random_subset(kept[l][s], sizes[s], 96, &rng);

	struct variant {
		enum spectrum_route route;
		size_t cache;
		int order[6];
	} variants[] = {
		{SPECTRUM_ROUTE_SVD, SIZE_MAX, {2, 0, 1, 2, 0, 1}},
		{SPECTRUM_ROUTE_SVD, 0, {0, 1, 2, 1, 0, 2}},
		{SPECTRUM_ROUTE_GRAM, SIZE_MAX, {1, 2, 0, 0, 2, 1}},
		{SPECTRUM_ROUTE_GRAM, 0, {2, 1, 0, 1, 2, 0}},
	};
	enum { NV = sizeof variants / sizeof variants[0] };
	double ks[NV][SY_LAYERS][SY_SEL];
	float feat[SY_LAYERS][96 * ROWFEAT_COUNT];
	int seen_feat[SY_LAYERS] = {0};
	for (int v = 0; v < NV; v++) {
		struct env *e = NULL;
		char err[ERR_MAX] = "";
		ck_assert_msg(env_open(&e, dir, variants[v].route, variants[v].cache, err, sizeof err) == 0,
			      "%s", err);
		int seen[SY_LAYERS] = {0};
		for (int step = 0; step < 6; step++) {
			int l = variants[v].order[step];
			const float *x;
			ck_assert_int_eq(env_layer_begin(e, l, &x, NULL, NULL, 0), ENV_OK);
			if (!seen_feat[l]) {
				memcpy(feat[l], x, sizeof feat[l]);
				seen_feat[l] = 1;
			} else {
				ck_assert_msg(memcmp(feat[l], x, sizeof feat[l]) == 0,
					      "variant %d layer %d: features differ", v, l);
			}
			for (int s = 0; s < SY_SEL; s++) {
				double d;
				ck_assert_int_eq(env_layer_ks(e, kept[l][s], sizes[s], &d, NULL, 0), ENV_OK);
				if (!seen[l])
					ks[v][l][s] = d;
				else
					ck_assert_msg(d == ks[v][l][s], "variant %d layer %d sel %d: %g then %g",
						      v, l, s, ks[v][l][s], d);
			}
			seen[l] = 1;
		}
		env_close(e);
	}
	/* every variant equals the SVD streaming one, which equals the own computation */
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open_dir(&st, dir), 0);
	for (int l = 0; l < SY_LAYERS; l++) {
		float *w = read_tensor(st, "model.layers.%d.mlp.gate_proj.weight", l, 96, 32, 0);
		for (int s = 0; s < SY_SEL; s++) {
			double expect = own_ks(w, 96, 32, kept[l][s], sizes[s]);
			ck_assert_double_eq_tol(ks[1][l][s], expect, 1e-12);
			ck_assert(ks[1][l][s] > 0);
			for (int v = 0; v < NV; v++)
				ck_assert_msg(fabs(ks[v][l][s] - expect) < 1e-12,
					      "variant %d layer %d sel %d: %g, expected %g", v, l, s,
					      ks[v][l][s], expect);
		}
		free(w);
	}
	safetensors_close(st);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_arg_errors)
{
	char dir[1024], err[ERR_MAX] = "";
	snprintf(dir, sizeof dir, "%s/families/llama_gqa", testutil_fixtures());
	struct env *e = NULL;
	ck_assert_msg(env_open(&e, dir, SPECTRUM_ROUTE_SVD, 0, err, sizeof err) == 0, "%s", err);
	double ks = 42;
	int three[3] = {0, 1, 2};
	/* nothing current yet */
	ck_assert_int_eq(env_layer_ks(e, three, 3, &ks, err, sizeof err), ENV_ERR_ARG);
	ck_assert_str_eq(err, "no current layer");
	int n = -5;
	ck_assert_ptr_null(env_layer_singular_values(e, &n));
	/* bad layers */
	ck_assert_int_eq(env_layer_begin(e, -1, NULL, NULL, NULL, 0), ENV_ERR_ARG);
	ck_assert_int_eq(env_layer_begin(e, 2, NULL, NULL, err, sizeof err), ENV_ERR_ARG);
	ck_assert_str_eq(err, "layer 2 outside [0, 2)");
	ck_assert_int_eq(env_layer_ks(e, three, 3, &ks, NULL, 0), ENV_ERR_ARG);
	ck_assert_int_eq(env_layer_begin(e, 1, NULL, NULL, NULL, 0), ENV_OK);
	double good;
	ck_assert_int_eq(env_layer_ks(e, three, 3, &good, NULL, 0), ENV_OK);
	ck_assert(good > 0 && good <= 1);

	struct {
		int kept[4];
		int k;
		const char *why;
	} bad[] = {
		{{0, 1, 1}, 3, "layer 1: row 1 kept twice"},
		{{5, 3, 5, 0}, 4, "layer 1: row 5 kept twice"}, /* not adjacent */
		{{0, 24}, 2, "layer 1: kept row 24 outside [0, 24)"},
		{{-1, 2}, 2, "layer 1: kept row -1 outside [0, 24)"},
		{{0}, 0, "layer 1: 0 rows kept, outside [1, 24]"},
		{{0}, -1, "layer 1: -1 rows kept, outside [1, 24]"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_msg(env_layer_ks(e, bad[i].kept, bad[i].k, &ks, err, sizeof err) == ENV_ERR_ARG,
			      "case %zu", i);
		ck_assert_str_eq(err, bad[i].why);
		ck_assert_double_eq(ks, 42); /* output untouched */
	}
	int *all = malloc(sizeof *all * 25);
	for (int i = 0; i < 25; i++)
		all[i] = i % 24;
	ck_assert_int_eq(env_layer_ks(e, all, 25, &ks, NULL, 0), ENV_ERR_ARG); /* k > rows */
	free(all);
	/* a failed call leaves no trace on the next one */
	double again;
	ck_assert_int_eq(env_layer_ks(e, three, 3, &again, NULL, 0), ENV_OK);
	ck_assert_double_eq(again, good);
	/* a failed begin keeps the current layer usable */
	ck_assert_int_eq(env_layer_begin(e, 7, NULL, NULL, NULL, 0), ENV_ERR_ARG);
	ck_assert_int_eq(env_layer_ks(e, three, 3, &again, NULL, 0), ENV_OK);
	ck_assert_double_eq(again, good);
	env_close(e);
	env_close(NULL);
}
END_TEST

/* A 3-layer Llama (hidden 16, ffn 24) whose layer-1 gate_proj is patched: zero_rows > 0 zeroes
 * its first zero_rows rows, else entry 37 becomes NaN. */
static void write_patched_model(const char *dir, int zero_rows)
{
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.hidden = 16;
	spec.ffn = 24;
	spec.n_layers = 3;
	ck_assert_int_eq(synth_write(dir, &spec), SYNTH_OK);
	char path[2100];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open(&st, path), 0);
	int n = safetensors_count(st);
	struct safetensors_entry *entries = calloc((size_t)n, sizeof *entries);
	float *bad = NULL;
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(st, i);
		entries[i] = (struct safetensors_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
							.data = t->data};
		memcpy(entries[i].shape, t->shape, sizeof t->shape);
		if (!strcmp(t->name, "model.layers.1.mlp.gate_proj.weight")) {
			bad = malloc(t->nelem * sizeof *bad);
			safetensors_read_f32(bad, t);
			if (zero_rows > 0)
				memset(bad, 0, (size_t)zero_rows * 16 * sizeof *bad);
			else
				bad[37] = NAN;
			entries[i].data = bad;
		}
	}
	ck_assert_ptr_nonnull(bad);
	static const char *const meta[] = {"format", "pt"};
	ck_assert_int_eq(safetensors_write(path, entries, n, meta, 1), 0);
	free(bad);
	free(entries);
	safetensors_close(st);
}

/* A layer whose scored matrix holds a NaN (a corrupt checkpoint): env_layer_begin fails with
 * ENV_ERR_LINALG, after which no layer is current (cached or streamed), and healthy layers still
 * open. */
static void write_nan_model(const char *dir)
{
	write_patched_model(dir, 0);
}

static const size_t nan_cache[] = {0, SIZE_MAX};

/* A rank-deficient layer (12 of 24 rows zero, hidden 16: rank 12, 4 zero singular values):
 * spectrum_orig holds exact zeros, and env_layer_ks_matrix snaps the modified matrix's values by
 * the same rule, so the unmodified matrix is at KS distance exactly 0 from itself (unsnapped
 * rounding noise against the snapped zeros would give 4/16 = 0.25) and the structured KS of all
 * rows kept agrees. */
START_TEST(test_ks_matrix_snapped)
{
	char *dir = testutil_tmpdir_new("env"), err[ERR_MAX] = "";
	write_patched_model(dir, 12);
	struct env *e = NULL;
	ck_assert_msg(env_open(&e, dir, SPECTRUM_ROUTE_SVD, 0, err, sizeof err) == 0, "%s", err);
	const float *w;
	ck_assert_int_eq(env_layer_begin(e, 1, NULL, &w, err, sizeof err), ENV_OK);
	int n = 0;
	const double *s = env_layer_singular_values(e, &n);
	ck_assert_int_eq(n, 16);
	for (int i = 0; i < 16; i++)
		ck_assert_msg(i < 12 ? s[i] > 0 : s[i] == 0, "sigma %d = %g", i, s[i]);
	float *w2 = malloc(24 * 16 * sizeof *w2);
	memcpy(w2, w, 24 * 16 * sizeof *w2);
	double ks = 42;
	ck_assert_int_eq(env_layer_ks_matrix(e, w2, &ks, err, sizeof err), ENV_OK);
	ck_assert_double_eq(ks, 0);
	/* one more zero row: rank 11, 5 zeros against 4: exactly one value moves, KS 1/16 */
	memset(w2 + 12 * 16, 0, 16 * sizeof *w2);
	ck_assert_int_eq(env_layer_ks_matrix(e, w2, &ks, err, sizeof err), ENV_OK);
	ck_assert_double_eq_tol(ks, 1.0 / 16, 1e-12);
	ck_assert_int_eq(env_layer_ks_matrix(e, NULL, &ks, err, sizeof err), ENV_ERR_ARG);
	ck_assert_str_eq(err, "no modified matrix");
	free(w2);
	env_close(e);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_nan_layer)
{
	char *dir, err[ERR_MAX] = "";
	dir = testutil_tmpdir_new("env");
	write_nan_model(dir);
	struct env *e = NULL;
	ck_assert_msg(env_open(&e, dir, SPECTRUM_ROUTE_SVD, nan_cache[_i], err, sizeof err) == 0, "%s", err);
	int kept[3] = {0, 5, 9};
	double ks0, ks = 42;
	ck_assert_int_eq(env_layer_begin(e, 0, NULL, NULL, NULL, 0), ENV_OK);
	ck_assert_int_eq(env_layer_ks(e, kept, 3, &ks0, NULL, 0), ENV_OK);
	ck_assert_int_eq(env_layer_begin(e, 1, NULL, NULL, NULL, 0), ENV_ERR_LINALG);
	ck_assert_int_eq(env_layer_ks(e, kept, 3, &ks, NULL, 0), ENV_ERR_ARG);
	ck_assert_double_eq(ks, 42);
	int n = -1;
	ck_assert_ptr_null(env_layer_singular_values(e, &n));
	ck_assert_int_eq(env_layer_begin(e, 1, NULL, NULL, NULL, 0), ENV_ERR_LINALG); /* again */
	ck_assert_int_eq(env_layer_begin(e, 2, NULL, NULL, NULL, 0), ENV_OK);
	ck_assert_int_eq(env_layer_begin(e, 0, NULL, NULL, NULL, 0), ENV_OK);
	ck_assert_int_eq(env_layer_ks(e, kept, 3, &ks, NULL, 0), ENV_OK);
	ck_assert_double_eq(ks, ks0);
	env_close(e);
	testutil_tmpdir_free(dir);
}
END_TEST

/* Each unopenable checkpoint: ENV_ERR_MODEL, a one-line message naming the problem, *out unset. */
struct open_case {
	const char *config; /* config.json text written to a temp dir; NULL: directory absent */
	int link_weights;   /* symlink llama_gqa's model.safetensors into it */
	const char *needle;
};

static const struct open_case open_cases[] = {
	{NULL, 0, "config.json"},
	{"{\"model_type\": \"llama\", \"hidden_size\": ", 1, "JSON"},
	{"{\"model_type\": \"mamba\"}", 1, "mamba"},
	{"{\"model_type\":\"llama\",\"hidden_size\":16,\"intermediate_size\":24,\"num_hidden_layers\":2,"
	 "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":40}", 0, "safetensors"},
	{"{\"model_type\":\"llama\",\"hidden_size\":16,\"intermediate_size\":20,\"num_hidden_layers\":2,"
	 "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":40,\"head_dim\":4}", 1,
	 "shape"},
};

START_TEST(test_open_errors)
{
	const struct open_case *t = &open_cases[_i];
	char *dir, target[2048], link[2048], err[ERR_MAX] = "";
	dir = testutil_tmpdir_new("env");
	char path[1100];
	if (t->config) {
		char config[1100];
		testutil_path_join(config, sizeof config, dir, "config.json");
		testutil_file_write(config, t->config, strlen(t->config));
		if (t->link_weights) {
			char cwd[1024];
			ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
			const char *fx = testutil_fixtures();
			snprintf(target, sizeof target, "%s%s%s/families/llama_gqa/model.safetensors",
				 fx[0] == '/' ? "" : cwd, fx[0] == '/' ? "" : "/", fx);
			snprintf(link, sizeof link, "%s/model.safetensors", dir);
			ck_assert_int_eq(symlink(target, link), 0);
		}
		snprintf(path, sizeof path, "%s", dir);
	} else {
		snprintf(path, sizeof path, "%s/absent", dir);
	}
	struct env *e = (struct env *)&err; /* any non-NULL sentinel */
	struct env *before = e;
	ck_assert_int_eq(env_open(&e, path, SPECTRUM_ROUTE_SVD, 0, err, sizeof err), ENV_ERR_MODEL);
	ck_assert_ptr_eq(e, before);
	ck_assert_msg(strstr(err, t->needle) != NULL, "case %d: '%s' lacks '%s'", _i, err, t->needle);
	ck_assert_msg(!strchr(err, '\n'), "one line");
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_strerror)
{
	const int codes[] = {ENV_OK, ENV_ERR_MODEL, ENV_ERR_NOMEM, ENV_ERR_LINALG, ENV_ERR_ARG};
	const int n = (int)(sizeof codes / sizeof codes[0]);
	for (int i = 0; i < n; i++) {
		ck_assert_str_ne(env_strerror(codes[i]), "unknown env error");
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(env_strerror(codes[i]), env_strerror(codes[j]));
	}
	ck_assert_str_eq(env_strerror(-99), "unknown env error");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("env");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_family_layers, 0, (int)(sizeof families / sizeof families[0]));
	tcase_add_test(tc, test_cache_stream_routes);
	tcase_add_test(tc, test_arg_errors);
	tcase_add_loop_test(tc, test_nan_layer, 0, 2);
	tcase_add_test(tc, test_ks_matrix_snapped);
	tcase_add_loop_test(tc, test_open_errors, 0, (int)(sizeof open_cases / sizeof open_cases[0]));
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
