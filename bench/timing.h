/* timing: the statistics every speed benchmark reports the same way — the median of its
 * repetitions and their spread — so bench-eval, bench-generate and bench-matmul agree on what
 * "median" and "noise" mean; and the forked-child run (wall time, peak RSS) and temp-directory
 * setup bench-prune, bench-memory and bench-evalnative share. */
#ifndef YOPO_BENCH_TIMING_H
#define YOPO_BENCH_TIMING_H

#include <stddef.h>

/* Sorts v (n >= 1) in place; returns its median v[n / 2] and sets *noise to the spread
 * (max - min) / median. */
double bench_median(double *v, int n, double *noise);

/* Runs fn(ctx) in a forked child, so its memory is measured on its own; the child's exit status
 * is fn's (0 = success). *secs receives its wall time, *peak its peak RSS in bytes (wait4).
 * Returns 0 if it exited 0, else -1 (fork and wait4 failures are printed). */
int bench_in_child(int (*fn)(void *), void *ctx, double *secs, size_t *peak);

/* A fresh directory $TMPDIR/prefix-XXXXXX (/tmp when TMPDIR is unset or empty) into buf.
 * Returns 0, or -1 after printing why. */
int bench_temp_dir(char *buf, size_t cap, const char *prefix);

#endif
