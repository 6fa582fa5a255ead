/* Tests for the yopo executable (path in YOPO_EXE), run as a child process with stdout and
 * stderr captured to files: --help of every subcommand, unknown commands and options, one
 * broken model directory per failure kind (built in a mkdtemp dir from a small synthetic
 * checkpoint, one thing corrupted each) and bad option values and files for every subcommand —
 * each must exit non-zero with exactly one line on stderr, never die by a signal and leave
 * nothing behind on disk — working train, spectrum, prune and compare runs on the synthetic
 * model (their files checked by parsing them), the synthetic demo, and, when
 * YOPO_SHARED/models exists, the two real models' documented text and sizes. */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "output.h"
#include "safetensors.h"
#include "synth.h"
#include "testutil.h"

enum { MAX_ARGS = 20 };

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

/* Where run_yopo sends the child's stdout: a file of tmp when NULL, else this path (/dev/full,
 * with an empty file of tmp standing for what it printed). */
static const char *stdout_target;

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
	testutil_path_join(out_path, sizeof out_path, tmp, "stdout.txt");
	testutil_path_join(err_path, sizeof err_path, tmp, "stderr.txt");
	if (stdout_target)
		testutil_file_write(out_path, "", 0);
	int status = testutil_spawn(argv, stdout_target ? stdout_target : out_path, err_path);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	r->out = testutil_file_read(out_path, &r->n_out);
	r->err = testutil_file_read(err_path, &r->n_err);
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

/* A working model directory dir/name of tiny_spec's shape but FFN width ffn, plus a text file
 * dir/text.txt. */
static void make_model_ffn(char *model, size_t cap, const char *dir, const char *name, int ffn)
{
	testutil_path_join(model, cap, dir, name);
	struct synth_spec spec;
	tiny_spec(&spec);
	spec.ffn = ffn;
	ck_assert_int_eq(synth_write(model, &spec), SYNTH_OK);
	char text[1024];
	testutil_path_join(text, sizeof text, dir, "text.txt");
	testutil_file_write(text, tiny_text, sizeof tiny_text - 1);
}

static void make_model(char *model, size_t cap, const char *dir, const char *name)
{
	make_model_ffn(model, cap, dir, name, 24);
}

/* The tiny model with another vocabulary size (300). */
static void make_model_vocab(char *model, size_t cap, const char *dir, const char *name)
{
	testutil_path_join(model, cap, dir, name);
	struct synth_spec spec;
	tiny_spec(&spec);
	spec.vocab = 300;
	ck_assert_int_eq(synth_write(model, &spec), SYNTH_OK);
}

/* The tiny model whose tokenizer merges "a t" into token 257: same vocabulary, other ids. */
static void make_model_merge(char *model, size_t cap, const char *dir, const char *name)
{
	make_model(model, cap, dir, name);
	char path[1024];
	testutil_path_join(path, sizeof path, model, "tokenizer.json");
	size_t len;
	char *text = testutil_file_read(path, &len);
	cJSON *root = cJSON_Parse(text);
	free(text);
	cJSON *bpe = cJSON_GetObjectItem(root, "model");
	ck_assert_ptr_nonnull(bpe);
	cJSON_AddNumberToObject(cJSON_GetObjectItem(bpe, "vocab"), "at", 257);
	cJSON_AddItemToArray(cJSON_GetObjectItem(bpe, "merges"), cJSON_CreateString("a t"));
	char *out = cJSON_Print(root);
	ck_assert_int_eq(unlink(path), 0);
	testutil_file_write(path, out, strlen(out));
	free(out);
	cJSON_Delete(root);
}

/* Trains a small policy (ratio 0.3, 2 episodes; arch mlp or prunenet) on model into path. */
static void train_policy(const char *tmp, const char *model, const char *path, const char *arch)
{
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"train", "--model", model, "--ratio", "0.3", "--episodes",
						"2", "--arch", arch, "--out", path, NULL});
	ck_assert_msg(r.code == 0, "train --arch %s: exit %d (signal %d), stderr: %s", arch, r.code,
		      r.signal, r.err);
	ck_assert_msg(testutil_path_exists(path), "train wrote no %s", path);
	run_free(&r);
}

/* ---- what a failed run must not leave behind ---- */

struct listing {
	char **v;
	size_t n, cap;
};

static void list_tree(struct listing *l, const char *root, const char *rel)
{
	char dir[1024], path[1024], line[1200];
	if (*rel)
		testutil_path_join(dir, sizeof dir, root, rel);
	else
		snprintf(dir, sizeof dir, "%s", root);
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* run_yopo's own capture files */
		if (!*rel && (!strcmp(e->d_name, "stdout.txt") || !strcmp(e->d_name, "stderr.txt")))
			continue;
		char sub[1024];
		if (*rel)
			testutil_path_join(sub, sizeof sub, rel, e->d_name);
		else
			snprintf(sub, sizeof sub, "%s", e->d_name);
		testutil_path_join(path, sizeof path, root, sub);
		struct stat sb;
		ck_assert_int_eq(lstat(path, &sb), 0);
		bool is_dir = S_ISDIR(sb.st_mode);
		/* files by size and modification time, so a rewritten file shows too */
		snprintf(line, sizeof line, "%s %s %lld %lld.%09ld", sub, is_dir ? "dir" : "file",
			 is_dir ? 0LL : (long long)sb.st_size, is_dir ? 0LL : (long long)sb.st_mtim.tv_sec,
			 is_dir ? 0L : sb.st_mtim.tv_nsec);
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 32;
			l->v = realloc(l->v, l->cap * sizeof *l->v);
			ck_assert_ptr_nonnull(l->v);
		}
		l->v[l->n] = strdup(line);
		ck_assert_ptr_nonnull(l->v[l->n]);
		l->n++;
		if (is_dir)
			list_tree(l, root, sub);
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry under root (but run_yopo's stdout.txt and stderr.txt), one sorted line each:
 * two snapshots are equal iff nothing was created, deleted or rewritten. */
static char *tree_snapshot(const char *root)
{
	struct listing l = {0};
	list_tree(&l, root, "");
	qsort(l.v, l.n, sizeof *l.v, cmp_str);
	size_t len = 1;
	for (size_t i = 0; i < l.n; i++)
		len += strlen(l.v[i]) + 1;
	char *s = malloc(len);
	ck_assert_ptr_nonnull(s);
	s[0] = '\0';
	for (size_t i = 0; i < l.n; i++) {
		strcat(s, l.v[i]);
		strcat(s, "\n");
		free(l.v[i]);
	}
	free(l.v);
	return s;
}

static void assert_same_tree(const char *before, const char *root, const char *what)
{
	char *after = tree_snapshot(root);
	ck_assert_msg(!strcmp(before, after), "%s: files changed\nbefore:\n%s\nafter:\n%s", what,
		      before, after);
	free(after);
}

/* ---- JSON and checkpoint readers ---- */

static cJSON *parse_json_file(const char *path)
{
	size_t len;
	char *text = testutil_file_read(path, &len);
	cJSON *root = cJSON_Parse(text);
	ck_assert_msg(root != NULL, "%s is not JSON: %s", path, text);
	free(text);
	return root;
}

/* o[key], which must exist. */
static const cJSON *item(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	ck_assert_msg(v != NULL, "no key \"%s\"", key);
	return v;
}

static double item_num(const cJSON *o, const char *key)
{
	const cJSON *v = item(o, key);
	ck_assert_msg(cJSON_IsNumber(v), "\"%s\" is not a number", key);
	return v->valuedouble;
}

static const char *item_str(const cJSON *o, const char *key)
{
	const cJSON *v = item(o, key);
	ck_assert_msg(cJSON_IsString(v), "\"%s\" is not a string", key);
	return v->valuestring;
}

/* Tensor `name` of dir/model.safetensors as f32 (caller frees), its 2-D shape in rows, cols. */
static float *read_tensor(const char *dir, const char *name, int64_t *rows, int64_t *cols)
{
	char path[1024];
	testutil_path_join(path, sizeof path, dir, "model.safetensors");
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open(&st, path), 0);
	const struct safetensors_tensor *t = safetensors_find(st, name);
	ck_assert_msg(t != NULL && t->ndim == 2, "%s: no 2-D tensor %s", path, name);
	float *v = malloc(t->nelem * sizeof *v);
	ck_assert_ptr_nonnull(v);
	safetensors_read_f32(v, t);
	*rows = t->shape[0];
	*cols = t->shape[1];
	safetensors_close(st);
	return v;
}

/* The FFN width config.json of dir declares (llama: intermediate_size). */
static int config_ffn(const char *dir)
{
	char path[1024];
	testutil_path_join(path, sizeof path, dir, "config.json");
	cJSON *c = parse_json_file(path);
	int ffn = (int)item_num(c, "intermediate_size");
	cJSON_Delete(c);
	return ffn;
}

/* Rewrites model/model.safetensors without tensor `drop` (if non-NULL) and with the first
 * dimension of tensor `shrink` (if non-NULL) one smaller. */
