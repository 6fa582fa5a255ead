/* bench-probe: probe_sample's time for 2048 probe tokens on tinystories-instruct-3m, sampled one
 * sequence at a time (lanes 1: one forward per token) against 16 lockstep lanes (one forward per
 * step for all lanes), at one thread and at the default thread count; then the same on a synthetic
 * F16 Llama (synth.h, 4 layers, hidden 512) opened MODEL_WEIGHTS_MAPPED_F32, where every forward
 * converts every layer to f32 (the 7B route, scaled down), 512 tokens; then one 16-lane step on two
 * layers of the 7B shape, F16 multiplied directly against converted first (bench_7b_step), and the
 * same direct step with the mapped pages kept between steps against evicted after each layer and
 * prefetched before it, and evicted without prefetch (bench_7b_pages); then probe_sample of 2048
 * tokens in 16 lanes on two 7B-shaped layers with f32 KV caches against F16 ones (bench_7b_kv).
 * REPS repetitions (the pages table: PAGE_REPS, its three modes interleaved; the KV table: its two
 * modes interleaved), median and noise = (max - min) / median.
 * `--kv` runs the KV table alone. Exits 77 when ../shared ($YOPO_SHARED) is absent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "file.h"
#include "forward.h"
#include "model.h"
#include "probe.h"
#include "synth.h"
#include "threads.h"
#include "timing.h"

enum { REPS = 3, PAGE_REPS = 7, TOKENS = 2048, SYNTH_TOKENS = 512, MAX_LANES = 16, STEPS = 4 };

/* Median seconds of REPS probe_sample runs with `lanes` lanes; *n_seqs its sequence count. */
static double time_sample(const struct model *m, int tokens, int lanes, int *n_seqs,
			  double *noise)
{
	double t[REPS];
	char err[ERR_MAX];
	for (int r = 0; r < REPS; r++) {
		struct probe *p = NULL;
		double t0 = util_now();
		if (probe_sample(&p, m, tokens, 0, 0, lanes, err, sizeof err)) {
			fprintf(stderr, "bench-probe: %s\n", err);
			exit(1);
		}
		t[r] = util_now() - t0;
		*n_seqs = p->n_seqs;
		probe_free(p);
	}
	return bench_median(t, REPS, noise);
}

/* The synthetic F16 model, mapped: lanes 1 vs 16 at one thread. */
/* The table rows of one thread count: lanes 1 and 16. */
static void table_rows(const struct model *m, int tokens, int threads)
{
	for (int lanes = 1; lanes <= 16; lanes += 15) {
		int n_seqs = 0;
		double noise, s = time_sample(m, tokens, lanes, &n_seqs, &noise);
		printf("| %d | %d | %.3f | %.2f | %d |\n", threads, lanes, s, noise, n_seqs);
		fflush(stdout);
	}
}

/* Writes spec's checkpoint under a new temp dir (its path into tmp) and opens it mapped. */
static struct model *open_synth(const struct synth_spec *spec, char *tmp, size_t cap)
{
	char dir[1100], err[ERR_MAX];
	struct model *m = NULL;
	if (bench_temp_dir(tmp, cap, "bench-probe"))
		return NULL;
	snprintf(dir, sizeof dir, "%s/m", tmp);
	if (synth_write(dir, spec) ||
	    model_open_weights(&m, dir, MODEL_WEIGHTS_MAPPED_F32, err, sizeof err)) {
		fprintf(stderr, "bench-probe: synthetic model failed\n");
		return NULL;
	}
	return m;
}

static int bench_synth(void)
{
	char tmp[1024];
	struct synth_spec spec;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.n_layers = 4;
	spec.hidden = 512;
	spec.ffn = 1376;
	spec.n_heads = spec.n_kv_heads = 8;
	spec.vocab = 4096;
	spec.max_pos = 512;
	spec.dtype = SAFETENSORS_DTYPE_F16;
	struct model *m = open_synth(&spec, tmp, sizeof tmp);
	if (!m)
		return 1;
	printf("\n# synthetic F16 llama (4 x 512, ffn 1376, vocab 4096), mapped, %d tokens, seq_len "
	       "%d\n| threads | lanes | seconds | noise | sequences |\n|---|---|---|---|---|\n",
	       SYNTH_TOKENS, 256);
	table_rows(m, SYNTH_TOKENS, threads_apply(1));
	model_close(m);
	return util_remove_tree(tmp) ? 1 : 0;
}

/* Seconds per step of `steps` lockstep steps of `lanes` lanes through f (positions 0..steps-1). */
static double run_steps(struct forward *f, float *logits, int lanes, int steps)
{
	int tok[MAX_LANES], lane[MAX_LANES], pos[MAX_LANES];
	double t0 = util_now();
	for (int s = 0; s < steps; s++) {
		for (int l = 0; l < lanes; l++)
			tok[l] = 1 + (l * 7 + s) % 100, lane[l] = l, pos[l] = s;
		if (forward_run_lanes(f, logits, tok, lane, pos, lanes)) {
			fprintf(stderr, "bench-probe: forward failed\n");
			exit(1);
		}
	}
	return (util_now() - t0) / steps;
}

