/* bench-evalnative: `yopo eval` with the weights kept in their stored dtype (model.h,
 * MODEL_WEIGHTS_STORED*).
 *
 * 1. Shared models (../shared, skipped when absent): each F32 model and a BF16 copy of it (made
 *    under $TMPDIR, round to nearest even) evaluated on tinystories-eval.txt: the F32 original,
 *    the copy with f32 compute (layers converted one at a time: --compute f32) and the copy with
 *    native compute (BF16 products on avx512_bf16). Prints NLL, the shifts BF16 weights and BF16
 *    compute cause, and tokens/s with the ratio to the F32 original measured in the same run.
 * 2. The 7B-shaped F16 checkpoint (model/synth, 13.5 GB; written under $TMPDIR or --dir, removed
 *    afterwards unless --keep or reused): eval --max-windows 1 --seq-len 128 in a forked child,
 *    whose peak RSS (wait4) is compared with the file size + 1 GB (issue 9's target) and its wall
 *    time with a plain read of the same file measured in the same run.
 *
 * Usage: bench-evalnative [--shared DIR] [--dir DIR] [--keep] [--windows N] [--layers L]
 *                         [--skip-7b]
 * --layers: only the first L of the 32 layers (writing 13.5 GB of random F16 takes an hour on a
 * busy 2-core machine); the peak's anonymous part is one layer in f32 plus the KV cache, so
 * fewer layers change the target's margin only by the KV cache (4 MiB per layer here).
 * Exit status: 0, 1 on error or a missed memory target, 77 when the disk lacks 1.5x the
 * checkpoint's size and there is nothing else to run. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "file.h"
#include "matmul.h"
#include "measure.h"
#include "model.h"
#include "synth.h"
#include "timing.h"

#define GB 1e9
#define MIB (1024.0 * 1024.0)

struct opts {
	const char *shared, *dir;
	bool keep, skip_7b;
	int windows;
	int layers; /* layers of the 7B-shaped checkpoint (default 32) */
};

static bool join(char *buf, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	return n > 0 && (size_t)n < cap;
}

/* dst/model.safetensors = src's tensors as BF16; the other files copied. 0 or -1. */
static int copy_bf16(const char *src, const char *dst)
{
	static const char *const files[] = {"config.json", "tokenizer.json",
					    "tokenizer_config.json", "generation_config.json"};
	char a[4096], b[4096];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (!join(a, sizeof a, src, files[i]) || !join(b, sizeof b, dst, files[i]))
			return -1;
		size_t len;
		char *text;
		if (access(a, F_OK))
			continue; /* optional files */
		if (util_read_file(&text, &len, a, 1 << 26, true, NULL, 0))
			return -1;
		FILE *f = fopen(b, "wb");
		bool ok = f && fwrite(text, 1, len, f) == len;
		ok = f && !fclose(f) && ok;
		free(text);
		if (!ok)
			return -1;
	}
	struct safetensors *st = NULL;
	if (!join(a, sizeof a, src, "model.safetensors") ||
	    !join(b, sizeof b, dst, "model.safetensors") || safetensors_open(&st, a))
		return -1;
	int n = safetensors_count(st), rc = -1;
	struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
	void **bufs = calloc((size_t)n, sizeof *bufs);
	for (int i = 0; e && bufs && i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(st, i);
		float *f = malloc((t->nelem ? t->nelem : 1) * sizeof *f);
		if (!f || !(bufs[i] = malloc((t->nelem ? t->nelem : 1) * 2))) {
			free(f);
			goto out;
		}
		safetensors_read_f32(f, t);
		safetensors_convert_from_f32(bufs[i], SAFETENSORS_DTYPE_BF16, f, t->nelem);
		free(f);
		e[i] = (struct safetensors_entry){.name = t->name, .dtype = SAFETENSORS_DTYPE_BF16,
						  .ndim = t->ndim, .data = bufs[i]};
		memcpy(e[i].shape, t->shape, sizeof t->shape);
	}
	rc = e && bufs && safetensors_write(b, e, n, NULL, 0) == 0 ? 0 : -1;
