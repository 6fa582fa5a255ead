/* bench-prune: peak memory and wall time of the streamed `yopo prune` on a 7B-shaped checkpoint,
 * against a plain copy of the same file measured in the same run.
 *
 * Writes (or reuses) a synthetic Llama-2-7B-shaped F16 checkpoint (13.5 GB, model/synth.h),
 * then, each in a forked child whose peak RSS comes from wait4 (getrusage of the child):
 *   - the reference: /bin/cp of model.safetensors (exec'd directly, no shell), and the same copy
 *     followed by an fsync of the copy (prune fsyncs its output, a plain cp does not);
 *   - prunejob_run (the library behind yopo prune) for each method at ratio 0.3 (policy with a
 *     random MLP policy written here; wanda with --calib-tokens of a synthetic byte text; probe
 *     with --probe-tokens self-sampled tokens; "default": the policy method with the shipped
 *     probe-feature policy, its probes sampled as it was trained: 2048 tokens). Probe sampling
 *     is one forward per token over every layer: at 7B hours, not minutes.
 * Every timed run is repeated (--repeat, default 3) and the median reported with the ratio to
 * the medians of cp and cp+fsync; peak RSS is the largest over the repeats. The input is read
 * once before the first timing so that every run sees the same page-cache state. Outputs are
 * deleted after each run.
 *
 * Usage: bench-prune [--dir DIR] [--keep] [--methods LIST] [--repeat N] [--calib-tokens N]
 *                    [--probe-tokens N] [--hidden H] [--ffn F] [--layers-total L] [--heads A]
 *                    [--vocab V]
 * --dir: where the checkpoint lives; reused if it holds one of this shape, written otherwise
 * (default: a fresh directory under $TMPDIR or /tmp); what this run wrote is removed at the end
 * unless --keep. --methods: comma-separated (default random,magnitude,ken,policy,wanda,probe,
 * default; all but random and magnitude run once whatever --repeat: minutes to hours each at
 * 7B). The shape flags shrink the
 * model for development. Exit status: 0, 1 on error, 77 if the disk lacks 2.2x the checkpoint. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "file.h"
#include "policy.h"
#include "prunejob.h"
#include "rowfeat.h"
#include "synth.h"
#include "timing.h"

#define MIB (1024.0 * 1024.0)
#define GB 1e9
#define MAX_REPEAT 9
#define RATIO 0.3

struct opts {
	const char *dir, *methods;
	bool keep;
	int repeat;
	long calib_tokens, probe_tokens;
	struct synth_spec spec;
};

/* One measured child: wall seconds and peak RSS. */
struct run {
	double secs;
	size_t peak;
};

struct copy_job {
	const char *src, *dst;
	bool sync;
};