static void rewrite_weights(const char *model, const char *drop, const char *shrink)
{
	char path[1024];
	testutil_path_join(path, sizeof path, model, "model.safetensors");
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
	testutil_path_join(tmp, sizeof tmp, model, "new.safetensors");
	ck_assert_int_eq(safetensors_write(tmp, e, k, NULL, 0), 0);
	free(e);
	safetensors_close(st);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void truncate_half(const char *model, const char *file)
{
	char path[1024];
	testutil_path_join(path, sizeof path, model, file);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(truncate(path, sb.st_size / 2), 0);
}

static void set_model_type(const char *model, const char *type)
{
	char path[1024];
	size_t len;
	testutil_path_join(path, sizeof path, model, "config.json");
	char *text = testutil_file_read(path, &len);
	cJSON *root = cJSON_Parse(text);
	free(text);
	ck_assert_ptr_nonnull(root);
	ck_assert(cJSON_ReplaceItemInObject(root, "model_type", cJSON_CreateString(type)));
	text = cJSON_Print(root);
	ck_assert_ptr_nonnull(text);
	testutil_file_write(path, text, strlen(text));
	free(text);
	cJSON_Delete(root);
}

static void remove_file(const char *model, const char *file)
{
	char path[1024];
	testutil_path_join(path, sizeof path, model, file);
	ck_assert_int_eq(unlink(path), 0);
}

/* ---- help, unknown commands and options ---- */

static const char *const subcommands[] = {
	"compare", "demo", "eval", "generate", "prune", "spectrum", "study", "train",
};
enum { N_SUB = sizeof subcommands / sizeof subcommands[0] };

START_TEST(test_help)
{
	const char *cmd = subcommands[_i];
	char *tmp, usage[64];
	tmp = testutil_tmpdir_new("cli");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){cmd, "--help", NULL});
	ck_assert_msg(r.code == 0, "yopo %s --help exited %d (signal %d)", cmd, r.code, r.signal);
	snprintf(usage, sizeof usage, "usage: yopo %s", cmd);
	ck_assert_msg(!strncmp(r.out, usage, strlen(usage)), "stdout: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "--help"));
	ck_assert_uint_eq(r.n_err, 0);
	/* -h and yopo help CMD print the same text */
	char *help = strdup(r.out);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){cmd, "-h", NULL});
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, help);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"help", cmd, NULL});
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, help);
	ck_assert_ptr_nonnull(strstr(help, "-q, --quiet"));
	free(help);
	run_free(&r);
	/* -q takes no value; a misspelled common option is suggested */
	run_yopo(&r, tmp, (const char *const[]){cmd, "--quiet=1", NULL});
	ck_assert_int_eq(r.code, 2);
	ck_assert_msg(strstr(r.err, "--quiet takes no value") != NULL, "stderr: %s", r.err);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){cmd, "--quite", NULL});
	ck_assert_int_eq(r.code, 2);
	ck_assert_msg(strstr(r.err, "did you mean --quiet") != NULL, "stderr: %s", r.err);
	run_free(&r);
	/* every command takes --threads N (-t N), with the usual range check */
	run_yopo(&r, tmp, (const char *const[]){cmd, "--help", NULL});
	ck_assert_ptr_nonnull(strstr(r.out, "-t, --threads N"));
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){cmd, "--threads", "0", NULL});
	ck_assert_int_eq(r.code, 2);
	ck_assert_msg(strstr(r.err, "--threads") && strstr(r.err, "range"), "stderr: %s", r.err);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){cmd, "-t", "x2", NULL});
	ck_assert_int_eq(r.code, 2);
	ck_assert_msg(strstr(r.err, "--threads") && strstr(r.err, "'x2'"), "stderr: %s", r.err);
	run_free(&r);

	/* an unknown option: exit 2, one line naming it and pointing to --help */
	run_yopo(&r, tmp, (const char *const[]){cmd, "--frobnicate", NULL});
	ck_assert_int_eq(r.signal, 0);
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.n_out, 0);
	ck_assert_msg(strstr(r.err, "unknown option '--frobnicate'") != NULL, "stderr: %s", r.err);
	ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "--help"), "stderr: %s", r.err);
	run_free(&r);

	/* a stray positional argument */
	run_yopo(&r, tmp, (const char *const[]){cmd, "stray", NULL});
	ck_assert_int_eq(r.signal, 0);
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.n_out, 0);
	ck_assert_msg(strstr(r.err, "stray") != NULL, "stderr: %s", r.err);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_top_level)
{
	char *tmp = testutil_tmpdir_new("cli");
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
	ck_assert_msg(!strncmp(r.err, "yopo: unknown command 'frobnicate' (see yopo --help)\n", 52),
		      "stderr: %s", r.err);
	run_free(&r);

	/* a misspelled command: one line with the closest one, also after `help` */
	static const char *const typos[][4] = {{"prnue", NULL, NULL}, {"help", "prnue", NULL},
					       {"genrate", "--model", "x"}};
	static const char *const meant[] = {"'prune'", "'prune'", "'generate'"};
	for (int i = 0; i < 3; i++) {
		run_yopo(&r, tmp, typos[i]);
		ck_assert_int_eq(r.code, 2);
		ck_assert_uint_eq(r.n_out, 0);
		ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "did you mean") &&
			      strstr(r.err, meant[i]), "stderr: %s", r.err);
		run_free(&r);
	}
	run_yopo(&r, tmp, (const char *const[]){"help", "prune", "eval", NULL});
	ck_assert_int_eq(r.code, 2);
	ck_assert_msg(strstr(r.err, "yopo help CMD") != NULL, "stderr: %s", r.err);
	run_free(&r);

	/* no command at all: usage on stderr */
	run_yopo(&r, tmp, (const char *const[]){NULL});
	ck_assert_int_eq(r.code, 2);
	ck_assert_uint_eq(r.n_out, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "usage: yopo <command>"));
	run_free(&r);
	testutil_tmpdir_free(tmp);
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
	case CORRUPT_NO_DIR: testutil_path_join(model, cap, tmp, "absent"); break;
	case CORRUPT_NOT_DIR: testutil_path_join(model, cap, tmp, "text.txt"); break;
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
	char *tmp, model[1024], text[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	corrupt(model, sizeof model, tmp, b->kind);
	struct run r;
	if (_i % 2)
		run_yopo(&r, tmp, (const char *const[]){cmd, "--model", model, "--max-tokens", "4", NULL});
	else
		run_yopo(&r, tmp, (const char *const[]){cmd, "--model", model, "--text", text, NULL});
	assert_one_line_failure(&r, cmd, 1, b->expect, 5, b->what);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- bad option values and texts, on a working model ---- */

/* Placeholders in args: "@M" the model dir, "@T" the text, "@E" an empty file, "@D" an empty
 * directory, "@N" a missing file, "@O" an output path that does not exist yet, "@Q" a path under
 * a missing directory, "@F" a non-empty directory, "@P" a policy trained on @M (made only when
 * used), "@W" a model of another FFN width (32; made only when used), "@MW" and "@MC" the model's
 * model.safetensors and config.json; "@R" the test directory itself; "@Y" a FIFO, "@YC", "@YW",
 * "@YT" copies of the model whose config.json, model.safetensors or tokenizer.json is a FIFO;
 * symlinks: "@L" to @M, "@LT" to @T, "@LW" to @W, "@FL" a directory holding a link to @M;
 * paths through them or inside inputs: "@LN" @L/new, "@LMW" @L/model.safetensors, "@LMC"
 * @L/config.json, "@MN" @M/new.safetensors, "@WN" @W/new; "@V" a model of another vocabulary
 * (300), "@K" one whose tokenizer merges "a t" (both made only when used). */
struct bad_args {
	const char *args[14];
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
	{{"eval", "--model", "@M", "--text", "@T", "--compute", "f64"}, 2, {"--compute", "'f64'"}},
	{{"eval", "--model", "@M"}, 2, {"--text"}},
	/* --model at a parent directory lists the models inside; at a file, names its directory */
	{{"eval", "--model", "@R", "--text", "@T"}, 1, {"config.json", "holds the model directory"}},
	{{"eval", "--model", "@MW", "--text", "@T"}, 1, {"not a model directory", "did you mean --model"}},
	{{"prune", "--model", "@R", "--ratio", "0.25", "--method", "random", "--out", "@O"},
	 1, {"holds the model directory", "/model"}},
	{{"train", "--model", "@MC", "--ratio", "0.3", "--out", "@O"}, 1, {"did you mean --model"}},
	{{"generate", "--model", "@MW"}, 1, {"did you mean --model"}},
	{{"eval", "--model", "@M", "--text", "@T", "--reference", "@V"}, 1, {"vocabulary", "300"}},
	{{"eval", "--model", "@M", "--text", "@T", "--reference", "@K"}, 1, {"tokenizer", "merge"}},
	{{"eval", "--model", "@M", "--text", "@T", "--reference", "@N"}, 1, {"--reference", "missing.txt"}},
	{{"eval", "--model", "@M", "--text", "@T", "--reference"}, 2, {"--reference"}},
	{{"eval", "--text", "@T"}, 2, {"--model"}},
	{{"generate", "--model", "@M", "--max-tokens", "0"}, 2, {"--max-tokens", "range"}},
	{{"generate", "--model", "@M", "--max-tokens", "-3"}, 2, {"--max-tokens", "range"}},
	{{"generate", "--model", "@M", "--max-tokens", "1000001"}, 2, {"--max-tokens", "range"}},
	{{"generate", "--model", "@M", "--max-tokens", "abc"}, 2, {"--max-tokens", "'abc'"}},
	{{"generate", "--model", "@M", "--max-tokens", "5x"}, 2, {"--max-tokens", "5x"}},
	{{"generate", "--model", "@M", "--max-tokens", "99999999999999999999"}, 2, {"--max-tokens"}},
	{{"generate", "--max-tokens", "4"}, 2, {"--model"}},
	{{"generate", "--model", "@M", "--temperature", "-1"}, 2, {"--temperature", "range"}},
	{{"generate", "--model", "@M", "--temperature", "0.8", "--top-p", "0"}, 2, {"--top-p", "range"}},
	{{"generate", "--model", "@M", "--temperature", "0.8", "--top-p", "1.5"}, 2, {"--top-p", "range"}},
	{{"generate", "--model", "@M", "--temperature", "0.8", "--top-k", "-2"}, 2, {"--top-k", "range"}},
	{{"generate", "--model", "@M", "--top-k", "5"}, 2, {"--top-k", "--temperature"}},
	{{"generate", "--model", "@M", "--temperature", "1", "--seed", "x"}, 2, {"--seed", "'x'"}},
	{{"generate", "-m", "@M", "-n", "0"}, 2, {"--max-tokens", "range"}},
	/* 40 prompt bytes = 40 tokens, past the 32-token context */
	{{"generate", "--model", "@M", "--prompt", "0123456789012345678901234567890123456789"},
	 1, {"prompt", "context is 32"}},

	{{"train", "--model", "@M", "--ratio", "0.3"}, 2, {"--out"}},
	/* outputs never overwrite or land inside an input (issue 13, items 1-2) */
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--out", "@MW"},
	 1, {"model.safetensors", "input"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--log", "@MW", "--out", "@O"},
	 1, {"model.safetensors", "input"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--log", "@MC", "--out", "@O"},
	 1, {"config.json", "input"}},
	{{"train", "--ratio", "0.3", "--out", "@O"}, 2, {"--model"}},
	{{"train", "--model", "@M", "--out", "@O"}, 2, {"--ratio"}},
	{{"train", "--model", "@M", "--ratio", "0", "--out", "@O"}, 2, {"--ratio", "range"}},
	{{"train", "--model", "@M", "--ratio", "1", "--out", "@O"}, 2, {"--ratio", "range"}},
	{{"train", "--model", "@M", "--ratio", "1.5", "--out", "@O"}, 2, {"--ratio", "range"}},
	{{"train", "--model", "@M", "--ratio", "abc", "--out", "@O"}, 2, {"--ratio", "'abc'"}},
	/* an empty item is a typo, not a shorter list */
	{{"train", "--model", "@M", "--ratio", "0.3,", "--out", "@O"}, 2, {"--ratio", "empty"}},
	{{"train", "--model", "@M", "--ratio", "0.1,,0.3", "--out", "@O"}, 2, {"--ratio", "empty"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "-1", "--out", "@O"},
	 2, {"--episodes", "range"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--arch", "foo", "--out", "@O"}, 2, {"--arch", "'foo'"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--reward", "foo", "--out", "@O"},
	 2, {"--reward", "'foo'"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--lr", "0", "--out", "@O"}, 2, {"--lr", "range"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--lr", "-0.1", "--out", "@O"}, 2, {"--lr", "range"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--samples", "0", "--out", "@O"},
	 2, {"--samples", "range"}},
	/* refused before training, which can take hours, not when saving */
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--out", "@Q"},
	 1, {"absent", "directory"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--out", "@D"},
	 1, {"sub", "is a directory"}},
	{{"train", "--model", "@N", "--ratio", "0.3", "--out", "@O"}, 1, {"missing.txt"}},
	/* an existing policy is replaced only with --force (issue 12) */
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--out", "@E"},
	 1, {"exists", "--force"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--reward", "foo", "--out", "@O"},
	 2, {"--reward", "functional"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--mix", "0.5", "--out", "@O"},
	 2, {"--mix", "--reward mix"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--reward", "mix", "--mix", "1.5", "--out", "@O"},
	 2, {"--mix", "range"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--feature-set", "foo", "--out", "@O"},
	 2, {"--feature-set", "'foo'"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--weights-only", "--feature-set", "probe",
	  "--out", "@O"}, 2, {"--weights-only", "probe"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--arch", "prunenet", "--feature-set", "probe",
	  "--out", "@O"}, 2, {"prunenet", "probe"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--probe-tokens", "1", "--out", "@O"},
	 2, {"--probe-tokens", "range"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--probe-lanes", "0", "--out", "@O"},
	 2, {"--probe-lanes", "range"}},
	{{"prune", "--model", "@M", "--ratio", "0.3", "--probe-lanes", "4097", "--out", "@O"},
	 2, {"--probe-lanes", "range"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--probe-seed", "-1", "--out", "@O"},
	 2, {"--probe-seed"}},

	{{"study", "--model", "@M", "--ratio", "0.3"}, 2, {"--text"}},
	{{"study", "--model", "@M", "--text", "@T"}, 2, {"--ratio"}},
	{{"study", "--ratio", "0.3", "--text", "@T"}, 2, {"--model"}},
	{{"study", "--model", "@M", "--ratio", "1", "--text", "@T"}, 2, {"--ratio", "range"}},
	{{"study", "--model", "@M", "--ratio", "0.3", "--text", "@T", "--samples", "1"},
	 2, {"--samples", "range"}},
	{{"study", "--model", "@M", "--ratio", "0.3", "--text", "@T", "--windows", "0"},
	 2, {"--windows", "range"}},
	{{"study", "--model", "@M", "--ratio", "0.3", "--text", "@T", "--probe-tokens", "1"},
	 2, {"--probe-tokens", "range"}},
	{{"study", "--model", "@M", "--ratio", "0.3", "--text", "@N"}, 1, {"missing.txt"}},
	{{"study", "--model", "@M", "--ratio", "0.3", "--text", "@E"}, 1, {"empty"}},
	{{"study", "--model", "@N", "--ratio", "0.3", "--text", "@T"}, 1, {"missing.txt"}},

	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "foo"}, 2, {"--method", "'foo'"}},
	/* KEN scores individual weights, spectrum keeps whole rows */
	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "ken"}, 2, {"--method", "'ken'"}},
	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "policy", "--policy", "@N"},
	 1, {"missing.txt", "cannot read"}},
	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "policy", "--policy", "@T"},
	 1, {"text.txt", "safetensors"}},
	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "wanda"}, 2, {"--calib"}},
	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "wanda", "--calib", "@N"},
	 1, {"missing.txt"}},
	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "random", "--samples", "0"},
	 2, {"--samples", "range"}},
	{{"spectrum", "--model", "@M", "--ratio", "0", "--method", "random"}, 2, {"--ratio", "range"}},
	{{"spectrum", "--model", "@M", "--method", "random"}, 2, {"--ratio"}},

	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random"}, 2, {"--out"}},
	/* one size: --ratio, --target-params, --sparsity or an N:M granularity */
	{{"prune", "--model", "@M", "--method", "random", "--out", "@O"}, 2, {"give one of", "--sparsity"}},
	{{"prune", "--model", "@M", "--ratio", "0.2", "--sparsity", "0.1", "--method", "random",
	  "--out", "@O"}, 2, {"give one of"}},
	{{"prune", "--model", "@M", "--target-params", "10", "--method", "random", "--out", "@O"},
	 2, {"impossible", "one FFN neuron"}},
	{{"prune", "--model", "@M", "--target-params", "99999999", "--method", "random", "--out", "@O"},
	 2, {"removes no FFN neuron"}},
	{{"prune", "--model", "@M", "--sparsity", "0", "--method", "random", "--out", "@O"},
	 2, {"--sparsity", "range"}},
	{{"prune", "--model", "@M", "--target-params", "0", "--method", "random", "--out", "@O"},
	 2, {"--target-params", "range"}},
	{{"prune", "--model", "@M", "--sparsity", "0.1", "--granularity", "weights", "--method",
	  "magnitude", "--out", "@O"}, 2, {"--granularity rows"}},
	{{"prune", "--model", "@N", "--sparsity", "0.1", "--method", "random", "--out", "@O"},
	 1, {"missing.txt", "not a model directory"}},
	{{"prune", "--model", "@M", "--granularity", "2:4", "--ratio", "0.3", "--method", "magnitude",
	  "--out", "@O"}, 2, {"sets the ratio"}},
	{{"prune", "--model", "@M", "--granularity", "2:4", "--method", "random", "--out", "@O"},
	 2, {"random", "2:4"}},
	{{"prune", "--model", "@M", "--granularity", "3:4", "--method", "magnitude", "--out", "@O"},
	 2, {"--granularity", "'3:4'"}},
	{{"prune", "--model", "@M", "--granularity", "4:8", "--method", "wanda", "--out", "@O"},
	 2, {"--calib"}},
	/* no abbreviations: a prefix is an unknown option with the full name suggested */
	{{"prune", "--model", "@M", "--rat", "0.25", "--method", "random", "--out", "@O"},
	 2, {"unknown option '--rat'", "did you mean --ratio"}},
	{{"prune", "--mod", "@M", "--ratio", "0.25", "--method", "random", "--out", "@O"},
	 2, {"unknown option '--mod'", "did you mean --model"}},
	{{"eval", "--model", "@M", "--txt", "@T"}, 2, {"did you mean --text"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "foo", "--out", "@O"},
	 2, {"--method", "'foo'"}},
	{{"prune", "--model", "@M", "--ratio", "1", "--method", "random", "--out", "@O"},
	 2, {"--ratio", "range"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "wanda", "--out", "@O"},
	 2, {"--calib"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--granularity", "foo",
	  "--out", "@O"}, 2, {"--granularity", "'foo'"}},
	/* KEN selects weights within rows: it has no rows form */
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "ken", "--granularity", "rows",
	  "--out", "@O"}, 2, {"ken", "rows"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "policy", "--policy", "@P",
	  "--granularity", "weights", "--out", "@O"}, 2, {"policy", "rows"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--base", "@M", "--out",
	  "@O"}, 2, {"--base", "ken"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--global", "--granularity",
	  "weights", "--out", "@O"}, 2, {"--global"}},
	/* never written over or into the input, whatever the options */
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--out", "@M"},
	 1, {"model", "is input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--force", "--out", "@M"},
	 1, {"model", "is input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--force", "--out", "@T"},
	 1, {"text.txt", "not a directory"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--out", "@F"},
	 1, {"full", "not empty"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--out", "@Q"},
	 1, {"absent"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "ken", "--base", "@W", "--out", "@O"},
	 1, {"--base", "ffn 32"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "policy", "--policy", "@N", "--out",
	  "@O"}, 1, {"missing.txt", "cannot read"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "policy", "--policy", "@T", "--out",
	  "@O"}, 1, {"text.txt", "safetensors"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "wanda", "--calib", "@N", "--out",
	  "@O"}, 1, {"missing.txt"}},
	{{"prune", "--model", "@N", "--ratio", "0.25", "--method", "random", "--out", "@O"},
	 1, {"missing.txt", "not a model directory"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "wanda", "--calib", "@T",
	  "--calib-tokens", "0", "--out", "@O"}, 2, {"--calib-tokens"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "wanda", "--calib", "@T",
	  "--calib-tokens", "12x", "--out", "@O"}, 2, {"--calib-tokens", "'12x'"}},

	/* ---- issue 13: output safety, FIFOs, devices, ratios ---- */
	/* FIFOs and devices as inputs: refused at once, never a hang or an unbounded read */
	{{"eval", "--model", "@M", "--text", "@Y"}, 1, {"fifo", "not a regular file"}},
	{{"eval", "--model", "@M", "--text", "/dev/zero"}, 1, {"/dev/zero", "not a regular file"}},
	{{"eval", "--model", "@YC", "--text", "@T"}, 1, {"config.json", "not a regular file"}},
	{{"eval", "--model", "@YW", "--text", "@T"}, 1, {"fifo-model", "safetensors"}},
	{{"eval", "--model", "@YT", "--text", "@T"}, 1, {"tokenizer.json", "cannot read"}},
	{{"train", "--model", "@YW", "--ratio", "0.3", "--out", "@O"}, 1, {"fifo-model", "safetensors"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "policy", "--policy", "@Y", "--out",
	  "@O"}, 1, {"fifo", "cannot read"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "wanda", "--calib", "/dev/zero",
	  "--out", "@O"}, 1, {"/dev/zero", "regular"}},
	{{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "policy", "--policy", "@Y"},
	 1, {"fifo", "cannot read"}},
	{{"demo", "--text", "@Y", "--work", "@O"}, 1, {"--text", "not a regular file"}},
	{{"demo", "--text", "/dev/zero", "--work", "@O"}, 1, {"--text", "/dev/zero"}},
	{{"demo", "--model", "@M", "--calib", "@Y", "--work", "@O"}, 1, {"--calib", "regular"}},
	{{"demo", "--model", "@YC", "--work", "@O"}, 1, {"config.json", "regular"}},
	/* prune: --out is, lies inside or contains an input, directly or through a symlink (@L is a
	 * symlink to @M, @FL a directory holding a symlink to @M) */
	{{"prune", "--model", "@L", "--ratio", "0.25", "--method", "random", "--out", "@M"},
	 1, {"input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--out", "@L"},
	 1, {"input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--out", "@LN"},
	 1, {"input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--force", "--out", "@R"},
	 1, {"contains", "input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--force", "--out", "@FL"},
	 1, {"link", "input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "policy", "--policy", "@P",
	  "--force", "--out", "@P"}, 1, {"policy.safetensors", "input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "wanda", "--calib", "@T", "--force",
	  "--out", "@T"}, 1, {"text.txt", "input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "wanda", "--calib", "@LT",
	  "--force", "--out", "@T"}, 1, {"text.txt", "input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "ken", "--base", "@W", "--force",
	  "--out", "@W"}, 1, {"wide", "input"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "ken", "--base", "@LW", "--out",
	  "@WN"}, 1, {"wide", "input"}},
	/* train: --out and --log through a symlink into the model, or a new file inside it */
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--out", "@LMW"},
	 1, {"model.safetensors", "input"}},
	{{"train", "--model", "@L", "--ratio", "0.3", "--episodes", "1", "--out", "@MN"},
	 1, {"new.safetensors", "input"}},
	{{"train", "--model", "@M", "--ratio", "0.3", "--episodes", "1", "--log", "@LMC", "--out", "@O"},
	 1, {"config.json", "input"}},
	/* demo: what it writes under --work against its inputs */
	{{"demo", "--model", "@M", "--work", "@M"}, 1, {"--work", "input"}},
	{{"demo", "--model", "@M", "--work", "@L"}, 1, {"--work", "input"}},
	{{"demo", "--model", "@L", "--work", "@M"}, 1, {"--work", "input"}},
	{{"demo", "--text", "@T", "--work", "@T"}, 1, {"--work", "input"}},
	/* one ratio rule (plan.h): removing no neuron or every neuron of a layer (FFN 24, hidden
	 * 16) is an error before any work, in every command */
	{{"prune", "--model", "@M", "--ratio", "1e-300", "--method", "random", "--out", "@O"},
	 1, {"1e-300", "removes no FFN neuron"}},
	{{"prune", "--model", "@M", "--ratio", "0.99", "--method", "random", "--out", "@O"},
	 1, {"0.99", "removes every FFN neuron"}},
	{{"prune", "--model", "@M", "--ratio", "0.01", "--method", "random", "--global", "--out", "@O"},
	 1, {"0.01", "global"}},
	{{"prune", "--model", "@M", "--ratio", "0.02", "--method", "magnitude", "--granularity",
	  "weights", "--out", "@O"}, 1, {"0.02", "removes no weight"}},
	{{"spectrum", "--model", "@M", "--ratio", "1e-300", "--method", "random"},
	 1, {"1e-300", "removes no FFN neuron"}},
	{{"spectrum", "--model", "@M", "--ratio", "0.99", "--method", "magnitude"},
	 1, {"0.99", "removes every"}},
	{{"train", "--model", "@M", "--ratio", "0.3,0.99", "--out", "@O"}, 1, {"0.99", "removes every"}},
	{{"train", "--model", "@M", "--ratio", "0.01", "--out", "@O"}, 1, {"0.01", "removes no"}},
	{{"demo", "--model", "@M", "--ratios", "0.3,0.99", "--work", "@O"}, 1, {"--ratios", "0.99"}},
	/* the synthetic model is written, then refused: the work directory demo made is removed,
	 * and an existing one (@F) gets back to what it held */
	{{"demo", "--ratios", "1e-9", "--work", "@O"}, 1, {"--ratios", "removes no"}},
	{{"demo", "--ratios", "1e-9", "--work", "@F"}, 1, {"--ratios", "removes no"}},

	{{"compare", "--model", "@M", "--text", "@T", "--methods", "foo", "--out", "@O"},
	 2, {"--methods", "'foo'"}},
	{{"compare", "--model", "@M", "--text", "@T", "--ratios", "0.1,abc", "--out", "@O"},
	 2, {"--ratios", "'abc'"}},
	{{"compare", "--model", "@M", "--text", "@T", "--ratios", "0", "--out", "@O"},
	 2, {"--ratios", "range"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "wanda", "--out", "@O"}, 2, {"--calib"}},
	{{"compare", "--model", "@M", "--methods", "random", "--out", "@O"}, 2, {"--text"}},
	{{"compare", "--model", "@M", "--text", "@T", "--ratios", "0.1,", "--out", "@O"},
	 2, {"--ratios", "empty"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random,", "--out", "@O"},
	 2, {"--methods", "empty"}},
	/* runtime failures are found before REPORT_DIR is created: @O must not exist afterwards */
	{{"compare", "--model", "@M", "--text", "@N", "--methods", "random", "--out", "@O"},
	 1, {"missing.txt"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random,policy", "--policy", "@N",
	  "--out", "@O"}, 1, {"missing.txt"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "policy", "--policy", "@T", "--out",
	  "@O"}, 1, {"text.txt"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "wanda", "--calib", "@E", "--out",
	  "@O"}, 1, {"empty.txt"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random"}, 2, {"--out"}},
	{{"compare", "--model", "@M", "--text", "@T", "--nm", "3:4", "--out", "@O"}, 2, {"--nm", "'3:4'"}},
	/* the ratio rule before any measurement (issue 13, 13) */
	{{"compare", "--model", "@M", "--text", "@T", "--ratios", "1e-9", "--methods", "random",
	  "--out", "@O"}, 2, {"--ratios", "removes no FFN neuron"}},
	{{"compare", "--model", "@M", "--text", "@T", "--nm", "2:4,2:4", "--out", "@O"}, 2, {"--nm", "once"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random", "--out", "@F"},
	 1, {"already exists", "--force"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random", "--resume", "--out", "@F"},
	 1, {"--resume", "results.json"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random", "--force", "--out", "@M"},
	 1, {"--out", "input"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random", "--force", "--out", "@MW"},
	 1, {"--out", "input"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random", "--out", "@T"},
	 1, {"--out", "input"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random", "--seeds", "0", "--out",
	  "@O"}, 2, {"--seeds", "range"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "random", "--seeds", "2x", "--out",
	  "@O"}, 2, {"--seeds", "2x"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "probe", "--probe-tokens", "1",
	  "--out", "@O"}, 2, {"--probe-tokens", "range"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "wanda,random", "--out", "@O"},
	 2, {"--calib"}},
	{{"prune", "--model", "@M", "--ratio", "0.25", "--method", "probe", "--probe-tokens", "0",
	  "--out", "@O"}, 2, {"--probe-tokens", "range"}},
	{{"compare", "--model", "@M", "--text", "@T", "--methods", "wanda", "--calib", "@T",
	  "--calib-tokens", "-3", "--out", "@O"}, 2, {"--calib-tokens"}},
};
enum { N_BAD_ARGS = sizeof bad_args / sizeof bad_args[0] };

static bool uses(const struct bad_args *b, const char *placeholder)
{
	for (int i = 0; b->args[i]; i++)
		if (!strcmp(b->args[i], placeholder))
			return true;
	return false;
}

/* The placeholders of issue 13's rows (see bad_args), made only when the row uses them. */
struct placeholder {
	const char *name;
	char *path;
};

/* A copy of model as dir/name whose file `fifo` is a FIFO. */
static void make_fifo_model(const char *tmp, const char *model, const char *name, const char *fifo)
{
	char dir[1024], from[1024], to[1024];
	static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json"};
	testutil_path_join(dir, sizeof dir, tmp, name);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	for (int i = 0; i < 3; i++) {
		testutil_path_join(from, sizeof from, model, files[i]);
		testutil_path_join(to, sizeof to, dir, files[i]);
		if (strcmp(files[i], fifo))
			testutil_file_copy(from, to);
		else
			ck_assert_int_eq(mkfifo(to, 0600), 0);
	}
}

static char *joined(const char *dir, const char *name)
{
	return testutil_path_new(dir, name);
}

static int make_placeholders(struct placeholder *ph, const char *tmp, const char *model,
			     const struct bad_args *b)
{
	int n = 0;
	char *link = joined(tmp, "link"), *wide = joined(tmp, "wide"), *text = joined(tmp, "text.txt");
	if (uses(b, "@R"))
		ph[n++] = (struct placeholder){"@R", strdup(tmp)};
	if (uses(b, "@Y")) {
		ph[n++] = (struct placeholder){"@Y", joined(tmp, "fifo")};
		ck_assert_int_eq(mkfifo(ph[n - 1].path, 0600), 0);
	}
	static const char *const fifo_models[][2] = {{"@YC", "config.json"},
						     {"@YW", "model.safetensors"},
						     {"@YT", "tokenizer.json"}};
	for (int i = 0; i < 3; i++)
		if (uses(b, fifo_models[i][0])) {
			make_fifo_model(tmp, model, "fifo-model", fifo_models[i][1]);
			ph[n++] = (struct placeholder){fifo_models[i][0], joined(tmp, "fifo-model")};
		}
	bool any_link = false;
	static const char *const links[] = {"@L", "@LN", "@LMW", "@LMC"};
	for (int i = 0; i < 4; i++)
		any_link |= uses(b, links[i]);
	if (any_link)
		ck_assert_int_eq(symlink(model, link), 0);
	ph[n++] = (struct placeholder){"@L", strdup(link)};
	ph[n++] = (struct placeholder){"@LN", joined(link, "new")};
	ph[n++] = (struct placeholder){"@LMW", joined(link, "model.safetensors")};
	ph[n++] = (struct placeholder){"@LMC", joined(link, "config.json")};
	ph[n++] = (struct placeholder){"@MN", joined(model, "new.safetensors")};
	ph[n++] = (struct placeholder){"@WN", joined(wide, "new")};
	if (uses(b, "@LT")) {
		ph[n++] = (struct placeholder){"@LT", joined(tmp, "link.txt")};
		ck_assert_int_eq(symlink(text, ph[n - 1].path), 0);
	}
	if (uses(b, "@LW")) {
		ph[n++] = (struct placeholder){"@LW", joined(tmp, "link-wide")};
		char made[1024];
		make_model_ffn(made, sizeof made, tmp, "wide", 32);
		ck_assert_int_eq(symlink(wide, ph[n - 1].path), 0);
	}
	if (uses(b, "@FL")) {
		ph[n++] = (struct placeholder){"@FL", joined(tmp, "fl")};
		ck_assert_int_eq(mkdir(ph[n - 1].path, 0700), 0);
		char *in = joined(ph[n - 1].path, "link");
		ck_assert_int_eq(symlink(model, in), 0);
		free(in);
	}
	free(link);
	free(wide);
	free(text);
	return n;
}

static const char *find_placeholder(const struct placeholder *ph, int n, const char *a)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(ph[i].name, a))
			return ph[i].path;
	return a;
}

START_TEST(test_bad_args)
{
	const struct bad_args *b = &bad_args[_i];
	char *tmp, model[1024], text[1024], empty[1024], sub[1024], missing[1024], out[1024],
		under[1024], full[1024], keep[1024], policy[1024], wide[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	testutil_path_join(empty, sizeof empty, tmp, "empty.txt");
	testutil_file_write(empty, "", 0);
	testutil_path_join(sub, sizeof sub, tmp, "sub");
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	testutil_path_join(missing, sizeof missing, tmp, "missing.txt");
	testutil_path_join(out, sizeof out, tmp, "out");
	testutil_path_join(under, sizeof under, tmp, "absent/out");
	testutil_path_join(full, sizeof full, tmp, "full");
	ck_assert_int_eq(mkdir(full, 0700), 0);
	testutil_path_join(keep, sizeof keep, full, "keep.txt");
	testutil_file_write(keep, "keep", 4);
	char mw[1024], mc[1024];
	testutil_path_join(mw, sizeof mw, model, "model.safetensors");
	testutil_path_join(mc, sizeof mc, model, "config.json");
	testutil_path_join(policy, sizeof policy, tmp, "policy.safetensors");
	if (uses(b, "@P"))
		train_policy(tmp, model, policy, "mlp");
	testutil_path_join(wide, sizeof wide, tmp, "wide");
	if (uses(b, "@W"))
		make_model_ffn(wide, sizeof wide, tmp, "wide", 32);
	char vocab[1024] = "", merge[1024] = "";
	if (uses(b, "@V"))
		make_model_vocab(vocab, sizeof vocab, tmp, "vocab");
	if (uses(b, "@K"))
		make_model_merge(merge, sizeof merge, tmp, "merge");

	struct placeholder ph[24];
	int n_ph = make_placeholders(ph, tmp, model, b);

	const char *args[16];
	int n = 0;
	char what[512] = "";
	for (; b->args[n]; n++) {
		const char *a = b->args[n];
		args[n] = !strcmp(a, "@M")   ? model
			  : !strcmp(a, "@T") ? text
			  : !strcmp(a, "@E") ? empty
			  : !strcmp(a, "@D") ? sub
			  : !strcmp(a, "@N") ? missing
			  : !strcmp(a, "@O") ? out
			  : !strcmp(a, "@Q") ? under
			  : !strcmp(a, "@F") ? full
			  : !strcmp(a, "@P") ? policy
			  : !strcmp(a, "@W") ? wide
			  : !strcmp(a, "@V") ? vocab
			  : !strcmp(a, "@K") ? merge
			  : !strcmp(a, "@MW") ? mw
			  : !strcmp(a, "@MC") ? mc
					     : find_placeholder(ph, n_ph, a);
		strncat(what, a, sizeof what - strlen(what) - 2);
		strcat(what, " ");
	}
	args[n] = NULL;
	/* a refused run leaves no output, partial file or temporary directory anywhere in tmp,
	 * and the input model, @F and every other file unchanged */
	char *before = tree_snapshot(tmp);
	struct run r;
	run_yopo(&r, tmp, args);
	assert_one_line_failure(&r, b->args[0], b->code, b->expect, 2, what);
	assert_same_tree(before, tmp, what);
	ck_assert(!testutil_path_exists(out));
	free(before);
	run_free(&r);
	for (int i = 0; i < n_ph; i++)
		free(ph[i].path);
	testutil_tmpdir_free(tmp);
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

/* NLL of `eval --json` on model with extra arguments a1 a2 (may be NULL). */
static double eval_nll(const char *tmp, const char *model, const char *text, const char *a1,
		       const char *a2)
{
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"eval", "--model", model, "--text", text, "--json",
						a1, a2, NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	cJSON *j = parse_eval_json(&r);
	double nll = num(j, "nll");
	cJSON_Delete(j);
	run_free(&r);
	return nll;
}

/* --compute on a BF16 checkpoint: f32 and native (BF16 products on avx512_bf16 CPUs) agree to
 * BF16 rounding; on the F32 model both are the f32 route, equal to the default. */
START_TEST(test_eval_compute)
{
	char *tmp = testutil_tmpdir_new("cli"), model[1024], bf[1024], text[1024];
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	struct synth_spec spec;
	tiny_spec(&spec);
	spec.ffn = 24;
	spec.dtype = SAFETENSORS_DTYPE_BF16;
	testutil_path_join(bf, sizeof bf, tmp, "bf16");
	ck_assert_int_eq(synth_write(bf, &spec), SYNTH_OK);
	double f32 = eval_nll(tmp, model, text, NULL, NULL);
	ck_assert_double_eq(eval_nll(tmp, model, text, "--compute", "f32"), f32);
	ck_assert_double_eq(eval_nll(tmp, model, text, "--compute", "native"), f32);
	double b_f32 = eval_nll(tmp, bf, text, "--compute", "f32");
	double b_nat = eval_nll(tmp, bf, text, NULL, NULL);
	ck_assert(b_f32 > 0 && b_nat > 0);
	ck_assert_double_eq_tol(b_nat, b_f32, 0.02 * b_f32);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* The control for the failure tests: the unbroken model evaluates and generates. */
START_TEST(test_good_model)
{
	char *tmp, model[1024], text[1024], weights[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	testutil_path_join(weights, sizeof weights, model, "model.safetensors");
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
	double ppl = num(j, "perplexity");
	cJSON_Delete(j);
	run_free(&r);

	/* Against itself: KL 0 everywhere, every top-1 agrees, the perplexity unchanged. */
	run_yopo(&r, tmp, (const char *const[]){"eval", "--model", model, "--reference", model, "--text",
						text, "--json", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	j = cJSON_Parse(r.out);
	ck_assert_msg(cJSON_IsObject(j), "stdout: %s", r.out);
	ck_assert_double_eq_tol(num(j, "kl_mean"), 0, 1e-9);
	ck_assert_double_eq_tol(num(j, "kl_median"), 0, 1e-9);
	ck_assert_double_eq_tol(num(j, "kl_p99"), 0, 1e-9);
	ck_assert_double_eq(num(j, "top1_agreement"), 1);
	ck_assert_double_eq_tol(num(j, "perplexity"), ppl, 1e-9 * ppl);
	ck_assert_double_eq_tol(num(j, "reference_perplexity"), ppl, 1e-9 * ppl);
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
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_demo)
{
	char *tmp, cfg[1024];
	tmp = testutil_tmpdir_new("cli");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"demo", "--work", tmp, NULL});
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	ck_assert_msg(strstr(r.out, "SYNTHETIC") != NULL, "stdout: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "perplexity"));
	ck_assert_ptr_nonnull(strstr(r.out, "== demo done"));
	testutil_path_join(cfg, sizeof cfg, tmp, "synthetic-llama/config.json");
	struct stat sb;
	ck_assert_int_eq(stat(cfg, &sb), 0);
	/* Wanda calibrates on a text of its own, never the evaluation text */
	ck_assert_msg(strstr(r.out, "calib.txt, ratios") != NULL && !strstr(r.out, "sample.txt, ratios"),
		      "stdout: %s", r.out);
	run_free(&r);
	/* another model with no --calib: Wanda is skipped with a note, the rest runs */
	char model[1024], text[1024], work[1024];
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	testutil_path_join(work, sizeof work, tmp, "work2");
	run_yopo(&r, tmp, (const char *const[]){"demo", "--model", model, "--text", text, "--work", work,
						"--episodes", "1", "--ratios", "0.3", "-q", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.out, "calibration none: wanda skipped") != NULL, "stdout: %s", r.out);
	char csv[1024];
	testutil_path_join(csv, sizeof csv, work, "report/results.csv");
	size_t len;
	char *rows = testutil_file_read(csv, &len);
	ck_assert_msg(!strstr(rows, "wanda") && strstr(rows, "magnitude"), "%s", rows);
	free(rows);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- train, spectrum, prune and compare on the synthetic model ---- */

/* Lines of s that start with prefix. */
static int count_prefixed(const char *s, const char *prefix)
{
	int n = 0;
	for (const char *p = s; *p;) {
		n += !strncmp(p, prefix, strlen(prefix));
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* Same seed, same bytes; --log has one JSON object per episode plus the final evaluation, with
 * the per-layer KS behind the means; stderr reports every episode. */
START_TEST(test_train)
{
	char *tmp, model[1024], pa[1024], pb[1024], la[1024], lb[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(pa, sizeof pa, tmp, "a.safetensors");
	testutil_path_join(pb, sizeof pb, tmp, "b.safetensors");
	testutil_path_join(la, sizeof la, tmp, "a.jsonl");
	testutil_path_join(lb, sizeof lb, tmp, "b.jsonl");
	struct run r;
	const char *paths[2][2] = {{pa, la}, {pb, lb}};
	for (int k = 0; k < 2; k++) {
		run_yopo(&r, tmp, (const char *const[]){"train", "--model", model, "--ratio", "0.3",
							"--episodes", "3", "--seed", "1", "--out",
							paths[k][0], "--log", paths[k][1], NULL});
		ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
		ck_assert_uint_eq(r.n_out, 0);
		char line[64];
		for (int e = 1; e <= 3; e++) {
			snprintf(line, sizeof line, "yopo train: episode %d/3 ", e);
			ck_assert_msg(count_prefixed(r.err, line) == 1, "no '%s' in: %s", line, r.err);
		}
		ck_assert_msg(count_prefixed(r.err, "yopo train: final ") == 1, "stderr: %s", r.err);
		ck_assert_msg(count_prefixed(r.err, "yopo train: wrote ") == 1, "stderr: %s", r.err);
		run_free(&r);
	}
	size_t na, nb;
	char *a = testutil_file_read(pa, &na), *b = testutil_file_read(pb, &nb);
	ck_assert_msg(na > 0 && na == nb && !memcmp(a, b, na), "same seed, different policy files");
	free(a);
	free(b);

	size_t len;
	char *log = testutil_file_read(la, &len);
	ck_assert_msg(count_lines(log) == 4 && log[len - 1] == '\n', "log: %s", log);
	char *line = log;
	for (int e = 1; e <= 4; e++) {
		char *nl = strchr(line, '\n');
		*nl = '\0';
		cJSON *o = cJSON_Parse(line);
		ck_assert_msg(cJSON_IsObject(o), "log line %d is not a JSON object: %s", e, line);
		/* episodes 1..3, then the final evaluation of the last parameters as episode 4 */
		ck_assert_double_eq(item_num(o, "episode"), e);
		ck_assert(cJSON_IsBool(item(o, "final")) && cJSON_IsTrue(item(o, "final")) == (e == 4));
		const cJSON *layers = item(o, "layers");
		ck_assert_msg(cJSON_GetArraySize(layers) == 2, "one cell per layer (1 ratio): %s", line);
		double sum = 0;
		for (int l = 0; l < 2; l++) {
			const cJSON *c = cJSON_GetArrayItem(layers, l);
			ck_assert_double_eq(item_num(c, "layer"), l);
			ck_assert_double_eq_tol(item_num(c, "ratio"), 0.3, 1e-9);
			/* the functional reward samples no KS (null); the final pass reports the greedy */
			ck_assert(e == 4 ? item_num(c, "ks") == item_num(c, "greedy_ks")
					 : cJSON_IsNull(item(c, "ks")));
			/* learning under it measures no KS at all; the final pass does */
			if (e == 4) {
				double ks = item_num(c, "greedy_ks");
				ck_assert(ks >= 0 && ks <= 1);
			} else {
				ck_assert(cJSON_IsNull(item(c, "greedy_ks")));
			}
			/* default reward for mlp: functional, -err over the probes */
			double func = item_num(c, "func");
			ck_assert_msg(func >= 0 && func <= 1, "func %g", func);
			ck_assert_double_eq_tol(item_num(c, "reward"), -func, 1e-7);
			sum += item_num(c, "greedy_func");
		}
		/* what the best policy is chosen by: the mean greedy functional error */
		ck_assert_double_eq_tol(item_num(o, "greedy_loss"), sum / 2, 1e-7);
		cJSON_Delete(o);
		line = nl + 1;
	}
	free(log);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* spectrum --json: one line, the method and draws, mean_ks the mean of n_layers per-layer KS in
 * [0, 1]. */
static void check_spectrum_json(const struct run *r, const char *method, int samples, int n_layers)
{
	ck_assert_msg(r->code == 0, "spectrum %s: exit %d (signal %d), stderr: %s", method, r->code,
		      r->signal, r->err);
	ck_assert_msg(count_lines(r->out) == 1, "stdout: %s", r->out);
	cJSON *o = cJSON_Parse(r->out);
	ck_assert_msg(cJSON_IsObject(o), "not a JSON object: %s", r->out);
	ck_assert_str_eq(item_str(o, "method"), method);
	ck_assert_double_eq(item_num(o, "samples"), samples);
	double mean = item_num(o, "mean_ks"), sum = 0;
	ck_assert_msg(mean >= 0 && mean <= 1, "mean_ks %g", mean);
	const cJSON *layers = item(o, "layers");
	ck_assert_int_eq(cJSON_GetArraySize(layers), n_layers);
	for (int l = 0; l < n_layers; l++) {
		const cJSON *c = cJSON_GetArrayItem(layers, l);
		ck_assert_double_eq(item_num(c, "layer"), l);
		double ks = item_num(c, "ks"), sd = item_num(c, "std");
		ck_assert_msg(ks >= 0 && ks <= 1 && sd >= 0, "layer %d: ks %g std %g", l, ks, sd);
		if (samples == 1)
			ck_assert_double_eq(sd, 0);
		sum += ks;
	}
	ck_assert_double_eq_tol(mean, sum / n_layers, 1e-7);
	cJSON_Delete(o);
}

START_TEST(test_spectrum)
{
	char *tmp, model[1024], text[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.25", "--method",
						"random", "--samples", "4", "--json", NULL});
	check_spectrum_json(&r, "random", 4, 2);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.25", "--method",
						"magnitude", "--json", NULL});
	check_spectrum_json(&r, "magnitude", 1, 2);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.25", "--method",
						"wanda", "--calib", text, "--json", NULL});
	check_spectrum_json(&r, "wanda", 1, 2);
	run_free(&r);

	/* paths are JSON-escaped: a model directory named with a quote and a backslash */
	char odd[1024];
	make_model(odd, sizeof odd, tmp, "we\"ird\\dir");
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", odd, "--ratio", "0.25", "--method",
						"magnitude", "--json", NULL});
	check_spectrum_json(&r, "magnitude", 1, 2);
	cJSON *j = cJSON_Parse(r.out);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), odd);
	cJSON_Delete(j);
	run_free(&r);

	/* the text form: a table row per layer and the mean, progress on stderr */
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.25", "--method",
						"random", "--samples", "2", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.out, "ffn 24 x hidden 16") && count_prefixed(r.out, "mean ") == 1,
		      "stdout: %s", r.out);
	ck_assert_int_eq(count_prefixed(r.err, "yopo spectrum: layer "), 2);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* train --json summarises the run on stdout; --force replaces an existing --out; spectrum names
 * the reward and feature set the policy was trained with; --weights-only trains a 6-feature
 * policy that spectrum reports as such. */
START_TEST(test_train_json)
{
	char *tmp, model[1024], p[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(p, sizeof p, tmp, "p.safetensors");
	testutil_file_write(p, "old", 3);
	static const char *const sets[2] = {"probe", "weights"};
	for (int k = 0; k < 2; k++) {
		struct run r;
		run_yopo(&r, tmp, (const char *const[]){"train", "--model", model, "--ratio", "0.3",
							"--episodes", "1", "--out", p, "--force", "--json",
							k ? "--weights-only" : "--probe-tokens", k ? NULL : "64",
							NULL});
		ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
		ck_assert_msg(count_lines(r.out) == 1, "stdout: %s", r.out);
		cJSON *o = cJSON_Parse(r.out);
		ck_assert_msg(cJSON_IsObject(o), "not JSON: %s", r.out);
		ck_assert_str_eq(item_str(o, "reward"), "functional");
		ck_assert_str_eq(item_str(o, "feature_set"), sets[k]);
		ck_assert_str_eq(item_str(o, "out"), p);
		ck_assert_double_eq(item_num(o, "probe_tokens"), 64 + k * (2048 - 64));
		ck_assert_double_eq(item_num(o, "episodes"), 1);
		double loss = item_num(o, "best_greedy_loss");
		ck_assert_msg(loss >= 0 && loss <= 1, "loss %g", loss);
		cJSON_Delete(o);
		ck_assert_msg(strstr(r.err, "ETA "), "no ETA in: %s", r.err);
		run_free(&r);
		run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.25",
							"--method", "policy", "--policy", p, NULL});
		ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
		char want[128];
		snprintf(want, sizeof want, "trained with reward functional, feature set %s", sets[k]);
		ck_assert_msg(strstr(r.out, want), "no '%s' in: %s", want, r.out);
		run_free(&r);
	}
	/* other rewards are recorded as given */
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"train", "--model", model, "--ratio", "0.3", "--episodes",
						"1", "--out", p, "--force", "--reward", "mix", "--mix",
						"0.25", "--probe-seed", "5", "--feature-set", "probe",
						"--json", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.out, "\"reward\":\"mix\"") && strstr(r.out, "\"probe_seed\":\"5\""),
		      "stdout: %s", r.out);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.25",
						"--method", "policy", "--policy", p, "--json", NULL});
	check_spectrum_json(&r, "policy", 1, 2);
	cJSON *j = cJSON_Parse(r.out);
	ck_assert_str_eq(item_str(j, "policy_reward"), "mix");
	ck_assert_str_eq(item_str(j, "policy_feature_set"), "probe");
	cJSON_Delete(j);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* study --json: every reward with a per-layer rho in [-1, 1] and the pooled mean of them. */
START_TEST(test_study)
{
	char *tmp, model[1024], text[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"study", "--model", model, "--ratio", "0.3", "--text",
						text, "--samples", "6", "--windows", "1", "--probe-tokens",
						"64", "--json", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	cJSON *o = cJSON_Parse(r.out);
	ck_assert_msg(cJSON_IsObject(o), "not JSON: %s", r.out);
	ck_assert_double_eq(item_num(o, "selections"), 6);
	ck_assert_msg(item_num(o, "dense_ppl") > 1, "%s", r.out);
	const cJSON *rw = item(o, "rewards");
	static const char *const names[] = {"functional", "ks_up", "ks_gate", "ks_down", "ks_mean",
					    "ks_map", "w1_map", "w1_logsv_down", "w1_logsv_map"};
	ck_assert_int_eq(cJSON_GetArraySize(rw), 9);
	for (int q = 0; q < 9; q++) {
		const cJSON *x = cJSON_GetArrayItem(rw, q), *l = item(x, "layer_rho");
		ck_assert_str_eq(item_str(x, "reward"), names[q]);
		ck_assert_int_eq(cJSON_GetArraySize(l), 2);
		double sum = 0;
		int n = 0;
		for (int k = 0; k < 2; k++) {
			const cJSON *v = cJSON_GetArrayItem(l, k);
			if (!cJSON_IsNumber(v))
				continue;
			ck_assert(v->valuedouble >= -1 && v->valuedouble <= 1);
			sum += v->valuedouble;
			n++;
		}
		if (n)
			ck_assert_double_eq_tol(item_num(x, "pooled_rho"), sum / n, 1e-9);
	}
	cJSON_Delete(o);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"study", "--model", model, "--ratio", "0.3", "--text",
						text, "--samples", "3", "--windows", "1", "--probe-tokens",
						"64", NULL});
	ck_assert_msg(r.code == 0 && strstr(r.out, "functional") && strstr(r.out, "w1_logsv_map"),
		      "exit %d, stdout: %s", r.code, r.out);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* mlp policies score rows from per-row features and work on any width; prunenet's output layer
 * has one unit per row of the model it was trained on, so another width is refused in one line,
 * by spectrum and by prune alike. */
START_TEST(test_policy_shapes)
{
	char *tmp, model[1024], wide[1024], mlp[1024], pn[1024], out[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	make_model_ffn(wide, sizeof wide, tmp, "wide", 32);
	testutil_path_join(mlp, sizeof mlp, tmp, "mlp.safetensors");
	testutil_path_join(pn, sizeof pn, tmp, "prunenet.safetensors");
	testutil_path_join(out, sizeof out, tmp, "out");
	train_policy(tmp, model, mlp, "mlp");
	train_policy(tmp, model, pn, "prunenet");
	struct run r;
	const char *models[2] = {model, wide};
	for (int i = 0; i < 2; i++) {
		run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", models[i], "--ratio", "0.25",
							"--method", "policy", "--policy", mlp, "--json",
							NULL});
		check_spectrum_json(&r, "policy", 1, 2);
		run_free(&r);
	}
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.25", "--method",
						"policy", "--policy", pn, "--json", NULL});
	check_spectrum_json(&r, "policy", 1, 2);
	run_free(&r);

	static const char *const expect[] = {"prunenet.safetensors", "ffn 24", "ffn 32"};
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", wide, "--ratio", "0.25", "--method",
						"policy", "--policy", pn, "--json", NULL});
	assert_one_line_failure(&r, "spectrum", 1, expect, 3, "prunenet on another width");
	run_free(&r);
	char *before = tree_snapshot(tmp);
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", wide, "--ratio", "0.25", "--method",
						"policy", "--policy", pn, "--out", out, NULL});
	assert_one_line_failure(&r, "prune", 1, expect, 3, "prune with prunenet on another width");
	assert_same_tree(before, tmp, "prune with prunenet on another width");
	free(before);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

