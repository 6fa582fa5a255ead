/* safetensors: mmap reader of .safetensors files and sharded directories, and the element
 * conversions. Header validation is safetensors_validate.c, the writer safetensors_write.c.
 * See safetensors.h. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "halfconv.h"
#include "json.h"
#include "safetensors_impl.h"

#define INDEX_MAX_BYTES (64u << 20)
#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

size_t safetensors_dtype_size(enum safetensors_dtype dt)
{
	switch (dt) {
	case SAFETENSORS_DTYPE_F32: return 4;
	case SAFETENSORS_DTYPE_F16: return 2;
	case SAFETENSORS_DTYPE_BF16: return 2;
	}
	return 0;
}

const char *safetensors_dtype_name(enum safetensors_dtype dt)
{
	switch (dt) {
	case SAFETENSORS_DTYPE_F32: return "F32";
	case SAFETENSORS_DTYPE_F16: return "F16";
	case SAFETENSORS_DTYPE_BF16: return "BF16";
	}
	return "?";
}

const char *safetensors_strerror(int err)
{
	switch (err) {
	case SAFETENSORS_OK: return "success";
	case SAFETENSORS_ERR_IO: return "safetensors: I/O error";
	case SAFETENSORS_ERR_TOO_SMALL: return "safetensors: file shorter than the 8-byte header length";
	case SAFETENSORS_ERR_HEADER_TOO_LARGE: return "safetensors: header larger than 100,000,000 bytes";
	case SAFETENSORS_ERR_HEADER_OUT_OF_FILE: return "safetensors: header extends past end of file";
	case SAFETENSORS_ERR_HEADER_START: return "safetensors: header does not start with '{'";
	case SAFETENSORS_ERR_JSON: return "safetensors: header is not valid UTF-8 JSON";
	case SAFETENSORS_ERR_ENTRY: return "safetensors: malformed tensor entry or __metadata__";
	case SAFETENSORS_ERR_DTYPE: return "safetensors: unsupported dtype (only F32, F16, BF16)";
	case SAFETENSORS_ERR_SHAPE: return "safetensors: invalid shape (negative, non-integer or > 8 dims)";
	case SAFETENSORS_ERR_OVERFLOW: return "safetensors: tensor size overflows";
	case SAFETENSORS_ERR_SIZE_MISMATCH: return "safetensors: data_offsets do not match shape and dtype";
	case SAFETENSORS_ERR_OFFSETS: return "safetensors: tensor data ranges have a hole or overlap";
	case SAFETENSORS_ERR_TRAILING: return "safetensors: data section does not end at end of file";
	case SAFETENSORS_ERR_DUPLICATE: return "safetensors: duplicate tensor name";
	case SAFETENSORS_ERR_INDEX: return "safetensors: invalid model.safetensors.index.json";
	case SAFETENSORS_ERR_NOT_FOUND: return "safetensors: no model.safetensors or index in directory";
	case SAFETENSORS_ERR_NOMEM: return "safetensors: out of memory";
	case SAFETENSORS_ERR_ARG: return "safetensors: invalid tensor entry given to the writer";
	case SAFETENSORS_ERR_FILL: return "safetensors: the writer's fill callback failed";
	}
	return "unknown safetensors error";
}

/* ---- element conversions ---- */

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float f32_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

void safetensors_read_f32(float *out, const struct safetensors_tensor *t)
{
	const unsigned char *p = t->data;
	size_t n = t->nelem;

	switch (t->dtype) {
	case SAFETENSORS_DTYPE_F32:
		for (size_t i = 0; i < n; i++)
			out[i] = f32_from_bits(load_le32(p + 4 * i));
		break;
	case SAFETENSORS_DTYPE_F16:
		halfconv_f16(out, p, n);
		break;
	case SAFETENSORS_DTYPE_BF16:
		halfconv_bf16(out, p, n);
		break;
	}
}

void safetensors_convert_from_f32(void *dst, enum safetensors_dtype dt, const float *src, size_t n)
{
	unsigned char *p = dst;

	switch (dt) {
	case SAFETENSORS_DTYPE_F32:
		for (size_t i = 0; i < n; i++)
			store_le32(p + 4 * i, f32_bits(src[i]));
		break;
	case SAFETENSORS_DTYPE_F16:
		for (size_t i = 0; i < n; i++)
			store_le16(p + 2 * i, halfconv_f16_of(src[i]));
		break;
	case SAFETENSORS_DTYPE_BF16:
		for (size_t i = 0; i < n; i++)
			store_le16(p + 2 * i, halfconv_bf16_of(src[i]));
		break;
	}
}

