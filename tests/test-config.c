/* Tests for model/config: family descriptors from config.json, and every error kind. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

static int parse(struct config *c, const char *json, char *err, size_t errlen)
{
	return config_parse(c, json, strlen(json), err, errlen);
}

struct family_case {
	const char *json;
	enum config_family family;
	int layers, hidden, ffn, heads, kv, head_dim, rotary;
	enum config_act act;
	enum config_norm norm;
	enum config_residual residual;
	bool gated, tied, learned_pos;
	double scale; /* attention scale */
	const char *up_name;   /* CONFIG_TENSOR_UP of layer 1 */
	const char *ffn_key;
};

static const struct family_case families[] = {
	{"{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":5,"
	 "\"num_attention_heads\":8,\"num_key_value_heads\":4,\"vocab_size\":512,\"tie_word_embeddings\":true}",
	 CONFIG_FAMILY_LLAMA, 5, 64, 172, 8, 4, 8, 8, CONFIG_ACT_SILU, CONFIG_NORM_RMS,
	 CONFIG_RESIDUAL_SEQUENTIAL, true, true, false, 0.35355339059327373,
	 "model.layers.1.mlp.up_proj.weight", "intermediate_size"},
	{"{\"model_type\":\"gpt_neo\",\"hidden_size\":128,\"num_layers\":2,\"num_heads\":16,\"vocab_size\":100,"
	 "\"max_position_embeddings\":256,\"attention_layers\":[\"global\",\"local\"],\"window_size\":4}",
	 CONFIG_FAMILY_GPT_NEO, 2, 128, 512, 16, 16, 8, 0, CONFIG_ACT_GELU_TANH, CONFIG_NORM_LAYER,
	 CONFIG_RESIDUAL_SEQUENTIAL, false, true, true, 1.0, "transformer.h.1.mlp.c_fc.weight",
	 "intermediate_size"},
	{"{\"model_type\":\"gpt2\",\"n_embd\":32,\"n_layer\":2,\"n_head\":4,\"vocab_size\":50,\"n_inner\":null}",
	 CONFIG_FAMILY_GPT2, 2, 32, 128, 4, 4, 8, 0, CONFIG_ACT_GELU_TANH, CONFIG_NORM_LAYER,
	 CONFIG_RESIDUAL_SEQUENTIAL, false, true, true, 0.35355339059327373,
	 "transformer.h.1.mlp.c_fc.weight", "n_inner"},
	{"{\"model_type\":\"opt\",\"hidden_size\":32,\"ffn_dim\":64,\"num_hidden_layers\":2,"
	 "\"num_attention_heads\":4,\"vocab_size\":50,\"max_position_embeddings\":64}",
	 CONFIG_FAMILY_OPT, 2, 32, 64, 4, 4, 8, 0, CONFIG_ACT_RELU, CONFIG_NORM_LAYER,
	 CONFIG_RESIDUAL_SEQUENTIAL, false, true, true, 0.35355339059327373,
	 "model.decoder.layers.1.fc1.weight", "ffn_dim"},
	{"{\"model_type\":\"gpt_neox\",\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":2,"
	 "\"num_attention_heads\":4,\"vocab_size\":50,\"rotary_pct\":0.5}",
	 CONFIG_FAMILY_GPT_NEOX, 2, 32, 64, 4, 4, 8, 4, CONFIG_ACT_GELU, CONFIG_NORM_LAYER,
	 CONFIG_RESIDUAL_PARALLEL, false, false, false, 0.35355339059327373,
	 "gpt_neox.layers.1.mlp.dense_h_to_4h.weight", "intermediate_size"},
	{"{\"model_type\":\"phi\",\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":2,"
	 "\"num_attention_heads\":4,\"vocab_size\":50}",
	 CONFIG_FAMILY_PHI, 2, 32, 64, 4, 4, 8, 4, CONFIG_ACT_GELU_TANH, CONFIG_NORM_LAYER,
	 CONFIG_RESIDUAL_PARALLEL_SHARED, false, false, false, 0.35355339059327373,
	 "model.layers.1.mlp.fc1.weight", "intermediate_size"},
};

START_TEST(test_families)
{
	const struct family_case *t = &families[_i];
	struct config c;
	char err[ERR_MAX] = "";
	ck_assert_msg(parse(&c, t->json, err, sizeof err) == 0, "case %d: %s", _i, err);
	ck_assert_int_eq(c.family, t->family);
	ck_assert_int_eq(c.n_layers, t->layers);
	ck_assert_int_eq(c.hidden, t->hidden);
	ck_assert_int_eq(c.ffn, t->ffn);
	ck_assert_int_eq(c.layer_ffn[c.n_layers - 1], t->ffn);
	ck_assert_int_eq(c.n_heads, t->heads);
	ck_assert_int_eq(c.n_kv_heads, t->kv);
	ck_assert_int_eq(c.head_dim, t->head_dim);
	ck_assert_int_eq(c.rotary_dim, t->rotary);
	ck_assert_int_eq(c.act, t->act);
	ck_assert_int_eq(c.norm, t->norm);
	ck_assert_int_eq(c.residual, t->residual);
	ck_assert_int_eq(c.gated, t->gated);
	ck_assert_int_eq(c.tied, t->tied);
	ck_assert_int_eq(c.learned_pos, t->learned_pos);
	ck_assert_double_eq_tol(c.attn_scale, t->scale, 1e-12);
	ck_assert_str_eq(c.ffn_key, t->ffn_key);
	char name[256];
	ck_assert_int_eq(config_tensor_name(name, sizeof name, &c, CONFIG_TENSOR_UP, 1), 0);
	ck_assert_str_eq(name, t->up_name);
}
END_TEST

