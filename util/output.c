/* output: temporary siblings, stale-temp cleanup, the output lock and checked stream closes.
 * See output.h. */
#include "output.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "file.h"

/* Splits out (trailing slashes dropped) into its directory and last component. -1 if out is
 * empty, the root, or too long. */
static int split_out(char dir[PATH_MAX], char base[NAME_MAX + 1], char whole[PATH_MAX],
		     const char *out)
{
	size_t n = out ? strlen(out) : 0;
	while (n > 1 && out[n - 1] == '/')
		n--;
	if (n == 0 || n >= PATH_MAX || (n == 1 && out[0] == '/'))
		return -1;
	memcpy(whole, out, n);
	whole[n] = '\0';
	char *slash = strrchr(whole, '/');
	const char *b = slash ? slash + 1 : whole;
	if (strlen(b) > NAME_MAX)
		return -1;
	strcpy(base, b);
	if (!slash)
		strcpy(dir, ".");
	else if (slash == whole)
		strcpy(dir, "/");
	else
		snprintf(dir, PATH_MAX, "%.*s", (int)(slash - whole), whole);
	return 0;
}

int util_temp_dir_new(char *buf, size_t cap, const char *out, const char *kind, char *err,
		      size_t errlen)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], whole[PATH_MAX], tmp[PATH_MAX];
	if (!kind || (strcmp(kind, "tmp") && strcmp(kind, "old")))
		return err_set(err, errlen, UTIL_ERR_ARG, "temporary directory kind must be tmp or old");
	if (split_out(dir, base, whole, out) ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s.%s-%ld-XXXXXX", whole, kind, (long)getpid()) >=
		    (cap < sizeof tmp ? cap : sizeof tmp))
		return err_set(err, errlen, UTIL_ERR_ARG, "%s: not a usable output path", out ? out : "");
	size_t len = strlen(tmp);
	for (int tries = 0; tries < 100; tries++) {
		memcpy(tmp + len - 6, "XXXXXX", 6);
		if (!mkdtemp(tmp))
			return err_set(err, errlen, UTIL_ERR_IO, "creating %s: %s", tmp, strerror(errno));
		/* mkdtemp made it 0700; mkdir applies the umask. A name taken meanwhile: retry. */
		if (rmdir(tmp))
			return err_set(err, errlen, UTIL_ERR_IO, "creating %s: %s", tmp, strerror(errno));
		if (mkdir(tmp, 0777) == 0) {
			memcpy(buf, tmp, len + 1);
			return UTIL_OK;
		}
		if (errno != EEXIST)
			return err_set(err, errlen, UTIL_ERR_IO, "creating %s: %s", tmp, strerror(errno));
	}
	return err_set(err, errlen, UTIL_ERR_IO, "creating %s: no free name", tmp);
}

/* The decimal number at *s (advanced past it); -1 if none or out of range. */
static long parse_pid(const char **s)
{
	long v = 0;
	const char *p = *s;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return -1;
	}
	*s = p;
	return v;
}

/* The PID of a temporary sibling name of base, with *old set for an "old" directory; -1 if
 * name is not one. */
static long temp_pid(const char *name, const char *base, bool *old)
{
	size_t bl = strlen(base);
	const char *p;
	long pid;
	*old = false;
	if (name[0] == '.' && !strncmp(name + 1, base, bl) && !strncmp(name + 1 + bl, ".tmp.", 5)) {
		p = name + bl + 6; /* ".BASE.tmp.PID.N" */
		if ((pid = parse_pid(&p)) <= 0 || *p++ != '.' || parse_pid(&p) < 0 || *p)
			return -1;
		return pid;
	}
	if (strncmp(name, base, bl) ||
	    (strncmp(name + bl, ".tmp-", 5) && strncmp(name + bl, ".old-", 5)))
		return -1;
	*old = name[bl + 1] == 'o';
	p = name + bl + 5; /* "BASE.tmp-PID-XXXXXX" */
	if ((pid = parse_pid(&p)) <= 0 || *p++ != '-' || strlen(p) != 6)
		return -1;
	return pid;
}

