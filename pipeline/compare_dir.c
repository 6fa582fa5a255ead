/* compare_dir: the output directory of a compare run. See compare_dir.h. */
#include "compare_dir.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "file.h"
#include "path.h"

/* out without trailing slashes into d->out. */
static int set_out(struct compare_dir *d, const char *out, char *err, size_t errlen)
{
	size_t n = out ? strlen(out) : 0;
	while (n > 1 && out[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof d->out)
		return err_set(err, errlen, COMPARE_ERR_OUT, "--out '%s': not a usable path",
			       out ? out : "");
	memcpy(d->out, out, n);
	d->out[n] = '\0';
	return COMPARE_OK;
}

/* What OUT is now, against what the options allow. */
static int check_existing(struct compare_dir *d, const struct compare_opts *o, char *err,
			  size_t errlen)
{
	struct stat sb;
	char p[PATH_MAX];
	if (lstat(d->out, &sb)) {
		if (errno != ENOENT)
			return err_set(err, errlen, COMPARE_ERR_OUT, "%s: %s", d->out, strerror(errno));
		return COMPARE_OK;
	}
	d->out_exists = true;
	if (!S_ISDIR(sb.st_mode))
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s exists and is not a directory", d->out);
	int empty = util_dir_is_empty(d->out);
	if (empty < 0)
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: %s", d->out, strerror(errno));
	if (o->resume && !empty) {
		if (util_join(p, sizeof p, d->out, "results.json") || access(p, F_OK))
			return err_set(err, errlen, COMPARE_ERR_OUT,
				       "--resume: %s holds no results.json of a compare run", d->out);
		d->in_place = true;
		return COMPARE_OK;
	}
	if (!empty && !o->force)
		return err_set(err, errlen, COMPARE_ERR_OUT,
			       "%s already exists and is not empty (use --force to replace it, or "
			       "--resume to continue its report)", d->out);
	return COMPARE_OK;
}

int compare_dir_open(struct compare_dir *d, const struct compare_opts *o, char *err,
		     size_t errlen)
{
	char lock[PATH_MAX];
	*d = (struct compare_dir){0};
	int rc = set_out(d, o->out, err, errlen);
	if (rc)
		return rc;
	if ((size_t)snprintf(lock, sizeof lock, "%s.lock", d->out) >= sizeof lock)
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s: path too long", d->out);
	const char *outs[] = {d->out, lock};
	const char *ins[] = {o->model, o->text, o->calib, o->policy};
	if (path_check_outputs(outs, 2, ins, 4, err, errlen))
		return err_prefix(err, errlen, COMPARE_ERR_OUT, "--out");
	if ((rc = util_lock_open(&d->lock, d->out, err, errlen)))
		return rc == UTIL_ERR_LOCKED ? COMPARE_ERR_LOCKED : COMPARE_ERR_OUT;
	return check_existing(d, o, err, errlen);
}

/* The PID in "BASE.tmp-PID-XXXXXX" (name of a fresh run's work directory), or -1. */
static long tmp_pid(const char *name, const char *base)
{
	size_t bl = strlen(base);
	if (strncmp(name, base, bl) || strncmp(name + bl, ".tmp-", 5))
		return -1;
	char *end;
	errno = 0;
	long pid = strtol(name + bl + 5, &end, 10);
	if (errno || pid <= 0 || end == name + bl + 5 || *end != '-' || strlen(end + 1) != 6)
		return -1;
	return pid;
}

/* The newest temporary sibling of OUT left by a dead run of this user with a results.json, into
 * best (cap); 0 if found, -1 if none. */
static int find_stale(char *best, size_t cap, const char *out)
{
	char dir[PATH_MAX], p[PATH_MAX];
	const char *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out;
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out) + (slash == out) : 1,
		 slash ? out : ".");
	DIR *dp = opendir(dir);
	if (!dp)
		return -1;
	struct dirent *e;
	struct stat sb;
	time_t newest = 0;
	int found = -1;
	while ((e = readdir(dp))) {
		long pid = tmp_pid(e->d_name, base);
		if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH ||
		    util_join(p, sizeof p, dir, e->d_name) || lstat(p, &sb) || !S_ISDIR(sb.st_mode) ||
		    sb.st_uid != getuid() || sb.st_mtime < newest)
			continue;
		char rj[PATH_MAX];
		if (util_join(rj, sizeof rj, p, "results.json") || access(rj, F_OK))
			continue;
		if ((size_t)snprintf(best, cap, "%s", p) >= cap)
			continue;
		newest = sb.st_mtime;
		found = 0;
	}
	closedir(dp);
	return found;
}

int compare_dir_create(struct compare_dir *d, const struct compare_opts *o, char *err,
		       size_t errlen)
{
	char stale[PATH_MAX], models[PATH_MAX];
	if (d->in_place) {
		snprintf(d->work, sizeof d->work, "%s", d->out);
	} else {
		bool adopt = o->resume && !d->out_exists && find_stale(stale, sizeof stale, d->out) == 0;
		if (util_temp_dir_new(d->work, sizeof d->work, d->out, "tmp", err, errlen))
			return COMPARE_ERR_OUT;
		d->have_work = true;
		/* rename() replaces the empty directory just made: the adopted one now bears our PID */
		if (adopt && rename(stale, d->work) == 0)
			d->adopted = true;
	}
	if (util_remove_stale_temps(NULL, d->out, err, errlen))
		return COMPARE_ERR_OUT;
	if (util_join(models, sizeof models, d->work, "models") ||
	    (mkdir(models, 0777) && errno != EEXIST))
		return err_set(err, errlen, COMPARE_ERR_OUT, "%s/models: cannot create: %s", d->work,
			       strerror(errno));
	return COMPARE_OK;
}

int compare_dir_commit(struct compare_dir *d, char *err, size_t errlen)
{
	char old[PATH_MAX];
	if (d->in_place)
		return COMPARE_OK;
	bool aside = false;
	if (d->out_exists && util_dir_is_empty(d->out) == 0) {
		if (util_temp_dir_new(old, sizeof old, d->out, "old", err, errlen))
			return COMPARE_ERR_OUT;
		if (rename(d->out, old)) {
			rmdir(old);
			return err_set(err, errlen, COMPARE_ERR_OUT, "moving %s aside: %s", d->out,
				       strerror(errno));
		}
		aside = true;
	}
	if (rename(d->work, d->out)) {
		int e = errno;
		if (aside)
			rename(old, d->out);
		return err_set(err, errlen, COMPARE_ERR_OUT, "renaming %s to %s: %s", d->work, d->out,
			       strerror(e));
	}
	d->have_work = false;
	if (aside)
		util_remove_tree(old); /* best effort: the new report is complete and in place */
	return COMPARE_OK;
}

void compare_dir_close(struct compare_dir *d, bool failed, bool keep, char *err, size_t errlen)
{
	if (failed && d->have_work && !d->in_place) {
		if (keep) {
			size_t n = strlen(err);
			snprintf(err + n, errlen - n, " (partial results kept in %s; --resume continues them)",
				 d->work);
		} else {
			util_remove_tree(d->work);
		}
	}
	util_lock_close(d->lock);
	d->lock = NULL;
}
