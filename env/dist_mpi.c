/* dist_mpi: the process group over OpenMPI's MPI_COMM_WORLD — the only file that includes
 * mpi.h. Without mpirun/srun in the environment it behaves like dist_local.c (no MPI call at
 * all, so tests and plain runs of an MPI build need no MPI runtime). See dist.h. */
#include "dist.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "err.h"

static bool started;
static int my_rank, n_ranks = 1;

/* mpirun (OpenMPI), PMIx launchers and Slurm's srun announce themselves in the environment */
static bool launched_by_mpi(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (getenv(vars[i]))
			return true;
	return false;
}

/* ranks > 0 print nothing: one progress stream and one error line per job */
static void silence_output(void)
{
	const char *keep = getenv("YOPO_DIST_ALL_OUTPUT");
	if (keep && !strcmp(keep, "1"))
		return;
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0)
		return;
	fflush(stdout);
	fflush(stderr);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

int dist_init(char *err, size_t errlen)
{
	int inited = 0, provided;
	if (started || !launched_by_mpi())
		return DIST_OK;
	MPI_Initialized(&inited);
	/* only the main thread calls MPI; worker threads (oneDNN, pipeline/threads) never do */
	if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		return err_set(err, errlen, DIST_ERR_INIT, "MPI_Init_thread failed");
	started = true;
	MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &n_ranks);
	if (my_rank > 0)
		silence_output();
	return DIST_OK;
}

void dist_finalize(void)
{
	if (!started)
		return;
	MPI_Finalize();
	started = false;
}

int dist_rank(void)
{
	return my_rank;
}

int dist_size(void)
{
	return n_ranks;
}

const char *dist_backend(void)
{
	return "openmpi";
}

int dist_agree(int rc, char *err, size_t errlen)
{
	if (!started)
		return rc;
	int mine = rc ? my_rank : n_ranks, lowest, status = rc;
	MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (lowest == n_ranks)
		return DIST_OK;
	char msg[ERR_MAX] = "failed";
	if (my_rank == lowest && err && errlen && *err)
		snprintf(msg, sizeof msg, "%s", err);
	MPI_Bcast(&status, 1, MPI_INT, lowest, MPI_COMM_WORLD);
	MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, lowest, MPI_COMM_WORLD);
	if (n_ranks > 1)
		err_set(err, errlen, status, "rank %d of %d: %s", lowest, n_ranks, msg);
	else
		err_set(err, errlen, status, "%s", msg);
	return status;
}

int dist_allgather(void *recv, const void *send, const size_t *counts, char *err, size_t errlen)
{
	if (!started) {
		if (counts[0])
			memcpy(recv, send, counts[0]);
		return DIST_OK;
	}
	int *cnt = malloc(2 * (size_t)n_ranks * sizeof *cnt), rc = DIST_OK;
	if (!cnt)
		return err_set(err, errlen, DIST_ERR_NOMEM, "out of memory");
	int *displ = cnt + n_ranks;
	size_t total = 0;
	for (int r = 0; r < n_ranks; r++) {
		if (counts[r] > (size_t)INT_MAX - total) {
			rc = err_set(err, errlen, DIST_ERR_SIZE,
				     "an exchange of more than %d bytes (MPI int counts)", INT_MAX);
			goto out;
		}
		cnt[r] = (int)counts[r];
		displ[r] = (int)total;
		total += counts[r];
	}
	MPI_Allgatherv(send, cnt[my_rank], MPI_BYTE, recv, cnt, displ, MPI_BYTE, MPI_COMM_WORLD);
out:
	free(cnt);
	return rc;
}