START_TEST(test_gpt_neo_windows)
{
	struct config c;
	ck_assert_int_eq(parse(&c, families[1].json, NULL, 0), 0);
	ck_assert_int_eq(c.window[0], 0);
	ck_assert_int_eq(c.window[1], 4);
}
END_TEST

START_TEST(test_tensor_needs)
{
	struct config c;
	ck_assert_int_eq(parse(&c, families[0].json, NULL, 0), 0);
	ck_assert(config_tensor_needed(&c, CONFIG_TENSOR_GATE));
	ck_assert(!config_tensor_needed(&c, CONFIG_TENSOR_LM_HEAD)); /* tied */
	ck_assert(!config_tensor_needed(&c, CONFIG_TENSOR_Q_BIAS));
	ck_assert(!config_tensor_needed(&c, CONFIG_TENSOR_POS_EMBED));
	ck_assert_int_eq(parse(&c, families[2].json, NULL, 0), 0); /* gpt2 */
	ck_assert(!config_tensor_needed(&c, CONFIG_TENSOR_GATE));
	ck_assert(config_tensor_needed(&c, CONFIG_TENSOR_QKV));
	ck_assert(!config_tensor_needed(&c, CONFIG_TENSOR_Q));
	char name[64];
	ck_assert_int_eq(config_tensor_name(name, sizeof name, &c, CONFIG_TENSOR_GATE, 0), -1);
	ck_assert_int_eq(config_tensor_name(name, 4, &c, CONFIG_TENSOR_UP, 0), -1); /* too small */
	ck_assert_int_eq(parse(&c, families[5].json, NULL, 0), 0); /* phi: shared norm */
	ck_assert(!config_tensor_needed(&c, CONFIG_TENSOR_FFN_NORM));
	ck_assert(config_tensor_needed(&c, CONFIG_TENSOR_LM_HEAD_BIAS));
}
END_TEST

START_TEST(test_qwen2_bias_and_defaults)
{
	struct config c;
	const char *j = "{\"model_type\":\"qwen2\",\"hidden_size\":16,\"intermediate_size\":24,"
			"\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
			"\"vocab_size\":40,\"bos_token_id\":[3,4],\"eos_token_id\":5}";
	ck_assert_int_eq(parse(&c, j, NULL, 0), 0);
	ck_assert(c.qkv_bias);
	ck_assert(!c.o_bias);
	ck_assert_int_eq(c.bos_id, 3);
	ck_assert_int_eq(c.eos_id, 5);
	ck_assert_double_eq_tol(c.rope_theta, 10000.0, 1e-9);
	ck_assert_int_eq(c.window[0], 0);
}
END_TEST

struct error_case {
	const char *json;
	int err;
	const char *needle; /* must appear in the message */
};

