/* bench-eval: eval tokens/s (eval_perplexity at the model's full context) on the shared models:
 * yopo with the default threads vs yopo with one thread vs the naive llama2.c-style forward
 * (naive.h, one token at a time), first as the machine is, then with a busy-loop process this
 * bench forks and pins to the last CPU (killed after). The bar: default >= 0.9x the best
 * of the three in both cases.
 *
 * Each configuration runs REPS times, interleaved; medians and noise = (max - min) / median.
 * The naive run's mean NLL is compared with yopo's so a wrong forward pass cannot look fast.
 * Exits 77 when ../shared ($YOPO_SHARED) is absent. */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "eval.h"
#include "file.h"
#include "forward.h"
#include "matmul.h"
#include "model.h"
#include "naive.h"
#include "tokenizer.h"
#include "timing.h"

enum { REPS = 5, CONFIGS = 3 };

struct bench_model {
	const char *dir;
	size_t windows;	/* full-context windows per run */
};

static const struct bench_model models[] = {
	{ "models/stories260k", 2 },
	{ "models/tinystories-instruct-3m", 2 },
};

struct corpus {
	struct model *m;
	int *ids;
	size_t n;
	int seq;
};

/* Model, BOS + the eval text's ids. */
static int corpus_open(struct corpus *c, const char *shared, const char *model_dir)
{
	char dir[1024], path[1100], err[ERR_MAX] = "";
	struct tokenizer *tok = NULL;
	char *text = NULL;
	int *enc = NULL, rc = -1;
	size_t len, n_enc;

	memset(c, 0, sizeof *c);
	snprintf(dir, sizeof dir, "%s/%s", shared, model_dir);
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	if (model_open(&c->m, dir, err, sizeof err) || tokenizer_open(&tok, path))
		goto out;
	snprintf(path, sizeof path, "%s/data/tinystories-eval.txt", shared);
	if (util_read_file(&text, &len, path, 1 << 26, false, err, sizeof err) ||
	    tokenizer_encode(tok, text, len, &enc, &n_enc) || !(c->ids = malloc((n_enc + 1) * sizeof(int))))
		goto out;
	int bos = c->m->cfg.bos_id >= 0 ? c->m->cfg.bos_id : tokenizer_bos_id(tok);
	c->ids[c->n++] = bos;
	memcpy(c->ids + 1, enc, n_enc * sizeof(int));
	c->n += n_enc;
	c->seq = c->m->cfg.max_pos;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench-eval: %s: cannot load (%s)\n", dir, err);
	free(enc);
	free(text);
	tokenizer_free(tok);
	return rc;
}

/* Tokens/s of eval_perplexity with `threads` threads; *nll its mean NLL. */
static double run_yopo(const struct corpus *c, size_t windows, int threads, double *nll)
{
	struct forward *f = NULL;
	struct eval_result r;
	double tps = -1;

	matmul_set_threads(threads);
	if (forward_new(&f, c->m, c->seq) == 0 &&
	    eval_perplexity(&r, f, c->m, c->ids, c->n, c->seq, windows, NULL, NULL) == 0) {
		tps = r.tokens_per_s;
		*nll = r.nll;
	}
	forward_free(f);
	matmul_set_threads(0);
	return tps;
}

/* The same windows through the naive forward, one token at a time. */
static double run_naive(const struct corpus *c, size_t windows, double *nll)
{
	struct naive *nv = naive_new(c->m, c->seq);
	int V = c->m->cfg.vocab;
	size_t run = 0, predicted = 0;
	double sum = 0, t0 = util_now();

	if (!nv)
		return -1;
	for (size_t w = 0; w < windows && w * c->seq + 1 < c->n; w++) {
		const int *ids = c->ids + w * c->seq;
		size_t left = c->n - w * c->seq;
		int len = left < (size_t)c->seq ? (int)left : c->seq;

		for (int p = 0; p < len; p++) {
			const float *lg = naive_step(nv, ids[p], p);

			if (p + 1 < len) {
				sum += eval_nll_sum(lg, ids + p + 1, 1, V);
				predicted++;
			}
		}
		run += (size_t)len;
	}
	double t = util_now() - t0;
	naive_free(nv);
	*nll = sum / (double)predicted;
	return (double)run / t;
}