/* /bin/cp src dst (exec, no shell), then optionally fsync dst. */
static int copy_file(void *vctx)
{
	const struct copy_job *j = vctx;
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execl("/bin/cp", "cp", j->src, j->dst, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return 1;
	return j->sync && util_fsync_path(j->dst, false) ? 1 : 0;
}

struct prune_job {
	struct prunejob_opts o;
};

static int prune_run(void *vctx)
{
	struct prune_job *j = vctx;
	char err[ERR_MAX];
	struct prune_counts c;
	if (prunejob_run(&c, &j->o, NULL, NULL, err, sizeof err)) {
		fprintf(stderr, "bench-prune: %s: %s\n", j->o.select.method, err);
		return 1;
	}
	return 0;
}

static int write_model(void *vctx)
{
	const struct opts *o = vctx;
	int rc = synth_write(o->dir, &o->spec);
	if (rc)
		fprintf(stderr, "bench-prune: %s: %s\n", o->dir, synth_strerror(rc));
	return rc;
}

/* A random MLP policy for (hidden, ffn) at path. */
static int write_policy(const char *path, int hidden, int ffn)
{
	static struct checkpoint_model trained = {"synthetic", "llama", 0, 0, 1};
	static double ratios[1] = {RATIO};
	struct checkpoint_info in = {.arch = CHECKPOINT_ARCH_MLP, .n_features = ROWFEAT_COUNT,
				     .n_hidden = 16, .hidden = hidden, .ffn = ffn,
				     .trained_on = &trained, .n_trained_on = 1, .ratios = ratios,
				     .n_ratios = 1, .episodes = 1};
	trained.hidden = hidden;
	trained.ffn = ffn;
	snprintf(in.reward, sizeof in.reward, "neg-ks");
	struct pcg32 rng;
	pcg32_seed(&rng, 1, 2);
	struct policy *p = NULL;
	if (policy_new(&p, ROWFEAT_COUNT, 16, &rng))
		return -1;
	int rc = checkpoint_save_mlp(path, p, &in);
	policy_free(p);
	return rc;
}

/* A text of printable bytes long enough for n byte tokens (the synthetic tokenizer is
 * byte-level: one token per byte). */
static int write_text(const char *path, long n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	struct pcg32 rng;
	pcg32_seed(&rng, 5, 6);
	for (long i = 0; i < n + 16; i++)
		fputc(i % 61 == 60 ? '\n' : 'a' + (int)pcg32_bounded(&rng, 26), f);
	return fclose(f);
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	*o = (struct opts){.methods = "random,magnitude,ken,policy,wanda,probe,default", .repeat = 3,
			   .calib_tokens = 2048, .probe_tokens = 2048};
	synth_spec_7b(&o->spec);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long x = 0;
		char *end = NULL;
		if (!strcmp(a, "--keep")) {
			o->keep = true;
			continue;
		}
		if (!v)
			goto bad;
		i++;
		if (!strcmp(a, "--dir")) {
			o->dir = v;
			continue;
		}
		if (!strcmp(a, "--methods")) {
			o->methods = v;
			continue;
		}
		x = strtol(v, &end, 10);
		if (*end || x < 1 || x > (1L << 30))
			goto bad;
		if (!strcmp(a, "--repeat") && x <= MAX_REPEAT)
			o->repeat = (int)x;
		else if (!strcmp(a, "--calib-tokens"))
			o->calib_tokens = x;
		else if (!strcmp(a, "--probe-tokens") && x >= 2)
			o->probe_tokens = x;
		else if (!strcmp(a, "--hidden"))
			o->spec.hidden = (int)x;
		else if (!strcmp(a, "--ffn"))
			o->spec.ffn = (int)x;
		else if (!strcmp(a, "--layers-total"))
			o->spec.n_layers = (int)x;
		else if (!strcmp(a, "--heads"))
			o->spec.n_heads = o->spec.n_kv_heads = (int)x;
		else if (!strcmp(a, "--vocab"))
			o->spec.vocab = (int)x;
		else
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "usage: bench-prune [--dir DIR] [--keep] [--methods LIST] [--repeat N]\n"
			"                   [--calib-tokens N] [--probe-tokens N] [--hidden H] [--ffn F]\n"
			"                   [--layers-total L] [--heads A] [--vocab V]\n");
	return 1;
}

/* Median seconds and largest peak of n runs. */
static struct run summarise(struct run *r, int n, double *noise)
{
	double t[MAX_REPEAT];
	struct run s = {0};
	for (int i = 0; i < n; i++) {
		t[i] = r[i].secs;
		if (r[i].peak > s.peak)
			s.peak = r[i].peak;
	}
	s.secs = bench_median(t, n, noise);
	return s;
}

/* n runs of fn, each followed by removing `cleanup` (a file or a directory tree). */
static int timed(const char *what, int (*fn)(void *), void *ctx, const char *cleanup, int n,
		 struct run *out)
{
	struct run r[MAX_REPEAT];
	for (int i = 0; i < n; i++) {
		if (bench_in_child(fn, ctx, &r[i].secs, &r[i].peak)) {
			fprintf(stderr, "bench-prune: %s failed\n", what);
			util_remove_tree(cleanup);
			return -1;
		}
		util_remove_tree(cleanup);
	}
	double noise;
	*out = summarise(r, n, &noise);
	printf("%-26s median %8.2f s over %d (spread %4.0f%%)   peak RSS %8.1f MiB\n", what,
	       out->secs, n, 100 * noise, (double)out->peak / MIB);
	return 0;
}