static const struct error_case errors[] = {
	{"{\"model_type\": \"llama\",", CONFIG_ERR_JSON, "JSON"},
	{"[1, 2]", CONFIG_ERR_JSON, "JSON"},
	/* fuzz finding: a quoted value's newline used to split the reason over two lines */
	{"{\"model_type\": \"mam\\nba\"}", CONFIG_ERR_FAMILY, "\"mam?ba\""},
	{"{\"hidden_size\": 4}", CONFIG_ERR_FAMILY, "model_type"},
	{"{\"model_type\": \"mamba\"}", CONFIG_ERR_FAMILY, "gpt_neox"},
	{"{\"model_type\": \"llama\", \"intermediate_size\": 8, \"num_hidden_layers\": 1,"
	 "\"num_attention_heads\": 2, \"vocab_size\": 8}", CONFIG_ERR_FIELD, "hidden_size"},
	{"{\"model_type\": \"llama\", \"hidden_size\": \"64\", \"intermediate_size\": 8,"
	 "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 8}", CONFIG_ERR_FIELD, "integer"},
	{"{\"model_type\": \"llama\", \"hidden_size\": -4, \"intermediate_size\": 8,"
	 "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 8}", CONFIG_ERR_VALUE, "out of range"},
	{"{\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 8,"
	 "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 3, \"vocab_size\": 8}",
	 CONFIG_ERR_VALUE, "multiple"},
	{"{\"model_type\": \"gpt2\", \"n_embd\": 10, \"n_layer\": 1, \"n_head\": 4, \"vocab_size\": 8}",
	 CONFIG_ERR_VALUE, "divisible"},
	{"{\"model_type\": \"gpt_neo\", \"hidden_size\": 8, \"num_layers\": 2, \"num_heads\": 2,"
	 "\"vocab_size\": 8, \"max_position_embeddings\": 8, \"attention_layers\": [\"global\"]}",
	 CONFIG_ERR_VALUE, "attention_layers"},
	{"{\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 8, \"num_hidden_layers\": 1,"
	 "\"num_attention_heads\": 2, \"vocab_size\": 8, \"hidden_act\": \"mish\"}", CONFIG_ERR_UNSUPPORTED, "mish"},
	{"{\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 8, \"num_hidden_layers\": 1,"
	 "\"num_attention_heads\": 2, \"vocab_size\": 8, \"rope_scaling\": {\"rope_type\": \"llama3\"}}",
	 CONFIG_ERR_UNSUPPORTED, "rope_scaling"},
	{"{\"model_type\": \"opt\", \"hidden_size\": 8, \"ffn_dim\": 8, \"num_hidden_layers\": 1,"
	 "\"num_attention_heads\": 2, \"vocab_size\": 8, \"max_position_embeddings\": 8,"
	 "\"do_layer_norm_before\": false}", CONFIG_ERR_UNSUPPORTED, "post-LN"},
	{"{\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 8, \"num_hidden_layers\": 1,"
	 "\"num_attention_heads\": 2, \"vocab_size\": 8, \"tie_word_embeddings\": 1}", CONFIG_ERR_FIELD, "true or false"},
};

START_TEST(test_errors)
{
	const struct error_case *t = &errors[_i];
	struct config c;
	memset(&c, 0x5a, sizeof c);
	struct config before = c;
	char err[ERR_MAX] = "";
	ck_assert_int_eq(parse(&c, t->json, err, sizeof err), t->err);
	ck_assert_msg(strstr(err, t->needle) != NULL, "case %d: message '%s' lacks '%s'", _i, err, t->needle);
	ck_assert_msg(!strchr(err, '\n'), "one line");
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "output written on failure");
	ck_assert_str_ne(config_strerror(t->err), "unknown config error");
}
END_TEST

START_TEST(test_load_io)
{
	struct config c;
	char err[ERR_MAX] = "";
	ck_assert_int_eq(config_load(&c, "/nonexistent/config.json", err, sizeof err), CONFIG_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/config.json"));

	char path[] = "/tmp/yopo-test-config-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	const char *j = families[0].json;
	ck_assert_int_eq(write(fd, j, strlen(j)), (ssize_t)strlen(j));
	close(fd);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(c.hidden, 64);
	unlink(path);
}
END_TEST

/* A FIFO is refused without reading it: a writer child feeds it a valid config, which the old
 * fopen/fread reader loaded; the reader must not depend on the writer (no hang either way). */
START_TEST(test_load_fifo)
{
	char *dir = testutil_tmpdir_new("config");
	char *path = testutil_path_new(dir, "config.json");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		int fd = open(path, O_WRONLY);
		const char *j = families[0].json;
		if (fd >= 0 && write(fd, j, strlen(j)) < 0)
			_exit(1);
		_exit(0);
	}
	struct config c;
	char err[ERR_MAX] = "";
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), CONFIG_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(path);
	testutil_tmpdir_free(dir);
}
END_TEST

START_TEST(test_shared_models)
{
	const char *shared = testutil_shared();
	char path[1024];
	if (access(shared, F_OK))
		return; /* main exits 77 */
	struct config c;
	char err[ERR_MAX] = "";
	snprintf(path, sizeof path, "%s/models/stories260k/config.json", shared);
	ck_assert_msg(config_load(&c, path, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(c.family, CONFIG_FAMILY_LLAMA);
	ck_assert_int_eq(c.n_kv_heads, 4);
	ck_assert_int_eq(c.ffn, 172);
	ck_assert_int_eq(c.bos_id, 1);
	snprintf(path, sizeof path, "%s/models/tinystories-instruct-3m/config.json", shared);
	ck_assert_msg(config_load(&c, path, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(c.family, CONFIG_FAMILY_GPT_NEO);
	ck_assert_int_eq(c.window[1], 256);
	ck_assert_int_eq(c.vocab, 14019);
	ck_assert_int_eq(c.bos_id, 14018);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_families, 0, (int)(sizeof families / sizeof families[0]));
	tcase_add_test(tc, test_gpt_neo_windows);
	tcase_add_test(tc, test_tensor_needs);
	tcase_add_test(tc, test_qwen2_bias_and_defaults);
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof errors / sizeof errors[0]));
	tcase_add_test(tc, test_load_io);
	tcase_add_test(tc, test_load_fifo);
	tcase_add_test(tc, test_shared_models);
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
