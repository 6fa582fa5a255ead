/* test-synth: synthetic checkpoints of every family in every dtype load (model_open), run
 * (finite logits) and tokenize (byte-level round trip); the weights are the documented stream
 * (PCG32 on SYNTH_RNG_STREAM + pcg32_normal, tensors in file order) recomputed here, across writer chunks; the
 * same seed gives the same bytes and another seed other bytes; the 7B preset has Llama-2-7B's
 * shape; invalid specs and non-empty directories fail without leaving files. Fixtures go into
 * mkdtemp directories. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forward.h"
#include "model.h"
#include "pcg32.h"
#include "synth.h"
#include "tokenizer.h"
#include "testutil.h"

/* ---- helpers ---- */

/* ---- every family in every dtype ---- */

static const enum config_family families[] = {
	CONFIG_FAMILY_LLAMA, CONFIG_FAMILY_GPT_NEO,  CONFIG_FAMILY_GPT2,
	CONFIG_FAMILY_OPT,   CONFIG_FAMILY_GPT_NEOX, CONFIG_FAMILY_PHI,
};
#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

static const enum safetensors_dtype dtypes[] = {
	SAFETENSORS_DTYPE_F32, SAFETENSORS_DTYPE_F16, SAFETENSORS_DTYPE_BF16,
};
#define N_DTYPES 3

/* Loop index _i: family _i / 3, dtype _i % 3. */
START_TEST(test_family_dtype)
{
	enum config_family fam = families[_i / N_DTYPES];
	enum safetensors_dtype dt = dtypes[_i % N_DTYPES];
	struct synth_spec s;
	synth_spec_default(&s, fam);
	s.dtype = dt;
	s.n_layers = 3;
	s.seed = 1000 + (uint64_t)_i;
	char *dir = testutil_tmpdir_new("synth");
	ck_assert_int_eq(synth_write(dir, &s), SYNTH_OK);
	ck_assert_int_eq(testutil_dir_count(dir), 4);

	struct model *m = NULL;
	char err[ERR_MAX] = "";
	int rc = model_open(&m, dir, err, sizeof err);
	ck_assert_msg(rc == MODEL_OK, "%s/%s: %s", config_family_name(fam), safetensors_dtype_name(dt),
		      err);
	const struct config *c = &m->cfg;
	ck_assert_int_eq(c->family, fam);
	ck_assert_int_eq(c->n_layers, 3);
	ck_assert_int_eq(c->hidden, s.hidden);
	ck_assert_int_eq(c->ffn, s.ffn);
	ck_assert_int_eq(c->n_heads, s.n_heads);
	ck_assert_int_eq(c->n_kv_heads, s.n_kv_heads);
	ck_assert_int_eq(c->vocab, s.vocab);
	ck_assert_int_eq(c->max_pos, s.max_pos);
	ck_assert_int_eq(c->bos_id, 256);
	ck_assert_int_eq(m->dtype, dt);
	for (int l = 0; l < 3; l++)
		ck_assert_int_eq(c->layer_ffn[l], s.ffn);

	/* the tokenizer: 256 byte tokens + <|endoftext|>, exact round trip of any UTF-8 */
	char *tp = testutil_path_new(dir, "tokenizer.json");
	struct tokenizer *tok = NULL;
	ck_assert_int_eq(tokenizer_open(&tok, tp), TOKENIZER_OK);
	ck_assert_int_eq(tokenizer_vocab_size(tok), 257);
	ck_assert_int_eq(tokenizer_token_id(tok, "<|endoftext|>"), 256);
	const char *text = "Once upon a time, \xc3\xa9t\xc3\xa9 \xe2\x82\xac 42!";
	int *ids = NULL;
	size_t n_ids = 0;
	ck_assert_int_eq(tokenizer_encode(tok, text, strlen(text), &ids, &n_ids), TOKENIZER_OK);
	ck_assert_uint_eq(n_ids, strlen(text)); /* no merges: one token per byte */
	for (size_t i = 0; i < n_ids; i++)
		ck_assert_int_lt(ids[i], 256);
	char *back = NULL;
	size_t back_len = 0;
	ck_assert_int_eq(tokenizer_decode(tok, ids, n_ids, 0, &back, &back_len), TOKENIZER_OK);
	ck_assert_uint_eq(back_len, strlen(text));
	ck_assert_str_eq(back, text);

	/* the forward pass over the first tokens: finite, and not all equal (weights are random) */
	int n = 6;
	struct forward *f = NULL;
	ck_assert_int_eq(forward_new(&f, m, 16), FORWARD_OK);
	float *logits = malloc((size_t)n * (size_t)c->vocab * sizeof *logits);
	ck_assert_ptr_nonnull(logits);
	ck_assert_int_eq(forward_run(f, logits, ids, n, 0), FORWARD_OK);
	float lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; i < (size_t)n * (size_t)c->vocab; i++) {
		ck_assert_msg(isfinite(logits[i]), "logit %zu = %g", i, (double)logits[i]);
		lo = fminf(lo, logits[i]);
		hi = fmaxf(hi, logits[i]);
	}
	ck_assert_float_gt(hi - lo, 1e-3f);

	free(logits);
	forward_free(f);
	free(back);
	free(ids);
	tokenizer_free(tok);
	free(tp);
	model_close(m);
	testutil_tmpdir_free(dir);
}
END_TEST

