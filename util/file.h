/* file: checked file-system helpers written once: bounded whole-file reads of regular files,
 * complete writes, fsync, atomic replacement, recursive removal and copies.
 *
 * Every reader opens with O_NONBLOCK and checks that the path is a regular file before reading a
 * byte, so a FIFO, a device (/dev/zero) or a directory is refused at once instead of blocking or
 * reading without end. Errors follow err.h: 0 or a negative util_error, a reason in err. */
#ifndef YOPO_FILE_H
#define YOPO_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* Largest text (evaluation, calibration, prompt files) the readers accept by default. */
#define UTIL_TEXT_MAX ((size_t)1 << 30)

enum util_error {
	UTIL_OK = 0,
	UTIL_ERR_IO = -1,          /* open/read/write/rename failed (errno kept, reason names it) */
	UTIL_ERR_NOT_REGULAR = -2, /* the path is a FIFO, device, directory or socket */
	UTIL_ERR_TOO_LARGE = -3,   /* the file exceeds the reader's limit */
	UTIL_ERR_EMPTY = -4,       /* the file holds no byte */
	UTIL_ERR_NOMEM = -5,
	UTIL_ERR_ARG = -6,         /* empty path, path too long */
	UTIL_ERR_LOCKED = -7,      /* another process holds the output's lock (output.h) */
};

/* Static description of a util_error (for callers that print the path themselves). */
const char *util_strerror(int err);

/* Opens path read-only after checking it is a regular file (no blocking on FIFOs). On success
 * *fd is the descriptor (blocking mode restored) and *size the file size. */
int util_open_regular(int *fd, size_t *size, const char *path, char *err, size_t errlen);

/* Reads a whole regular file of at most max_bytes bytes into a malloc'd NUL-terminated buffer
 * (*out, caller frees; *len excludes the NUL). Errors: IO, NOT_REGULAR, TOO_LARGE (reason names
 * the limit), EMPTY (only when !allow_empty), NOMEM. */
int util_read_file(char **out, size_t *len, const char *path, size_t max_bytes, bool allow_empty,
		   char *err, size_t errlen);

/* Writes all len bytes of data to fd (retrying short writes and EINTR). 0 or -1 (errno set). */
int util_write_all(int fd, const void *data, size_t len);

/* fsync of a file or a directory by path. 0 or -1 (errno set). */
int util_fsync_path(const char *path, bool dir);

/* Creates path (must not exist, mode 0666 & ~umask) holding data, fsynced. 0 or -1 (errno). */
int util_write_new_file(const char *path, const void *data, size_t len);

/* Replaces path atomically with data: a temporary sibling ".<name>.tmp.<pid>.<n>", fsync, rename,
 * fsync of the directory. On failure path is untouched and the temporary removed. */
int util_write_file_atomic(const char *path, const void *data, size_t len, char *err,
			   size_t errlen);

/* Copies regular file src to dst (new file, fsynced). Returns 1 if src does not exist, 0 on
 * success, -1 on failure (errno set). */
int util_copy_file(const char *dst, const char *src);

/* rm -r of path without following symlinks; a missing path is success. Best effort: -1 if
 * anything could not be removed (errno of the last failure). */
int util_remove_tree(const char *path);

/* 1 if dir holds no entry, 0 if it holds some, -1 on error (errno). */
int util_dir_is_empty(const char *dir);

/* dir + "/" + name into buf; -1 if it does not fit. */
int util_join(char *buf, size_t cap, const char *dir, const char *name);

#endif
