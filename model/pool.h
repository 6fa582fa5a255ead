/* pool: the process's one worker pool for the forward pass (matmul kernels, oneDNN calls, attention).
 *
 * Why one pool of our own: oneDNN's OpenMP runtime (libgomp) spins in its barriers and decides its
 * wait policy from the environment when it loads, and it splits work statically, so one thread
 * descheduled by another process stalls every call. Here the workers sleep on a condition
 * variable (passive waiting), chunks are claimed dynamically (a thread on a busy core simply
 * claims fewer), and the caller works too and never waits for a worker that has not started:
 * with every worker descheduled, a job runs at single-thread speed instead of collapsing.
 *
 * A job is n_chunks independent calls fn(ctx, chunk, worker), chunk in [0, n_chunks), worker in
 * [0, pool_get_threads()) identifying the thread (0 = the caller) so per-thread scratch can be
 * indexed by it; two calls never run concurrently with the same worker index within one job.
 * One job at a time: a pool_run from a second thread while a job runs executes inline (worker 0).
 * fn must not call pool_run. */
#ifndef YOPO_POOL_H
#define YOPO_POOL_H

enum {
	POOL_MAX_THREADS = 64,
};

typedef void pool_task_fn(void *ctx, int chunk, int worker);

/* Sets the number of threads jobs may use, the caller included; n < 1 means the number of online
 * CPUs; clamped to POOL_MAX_THREADS. Idle workers are stopped/started lazily by the next job.
 * Returns the value now in effect. Not to be called while a job runs (asserted). */
int pool_set_threads(int n);

/* Threads jobs may use (the default before any pool_set_threads: online CPUs). */
int pool_get_threads(void);

/* Runs fn for every chunk and returns when all are done. Cannot fail: when workers cannot be
 * started, or the pool is busy with another thread's job, the chunks run in the caller. */
void pool_run(pool_task_fn *fn, void *ctx, int n_chunks);

#endif
