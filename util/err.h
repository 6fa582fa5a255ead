/* err: the one error convention of every yopo library.
 *
 * A function that can fail returns 0 or a negative status from its module's enum, and, when the
 * caller passes a message buffer (err, errlen), always writes a one-line reason into it on failure
 * (never on success). Output arguments are written only on success. err may be NULL (errlen is
 * then ignored): callers that only branch on the status need not allocate a buffer. ERR_MAX is
 * the buffer size every caller uses. */
#ifndef YOPO_ERR_H
#define YOPO_ERR_H

#include <stddef.h>

#define ERR_MAX 512

/* Formats the reason into err (when err != NULL and errlen > 0, truncated to fit) and returns
 * status, so a failure path reads `return err_set(err, errlen, MOD_ERR_X, "...", ...);`. */
int err_set(char *err, size_t errlen, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Replaces every control byte of the NUL-terminated reason err (< 0x20 and 0x7f: newlines,
 * escapes) with '?', so a reason quoting untrusted text (a model_type, a tensor name, a path)
 * stays one printable line. err_set and err_prefix apply it; modules that format their reasons
 * themselves call it. NULL is a no-op. */
void err_clean(char *err);

/* Prefixes an already written reason: err becomes "<prefix>: <old reason>". Returns status. */
int err_prefix(char *err, size_t errlen, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
