/* path: the output-safety rule, written once. No output path of a command (a file or a directory:
 * --out, --log, report directories, temporary siblings) may be, contain, or lie inside any of its
 * inputs (model directories, shards, policy, text, calibration, base model). Commands call
 * path_check_outputs with every output and every input before doing any work.
 *
 * Two paths are compared in three views, and overlap in any view is an error:
 *  - resolved: every symlink followed (also a dangling one, whose target a later create would
 *    make), "." and ".." folded; the part of the path that does not exist yet is appended as
 *    written, so an output that will be created under an input directory is caught;
 *  - lexical: made absolute from the working directory and folded without following symlinks
 *    (an input named through a symlink that sits inside the output directory);
 *  - identity: device + inode of the existing paths and of every ancestor of the output and of
 *    the input (hard links, bind mounts).
 * An existing output directory is also walked (without following symlinks, at most
 * PATH_WALK_MAX entries) for symlinks whose target is, contains or lies inside an input: writing
 * through them would write into the input.
 *
 * Errors follow err.h: 0 or a negative path_error with a one-line reason naming both paths. */
#ifndef YOPO_PATH_H
#define YOPO_PATH_H

#include <stddef.h>

/* Entries of an existing output directory inspected for symlinks into inputs. */
#define PATH_WALK_MAX 100000

enum path_error {
	PATH_OK = 0,
	PATH_ERR_ARG = -1,     /* empty path, or a path (resolved) longer than PATH_MAX */
	PATH_ERR_IO = -2,      /* a component could not be inspected (lstat/readlink/getcwd failed) */
	PATH_ERR_LOOP = -3,    /* more than 40 symlinks followed while resolving */
	PATH_ERR_OVERLAP = -4, /* an output is, contains or lies inside an input */
	PATH_ERR_NOMEM = -5,
};

/* out (cap bytes) = path with every symlink of its existing part followed (dangling ones too),
 * made absolute and with "." / ".." folded; components that do not exist are kept as written.
 * Errors: ARG, IO, LOOP. */
int path_resolve(char *out, size_t cap, const char *path, char *err, size_t errlen);

/* out (cap bytes) = path made absolute from the working directory with "." / ".." and repeated
 * slashes folded, without touching the file system beyond getcwd. Errors: ARG, IO. */
int path_normalize(char *out, size_t cap, const char *path, char *err, size_t errlen);

/* 0 if no outputs[i] is, contains or lies inside any inputs[j] (NULL entries are skipped:
 * options not given), else PATH_ERR_OVERLAP with the reason "output 'O' <relation> input 'I'"
 * naming the first offending pair as the user wrote them (and the symlink, when one is
 * involved). Errors: OVERLAP, NOMEM, ARG, IO, LOOP (for an input or output that cannot be resolved). */
int path_check_outputs(const char *const *outputs, size_t n_out, const char *const *inputs,
		       size_t n_in, char *err, size_t errlen);

#endif
