/* fuzz_util: scratch files and error-convention checks for the fuzz targets. See fuzz_util.h. */
#include "fuzz_util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "safetensors.h"

static char dir[PATH_MAX];

static void remove_dir(void)
{
	util_remove_tree(dir);
}

const char *fuzz_dir(void)
{
	if (dir[0])
		return dir;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/yopo-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_dir: mkdtemp");
		abort();
	}
	atexit(remove_dir);
	return dir;
}

const char *fuzz_path(const char *name)
{
	static char path[PATH_MAX];
	if (util_join(path, sizeof path, fuzz_dir(), name))
		abort();
	return path;
}

const char *fuzz_write(const char *name, const void *data, size_t n)
{
	const char *path = fuzz_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || util_write_all(fd, data, n) || close(fd)) {
		perror(path);
		abort();
	}
	return path;
}

void fuzz_copy_fixture(const char *rel, const char *name)
{
	char src[PATH_MAX], *data = NULL, err[512];
	size_t len;
	if (util_join(src, sizeof src, FUZZ_FIXTURES, rel) ||
	    util_read_file(&data, &len, src, (size_t)1 << 26, true, err, sizeof err)) {
		fprintf(stderr, "fuzz_copy_fixture: %s\n", err);
		abort();
	}
	fuzz_write(name, data, len);
	free(data);
}

void fuzz_check_reason(int rc, const char *err)
{
	if (rc == 0)
		return;
	if (!err[0] || strchr(err, '\n')) {
		fprintf(stderr, "status %d with a bad reason: '%s'\n", rc, err);
		abort();
	}
}

/* Tensors larger than this are not converted (the reader checked their bounds already). */
#define READ_MAX ((size_t)1 << 16)

void fuzz_walk_tensors(const struct safetensors *st)
{
	static float buf[READ_MAX];
	int n = safetensors_count(st);
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(st, i);
		if (!t || safetensors_find(st, t->name) != t ||
		    t->nbytes != t->nelem * safetensors_dtype_size(t->dtype) ||
		    t->ndim < 0 || t->ndim > SAFETENSORS_MAX_DIMS)
			abort();
		if (t->nelem <= READ_MAX)
			safetensors_read_f32(buf, t);
	}
	if (safetensors_at(st, n) || safetensors_at(st, -1))
		abort();
	(void)safetensors_metadata(st, "format");
	(void)safetensors_file_bytes(st);
}
