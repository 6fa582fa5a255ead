/* threads: the one thread setting of a yopo process (--threads N on every command). It sets the
 * matmul worker pool (which also holds oneDNN's OpenMP runtime at one thread, model/matmul.h) and
 * OpenBLAS (env/linalg.h) to the same count, so no two runtimes spin against each other. */
#ifndef YOPO_THREADS_H
#define YOPO_THREADS_H

/* n < 1: the number of online CPUs. Returns the count in effect. Call before any work. */
int threads_apply(int n);

#endif
