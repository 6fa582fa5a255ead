/* safetensors_impl: what the safetensors reader (safetensors.c), its header validation
 * (safetensors_validate.c) and its writer (safetensors_write.c) share. Internal to model/. */
#ifndef YOPO_SAFETENSORS_IMPL_H
#define YOPO_SAFETENSORS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "safetensors.h"

/* serde_json's default recursion limit: deeper headers are rejected by the crate. */
#define JSON_MAX_DEPTH 128
/* Largest integer a double (the JSON number type) holds exactly. Shapes and offsets beyond it
 * cannot be read exactly, and no mappable file is that large anyway. */
#define JSON_MAX_EXACT 9007199254740992.0

struct st_file {
	unsigned char *map;
	size_t size;
	struct cJSON *root;       /* parsed header; tensor names and metadata point into it */
	const struct cJSON *meta; /* __metadata__ object, or NULL */
	char *shard;              /* file name as written in the index (NULL for a lone file) */
};

struct st_item {
	struct safetensors_tensor t; /* first member: safetensors_at hands out &item->t */
	uint64_t begin, end;          /* data_offsets, relative to the data section */
	int file;
};

struct safetensors {
	struct st_file *files;
	int n_files;
	struct st_item *items; /* sorted by name */
	int n;
	size_t file_bytes;
};

/* Strict UTF-8 (what Rust's str::from_utf8 accepts) of s (n bytes). */
bool st_utf8_valid(const unsigned char *s, size_t n);

/* Strict RFC 8259 syntax of p (n bytes), as serde_json: no leading zeros, no raw control
 * characters in strings, no "\u0000", depth at most JSON_MAX_DEPTH, nothing after the value. */
bool st_json_syntax_ok(const unsigned char *p, size_t n);

/* Validates the mapped file f (header, entries, ranges, names) and returns its tensors sorted by
 * name in *items / *n_items (file index file_index). Errors: the header kinds of
 * safetensors_error. */
int st_file_parse(struct st_file *f, int file_index, struct st_item **items, int *n_items);

/* qsort comparators: items by tensor name, strings by strcmp. */
int st_cmp_names(const void *a, const void *b);
int st_cmp_str(const void *a, const void *b);

static inline uint16_t load_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

static inline void store_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8);
}

static inline void store_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}


#endif
