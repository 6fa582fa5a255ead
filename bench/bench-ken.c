/* bench-ken: why KEN is not run at 7B. Times KEN's row selection (scorers_ken_weights, O(n*k)
 * kernel terms per row) on Gaussian rows of the two Llama-2-7B FFN row lengths at ratio 0.3 —
 * up/gate rows (n = 4096 hidden inputs) and down rows (n = 11008) — against magnitude's selection
 * of the same rows (scorers_magnitude_weights) measured in the same run, and extrapolates both to
 * the 32 layers of the 7B shape (per layer 2 x 11008 up/gate rows and 4096 down rows), one thread.
 * ROWS rows per timing, REPS repetitions, median and noise = (max - min) / median. */
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "pcg32.h"
#include "scorers.h"
#include "timing.h"

enum { REPS = 3, ROWS = 4, LAYERS = 32, HIDDEN = 4096, FFN = 11008 };

/* Median seconds per row of `ken` or magnitude on ROWS rows of n Gaussian weights. */
static double per_row(const float *w, unsigned char *mask, int n, int ken, double *noise)
{
	double t[REPS];
	for (int r = 0; r < REPS; r++) {
		double t0 = util_now();
		int rc = ken ? scorers_ken_weights(mask, w, ROWS, n, 0.3)
			     : scorers_magnitude_weights(mask, w, ROWS, n, 0.3);
		if (rc) {
			fprintf(stderr, "bench-ken: scorer failed (%d)\n", rc);
			exit(1);
		}
		t[r] = (util_now() - t0) / ROWS;
	}
	return bench_median(t, REPS, noise);
}

int main(void)
{
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
	printf("# bench-ken: seconds per row at ratio 0.3, one thread, median of %d\n"
	       "| row length | KEN | noise | magnitude | noise | KEN / magnitude |\n"
	       "|---|---|---|---|---|---|\n", REPS);
	double ken_total = 0, mag_total = 0;
	for (int i = 0; i < 2; i++) {
		double nk, nm, k = per_row(w, mask, lens[i], 1, &nk);
		double m = per_row(w, mask, lens[i], 0, &nm);
		printf("| %d | %.4f | %.2f | %.6f | %.2f | %.0fx |\n", lens[i], k, nk, m, nm, k / m);
		ken_total += k * rows_per_layer[i] * LAYERS;
		mag_total += m * rows_per_layer[i] * LAYERS;
	}
	printf("7B shape, %d layers, selection alone: KEN %.0f s (%.1f h), magnitude %.1f s\n", LAYERS,
	       ken_total, ken_total / 3600, mag_total);
	free(mask);
	free(w);
	return 0;
}