struct prune_case {
	const char *method, *granularity;
	int width; /* FFN width of the output: 24 - round(0.25 * 24) for rows, 24 for weights */
};

static const struct prune_case prune_cases[] = {
	{"policy", "rows", 18}, {"random", "rows", 18}, {"magnitude", "rows", 18},
	{"wanda", "rows", 18},  {"ken", "weights", 24}, {"probe", "rows", 18},
};
enum { N_PRUNE = sizeof prune_cases / sizeof prune_cases[0] };

/* Each method at its natural granularity writes a checkpoint that eval and generate load, with
 * the documented yopo_pruning.json; the input model is not touched. */
START_TEST(test_prune)
{
	const struct prune_case *c = &prune_cases[_i];
	char *tmp, model[1024], text[1024], out[1024], policy[1024], path[1024], weights[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	testutil_path_join(out, sizeof out, tmp, "out");
	testutil_path_join(policy, sizeof policy, tmp, "policy.safetensors");
	testutil_path_join(weights, sizeof weights, model, "model.safetensors");
	const char *args[MAX_ARGS] = {"prune", "--model", model, "--ratio", "0.25", "--method", c->method,
				      "--out", out};
	int n = 9;
	if (!strcmp(c->method, "policy")) {
		train_policy(tmp, model, policy, "mlp");
		args[n++] = "--policy";
		args[n++] = policy;
	}
	if (!strcmp(c->method, "wanda")) {
		args[n++] = "--calib";
		args[n++] = text;
		args[n++] = "--calib-tokens"; /* the first 5 tokens only (BOS included) */
		args[n++] = "5";
	}
	args[n] = NULL;
	size_t n_in;
	char *in = testutil_file_read(weights, &n_in);
	struct run r;
	run_yopo(&r, tmp, args);
	ck_assert_msg(r.code == 0, "%s: exit %d (signal %d), stderr: %s", c->method, r.code, r.signal, r.err);
	ck_assert_msg(count_prefixed(r.out, "wrote ") == 1, "stdout: %s", r.out);
	run_free(&r);

	ck_assert_int_eq(config_ffn(out), c->width);
	testutil_path_join(path, sizeof path, out, "tokenizer.json");
	ck_assert(testutil_path_exists(path));
	int64_t rows, cols;
	float *up = read_tensor(out, "model.layers.1.mlp.up_proj.weight", &rows, &cols);
	ck_assert(rows == c->width && cols == 16);
	free(up);
	testutil_path_join(path, sizeof path, out, "yopo_pruning.json");
	cJSON *info = parse_json_file(path);
	ck_assert_str_eq(item_str(info, "method"), c->method);
	ck_assert_double_eq(item_num(info, "ratio"), 0.25);
	ck_assert_str_eq(item_str(info, "granularity"), c->granularity);
	const cJSON *kept = item(info, "kept_per_layer");
	ck_assert_int_eq(cJSON_GetArraySize(kept), 2);
	for (int l = 0; l < 2; l++)
		ck_assert_double_eq(cJSON_GetArrayItem(kept, l)->valuedouble, c->width);
	/* a quarter of the 2 x 3 x 24 x 16 FFN weights go, whatever the granularity */
	ck_assert_double_eq(item_num(info, "ffn_params_before"), 2304);
	ck_assert_double_eq(item_num(info, "ffn_params_after"), 1728);
	ck_assert_double_eq(item_num(info, "ffn_params_stored"), 2 * 3 * c->width * 16);
	const cJSON *sha = item(info, "policy_sha256"), *calib = item(info, "calibration");
	if (!strcmp(c->method, "policy"))
		ck_assert(cJSON_IsString(sha) && strlen(sha->valuestring) == 64);
	else
		ck_assert(cJSON_IsNull(sha));
	if (!strcmp(c->method, "wanda")) {
		ck_assert_str_eq(item_str(calib, "file"), text);
		ck_assert_double_eq(item_num(calib, "tokens"), 5);
	} else
		ck_assert(cJSON_IsNull(calib));
	cJSON_Delete(info);

	run_yopo(&r, tmp, (const char *const[]){"eval", "--model", out, "--text", text, "--json", NULL});
	ck_assert_msg(r.code == 0, "eval of the pruned model: exit %d, stderr: %s", r.code, r.err);
	cJSON *j = parse_eval_json(&r);
	ck_assert_double_eq(num(j, "ffn_params"), 2 * 3 * c->width * 16);
	ck_assert(num(j, "perplexity") > 1);
	double ppl = num(j, "perplexity");
	cJSON_Delete(j);
	run_free(&r);
	/* closeness to the dense model: some divergence, the pruned model's own perplexity */
	run_yopo(&r, tmp, (const char *const[]){"eval", "--model", out, "--reference", model, "--text",
						text, "--json", NULL});
	ck_assert_msg(r.code == 0, "eval --reference: exit %d, stderr: %s", r.code, r.err);
	j = cJSON_Parse(r.out);
	ck_assert_msg(cJSON_IsObject(j), "stdout: %s", r.out);
	ck_assert_msg(num(j, "kl_mean") > 1e-6 && num(j, "kl_p99") >= num(j, "kl_median"),
		      "stdout: %s", r.out);
	ck_assert(num(j, "top1_agreement") >= 0 && num(j, "top1_agreement") <= 1);
	ck_assert_double_eq_tol(num(j, "perplexity"), ppl, 1e-9 * ppl);
	cJSON_Delete(j);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"generate", "--model", out, "--max-tokens", "4", NULL});
	ck_assert_msg(r.code == 0, "generate on the pruned model: exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.err, "yopo generate: ") != NULL, "stderr: %s", r.err);
	run_free(&r);

	size_t n_now;
	char *now = testutil_file_read(weights, &n_now);
	ck_assert_msg(n_now == n_in && !memcmp(in, now, n_in), "the input model.safetensors changed");
	free(now);
	free(in);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* Weights granularity keeps every shape and zeroes a quarter of each matrix, leaving the other
 * weights exactly as they were. */
/* prune --sparsity with --json -q (one JSON object, no stderr), --global's stored count line,
 * N:M 2:4 (the pattern in the written up_proj, recorded in yopo_pruning.json with the source). */
START_TEST(test_prune_extras)
{
	char *tmp, model[1024], out[1024], rep[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	struct run r;
	testutil_path_join(out, sizeof out, tmp, "o1");
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--sparsity", "0.05",
						"--method", "magnitude", "--out", out, "--json", "-q", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_uint_eq(r.n_err, 0);
	ck_assert_int_eq(count_lines(r.out), 1);
	cJSON *j = cJSON_Parse(r.out);
	ck_assert_msg(j != NULL, "stdout: %s", r.out);
	ck_assert_double_ge(item(j, "sparsity")->valuedouble, 0.05);
	ck_assert_double_le(item(j, "params_after")->valuedouble,
			    0.95 * item(j, "params_before")->valuedouble);
	ck_assert_str_eq(item(j, "granularity")->valuestring, "rows");
	cJSON_Delete(j);
	run_free(&r);
	testutil_path_join(rep, sizeof rep, out, "yopo_pruning.json");
	j = parse_json_file(rep);
	const cJSON *src = item(j, "source_model");
	ck_assert_str_eq(item(src, "path")->valuestring, model);
	ck_assert_str_eq(item(src, "name")->valuestring, "model");
	cJSON_Delete(j);

	testutil_path_join(out, sizeof out, tmp, "o2");
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--ratio", "0.4", "--global",
						"--method", "magnitude", "--out", out, NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	testutil_path_join(rep, sizeof rep, out, "yopo_pruning.json");
	j = parse_json_file(rep);
	double stored = item(j, "params_stored")->valuedouble, after = item(j, "params_after")->valuedouble;
	bool padded = stored != after;
	ck_assert_msg((strstr(r.out, "the file holds ") != NULL) == padded, "stdout: %s", r.out);
	if (padded) {
		/* the number printed is the stored one (grouped digits) */
		char num[64];
		long v = (long)stored;
		snprintf(num, sizeof num, "%ld,%03ld parameters", v / 1000, v % 1000);
		ck_assert_msg(v >= 1000 && v < 1000000 && strstr(r.out, num), "stdout: %s", r.out);
	}
	cJSON_Delete(j);
	run_free(&r);

	testutil_path_join(out, sizeof out, tmp, "o3");
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--granularity", "2:4",
						"--method", "magnitude", "--out", out, NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert_msg(strstr(r.out, "2:4, ratio 0.5") != NULL, "stdout: %s", r.out);
	run_free(&r);
	testutil_path_join(rep, sizeof rep, out, "yopo_pruning.json");
	j = parse_json_file(rep);
	ck_assert_str_eq(item(j, "granularity")->valuestring, "2:4");
	cJSON_Delete(j);
	/* Wanda calibration progress with elapsed time and ETA (BOS + 100 tokens: 4 windows of 32),
	 * silenced by -q */
	char text[1024], wout[1024];
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	for (int q = 0; q < 2; q++) {
		testutil_path_join(wout, sizeof wout, tmp, q ? "o5" : "o4");
		run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--ratio", "0.25",
			 "--method", "wanda", "--calib", text, "--out", wout, q ? "-q" : NULL, NULL});
		ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
		if (q)
			ck_assert_uint_eq(r.n_err, 0);
		else
			ck_assert_msg(strstr(r.err, "calibration layer 2/2, ") &&
				      strstr(r.err, "s elapsed, ETA "), "stderr: %s", r.err);
		run_free(&r);
	}
	int64_t rows, cols;
	float *w = read_tensor(out, "model.layers.1.mlp.down_proj.weight", &rows, &cols);
	ck_assert(rows == 16 && cols == 24);
	for (int i = 0; i < 16; i++)
		for (int g = 0; g < 24; g += 4) {
			int nz = 0;
			for (int k = g; k < g + 4; k++)
				nz += w[i * 24 + k] != 0;
			ck_assert_msg(nz == 2, "row %d group %d: %d nonzero", i, g / 4, nz);
		}
	free(w);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_prune_weights)
{
	char *tmp, model[1024], out[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(out, sizeof out, tmp, "out");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--ratio", "0.25", "--method",
						"magnitude", "--granularity", "weights", "--out", out,
						NULL});
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	ck_assert_msg(strstr(r.out, "save no memory") != NULL, "stdout: %s", r.out);
	run_free(&r);
	ck_assert_int_eq(config_ffn(out), 24);
	int64_t rows, cols, rows0, cols0;
	const char *name = "model.layers.0.mlp.up_proj.weight";
	float *w = read_tensor(out, name, &rows, &cols), *w0 = read_tensor(model, name, &rows0, &cols0);
	ck_assert(rows == 24 && cols == 16 && rows0 == 24 && cols0 == 16);
	int zeros = 0, zeros0 = 0, changed = 0;
	for (int i = 0; i < 24 * 16; i++) {
		zeros += w[i] == 0;
		zeros0 += w0[i] == 0;
		changed += w[i] != 0 && w[i] != w0[i];
	}
	ck_assert_int_eq(zeros0, 0);
	ck_assert_msg(zeros == 96, "%d of 384 weights zeroed, expected a quarter", zeros);
	ck_assert_int_eq(changed, 0);
	free(w);
	free(w0);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* --force replaces a non-empty --out only once the new output is complete: afterwards only the
 * new files are there, no temporary or old directory is left, and the input is unchanged. */
