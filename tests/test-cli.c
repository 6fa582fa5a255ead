/* Tests for the yopo executable (path in YOPO_EXE), run as a child process with stdout and
 * stderr captured to files: --help of every subcommand, unknown commands and options, one
 * broken model directory per failure kind (built in a mkdtemp dir from a small synthetic
 * checkpoint, one thing corrupted each) and bad option values for eval and generate — each must
 * exit non-zero with exactly one line on stderr and never die by a signal — the synthetic demo,
 * and, when YOPO_SHARED/models exists, the two real models' documented text and sizes. */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "safetensors.h"
#include "synth.h"

extern char **environ;

enum { MAX_ARGS = 16 };

/* The small model every broken directory starts from: llama, 2 layers, hidden 16, FFN 24,
 * 4 heads / 2 KV heads (head_dim 4), context 32, vocab 320 — larger than the byte-level
 * tokenizer's 257 tokens, as in checkpoints whose embedding is padded. */
static void tiny_spec(struct synth_spec *spec)
{
	synth_spec_default(spec, CONFIG_FAMILY_LLAMA);
	spec->hidden = 16;
	spec->ffn = 24;
	spec->n_heads = 4;
	spec->n_kv_heads = 2;
	spec->n_layers = 2;
	spec->vocab = 320;
	spec->max_pos = 32;
	spec->seed = 7;
}

/* 100 ASCII bytes: the byte-level tokenizer without merges gives one token per byte. */
static const char tiny_text[] =
	"Once upon a time, a small cat sat on a warm mat. The cat liked milk, sun and naps. The end. "
	"Bye now.";

/* ---- helpers ---- */

struct run {
	int code;   /* exit status; -1 if the child did not exit normally */
	int signal; /* terminating signal, 0 if it exited */
	char *out, *err;
	size_t n_out, n_err;
};

static const char *yopo_exe(void)
{
	const char *exe = getenv("YOPO_EXE");
	ck_assert_msg(exe && *exe, "YOPO_EXE is not set (meson sets it to the built yopo)");
	return exe;
}

