/* bench-memory: peak memory of the pruning environment streaming a 7B-shaped checkpoint.
 *
 * Writes (or reuses) a synthetic Llama-2-7B-shaped F16 checkpoint (13.5 GB) and runs the
 * environment in streaming mode (cache 0, route GRAM) over its first N layers: env_layer_begin,
 * then the KS statistic of a few random 30% removals (sampling_gumbel_topk over equal scores).
 * Prints the peak RSS (getrusage) after opening and after each layer, and the ratio
 * peak RSS / largest scored matrix in f32 (11008 x 4096 x 4 B = 180 MB = 172 MiB), with the
 * same ratio measured first, in the same process, on a small model of the same aspect
 * (4 layers, 1024 / 2752): streaming means the ratio does not grow with the model.
 *
 * Checkpoints are written in a forked child whose own peak RSS (wait4) shows the streaming
 * writer's footprint without disturbing this process's high-water mark. The mapped file pages a
 * layer reads (gate, up, down in F16) count towards RSS until unmapped; the RSS lines split
 * anonymous and file-backed pages, and a last phase reads every layer's three matrices the way
 * the environment does, with and without safetensors_evict, to measure that share.
 *
 * Usage: bench-memory [--dir DIR] [--keep] [--layers N] [--selections S] [--seed X]
 *                     [--hidden H] [--ffn F] [--layers-total L] [--heads A] [--vocab V]
 *                     [--reader-layers R]
 * --dir: where the large checkpoint lives; reused if it already holds one with this shape,
 * written there otherwise (default: a fresh directory under $TMPDIR or /tmp). What this run
 * wrote is removed at the end unless --keep. --layers: layers the environment visits (default 2:
 * each 11008 x 4096 layer's SVD and Gram eigenproblems take minutes on 2 cores). The shape flags
 * shrink the large model for development (defaults: the 7B preset). --reader-layers: layers of
 * the eviction phase (default: all; 0 skips it).
 * Exit status: 0, 1 on error, 77 if the disk lacks space for the checkpoint (1.5x its size). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "env.h"
#include "eval.h"
#include "model.h"
#include "pcg32.h"
#include "sampling.h"
#include "synth.h"
#include "timing.h"
#include "topk.h"

#define MIB (1024.0 * 1024.0)
#define GB (1e9)
#define REMOVE_RATIO 0.3

struct opts {
	const char *dir;
	bool keep;
	int layers, selections, reader_layers;
	uint64_t seed;
	struct synth_spec large;
};

/* The process's memory now (from /proc/self/status; 0 where the kernel does not say) and its
 * peak so far (getrusage). */
struct rss {
	size_t peak, now, anon, file;
};

static struct rss rss_read(void)
{
	struct rss r = {.peak = eval_peak_rss_bytes()};
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	if (!f)
		return r;
	while (fgets(line, sizeof line, f)) {
		unsigned long kb;
		if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
			r.now = (size_t)kb * 1024;
		else if (sscanf(line, "RssAnon: %lu kB", &kb) == 1)
			r.anon = (size_t)kb * 1024;
		else if (sscanf(line, "RssFile: %lu kB", &kb) == 1)
			r.file = (size_t)kb * 1024;
	}
	fclose(f);
	return r;
}

static void rss_print(const char *tag, const char *what)
{
	struct rss r = rss_read();
	printf("[%s] %-22s peak RSS %8.1f MiB   (now %8.1f MiB = anon %8.1f + file %8.1f)\n", tag, what,
	       (double)r.peak / MIB, (double)r.now / MIB, (double)r.anon / MIB, (double)r.file / MIB);
}

/* path = dir/name; false if it does not fit. */
static bool path_join(char *path, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(path, cap, "%s/%s", dir, name);
	return n >= 0 && (size_t)n < cap;
}

static size_t file_size(const char *dir, const char *name)
{
	char path[4096];
	struct stat sb;
	if (!path_join(path, sizeof path, dir, name) || stat(path, &sb) != 0)
		return 0;
	return (size_t)sb.st_size;
}