/* Every method of o->methods against the copy references. */
static int run_methods(const struct opts *o, const char *root, const struct run *cp,
		       const struct run *cps)
{
	char out[4096], pol[4096], text[4096], list[256];
	if (util_join(out, sizeof out, root, "out") ||
	    util_join(pol, sizeof pol, root, "policy.safetensors") ||
	    util_join(text, sizeof text, root, "calib.txt") ||
	    write_policy(pol, o->spec.hidden, o->spec.ffn) || write_text(text, o->calib_tokens)) {
		fprintf(stderr, "bench-prune: cannot write the policy or the calibration text\n");
		return -1;
	}
	printf("\n%-10s %-8s %10s %12s %10s %12s\n", "method", "gran", "seconds", "peak RSS MiB",
	       "/ cp", "/ cp+fsync");
	snprintf(list, sizeof list, "%s", o->methods);
	for (char *save = NULL, *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		bool slow = strcmp(m, "random") && strcmp(m, "magnitude");
		bool shipped = !strcmp(m, "default"); /* the shipped policy: NULL finds it */
		struct prune_job j = {.o = {.model = o->dir, .out = out, .ratio = RATIO,
					    .select = {.method = shipped ? "policy" : m,
						       .policy = shipped ? NULL : pol, .calib = text,
						       .calib_tokens = o->calib_tokens,
						       .probe_tokens = o->probe_tokens, .norm_p = 1,
						       .granularity = strcmp(m, "ken")
									      ? PRUNE_GRANULARITY_ROWS
									      : PRUNE_GRANULARITY_WEIGHTS}}};
		struct run r;
		char what[64];
		snprintf(what, sizeof what, "prune %s", m);
		if (timed(what, prune_run, &j, out, slow ? 1 : o->repeat, &r))
			return -1;
		printf("%-10s %-8s %10.2f %12.1f %10.2f %12.2f\n", m,
		       prune_granularity_name(j.o.select.granularity), r.secs, (double)r.peak / MIB,
		       r.secs / cp->secs, r.secs / cps->secs);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_args(&o, argc, argv))
		return 1;
	char root[4096], dir[4096], src[4096], dst[4096];
	if (bench_temp_dir(root, sizeof root, "yopo-bench-prune"))
		return 1;
	bool wrote = false;
	int status = 1;
	if (!o.dir) {
		if (util_join(dir, sizeof dir, root, "model"))
			goto out;
		o.dir = dir;
	}
	if (util_join(src, sizeof src, o.dir, "model.safetensors") ||
	    util_join(dst, sizeof dst, root, "copy.safetensors"))
		goto out;
	struct stat sb;
	if (stat(src, &sb) != 0) {
		struct statvfs vfs;
		if (statvfs(root, &vfs) == 0 && (double)vfs.f_bavail * (double)vfs.f_frsize < 2.2 * 13.5 * GB &&
		    o.spec.hidden == 4096) {
			printf("bench-prune: SKIP: not enough free disk for the checkpoint and a copy\n");
			status = 77;
			goto out;
		}
		struct run w;
		printf("writing the synthetic checkpoint into %s\n", o.dir);
		if (bench_in_child(write_model, &o, &w.secs, &w.peak))
			goto out;
		wrote = true;
		printf("synth_write %.1f s, peak RSS %.1f MiB\n", w.secs, (double)w.peak / MIB);
		if (stat(src, &sb) != 0)
			goto out;
	}
	printf("checkpoint %s: %.2f GB, %d layers, hidden %d, ffn %d\n", o.dir, (double)sb.st_size / GB,
	       o.spec.n_layers, o.spec.hidden, o.spec.ffn);
	struct copy_job warm = {src, dst, false}, sync = {src, dst, true};
	struct run cp, cps, ignored;
	/* page-cache warm-up, not timed */
	if (bench_in_child(copy_file, &warm, &ignored.secs, &ignored.peak))
		goto out;
	unlink(dst);
	if (timed("cp (reference)", copy_file, &warm, dst, o.repeat, &cp) ||
	    timed("cp + fsync (reference)", copy_file, &sync, dst, o.repeat, &cps) ||
	    run_methods(&o, root, &cp, &cps))
		goto out;
	status = 0;
out:
	if (wrote && !o.keep)
		util_remove_tree(o.dir);
	else if (wrote)
		printf("kept %s\n", o.dir);
	char path[4200];
	if (!util_join(path, sizeof path, root, "policy.safetensors"))
		unlink(path);
	if (!util_join(path, sizeof path, root, "calib.txt"))
		unlink(path);
	rmdir(root); /* fails, harmlessly, when it holds a kept checkpoint */
	return status;
}