static bool process_gone(long pid)
{
	return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int util_remove_stale_temps(int *removed, const char *out, char *err, size_t errlen)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], whole[PATH_MAX], child[PATH_MAX];
	if (split_out(dir, base, whole, out))
		return err_set(err, errlen, UTIL_ERR_ARG, "%s: not a usable output path", out ? out : "");
	struct stat sb;
	bool out_exists = lstat(whole, &sb) == 0;
	DIR *d = opendir(dir);
	if (!d)
		return err_set(err, errlen, UTIL_ERR_IO, "%s: %s", dir, strerror(errno));
	int n = 0, rc = UTIL_OK;
	struct dirent *e;
	while ((e = readdir(d))) {
		bool old;
		long pid = temp_pid(e->d_name, base, &old);
		if (pid <= 0 || (old && !out_exists) || util_join(child, sizeof child, dir, e->d_name) ||
		    lstat(child, &sb) || sb.st_uid != getuid() || !process_gone(pid))
			continue;
		if (util_remove_tree(child)) {
			rc = err_set(err, errlen, UTIL_ERR_IO, "removing stale %s: %s", child,
				     strerror(errno));
			break;
		}
		n++;
	}
	closedir(d);
	if (!rc && removed)
		*removed = n;
	return rc;
}

struct util_lock {
	int fd;
	char path[PATH_MAX];
};

/* The lock is refused: the reason names the holder's PID as written in the file. */
static int locked(int fd, const char *path, const char *out, char *err, size_t errlen)
{
	char pid[32] = "";
	ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
	pid[r > 0 ? r : 0] = '\0';
	pid[strcspn(pid, "\n")] = '\0';
	return err_set(err, errlen, UTIL_ERR_LOCKED, "%s: another yopo run (pid %s) is writing %s",
		       path, pid[0] ? pid : "?", out);
}

/* Opens and locks path; 1 when the file was replaced meanwhile (retry), 0 with *fd, or < 0. */
static int try_lock(int *fd, const char *path, const char *out, char *err, size_t errlen)
{
	int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
	if (f < 0)
		return err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path, strerror(errno));
	struct stat a, b;
	int rc = UTIL_OK;
	if (fstat(f, &a) || !S_ISREG(a.st_mode))
		rc = err_set(err, errlen, UTIL_ERR_IO, "%s: not a regular file", path);
	else if (flock(f, LOCK_EX | LOCK_NB))
		rc = errno == EWOULDBLOCK ? locked(f, path, out, err, errlen)
					  : err_set(err, errlen, UTIL_ERR_IO, "%s: %s", path,
						    strerror(errno));
	else if (stat(path, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		rc = 1; /* the previous holder removed it after we opened it */
	if (rc) {
		close(f);
		return rc;
	}
	*fd = f;
	return UTIL_OK;
}

int util_lock_open(struct util_lock **out_lock, const char *out, char *err, size_t errlen)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], whole[PATH_MAX];
	struct util_lock *l = malloc(sizeof *l);
	int rc = UTIL_OK, fd = -1;
	if (!l)
		return err_set(err, errlen, UTIL_ERR_NOMEM, "out of memory");
	if (split_out(dir, base, whole, out) ||
	    (size_t)snprintf(l->path, sizeof l->path, "%s.lock", whole) >= sizeof l->path) {
		rc = err_set(err, errlen, UTIL_ERR_ARG, "%s: not a usable output path", out ? out : "");
		goto out;
	}
	for (int tries = 0; (rc = try_lock(&fd, l->path, out, err, errlen)) == 1; tries++)
		if (tries == 10) {
			rc = err_set(err, errlen, UTIL_ERR_IO, "%s: keeps being replaced", l->path);
			goto out;
		}
	if (rc)
		goto out;
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) {
		rc = err_set(err, errlen, UTIL_ERR_IO, "%s: %s", l->path, strerror(errno));
		unlink(l->path);
		close(fd);
		goto out;
	}
	l->fd = fd;
	*out_lock = l;
	l = NULL;
out:
	free(l);
	return rc;
}

void util_lock_close(struct util_lock *lock)
{
	if (!lock)
		return;
	unlink(lock->path); /* while still holding it: a waiting opener sees the inode change */
	close(lock->fd);
	free(lock);
}

int util_file_close(FILE *f, const char *name, char *err, size_t errlen)
{
	int e = 0;
	if (ferror(f))
		e = EIO;
	if (fflush(f))
		e = errno;
	if (fclose(f) && !e)
		e = errno ? errno : EIO;
	if (e)
		return err_set(err, errlen, UTIL_ERR_IO, "error writing %s: %s", name, strerror(e));
	return UTIL_OK;
}

int util_close_stdout(char *err, size_t errlen)
{
	return util_file_close(stdout, "standard output", err, errlen);
}
