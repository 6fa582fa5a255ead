/* pool: condition-variable worker pool with dynamic chunk claiming. See pool.h.
 *
 * State is process-wide behind one mutex. A job is published by bumping `gen` with `open` set;
 * a worker joins only while the job is open (counted in `running`), and the caller closes the
 * job after claiming its last chunk, then waits only for workers that did join. */
#include "pool.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	int want;		/* threads requested, caller included; 0 = not decided yet */
	int started;		/* workers alive (caller excluded) */
	pthread_t tid[POOL_MAX_THREADS];
	bool stop;		/* asks every worker to exit */
	bool busy;		/* a job is running */
	bool open;		/* workers may still join the current job */
	unsigned long gen;	/* job counter */
	unsigned long gen_start;/* gen when the live workers were started: the next job is theirs */
	int running;		/* workers inside the current job */
	pool_task_fn *fn;
	void *ctx;
	int n_chunks;
	atomic_int next;	/* next chunk to claim */
} P = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)n;
}

int pool_set_threads(int n)
{
	pthread_mutex_lock(&P.mu);
	assert(!P.busy);
	P.want = n < 1 ? online_cpus() : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : n;
	n = P.want;
	pthread_mutex_unlock(&P.mu);
	return n;
}

int pool_get_threads(void)
{
	int n;

	pthread_mutex_lock(&P.mu);
	if (!P.want)
		P.want = online_cpus();
	n = P.want;
	pthread_mutex_unlock(&P.mu);
	return n;
}

/* Claims and runs chunks of the current job until none is left. */
static void drain(pool_task_fn *fn, void *ctx, int n_chunks, int worker)
{
	int c;

	while ((c = atomic_fetch_add(&P.next, 1)) < n_chunks)
		fn(ctx, c, worker);
}

static void *worker_main(void *arg)
{
	int worker = (int)(intptr_t)arg;
	unsigned long seen = 0;

	pthread_mutex_lock(&P.mu);
	/* not P.gen: the job that started this worker is published (gen bumped) before the worker
	 * first takes the lock, and that job must be joined too */
	seen = P.gen_start;
	for (;;) {
		while (!P.stop && (!P.open || P.gen == seen))
			pthread_cond_wait(&P.work, &P.mu);
		if (P.stop)
			break;
		seen = P.gen;
		P.running++;
		pool_task_fn *fn = P.fn;
		void *ctx = P.ctx;
		int n_chunks = P.n_chunks;
		pthread_mutex_unlock(&P.mu);
		drain(fn, ctx, n_chunks, worker);
		pthread_mutex_lock(&P.mu);
		if (--P.running == 0)
			pthread_cond_broadcast(&P.done);
	}
	pthread_mutex_unlock(&P.mu);
	return NULL;
}

/* With P.mu held and no job running: makes the live workers match P.want - 1. Workers that fail
 * to start are simply absent (jobs then use fewer threads). */
static void workers_sync(void)
{
	int target;

	if (!P.want)
		P.want = online_cpus();
	target = P.want - 1;
	if (P.started == target)
		return;
	if (P.started > 0) {
		int n = P.started;

		P.stop = true;
		pthread_cond_broadcast(&P.work);
		pthread_mutex_unlock(&P.mu);
		for (int i = 0; i < n; i++)
			pthread_join(P.tid[i], NULL);
		pthread_mutex_lock(&P.mu);
		P.stop = false;
		P.started = 0;
	}
	P.gen_start = P.gen;
	while (P.started < target &&
	       pthread_create(&P.tid[P.started], NULL, worker_main,
			      (void *)(intptr_t)(P.started + 1)) == 0)
		P.started++;
}

void pool_run(pool_task_fn *fn, void *ctx, int n_chunks)
{
	assert(fn && n_chunks >= 0);
	if (n_chunks <= 1) {
		if (n_chunks == 1)
			fn(ctx, 0, 0);
		return;
	}
	pthread_mutex_lock(&P.mu);
	if (P.busy || P.want == 1) {
		pthread_mutex_unlock(&P.mu);
		for (int c = 0; c < n_chunks; c++)
			fn(ctx, c, 0);
		return;
	}
	P.busy = true;
	workers_sync();
	P.fn = fn;
	P.ctx = ctx;
	P.n_chunks = n_chunks;
	atomic_store(&P.next, 0);
	P.gen++;
	P.open = true;
	pthread_cond_broadcast(&P.work);
	pthread_mutex_unlock(&P.mu);

	drain(fn, ctx, n_chunks, 0);

	pthread_mutex_lock(&P.mu);
	P.open = false;
	while (P.running > 0)
		pthread_cond_wait(&P.done, &P.mu);
	P.busy = false;
	pthread_mutex_unlock(&P.mu);
}
