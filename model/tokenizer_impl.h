/* tokenizer_impl: the data shared by the tokenizer's loader (tokenizer_load.c), BPE encoder
 * (tokenizer_encode.c) and decoder (tokenizer_decode.c): growable buffers, the open-addressing
 * hash maps and struct tokenizer itself. Internal to model/. */
#ifndef YOPO_TOKENIZER_IMPL_H
#define YOPO_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

#define TOKENIZER_MAX_FILE ((size_t)1 << 30)
#define TOKENIZER_MAX_DEPTH 16 /* nesting of Sequence normalizers/pre-tokenizers/decoders */
#define TOKENIZER_MAX_STEPS 64
#define TOKENIZER_MAX_ID (INT32_MAX - 1)

struct buf {
	char *p;
	size_t len, cap;
};

struct ivec {
	int *p;
	size_t n, cap;
};

struct str_entry {
	const char *key; /* borrowed from tokenizer->strs; NULL = empty slot */
	uint32_t len;
	int32_t val;
};

struct str_map {
	struct str_entry *e;
	size_t cap; /* power of two, fixed at init */
};

struct pair_entry {
	uint64_t key; /* left << 32 | right; PAIR_EMPTY = empty slot */
	int32_t rank, new_id;
};

#define PAIR_EMPTY UINT64_MAX
struct pair_map {
	struct pair_entry *e;
	size_t cap;
};

struct added_token {
	const char *s; /* borrowed from strs[id] */
	size_t len;
	int id;
	bool special, lstrip, rstrip;
};

enum norm_kind { NORM_PREPEND, NORM_REPLACE };

struct norm_step {
	enum norm_kind kind;
	char *a, *b; /* PREPEND: a = prefix; REPLACE: a = pattern (non-empty), b = content */
	size_t a_len, b_len;
};

enum dec_kind { DEC_REPLACE, DEC_BYTE_FALLBACK, DEC_FUSE, DEC_STRIP, DEC_BYTE_LEVEL };

struct dec_step {
	enum dec_kind kind;
	char *a, *b; /* REPLACE: pattern, content; STRIP: a = the one character to strip */
	size_t a_len, b_len;
	size_t start, stop; /* STRIP: max characters removed at each end */
};

struct tokenizer {
	/* id -> string (NULL for an id with no token); strings are NUL-terminated copies */
	char **strs;
	int n_ids;   /* max id + 1 */
	size_t n_slots; /* allocated length of strs/is_special */
	unsigned char *is_special;

	struct str_map vocab;   /* model vocab only: what BPE may produce */
	struct str_map added_map;
	struct pair_map merges;
	int unk_id;
	bool byte_fallback, fuse_unk, ignore_merges;
	char *prefix, *suffix; /* continuing_subword_prefix / end_of_word_suffix, NULL if none */
	size_t prefix_len, suffix_len;
	int byte_token[256]; /* "<0xXX>" ids for byte fallback, -1 if absent */

	struct added_token *added; /* sorted by first byte, then longest first */
	size_t n_added;
	size_t added_first[257]; /* added[added_first[c] .. added_first[c+1]) start with byte c */

	struct norm_step norm[TOKENIZER_MAX_STEPS];
	size_t n_norm;

	bool byte_level, add_prefix_space, use_regex;
	char byte_char[256][2]; /* GPT-2 bytes_to_unicode as UTF-8 (all code points < 0x144) */
	unsigned char byte_char_len[256];
	int16_t char_byte[0x144]; /* inverse: code point -> byte, -1 if none */

	bool has_decoder;
	struct dec_step dec[TOKENIZER_MAX_STEPS];
	size_t n_dec;

	int bos_id, eos_id;
};

/* Buffers: reserve room for `extra` more bytes (plus a NUL), append n bytes; 0 or NOMEM. */
int tok_buf_reserve(struct buf *b, size_t extra);
int tok_buf_append(struct buf *b, const char *s, size_t n);
int tok_ivec_push(struct ivec *v, int x);

/* Hash maps: string -> id and (left, right) -> (rank, merged id). Get returns -1 / NULL when
 * absent. */
int tok_str_map_init(struct str_map *m, size_t n);
int tok_str_map_get(const struct str_map *m, const char *s, size_t n);
int tok_str_map_put(struct str_map *m, const char *s, size_t n, int val);
int tok_pair_map_init(struct pair_map *m, size_t n);
const struct pair_entry *tok_pair_map_get(const struct pair_map *m, int left, int right);
void tok_pair_map_put(struct pair_map *m, int left, int right, int rank, int new_id);

#endif
