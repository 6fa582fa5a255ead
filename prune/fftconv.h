/* fftconv: sums of circular convolutions of real sequences, through FFTW (this header's .c file is
 * the only one that includes fftw3.h). KEN's fast density (kde.h) convolves a few binned moment
 * sequences with Gaussian-polynomial kernels; one transform size serves a whole weight matrix.
 *
 * A struct fftconv owns its plans and buffers; plan creation is serialised inside (FFTW's planner
 * is not thread-safe), execution on distinct objects may run concurrently. */
#ifndef YOPO_PRUNE_FFTCONV_H
#define YOPO_PRUNE_FFTCONV_H

struct fftconv;

/* Transforms of size n (n >= 2). Returns 0, or -1 when memory or a plan is not available. */
int fftconv_new(struct fftconv **out, int n);
void fftconv_free(struct fftconv *f); /* NULL: no-op */
int fftconv_size(const struct fftconv *f);

/* out (n) = sum over q < terms of (a_q ⊛ b_q), the circular convolution of length n:
 * out[j] = sum_m a_q[m] * b_q[(j - m) mod n]. a, b: (terms, n) row-major; out may not alias them. */
void fftconv_sum(struct fftconv *f, double *out, const double *a, const double *b, int terms);

/* Smallest size >= n (n >= 1) whose only prime factors are 2, 3 and 5 (FFTW's fast sizes);
 * -1 past INT_MAX / 2. */
int fftconv_good_size(int n);

#endif