/* ---- the weights are the documented stream ---- */

static int cmp_data(const void *a, const void *b)
{
	const struct safetensors_tensor *x = *(const struct safetensors_tensor *const *)a;
	const struct safetensors_tensor *y = *(const struct safetensors_tensor *const *)b;
	uintptr_t p = (uintptr_t)x->data, q = (uintptr_t)y->data;
	return p < q ? -1 : p > q;
}

/* A Llama (no biases, nothing transposed): vectors are norms, N(1, 0.02); matrices N(0, std)
 * with std = scale or 1/sqrt(in). Every element of the file is recomputed from the seed in file
 * order and compared bit for bit after conversion to the dtype. The embedding (2200 x 1024, 4.5 MB
 * in F16) spans two or more writer chunks, so chunking must not disturb the stream. Loop index:
 * dtype _i % 3, scale 0 or 0.05 by _i / 3. */
START_TEST(test_values_reference)
{
	struct synth_spec s;
	synth_spec_default(&s, CONFIG_FAMILY_LLAMA);
	s.n_layers = 1;
	s.hidden = 1024;
	s.n_heads = 8;
	s.n_kv_heads = 4;
	s.ffn = 24;
	s.vocab = 2200;
	s.dtype = dtypes[_i % N_DTYPES];
	s.scale = _i / N_DTYPES ? 0.05f : 0.0f;
	s.seed = 0xfeedfaceull + (uint64_t)_i;
	char *dir = testutil_tmpdir_new("synth");
	ck_assert_int_eq(synth_write(dir, &s), SYNTH_OK);
	char *p = testutil_path_new(dir, "model.safetensors");
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open(&st, p), SAFETENSORS_OK);
	int n = safetensors_count(st);
	ck_assert_int_eq(n, 3 + 9); /* embed, norm, lm_head; 2 norms + 7 matrices */
	const struct safetensors_tensor **order = malloc((size_t)n * sizeof *order);
	ck_assert_ptr_nonnull(order);
	for (int i = 0; i < n; i++)
		order[i] = safetensors_at(st, i);
	qsort(order, (size_t)n, sizeof *order, cmp_data);
	ck_assert_ptr_nonnull(strstr(order[0]->name, "embed_tokens"));
	ck_assert_uint_gt(order[0]->nbytes, SAFETENSORS_STREAM_CHUNK);

	struct pcg32 rng;
	pcg32_seed(&rng, s.seed, SYNTH_RNG_STREAM);
	size_t es = safetensors_dtype_size(s.dtype);
	size_t mismatches = 0, checked = 0;
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = order[i];
		ck_assert_int_eq(t->dtype, s.dtype);
		bool vec = t->ndim == 1;
		double mean = vec ? 1.0 : 0.0;
		double std = vec ? 0.02 : s.scale > 0 ? s.scale : 1.0 / sqrt((double)t->shape[1]);
		const unsigned char *d = t->data;
		for (size_t k = 0; k < t->nelem; k++) {
			float v = (float)(mean + std * pcg32_normal(&rng));
			unsigned char want[4];
			safetensors_convert_from_f32(want, s.dtype, &v, 1);
			mismatches += memcmp(want, d + k * es, es) != 0;
			checked++;
		}
	}
	ck_assert_uint_eq(checked, (size_t)(2 * 2200 * 1024 + 1024 + 2 * 1024 + 1024 * 1024 +
					    2 * 512 * 1024 + 1024 * 1024 + 3 * 24 * 1024));
	ck_assert_uint_eq(mismatches, 0);
	free(order);
	safetensors_close(st);
	free(p);
	testutil_tmpdir_free(dir);
}
END_TEST

