/* timing: median and noise of benchmark repetitions, child runs, temp directories. See
 * timing.h. */
#include "timing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n, double *noise)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	*noise = (v[n - 1] - v[0]) / v[n / 2];
	return v[n / 2];
}

int bench_in_child(int (*fn)(void *), void *ctx, double *secs, size_t *peak)
{
	fflush(stdout);
	fflush(stderr);
	double t0 = util_now();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		int rc = fn(ctx);
		fflush(stdout);
		fflush(stderr);
		_exit(rc ? 1 : 0); /* the child must not return into the parent's control flow */
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("wait4");
			return -1;
		}
	*secs = util_now() - t0;
	*peak = (size_t)ru.ru_maxrss * 1024;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int bench_temp_dir(char *buf, size_t cap, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(buf, cap, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
	if (!mkdtemp(buf)) {
		fprintf(stderr, "mkdtemp %s: %s\n", buf, strerror(errno));
		return -1;
	}
	return 0;
}
