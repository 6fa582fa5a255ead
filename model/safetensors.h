/* safetensors: memory-mapped reader and atomic writer for Hugging Face .safetensors files.
 *
 * File layout: 8-byte little-endian u64 N, N bytes of UTF-8 JSON header, then the data section.
 * The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
 * to the data section) plus an optional "__metadata__" string->string object. The reader validates
 * like the reference Rust crate (SafeTensors::deserialize): header size limit, '{' start, strict JSON,
 * ranges contiguous from 0 with no hole or overlap, byte length == nelem x dtype size (checked
 * multiplication), data section ending exactly at end of file, no duplicate names. Only F32, F16 and
 * BF16 tensors are accepted (anything else is SAFETENSORS_ERR_DTYPE).
 *
 * Deliberate differences from the crate: failures it reports as one JSON error are split into
 * ENTRY / DTYPE / SHAPE; begin > end is SIZE_MISMATCH; duplicate names are rejected; "\u0000" in
 * a string is rejected (names are C strings); dimensions and offsets must be integers <= 2^53
 * (cJSON holds numbers as doubles), and an integer written as "2.0" or "2e0" is accepted there.
 *
 * A sharded checkpoint (model.safetensors.index.json + shard files) opens as one merged set.
 * Tensor views point into read-only mappings; they stay valid until safetensors_close. */
#ifndef YOPO_SAFETENSORS_H
#define YOPO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_DIMS 8
#define SAFETENSORS_MAX_HEADER 100000000u

enum safetensors_dtype { SAFETENSORS_DTYPE_F32, SAFETENSORS_DTYPE_F16, SAFETENSORS_DTYPE_BF16 };

/* Bytes per element (4, 2, 2); 0 for a value outside the enum. */
size_t safetensors_dtype_size(enum safetensors_dtype dt);
/* "F32", "F16", "BF16" (the header spelling); "?" for a value outside the enum. Static string. */
const char *safetensors_dtype_name(enum safetensors_dtype dt);

enum safetensors_error {
	SAFETENSORS_OK = 0,
	SAFETENSORS_ERR_IO = -1,                  /* open/stat/mmap/read/write failed (errno kept) */
	SAFETENSORS_ERR_TOO_SMALL = -2,           /* file shorter than the 8-byte length prefix */
	SAFETENSORS_ERR_HEADER_TOO_LARGE = -3,    /* header length > 100,000,000 bytes */
	SAFETENSORS_ERR_HEADER_OUT_OF_FILE = -4,  /* 8 + header length > file size */
	SAFETENSORS_ERR_HEADER_START = -5,        /* header does not start with '{' */
	SAFETENSORS_ERR_JSON = -6,                /* header not valid JSON / not UTF-8 */
	SAFETENSORS_ERR_ENTRY = -7,               /* entry not an object, dtype/shape/data_offsets missing,
						     repeated or ill-typed (offsets: two integers <= 2^53),
						     __metadata__ repeated or not string->string */
	SAFETENSORS_ERR_DTYPE = -8,               /* dtype other than F32/F16/BF16 */
	SAFETENSORS_ERR_SHAPE = -9,               /* bad dimension or more than 8 dims */
	SAFETENSORS_ERR_OVERFLOW = -10,           /* shape product x dtype size overflows */
	SAFETENSORS_ERR_SIZE_MISMATCH = -11,      /* end - begin != nbytes, or begin > end */
	SAFETENSORS_ERR_OFFSETS = -12,            /* ranges sorted by offset have a hole or overlap */
	SAFETENSORS_ERR_TRAILING = -13,           /* data section does not end exactly at end of file */
	SAFETENSORS_ERR_DUPLICATE = -14,          /* two tensors with the same name */
	SAFETENSORS_ERR_INDEX = -15,              /* index.json malformed or empty / missing shard / misplaced tensor */
	SAFETENSORS_ERR_NOT_FOUND = -16,          /* no model.safetensors / index in the directory */
	SAFETENSORS_ERR_NOMEM = -17,
	SAFETENSORS_ERR_ARG = -18,                /* writer: invalid entry passed by the caller */
	SAFETENSORS_ERR_FILL = -19,               /* streaming writer: the fill callback failed */
};