/* Sample statistics of the default scale: matrices N(0, 1/sqrt(in)), norms N(1, 0.02). Checks the
 * fan-in of Conv1D (in, out) storage too (gpt2's c_fc has in = hidden = shape[0]). */
START_TEST(test_value_statistics)
{
	static const struct {
		enum config_family fam;
		enum config_tensor which;
		int in_dim; /* which stored dimension is the input */
	} cases[] = {
		{ CONFIG_FAMILY_LLAMA, CONFIG_TENSOR_GATE, 1 },
		{ CONFIG_FAMILY_LLAMA, CONFIG_TENSOR_DOWN, 1 },
		{ CONFIG_FAMILY_GPT2, CONFIG_TENSOR_UP, 0 },
		{ CONFIG_FAMILY_GPT2, CONFIG_TENSOR_DOWN, 0 },
	};
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		struct synth_spec s;
		synth_spec_default(&s, cases[ci].fam);
		s.hidden = 256;
		s.ffn = 688;
		char *dir = testutil_tmpdir_new("synth");
		ck_assert_int_eq(synth_write(dir, &s), SYNTH_OK);
		struct config cfg;
		struct safetensors *st = NULL;
		char err[ERR_MAX];
		ck_assert_int_eq(model_inspect(&cfg, &st, dir, err, sizeof err), MODEL_OK);
		const struct safetensors_tensor *t = model_find_tensor(st, &cfg, cases[ci].which, 0);
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_eq(t->nelem, 256 * 688);
		float *v = malloc(t->nelem * sizeof *v);
		ck_assert_ptr_nonnull(v);
		safetensors_read_f32(v, t);
		double sum = 0, sq = 0;
		for (size_t i = 0; i < t->nelem; i++)
			sum += v[i];
		double mean = sum / (double)t->nelem;
		for (size_t i = 0; i < t->nelem; i++)
			sq += (v[i] - mean) * (v[i] - mean);
		double sd = sqrt(sq / (double)(t->nelem - 1));
		double want_sd = 1.0 / sqrt((double)t->shape[cases[ci].in_dim]);
		/* ~176k samples: the sd of the sample mean is want_sd / 420 */
		ck_assert_double_eq_tol(mean, 0.0, 5.0 * want_sd / 400.0);
		ck_assert_double_eq_tol(sd / want_sd, 1.0, 0.02);
		free(v);

		/* a norm weight: mean 1, sd 0.02 */
		const struct safetensors_tensor *nrm = model_find_tensor(st, &cfg, CONFIG_TENSOR_FFN_NORM, 1);
		if (!nrm)
			nrm = model_find_tensor(st, &cfg, CONFIG_TENSOR_ATTN_NORM, 1);
		ck_assert_ptr_nonnull(nrm);
		float w[256];
		ck_assert_uint_eq(nrm->nelem, 256);
		safetensors_read_f32(w, nrm);
		double ns = 0;
		for (int i = 0; i < 256; i++)
			ns += w[i];
		ck_assert_double_eq_tol(ns / 256, 1.0, 0.02 * 5 / 16);
		safetensors_close(st);
		testutil_tmpdir_free(dir);
	}
}
END_TEST

/* ---- determinism ---- */

START_TEST(test_seed_determinism)
{
	struct synth_spec s;
	synth_spec_default(&s, CONFIG_FAMILY_GPT_NEOX);
	s.dtype = SAFETENSORS_DTYPE_BF16;
	s.seed = 99;
	char *a = testutil_tmpdir_new("synth"), *b = testutil_tmpdir_new("synth"), *c = testutil_tmpdir_new("synth");
	ck_assert_int_eq(synth_write(a, &s), SYNTH_OK);
	ck_assert_int_eq(synth_write(b, &s), SYNTH_OK);
	s.seed = 100;
	ck_assert_int_eq(synth_write(c, &s), SYNTH_OK);
	static const char *const files[] = { "model.safetensors", "config.json", "tokenizer.json",
					     "generation_config.json" };
	for (int i = 0; i < 4; i++) {
		char *pa = testutil_path_new(a, files[i]), *pb = testutil_path_new(b, files[i]), *pc = testutil_path_new(c, files[i]);
		size_t na, nb, nc;
		unsigned char *da = (unsigned char *)testutil_file_read(pa, &na), *db = (unsigned char *)testutil_file_read(pb, &nb), *dc = (unsigned char *)testutil_file_read(pc, &nc);
		ck_assert_uint_eq(na, nb);
		ck_assert_int_eq(memcmp(da, db, na), 0);
		ck_assert_uint_eq(na, nc); /* the seed changes values, not the layout */
		if (i == 0) {
			/* the header (offsets, names) is shared; almost every data byte differs */
			size_t same = 0;
			for (size_t k = 0; k < na; k++)
				same += da[k] == dc[k];
			uint64_t hlen = 0;
			for (int k = 7; k >= 0; k--)
				hlen = hlen << 8 | da[k];
			ck_assert_uint_lt(same, 8 + hlen + (na - 8 - hlen) / 4);
			ck_assert_int_ne(memcmp(da + 8 + hlen, dc + 8 + hlen, na - 8 - hlen), 0);
		} else {
			ck_assert_int_eq(memcmp(da, dc, na), 0);
		}
		free(da);
		free(db);
		free(dc);
		free(pa);
		free(pb);
		free(pc);
	}
	testutil_tmpdir_free(a);
	testutil_tmpdir_free(b);
	testutil_tmpdir_free(c);
}
END_TEST