out:
	for (int i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(e);
	safetensors_close(st);
	return rc;
}

static int eval_once(struct measure_text_result *r, const char *dir, const char *text, int seq,
		     int windows, enum model_weights w)
{
	char err[ERR_MAX];
	if (measure_text_weights(r, dir, NULL, text, seq, (size_t)windows, w, NULL, NULL, err,
				 sizeof err)) {
		fprintf(stderr, "bench-evalnative: %s: %s\n", dir, err);
		return -1;
	}
	return 0;
}

/* Part 1 on one shared model. */
static int shared_model(const struct opts *o, const char *name, const char *tmp)
{
	char src[4096], bf[4096], text[4096];
	snprintf(src, sizeof src, "%s/models/%s", o->shared, name);
	snprintf(bf, sizeof bf, "%s/%s-bf16", tmp, name);
	snprintf(text, sizeof text, "%s/data/tinystories-eval.txt", o->shared);
	if (mkdir(bf, 0755) || copy_bf16(src, bf)) {
		fprintf(stderr, "bench-evalnative: cannot write the BF16 copy %s\n", bf);
		return -1;
	}
	struct measure_text_result f32, conv, nat;
	if (eval_once(&f32, src, text, 0, o->windows, MODEL_WEIGHTS_STORED) ||
	    eval_once(&conv, bf, text, 0, o->windows, MODEL_WEIGHTS_STORED_F32) ||
	    eval_once(&nat, bf, text, 0, o->windows, MODEL_WEIGHTS_STORED))
		return -1;
	printf("%-24s %zu windows x %d: NLL F32 %.6f | BF16 weights, f32 compute %.6f (%+.6f) | "
	       "BF16 compute %.6f (%+.6f vs f32 compute)\n", name, f32.m.eval.windows, f32.seq_len,
	       f32.m.eval.nll, conv.m.eval.nll, conv.m.eval.nll - f32.m.eval.nll, nat.m.eval.nll,
	       nat.m.eval.nll - conv.m.eval.nll);
	printf("%-24s tokens/s F32 %.0f | BF16 f32 compute %.0f (x%.2f) | BF16 native %.0f (x%.2f)\n",
	       "", f32.m.eval.tokens_per_s, conv.m.eval.tokens_per_s,
	       conv.m.eval.tokens_per_s / f32.m.eval.tokens_per_s, nat.m.eval.tokens_per_s,
	       nat.m.eval.tokens_per_s / f32.m.eval.tokens_per_s);
	return 0;
}

/* Seconds to read path once through (the reference for the 7B eval's wall time). */
static double read_seconds(const char *path)
{
	static char buf[1 << 20];
	double t0 = util_now();
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
	return util_now() - t0;
}

struct eval7b {
	const char *dir, *text;
	int layers;
};

static int write_7b(void *ctx)
{
	struct eval7b *e = ctx;
	struct synth_spec s;
	synth_spec_7b(&s);
	s.n_layers = e->layers;
	int rc = synth_write(e->dir, &s);
	if (rc)
		fprintf(stderr, "bench-evalnative: %s\n", synth_strerror(rc));
	return rc;
}

static int eval_7b(void *ctx)
{
	struct eval7b *e = ctx;
	struct measure_text_result r;
	if (eval_once(&r, e->dir, e->text, 128, 1, MODEL_WEIGHTS_STORED))
		return -1;
	printf("[7b] eval: NLL %.4f over %zu tokens, %.1f tokens/s\n", r.m.eval.nll,
	       r.m.eval.tokens, r.m.eval.tokens_per_s);
	return 0;
}