/* Static one-line description of a safetensors_error (or "unknown safetensors error"). */
const char *safetensors_strerror(int err);

struct safetensors; /* opaque: one file, or the shards of an index, merged */

struct safetensors_tensor { /* a view into the mapping; valid until safetensors_close */
	const char *name;
	enum safetensors_dtype dtype;
	int ndim;                          /* 0 for a scalar */
	int64_t shape[SAFETENSORS_MAX_DIMS]; /* shape[ndim..] are 0 */
	size_t nelem;                      /* product of shape (1 for a scalar, 0 if any dim is 0) */
	size_t nbytes;                     /* nelem x dtype size */
	const void *data;                  /* little-endian elements; may be unaligned */
};

/* Opens and validates one .safetensors file. On success *out owns the mapping (free with
 * safetensors_close). Errors: any negative safetensors_error except INDEX/NOT_FOUND/ARG; on
 * SAFETENSORS_ERR_IO errno tells why. *out is written only on success. */
int safetensors_open(struct safetensors **out, const char *path);

/* Opens dir/model.safetensors if it exists, else dir/model.safetensors.index.json
 * ({"metadata": {...}, "weight_map": {"tensor": "shard file"}}) and every shard it names (plain file
 * names in dir; no '/', not "." or ".."). All shards are validated like safetensors_open and merged;
 * every weight_map tensor must be in its declared shard. Errors: SAFETENSORS_ERR_NOT_FOUND if
 * neither file exists, SAFETENSORS_ERR_INDEX for a malformed or empty index or missing shard,
 * SAFETENSORS_ERR_DUPLICATE for a tensor in two shards, otherwise as safetensors_open. */
int safetensors_open_dir(struct safetensors **out, const char *dir);

/* Unmaps everything; every tensor view and name becomes invalid. NULL is a no-op. */
void safetensors_close(struct safetensors *st);

/* Number of tensors (all shards). */
int safetensors_count(const struct safetensors *st);

/* Tensor i in name order (strcmp, i.e. byte / code-point order); NULL if i is out of range. */
const struct safetensors_tensor *safetensors_at(const struct safetensors *st, int i);

/* Tensor called name (binary search), NULL if absent. */
const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name);

/* __metadata__[key] of the file (of the first shard in file-name order for a sharded set); NULL if
 * absent. The string belongs to st. */
const char *safetensors_metadata(const struct safetensors *st, const char *key);

/* Total size in bytes of every .safetensors file in the set (the index file not included). */
size_t safetensors_file_bytes(const struct safetensors *st);

/* Residency hint for streaming readers: drops the mapped pages that hold t's bytes from this
 * process's resident set (madvise MADV_DONTNEED on the page-rounded range; the mapping is private
 * and read-only, so nothing is lost). t and every other view stay valid: a later read faults the
 * bytes back in from the file (usually from the page cache). Pages shared with the neighbouring
 * tensors are dropped too, with the same effect. Without this, every tensor ever read through the
 * mapping stays in RSS until safetensors_close. Returns 0, or SAFETENSORS_ERR_IO (errno kept) if
 * the kernel refused the hint; the data is unaffected either way. */
int safetensors_evict(const struct safetensors_tensor *t);

/* Maps t's pages in one call (MADV_POPULATE_READ where the kernel has it) instead of one page
 * fault per 64 KiB on first touch: faults are expensive in a virtual machine. The prune writer
 * calls it before copying a tensor (a 2-layer 7B cut, median of 5: random 2.38 s -> 1.87 s), the
 * forward pass before each stored layer it evicts after the run (forward.h); before a conversion
 * it made no difference beyond the noise (magnitude 3.67-3.85 s without, 3.87 s with), so
 * safetensors_read_f32 does not. Advisory: failures are ignored. */
void safetensors_prefetch(const struct safetensors_tensor *t);

/* out (t->nelem) = t's elements converted to f32. Exact for all three dtypes (subnormals, inf, NaN
 * payload bits kept). Reads t->data bytewise, so any alignment is fine. */
