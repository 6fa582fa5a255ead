/* compare_dir: where a compare run writes (see compare.h for the rules): the path checks
 * against the inputs, the lock beside OUT, the temporary sibling a fresh run builds in (or the
 * report continued in place, or a dead run's sibling adopted, with --resume) and the final
 * rename into place. Internal to pipeline/compare.c. */
#ifndef YOPO_COMPARE_DIR_H
#define YOPO_COMPARE_DIR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "compare.h"
#include "output.h"

struct compare_dir {
	char out[PATH_MAX];   /* OUT as given (trailing slashes dropped) */
	char work[PATH_MAX];  /* where the report is built: OUT itself, or a temporary sibling */
	bool out_exists, in_place, adopted, have_work;
	struct util_lock *lock;
};

/* Checks and lock, before any work: OUT and OUT.lock against every input (path.h), the lock
 * taken (COMPARE_ERR_LOCKED), then what OUT is: absent, an empty directory, a report to resume
 * or (with force) a directory to replace. Creates nothing but the lock file. */
int compare_dir_open(struct compare_dir *d, const struct compare_opts *o, char *err,
		     size_t errlen);

/* Makes the work directory (and work/models): with resume, OUT in place or an adopted stale
 * sibling; else a new temporary sibling. Stale siblings of dead runs are removed. */
int compare_dir_create(struct compare_dir *d, const struct compare_opts *o, char *err,
		       size_t errlen);

/* Puts the finished work directory in place of OUT (moving an old OUT aside first). */
int compare_dir_commit(struct compare_dir *d, char *err, size_t errlen);

/* Releases the lock. After a failure (failed) a temporary work directory is removed, unless
 * keep (it holds results worth resuming): then err (errlen) gets a note naming it appended. */
void compare_dir_close(struct compare_dir *d, bool failed, bool keep, char *err, size_t errlen);

#endif
