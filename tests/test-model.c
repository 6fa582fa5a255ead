/* Tests for model/model: loading checkpoint directories into canonical f32 weights, every loader
 * error (config, weights, missing tensor, wrong shape), parameter counts, Conv1D transposition
 * and fused-QKV splitting, and the streaming helpers (model_inspect, model_read_matrix). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "testutil.h"

/* A fresh copy of fixture `name` in a new temp dir; returns the dir, which the caller releases
 * with testutil_tmpdir_free. */
static char *copy_fixture(const char *name)
{
	char *dir = testutil_tmpdir_new("model");
	char from[1024], to[512];
	const char *files[] = {"config.json", "model.safetensors"};
	for (int i = 0; i < 2; i++) {
		snprintf(from, sizeof from, "%s/families/%s/%s", testutil_fixtures(), name, files[i]);
		testutil_path_join(to, sizeof to, dir, files[i]);
		testutil_file_copy(from, to);
	}
	return dir;
}

/* Rewrites dir/model.safetensors from the original, dropping tensor `drop` or giving tensor
 * `reshape` one row fewer (both NULL: unchanged). */
static void rewrite_weights(const char *dir, const char *drop, const char *reshape)
{
	char path[512];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open(&st, path), 0);
	int n = safetensors_count(st), k = 0;
	struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(st, i);
		if (drop && !strcmp(t->name, drop))
			continue;
		e[k] = (struct safetensors_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
		memcpy(e[k].shape, t->shape, sizeof t->shape);
		if (reshape && !strcmp(t->name, reshape))
			e[k].shape[0]--;
		k++;
	}
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s/new.safetensors", dir);
	ck_assert_int_eq(safetensors_write(tmp, e, k, NULL, 0), 0);
	safetensors_close(st);
	free(e);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	testutil_path_join(path, sizeof path, dir, name);
	testutil_file_write(path, text, strlen(text));
}

/* dir's config.json = llama_gqa's with the text `from` replaced by `to` (same length). */
static void rewrite_config(const char *dir, const char *from, const char *to)
{
	char src[1024];
	snprintf(src, sizeof src, "%s/families/llama_gqa/config.json", testutil_fixtures());
	char *buf = testutil_file_read(src, NULL);
	char *p = strstr(buf, from);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(strlen(from), strlen(to));
	memcpy(p, to, strlen(to));
	write_text(dir, "config.json", buf);
	free(buf);
}

struct count_case {
	const char *name;
	size_t params, ffn_params;
};

/* Counts derived from each fixture's config (tools/ref/make_fixtures.py sizes):
 * llama_gqa: vocab 40, hidden 16, 2 layers, 4 heads x 4, 2 kv heads, ffn 24, untied head:
 *   embed 640 + head 640 + final norm 16 + per layer (2 norms 32 + q 256 + k 128 + v 128 + o 256 +
 *   3 x 384 FFN) = 1296 + 2 x 1952 = 5200; FFN 2 x 1152 = 2304. */
static const struct count_case counts[] = {
	{"llama_gqa", 5200, 2304},
};

START_TEST(test_counts)
{
	const struct count_case *t = &counts[_i];
	char dir[1024], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/families/%s", testutil_fixtures(), t->name);
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(m->n_params, t->params);
	ck_assert_uint_eq(m->n_ffn_params, t->ffn_params);
	ck_assert_ptr_ne(m->lm_head, m->embed); /* untied */
	model_close(m);
}
END_TEST

/* gpt2 stores Conv1D matrices (in, out): the canonical up matrix is the transpose, and the fused
 * c_attn splits into q, k, v row blocks. */
START_TEST(test_conv1d_and_fused_qkv)
{
	char dir[1024], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/families/gpt2", testutil_fixtures());
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "%s", err);
	const struct config *c = &m->cfg;
	const struct safetensors_tensor *t = model_find_tensor(m->st, c, CONFIG_TENSOR_UP, 1);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->shape[0], c->hidden);
	ck_assert_int_eq(t->shape[1], c->ffn);
	float *raw = malloc(t->nelem * sizeof *raw);
	safetensors_read_f32(raw, t);
	for (int i = 0; i < c->ffn; i++)
		for (int j = 0; j < c->hidden; j++)
			ck_assert_float_eq(m->layers[1].up[(size_t)i * c->hidden + j], raw[(size_t)j * c->ffn + i]);
	/* model_read_matrix gives the same (out, in) matrix */
	float *canon = malloc(t->nelem * sizeof *canon), *scratch = malloc(t->nelem * sizeof *scratch);
	ck_assert_int_eq(model_read_matrix(canon, t, c, CONFIG_TENSOR_UP, scratch), 0);
	ck_assert_int_eq(memcmp(canon, m->layers[1].up, t->nelem * sizeof *canon), 0);
	free(raw);
	free(canon);
	free(scratch);

	const struct safetensors_tensor *qkv = model_find_tensor(m->st, c, CONFIG_TENSOR_QKV, 0);
	ck_assert_ptr_nonnull(qkv);
	raw = malloc(qkv->nelem * sizeof *raw);
	safetensors_read_f32(raw, qkv); /* (hidden, 3*hidden): column o of block b is output b*H+o */
	int H = c->hidden;
	for (int o = 0; o < H; o++)
		for (int j = 0; j < H; j++) {
			ck_assert_float_eq(m->layers[0].wq[(size_t)o * H + j], raw[(size_t)j * 3 * H + o]);
			ck_assert_float_eq(m->layers[0].wk[(size_t)o * H + j], raw[(size_t)j * 3 * H + H + o]);
			ck_assert_float_eq(m->layers[0].wv[(size_t)o * H + j], raw[(size_t)j * 3 * H + 2 * H + o]);
		}
	free(raw);
	model_close(m);
}
END_TEST