/* A forward of `lanes` lanes over STEPS positions and its logits buffer; exits when out of memory. */
static struct forward *new_steps(const struct model *m, int lanes, float **logits)
{
	struct forward *f = NULL;
	*logits = malloc((size_t)MAX_LANES * (size_t)m->cfg.vocab * sizeof **logits);
	if (!*logits || forward_new_lanes(&f, m, STEPS, lanes)) {
		fprintf(stderr, "bench-probe: out of memory\n");
		exit(1);
	}
	return f;
}

/* Median seconds of one step of `lanes` lanes (STEPS steps per repetition) through m, pages kept,
 * F16 matrices multiplied directly or each layer converted to f32 first. */
static double time_steps(const struct model *m, int lanes, bool direct, double *noise)
{
	double t[REPS];
	float *logits;
	struct forward *f = new_steps(m, lanes, &logits);
	forward_set_keep_pages(f, true);
	forward_set_f16_direct(f, direct);
	for (int r = 0; r < REPS; r++)
		t[r] = run_steps(f, logits, lanes, STEPS);
	forward_free(f);
	free(logits);
	return bench_median(t, REPS, noise);
}

/* How a step treats the stored layers' pages: kept mapped between steps, evicted after each layer
 * and prefetched before it (the default), evicted and faulted in as the products read them. */
enum pages { PAGES_KEPT, PAGES_PREFETCHED, PAGES_FAULTED, PAGES_MODES };

/* MiB of file-backed resident memory of this process (RssFile), -1 if unknown. */
static long rss_file_mib(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (fp && fgets(line, sizeof line, fp))
		if (sscanf(line, "RssFile: %ld kB", &kb) == 1)
			break;
	if (fp)
		fclose(fp);
	return kb < 0 ? -1 : kb / 1024;
}

/* sec[mode], noise[mode]: median seconds of one direct step of `lanes` lanes in each pages mode,
 * the modes interleaved in every repetition (one untimed step first puts the pages in the mode's
 * state: all mapped, or evicted), so load drifts hit all three alike; rss[mode] the RssFile after
 * the mode's last repetition. */
static void time_pages(const struct model *m, int lanes, double *sec, double *noise, long *rss)
{
	double t[PAGES_MODES][PAGE_REPS];
	float *logits;
	struct forward *f = new_steps(m, lanes, &logits);
	for (int r = 0; r < PAGE_REPS; r++)
		for (int p = 0; p < PAGES_MODES; p++) {
			forward_set_keep_pages(f, p == PAGES_KEPT);
			forward_set_prefetch(f, p == PAGES_PREFETCHED);
			run_steps(f, logits, lanes, 1);
			t[p][r] = run_steps(f, logits, lanes, STEPS);
			rss[p] = rss_file_mib();
		}
	for (int p = 0; p < PAGES_MODES; p++)
		sec[p] = bench_median(t[p], PAGE_REPS, &noise[p]);
	forward_free(f);
	free(logits);
}

/* The direct step of m (two 7B-shaped layers) with its pages kept, evicted and prefetched, evicted
 * and faulted in (time_pages), 1 lane and 16, and the file-backed RSS each leaves. */
static void bench_7b_pages(const struct model *m, int threads)
{
	printf("\n# the same, F16 direct: mapped pages kept between steps vs evicted after each layer "
	       "(+ prefetched before it, or faulted in), %d threads, median of %d, modes interleaved\n"
	       "| lanes | kept, s/step | noise | evicted + prefetch, s/step | noise | evicted, "
	       "s/step | noise | prefetch / kept | evicted / kept | RssFile MiB kept / prefetch / "
	       "evicted |\n|---|---|---|---|---|---|---|---|---|---|\n", threads, PAGE_REPS);
	for (int lanes = 1; lanes <= 16; lanes += 15) {
		double s[PAGES_MODES], n[PAGES_MODES];
		long rss[PAGES_MODES];
		time_pages(m, lanes, s, n, rss);
		printf("| %d | %.3f | %.2f | %.3f | %.2f | %.3f | %.2f | %.2fx | %.2fx | %ld / %ld / %ld "
		       "|\n", lanes, s[PAGES_KEPT], n[PAGES_KEPT], s[PAGES_PREFETCHED],
		       n[PAGES_PREFETCHED], s[PAGES_FAULTED], n[PAGES_FAULTED],
		       s[PAGES_PREFETCHED] / s[PAGES_KEPT], s[PAGES_FAULTED] / s[PAGES_KEPT],
		       rss[PAGES_KEPT], rss[PAGES_PREFETCHED], rss[PAGES_FAULTED]);
		fflush(stdout);
	}
}

/* Two layers of the Llama-2-7B shape (F16, vocab 32000), mapped: one decoding step (1 lane) and
 * one 16-lane sampling step with the F16 matrices multiplied directly against the same step
 * converting each layer to f32 first (the route before matmul_nt_f16), in the same run. Per step
 * this is 2/32 of a 7B step's layers plus the full LM head. */
