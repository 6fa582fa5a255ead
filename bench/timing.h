/* timing: the statistics every speed benchmark reports the same way — the median of its
 * repetitions and their spread — so bench-eval, bench-generate and bench-matmul agree on what
 * "median" and "noise" mean. */
#ifndef YOPO_BENCH_TIMING_H
#define YOPO_BENCH_TIMING_H

/* Sorts v (n >= 1) in place; returns its median v[n / 2] and sets *noise to the spread
 * (max - min) / median. */
double bench_median(double *v, int n, double *noise);

#endif
