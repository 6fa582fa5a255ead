/* output: the safety helpers of every command that writes: temporary siblings named so that a
 * later run recognises its own stale ones, their cleanup, an advisory lock held for a command's
 * duration, output directories that honour the umask, and checked closes of streams (stdout
 * included), so a full disk is an error instead of a silent empty file.
 *
 * Temporary siblings of an output path OUT (in OUT's directory, BASE its last component):
 *   "BASE.tmp-PID-XXXXXX"  a directory being built (util_temp_dir_new, kind "tmp")
 *   "BASE.old-PID-XXXXXX"  the previous output moved aside during a replacement (kind "old")
 *   ".BASE.tmp.PID.N"      a file being written (util_write_file_atomic, safetensors_write)
 * PID is the writing process. util_remove_stale_temps removes those whose process is gone.
 * The lock file "OUT.lock" and these siblings are outputs too: commands pass OUT and OUT.lock to
 * path_check_outputs (path.h) with their inputs before creating anything.
 *
 * Errors follow err.h: 0 or a negative util_error (file.h) with a one-line reason. */
#ifndef YOPO_OUTPUT_H
#define YOPO_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

/* Creates the directory "<out>.<kind>-<pid>-XXXXXX" (kind "tmp" or "old"; X random) beside out
 * with mode 0777 & ~umask, like mkdir (mkdtemp alone gives 0700), and writes its name to buf
 * (cap bytes). out must not end in '/'. Errors: ARG (bad kind, name too long), IO. */
int util_temp_dir_new(char *buf, size_t cap, const char *out, const char *kind, char *err,
		      size_t errlen);

/* Removes the temporary siblings of out (the three forms above) left by runs that died: the PID
 * in the name is no running process and the entry belongs to this user (lstat uid). A stale
 * "old" directory is kept while out itself is missing: it is then the only copy of the previous
 * output (a run killed between its two renames). On success *removed (may be NULL) is the
 * number of entries removed. Errors: ARG, IO (the directory cannot be listed, or an entry
 * cannot be removed; the reason names it). */
int util_remove_stale_temps(int *removed, const char *out, char *err, size_t errlen);

struct util_lock; /* an advisory lock held until util_lock_close */

/* Takes an exclusive flock on "<out>.lock" beside out (created 0666 & ~umask; the holder's PID
 * is written into it), without waiting: a second run on the same output fails at once with
 * UTIL_ERR_LOCKED and the reason "<out>.lock: another yopo run (pid N) is writing <out>".
 * The lock lives as long as the process or util_lock_close. Errors: LOCKED, ARG, IO, NOMEM. */
int util_lock_open(struct util_lock **out_lock, const char *out, char *err, size_t errlen);

/* Removes the lock file and releases the lock. NULL is a no-op. */
void util_lock_close(struct util_lock *lock);

/* Flushes and closes f, checking the stream's error flag, fflush and fclose: any failure is
 * UTIL_ERR_IO with "error writing <name>: <strerror>" (e.g. ENOSPC on a full disk). f is closed
 * in every case. */
int util_file_close(FILE *f, const char *name, char *err, size_t errlen);

/* util_file_close(stdout, "standard output"): for main, before exiting 0. */
int util_close_stdout(char *err, size_t errlen);

#endif
