/* file: checked file-system helpers. See file.h. */
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

const char *util_strerror(int err)
{
	switch (err) {
	case UTIL_OK: return "success";
	case UTIL_ERR_IO: return "cannot read or write the file";
	case UTIL_ERR_NOT_REGULAR: return "cannot read: not a regular file";
	case UTIL_ERR_TOO_LARGE: return "file too large";
	case UTIL_ERR_EMPTY: return "empty file";
	case UTIL_ERR_NOMEM: return "out of memory";
	case UTIL_ERR_ARG: return "invalid file name";
	}
	return "unknown file error";
}

int util_join(char *buf, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int util_open_regular(int *fd, size_t *size, const char *path, char *err, size_t errlen)
{
	if (!path || !*path)
		return err_set(err, errlen, UTIL_ERR_ARG, "empty file name");
	int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (f < 0)
		return err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(f, &sb)) {
		int e = errno;
		close(f);
		errno = e;
		return err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(f);
		return err_set(err, errlen, UTIL_ERR_NOT_REGULAR, "%s: not a regular file%s", path,
			       S_ISDIR(sb.st_mode) ? " (a directory)" : "");
	}
	int flags = fcntl(f, F_GETFL);
	if (flags >= 0)
		fcntl(f, F_SETFL, flags & ~O_NONBLOCK);
	*fd = f;
	*size = (size_t)sb.st_size;
	return UTIL_OK;
}

int util_read_file(char **out, size_t *len, const char *path, size_t max_bytes, bool allow_empty,
		   char *err, size_t errlen)
{
	int fd, rc;
	size_t size;
	if ((rc = util_open_regular(&fd, &size, path, err, errlen)))
		return rc;
	char *buf = NULL;
	if (size > max_bytes) {
		rc = err_set(err, errlen, UTIL_ERR_TOO_LARGE, "%s: %zu bytes, more than the limit of %zu",
			     path, size, max_bytes);
		goto out;
	}
	/* the size may change under us: read at most max_bytes + 1 and check */
	size_t cap = size + 1, n = 0;
	buf = malloc(cap + 1);
	if (!buf) {
		rc = err_set(err, errlen, UTIL_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap)
			break;
	}
	if (n > size || n > max_bytes) {
		rc = err_set(err, errlen, UTIL_ERR_TOO_LARGE, "%s: grew while being read (limit %zu bytes)",
			     path, max_bytes);
		goto out;
	}
	if (n == 0 && !allow_empty) {
		rc = err_set(err, errlen, UTIL_ERR_EMPTY, "%s: empty file", path);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = UTIL_OK;
out:
	free(buf);
	close(fd);
	return rc;
}

int util_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int util_fsync_path(const char *path, bool dir)
{
	int fd = open(path, dir ? O_RDONLY | O_DIRECTORY | O_CLOEXEC : O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int util_write_new_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return -1;
	int rc = util_write_all(fd, data, len);
	if (!rc)
		rc = fsync(fd);
	int e = errno;
	if (close(fd) && !rc) {
		rc = -1;
		e = errno;
	}
	errno = e;
	return rc;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, char *err,
			   size_t errlen)
{
	static unsigned counter;
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	if (!*name)
		return err_set(err, errlen, UTIL_ERR_ARG, "%s: not a file name", path);
	int dl = slash ? (int)(slash - path) : 0;
	if (snprintf(dir, sizeof dir, "%.*s", dl, slash ? path : ".") >= (int)sizeof dir ||
	    snprintf(tmp, sizeof tmp, "%.*s%s.%s.tmp.%ld.%u", dl, path, slash ? "/" : "", name,
		     (long)getpid(), counter++) >= (int)sizeof tmp)
		return err_set(err, errlen, UTIL_ERR_ARG, "%s: path too long", path);
	if (slash == path)
		snprintf(dir, sizeof dir, "/");
	if (util_write_new_file(tmp, data, len)) {
		int e = errno;
		unlink(tmp);
		return err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path, strerror(e));
	}
	if (rename(tmp, path)) {
		int e = errno;
		unlink(tmp);
		return err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path, strerror(e));
	}
	util_fsync_path(dir, true); /* best effort: the data itself is durable */
	return UTIL_OK;
}

int util_copy_file(const char *dst, const char *src)
{
	int in = open(src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? 1 : -1;
	struct stat sb;
	if (fstat(in, &sb) || !S_ISREG(sb.st_mode)) {
		close(in);
		errno = EINVAL;
		return -1;
	}
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (out < 0) {
		int e = errno;
		close(in);
		errno = e;
		return -1;
	}
	char buf[1 << 16];
	int rc = 0, e = 0;
	for (;;) {
		ssize_t r = read(in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -1 : 0;
			e = errno;
			break;
		}
		if (util_write_all(out, buf, (size_t)r)) {
			rc = -1;
			e = errno;
			break;
		}
	}
	if (!rc && fsync(out)) {
		rc = -1;
		e = errno;
	}
	if (close(out) && !rc) {
		rc = -1;
		e = errno;
	}
	close(in);
	if (rc)
		errno = e ? e : EIO;
	return rc;
}

int util_remove_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(sb.st_mode))
		return unlink(path);
	int bad = 0;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	char child[PATH_MAX];
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (util_join(child, sizeof child, path, e->d_name)) {
			bad = -1;
			continue;
		}
		if (util_remove_tree(child))
			bad = -1;
	}
	closedir(d);
	if (rmdir(path))
		bad = -1;
	return bad;
}

int util_dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}