/* ---- presets ---- */

START_TEST(test_spec_7b)
{
	struct synth_spec s;
	synth_spec_7b(&s);
	ck_assert_int_eq(s.family, CONFIG_FAMILY_LLAMA);
	ck_assert_int_eq(s.n_layers, 32);
	ck_assert_int_eq(s.hidden, 4096);
	ck_assert_int_eq(s.ffn, 11008);
	ck_assert_int_eq(s.n_heads, 32);
	ck_assert_int_eq(s.n_kv_heads, 32);
	ck_assert_int_eq(s.vocab, 32000);
	ck_assert_int_eq(s.max_pos, 4096);
	ck_assert_int_eq(s.dtype, SAFETENSORS_DTYPE_F16);
	/* the preset is accepted: an invalid spec would fail before the directory is looked at,
	 * an existing non-empty one fails after (nothing is generated) */
	char *dir = testutil_tmpdir_new("synth");
	char *p = testutil_path_new(dir, "occupied");
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(synth_write(dir, &s), SYNTH_ERR_IO);
	free(p);
	testutil_tmpdir_free(dir);
}
END_TEST

/* ---- errors ---- */

struct bad_spec {
	const char *what;
	void (*mutate)(struct synth_spec *s);
};

static void no_layers(struct synth_spec *s) { s->n_layers = 0; }
static void too_many_layers(struct synth_spec *s) { s->n_layers = CONFIG_MAX_LAYERS + 1; }
static void zero_hidden(struct synth_spec *s) { s->hidden = 0; }
static void huge_hidden(struct synth_spec *s) { s->hidden = (1 << 20) + 4; }
static void zero_ffn(struct synth_spec *s) { s->ffn = 0; }
static void huge_ffn(struct synth_spec *s) { s->ffn = (1 << 20) + 1; }
static void zero_heads(struct synth_spec *s) { s->n_heads = 0; }
static void heads_not_dividing(struct synth_spec *s) { s->n_heads = 5; }
static void zero_kv(struct synth_spec *s) { s->n_kv_heads = 0; }
static void kv_not_dividing(struct synth_spec *s) { s->n_kv_heads = 3; }
static void small_vocab(struct synth_spec *s) { s->vocab = 256; }
static void huge_vocab(struct synth_spec *s) { s->vocab = (1 << 24) + 1; }
static void tiny_max_pos(struct synth_spec *s) { s->max_pos = 1; }
static void huge_max_pos(struct synth_spec *s) { s->max_pos = (1 << 24) + 1; }
static void bad_family(struct synth_spec *s) { s->family = (enum config_family)42; }
static void bad_dtype(struct synth_spec *s) { s->dtype = (enum safetensors_dtype)9; }
static void negative_scale(struct synth_spec *s) { s->scale = -0.1f; }
static void nan_scale(struct synth_spec *s) { s->scale = NAN; }

static const struct bad_spec bad_specs[] = {
	{ "no layers", no_layers },
	{ "too many layers", too_many_layers },
	{ "hidden 0", zero_hidden },
	{ "hidden > 2^20", huge_hidden },
	{ "ffn 0", zero_ffn },
	{ "ffn > 2^20", huge_ffn },
	{ "0 heads", zero_heads },
	{ "hidden % heads", heads_not_dividing },
	{ "0 kv heads", zero_kv },
	{ "heads % kv heads", kv_not_dividing },
	{ "vocab < 257", small_vocab },
	{ "vocab > 2^24", huge_vocab },
	{ "max_pos < 2", tiny_max_pos },
	{ "max_pos > 2^24", huge_max_pos },
	{ "unknown family", bad_family },
	{ "unknown dtype", bad_dtype },
	{ "negative scale", negative_scale },
	{ "NaN scale", nan_scale },
};
#define N_BAD_SPECS ((int)(sizeof bad_specs / sizeof bad_specs[0]))