/* Maps f->map / f->size from path. */
static int file_map(struct st_file *f, const char *path)
{
	struct stat sb;
	int ret = SAFETENSORS_ERR_IO;
	/* O_NONBLOCK: a FIFO is refused below instead of blocking the open */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return SAFETENSORS_ERR_IO;
	if (fstat(fd, &sb) != 0)
		goto out;
	if (!S_ISREG(sb.st_mode)) {
		errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
		goto out;
	}
	if ((uintmax_t)sb.st_size > SIZE_MAX) {
		errno = EFBIG;
		goto out;
	}
	if ((size_t)sb.st_size < 8) {
		ret = SAFETENSORS_ERR_TOO_SMALL;
		goto out;
	}
	void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		goto out;
	f->map = m;
	f->size = (size_t)sb.st_size;
	ret = SAFETENSORS_OK;
out:;
	int saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

void safetensors_close(struct safetensors *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n_files; i++) {
		struct st_file *f = &st->files[i];
		if (f->map)
			munmap(f->map, f->size);
		json_free(f->root);
		free(f->shard);
	}
	free(st->files);
	free(st->items);
	free(st);
}

static struct safetensors *set_new(int n_files)
{
	struct safetensors *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->files = calloc(n_files ? (size_t)n_files : 1, sizeof *st->files);
	if (!st->files) {
		free(st);
		return NULL;
	}
	return st;
}

/* Maps and parses path as file number st->n_files of st, appending its tensors to st->items
 * (left unsorted across files). */
static int set_add_file(struct safetensors *st, const char *path)
{
	struct st_file *f = &st->files[st->n_files];
	struct st_item *it = NULL;
	int n = 0;

	int ret = file_map(f, path);
	if (ret)
		return ret;
	st->n_files++; /* from here on safetensors_close releases f */
	st->file_bytes += f->size;
	ret = st_file_parse(f, st->n_files - 1, &it, &n);
	if (ret)
		return ret;
	if (st->n > INT_MAX - n) {
		free(it);
		return SAFETENSORS_ERR_NOMEM;
	}
	struct st_item *all = realloc(st->items, ((size_t)st->n + (size_t)n + 1) * sizeof *all);
	if (!all) {
		free(it);
		return SAFETENSORS_ERR_NOMEM;
	}
	memcpy(all + st->n, it, (size_t)n * sizeof *it);
	st->items = all;
	st->n += n;
	free(it);
	return SAFETENSORS_OK;
}

/* *out = st when ret is 0; otherwise closes st, keeping the errno the failure left, and
 * returns ret. */
static int set_finish(struct safetensors **out, struct safetensors *st, int ret)
{
	if (ret) {
		int saved = errno;
		safetensors_close(st);
		errno = saved;
		return ret;
	}
	*out = st;
	return SAFETENSORS_OK;
}

int safetensors_open(struct safetensors **out, const char *path)
{
	struct safetensors *st = set_new(1);
	if (!st)
		return SAFETENSORS_ERR_NOMEM;
	int ret = set_add_file(st, path);
	return set_finish(out, st, ret);
}

static char *path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (p && util_join(p, a + b + 2, dir, name)) {
		free(p);
		p = NULL;
	}
	return p;
}

/* The index file: util_read_file's kinds mapped to ours (not a regular file or too large is a
 * bad index; errno is kept for IO). */
static int read_index(const char *path, char **out, size_t *len)
{
	int rc = util_read_file(out, len, path, INDEX_MAX_BYTES, true, NULL, 0);
	switch (rc) {
	case UTIL_OK: return SAFETENSORS_OK;
	case UTIL_ERR_NOMEM: return SAFETENSORS_ERR_NOMEM;
	case UTIL_ERR_NOT_REGULAR:
	case UTIL_ERR_TOO_LARGE: return SAFETENSORS_ERR_INDEX;
	}
	return SAFETENSORS_ERR_IO;
}