/* Bytes of tensor data of spec's checkpoint (model_expected_shape over every needed tensor). */
static int spec_bytes(const struct synth_spec *s, uint64_t *out)
{
	char text[1024], err[ERR_MAX];
	struct config c;
	snprintf(text, sizeof text,
		 "{\"model_type\":\"llama\",\"hidden_size\":%d,\"intermediate_size\":%d,"
		 "\"num_hidden_layers\":%d,\"num_attention_heads\":%d,\"num_key_value_heads\":%d,"
		 "\"vocab_size\":%d,\"max_position_embeddings\":%d,\"tie_word_embeddings\":false}",
		 s->hidden, s->ffn, s->n_layers, s->n_heads, s->n_kv_heads, s->vocab, s->max_pos);
	if (config_parse(&c, text, strlen(text), err, sizeof err))
		return -1;
	uint64_t elems = 0;
	for (int layer = -1; layer < c.n_layers; layer++)
		for (int w = 0; w < CONFIG_TENSOR_COUNT; w++) {
			enum config_tensor which = (enum config_tensor)w;
			if ((which >= CONFIG_TENSOR_ATTN_NORM) != (layer >= 0) ||
			    !config_tensor_needed(&c, which))
				continue;
			long long shape[2];
			int nd = model_expected_shape(&c, which, layer, shape);
			elems += (uint64_t)shape[0] * (nd == 2 ? (uint64_t)shape[1] : 1);
		}
	*out = elems * safetensors_dtype_size(s->dtype);
	return 0;
}

/* Whether dir holds a loadable checkpoint of spec's family, sizes and dtype. */
static bool checkpoint_matches(const char *dir, const struct synth_spec *s)
{
	struct config c;
	struct safetensors *st = NULL;
	char err[ERR_MAX];
	if (model_inspect(&c, &st, dir, err, sizeof err))
		return false;
	const struct safetensors_tensor *t = model_find_tensor(st, &c, CONFIG_TENSOR_GATE, 0);
	bool ok = c.family == s->family && c.n_layers == s->n_layers && c.hidden == s->hidden &&
		  c.ffn == s->ffn && c.n_heads == s->n_heads && c.n_kv_heads == s->n_kv_heads &&
		  c.vocab == s->vocab && t && t->dtype == s->dtype;
	safetensors_close(st);
	return ok;
}

struct write_job {
	const char *dir;
	const struct synth_spec *s;
};

static int write_child(void *vctx)
{
	const struct write_job *j = vctx;
	int rc = synth_write(j->dir, j->s);
	if (rc)
		fprintf(stderr, "bench-memory: %s: %s\n", j->dir, synth_strerror(rc));
	return rc;
}

/* synth_write in a forked child, so its memory is measured on its own: *peak is the child's
 * peak RSS (wait4). Returns 0 or -1 (the child prints why). */
static int write_checkpoint(const char *dir, const struct synth_spec *s, size_t *peak,
			    double *seconds)
{
	struct write_job j = {dir, s};
	return bench_in_child(write_child, &j, seconds, peak);
}

static void remove_checkpoint(const char *dir, bool remove_dir)
{
	static const char *const files[] = {"model.safetensors", "config.json", "tokenizer.json",
					    "generation_config.json"};
	char path[4096];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		if (path_join(path, sizeof path, dir, files[i]))
			unlink(path);
	if (remove_dir)
		rmdir(dir);
}

struct env_result {
	size_t layer_bytes;  /* largest scored matrix, f32 */
	size_t file_bytes;
	size_t start_rss;    /* VmRSS before env_open */
	size_t peak;         /* peak RSS after the last layer */
};

/* env_open (streaming, GRAM) + n_layers x (env_layer_begin + selections x env_layer_ks). */
static int run_env(const char *tag, const char *dir, int n_layers, int selections,
		   struct pcg32 *rng, struct env_result *out)
{
	struct env *e = NULL;
	char err[ERR_MAX] = "";
	float *scores = NULL;
	int *order = NULL, rc = -1;
	struct env_result r = {.file_bytes = file_size(dir, "model.safetensors"),
			       .start_rss = rss_read().now};

	double t0 = util_now();
	int erc = env_open(&e, dir, SPECTRUM_ROUTE_GRAM, 0, err, sizeof err);
	if (erc) {
		fprintf(stderr, "bench-memory: %s: %s: %s\n", dir, env_strerror(erc), err);
		return -1;
	}
	const struct config *c = env_config(e);
	int max_rows = 0;
	for (int l = 0; l < c->n_layers; l++)
		max_rows = env_rows(e, l) > max_rows ? env_rows(e, l) : max_rows;
	r.layer_bytes = (size_t)max_rows * (size_t)env_cols(e) * sizeof(float);
	printf("[%s] %d layers, hidden %d, ffn %d; model.safetensors %.2f GB; largest scored matrix "
	       "%d x %d f32 = %.1f MiB\n",
	       tag, c->n_layers, c->hidden, c->ffn, (double)r.file_bytes / GB, max_rows, env_cols(e),
	       (double)r.layer_bytes / MIB);
	printf("[%s] env_open %.2f s\n", tag, util_now() - t0);
	rss_print(tag, "after env_open");

