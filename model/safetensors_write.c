/* safetensors_write: the atomic writers of .safetensors files (whole buffers or streamed through
 * a fill callback). The header is built with util/json and padded to 8 bytes. See
 * safetensors.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "json.h"
#include "safetensors_impl.h"

/* ---- writer ---- */

static bool str_ok(const char *s)
{
	return s && s[0] != '\0' && st_utf8_valid((const unsigned char *)s, strlen(s));
}

static bool has_duplicate(const char **names, int n)
{
	qsort(names, (size_t)n, sizeof *names, st_cmp_str);
	for (int i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			return true;
	return false;
}

/* Checks the caller's entries and metadata and fills nbytes[i]. need_data: the bytes come from
 * e[i].data (not from a fill callback), which must then be non-NULL for a non-empty tensor. */
static int writer_check(const struct safetensors_entry *e, int n, const char *const *meta,
			int n_meta, bool need_data, uint64_t *nbytes)
{
	const char **names = NULL;
	uint64_t total = 0;
	int ret = SAFETENSORS_ERR_ARG;

	if (n < 0 || n_meta < 0 || (n > 0 && !e) || (n_meta > 0 && !meta))
		return SAFETENSORS_ERR_ARG;
	for (int i = 0; i < n; i++) {
		if (!str_ok(e[i].name) || strcmp(e[i].name, "__metadata__") == 0)
			return SAFETENSORS_ERR_ARG;
		size_t es = safetensors_dtype_size(e[i].dtype);
		if (es == 0 || e[i].ndim < 0 || e[i].ndim > SAFETENSORS_MAX_DIMS)
			return SAFETENSORS_ERR_ARG;
		uint64_t nel = 1;
		for (int d = 0; d < e[i].ndim; d++) {
			if (e[i].shape[d] < 0)
				return SAFETENSORS_ERR_ARG;
			uint64_t dim = (uint64_t)e[i].shape[d];
			if (dim != 0 && nel > UINT64_MAX / dim)
				return SAFETENSORS_ERR_ARG;
			nel *= dim;
		}
		if (nel > UINT64_MAX / es || nel * es > SIZE_MAX ||
		    (need_data && nel * es > 0 && !e[i].data))
			return SAFETENSORS_ERR_ARG;
		nbytes[i] = nel * es;
		/* offsets go through JSON: keep them exact for every reader */
		if (total + nbytes[i] > (uint64_t)JSON_MAX_EXACT || total + nbytes[i] < total)
			return SAFETENSORS_ERR_ARG;
		total += nbytes[i];
	}
	for (int i = 0; i < 2 * n_meta; i++) {
		if (!meta[i] || !st_utf8_valid((const unsigned char *)meta[i], strlen(meta[i])))
			return SAFETENSORS_ERR_ARG;
	}

	int cap = n > n_meta ? n : n_meta;
	names = malloc((cap ? (size_t)cap : 1) * sizeof *names);
	if (!names)
		return SAFETENSORS_ERR_NOMEM;
	for (int i = 0; i < n; i++)
		names[i] = e[i].name;
	if (has_duplicate(names, n))
		goto out;
	for (int i = 0; i < n_meta; i++)
		names[i] = meta[2 * i];
	if (has_duplicate(names, n_meta))
		goto out;
	ret = SAFETENSORS_OK;
out:
	free(names);
	return ret;
}

/* The header JSON of entries (n) and meta (n_meta pairs) as serde writes it: compact, metadata
 * first, then the tensors in the caller's order with exact integer shapes and offsets; spaces pad
 * it to a multiple of 8 bytes. NULL when out of memory; *len its length. */
static char *header_build(size_t *len, const struct safetensors_entry *e, int n,
			  const char *const *meta, int n_meta, const uint64_t *nbytes)
{
	struct cJSON *root = json_new_object(), *m = NULL;
	bool ok = root != NULL;
	if (ok && n_meta > 0)
		ok = (m = json_add_object(root, "__metadata__")) != NULL;
	for (int i = 0; ok && i < n_meta; i++)
		ok = json_add_string(m, meta[2 * i], meta[2 * i + 1]) != NULL;
	uint64_t off = 0;
	for (int i = 0; ok && i < n; i++) {
		struct cJSON *t = json_add_object(root, e[i].name), *shape, *offs;
		ok = t && json_add_string(t, "dtype", safetensors_dtype_name(e[i].dtype)) &&
		     (shape = json_add_array(t, "shape")) != NULL;
		for (int d = 0; ok && d < e[i].ndim; d++)
			ok = json_add_uint64(shape, NULL, (uint64_t)e[i].shape[d]) != NULL;
		ok = ok && (offs = json_add_array(t, "data_offsets")) != NULL &&
		     json_add_uint64(offs, NULL, off) && json_add_uint64(offs, NULL, off + nbytes[i]);
		off += nbytes[i];
	}
	char *text = ok ? json_print(root, false) : NULL;
	json_free(root);
	if (!text)
		return NULL;
	size_t n_text = strlen(text), padded = (n_text + 7) / 8 * 8;
	char *out = realloc(text, padded + 1);
	if (!out) {
		free(text);
		return NULL;
	}
	memset(out + n_text, ' ', padded - n_text);
	out[padded] = '\0';
	*len = padded;
	return out;
}

/* Creates "<dir>/.<base>.tmp.<pid>.<k>" with O_EXCL, trying k = 0, 1, ... on collisions. */
static int temp_create(const char *path, char **tmp_out)
{
	const char *slash = strrchr(path, '/');
	size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
	const char *base = path + dir_len;
	size_t cap = strlen(path) + 64;
	char *tmp = malloc(cap);

	if (!tmp)
		return -2;
	for (unsigned k = 0; k < 1000; k++) {
		snprintf(tmp, cap, "%.*s.%s.tmp.%ld.%u", (int)dir_len, path, base, (long)getpid(), k);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0) {
			*tmp_out = tmp;
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	int saved = errno;
	free(tmp);
	errno = saved;
	return -1;
}

/* Durability of the rename itself; the new file is complete either way, so failures are ignored. */
static void dir_sync(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
	if (dir)
		util_fsync_path(dir, true);
	free(dir);
}

/* Tensor i's bytes through fill, one chunk at a time. */
/* Where the tensor bytes come from: entries[i].data (both NULL), fill into chunk, or view. */
struct source {
	safetensors_fill_fn *fill;
	safetensors_view_fn *view;
	void *ctx;
};

static int write_filled(int fd, const struct source *src, int i, uint64_t nbytes,
			unsigned char *chunk)
{
	for (uint64_t done = 0; done < nbytes;) {
		size_t len = nbytes - done < SAFETENSORS_STREAM_CHUNK ? (size_t)(nbytes - done)
								      : SAFETENSORS_STREAM_CHUNK;
		const void *p = chunk;
		if (src->view)
			p = src->view(src->ctx, i, len);
		else if (src->fill(src->ctx, i, chunk, len) != 0)
			p = NULL;
		if (!p)
			return SAFETENSORS_ERR_FILL;
		if (util_write_all(fd, p, len))
			return SAFETENSORS_ERR_IO;
		done += len;
	}
	return SAFETENSORS_OK;
}

/* Every writer: tensor bytes from entries[i].data, fill or view (src). */
static int write_file(const char *path, const struct safetensors_entry *entries, int n,
		      const char *const *meta, int n_meta, const struct source *src)
{
	bool streamed = src->fill || src->view;
	char *hdr = NULL;
	size_t hdr_len = 0;
	uint64_t *nbytes = NULL;
	unsigned char *chunk = NULL;
	char *tmp = NULL;
	int fd = -1, ret;
	unsigned char len8[8];

	if (!path || path[0] == '\0' || path[strlen(path) - 1] == '/' || n < 0)
		return SAFETENSORS_ERR_ARG;
	nbytes = calloc(n ? (size_t)n : 1, sizeof *nbytes);
	if (!nbytes)
		return SAFETENSORS_ERR_NOMEM;
	ret = writer_check(entries, n, meta, n_meta, !streamed, nbytes);
	if (ret)
		goto out;
	if (src->fill) {
		uint64_t largest = 0;
		for (int i = 0; i < n; i++)
			largest = nbytes[i] > largest ? nbytes[i] : largest;
		chunk = malloc(largest < SAFETENSORS_STREAM_CHUNK ? (size_t)largest + 1
								  : SAFETENSORS_STREAM_CHUNK);
		if (!chunk) {
			ret = SAFETENSORS_ERR_NOMEM;
			goto out;
		}
	}
	hdr = header_build(&hdr_len, entries, n, meta, n_meta, nbytes);
	if (!hdr) {
		ret = SAFETENSORS_ERR_NOMEM;
		goto out;
	}
	if (hdr_len > SAFETENSORS_MAX_HEADER) {
		ret = SAFETENSORS_ERR_ARG; /* no reader would accept it */
		goto out;
	}
	store_le32(len8, (uint32_t)hdr_len);
	store_le32(len8 + 4, 0);

	ret = SAFETENSORS_ERR_IO;
	fd = temp_create(path, &tmp);
	if (fd == -2)
		ret = SAFETENSORS_ERR_NOMEM;
	if (fd < 0)
		goto out;
	if (util_write_all(fd, len8, 8) || util_write_all(fd, hdr, hdr_len))
		goto out;
	for (int i = 0; i < n; i++) {
		if (streamed)
			ret = write_filled(fd, src, i, nbytes[i], chunk);
		else
			ret = util_write_all(fd, entries[i].data, (size_t)nbytes[i]) ? SAFETENSORS_ERR_IO
										: SAFETENSORS_OK;
		if (ret)
			goto out;
	}
	ret = SAFETENSORS_ERR_IO;
	if (fsync(fd) != 0)
		goto out;
	int cfd = fd;
	fd = -1;
	if (close(cfd) != 0)
		goto out;
	if (rename(tmp, path) != 0)
		goto out;
	free(tmp);
	tmp = NULL;
	dir_sync(path);
	ret = SAFETENSORS_OK;
out:;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(chunk);
	free(hdr);
	free(nbytes);
	errno = saved;
	return ret;
}

int safetensors_write(const char *path, const struct safetensors_entry *entries, int n,
		      const char *const *meta, int n_meta)
{
	return write_file(path, entries, n, meta, n_meta, &(struct source){0});
}

int safetensors_write_stream(const char *path, const struct safetensors_entry *entries, int n,
			     const char *const *meta, int n_meta, safetensors_fill_fn *fill,
			     void *ctx)
{
	if (!fill)
		return SAFETENSORS_ERR_ARG;
	return write_file(path, entries, n, meta, n_meta, &(struct source){.fill = fill, .ctx = ctx});
}

int safetensors_write_views(const char *path, const struct safetensors_entry *entries, int n,
			    const char *const *meta, int n_meta, safetensors_view_fn *view,
			    void *ctx)
{
	if (!view)
		return SAFETENSORS_ERR_ARG;
	return write_file(path, entries, n, meta, n_meta, &(struct source){.view = view, .ctx = ctx});
}

