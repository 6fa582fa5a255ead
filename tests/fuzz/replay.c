/* replay: a main for the fuzz targets without libFuzzer. Runs LLVMFuzzerTestOneInput once over
 * every file named on the command line or held by a directory named there (a missing directory
 * is skipped), so the seed corpora and the regression inputs of past findings run in every
 * normal build (gcc, ASan + UBSan) as meson tests. A target aborts on a finding; exit 0 means
 * every input ran. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest input replayed (the corpora hold files of a few KB). */
#define REPLAY_MAX ((size_t)64 << 20)

static int run_file(const char *path)
{
	char *data = NULL, err[ERR_MAX];
	size_t len;
	if (util_read_file(&data, &len, path, REPLAY_MAX, true, err, sizeof err)) {
		fprintf(stderr, "replay: %s\n", err);
		return -1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	return 0;
}

static int run_dir(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	struct dirent *e;
	char path[PATH_MAX];
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.' || util_join(path, sizeof path, dir, e->d_name))
			continue;
		rc = run_file(path);
		(*count)++;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		int rc = stat(argv[i], &sb) == 0 && !S_ISDIR(sb.st_mode) ? (count++, run_file(argv[i]))
									  : run_dir(argv[i], &count);
		if (rc) {
			fprintf(stderr, "replay: %s: cannot read\n", argv[i]);
			return 1;
		}
	}
	printf("replayed %d inputs\n", count);
	return 0;
}