START_TEST(test_inspect)
{
	char dir[1024], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/families/gpt2", testutil_fixtures());
	struct config c;
	struct safetensors *st = NULL;
	ck_assert_msg(model_inspect(&c, &st, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.prefix, ""); /* this gpt2 fixture has no transformer. prefix */
	ck_assert_ptr_nonnull(model_find_tensor(st, &c, CONFIG_TENSOR_EMBED, 0));
	ck_assert_ptr_null(model_find_tensor(st, &c, CONFIG_TENSOR_GATE, 0));
	safetensors_close(st);
	snprintf(dir, sizeof dir, "%s/families/gpt2_prefixed", testutil_fixtures());
	ck_assert_msg(model_inspect(&c, &st, dir, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.prefix, "transformer.");
	safetensors_close(st);
}
END_TEST

struct error_case {
	const char *what;
	int err;
	const char *needle;
};

static const struct error_case errors[] = {
	{"no config", MODEL_ERR_CONFIG, "config.json"},
	{"bad config", MODEL_ERR_CONFIG, "JSON"},
	{"unknown family", MODEL_ERR_CONFIG, "supported"},
	{"no weights", MODEL_ERR_WEIGHTS, "safetensors"},
	{"truncated weights", MODEL_ERR_WEIGHTS, ""},
	{"missing tensor", MODEL_ERR_MISSING_TENSOR, "model.layers.1.mlp.down_proj.weight"},
	{"wrong shape", MODEL_ERR_SHAPE, "model.layers.0.self_attn.k_proj.weight"},
	{"config disagrees", MODEL_ERR_SHAPE, "config.json implies (25, 16)"},
	/* issue 13 item 12: used to load silently, ignoring layer 1 */
	{"config says fewer layers", MODEL_ERR_EXTRA_TENSOR,
	 "9 tensor(s) of layers beyond the 1 of config.json, first model.layers.1.input_layernorm.weight"},
};

START_TEST(test_errors)
{
	const struct error_case *t = &errors[_i];
	char *dir = copy_fixture("llama_gqa");
	char path[512];
	switch (_i) {
	case 0:
		snprintf(path, sizeof path, "%s/config.json", dir);
		unlink(path);
		break;
	case 1: write_text(dir, "config.json", "{\"model_type\": \"llama\", "); break;
	case 2: write_text(dir, "config.json", "{\"model_type\": \"bert\"}"); break;
	case 3:
		snprintf(path, sizeof path, "%s/model.safetensors", dir);
		unlink(path);
		break;
	case 4:
		snprintf(path, sizeof path, "%s/model.safetensors", dir);
		ck_assert_int_eq(truncate(path, 1000), 0);
		break;
	case 5: rewrite_weights(dir, "model.layers.1.mlp.down_proj.weight", NULL); break;
	case 6: rewrite_weights(dir, NULL, "model.layers.0.self_attn.k_proj.weight"); break;
	case 7: /* config claims a wider FFN than the tensors have */
		rewrite_config(dir, "\"intermediate_size\": 24", "\"intermediate_size\": 25");
		break;
	case 8: rewrite_config(dir, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"); break;
	}
	struct model *m = (struct model *)0x1;
	char err[ERR_MAX] = "";
	ck_assert_int_eq(model_open(&m, dir, err, sizeof err), t->err);
	ck_assert_ptr_eq(m, (struct model *)0x1); /* untouched on failure */
	ck_assert_msg(strstr(err, t->needle) != NULL, "%s: message '%s' lacks '%s'", t->what, err, t->needle);
	ck_assert_msg(!strchr(err, '\n'), "one line");
	ck_assert_str_ne(model_strerror(t->err), "unknown model error");
	testutil_tmpdir_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_counts, 0, (int)(sizeof counts / sizeof counts[0]));
	tcase_add_test(tc, test_conv1d_and_fused_qkv);
	tcase_add_test(tc, test_inspect);
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof errors / sizeof errors[0]));
	suite_add_tcase(s, tc);
	return testutil_run(s, false);
}