void safetensors_read_f32(float *out, const struct safetensors_tensor *t);

/* dst (n elements of dt, little-endian, any alignment) = src (n) converted to dt. F16 and BF16
 * round to nearest, ties to even; overflow goes to inf; NaN stays NaN (quiet, sign kept). */
void safetensors_convert_from_f32(void *dst, enum safetensors_dtype dt, const float *src, size_t n);

struct safetensors_entry { /* what the writer writes; data already in `dtype`, little-endian */
	const char *name;
	enum safetensors_dtype dtype;
	int ndim;
	int64_t shape[SAFETENSORS_MAX_DIMS];
	const void *data; /* nelem x dtype size bytes; may be NULL only if that is 0 */
};

/* Writes path atomically: temp file in the same directory, fsync, rename, then a best-effort fsync
 * of the directory. Tensors are laid out in the order given (the caller decides); the header is
 * compact JSON padded with spaces to a multiple of 8, with __metadata__ (n_meta pairs
 * meta[2*i] -> meta[2*i+1]) first when n_meta > 0. Errors: SAFETENSORS_ERR_ARG for an empty, non-UTF-8,
 * "__metadata__" or duplicate name, a bad dtype / ndim / negative dim, a size overflow, NULL data,
 * or bad/duplicate metadata keys; SAFETENSORS_ERR_IO (errno kept) for file system failures;
 * SAFETENSORS_ERR_NOMEM. On any error no file at `path` is created or changed and the temp file
 * is removed. */
int safetensors_write(const char *path, const struct safetensors_entry *entries, int n,
		      const char *const *meta, int n_meta);

/* Bytes a streaming fill call receives at most: a multiple of 8, so every piece holds whole
 * elements of any dtype. */
#define SAFETENSORS_STREAM_CHUNK ((size_t)4 << 20)

/* Producer of tensor data for safetensors_write_stream: writes the next nbytes bytes of tensor
 * `index` (elements already in that tensor's dtype, little-endian) into buf, all of them. Returns
 * 0, or non-zero to abort the write. */
typedef int safetensors_fill_fn(void *ctx, int index, void *buf, size_t nbytes);

/* safetensors_write without holding the data: entries[i].data is ignored (may be NULL) and the
 * bytes come from fill instead. Tensors are produced in the order given; tensor i's nbytes arrive
 * through consecutive calls fill(ctx, i, buf, len) that cover it from its first byte to its last,
 * each len == SAFETENSORS_STREAM_CHUNK except the last (which is shorter or equal); an empty
 * tensor gets no call. buf is owned by the writer and reused between calls (its earlier contents
 * are unspecified). Peak memory is one chunk plus the header, whatever the tensor sizes. The file
 * is byte-identical to safetensors_write's for the same entries and data. Errors: as
 * safetensors_write (SAFETENSORS_ERR_ARG also for a NULL fill), plus SAFETENSORS_ERR_FILL when fill
 * returns non-zero; on any error a file already at `path` is unchanged (none is created), the
 * temp file is removed and fill is not called again. */
int safetensors_write_stream(const char *path, const struct safetensors_entry *entries, int n,
			     const char *const *meta, int n_meta, safetensors_fill_fn *fill,
			     void *ctx);

/* Producer that already holds the bytes (a mapped file, a built tensor): returns a pointer to the
 * next nbytes bytes of tensor `index`, valid until the next call, or NULL to abort the write. */
typedef const void *safetensors_view_fn(void *ctx, int index, size_t nbytes);

/* safetensors_write_stream with the bytes written straight from where view points: the same
 * call sequence (consecutive pieces of SAFETENSORS_STREAM_CHUNK bytes), the same file and the same
 * errors (SAFETENSORS_ERR_FILL when view returns NULL, SAFETENSORS_ERR_ARG for a NULL view), one
 * copy fewer per byte and no chunk buffer. */
int safetensors_write_views(const char *path, const struct safetensors_entry *entries, int n,
			    const char *const *meta, int n_meta, safetensors_view_fn *view,
			    void *ctx);

#endif
