/* bench-probe: probe_sample's time for 2048 probe tokens on tinystories-instruct-3m, sampled one
 * sequence at a time (lanes 1: one forward per token) against 16 lockstep lanes (one forward per
 * step for all lanes), at one thread and at the default thread count; then the same on a synthetic
 * F16 Llama (synth.h, 4 layers, hidden 512) opened MODEL_WEIGHTS_MAPPED_F32, where every forward
 * converts every layer to f32 (the 7B route, scaled down), 512 tokens. REPS repetitions, median
 * and noise = (max - min) / median. Exits 77 when ../shared ($YOPO_SHARED) is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "file.h"
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

static int bench_synth(void)
{
	char tmp[1024], dir[1100], err[ERR_MAX];
	struct synth_spec spec;
	struct model *m = NULL;
	synth_spec_default(&spec, CONFIG_FAMILY_LLAMA);
	spec.n_layers = 4;
	spec.hidden = 512;
	spec.ffn = 1376;
	spec.n_heads = spec.n_kv_heads = 8;
	spec.vocab = 4096;
	spec.max_pos = 512;
	spec.dtype = SAFETENSORS_DTYPE_F16;
	if (bench_temp_dir(tmp, sizeof tmp, "bench-probe"))
		return 1;
	snprintf(dir, sizeof dir, "%s/m", tmp);
	if (synth_write(dir, &spec) ||
	    model_open_weights(&m, dir, MODEL_WEIGHTS_MAPPED_F32, err, sizeof err)) {
		fprintf(stderr, "bench-probe: synthetic model failed\n");
		return 1;
	}
	printf("\n# synthetic F16 llama (4 x 512, ffn 1376, vocab 4096), mapped, %d tokens, seq_len "
	       "%d\n| threads | lanes | seconds | noise | sequences |\n|---|---|---|---|---|\n",
	       SYNTH_TOKENS, 256);
	table_rows(m, SYNTH_TOKENS, threads_apply(1));
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
	return bench_synth();
}
