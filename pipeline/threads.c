/* threads: one count for every runtime. See threads.h. */
#include "threads.h"

#include "linalg.h"
#include "matmul.h"

int threads_apply(int n)
{
	int used = matmul_set_threads(n);
	linalg_set_threads(used);
	return used;
}
