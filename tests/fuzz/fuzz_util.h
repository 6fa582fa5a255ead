/* fuzz_util: what every libFuzzer target of tests/fuzz shares: one private scratch directory per
 * process (removed at exit) where targets write the fuzzer's bytes as files, since the readers
 * under test take paths, and the check of the error convention (util/err.h).
 *
 * The readers of an opened tensor set are walked here too (fuzz_walk_tensors).
 *
 * Harness failures (a scratch file that cannot be written) abort: they are bugs of the harness,
 * and libFuzzer reports any abort as a finding. */
#ifndef YOPO_FUZZ_UTIL_H
#define YOPO_FUZZ_UTIL_H

#include <stddef.h>

/* The scratch directory $TMPDIR/yopo-fuzz-XXXXXX (/tmp without TMPDIR), created on first use. */
const char *fuzz_dir(void);

/* fuzz_dir() + "/" + name in a static buffer (valid until the next call). */
const char *fuzz_path(const char *name);

/* Creates or truncates fuzz_path(name) and writes the n bytes at data; returns the path
 * (static buffer as fuzz_path). */
const char *fuzz_write(const char *name, const void *data, size_t n);

/* Copies the committed fixture FUZZ_FIXTURES/rel to fuzz_path(name). */
void fuzz_copy_fixture(const char *rel, const char *name);

/* Aborts when a failing call (rc != 0) left no reason in err or a reason spanning lines: every
 * failure must explain itself on one line. */
void fuzz_check_reason(int rc, const char *err);

struct safetensors;

/* Checks every tensor of an opened set (listed in order, found by name, byte count = shape x
 * dtype size) and converts those of at most 2^16 elements to f32, so a view reaching outside
 * the mapping faults; aborts on a broken invariant. */
void fuzz_walk_tensors(const struct safetensors *st);

#endif