	scores = calloc((size_t)max_rows, sizeof *scores); /* equal scores: uniform selections */
	order = malloc((size_t)max_rows * sizeof *order);
	if (!scores || !order) {
		fprintf(stderr, "bench-memory: out of memory\n");
		goto out;
	}
	if (n_layers > c->n_layers)
		n_layers = c->n_layers;
	for (int l = 0; l < n_layers; l++) {
		int rows = env_rows(e, l), k = util_keep_count(rows, REMOVE_RATIO);
		t0 = util_now();
		if (k < 1) {
			fprintf(stderr, "bench-memory: layer %d keeps no row\n", l);
			goto out;
		}
		if ((erc = env_layer_begin(e, l, NULL, NULL, err, sizeof err))) {
			fprintf(stderr, "bench-memory: %s\n", err);
			goto out;
		}
		double t_begin = util_now() - t0;
		printf("[%s] layer %d: env_layer_begin %.1f s; KS of %d random %.0f%% removals (k = %d):",
		       tag, l, t_begin, selections, 100 * REMOVE_RATIO, k);
		t0 = util_now();
		for (int sel = 0; sel < selections; sel++) {
			double ks;
			if (sampling_gumbel_topk(order, scores, rows, k, rng) ||
			    (erc = env_layer_ks(e, order, k, &ks, err, sizeof err))) {
				printf("\n");
				fprintf(stderr, "bench-memory: layer %d: KS failed: %s\n", l,
					erc ? err : "sampling failed");
				goto out;
			}
			printf(" %.4f", ks);
			fflush(stdout);
		}
		printf(" (%.1f s)\n", util_now() - t0);
		char what[64];
		snprintf(what, sizeof what, "after layer %d", l);
		rss_print(tag, what);
	}
	r.peak = eval_peak_rss_bytes();
	printf("[%s] peak RSS / largest layer = %.1f MiB / %.1f MiB = %.2f   (above the RSS before "
	       "env_open, %.1f MiB: %.2f)\n",
	       tag, (double)r.peak / MIB, (double)r.layer_bytes / MIB,
	       (double)r.peak / (double)r.layer_bytes, (double)r.start_rss / MIB,
	       (double)(r.peak - r.start_rss) / (double)r.layer_bytes);
	*out = r;
	rc = 0;
out:
	free(order);
	free(scores);
	env_close(e);
	return rc;
}

/* Reads the scored matrix, its pair and down of layers [0, n) through the mapping, as
 * env_layer_begin does, into one reused buffer; with evict, each tensor is evicted after use.
 * Prints the file-backed RSS as it grows. */