/* One table row: every configuration REPS times, interleaved. */
static int bench_row(const struct corpus *c, const struct bench_model *b, const char *scenario)
{
	double tps[CONFIGS][REPS], med[CONFIGS], noise[CONFIGS], nll[CONFIGS] = {0};
	int cores = matmul_set_threads(0);

	for (int r = 0; r < REPS; r++) {
		tps[0][r] = run_yopo(c, b->windows, cores, &nll[0]);
		tps[1][r] = run_yopo(c, b->windows, 1, &nll[1]);
		tps[2][r] = run_naive(c, b->windows, &nll[2]);
		for (int k = 0; k < CONFIGS; k++)
			if (!(tps[k][r] > 0))
				return -1;
	}
	for (int k = 0; k < CONFIGS; k++)
		med[k] = bench_median(tps[k], REPS, &noise[k]);
	double best = fmax(med[0], fmax(med[1], med[2]));
	printf("%-6s %-24s | %8.0f %4.0f%% | %8.0f %4.0f%% | %8.0f %4.0f%% | %5.2f %-4s | %.1e\n",
	       scenario, b->dir + 7, med[0], 100 * noise[0], med[1], 100 * noise[1], med[2],
	       100 * noise[2], med[0] / best, med[0] >= 0.9 * best ? "ok" : "LOW",
	       fabs(nll[0] - nll[2]));
	return fabs(nll[0] - nll[2]) > 1e-3 || fabs(nll[0] - nll[1]) > 1e-5 ? -1 : 0;
}

/* A child spinning on the last CPU; returns its pid or -1. */
static pid_t busy_start(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		cpu_set_t set;
		volatile unsigned long spin = 0;

		CPU_ZERO(&set);
		CPU_SET((int)sysconf(_SC_NPROCESSORS_ONLN) - 1, &set);
		sched_setaffinity(0, sizeof set, &set);
		for (;;)
			spin++;
	}
	return pid;
}

static void busy_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	const char *shared = getenv("YOPO_SHARED") ? getenv("YOPO_SHARED") : "../shared";
	struct corpus cs[sizeof models / sizeof models[0]];
	size_t nm = sizeof models / sizeof models[0];
	double load[1];
	int rc = 1;

	if (access(shared, F_OK)) {
		fprintf(stderr, "bench-eval: %s absent, skipping\n", shared);
		return 77;
	}
	memset(cs, 0, sizeof cs);
	for (size_t i = 0; i < nm; i++)
		if (corpus_open(&cs[i], shared, models[i].dir))
			goto out;
	if (getloadavg(load, 1) != 1)
		load[0] = NAN;
	printf("eval tokens/s at the full context, default threads = %d; load average %.2f before; "
	       "medians of %d, noise = (max-min)/median\n", matmul_set_threads(0), load[0], REPS);
	printf("%-6s %-24s | %14s | %14s | %14s | %10s | %s\n", "load", "model", "default  noise",
	       "1 thread noise", "naive    noise", "def/best", "|dNLL| naive");
	for (size_t i = 0; i < nm; i++)
		if (bench_row(&cs[i], &models[i], "as-is"))
			goto out;
	pid_t busy = busy_start();
	if (busy < 0)
		goto out;
	for (size_t i = 0; i < nm && rc; i++)
		if (bench_row(&cs[i], &models[i], "+busy"))
			rc = 2;
	busy_stop(busy);
	rc = rc == 2 ? 1 : 0;
out:
	for (size_t i = 0; i < nm; i++) {
		free(cs[i].ids);
		model_close(cs[i].m);
	}
	return rc;
}