static int bench_7b_step(void)
{
	char tmp[1024];
	struct synth_spec spec;
	synth_spec_7b(&spec);
	spec.n_layers = 2;
	struct model *m = open_synth(&spec, tmp, sizeof tmp);
	if (!m)
		return 1;
	int threads = threads_apply(0);
	printf("\n# 2 layers of the 7B shape (F16, vocab 32000), mapped, %d threads, median of %d\n"
	       "| lanes | convert each layer to f32, s/step | noise | F16 direct (matmul_nt_f16), "
	       "s/step | noise | convert / direct |\n|---|---|---|---|---|---|\n", threads, REPS);
	for (int lanes = 1; lanes <= 16; lanes += 15) {
		double nc, nd, conv = time_steps(m, lanes, false, &nc);
		double direct = time_steps(m, lanes, true, &nd);
		printf("| %d | %.3f | %.2f | %.3f | %.2f | %.2fx |\n", lanes, conv, nc, direct, nd,
		       conv / direct);
		fflush(stdout);
	}
	bench_7b_pages(m, threads);
	model_close(m);
	return util_remove_tree(tmp) ? 1 : 0;
}

/* probe_sample of TOKENS tokens, 16 lanes, on two 7B-shaped layers (F16, vocab 512 so the layers,
 * not the LM head, make the step) with the sampling KV caches in f32 against F16, interleaved:
 * seconds, the caches' bytes (and at 32 layers), and how many ids the two draw alike. */
static int bench_7b_kv(void)
{
	char tmp[1024], err[ERR_MAX];
	struct synth_spec spec;
	synth_spec_7b(&spec);
	spec.n_layers = 2;
	spec.vocab = 512;
	struct model *m = open_synth(&spec, tmp, sizeof tmp);
	if (!m)
		return 1;
	const struct config *c = &m->cfg;
	double t[2][REPS];
	int same = 0;
	for (int r = 0; r < REPS; r++) {
		struct probe *p[2] = {NULL, NULL};
		for (int k = 0; k < 2; k++) { /* 0: f32 caches, 1: F16 */
			probe_set_kv_f16_min(k ? 0 : SIZE_MAX);
			double t0 = util_now();
			if (probe_sample(&p[k], m, TOKENS, 0, 0, MAX_LANES, err, sizeof err)) {
				fprintf(stderr, "bench-probe: %s\n", err);
				exit(1);
			}
			t[k][r] = util_now() - t0;
		}
		for (same = 0; same < TOKENS && p[0]->ids[same] == p[1]->ids[same]; same++)
			;
		probe_free(p[0]);
		probe_free(p[1]);
	}
	probe_set_kv_f16_min(PROBE_KV_F16_MIN);
	double n32, n16, s32 = bench_median(t[0], REPS, &n32), s16 = bench_median(t[1], REPS, &n16);
	int positions = (TOKENS + MAX_LANES - 1) / MAX_LANES + 1;
	double per_layer = (double)MAX_LANES * positions * 2.0 * c->n_kv_heads * c->head_dim * 4;
	printf("\n# probe_sample, %d tokens, %d lanes, 2 layers of the 7B shape (F16, vocab %d), %d "
	       "threads, median of %d, KV modes interleaved\n| KV caches | seconds | noise | cache MB "
	       "(2 layers) | cache MB at 32 layers |\n|---|---|---|---|---|\n", TOKENS, MAX_LANES,
	       c->vocab, threads_apply(0), REPS);
	printf("| f32 | %.3f | %.2f | %.0f | %.0f |\n", s32, n32, 2 * per_layer / 1e6,
	       32 * per_layer / 1e6);
	printf("| F16 | %.3f | %.2f | %.0f | %.0f |\n", s16, n16, per_layer / 1e6,
	       16 * per_layer / 1e6);
	printf("F16 / f32 time %.2fx; the first %d of %d ids drawn alike\n", s16 / s32, same,
	       TOKENS);
	model_close(m);
	return util_remove_tree(tmp) ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--kv")) /* the KV table alone */
		return bench_7b_kv();
	if (argc > 1) {
		fprintf(stderr, "usage: bench-probe [--kv]\n");
		return 2;
	}
	const char *shared = getenv("YOPO_SHARED");
	char dir[1024], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/models/tinystories-instruct-3m", shared ? shared : "../shared");
	if (access(dir, R_OK))
		return 77;
	struct model *m = NULL;
	if (model_open(&m, dir, err, sizeof err)) {
		fprintf(stderr, "bench-probe: %s\n", err);
		return 1;
	}
	printf("# bench-probe: probe_sample of %d tokens, %s, median of %d\n", TOKENS, dir, REPS);
	printf("| threads | lanes | seconds | noise | sequences |\n|---|---|---|---|---|\n");
	int counts[2] = {1, 0};
	for (int i = 0; i < 2; i++) {
		table_rows(m, TOKENS, threads_apply(counts[i]));
	}
	model_close(m);
	return bench_synth() || bench_7b_step() || bench_7b_kv();
}