static int run_reader(const char *tag, const char *dir, int n, bool evict)
{
	struct config c;
	struct safetensors *st = NULL;
	char err[ERR_MAX];
	if (model_inspect(&c, &st, dir, err, sizeof err)) {
		fprintf(stderr, "bench-memory: %s\n", err);
		return -1;
	}
	if (n > c.n_layers)
		n = c.n_layers;
	size_t max_elems = 0;
	for (int l = 0; l < c.n_layers; l++)
		if ((size_t)c.layer_ffn[l] * (size_t)c.hidden > max_elems)
			max_elems = (size_t)c.layer_ffn[l] * (size_t)c.hidden;
	float *buf = malloc(max_elems * sizeof *buf);
	float *scratch = c.conv1d ? malloc(max_elems * sizeof *scratch) : NULL;
	int rc = -1;
	if (!buf || (c.conv1d && !scratch)) {
		fprintf(stderr, "bench-memory: out of memory\n");
		goto out;
	}
	size_t file0 = rss_read().file;
	double t0 = util_now();
	printf("[%s] %s: file-backed RSS after layer", tag,
	       evict ? "with safetensors_evict   " : "without safetensors_evict");
	for (int l = 0; l < n; l++) {
		static const enum config_tensor mats[] = {CONFIG_TENSOR_GATE, CONFIG_TENSOR_UP,
							   CONFIG_TENSOR_DOWN};
		for (int i = 0; i < 3; i++) {
			const struct safetensors_tensor *t = model_find_tensor(st, &c, mats[i], l);
			if (!t)
				continue; /* no gate: not a gated family */
			if (model_read_matrix(buf, t, &c, mats[i], scratch)) {
				fprintf(stderr, "bench-memory: layer %d: cannot read\n", l);
				goto out;
			}
			if (evict)
				safetensors_evict(t);
		}
		if (l < 4 || l == n - 1 || (l + 1) % 8 == 0) {
			printf(" %d: %+.0f MiB", l, ((double)rss_read().file - (double)file0) / MIB);
			fflush(stdout);
		}
	}
	printf(" (%.1f s)\n", util_now() - t0);
	rss_print(tag, evict ? "after read, evicted" : "after read, kept");
	rc = 0;
out:
	free(scratch);
	free(buf);
	safetensors_close(st);
	return rc;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	synth_spec_7b(&o->large);
	o->dir = NULL;
	o->keep = false;
	o->layers = 2;
	o->selections = 3;
	o->reader_layers = -1;
	o->seed = 2024;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int *slot = NULL, lo = 1, hi = 1 << 20;
		if (strcmp(a, "--keep") == 0) {
			o->keep = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "bench-memory: %s needs a value\n", a);
			return -1;
		}
		if (strcmp(a, "--dir") == 0) {
			o->dir = v;
			i++;
			continue;
		}
		if (strcmp(a, "--seed") == 0) {
			o->seed = strtoull(v, NULL, 10);
			i++;
			continue;
		}
		if (strcmp(a, "--layers") == 0)
			slot = &o->layers;
		else if (strcmp(a, "--selections") == 0)
			slot = &o->selections;
		else if (strcmp(a, "--reader-layers") == 0)
			slot = &o->reader_layers, lo = 0;
		else if (strcmp(a, "--hidden") == 0)
			slot = &o->large.hidden;
		else if (strcmp(a, "--ffn") == 0)
			slot = &o->large.ffn;
		else if (strcmp(a, "--layers-total") == 0)
			slot = &o->large.n_layers, hi = CONFIG_MAX_LAYERS;
		else if (strcmp(a, "--heads") == 0)
			slot = &o->large.n_heads;
		else if (strcmp(a, "--vocab") == 0)
			slot = &o->large.vocab;
		if (!slot || parse_int(v, lo, hi, slot)) {
			fprintf(stderr, "bench-memory: bad option %s %s\n", a, v);
			return -1;
		}
		i++;
	}
	o->large.n_kv_heads = o->large.n_heads;
	if (o->reader_layers < 0)
		o->reader_layers = o->large.n_layers;
	return 0;
}

static bool dir_exists_nonempty(const char *dir, bool *exists)
{
	struct stat sb;
	*exists = stat(dir, &sb) == 0;
	if (!*exists)
		return false;
	char path[4096];
	if (path_join(path, sizeof path, dir, "config.json") && access(path, F_OK) == 0)
		return true;
	return path_join(path, sizeof path, dir, "model.safetensors") && access(path, F_OK) == 0;
}

/* The large checkpoint in large_dir: reused when it already holds one of o->large's shape, else
 * written after checking that 1.5 x need bytes are free. 0, 1 on error, 77 (skip) without the
 * space. *wrote / *made_dir tell the caller what to clean up. */
