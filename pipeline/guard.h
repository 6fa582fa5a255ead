/* guard: the output-safety preamble of every command that writes (prune, train, demo), run
 * before any work, in this order:
 *  1. no output — OUT, its lock file "OUT.lock" and the command's other outputs (a log) — is,
 *     contains or lies inside any input (util/path.h: resolved paths, symlinks, device+inode);
 *  2. the advisory lock "OUT.lock" is taken for the whole run (util/output.h): a second run
 *     writing the same OUT fails at once with one line naming the holder's PID;
 *  3. temporary siblings of OUT left by runs that died (kill -9, power loss: their PID is gone,
 *     same owner) are removed, so they do not pile up beside the output.
 * Errors follow err.h: 0 or a negative guard_error with a one-line reason. */
#ifndef YOPO_GUARD_H
#define YOPO_GUARD_H

#include <stddef.h>

#include "output.h"

enum guard_error {
	GUARD_OK = 0,
	GUARD_ERR_PATH = -1,   /* an output overlaps an input, or a path cannot be resolved */
	GUARD_ERR_LOCKED = -2, /* another run holds OUT.lock */
	GUARD_ERR_IO = -3,     /* the lock file cannot be created, a stale sibling not removed */
};

/* Runs the three steps for out with the other outputs (n_extra, NULL entries skipped) and the
 * inputs (n_in, NULL entries skipped: options not given). On success *lock is held (release
 * it with util_lock_close) and *removed (may be NULL) counts the stale siblings removed. */
int guard_open(struct util_lock **lock, int *removed, const char *out,
	       const char *const *extra, size_t n_extra, const char *const *inputs, size_t n_in,
	       char *err, size_t errlen);

#endif