START_TEST(test_prune_force)
{
	char *tmp, model[1024], out[1024], old[1024], path[1024], weights[1024], config[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(out, sizeof out, tmp, "out");
	ck_assert_int_eq(mkdir(out, 0700), 0);
	testutil_path_join(old, sizeof old, out, "old.txt");
	testutil_file_write(old, "old", 3);
	testutil_path_join(weights, sizeof weights, model, "model.safetensors");
	testutil_path_join(config, sizeof config, model, "config.json");
	size_t n_w, n_c;
	char *w = testutil_file_read(weights, &n_w), *cfg = testutil_file_read(config, &n_c);
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--ratio", "0.25", "--method",
						"random", "--force", "--out", out, NULL});
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	run_free(&r);
	ck_assert(!testutil_path_exists(old));
	ck_assert_int_eq(config_ffn(out), 18);
	static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json",
					    "yopo_pruning.json"};
	for (int i = 0; i < 4; i++) {
		testutil_path_join(path, sizeof path, out, files[i]);
		ck_assert_msg(testutil_path_exists(path), "no %s", path);
	}
	/* tmp holds model, out, text.txt and the capture files: nothing else */
	DIR *d = opendir(tmp);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		ck_assert_msg(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
				      !strcmp(e->d_name, "model") || !strcmp(e->d_name, "out") ||
				      !strcmp(e->d_name, "text.txt") || !strcmp(e->d_name, "stdout.txt") ||
				      !strcmp(e->d_name, "stderr.txt"),
			      "left behind: %s", e->d_name);
	closedir(d);
	size_t n_w2, n_c2;
	char *w2 = testutil_file_read(weights, &n_w2), *cfg2 = testutil_file_read(config, &n_c2);
	ck_assert_msg(n_w2 == n_w && !memcmp(w, w2, n_w), "the input model.safetensors changed");
	ck_assert_msg(n_c2 == n_c && !memcmp(cfg, cfg2, n_c), "the input config.json changed");
	free(w);
	free(w2);
	free(cfg);
	free(cfg2);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* compare --nm 2:4: magnitude runs once more at 2:4 (ratio 0.5, half the FFN weights). */