static void make_tmpdir(char *dir, size_t len)
{
	const char *base = getenv("TMPDIR");
	snprintf(dir, len, "%s/yopo-cli-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* rm -r of a directory this test created (regular files and directories only). */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	struct dirent *e;
	char path[1024];
	struct stat sb;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ck_assert((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path);
		ck_assert_int_eq(lstat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			ck_assert_int_eq(unlink(path), 0);
	}
	closedir(d);
	ck_assert_int_eq(rmdir(dir), 0);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (n + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	ck_assert(!ferror(f));
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void write_all(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void path_join(char *buf, size_t cap, const char *dir, const char *name)
{
	ck_assert((size_t)snprintf(buf, cap, "%s/%s", dir, name) < cap);
}

/* Runs yopo args... (NULL-terminated) with stdin from /dev/null and stdout/stderr into files of
 * tmp; no time limit. */
static void run_yopo(struct run *r, const char *tmp, const char *const *args)
{
	const char *argv[MAX_ARGS + 2];
	int n = 0;
	argv[n++] = yopo_exe();
	for (; args[n - 1]; n++) {
		ck_assert_int_lt(n, MAX_ARGS + 1);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	char out_path[1024], err_path[1024];
	path_join(out_path, sizeof out_path, tmp, "stdout.txt");
	path_join(err_path, sizeof err_path, tmp, "stderr.txt");

	posix_spawn_file_actions_t fa;
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1, out_path,
							  O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, err_path,
							  O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	pid_t pid;
	/* posix_spawn's argv is char *const[] for historical reasons; it does not write to it */
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)(void *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(rc == 0, "posix_spawn %s: %s", argv[0], strerror(rc));
	int status;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	ck_assert_int_eq(w, pid);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	r->out = read_all(out_path, &r->n_out);
	r->err = read_all(err_path, &r->n_err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A clean failure: exited (no signal) with `code`, nothing on stdout, exactly one line on
 * stderr starting "yopo <cmd>: " and containing every non-NULL string of expect. */
static void assert_one_line_failure(const struct run *r, const char *cmd, int code,
				    const char *const *expect, int n_expect, const char *what)
{
	ck_assert_msg(r->signal == 0, "%s: yopo %s died by signal %d", what, cmd, r->signal);
	ck_assert_msg(r->code == code, "%s: yopo %s exited %d, expected %d; stderr: %s", what, cmd,
		      r->code, code, r->err);
	ck_assert_msg(r->n_out == 0, "%s: unexpected stdout: %s", what, r->out);
	ck_assert_msg(r->n_err > 0 && count_lines(r->err) == 1 && r->err[r->n_err - 1] == '\n',
		      "%s: stderr is not one line: '%s'", what, r->err);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "yopo %s: ", cmd);
	ck_assert_msg(!strncmp(r->err, prefix, strlen(prefix)), "%s: stderr lacks '%s': %s", what,
		      prefix, r->err);
	for (int i = 0; i < n_expect; i++)
		if (expect[i])
			ck_assert_msg(strstr(r->err, expect[i]) != NULL, "%s: stderr lacks '%s': %s",
				      what, expect[i], r->err);
}

/* A working model directory dir/name plus a text file dir/text.txt. */
static void make_model(char *model, size_t cap, const char *dir, const char *name)
{
	path_join(model, cap, dir, name);
	struct synth_spec spec;
	tiny_spec(&spec);
	ck_assert_int_eq(synth_write(model, &spec), SYNTH_OK);
	char text[1024];
	path_join(text, sizeof text, dir, "text.txt");
	write_all(text, tiny_text, sizeof tiny_text - 1);
}

/* Rewrites model/model.safetensors without tensor `drop` (if non-NULL) and with the first
 * dimension of tensor `shrink` (if non-NULL) one smaller. */
static void rewrite_weights(const char *model, const char *drop, const char *shrink)
{
	char path[1024];
	path_join(path, sizeof path, model, "model.safetensors");
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open(&st, path), 0);
	int n = safetensors_count(st), k = 0, found = 0;
	struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
	ck_assert_ptr_nonnull(e);
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(st, i);
		if (drop && !strcmp(t->name, drop)) {
			found++;
			continue;
		}
		e[k] = (struct safetensors_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
						  .data = t->data};
		memcpy(e[k].shape, t->shape, sizeof e[k].shape);
		if (shrink && !strcmp(t->name, shrink)) {
			e[k].shape[0]--; /* the data pointer still covers the smaller size */
			found++;
		}
		k++;
	}
	ck_assert_int_eq(found, 1);
	char tmp[1024];
	path_join(tmp, sizeof tmp, model, "new.safetensors");
	ck_assert_int_eq(safetensors_write(tmp, e, k, NULL, 0), 0);
	free(e);
	safetensors_close(st);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void truncate_half(const char *model, const char *file)
{
	char path[1024];
	path_join(path, sizeof path, model, file);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(truncate(path, sb.st_size / 2), 0);
}

static void set_model_type(const char *model, const char *type)
{
	char path[1024];
	size_t len;
	path_join(path, sizeof path, model, "config.json");
	char *text = read_all(path, &len);
	cJSON *root = cJSON_Parse(text);
	free(text);
	ck_assert_ptr_nonnull(root);
	ck_assert(cJSON_ReplaceItemInObject(root, "model_type", cJSON_CreateString(type)));
	text = cJSON_Print(root);
	ck_assert_ptr_nonnull(text);
	write_all(path, text, strlen(text));
	free(text);
	cJSON_Delete(root);
}

static void remove_file(const char *model, const char *file)
{
	char path[1024];
	path_join(path, sizeof path, model, file);
	ck_assert_int_eq(unlink(path), 0);
}

/* ---- help, unknown commands and options ---- */

static const char *const subcommands[] = {"demo", "eval", "generate", "spectrum", "train"};
enum { N_SUB = sizeof subcommands / sizeof subcommands[0] };

START_TEST(test_help)
{
	const char *cmd = subcommands[_i];
	char tmp[512], usage[64];
	make_tmpdir(tmp, sizeof tmp);
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){cmd, "--help", NULL});
	ck_assert_msg(r.code == 0, "yopo %s --help exited %d (signal %d)", cmd, r.code, r.signal);
	snprintf(usage, sizeof usage, "usage: yopo %s", cmd);
	ck_assert_msg(!strncmp(r.out, usage, strlen(usage)), "stdout: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "--help"));
	ck_assert_uint_eq(r.n_err, 0);
	run_free(&r);

	/* an unknown option: exit 2, getopt's message naming it, usage on stderr only */
	run_yopo(&r, tmp, (const char *const[]){cmd, "--frobnicate", NULL});
	ck_assert_int_eq(r.signal, 0);
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.n_out, 0);
	ck_assert_msg(strstr(r.err, "--frobnicate") != NULL, "stderr: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, usage));
	run_free(&r);

	/* a stray positional argument */
	run_yopo(&r, tmp, (const char *const[]){cmd, "stray", NULL});
	ck_assert_int_eq(r.signal, 0);
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.n_out, 0);
	ck_assert_msg(strstr(r.err, "stray") != NULL, "stderr: %s", r.err);
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

START_TEST(test_top_level)
{
	char tmp[512];
	make_tmpdir(tmp, sizeof tmp);
	struct run r;
	static const char *const help_forms[] = {"--help", "-h", "help"};
	for (int i = 0; i < 3; i++) {
		run_yopo(&r, tmp, (const char *const[]){help_forms[i], NULL});
		ck_assert_int_eq(r.code, 0);
		ck_assert_msg(!strncmp(r.out, "usage: yopo <command>", 21), "stdout: %s", r.out);
		for (int c = 0; c < N_SUB; c++)
			ck_assert_msg(strstr(r.out, subcommands[c]) != NULL, "usage lacks %s", subcommands[c]);
		ck_assert_uint_eq(r.n_err, 0);
		run_free(&r);
	}

	run_yopo(&r, tmp, (const char *const[]){"--version", NULL});
	ck_assert_int_eq(r.code, 0);
	ck_assert_msg(!strncmp(r.out, "yopo ", 5) && count_lines(r.out) == 1, "stdout: %s", r.out);
	run_free(&r);

	run_yopo(&r, tmp, (const char *const[]){"frobnicate", NULL});
	ck_assert_int_eq(r.signal, 0);
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.n_out, 0);
	ck_assert_msg(!strncmp(r.err, "yopo: unknown command 'frobnicate'\n", 35), "stderr: %s", r.err);
	run_free(&r);

	/* no command at all: usage on stderr */
	run_yopo(&r, tmp, (const char *const[]){NULL});
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.n_out, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "usage: yopo <command>"));
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

/* ---- broken model directories ---- */

enum corruption {
	CORRUPT_NO_DIR,
	CORRUPT_NOT_DIR,
	CORRUPT_NO_CONFIG,
	CORRUPT_BAD_CONFIG,
	CORRUPT_UNSUPPORTED,
	CORRUPT_NO_WEIGHTS,
	CORRUPT_TRUNCATED,
	CORRUPT_SHAPE,
	CORRUPT_MISSING_TENSOR,
	CORRUPT_NO_TOKENIZER,
	CORRUPT_BAD_TOKENIZER,
};

struct bad_model {
	enum corruption kind;
	const char *what;
	const char *expect[5]; /* substrings of the error line */
};

static const struct bad_model bad_models[] = {
	{CORRUPT_NO_DIR, "model directory missing", {"absent", "not a model directory"}},
	{CORRUPT_NOT_DIR, "model path is a file", {"text.txt", "not a model directory"}},
	{CORRUPT_NO_CONFIG, "no config.json", {"config.json"}},
	{CORRUPT_BAD_CONFIG, "config.json cut in half", {"config.json"}},
	{CORRUPT_UNSUPPORTED, "model_type bert",
	 {"\"bert\"", "supported", "llama", "gpt_neo", "gpt2"}},
	{CORRUPT_NO_WEIGHTS, "no model.safetensors", {"model.safetensors"}},
	{CORRUPT_TRUNCATED, "model.safetensors cut in half", {"safetensors"}},
	{CORRUPT_SHAPE, "up_proj with one row too few", {"model.layers.1.mlp.up_proj.weight"}},
	{CORRUPT_MISSING_TENSOR, "k_proj missing", {"model.layers.0.self_attn.k_proj.weight"}},
	{CORRUPT_NO_TOKENIZER, "no tokenizer.json", {"tokenizer.json"}},
	{CORRUPT_BAD_TOKENIZER, "tokenizer.json cut in half", {"tokenizer.json"}},
};
enum { N_BAD = sizeof bad_models / sizeof bad_models[0] };

static void corrupt(char *model, size_t cap, const char *tmp, enum corruption kind)
{
	switch (kind) {
	case CORRUPT_NO_DIR: path_join(model, cap, tmp, "absent"); break;
	case CORRUPT_NOT_DIR: path_join(model, cap, tmp, "text.txt"); break;
	case CORRUPT_NO_CONFIG: remove_file(model, "config.json"); break;
	case CORRUPT_BAD_CONFIG: truncate_half(model, "config.json"); break;
	case CORRUPT_UNSUPPORTED: set_model_type(model, "bert"); break;
	case CORRUPT_NO_WEIGHTS: remove_file(model, "model.safetensors"); break;
	case CORRUPT_TRUNCATED: truncate_half(model, "model.safetensors"); break;
	case CORRUPT_SHAPE: rewrite_weights(model, NULL, "model.layers.1.mlp.up_proj.weight"); break;
	case CORRUPT_MISSING_TENSOR:
		rewrite_weights(model, "model.layers.0.self_attn.k_proj.weight", NULL);
		break;
	case CORRUPT_NO_TOKENIZER: remove_file(model, "tokenizer.json"); break;
	case CORRUPT_BAD_TOKENIZER: truncate_half(model, "tokenizer.json"); break;
	}
}

/* _i = 2·case + (0: eval, 1: generate) */
START_TEST(test_bad_model)
{
	const struct bad_model *b = &bad_models[_i / 2];
	const char *cmd = _i % 2 ? "generate" : "eval";
	char tmp[512], model[1024], text[1024];
	make_tmpdir(tmp, sizeof tmp);
	make_model(model, sizeof model, tmp, "model");
	path_join(text, sizeof text, tmp, "text.txt");
	corrupt(model, sizeof model, tmp, b->kind);
	struct run r;
	if (_i % 2)
		run_yopo(&r, tmp, (const char *const[]){cmd, "--model", model, "--max-tokens", "4", NULL});
	else
		run_yopo(&r, tmp, (const char *const[]){cmd, "--model", model, "--text", text, NULL});
	assert_one_line_failure(&r, cmd, 1, b->expect, 5, b->what);
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

/* ---- bad option values and texts, on a working model ---- */

/* Placeholders in args: "@M" the model dir, "@T" the text, "@E" an empty file, "@D" a
 * directory, "@N" a missing file. */
struct bad_args {
	const char *args[10];
	int code;
	const char *expect[2];
};

static const struct bad_args bad_args[] = {
	{{"eval", "--model", "@M", "--text", "@N"}, 1, {"missing.txt", "cannot read"}},
	{{"eval", "--model", "@M", "--text", "@E"}, 1, {"empty.txt", "empty"}},
	{{"eval", "--model", "@M", "--text", "@D"}, 1, {"cannot read"}},
	{{"eval", "--model", "@M", "--text", "@T", "--seq-len", "33"}, 1, {"33", "context (32)"}},
	{{"eval", "--model", "@M", "--text", "@T", "--seq-len", "abc"}, 2, {"--seq-len", "'abc'"}},
	{{"eval", "--model", "@M", "--text", "@T", "--seq-len", "1"}, 2, {"--seq-len", "range"}},
	{{"eval", "--model", "@M", "--text", "@T", "--seq-len", "-5"}, 2, {"--seq-len", "range"}},
	{{"eval", "--model", "@M", "--text", "@T", "--seq-len", "99999999999999999999"}, 2, {"--seq-len"}},
	{{"eval", "--model", "@M", "--text", "@T", "--seq-len", "8.5"}, 2, {"--seq-len", "8.5"}},
	{{"eval", "--model", "@M", "--text", "@T", "--seq-len", ""}, 2, {"--seq-len"}},
	{{"eval", "--model", "@M", "--text", "@T", "--max-windows", "0"}, 2, {"--max-windows", "range"}},
	{{"eval", "--model", "@M", "--text", "@T", "--max-windows", "-1"}, 2, {"--max-windows"}},
	{{"eval", "--model", "@M", "--text", "@T", "--max-windows", "2x"}, 2, {"--max-windows", "2x"}},
	{{"eval", "--model", "@M"}, 2, {"--text"}},
	{{"eval", "--text", "@T"}, 2, {"--model"}},
	{{"generate", "--model", "@M", "--max-tokens", "0"}, 2, {"--max-tokens", "range"}},
	{{"generate", "--model", "@M", "--max-tokens", "-3"}, 2, {"--max-tokens", "range"}},
	{{"generate", "--model", "@M", "--max-tokens", "1000001"}, 2, {"--max-tokens", "range"}},
	{{"generate", "--model", "@M", "--max-tokens", "abc"}, 2, {"--max-tokens", "'abc'"}},
	{{"generate", "--model", "@M", "--max-tokens", "5x"}, 2, {"--max-tokens", "5x"}},
	{{"generate", "--model", "@M", "--max-tokens", "99999999999999999999"}, 2, {"--max-tokens"}},
	{{"generate", "--max-tokens", "4"}, 2, {"--model"}},
	/* 40 prompt bytes = 40 tokens, past the 32-token context */
	{{"generate", "--model", "@M", "--prompt", "0123456789012345678901234567890123456789"},
	 1, {"prompt", "context is 32"}},
};
enum { N_BAD_ARGS = sizeof bad_args / sizeof bad_args[0] };

START_TEST(test_bad_args)
{
	const struct bad_args *b = &bad_args[_i];
	char tmp[512], model[1024], text[1024], empty[1024], sub[1024], missing[1024];
	make_tmpdir(tmp, sizeof tmp);
	make_model(model, sizeof model, tmp, "model");
	path_join(text, sizeof text, tmp, "text.txt");
	path_join(empty, sizeof empty, tmp, "empty.txt");
	write_all(empty, "", 0);
	path_join(sub, sizeof sub, tmp, "sub");
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	path_join(missing, sizeof missing, tmp, "missing.txt");

	const char *args[12];
	int n = 0;
	char what[256] = "";
	for (; b->args[n]; n++) {
		const char *a = b->args[n];
		args[n] = !strcmp(a, "@M")   ? model
			  : !strcmp(a, "@T") ? text
			  : !strcmp(a, "@E") ? empty
			  : !strcmp(a, "@D") ? sub
			  : !strcmp(a, "@N") ? missing
					     : a;
		strncat(what, a, sizeof what - strlen(what) - 2);
		strcat(what, " ");
	}
	args[n] = NULL;
	struct run r;
	run_yopo(&r, tmp, args);
	assert_one_line_failure(&r, b->args[0], b->code, b->expect, 2, what);
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

/* ---- working runs on the synthetic model ---- */

/* Keys of eval --json (see yopo eval --help). */
static const char *const json_keys[] = {"perplexity", "nll", "tokens", "windows", "params",
					"ffn_params", "flops_per_token", "bytes", "tokens_per_s",
					"peak_rss_bytes"};
enum { N_KEYS = sizeof json_keys / sizeof json_keys[0] };

/* Parses the one-line JSON object of eval --json; every key present and a number. */
static cJSON *parse_eval_json(const struct run *r)
{
	ck_assert_msg(count_lines(r->out) == 1 && r->out[r->n_out - 1] == '\n', "stdout: %s", r->out);
	cJSON *root = cJSON_Parse(r->out);
	ck_assert_msg(cJSON_IsObject(root), "not a JSON object: %s", r->out);
	for (int i = 0; i < N_KEYS; i++)
		ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(root, json_keys[i])), "key %s: %s",
			      json_keys[i], r->out);
	ck_assert_int_eq(cJSON_GetArraySize(root), N_KEYS);
	return root;
}

static double num(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItem(o, key)->valuedouble;
}

/* The control for the failure tests: the unbroken model evaluates and generates. */
START_TEST(test_good_model)
{
	char tmp[512], model[1024], text[1024], weights[1024];
	make_tmpdir(tmp, sizeof tmp);
	make_model(model, sizeof model, tmp, "model");
	path_join(text, sizeof text, tmp, "text.txt");
	path_join(weights, sizeof weights, model, "model.safetensors");
	struct stat sb;
	ck_assert_int_eq(stat(weights, &sb), 0);

	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"eval", "--model", model, "--text", text, "--json", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	cJSON *j = parse_eval_json(&r);
	/* BOS + 100 byte tokens = 101 ids in windows of 32: 3 full + a remainder of 5 */
	ck_assert_double_eq(num(j, "windows"), 4);
	ck_assert_double_eq(num(j, "tokens"), 3 * 31 + 4);
	/* per layer q 16·16, k and v 8·16, o 16·16, gate/up/down 3·24·16, two norms 2·16 = 1952;
	 * embedding and untied head 2·320·16, final norm 16 */
	ck_assert_double_eq(num(j, "params"), 2 * 1952 + 2 * 320 * 16 + 16);
	ck_assert_double_eq(num(j, "ffn_params"), 2 * 3 * 24 * 16);
	/* eval.h's formula: per layer 16·(16+16) + 256 + 3·24·16 + 2·16·(33/2 mean keys), head 16·320 */
	ck_assert_double_eq(num(j, "flops_per_token"), 2 * (2 * (768 + 1152 + 2 * 16 * 16.5) + 16 * 320));
	ck_assert_double_eq(num(j, "bytes"), (double)sb.st_size);
	ck_assert_double_eq_tol(num(j, "perplexity"), exp(num(j, "nll")), 1e-6 * num(j, "perplexity"));
	ck_assert(num(j, "nll") > 0 && num(j, "tokens_per_s") > 0 && num(j, "peak_rss_bytes") > 0);
	cJSON_Delete(j);
	run_free(&r);

	/* The text form names the model and the same counts. */
	run_yopo(&r, tmp, (const char *const[]){"eval", "--model", model, "--text", text,
						"--seq-len", "16", "--max-windows", "2", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "windows        2 x 16 tokens"));
	ck_assert_ptr_nonnull(strstr(r.out, "over 30 predicted tokens"));
	run_free(&r);

	/* The vocab (320) is padded past the tokenizer (257): generation must only emit ids the
	 * tokenizer can decode, and stops at the 32-token context. */
	run_yopo(&r, tmp, (const char *const[]){"generate", "--model", model, "--max-tokens", "100", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert(r.n_out > 0 && r.out[r.n_out - 1] == '\n');
	ck_assert_msg(strstr(r.err, "yopo generate: 31 tokens in") != NULL &&
		      strstr(r.err, "end of the context") != NULL, "stderr: %s", r.err);
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

START_TEST(test_demo)
{
	char tmp[512], cfg[1024];
	make_tmpdir(tmp, sizeof tmp);
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"demo", "--work", tmp, NULL});
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	ck_assert_msg(strstr(r.out, "SYNTHETIC") != NULL, "stdout: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "perplexity"));
	ck_assert_ptr_nonnull(strstr(r.out, "== demo done"));
	path_join(cfg, sizeof cfg, tmp, "synthetic-llama/config.json");
	struct stat sb;
	ck_assert_int_eq(stat(cfg, &sb), 0);
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

/* ---- real models (skipped when YOPO_SHARED/models is absent) ---- */

static int shared_path(char *buf, size_t cap, const char *rel)
{
	const char *shared = getenv("YOPO_SHARED");
	char models[1024];
	struct stat sb;
	if (!shared || (size_t)snprintf(models, sizeof models, "%s/models", shared) >= sizeof models ||
	    stat(models, &sb) || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "test-cli: YOPO_SHARED/models absent, real-model check skipped\n");
		return -1;
	}
	ck_assert((size_t)snprintf(buf, cap, "%s/%s", shared, rel) < cap);
	return 0;
}

START_TEST(test_real_generate)
{
	char model[1024], tmp[512];
	if (shared_path(model, sizeof model, "models/stories260k"))
		return;
	make_tmpdir(tmp, sizeof tmp);
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"generate", "--model", model, "--max-tokens", "40", NULL});
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	/* the sample llama2.c's README shows for stories260K */
	static const char story[] = "Once upon a time, there was a little girl named Lily. She loved "
				    "to play outside in the park.";
	ck_assert_msg(!strncmp(r.out, story, strlen(story)), "stdout: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.err, "yopo generate: 40 tokens"));
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

/* Sizes from /work/shared/models/README.md; ffn_params and FLOPs derived from its table:
 *  stories260k: 5 layers × (up, gate, down) 3·172·64 = 165,120 FFN weights. FLOPs at seq 512
 *   (mean keys 513/2): per layer 64·(64+64) + 64·64 + 3·64·172 + 2·64·256.5 = 78,144 MACs,
 *   ×5 + head 64·512 = 423,488 MACs = 846,976 FLOPs.
 *  tinystories-instruct-3m: 8 × (c_fc 512·128 + 512 + c_proj 128·512 + 128) = 1,053,696. FLOPs
 *   at seq 256 (window 256 never binds, mean keys 257/2): per layer 128·384 + 128·128 +
 *   2·128·512 + 2·128·128.5 = 229,504 MACs, ×8 + head 128·14019 = 3,630,464 MACs. */
struct real_case {
	const char *model;
	int context;
	double params, ffn_params, bytes, flops;
};

static const struct real_case real_cases[] = {
	{"models/stories260k", 512, 260032, 165120, 1044992, 2 * 423488.0},
	{"models/tinystories-instruct-3m", 256, 3410560, 1053696, 13653256, 2 * 3630464.0},
};

START_TEST(test_real_eval)
{
	const struct real_case *c = &real_cases[_i];
	char model[1024], text[1024], tmp[512];
	if (shared_path(model, sizeof model, c->model) ||
	    shared_path(text, sizeof text, "data/tinystories-eval.txt"))
		return;
	make_tmpdir(tmp, sizeof tmp);
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"eval", "--model", model, "--text", text, "--json",
						"--max-windows", "4", NULL});
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	cJSON *j = parse_eval_json(&r);
	ck_assert_double_eq(num(j, "params"), c->params);
	ck_assert_double_eq(num(j, "ffn_params"), c->ffn_params);
	ck_assert_double_eq(num(j, "bytes"), c->bytes);
	ck_assert_double_eq(num(j, "windows"), 4);
	ck_assert_double_eq(num(j, "tokens"), 4 * (c->context - 1));
	ck_assert_double_eq_tol(num(j, "flops_per_token"), c->flops, 1e-9 * c->flops);
	double ppl = num(j, "perplexity");
	ck_assert_double_eq_tol(ppl, exp(num(j, "nll")), 1e-6 * ppl);
	/* trained TinyStories models on TinyStories text: far below the vocab size */
	ck_assert_msg(ppl > 1 && ppl < 20, "perplexity %g", ppl);
	ck_assert(num(j, "tokens_per_s") > 0);
	ck_assert(num(j, "peak_rss_bytes") > c->bytes);
	cJSON_Delete(j);
	run_free(&r);
	remove_tree(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("usage");
	tcase_add_loop_test(tc, test_help, 0, N_SUB);
	tcase_add_test(tc, test_top_level);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad input");
	tcase_add_loop_test(tc, test_bad_model, 0, 2 * N_BAD);
	tcase_add_loop_test(tc, test_bad_args, 0, N_BAD_ARGS);
	suite_add_tcase(s, tc);
	tc = tcase_create("runs");
	tcase_add_test(tc, test_good_model);
	tcase_add_test(tc, test_demo);
	tcase_add_test(tc, test_real_generate);
	tcase_add_loop_test(tc, test_real_eval, 0, 2);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
