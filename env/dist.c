/* dist: the parts of the process group that need no MPI — the static plan and the test hook.
 * See dist.h. */
#include "dist.h"

#include <stdlib.h>

#include "err.h"

int dist_injected_failure(char *err, size_t errlen)
{
	const char *v = getenv("YOPO_DIST_FAIL_RANK");
	if (!v || !*v)
		return DIST_OK;
	char *end;
	long r = strtol(v, &end, 10);
	if (*end || r != dist_rank())
		return DIST_OK;
	return err_set(err, errlen, DIST_ERR_INJECTED, "injected failure (YOPO_DIST_FAIL_RANK=%ld)", r);
}

int dist_plan(int *owner, const double *cost, int n, int n_ranks)
{
	/* selection of the next-costliest item each round: O(n²), fine for thousands of layers,
	 * and no qsort whose tie order could differ between C libraries */
	double *load = calloc((size_t)n_ranks, sizeof *load);
	if (!load)
		return DIST_ERR_NOMEM;
	for (int i = 0; i < n; i++)
		owner[i] = -1;
	for (int done = 0; done < n; done++) {
		int best = -1;
		for (int i = 0; i < n; i++)
			if (owner[i] < 0 && (best < 0 || cost[i] > cost[best]))
				best = i;
		int to = 0;
		for (int r = 1; r < n_ranks; r++)
			if (load[r] < load[to])
				to = r;
		owner[best] = to;
		load[to] += cost[best];
	}
	free(load);
	return DIST_OK;
}

double dist_plan_max_load(const int *owner, const double *cost, int n, int n_ranks)
{
	double *load = calloc((size_t)n_ranks, sizeof *load), max = 0;
	if (!load)
		return -1;
	for (int i = 0; i < n; i++)
		load[owner[i]] += cost[i];
	for (int r = 0; r < n_ranks; r++)
		if (load[r] > max)
			max = load[r];
	free(load);
	return max;
}