START_TEST(test_compare_nm)
{
	char *tmp, model[1024], text[1024], out[1024], path[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	testutil_path_join(out, sizeof out, tmp, "report");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"compare", "--model", model, "--text", text, "--ratios",
						"0.25,0.5", "--methods", "random,magnitude", "--nm", "2:4", "--seeds", "1",
						"--max-windows", "1", "--out", out, "-q", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	run_free(&r);
	testutil_path_join(path, sizeof path, out, "results.json");
	cJSON *root = parse_json_file(path);
	const cJSON *res = item(root, "results");
	ck_assert_int_eq(cJSON_GetArraySize(res), 6); /* dense, 2 x 2 rows, magnitude 2:4 once */
	const cJSON *o = cJSON_GetArrayItem(res, 5);
	ck_assert_str_eq(item_str(o, "method"), "magnitude");
	ck_assert_str_eq(item_str(o, "granularity"), "2:4");
	ck_assert_double_eq(item_num(o, "ratio"), 0.5);
	ck_assert_double_eq(item_num(o, "ffn_params"), 2304 / 2);
	cJSON_Delete(root);
	testutil_path_join(path, sizeof path, out, "models/magnitude-2:4-0.5/config.json");
	ck_assert_msg(testutil_path_exists(path), "no %s", path);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* compare writes the three report files; results.json has the dense model first, then one
 * entry per method and ratio, measured on the pruned checkpoints it wrote. A second run into the
 * same directory is refused without --force. */
/* The same plan measured twice: spectrum's mean KS (its exact SVD route) equals the mean_ks that
 * compare reports for that method and ratio, on both shared models (issue 14, section 6). */
START_TEST(test_spectrum_matches_compare)
{
	static const char *const models[] = {"models/stories260k", "models/tinystories-instruct-3m"};
	char *tmp, model[1024], text[1024], out[1024], path[1024];
	if (!testutil_shared_present())
		return;
	testutil_path_join(model, sizeof model, testutil_shared(), models[_i]);
	testutil_path_join(text, sizeof text, testutil_shared(), "data/tinystories-eval.txt");
	tmp = testutil_tmpdir_new("cli");
	testutil_path_join(out, sizeof out, tmp, "report");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", model, "--ratio", "0.3",
						"--method", "magnitude", "--route", "svd", "--json",
						NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	cJSON *o = cJSON_Parse(r.out);
	ck_assert_msg(cJSON_IsObject(o), "not JSON: %s", r.out);
	double spectrum_ks = item_num(o, "mean_ks");
	cJSON_Delete(o);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"compare", "--model", model, "--text", text,
						"--ratios", "0.3", "--methods", "magnitude",
						"--max-windows", "1", "--seq-len", "16", "--no-keep-models",
						"--out", out, "-q", NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	run_free(&r);
	testutil_path_join(path, sizeof path, out, "results.json");
	cJSON *root = parse_json_file(path);
	const cJSON *row = cJSON_GetArrayItem(item(root, "results"), 1);
	ck_assert_str_eq(item_str(row, "method"), "magnitude");
	ck_assert_msg(spectrum_ks > 0, "spectrum mean KS %g", spectrum_ks);
	ck_assert_double_eq_tol(item_num(row, "mean_ks"), spectrum_ks, 1e-9);
	cJSON_Delete(root);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_compare)
{
	char *tmp, model[1024], text[1024], out[1024], path[1024];
	tmp = testutil_tmpdir_new("cli");
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	testutil_path_join(out, sizeof out, tmp, "report");
	const char *const args[] = {"compare", "--model", model, "--text", text, "--ratios", "0.25",
				    "--methods", "random,magnitude", "--seeds", "2", "--max-windows", "2",
				    "--out", out, NULL};
	struct run r;
	run_yopo(&r, tmp, args);
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	ck_assert_msg(strstr(r.out, "report.md") != NULL, "stdout: %s", r.out);
	ck_assert_msg(strstr(r.err, "ETA") != NULL, "stderr: %s", r.err);
	run_free(&r);
	static const char *const files[] = {"report.md", "results.csv", "results.json",
					    "models/random-rows-0.25-s0/config.json",
					    "models/random-rows-0.25-s1/config.json",
					    "models/magnitude-rows-0.25/config.json"};
	for (int i = 0; i < 6; i++) {
		testutil_path_join(path, sizeof path, out, files[i]);
		ck_assert_msg(testutil_path_exists(path), "no %s", path);
	}
	size_t len;
	testutil_path_join(path, sizeof path, out, "results.csv");
	char *csv = testutil_file_read(path, &len);
	ck_assert_msg(count_lines(csv) == 5 && !strncmp(csv, "method,", 7), "results.csv: %s", csv);
	free(csv);
	testutil_path_join(path, sizeof path, out, "report.md");
	char *md = testutil_file_read(path, &len);
	ck_assert_msg(strstr(md, "| command | `yopo compare --model ") && strstr(md, "## Verdict") &&
		      strstr(md, "| random | rows | 0.25 | 2 |"), "report.md: %s", md);
	free(md);

	testutil_path_join(path, sizeof path, out, "results.json");
	cJSON *root = parse_json_file(path);
	ck_assert_str_eq(item_str(root, "model"), model);
	ck_assert_double_eq(item_num(root, "seeds"), 2);
	const cJSON *res = item(root, "results");
	ck_assert_int_eq(cJSON_GetArraySize(res), 4);
	static const struct {
		const char *method, *granularity;
		double ratio, ffn_params;
	} want[] = {{"dense", "dense", 0, 2304}, {"random", "rows", 0.25, 1728},
		    {"random", "rows", 0.25, 1728}, {"magnitude", "rows", 0.25, 1728}};
	for (int i = 0; i < 4; i++) {
		const cJSON *o = cJSON_GetArrayItem(res, i);
		ck_assert_str_eq(item_str(o, "method"), want[i].method);
		ck_assert_str_eq(item_str(o, "granularity"), want[i].granularity);
		ck_assert_double_eq(item_num(o, "ratio"), want[i].ratio);
		ck_assert_double_eq(item_num(o, "ffn_params"), want[i].ffn_params);
		ck_assert(item_num(o, "perplexity") > 1);
		double ks = item_num(o, "mean_ks"), kl = item_num(o, "kl_mean");
		ck_assert_msg(i ? ks >= 0 && ks <= 1 : ks == 0, "%s mean_ks %g", want[i].method, ks);
		ck_assert_msg(i ? kl > 0 : kl == 0, "%s kl_mean %g", want[i].method, kl);
	}
	ck_assert_double_eq(item_num(cJSON_GetArrayItem(res, 2), "seed"), 1);
	cJSON_Delete(root);

	char *before = tree_snapshot(tmp);
	static const char *const expect[] = {"report", "--force"};
	run_yopo(&r, tmp, args);
	assert_one_line_failure(&r, "compare", 1, expect, 2, "second compare into the same --out");
	assert_same_tree(before, tmp, "second compare into the same --out");
	run_free(&r);
	/* a concurrent run holds OUT.lock: the second fails at once and touches nothing */
	char lockp[1100];
	snprintf(lockp, sizeof lockp, "%s.lock", out);
	int fd = open(lockp, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	const char *forced[MAX_ARGS];
	int n = 0;
	for (; args[n]; n++)
		forced[n] = args[n];
	forced[n++] = "--force";
	forced[n] = NULL;
	static const char *const expect_lock[] = {"another yopo run", "lock"};
	char *locked = tree_snapshot(tmp);
	run_yopo(&r, tmp, forced);
	assert_one_line_failure(&r, "compare", 1, expect_lock, 2, "compare while OUT.lock is held");
	assert_same_tree(locked, tmp, "compare while OUT.lock is held");
	run_free(&r);
	free(locked);
	close(fd);
	unlink(lockp);
	/* --resume: every item is already there */
	forced[n - 1] = "--resume";
	run_yopo(&r, tmp, forced);
	ck_assert_msg(r.code == 0 && strstr(r.err, "4 items taken"), "exit %d, stderr: %s", r.code, r.err);
	run_free(&r);
	free(before);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- real models (skipped, and main exits 77, only when YOPO_SHARED is absent) ---- */

/* buf = YOPO_SHARED/rel; -1 when the shared directory is absent. A missing file inside a
 * present shared directory is not a skip: the test then fails on it. */
static int shared_path(char *buf, size_t cap, const char *rel)
{
	if (!testutil_shared_present())
		return -1;
	testutil_path_join(buf, cap, testutil_shared(), rel);
	return 0;
}

START_TEST(test_real_generate)
{
	char model[1024], *tmp;
	if (shared_path(model, sizeof model, "models/stories260k"))
		return;
	tmp = testutil_tmpdir_new("cli");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"generate", "--model", model, "--max-tokens", "40", NULL});
	ck_assert_msg(r.code == 0, "exit %d (signal %d), stderr: %s", r.code, r.signal, r.err);
	/* the sample llama2.c's README shows for stories260K */
	static const char story[] = "Once upon a time, there was a little girl named Lily. She loved "
				    "to play outside in the park.";
	ck_assert_msg(!strncmp(r.out, story, strlen(story)), "stdout: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.err, "yopo generate: 40 tokens"));
	run_free(&r);
	/* llama.cpp's short forms give the same greedy text */
	run_yopo(&r, tmp, (const char *const[]){"generate", "-m", model, "-n", "40", "-p", "Once", NULL});
	ck_assert_msg(r.code == 0 && !strncmp(r.out, story, strlen(story)), "stdout: %s", r.out);
	run_free(&r);
	/* sampling: same seed, same text; another seed, another text; the statistics line is on its
	 * own line of stderr and stdout ends with a newline */
	char *first = NULL;
	for (int i = 0; i < 3; i++) {
		run_yopo(&r, tmp, (const char *const[]){"generate", "-m", model, "-n", "60",
			 "--temperature", "1", "--top-k", "40", "--top-p", "0.95", "--seed",
			 i == 2 ? "8" : "7", NULL});
		ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
		ck_assert(r.n_out > 0 && r.out[r.n_out - 1] == '\n');
		ck_assert_msg(!strncmp(r.err, "yopo generate: ", 15), "stderr: %s", r.err);
		if (i == 0)
			first = strdup(r.out);
		else if (i == 1)
			ck_assert_str_eq(r.out, first);
		else
			ck_assert_str_ne(r.out, first);
		run_free(&r);
	}
	free(first);
	testutil_tmpdir_free(tmp);
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

/* The shipped policy: retraining it with the command of policies/README.md (run from the source
 * root, as recorded) gives the same bytes; it is the default of --method policy, so prune needs
 * neither --method nor --policy, and spectrum names what it was trained with. */
static const char *const default_policy_args[] = {
	"train", "--model", "../shared/models/stories260k", "--model",
	"../shared/models/tinystories-instruct-3m", "--ratio", "0.1,0.2,0.3", "--threads", "1", "--out",
};

START_TEST(test_default_policy)
{
	const char *root = getenv("YOPO_SOURCE_ROOT");
	char cwd[1024], shipped[1024], p[1024], out[1024], *tmp;
	ck_assert(root && getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(root), 0);
	if (access("../shared/models/tinystories-instruct-3m", R_OK)) {
		ck_assert_int_eq(chdir(cwd), 0);
		return;
	}
	tmp = testutil_tmpdir_new("cli");
	testutil_path_join(shipped, sizeof shipped, root, "policies/default.safetensors");
	testutil_path_join(p, sizeof p, tmp, "default.safetensors");
	testutil_path_join(out, sizeof out, tmp, "small");
	const char *argv[16];
	int n = 0;
	for (size_t i = 0; i < sizeof default_policy_args / sizeof *default_policy_args; i++)
		argv[n++] = default_policy_args[i];
	argv[n++] = p;
	argv[n] = NULL;
	struct run r;
	run_yopo(&r, tmp, argv);
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	run_free(&r);
	size_t na, nb;
	char *a = testutil_file_read(p, &na), *b = testutil_file_read(shipped, &nb);
	/* ASan/UBSan builds vectorise the float code differently (measured: the last bits of the
	 * parameters differ), so there the file must only have the same size: same metadata
	 * layout and tensor shapes. Normal builds must give the same bytes. */
	const char *san = getenv("YOPO_SANITIZED");
	if (san && !strcmp(san, "1"))
		ck_assert_msg(na > 0 && na == nb, "retrained policy: %zu bytes, shipped %zu", na, nb);
	else
		ck_assert_msg(na > 0 && na == nb && !memcmp(a, b, na),
			      "retrained policy differs from policies/default.safetensors");
	free(a);
	free(b);

	run_yopo(&r, tmp, (const char *const[]){"prune", "--model",
						"../shared/models/tinystories-instruct-3m", "--ratio",
						"0.3", "--out", out, NULL});
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	run_free(&r);
	char info[1024];
	testutil_path_join(info, sizeof info, out, "yopo_pruning.json");
	char *j = testutil_file_read(info, &na);
	/* the shipped policy was used: method policy with its hash (string, not null) */
	ck_assert(strstr(j, "\"policy\"") && strstr(j, "\"policy_sha256\":\t\""));
	free(j);
	run_yopo(&r, tmp, (const char *const[]){"spectrum", "--model", "../shared/models/stories260k",
						"--ratio", "0.3", NULL});
	ck_assert_msg(r.code == 0 && strstr(r.out, "default.safetensors (trained with reward "
						   "functional, feature set probe)"),
		      "exit %d, stdout: %s, stderr: %s", r.code, r.out, r.err);
	run_free(&r);
	ck_assert_int_eq(chdir(cwd), 0);
	testutil_tmpdir_free(tmp);
}
END_TEST

START_TEST(test_real_eval)
{
	const struct real_case *c = &real_cases[_i];
	char model[1024], text[1024], *tmp;
	if (shared_path(model, sizeof model, c->model) ||
	    shared_path(text, sizeof text, "data/tinystories-eval.txt"))
		return;
	tmp = testutil_tmpdir_new("cli");
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
	testutil_tmpdir_free(tmp);
}
END_TEST

/* ---- issue 13: write errors, the lock, stale temporaries, a full disk ---- */

/* Lines of s that contain needle. */
static int count_containing(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[2048];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		n += strstr(line, needle) != NULL;
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* stdout on /dev/full: every command that prints fails with exactly one line naming the write
 * error (item 9), none exits 0. "@M" the model, "@T" its text, "@O" an output directory. */
static const char *const full_cases[][12] = {
	{"--help"},
	{"--version"},
	{"prune", "--help"},
	{"eval", "--model", "@M", "--text", "@T", "--json"},
	{"generate", "--model", "@M", "--max-tokens", "4"},
	{"spectrum", "--model", "@M", "--ratio", "0.3", "--method", "random", "--samples", "1", "--json"},
	{"prune", "--model", "@M", "--ratio", "0.25", "--method", "random", "--out", "@O"},
};
enum { N_FULL = sizeof full_cases / sizeof full_cases[0] };

START_TEST(test_dev_full)
{
	char *tmp = testutil_tmpdir_new("cli"), model[1024], text[1024], out[1024];
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(text, sizeof text, tmp, "text.txt");
	testutil_path_join(out, sizeof out, tmp, "out");
	const char *args[13];
	int n = 0;
	for (; n < 12 && full_cases[_i][n]; n++) {
		const char *a = full_cases[_i][n];
		args[n] = !strcmp(a, "@M") ? model : !strcmp(a, "@T") ? text : !strcmp(a, "@O") ? out : a;
	}
	args[n] = NULL;
	struct run r;
	stdout_target = "/dev/full";
	run_yopo(&r, tmp, args);
	stdout_target = NULL;
	ck_assert_msg(r.signal == 0 && r.code == 1, "%s: exit %d (signal %d), stderr: %s",
		      full_cases[_i][0], r.code, r.signal, r.err);
	ck_assert_msg(count_containing(r.err, strerror(ENOSPC)) == 1 &&
			      (size_t)count_containing(r.err, "yopo") == count_lines(r.err),
		      "%s: not one error line: %s", full_cases[_i][0], r.err);
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* train --log onto a full disk: an error and no policy, never a 0-byte log and exit 0. */
START_TEST(test_log_full)
{
	char *tmp = testutil_tmpdir_new("cli"), model[1024], out[1024];
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(out, sizeof out, tmp, "p.safetensors");
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"train", "--model", model, "--ratio", "0.3", "--episodes",
						"1", "--log", "/dev/full", "--out", out, NULL});
	ck_assert_msg(r.signal == 0 && r.code == 1, "exit %d (signal %d)", r.code, r.signal);
	ck_assert_msg(count_containing(r.err, "error writing /dev/full") == 1 &&
			      count_containing(r.err, strerror(ENOSPC)) == 1,
		      "stderr: %s", r.err);
	ck_assert(!testutil_path_exists(out));
	run_free(&r);
	testutil_tmpdir_free(tmp);
}
END_TEST

/* Item 8: while another process holds OUT.lock (here the test itself, deterministic), prune
 * --force into OUT and train --out fail at once with one line naming that process, and OUT is
 * untouched; once released, the same run succeeds. */
START_TEST(test_locked)
{
	char *tmp = testutil_tmpdir_new("cli"), model[1024], out[1024], policy[1024], pid[64],
		err[256];
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(out, sizeof out, tmp, "out");
	testutil_path_join(policy, sizeof policy, tmp, "p.safetensors");
	const char *const prune[] = {"prune", "--model", model, "--ratio", "0.25", "--method", "random",
				     "--force", "--out", out, NULL};
	const char *const train[] = {"train", "--model", model, "--ratio", "0.3", "--episodes", "1",
				     "--out", policy, NULL};
	struct run r;
	run_yopo(&r, tmp, prune);
	ck_assert_msg(r.code == 0, "stderr: %s", r.err);
	run_free(&r);
	char *before = tree_snapshot(out);
	snprintf(pid, sizeof pid, "another yopo run (pid %ld)", (long)getpid());
	const char *const *runs[2] = {prune, train};
	const char *outs[2] = {out, policy};
	for (int k = 0; k < 2; k++) {
		struct util_lock *lock = NULL;
		ck_assert_int_eq(util_lock_open(&lock, outs[k], err, sizeof err), 0);
		run_yopo(&r, tmp, runs[k]);
		assert_one_line_failure(&r, runs[k][0], 1, (const char *const[]){pid, outs[k]}, 2,
					"locked");
		run_free(&r);
		util_lock_close(lock);
	}
	assert_same_tree(before, out, "prune into a locked --out");
	ck_assert(!testutil_path_exists(policy));
	free(before);
	for (int k = 0; k < 2; k++) {
		run_yopo(&r, tmp, runs[k]);
		ck_assert_msg(r.code == 0, "%s after the lock: stderr: %s", runs[k][0], r.err);
		run_free(&r);
	}
	testutil_tmpdir_free(tmp);
}
END_TEST

/* A PID no process has: a child that has exited and been reaped. */
static long dead_pid(void)
{
	pid_t p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(0);
	int st;
	ck_assert_int_eq(waitpid(p, &st, 0), p);
	return (long)p;
}

/* Item 7: temporary siblings of dead runs (same owner) are removed when prune and train start;
 * those of a live process (this test) are kept. */
START_TEST(test_stale_temps)
{
	char *tmp = testutil_tmpdir_new("cli"), model[1024], out[1024], policy[1024], name[256],
		path[1024];
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(out, sizeof out, tmp, "out");
	testutil_path_join(policy, sizeof policy, tmp, "p.safetensors");
	long dead = dead_pid(), live = (long)getpid();
	const char *fmt[] = {"out.tmp-%ld-abcdef", "out.old-%ld-abcdef", ".p.safetensors.tmp.%ld.0"};
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++) {
			snprintf(name, sizeof name, fmt[i], k ? live : dead);
			testutil_path_join(path, sizeof path, tmp, name);
			if (i < 2) {
				ck_assert_int_eq(mkdir(path, 0700), 0);
				testutil_path_join(path, sizeof path, path, "model.safetensors");
			}
			testutil_file_write(path, "partial", 7);
		}
	ck_assert_int_eq(mkdir(out, 0700), 0); /* so the dead run's "old" copy is not the only one */
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--ratio", "0.25", "--method",
						"random", "--out", out, NULL});
	ck_assert_msg(r.code == 0, "stderr: %s", r.err);
	ck_assert_msg(strstr(r.err, "removed 2 stale temporary"), "stderr: %s", r.err);
	run_free(&r);
	run_yopo(&r, tmp, (const char *const[]){"train", "--model", model, "--ratio", "0.3", "--episodes",
						"1", "--out", policy, NULL});
	ck_assert_msg(r.code == 0, "stderr: %s", r.err);
	run_free(&r);
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++) {
			snprintf(name, sizeof name, fmt[i], k ? live : dead);
			testutil_path_join(path, sizeof path, tmp, name);
			ck_assert_msg(testutil_path_exists(path) == (k == 1), "%s %s", name,
				      k ? "removed" : "left");
		}
	testutil_tmpdir_free(tmp);
}
END_TEST