/* Part 2. Returns 0, 1 (error or target missed) or 77 (no disk space). */
static int run_7b(const struct opts *o, const char *tmp)
{
	char dir[4096], path[4096], text[4096];
	struct synth_spec s;
	synth_spec_7b(&s);
	snprintf(dir, sizeof dir, "%s", o->dir ? o->dir : tmp);
	if (!o->dir)
		strncat(dir, "/7b", sizeof dir - strlen(dir) - 1);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	snprintf(text, sizeof text, "%s/data/tinystories-eval.txt", o->shared);
	struct eval7b e = {dir, text, o->layers};
	double need = 13.5 * GB * (o->layers + 2.6) / (32 + 2.6); /* layers + embedding and head */
	struct stat sb;
	bool wrote = false;
	size_t peak;
	double secs;
	if (stat(path, &sb) != 0) {
		struct statvfs v;
		if (statvfs(tmp, &v) || (double)v.f_bavail * v.f_frsize < 1.5 * need) {
			printf("[7b] SKIP: less than %.1f GB free under %s\n", 1.5 * need / GB, tmp);
			return 77;
		}
		wrote = true;
		if (bench_in_child(write_7b, &e, &secs, &peak) || stat(path, &sb) != 0)
			return 1;
		printf("[7b] synth_write of %d layers %.1f s, writer peak RSS %.0f MiB\n", o->layers,
		       secs, peak / MIB);
	}
	double t_read = read_seconds(path);
	int rc = bench_in_child(eval_7b, &e, &secs, &peak) ? 1 : 0;
	double limit = (double)sb.st_size + GB;
	if (rc) {
		/* a failed eval has no peak or time to report: no MET/MISSED verdict */
		printf("[7b] eval FAILED (see above); nothing measured\n");
		goto cleanup;
	}
	printf("[7b] eval --max-windows 1 --seq-len 128 (native; F16 -> one layer in f32 at a "
	       "time): peak RSS %.2f GB, file %.2f GB, target <= file + 1 GB = %.2f GB "
	       "(peak / file %.3f) %s\n", peak / GB, (double)sb.st_size / GB, limit / GB,
	       (double)peak / (double)sb.st_size, (double)peak <= limit ? "MET" : "MISSED");
	printf("[7b] wall %.1f s (incl. loading), plain read of the file %.1f s: ratio %.2f\n",
	       secs, t_read, secs / t_read);
	if ((double)peak > limit)
		rc = 1;
cleanup:
	if (wrote && !o->keep) {
		unlink(path);
		static const char *const rest[] = {"config.json", "tokenizer.json",
						   "generation_config.json"};
		for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
			snprintf(path, sizeof path, "%s/%s", dir, rest[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	return rc;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	const char *env = getenv("YOPO_SHARED");
	*o = (struct opts){.shared = env ? env : "../shared", .windows = 8, .layers = 32};
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--keep"))
			o->keep = true;
		else if (!strcmp(argv[i], "--skip-7b"))
			o->skip_7b = true;
		else if (v && !strcmp(argv[i], "--shared"))
			o->shared = argv[++i];
		else if (v && !strcmp(argv[i], "--dir"))
			o->dir = argv[++i];
		else if (v && !strcmp(argv[i], "--windows") && (o->windows = atoi(v)) > 0)
			i++;
		else if (v && !strcmp(argv[i], "--layers") && (o->layers = atoi(v)) > 0 &&
			 o->layers <= 32)
			i++;
		else {
			fprintf(stderr, "usage: %s [--shared DIR] [--dir DIR] [--keep] [--windows N] "
				"[--layers L] [--skip-7b]\n", argv[0]);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_args(&o, argc, argv))
		return 2;
	char tmp[4096];
	if (bench_temp_dir(tmp, sizeof tmp, "evalnative"))
		return 1;
	printf("bench-evalnative: CPU BF16 products %s\n", matmul_has_bf16() ? "yes" : "no");
	int rc = 0;
	if (access(o.shared, F_OK) == 0) {
		if (shared_model(&o, "stories260k", tmp) ||
		    shared_model(&o, "tinystories-instruct-3m", tmp))
			rc = 1;
	} else {
		printf("shared models: SKIP (%s absent)\n", o.shared);
	}
	if (!rc && !o.skip_7b)
		rc = run_7b(&o, tmp);
	util_remove_tree(tmp);
	return rc;
}