/* Each invalid spec is SYNTH_ERR_ARG and creates nothing: neither the directory nor a file. */
START_TEST(test_bad_spec)
{
	struct synth_spec s;
	synth_spec_default(&s, CONFIG_FAMILY_LLAMA); /* hidden 64, 4 heads, 2 kv heads */
	bad_specs[_i].mutate(&s);
	char *dir = testutil_tmpdir_new("synth");
	char *sub = testutil_path_new(dir, "model");
	ck_assert_msg(synth_write(sub, &s) == SYNTH_ERR_ARG, "%s accepted", bad_specs[_i].what);
	ck_assert_int_eq(testutil_dir_count(dir), 0);
	ck_assert_int_eq(synth_write(dir, &s), SYNTH_ERR_ARG);
	ck_assert_int_eq(testutil_dir_count(dir), 0);
	free(sub);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_io_errors)
{
	struct synth_spec s;
	synth_spec_default(&s, CONFIG_FAMILY_OPT);
	char *dir = testutil_tmpdir_new("synth");

	/* a non-empty directory: refused, its content untouched */
	char *p = testutil_path_new(dir, "keep.txt");
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("x", f);
	fclose(f);
	ck_assert_int_eq(synth_write(dir, &s), SYNTH_ERR_IO);
	ck_assert_int_eq(testutil_dir_count(dir), 1);

	/* a path under a regular file, and under a missing directory */
	char *under_file = testutil_path_new(p, "model");
	ck_assert_int_eq(synth_write(under_file, &s), SYNTH_ERR_IO);
	char *missing = testutil_path_new(dir, "no/such/dir");
	ck_assert_int_eq(synth_write(missing, &s), SYNTH_ERR_IO);
	ck_assert_int_eq(testutil_dir_count(dir), 1);

	/* an existing empty directory is fine; a second write into it is not */
	char *sub = testutil_path_new(dir, "m");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(synth_write(sub, &s), SYNTH_OK);
	ck_assert_int_eq(testutil_dir_count(sub), 4);
	ck_assert_int_eq(synth_write(sub, &s), SYNTH_ERR_IO);
	ck_assert_int_eq(testutil_dir_count(sub), 4);
	testutil_tmpdir_free(sub);

	free(missing);
	free(under_file);
	free(p);
	testutil_tmpdir_free(dir);
}
END_TEST

/* An empty read-only directory: the first file cannot be created; synth_write reports IO and
 * leaves nothing behind (no temp file either). (Skipped as root, who may write anyway.) */
START_TEST(test_unwritable_cleanup)
{
	if (geteuid() == 0)
		return;
	struct synth_spec s;
	synth_spec_default(&s, CONFIG_FAMILY_GPT2);
	char *dir = testutil_tmpdir_new("synth");
	char *ro = testutil_path_new(dir, "ro");
	ck_assert_int_eq(mkdir(ro, 0555), 0);
	ck_assert_int_eq(synth_write(ro, &s), SYNTH_ERR_IO);
	ck_assert_int_eq(testutil_dir_count(ro), 0);
	ck_assert_int_eq(rmdir(ro), 0);
	free(ro);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_strerror)
{
	static const int codes[] = { SYNTH_OK, SYNTH_ERR_ARG, SYNTH_ERR_IO, SYNTH_ERR_NOMEM };
	for (int i = 0; i < 4; i++) {
		const char *m = synth_strerror(codes[i]);
		ck_assert_str_ne(m, "unknown synth error");
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(m, synth_strerror(codes[j]));
	}
	ck_assert_str_eq(synth_strerror(-77), "unknown synth error");
}
END_TEST

static Suite *synth_suite(void)
{
	Suite *s = suite_create("synth");
	TCase *tc = tcase_create("families");
	tcase_add_loop_test(tc, test_family_dtype, 0, N_FAMILIES * N_DTYPES);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_loop_test(tc, test_values_reference, 0, 2 * N_DTYPES);
	tcase_add_test(tc, test_value_statistics);
	tcase_add_test(tc, test_seed_determinism);
	tcase_add_test(tc, test_spec_7b);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_bad_spec, 0, N_BAD_SPECS);
	tcase_add_test(tc, test_io_errors);
	tcase_add_test(tc, test_unwritable_cleanup);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(synth_suite(), false);
}