/* Item 15: a write that fails for lack of room (here RLIMIT_FSIZE, EFBIG) names the destination
 * file under --out, and leaves nothing behind. The model's tokenizer.json is padded past the
 * limit so that its copy fails (_i 1) after model.safetensors fits; _i 0 limits below
 * model.safetensors. */
START_TEST(test_disk_full)
{
	char *tmp = testutil_tmpdir_new("cli"), model[1024], out[1024], tok[1024], want[1200];
	make_model(model, sizeof model, tmp, "model");
	testutil_path_join(out, sizeof out, tmp, "out");
	testutil_path_join(tok, sizeof tok, model, "tokenizer.json");
	size_t len;
	char *t = testutil_file_read(tok, &len);
	size_t pad = 300000;
	t = realloc(t, len + pad);
	ck_assert_ptr_nonnull(t);
	memset(t + len, ' ', pad);
	testutil_file_write(tok, t, len + pad);
	free(t);
	char *before = tree_snapshot(tmp);
	struct rlimit old, lim;
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = _i ? 200000 : 4096;
	void (*was)(int) = signal(SIGXFSZ, SIG_IGN); /* the child inherits it: EFBIG, no signal */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct run r;
	run_yopo(&r, tmp, (const char *const[]){"prune", "--model", model, "--ratio", "0.25", "--method",
						"random", "--out", out, NULL});
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, was);
	snprintf(want, sizeof want, "writing %s/%s", out, _i ? "tokenizer.json" : "model.safetensors");
	ck_assert_msg(r.signal == 0 && r.code == 1, "exit %d (signal %d)", r.code, r.signal);
	ck_assert_msg(count_containing(r.err, want) == 1 && count_containing(r.err, strerror(EFBIG)) == 1,
		      "stderr lacks '%s': %s", want, r.err);
	assert_same_tree(before, tmp, "prune onto a full disk");
	free(before);
	run_free(&r);
	testutil_tmpdir_free(tmp);
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
	tcase_add_test(tc, test_eval_compute);
	tcase_add_test(tc, test_train);
	tcase_add_test(tc, test_spectrum);
	tcase_add_test(tc, test_train_json);
	tcase_add_test(tc, test_study);
	tcase_add_test(tc, test_default_policy);
	tcase_add_test(tc, test_policy_shapes);
	tcase_add_loop_test(tc, test_prune, 0, N_PRUNE);
	tcase_add_test(tc, test_prune_weights);
	tcase_add_test(tc, test_prune_extras);
	tcase_add_test(tc, test_prune_force);
	tcase_add_test(tc, test_compare);
	tcase_add_loop_test(tc, test_spectrum_matches_compare, 0, 2);
	tcase_add_test(tc, test_compare_nm);
	tcase_add_test(tc, test_demo);
	tcase_add_test(tc, test_real_generate);
	tcase_add_loop_test(tc, test_real_eval, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("output safety");
	tcase_add_loop_test(tc, test_dev_full, 0, N_FULL);
	tcase_add_test(tc, test_log_full);
	tcase_add_test(tc, test_locked);
	tcase_add_test(tc, test_stale_temps);
	tcase_add_loop_test(tc, test_disk_full, 0, 2);
	suite_add_tcase(s, tc);
	return testutil_run(s, true);
}
