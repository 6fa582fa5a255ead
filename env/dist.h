/* dist: the process group yopo train spreads its (model, layer) work over — OpenMPI ranks when
 * the build has MPI (-Dmpi) and the process was started by mpirun/srun, else one local process.
 *
 * Only dist_mpi.c includes mpi.h; dist_local.c is the same API for one process (a build without
 * MPI, or an MPI build run without mpirun). Everything here is collective: every rank calls the
 * same functions in the same order, with the same arguments where noted.
 *
 * Output: after dist_init, ranks other than 0 have stdout and stderr on /dev/null (only rank 0
 * prints progress and errors; YOPO_DIST_ALL_OUTPUT=1 keeps them, for debugging).
 *
 * Failures: a rank that fails keeps going to the next dist_agree, which hands every rank the
 * status and message of the lowest failing rank, so all ranks end together with one line. */
#ifndef YOPO_DIST_H
#define YOPO_DIST_H

#include <stddef.h>

enum dist_error {
	DIST_OK = 0,
	DIST_ERR_INIT = -1,     /* MPI could not start */
	DIST_ERR_SIZE = -2,     /* an exchange larger than MPI's int counts */
	DIST_ERR_INJECTED = -3, /* the YOPO_DIST_FAIL_RANK test hook fired */
	DIST_ERR_NOMEM = -4,
};

/* Starts MPI when this process was launched by mpirun or srun (their environment variables),
 * else stays one local process. Idempotent. Errors: DIST_ERR_INIT. */
int dist_init(char *err, size_t errlen);

/* Ends MPI if dist_init started it (every rank, once, before main returns); no-op otherwise. */
void dist_finalize(void);

/* This process's rank in [0, dist_size()); 0 and 1 before dist_init or without MPI. */
int dist_rank(void);
int dist_size(void);

/* "openmpi" when this build has MPI, else "none". */
const char *dist_backend(void);

/* Collective agreement on a status: every rank passes its own rc (0: fine; err holds the reason
 * otherwise). Returns 0 when all ranks passed 0; else the rc of the lowest failing rank, whose
 * reason (prefixed "rank R of N: " when N > 1) is copied into every rank's err. */
int dist_agree(int rc, char *err, size_t errlen);

/* All-gather of byte records: rank r contributes counts[r] bytes from send (counts identical on
 * every rank); recv receives every rank's bytes, rank 0 first. One process: a copy. Errors:
 * DIST_ERR_SIZE (a count or the total beyond INT_MAX), with err. Failures inside MPI abort
 * the job (MPI's default handler). */
int dist_allgather(void *recv, const void *send, const size_t *counts, char *err, size_t errlen);

/* Test hook: DIST_ERR_INJECTED with a reason when the environment variable YOPO_DIST_FAIL_RANK
 * names this rank (a failure on one rank only), else 0. */
int dist_injected_failure(char *err, size_t errlen);

/* Static cost-balanced plan: owner[i] in [0, n_ranks) for each of n items (cost[i] >= 0).
 * Longest processing time first: items by decreasing cost (ties: lower index first), each to
 * the least loaded rank so far (ties: lower rank). Deterministic; depends only on its inputs.
 * n_ranks >= 1. Returns 0 or DIST_ERR_NOMEM. */
int dist_plan(int *owner, const double *cost, int n, int n_ranks);

/* The largest rank load of a plan (sum of its items' costs; n_ranks >= 1), for reports and
 * benches; -1 when out of memory. */
double dist_plan_max_load(const int *owner, const double *cost, int n, int n_ranks);

#endif