static int prepare_large(const struct opts *o, const char *large_dir, const char *tmp,
			 uint64_t need, bool *wrote, bool *made_dir)
{
	bool exists;
	if (dir_exists_nonempty(large_dir, &exists)) {
		if (!checkpoint_matches(large_dir, &o->large)) {
			fprintf(stderr, "bench-memory: %s holds something other than a %d-layer %d/%d "
				"%s checkpoint; give an empty or absent --dir\n", large_dir,
				o->large.n_layers, o->large.hidden, o->large.ffn,
				safetensors_dtype_name(o->large.dtype));
			return 1;
		}
		printf("[large] reusing %s\n", large_dir);
		return 0;
	}
	struct statvfs vfs;
	const char *probe = exists ? large_dir : o->dir ? "." : tmp;
	char parent[4096];
	if (!exists && o->dir) {
		snprintf(parent, sizeof parent, "%s", o->dir);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = '\0';
		else if (slash)
			slash[1] = '\0';
		else
			snprintf(parent, sizeof parent, ".");
		probe = parent;
	}
	if (statvfs(probe, &vfs) != 0) {
		fprintf(stderr, "bench-memory: statvfs %s: %s\n", probe, strerror(errno));
		return 1;
	}
	double avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
	double want = 1.5 * (double)need;
	if (avail < want) {
		printf("bench-memory: SKIP: %.1f GB free on %s, %.1f GB needed for the %.1f GB "
		       "checkpoint (use --dir elsewhere, or shrink it with --hidden/--ffn/"
		       "--layers-total)\n", avail / GB, probe, want / GB, (double)need / GB);
		return 77;
	}
	*made_dir = !exists;
	size_t child_peak;
	double secs;
	printf("[large] writing %.2f GB of %s into %s (%.1f GB free)\n", (double)need / GB,
	       safetensors_dtype_name(o->large.dtype), large_dir, avail / GB);
	*wrote = true;
	if (write_checkpoint(large_dir, &o->large, &child_peak, &secs))
		return 1;
	printf("[large] synth_write %.1f s (%.0f MiB/s), writer process peak RSS %.1f MiB\n", secs,
	       (double)need / MIB / secs, (double)child_peak / MIB);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_args(&o, argc, argv))
		return 1;
	struct pcg32 rng;
	pcg32_seed(&rng, o.seed, 54);
	int status = 1;
	char tmp_root[4096] = "", small_dir[4096] = "", large_dir[4096];
	bool wrote_large = false, made_large_dir = false;

	rss_print("start", "");
	uint64_t need;
	if (spec_bytes(&o.large, &need)) {
		fprintf(stderr, "bench-memory: invalid large model shape\n");
		return 1;
	}

	/* the large checkpoint: reuse, or check space and write */
	if (bench_temp_dir(tmp_root, sizeof tmp_root, "yopo-bench-memory"))
		return 1;
	if (o.dir)
		snprintf(large_dir, sizeof large_dir, "%s", o.dir);
	else if (!path_join(large_dir, sizeof large_dir, tmp_root, "large"))
		goto out;
	int prep = prepare_large(&o, large_dir, tmp_root, need, &wrote_large, &made_large_dir);
	if (prep) {
		status = prep;
		goto out;
	}

	/* the small model of the same aspect ratio, measured first: the peak only grows */
	struct synth_spec small = o.large;
	small.n_layers = 4;
	small.hidden = 1024;
	small.ffn = 2752;
	small.n_heads = small.n_kv_heads = 8;
	if (!path_join(small_dir, sizeof small_dir, tmp_root, "small")) {
		small_dir[0] = '\0';
		goto out;
	}
	size_t small_peak;
	double secs;
	if (write_checkpoint(small_dir, &small, &small_peak, &secs))
		goto out;
	printf("[small] synth_write %.1f s, writer process peak RSS %.1f MiB\n", secs,
	       (double)small_peak / MIB);
	struct env_result rs, rl;
	if (run_env("small", small_dir, o.layers, o.selections, &rng, &rs))
		goto out;
	if (run_env("large", large_dir, o.layers, o.selections, &rng, &rl))
		goto out;

	printf("\n%-6s %14s %12s %14s %10s %22s\n", "model", "layer f32 MiB", "file GB", "peak RSS MiB",
	       "peak/layer", "(peak-start)/layer");
	const struct env_result *res[2] = {&rs, &rl};
	const char *names[2] = {"small", "large"};
	for (int i = 0; i < 2; i++)
		printf("%-6s %14.1f %12.2f %14.1f %10.2f %22.2f\n", names[i],
		       (double)res[i]->layer_bytes / MIB, (double)res[i]->file_bytes / GB,
		       (double)res[i]->peak / MIB, (double)res[i]->peak / (double)res[i]->layer_bytes,
		       (double)(res[i]->peak - res[i]->start_rss) / (double)res[i]->layer_bytes);
	printf("(peak RSS is this process's high-water mark: the large row includes the small run, "
	       "which stayed below it)\n\n");

	/* the mapped pages' share, and what evicting them saves (after the env runs: the second
	 * reader pass raises the high-water mark) */
	if (o.reader_layers > 0 &&
	    (run_reader("large", large_dir, o.reader_layers, true) ||
	     run_reader("large", large_dir, o.reader_layers, false)))
		goto out;
	status = 0;
out:
	if (small_dir[0])
		remove_checkpoint(small_dir, true);
	if (wrote_large && !o.keep)
		remove_checkpoint(large_dir, o.dir == NULL || made_large_dir);
	else if (wrote_large)
		printf("kept %s\n", large_dir);
	rmdir(tmp_root); /* fails, harmlessly, when it holds a kept checkpoint */
	return status;
}
