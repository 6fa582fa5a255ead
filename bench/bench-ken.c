/* bench-ken: KEN's row selection (ken_weights) at the Llama-2-7B FFN row lengths, ratio
 * 0.3 — up/gate rows (n = 4096 hidden inputs) and down rows (n = 11008) — by its two density
 * routes: the FFT grid sums (kde.h, the default, order made exact) and the direct windowed sums
 * (O(n * k) exp() per row, the route before), on one thread and on the worker pool's threads;
 * with magnitude's selection of the same rows (scorers_magnitude_weights) as the reference
 * measured in the same run. Both routes must keep the same weights (checked, exit 1 if not).
 * Extrapolates to the 32 layers of the 7B shape (per layer 2 x 11008 up/gate rows and 4096 down
 * rows). REPS repetitions, median, noise = (max - min) / median.
 * Usage: bench-ken [--threads T] (default: the online CPUs) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ken.h"
#include "pcg32.h"
#include "pool.h"
#include "scorers.h"
#include "timing.h"

enum { REPS = 3, ROWS = 64, DIRECT_ROWS = 4, LAYERS = 32, HIDDEN = 4096, FFN = 11008 };
enum route { FAST, FAST_1T, DIRECT_1T, MAGNITUDE, N_ROUTES };

static const char *const route_name[N_ROUTES] = {"KEN fft", "KEN fft 1 thread",
						 "KEN direct 1 thread", "magnitude"};

/* Median seconds per row of route r on `rows` rows of n weights. */
static double per_row(enum route r, const float *w, unsigned char *mask, int rows, int n,
		      int threads, double *noise)
{
	double t[REPS];
	pool_set_threads(r == FAST ? threads : 1);
	ken_set_fast(r != DIRECT_1T);
	for (int i = 0; i < REPS; i++) {
		double t0 = util_now();
		int rc = r == MAGNITUDE ? scorers_magnitude_weights(mask, w, rows, n, 0.3)
					: ken_weights(mask, w, rows, n, 0.3);
		if (rc) {
			fprintf(stderr, "bench-ken: scorer failed (%d)\n", rc);
			exit(1);
		}
		t[i] = (util_now() - t0) / rows;
	}
	return bench_median(t, REPS, noise);
}

/* The two routes keep the same weights on the first DIRECT_ROWS rows. */
static void check_same(const float *w, unsigned char *mask, int n)
{
	unsigned char *direct = malloc((size_t)DIRECT_ROWS * n);
	if (!direct)
		exit(1);
	ken_set_fast(true);
	int rc = ken_weights(mask, w, DIRECT_ROWS, n, 0.3);
	ken_set_fast(false);
	rc = rc ? rc : ken_weights(direct, w, DIRECT_ROWS, n, 0.3);
	ken_set_fast(true);
	if (rc || memcmp(mask, direct, (size_t)DIRECT_ROWS * n)) {
		fprintf(stderr, "bench-ken: the FFT and direct routes disagree at n = %d\n", n);
		exit(1);
	}
	free(direct);
}

int main(int argc, char **argv)
{
	int threads = 0;
	if (argc == 3 && !strcmp(argv[1], "--threads"))
		threads = atoi(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: bench-ken [--threads T]\n");
		return 2;
	}
	threads = pool_set_threads(threads);
	const int lens[2] = {HIDDEN, FFN};
	const double rows_per_layer[2] = {2.0 * FFN, HIDDEN};
	float *w = malloc((size_t)ROWS * FFN * sizeof *w);
	unsigned char *mask = malloc((size_t)ROWS * FFN);
	if (!w || !mask)
		return 1;
	struct pcg32 g;
	pcg32_seed(&g, 1, 1);
	for (size_t i = 0; i < (size_t)ROWS * FFN; i++)
		w[i] = (float)(0.02 * pcg32_normal(&g));
	printf("# bench-ken: seconds per row at ratio 0.3, median of %d, pool threads %d\n"
	       "| row length | route | s per row | noise | / magnitude | 7B selection |\n"
	       "|---|---|---|---|---|---|\n", REPS, threads);
	double total[N_ROUTES] = {0};
	for (int i = 0; i < 2; i++) {
		check_same(w, mask, lens[i]);
		double s[N_ROUTES], noise[N_ROUTES];
		for (int r = N_ROUTES - 1; r >= 0; r--) {
			int rows = r == DIRECT_1T ? DIRECT_ROWS : ROWS;
			s[r] = per_row((enum route)r, w, mask, rows, lens[i], threads, &noise[r]);
			total[r] += s[r] * rows_per_layer[i] * LAYERS;
		}
		for (int r = 0; r < N_ROUTES; r++)
			printf("| %d | %s | %.6f | %.2f | %.2fx | %.0f s |\n", lens[i], route_name[r], s[r],
			       noise[r], s[r] / s[MAGNITUDE], s[r] * rows_per_layer[i] * LAYERS);
	}
	printf("7B shape, %d layers, selection alone: KEN fft %.0f s (%d threads), %.0f s (1 thread); "
	       "KEN direct %.0f s (%.1f h); magnitude %.0f s; direct / fft (1 thread) %.0fx\n",
	       LAYERS, total[FAST], threads, total[FAST_1T], total[DIRECT_1T],
	       total[DIRECT_1T] / 3600, total[MAGNITUDE], total[DIRECT_1T] / total[FAST_1T]);
	free(mask);
	free(w);
	return 0;
}
