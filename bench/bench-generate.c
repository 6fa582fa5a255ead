/* bench-generate: greedy decoding tokens/s of yopo (generate_greedy, default threads) against the
 * naive llama2.c-style forward (naive.h) on the shared models, same weights, same run.
 *
 * Both decode a fixed number of tokens from BOS (no EOS stop); the naive run's tokens are
 * compared with yopo's so a wrong forward pass cannot look fast. REPS repetitions, interleaved;
 * medians and noise = (max - min) / median. Exits 77 when ../shared ($YOPO_SHARED) is absent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "generate.h"
#include "matmul.h"
#include "model.h"
#include "naive.h"
#include "tokenizer.h"
#include "timing.h"

enum { REPS = 5 };

struct bench_model {
	const char *dir;
	long tokens;	/* generated per run (the context minus BOS and some slack) */
};

static const struct bench_model models[] = {
	{ "models/stories260k", 500 },
	{ "models/tinystories-instruct-3m", 250 },
};

/* Greedy tokens with the naive forward into ids[1..tokens]; returns seconds. */
static double naive_greedy(const struct model *m, const struct tokenizer *tok, int *ids,
			   long tokens)
{
	struct naive *nv = naive_new(m, (int)tokens + 1);
	int V = m->cfg.vocab;
	double t0 = util_now();

	if (!nv)
		return -1;
	for (long p = 0; p < tokens; p++) {
		const float *lg = naive_step(nv, ids[p], (int)p);
		int best = -1;

		for (int i = 0; i < V; i++)
			if (tokenizer_token(tok, i) && (best < 0 || lg[i] > lg[best]))
				best = i;
		ids[p + 1] = best;
	}
	double t = util_now() - t0;
	naive_free(nv);
	return t;
}

static int bench_model(const char *shared, const struct bench_model *b)
{
	char dir[1024], path[1100], err[ERR_MAX];
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	int *ids = NULL, *ref = NULL, rc = -1;
	double ty[REPS], tn[REPS], ny, nn;
	long match = 0;

	snprintf(dir, sizeof dir, "%s/%s", shared, b->dir);
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	if (model_open(&m, dir, err, sizeof err) || tokenizer_open(&tok, path)) {
		fprintf(stderr, "bench-generate: %s: cannot open (%s)\n", dir, err);
		goto out;
	}
	int bos = m->cfg.bos_id >= 0 ? m->cfg.bos_id : tokenizer_bos_id(tok);
	ids = malloc((size_t)(b->tokens + 1) * sizeof *ids);
	ref = malloc((size_t)(b->tokens + 1) * sizeof *ref);
	if (!ids || !ref || bos < 0)
		goto out;
	for (int r = 0; r < REPS; r++) {
		struct generate_result res;

		ids[0] = ref[0] = bos;
		if (generate_greedy(&res, m, tok, -1, ids, 1, b->tokens, NULL, NULL, err, sizeof err)) {
			fprintf(stderr, "bench-generate: %s\n", err);
			goto out;
		}
		ty[r] = res.generated / res.seconds;
		tn[r] = b->tokens / naive_greedy(m, tok, ref, b->tokens);
		if (!(tn[r] > 0))
			goto out;
	}
	while (match < b->tokens && ids[match + 1] == ref[match + 1])
		match++;
	double y = bench_median(ty, REPS, &ny), n = bench_median(tn, REPS, &nn);
	printf("%-24s %6ld | %9.0f %5.0f%% | %9.0f %5.0f%% | %6.2f %-4s | %ld/%ld\n", b->dir + 7,
	       b->tokens, y, 100 * ny, n, 100 * nn, y / n, y >= n ? "ok" : "LOW", match, b->tokens);
	rc = 0;
out:
	free(ids);
	free(ref);
	tokenizer_free(tok);
	model_close(m);
	return rc;
}

int main(void)
{
	const char *shared = getenv("YOPO_SHARED") ? getenv("YOPO_SHARED") : "../shared";
	double load[1];

	if (access(shared, F_OK)) {
		fprintf(stderr, "bench-generate: %s absent, skipping\n", shared);
		return 77;
	}
	matmul_set_threads(0);
	if (getloadavg(load, 1) != 1)
		load[0] = NAN;
	printf("greedy decoding from BOS, threads %d, load average %.2f; medians of %d, "
	       "noise = (max-min)/median\n", matmul_get_threads(), load[0], REPS);
	printf("%-24s %6s | %9s %6s | %9s %6s | %11s | %s\n", "model", "tokens", "yopo tok/s",
	       "noise", "naive tok/s", "noise", "yopo/naive", "same tokens");
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
		if (bench_model(shared, &models[i]))
			return 1;
	return 0;
}