int st_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const struct st_item *find_item(const struct safetensors *st, const char *name)
{
	int lo = 0, hi = st->n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(st->items[mid].t.name, name);
		if (c == 0)
			return &st->items[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool shard_name_ok(const char *s)
{
	return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Maps every distinct shard of the index (shards (n), sorted) into a new set *out. */
static int open_shards(struct safetensors **out, const char *dir, const char **shards, int n)
{
	int ret = SAFETENSORS_OK;
	struct safetensors *st = set_new(n);
	if (!st)
		return SAFETENSORS_ERR_NOMEM;
	for (int i = 0; i < n && !ret; i++) {
		char *path = path_join(dir, shards[i]);
		if (!path) {
			ret = SAFETENSORS_ERR_NOMEM;
			break;
		}
		ret = set_add_file(st, path);
		free(path);
		if (ret == SAFETENSORS_ERR_IO && errno == ENOENT)
			ret = SAFETENSORS_ERR_INDEX;
		if (!ret && !(st->files[i].shard = strdup(shards[i])))
			ret = SAFETENSORS_ERR_NOMEM;
	}
	if (st->n > 0) /* a shard that failed to map may leave no item (qsort(NULL, 0): UB) */
		qsort(st->items, (size_t)st->n, sizeof *st->items, st_cmp_names);
	for (int i = 1; i < st->n && !ret; i++)
		if (strcmp(st->items[i - 1].t.name, st->items[i].t.name) == 0)
			ret = SAFETENSORS_ERR_DUPLICATE;
	return set_finish(out, st, ret);
}

/* Every weight_map entry names a tensor of its shard, once. Tensors a shard holds beyond the map
 * are kept: loaders read whole shards. */
static int check_weight_map(const struct safetensors *st, const struct cJSON *map)
{
	bool *claimed = calloc(st->n ? (size_t)st->n : 1, sizeof *claimed);
	if (!claimed)
		return SAFETENSORS_ERR_NOMEM;
	int ret = SAFETENSORS_OK;
	for (const struct cJSON *c = json_child(map); c && !ret; c = json_next(c)) {
		const struct st_item *it = find_item(st, json_key(c));
		if (!it || strcmp(st->files[it->file].shard, json_string(c)) != 0 ||
		    claimed[it - st->items]) /* claimed: the same key twice */
			ret = SAFETENSORS_ERR_INDEX;
		else
			claimed[it - st->items] = true;
	}
	free(claimed);
	return ret;
}

/* The distinct shard names of weight_map (borrowed from it), sorted, in *out (*n of them). */
static int list_shards(const char ***out, int *n, const struct cJSON *map)
{
	int n_map = json_count(map), n_shards = 0;
	const char **shards = malloc((n_map ? (size_t)n_map : 1) * sizeof *shards);
	if (!shards)
		return SAFETENSORS_ERR_NOMEM;
	for (const struct cJSON *c = json_child(map); c; c = json_next(c)) {
		if (json_type(c) != JSON_TYPE_STRING || !shard_name_ok(json_string(c))) {
			free(shards);
			return SAFETENSORS_ERR_INDEX;
		}
		shards[n_shards++] = json_string(c);
	}
	qsort(shards, (size_t)n_shards, sizeof *shards, st_cmp_str);
	int n_distinct = 0;
	for (int i = 0; i < n_shards; i++)
		if (i == 0 || strcmp(shards[i], shards[n_distinct - 1]) != 0)
			shards[n_distinct++] = shards[i];
	*out = shards;
	*n = n_distinct;
	return SAFETENSORS_OK;
}

static int open_index(struct safetensors **out, const char *dir, const char *index_path)
{
	char *text = NULL;
	const char **shards = NULL;
	size_t len;
	struct cJSON *root = NULL;
	struct safetensors *st = NULL;
	int n_shards = 0, ret;

	ret = read_index(index_path, &text, &len);
	if (ret)
		goto out;
	ret = SAFETENSORS_ERR_INDEX;
	/* same strict syntax as headers */
	if (!st_utf8_valid((const unsigned char *)text, len) ||
	    !st_json_syntax_ok((const unsigned char *)text, len))
		goto out;
	root = json_parse(text, len);
	if (json_type(root) != JSON_TYPE_OBJECT)
		goto out;
	const struct cJSON *meta = json_get(root, "metadata");
	const struct cJSON *map = json_get(root, "weight_map");
	if ((meta && json_type(meta) != JSON_TYPE_OBJECT) || json_type(map) != JSON_TYPE_OBJECT)
		goto out;
	if (json_count(map) == 0)
		goto out; /* no tensor at all: an index naming no shard is malformed */
	if ((ret = list_shards(&shards, &n_shards, map)) ||
	    (ret = open_shards(&st, dir, shards, n_shards)) || (ret = check_weight_map(st, map)))
		goto out;
	*out = st;
	st = NULL;
	ret = SAFETENSORS_OK;
out:;
	int saved = errno;
	safetensors_close(st);
	free(shards);
	json_free(root);
	free(text);
	errno = saved;
	return ret;
}

int safetensors_open_dir(struct safetensors **out, const char *dir)
{
	struct stat sb;
	char *single = path_join(dir, SINGLE_NAME);
	char *index = path_join(dir, INDEX_NAME);
	int ret = SAFETENSORS_ERR_NOMEM;

	if (!single || !index)
		goto out;
	if (stat(single, &sb) == 0) {
		ret = safetensors_open(out, single);
	} else if (errno != ENOENT) {
		ret = SAFETENSORS_ERR_IO;
	} else if (stat(index, &sb) == 0) {
		ret = open_index(out, dir, index);
	} else {
		ret = errno == ENOENT ? SAFETENSORS_ERR_NOT_FOUND : SAFETENSORS_ERR_IO;
	}
out:;
	int saved = errno;
	free(single);
	free(index);
	errno = saved;
	return ret;
}

int safetensors_count(const struct safetensors *st)
{
	return st->n;
}

const struct safetensors_tensor *safetensors_at(const struct safetensors *st, int i)
{
	if (i < 0 || i >= st->n)
		return NULL;
	return &st->items[i].t;
}

const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name)
{
	const struct st_item *it = find_item(st, name);
	return it ? &it->t : NULL;
}

const char *safetensors_metadata(const struct safetensors *st, const char *key)
{
	const char *found = NULL;
	if (st->n_files == 0 || !st->files[0].meta)
		return NULL;
	/* serde fills a HashMap, so with a repeated key the last one wins */
	for (const struct cJSON *c = json_child(st->files[0].meta); c; c = json_next(c))
		if (strcmp(json_key(c), key) == 0)
			found = json_string(c);
	return found;
}

size_t safetensors_file_bytes(const struct safetensors *st)
{
	return st->file_bytes;
}

/* Page-aligned [begin, end) around t's bytes; false for an empty tensor. */
static bool tensor_pages(const struct safetensors_tensor *t, uintptr_t *begin, uintptr_t *end)
{
	long page = sysconf(_SC_PAGESIZE);
	if (t->nbytes == 0 || page <= 0)
		return false;
	uintptr_t mask = (uintptr_t)page - 1;
	*begin = (uintptr_t)t->data & ~mask;
	*end = ((uintptr_t)t->data + t->nbytes + mask) & ~mask;
	return true;
}

void safetensors_prefetch(const struct safetensors_tensor *t)
{
	uintptr_t begin, end;
#ifdef MADV_POPULATE_READ
	if (tensor_pages(t, &begin, &end))
		(void)madvise((void *)begin, end - begin, MADV_POPULATE_READ);
#else
	(void)t;
	(void)begin;
	(void)end;
#endif
}

int safetensors_evict(const struct safetensors_tensor *t)
{
	long page = sysconf(_SC_PAGESIZE);
	if (t->nbytes == 0 || page <= 0)
		return SAFETENSORS_OK;
	/* Rounded outwards the range stays inside the mapping: it starts on a page boundary and its
	 * last page is mapped whole. */
	uintptr_t mask = (uintptr_t)page - 1;
	uintptr_t begin = (uintptr_t)t->data & ~mask;
	uintptr_t end = ((uintptr_t)t->data + t->nbytes + mask) & ~mask;
	if (madvise((void *)begin, end - begin, MADV_DONTNEED) != 0)
		return SAFETENSORS_ERR_IO;
	return SAFETENSORS_OK;
}

