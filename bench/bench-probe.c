/* bench-probe: probe_sample's time for 2048 probe tokens on tinystories-instruct-3m, sampled one
 * sequence at a time (lanes 1: one forward per token) against 16 lockstep lanes (one forward per
 * step for all lanes), at one thread and at the default thread count; then the same on a synthetic
 * F16 Llama (synth.h, 4 layers, hidden 512) opened MODEL_WEIGHTS_MAPPED_F32, where every forward
 * converts every layer to f32 (the 7B route, scaled down), 512 tokens; then one 16-lane step on two
 * layers of the 7B shape, F16 multiplied directly against converted first (bench_7b_step). REPS
 * repetitions, median and noise = (max - min) / median. Exits 77 when ../shared ($YOPO_SHARED)
 * is absent. */
#include <stdio.h>
#include <stdlib.h>
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

enum { REPS = 3, TOKENS = 2048, SYNTH_TOKENS = 512 };

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

/* Median seconds of one step of `lanes` lanes (STEPS steps per repetition) through m, F16
 * matrices multiplied directly or each layer converted to f32 first. */
static double time_steps(const struct model *m, int lanes, bool direct, double *noise)
{
	enum { MAX_LANES = 16, STEPS = 4 };
	double t[REPS];
	int tok[MAX_LANES], lane[MAX_LANES], pos[MAX_LANES];
	float *logits = malloc((size_t)MAX_LANES * (size_t)m->cfg.vocab * sizeof *logits);
	struct forward *f = NULL;
	if (!logits || forward_new_lanes(&f, m, STEPS, lanes)) {
		fprintf(stderr, "bench-probe: out of memory\n");
		exit(1);
	}
	forward_set_keep_pages(f, true); /* as probe sampling does when the file fits */
	forward_set_f16_direct(f, direct);
	for (int r = 0; r < REPS; r++) {
		double t0 = util_now();
		for (int s = 0; s < STEPS; s++) {
			for (int l = 0; l < lanes; l++)
				tok[l] = 1 + (l * 7 + s) % 100, lane[l] = l, pos[l] = s;
			if (forward_run_lanes(f, logits, tok, lane, pos, lanes)) {
				fprintf(stderr, "bench-probe: forward failed\n");
				exit(1);
			}
		}
		t[r] = (util_now() - t0) / STEPS;
	}
	forward_free(f);
	free(logits);
	return bench_median(t, REPS, noise);
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
	model_close(m);
	return util_remove_tree(tmp) ? 1 : 0;
}

int main(void)
{
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
	return bench_synth() || bench_7b_step();
}
