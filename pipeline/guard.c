/* guard: overlap check, lock, stale temporaries. See guard.h. */
#include "guard.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "path.h"

enum { GUARD_EXTRA_MAX = 8 };

int guard_open(struct util_lock **lock, int *removed, const char *out,
	       const char *const *extra, size_t n_extra, const char *const *inputs, size_t n_in,
	       char *err, size_t errlen)
{
	char lock_path[PATH_MAX];
	const char *outputs[2 + GUARD_EXTRA_MAX];
	size_t n = out ? strlen(out) : 0;
	while (n > 1 && out[n - 1] == '/')
		n--; /* "OUT/" locks "OUT.lock", as util_lock_open does */
	if (n == 0 || n_extra > GUARD_EXTRA_MAX || n > INT_MAX ||
	    (size_t)snprintf(lock_path, sizeof lock_path, "%.*s.lock", (int)n, out) >= sizeof lock_path)
		return err_set(err, errlen, GUARD_ERR_PATH, "%s: not a usable output path",
			       out ? out : "");
	outputs[0] = out;
	outputs[1] = lock_path;
	for (size_t i = 0; i < n_extra; i++)
		outputs[2 + i] = extra[i];
	if (path_check_outputs(outputs, 2 + n_extra, inputs, n_in, err, errlen))
		return GUARD_ERR_PATH;
	struct util_lock *l = NULL;
	int rc = util_lock_open(&l, out, err, errlen);
	if (rc)
		return rc == UTIL_ERR_LOCKED ? GUARD_ERR_LOCKED : GUARD_ERR_IO;
	if (util_remove_stale_temps(removed, out, err, errlen)) {
		util_lock_close(l);
		return GUARD_ERR_IO;
	}
	*lock = l;
	return GUARD_OK;
}
