/* dist_local: the process group of a build without MPI — one process, rank 0 of 1. See dist.h. */
#include "dist.h"

#include <string.h>

int dist_init(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return DIST_OK;
}

void dist_finalize(void)
{
}

int dist_rank(void)
{
	return 0;
}

int dist_size(void)
{
	return 1;
}

const char *dist_backend(void)
{
	return "none";
}

int dist_agree(int rc, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return rc;
}

int dist_allgather(void *recv, const void *send, const size_t *counts, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (counts[0])
		memcpy(recv, send, counts[0]);
	return DIST_OK;
}
