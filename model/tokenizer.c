/* tokenizer: Hugging Face tokenizer.json reader, BPE encoder and decoder (see tokenizer.h).
 *
 * Shape of the data: every token string is copied once (strs[id]); two open-addressing hash maps
 * index them (model vocab string -> id, added token string -> id) and a third maps a merge pair
 * (left id, right id) -> (rank, merged id). Encoding: split on added tokens, normalize, pre-tokenize,
 * then one BPE word per pre-token, merged with a min-heap of (rank, position) over a linked list
 * of symbols, like tokenizers/src/models/bpe/word.rs. */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "unicode.h"

#define TOKENIZER_MAX_FILE (1u << 30)
#define TOKENIZER_MAX_DEPTH 16 /* nesting of Sequence normalizers/pre-tokenizers/decoders */
#define TOKENIZER_MAX_STEPS 64
#define TOKENIZER_MAX_ID (INT32_MAX - 1)

/* ------------------------------------------------------------------------------------------ */
/* Growable buffers                                                                           */

struct buf {
	char *p;
	size_t len, cap;
};

struct ivec {
	int *p;
	size_t n, cap;
};

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - 1 - b->len)
		return TOKENIZER_ERR_NOMEM;
	need = b->len + extra + 1; /* room for a NUL */
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return TOKENIZER_ERR_NOMEM;
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p)
		return TOKENIZER_ERR_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_append(struct buf *b, const char *s, size_t n)
{
	int err = buf_reserve(b, n);

	if (err)
		return err;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int ivec_push(struct ivec *v, int x)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 256;
		int *p;

		if (v->cap > SIZE_MAX / 2 / sizeof(int))
			return TOKENIZER_ERR_NOMEM;
		p = realloc(v->p, cap * sizeof(int));
		if (!p)
			return TOKENIZER_ERR_NOMEM;
		v->p = p;
		v->cap = cap;
	}
	v->p[v->n++] = x;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Hash maps                                                                                  */

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 30; /* splitmix64 finalizer */
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* Power-of-two capacity at least twice n (load <= 1/2); 0 on overflow. */
static size_t map_capacity(size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n) {
		if (cap > SIZE_MAX / 4)
			return 0;
		cap *= 2;
	}
	return cap;
}

struct str_entry {
	const char *key; /* borrowed from tokenizer->strs; NULL = empty slot */
	uint32_t len;
	int32_t val;
};

struct str_map {
	struct str_entry *e;
	size_t cap; /* power of two, fixed at init */
};

static int str_map_init(struct str_map *m, size_t n)
{
	m->cap = map_capacity(n);
	if (!m->cap || m->cap > SIZE_MAX / sizeof(*m->e))
		return TOKENIZER_ERR_NOMEM;
	m->e = calloc(m->cap, sizeof(*m->e));
	return m->e ? 0 : TOKENIZER_ERR_NOMEM;
}

static int str_map_get(const struct str_map *m, const char *s, size_t n)
{
	size_t i;

	if (!m->cap)
		return -1;
	for (i = hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const struct str_entry *e = &m->e[i];
		if (!e->key)
			return -1;
		if (e->len == n && memcmp(e->key, s, n) == 0)
			return e->val;
	}
}

/* Inserts key -> val unless key is present; returns the id already there, or -1 if inserted.
 * The caller keeps the number of keys below cap / 2. */
static int str_map_put(struct str_map *m, const char *s, size_t n, int val)
{
	size_t i;

	for (i = hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct str_entry *e = &m->e[i];
		if (!e->key) {
			e->key = s;
			e->len = (uint32_t)n;
			e->val = val;
			return -1;
		}
		if (e->len == n && memcmp(e->key, s, n) == 0)
			return e->val;
	}
}

struct pair_entry {
	uint64_t key; /* left << 32 | right; PAIR_EMPTY = empty slot */
	int32_t rank, new_id;
};

#define PAIR_EMPTY UINT64_MAX

struct pair_map {
	struct pair_entry *e;
	size_t cap;
};

static int pair_map_init(struct pair_map *m, size_t n)
{
	size_t i;

	m->cap = map_capacity(n);
	if (!m->cap || m->cap > SIZE_MAX / sizeof(*m->e))
		return TOKENIZER_ERR_NOMEM;
	m->e = malloc(m->cap * sizeof(*m->e));
	if (!m->e)
		return TOKENIZER_ERR_NOMEM;
	for (i = 0; i < m->cap; i++)
		m->e[i].key = PAIR_EMPTY;
	return 0;
}

static uint64_t pair_key(int left, int right)
{
	return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static const struct pair_entry *pair_map_get(const struct pair_map *m, int left, int right)
{
	uint64_t key = pair_key(left, right);
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = hash_u64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const struct pair_entry *e = &m->e[i];
		if (e->key == PAIR_EMPTY)
			return NULL;
		if (e->key == key)
			return e;
	}
}

/* A repeated pair keeps the later rank, like HF's collect() into a HashMap. */
static void pair_map_put(struct pair_map *m, int left, int right, int rank, int new_id)
{
	uint64_t key = pair_key(left, right);
	size_t i;

	for (i = hash_u64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct pair_entry *e = &m->e[i];
		if (e->key == PAIR_EMPTY || e->key == key) {
			e->key = key;
			e->rank = rank;
			e->new_id = new_id;
			return;
		}
	}
}

/* ------------------------------------------------------------------------------------------ */
/* The tokenizer                                                                              */

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

const char *tokenizer_strerror(int err)
{
	switch (err) {
	case TOKENIZER_OK: return "success";
	case TOKENIZER_ERR_IO: return "cannot read tokenizer file";
	case TOKENIZER_ERR_JSON: return "tokenizer file is not valid JSON or has a field of the wrong type";
	case TOKENIZER_ERR_MODEL: return "tokenizer model is not BPE or lacks vocab/merges";
	case TOKENIZER_ERR_VOCAB: return "bad vocabulary entry (id or string)";
	case TOKENIZER_ERR_MERGE: return "malformed merge or merge of unknown tokens";
	case TOKENIZER_ERR_UNSUPPORTED: return "unsupported normalizer, pre-tokenizer or decoder";
	case TOKENIZER_ERR_NOMEM: return "out of memory";
	case TOKENIZER_ERR_ARG: return "invalid argument";
	default: return "unknown tokenizer error";
	}
}

void tokenizer_free(struct tokenizer *t)
{
	size_t i;

	if (!t)
		return;
	if (t->strs)
		for (i = 0; i < t->n_slots; i++)
			free(t->strs[i]);
	free(t->strs);
	free(t->is_special);
	free(t->vocab.e);
	free(t->added_map.e);
	free(t->merges.e);
	free(t->prefix);
	free(t->suffix);
	free(t->added);
	for (i = 0; i < t->n_norm; i++) {
		free(t->norm[i].a);
		free(t->norm[i].b);
	}
	for (i = 0; i < t->n_dec; i++) {
		free(t->dec[i].a);
		free(t->dec[i].b);
	}
	free(t);
}

int tokenizer_vocab_size(const struct tokenizer *t)
{
	return t ? t->n_ids : 0;
}

const char *tokenizer_token(const struct tokenizer *t, int id)
{
	if (!t || id < 0 || id >= t->n_ids)
		return NULL;
	return t->strs[id];
}

int tokenizer_token_id(const struct tokenizer *t, const char *piece)
{
	size_t n;
	int id;

	if (!t || !piece)
		return -1;
	n = strlen(piece);
	id = str_map_get(&t->added_map, piece, n);
	return id >= 0 ? id : str_map_get(&t->vocab, piece, n);
}

int tokenizer_bos_id(const struct tokenizer *t)
{
	return t ? t->bos_id : -1;
}

int tokenizer_eos_id(const struct tokenizer *t)
{
	return t ? t->eos_id : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                    */

struct load {
	struct tokenizer *t;
	char *msg;
	size_t msg_cap;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(struct load *ld, int err, const char *fmt, ...)
{
	va_list ap;

	if (ld->msg && ld->msg_cap) {
		va_start(ap, fmt);
		vsnprintf(ld->msg, ld->msg_cap, fmt, ap);
		va_end(ap);
		err_clean(ld->msg); /* quoted values may hold newlines */
	}
	return err;
}

static int read_file(const char *path, char **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	struct buf b = {0};
	int err = 0;

	if (!f)
		return TOKENIZER_ERR_IO;
	for (;;) {
		size_t got;

		err = buf_reserve(&b, 65536);
		if (err)
			goto out;
		got = fread(b.p + b.len, 1, b.cap - 1 - b.len, f);
		b.len += got;
		if (b.len > TOKENIZER_MAX_FILE) {
			err = TOKENIZER_ERR_IO;
			goto out;
		}
		if (got == 0)
			break;
	}
	if (ferror(f))
		err = TOKENIZER_ERR_IO;
out:
	fclose(f);
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}

/* An exact non-negative integer below limit, or -1. */
static long json_id(const cJSON *v, long limit)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -1;
	d = v->valuedouble;
	if (!isfinite(d) || d < 0 || d >= (double)limit || d != floor(d))
		return -1;
	return (long)d;
}

/* Optional boolean field; wrong type is an error. */
static int json_bool(const cJSON *obj, const char *name, bool dflt, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!v || cJSON_IsNull(v)) {
		*out = dflt;
		return 0;
	}
	if (!cJSON_IsBool(v))
		return -1;
	*out = cJSON_IsTrue(v);
	return 0;
}

/* Optional string field: *out = NULL when absent or null; wrong type is an error. */
static int json_str(const cJSON *obj, const char *name, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -1;
	*out = v->valuestring;
	return 0;
}

static char *dup_str(const char *s, size_t *len)
{
	size_t n = strlen(s);
	char *p = malloc(n + 1);

	if (p)
		memcpy(p, s, n + 1);
	if (len)
		*len = n;
	return p;
}

static const char *type_of(const cJSON *obj)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "type");

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The string of a {"String": s} pattern; unsupported for {"Regex": ...}. */
static int load_pattern(struct load *ld, const cJSON *step, const char *what, const char **out)
{
	const cJSON *pat = cJSON_GetObjectItemCaseSensitive(step, "pattern");
	const cJSON *s;

	if (!cJSON_IsObject(pat))
		return fail(ld, TOKENIZER_ERR_JSON, "%s: 'pattern' is not an object", what);
	if (cJSON_GetObjectItemCaseSensitive(pat, "Regex"))
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported %s with a Regex pattern", what);
	s = cJSON_GetObjectItemCaseSensitive(pat, "String");
	if (!cJSON_IsString(s))
		return fail(ld, TOKENIZER_ERR_JSON, "%s: pattern has no 'String'", what);
	if (!s->valuestring[0])
		return fail(ld, TOKENIZER_ERR_JSON, "%s: empty pattern", what);
	*out = s->valuestring;
	return 0;
}

static int load_normalizer(struct load *ld, const cJSON *n, int depth)
{
	struct tokenizer *t = ld->t;
	const char *type, *a, *b;
	struct norm_step *st;
	int err;

	if (!n || cJSON_IsNull(n))
		return 0;
	if (!cJSON_IsObject(n) || depth > TOKENIZER_MAX_DEPTH)
		return fail(ld, TOKENIZER_ERR_JSON, "normalizer is not an object (or nested too deep)");
	type = type_of(n);
	if (!type)
		return fail(ld, TOKENIZER_ERR_JSON, "normalizer has no 'type'");
	if (strcmp(type, "Sequence") == 0) {
		const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *it;

		if (!cJSON_IsArray(list))
			return fail(ld, TOKENIZER_ERR_JSON, "Sequence normalizer without 'normalizers' array");
		cJSON_ArrayForEach(it, list) {
			err = load_normalizer(ld, it, depth + 1);
			if (err)
				return err;
		}
		return 0;
	}
	if (strcmp(type, "Prepend") == 0) {
		if (json_str(n, "prepend", &a) || !a)
			return fail(ld, TOKENIZER_ERR_JSON, "Prepend normalizer without 'prepend' string");
		b = NULL;
	} else if (strcmp(type, "Replace") == 0) {
		err = load_pattern(ld, n, "Replace normalizer", &a);
		if (err)
			return err;
		if (json_str(n, "content", &b) || !b)
			return fail(ld, TOKENIZER_ERR_JSON, "Replace normalizer without 'content' string");
	} else {
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported normalizer '%s'", type);
	}
	if (t->n_norm == TOKENIZER_MAX_STEPS)
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "more than %d normalizer steps", TOKENIZER_MAX_STEPS);
	st = &t->norm[t->n_norm++];
	st->kind = b ? NORM_REPLACE : NORM_PREPEND;
	st->a = dup_str(a, &st->a_len);
	st->b = b ? dup_str(b, &st->b_len) : NULL;
	if (!st->a || (b && !st->b))
		return TOKENIZER_ERR_NOMEM;
	return 0;
}

static int load_pre_tokenizer(struct load *ld, const cJSON *p, int depth)
{
	struct tokenizer *t = ld->t;
	const char *type;

	if (!p || cJSON_IsNull(p))
		return 0;
	if (!cJSON_IsObject(p) || depth > TOKENIZER_MAX_DEPTH)
		return fail(ld, TOKENIZER_ERR_JSON, "pre_tokenizer is not an object (or nested too deep)");
	type = type_of(p);
	if (!type)
		return fail(ld, TOKENIZER_ERR_JSON, "pre_tokenizer has no 'type'");
	if (strcmp(type, "Sequence") == 0) {
		const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *it;

		if (!cJSON_IsArray(list))
			return fail(ld, TOKENIZER_ERR_JSON, "Sequence pre_tokenizer without 'pretokenizers' array");
		cJSON_ArrayForEach(it, list) {
			int err = load_pre_tokenizer(ld, it, depth + 1);
			if (err)
				return err;
		}
		return 0;
	}
	if (strcmp(type, "ByteLevel") != 0)
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported pre_tokenizer '%s'", type);
	/* A second ByteLevel would map bytes twice; no real tokenizer does that. */
	if (t->byte_level)
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported pre_tokenizer: ByteLevel twice");
	t->byte_level = true;
	if (json_bool(p, "add_prefix_space", true, &t->add_prefix_space) ||
	    json_bool(p, "use_regex", true, &t->use_regex))
		return fail(ld, TOKENIZER_ERR_JSON, "ByteLevel pre_tokenizer: field of the wrong type");
	return 0;
}

static int load_decoder(struct load *ld, const cJSON *d, int depth)
{
	struct tokenizer *t = ld->t;
	struct dec_step st = {0};
	const char *type, *a = NULL, *b = NULL;

	if (!d || cJSON_IsNull(d))
		return 0;
	if (!cJSON_IsObject(d) || depth > TOKENIZER_MAX_DEPTH)
		return fail(ld, TOKENIZER_ERR_JSON, "decoder is not an object (or nested too deep)");
	type = type_of(d);
	if (!type)
		return fail(ld, TOKENIZER_ERR_JSON, "decoder has no 'type'");
	t->has_decoder = true;
	if (strcmp(type, "Sequence") == 0) {
		const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders"), *it;

		if (!cJSON_IsArray(list))
			return fail(ld, TOKENIZER_ERR_JSON, "Sequence decoder without 'decoders' array");
		cJSON_ArrayForEach(it, list) {
			int err = load_decoder(ld, it, depth + 1);
			if (err)
				return err;
		}
		return 0;
	}
	if (strcmp(type, "Replace") == 0) {
		int err = load_pattern(ld, d, "Replace decoder", &a);

		if (err)
			return err;
		if (json_str(d, "content", &b) || !b)
			return fail(ld, TOKENIZER_ERR_JSON, "Replace decoder without 'content' string");
		st.kind = DEC_REPLACE;
	} else if (strcmp(type, "ByteFallback") == 0) {
		st.kind = DEC_BYTE_FALLBACK;
	} else if (strcmp(type, "Fuse") == 0) {
		st.kind = DEC_FUSE;
	} else if (strcmp(type, "ByteLevel") == 0) {
		st.kind = DEC_BYTE_LEVEL;
	} else if (strcmp(type, "Strip") == 0) {
		long start = json_id(cJSON_GetObjectItemCaseSensitive(d, "start"), LONG_MAX);
		long stop = json_id(cJSON_GetObjectItemCaseSensitive(d, "stop"), LONG_MAX);
		uint32_t cp;

		if (json_str(d, "content", &a) || !a || start < 0 || stop < 0)
			return fail(ld, TOKENIZER_ERR_JSON, "Strip decoder needs 'content', 'start', 'stop'");
		/* content is one character */
		if (!a[0] || unicode_utf8_decode(&cp, a, strlen(a)) != strlen(a) || cp == UNICODE_INVALID)
			return fail(ld, TOKENIZER_ERR_JSON, "Strip decoder: 'content' is not one character");
		st.kind = DEC_STRIP;
		st.start = (size_t)start;
		st.stop = (size_t)stop;
	} else {
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported decoder '%s'", type);
	}
	if (t->n_dec == TOKENIZER_MAX_STEPS)
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "more than %d decoder steps", TOKENIZER_MAX_STEPS);
	if (a && !(st.a = dup_str(a, &st.a_len)))
		return TOKENIZER_ERR_NOMEM;
	if (b && !(st.b = dup_str(b, &st.b_len))) {
		free(st.a);
		return TOKENIZER_ERR_NOMEM;
	}
	t->dec[t->n_dec++] = st;
	return 0;
}

/* Sets strs[id] = s (copied), checking the slot and growing n_ids. */
static int put_token(struct load *ld, long id, const char *s, const char *what)
{
	struct tokenizer *t = ld->t;

	if (t->strs[id])
		return fail(ld, TOKENIZER_ERR_VOCAB, "%s: id %ld used twice ('%s' and '%s')", what, id,
			    t->strs[id], s);
	t->strs[id] = dup_str(s, NULL);
	if (!t->strs[id])
		return TOKENIZER_ERR_NOMEM;
	if (id + 1 > t->n_ids)
		t->n_ids = (int)(id + 1);
	return 0;
}

static int load_vocab(struct load *ld, const cJSON *vocab, long limit)
{
	struct tokenizer *t = ld->t;
	const cJSON *it;
	int err;

	cJSON_ArrayForEach(it, vocab) {
		long id = json_id(it, limit);

		if (id < 0)
			return fail(ld, TOKENIZER_ERR_VOCAB,
				    "vocab entry '%s': id is not an integer in [0, %ld)", it->string, limit);
		err = put_token(ld, id, it->string, "vocab");
		if (err)
			return err;
		if (str_map_put(&t->vocab, t->strs[id], strlen(t->strs[id]), (int)id) >= 0)
			return fail(ld, TOKENIZER_ERR_VOCAB, "vocab: token '%s' appears twice", it->string);
	}
	return 0;
}

static int cmp_added(const void *pa, const void *pb)
{
	const struct added_token *a = pa, *b = pb;
	unsigned char ca = (unsigned char)a->s[0], cb = (unsigned char)b->s[0];

	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int load_added(struct load *ld, const cJSON *list, long limit)
{
	struct tokenizer *t = ld->t;
	const cJSON *it;
	size_t n = 0, i;

	if (!list || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return fail(ld, TOKENIZER_ERR_JSON, "'added_tokens' is not an array");
	t->added = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*t->added));
	if (!t->added)
		return TOKENIZER_ERR_NOMEM;
	cJSON_ArrayForEach(it, list) {
		struct added_token *a = &t->added[n];
		const char *content;
		bool single_word, normalized;
		int vid, err;
		long id;

		if (!cJSON_IsObject(it))
			return fail(ld, TOKENIZER_ERR_JSON, "added_tokens entry is not an object");
		id = json_id(cJSON_GetObjectItemCaseSensitive(it, "id"), limit);
		if (json_str(it, "content", &content) || !content || !content[0])
			return fail(ld, TOKENIZER_ERR_VOCAB, "added token without non-empty 'content'");
		if (id < 0)
			return fail(ld, TOKENIZER_ERR_VOCAB,
				    "added token '%s': id is not an integer in [0, %ld)", content, limit);
		if (json_bool(it, "special", false, &a->special) ||
		    json_bool(it, "lstrip", false, &a->lstrip) ||
		    json_bool(it, "rstrip", false, &a->rstrip) ||
		    json_bool(it, "single_word", false, &single_word) ||
		    json_bool(it, "normalized", false, &normalized))
			return fail(ld, TOKENIZER_ERR_JSON, "added token '%s': flag of the wrong type", content);
		if (single_word)
			return fail(ld, TOKENIZER_ERR_UNSUPPORTED,
				    "unsupported added token option single_word ('%s')", content);
		vid = str_map_get(&t->vocab, content, strlen(content));
		if (vid >= 0 && vid != id)
			return fail(ld, TOKENIZER_ERR_VOCAB, "added token '%s' has id %ld but vocab id %d",
				    content, id, vid);
		if (vid < 0) {
			err = put_token(ld, id, content, "added token");
			if (err)
				return err;
		}
		a->id = (int)id;
		a->s = t->strs[id];
		a->len = strlen(a->s);
		if (str_map_put(&t->added_map, a->s, a->len, a->id) >= 0)
			return fail(ld, TOKENIZER_ERR_VOCAB, "added token '%s' listed twice", content);
		if (a->special)
			t->is_special[id] = 1;
		n++;
	}
	t->n_added = n;
	qsort(t->added, n, sizeof(*t->added), cmp_added);
	for (i = 0; i <= 256; i++)
		t->added_first[i] = n;
	for (i = n; i-- > 0;)
		t->added_first[(unsigned char)t->added[i].s[0]] = i;
	for (i = 256; i-- > 0;)
		if (t->added_first[i] > t->added_first[i + 1])
			t->added_first[i] = t->added_first[i + 1];
	return 0;
}

/* Splits a merge into left/right strings; 0 or -1. Left points into scratch or the JSON. */
static int merge_parts(const cJSON *m, struct buf *scratch, const char **l, const char **r)
{
	if (cJSON_IsString(m)) {
		const char *s = m->valuestring, *sp = strchr(s, ' ');

		if (!sp || strchr(sp + 1, ' '))
			return -1;
		scratch->len = 0;
		if (buf_append(scratch, s, (size_t)(sp - s)))
			return -1;
		*l = scratch->p;
		*r = sp + 1;
		return 0;
	}
	if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
		const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);

		if (!cJSON_IsString(a) || !cJSON_IsString(b))
			return -1;
		*l = a->valuestring;
		*r = b->valuestring;
		return 0;
	}
	return -1;
}

static int load_merges(struct load *ld, const cJSON *merges)
{
	struct tokenizer *t = ld->t;
	struct buf left = {0}, joined = {0};
	const cJSON *it;
	int rank = 0, err = 0;

	err = pair_map_init(&t->merges, (size_t)cJSON_GetArraySize(merges));
	if (err)
		goto out;
	cJSON_ArrayForEach(it, merges) {
		const char *l, *r;
		int lid, rid, nid;
		size_t rlen;

		if (merge_parts(it, &left, &l, &r)) {
			err = fail(ld, TOKENIZER_ERR_MERGE, "merge %d is not \"left right\" or [left, right]", rank);
			goto out;
		}
		lid = str_map_get(&t->vocab, l, strlen(l));
		rid = str_map_get(&t->vocab, r, strlen(r));
		rlen = strlen(r);
		if (lid < 0 || rid < 0 || rlen < t->prefix_len) {
			err = fail(ld, TOKENIZER_ERR_MERGE, "merge %d ('%s' '%s') uses a token not in vocab",
				   rank, l, r);
			goto out;
		}
		joined.len = 0;
		if (buf_append(&joined, l, strlen(l)) ||
		    buf_append(&joined, r + t->prefix_len, rlen - t->prefix_len)) {
			err = TOKENIZER_ERR_NOMEM;
			goto out;
		}
		nid = str_map_get(&t->vocab, joined.p, joined.len);
		if (nid < 0) {
			err = fail(ld, TOKENIZER_ERR_MERGE, "merge %d: result '%s' not in vocab", rank, joined.p);
			goto out;
		}
		pair_map_put(&t->merges, lid, rid, rank, nid);
		rank++;
	}
out:
	free(left.p);
	free(joined.p);
	return err;
}

static int load_model(struct load *ld, const cJSON *model)
{
	struct tokenizer *t = ld->t;
	const char *type, *unk, *prefix, *suffix;
	const cJSON *dropout;
	char name[8];
	int b;

	type = type_of(model);
	if (cJSON_GetObjectItemCaseSensitive(model, "type") && !type)
		return fail(ld, TOKENIZER_ERR_MODEL, "model 'type' is not a string");
	if (type && strcmp(type, "BPE") != 0)
		return fail(ld, TOKENIZER_ERR_MODEL, "model type '%s' is not BPE", type);
	dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
	if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported BPE dropout");
	if (json_str(model, "unk_token", &unk) || json_str(model, "continuing_subword_prefix", &prefix) ||
	    json_str(model, "end_of_word_suffix", &suffix) ||
	    json_bool(model, "fuse_unk", false, &t->fuse_unk) ||
	    json_bool(model, "byte_fallback", false, &t->byte_fallback) ||
	    json_bool(model, "ignore_merges", false, &t->ignore_merges))
		return fail(ld, TOKENIZER_ERR_MODEL, "BPE model field of the wrong type");
	if (prefix && prefix[0] && !(t->prefix = dup_str(prefix, &t->prefix_len)))
		return TOKENIZER_ERR_NOMEM;
	if (suffix && suffix[0] && !(t->suffix = dup_str(suffix, &t->suffix_len)))
		return TOKENIZER_ERR_NOMEM;
	t->unk_id = -1;
	if (unk) {
		t->unk_id = str_map_get(&t->vocab, unk, strlen(unk));
		if (t->unk_id < 0)
			return fail(ld, TOKENIZER_ERR_MODEL, "unk_token '%s' is not in the vocab", unk);
	}
	for (b = 0; b < 256; b++) {
		snprintf(name, sizeof(name), "<0x%02X>", (unsigned)b);
		t->byte_token[b] = str_map_get(&t->vocab, name, strlen(name));
	}
	return 0;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order. */
static void init_byte_table(struct tokenizer *t)
{
	int b, n = 0;

	for (b = 0; b < 0x144; b++)
		t->char_byte[b] = -1;
	for (b = 0; b < 256; b++) {
		bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
		uint32_t cp = keep ? (uint32_t)b : (uint32_t)(256 + n++);

		t->byte_char_len[b] = (unsigned char)unicode_utf8_encode(t->byte_char[b], cp);
		t->char_byte[cp] = (int16_t)b;
	}
}

/* Id of the first SpecialToken in a TemplateProcessing list before (bos) or after (eos) the
 * first Sequence item. */
static int template_special(const cJSON *pp, const cJSON *single, bool after)
{
	const cJSON *specials = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens"), *it;
	bool seen_seq = false;

	cJSON_ArrayForEach(it, single) {
		const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken"), *name, *entry, *ids;

		if (cJSON_GetObjectItemCaseSensitive(it, "Sequence")) {
			seen_seq = true;
			continue;
		}
		if (!sp || seen_seq != after)
			continue;
		name = cJSON_GetObjectItemCaseSensitive(sp, "id");
		if (!cJSON_IsString(name))
			continue;
		entry = cJSON_GetObjectItemCaseSensitive(specials, name->valuestring);
		ids = cJSON_GetObjectItemCaseSensitive(entry, "ids");
		if (cJSON_IsArray(ids) && cJSON_GetArraySize(ids) >= 1)
			return (int)json_id(cJSON_GetArrayItem(ids, 0), INT_MAX);
	}
	return -1;
}

/* Roberta/Bert processors: "cls": ["<s>", 0], "sep": ["</s>", 2]. */
static int processor_pair_id(const cJSON *pp, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(pp, field);

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
		return -1;
	return (int)json_id(cJSON_GetArrayItem(v, 1), INT_MAX);
}

static int added_named(const struct tokenizer *t, const char *const *names)
{
	for (; *names; names++) {
		int id = str_map_get(&t->added_map, *names, strlen(*names));
		if (id >= 0)
			return id;
	}
	return -1;
}

static void find_specials(struct tokenizer *t, const cJSON *pp)
{
	static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>",
						"<|endoftext|>", NULL};
	static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", NULL};
	const char *type = cJSON_IsObject(pp) ? type_of(pp) : NULL;

	t->bos_id = t->eos_id = -1;
	if (type && strcmp(type, "TemplateProcessing") == 0) {
		const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");

		t->bos_id = template_special(pp, single, false);
		t->eos_id = template_special(pp, single, true);
	} else if (type && (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0)) {
		t->bos_id = processor_pair_id(pp, "cls");
		t->eos_id = processor_pair_id(pp, "sep");
	}
	if (t->bos_id >= t->n_ids || (t->bos_id >= 0 && !t->strs[t->bos_id]))
		t->bos_id = -1;
	if (t->eos_id >= t->n_ids || (t->eos_id >= 0 && !t->strs[t->eos_id]))
		t->eos_id = -1;
	if (t->bos_id < 0)
		t->bos_id = added_named(t, bos_names);
	if (t->eos_id < 0)
		t->eos_id = added_named(t, eos_names);
}

int tokenizer_open_detail(struct tokenizer **out, const char *path, char *msg, size_t msg_cap)
{
	struct load ld = {NULL, msg, msg_cap};
	struct tokenizer *t = NULL;
	cJSON *root = NULL;
	const cJSON *model, *vocab, *merges, *added;
	char *text = NULL;
	size_t text_len, n_vocab, n_added;
	long limit;
	int err;

	if (!out || !path || (!msg && msg_cap))
		return TOKENIZER_ERR_ARG;
	err = read_file(path, &text, &text_len);
	if (err) {
		err = fail(&ld, err, "cannot read '%s'", path);
		goto out;
	}
	root = cJSON_ParseWithLength(text, text_len);
	if (!cJSON_IsObject(root)) {
		err = fail(&ld, TOKENIZER_ERR_JSON, "'%s' is not a JSON object", path);
		goto out;
	}
	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (!cJSON_IsObject(model)) {
		err = fail(&ld, TOKENIZER_ERR_MODEL, "no 'model' object");
		goto out;
	}
	vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
	merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
	if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
		err = fail(&ld, TOKENIZER_ERR_MODEL, "model has no 'vocab' object or 'merges' array");
		goto out;
	}
	added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
	n_vocab = (size_t)cJSON_GetArraySize(vocab);
	n_added = cJSON_IsArray(added) ? (size_t)cJSON_GetArraySize(added) : 0;
	/* Ids must fit a table no larger than the number of entries (holes allowed). */
	if (n_vocab + n_added > TOKENIZER_MAX_ID) {
		err = fail(&ld, TOKENIZER_ERR_VOCAB, "too many tokens");
		goto out;
	}
	limit = (long)(n_vocab + n_added);

	t = calloc(1, sizeof(*t));
	if (!t) {
		err = TOKENIZER_ERR_NOMEM;
		goto out;
	}
	ld.t = t;
	t->n_slots = (size_t)limit + 1;
	t->strs = calloc(t->n_slots, sizeof(*t->strs));
	t->is_special = calloc(t->n_slots, 1);
	if (!t->strs || !t->is_special) {
		err = TOKENIZER_ERR_NOMEM;
		goto out;
	}
	err = str_map_init(&t->vocab, n_vocab);
	if (!err)
		err = str_map_init(&t->added_map, n_added);
	if (!err)
		err = load_vocab(&ld, vocab, limit);
	if (!err)
		err = load_model(&ld, model);
	if (!err)
		err = load_merges(&ld, merges);
	if (!err)
		err = load_added(&ld, added, limit);
	if (!err)
		err = load_normalizer(&ld, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0);
	if (!err)
		err = load_pre_tokenizer(&ld, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0);
	if (!err)
		err = load_decoder(&ld, cJSON_GetObjectItemCaseSensitive(root, "decoder"), 0);
	if (err)
		goto out;
	init_byte_table(t);
	find_specials(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
	*out = t;
	t = NULL;
out:
	if (err == TOKENIZER_ERR_NOMEM)
		fail(&ld, err, "out of memory");
	tokenizer_free(t);
	cJSON_Delete(root);
	free(text);
	return err;
}

int tokenizer_open(struct tokenizer **out, const char *path)
{
	return tokenizer_open_detail(out, path, NULL, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* BPE                                                                                        */

struct bpe_sym {
	int32_t id;
	int32_t prev, next; /* -1 at the ends */
	bool alive;
};

struct bpe_merge {
	int32_t rank, pos, new_id;
};

/* Scratch reused across the words of one encode call. */
struct encoder {
	const struct tokenizer *t;
	bool naive;
	struct ivec out;
	struct buf norm, tmp, piece, chr;
	struct bpe_sym *sym;
	size_t n_sym, sym_cap;
	struct bpe_merge *heap;
	size_t n_heap, heap_cap;
};

static void encoder_free(struct encoder *e)
{
	free(e->out.p);
	free(e->norm.p);
	free(e->tmp.p);
	free(e->piece.p);
	free(e->chr.p);
	free(e->sym);
	free(e->heap);
}

static int sym_push(struct encoder *e, int id)
{
	struct bpe_sym *s;

	if (e->n_sym == e->sym_cap) {
		size_t cap = e->sym_cap ? e->sym_cap * 2 : 256;
		struct bpe_sym *p;

		if (e->sym_cap > SIZE_MAX / 2 / sizeof(*p) || cap > (size_t)INT32_MAX)
			return TOKENIZER_ERR_NOMEM;
		p = realloc(e->sym, cap * sizeof(*p));
		if (!p)
			return TOKENIZER_ERR_NOMEM;
		e->sym = p;
		e->sym_cap = cap;
	}
	s = &e->sym[e->n_sym];
	s->id = id;
	s->prev = (int32_t)e->n_sym - 1;
	s->next = -1;
	s->alive = true;
	if (e->n_sym)
		e->sym[e->n_sym - 1].next = (int32_t)e->n_sym;
	e->n_sym++;
	return 0;
}

/* Min-heap on (rank, pos): lowest rank first, leftmost among equal ranks. */
static bool merge_less(const struct bpe_merge *a, const struct bpe_merge *b)
{
	return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(struct encoder *e, struct bpe_merge m)
{
	size_t i = e->n_heap++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!merge_less(&m, &e->heap[parent]))
			break;
		e->heap[i] = e->heap[parent];
		i = parent;
	}
	e->heap[i] = m;
}

static struct bpe_merge heap_pop(struct encoder *e)
{
	struct bpe_merge top = e->heap[0], last = e->heap[--e->n_heap];
	size_t i = 0, n = e->n_heap;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && merge_less(&e->heap[c + 1], &e->heap[c]))
			c++;
		if (!merge_less(&e->heap[c], &last))
			break;
		e->heap[i] = e->heap[c];
		i = c;
	}
	if (n)
		e->heap[i] = last;
	return top;
}

/* Pushes the merge of the pair starting at symbol pos, if there is one. */
static void push_pair(struct encoder *e, int32_t pos)
{
	const struct bpe_sym *s = &e->sym[pos];
	const struct pair_entry *m;
	struct bpe_merge bm;

	if (s->next < 0)
		return;
	m = pair_map_get(&e->t->merges, s->id, e->sym[s->next].id);
	if (!m)
		return;
	bm.rank = m->rank;
	bm.pos = pos;
	bm.new_id = m->new_id;
	heap_push(e, bm);
}

/* Right symbol of pos is absorbed into pos, which becomes new_id. */
static void merge_at(struct encoder *e, int32_t pos, int32_t new_id)
{
	struct bpe_sym *s = &e->sym[pos];
	struct bpe_sym *r = &e->sym[s->next];

	s->id = new_id;
	r->alive = false;
	s->next = r->next;
	if (r->next >= 0)
		e->sym[r->next].prev = pos;
}

static int bpe_merge_heap(struct encoder *e)
{
	size_t i, need;

	/* Each merge pushes at most two pairs, so 3 entries per symbol always suffice. */
	if (e->n_sym > SIZE_MAX / 3 / sizeof(*e->heap))
		return TOKENIZER_ERR_NOMEM;
	need = 3 * e->n_sym;
	if (need > e->heap_cap) {
		struct bpe_merge *p = realloc(e->heap, need * sizeof(*p));
		if (!p)
			return TOKENIZER_ERR_NOMEM;
		e->heap = p;
		e->heap_cap = need;
	}
	e->n_heap = 0;
	for (i = 0; i + 1 < e->n_sym; i++)
		push_pair(e, (int32_t)i);
	while (e->n_heap) {
		struct bpe_merge top = heap_pop(e);
		struct bpe_sym *s = &e->sym[top.pos];
		const struct pair_entry *m;

		if (!s->alive || s->next < 0)
			continue;
		/* Stale entry: the pair at pos changed since it was pushed. Symbols only grow to the
		 * right, so an unchanged merged id means an unchanged pair. */
		m = pair_map_get(&e->t->merges, s->id, e->sym[s->next].id);
		if (!m || m->new_id != top.new_id)
			continue;
		merge_at(e, top.pos, top.new_id);
		if (s->prev >= 0)
			push_pair(e, s->prev);
		push_pair(e, top.pos);
	}
	return 0;
}

/* The reference: rescan all pairs for the lowest rank (leftmost on ties) after every merge. */
static void bpe_merge_naive(struct encoder *e)
{
	for (;;) {
		int32_t best = -1, best_rank = INT32_MAX, best_id = -1, i;

		for (i = e->n_sym ? 0 : -1; i >= 0; i = e->sym[i].next) {
			const struct pair_entry *m;

			if (e->sym[i].next < 0)
				break;
			m = pair_map_get(&e->t->merges, e->sym[i].id, e->sym[e->sym[i].next].id);
			if (m && m->rank < best_rank) {
				best = i;
				best_rank = m->rank;
				best_id = m->new_id;
			}
		}
		if (best < 0)
			return;
		merge_at(e, best, best_id);
	}
}

/* Id of one character (with the subword prefix/suffix the model wants), -1 if not in vocab. */
static int char_id(struct encoder *e, const char *c, size_t n, bool first, bool last)
{
	const struct tokenizer *t = e->t;

	if ((first || !t->prefix) && (!last || !t->suffix))
		return str_map_get(&t->vocab, c, n);
	e->chr.len = 0;
	if ((!first && t->prefix && buf_append(&e->chr, t->prefix, t->prefix_len)) ||
	    buf_append(&e->chr, c, n) ||
	    (last && t->suffix && buf_append(&e->chr, t->suffix, t->suffix_len)))
		return -2;
	return str_map_get(&t->vocab, e->chr.p, e->chr.len);
}

/* One BPE word (HF BPE::merge_word + Word::merge_all); appends its ids to e->out. */
static int bpe_word(struct encoder *e, const char *w, size_t n)
{
	const struct tokenizer *t = e->t;
	int unk = -1; /* pending unk symbol (fused while fuse_unk) */
	size_t i, len;
	int err, id;
	int32_t k;

	if (!n)
		return 0;
	if (t->ignore_merges && (id = str_map_get(&t->vocab, w, n)) >= 0)
		return ivec_push(&e->out, id);
	e->n_sym = 0;
	for (i = 0; i < n; i += len) {
		uint32_t cp;

		len = unicode_utf8_decode(&cp, w + i, n - i);
		id = char_id(e, w + i, len, i == 0, i + len == n);
		if (id == -2)
			return TOKENIZER_ERR_NOMEM;
		if (id >= 0) {
			if (unk >= 0 && (err = sym_push(e, unk)))
				return err;
			unk = -1;
			if ((err = sym_push(e, id)))
				return err;
			continue;
		}
		if (t->byte_fallback) {
			/* the bytes of the decorated character, as char_id looked it up */
			bool decorated = (i && t->prefix) || (i + len == n && t->suffix);
			const char *s = decorated ? e->chr.p : w + i;
			size_t sn = decorated ? e->chr.len : len, j;

			for (j = 0; j < sn && t->byte_token[(unsigned char)s[j]] >= 0; j++)
				;
			if (j == sn) {
				/* HF pushes the bytes before a pending unk, reordering the text;
				 * we keep the text order. */
				if (unk >= 0 && (err = sym_push(e, unk)))
					return err;
				unk = -1;
				for (j = 0; j < sn; j++)
					if ((err = sym_push(e, t->byte_token[(unsigned char)s[j]])))
						return err;
				continue;
			}
		}
		if (t->unk_id < 0)
			continue; /* dropped, as HF does without an unk token */
		if (unk >= 0 && !t->fuse_unk && (err = sym_push(e, unk)))
			return err;
		unk = t->unk_id;
	}
	if (unk >= 0 && (err = sym_push(e, unk)))
		return err;
	if (e->naive) {
		bpe_merge_naive(e);
	} else if ((err = bpe_merge_heap(e))) {
		return err;
	}
	for (k = e->n_sym ? 0 : -1; k >= 0; k = e->sym[k].next)
		if ((err = ivec_push(&e->out, e->sym[k].id)))
			return err;
	return 0;
}

/* One match of the GPT-2 pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * starting at i < n (the alternatives cover every character, so there is always one). Returns its
 * end. Invalid UTF-8 bytes are single characters of class OTHER. */
static size_t gpt2_match(const char *s, size_t n, size_t i)
{
	enum unicode_class cls, c2;
	uint32_t cp;
	size_t len, j, last;
	int count;

	if (s[i] == '\'' && i + 1 < n) {
		char a = s[i + 1], b = i + 2 < n ? s[i + 2] : '\0';

		if (a == 's' || a == 't' || a == 'm' || a == 'd')
			return i + 2;
		if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
			return i + 3;
	}
	len = unicode_utf8_decode(&cp, s + i, n - i);
	cls = unicode_classify(cp);
	if (cp == ' ' && i + 1 < n) {
		uint32_t cp2;

		unicode_utf8_decode(&cp2, s + i + 1, n - i - 1);
		c2 = unicode_classify(cp2);
		if (c2 != UNICODE_CLASS_SPACE) {
			cls = c2;
			i += 1;
			len = 0;
		}
	}
	if (cls != UNICODE_CLASS_SPACE) {
		/* " ?X+" for X = L, N or other */
		for (j = i; j < n; j += len) {
			len = unicode_utf8_decode(&cp, s + j, n - j);
			if (unicode_classify(cp) != cls)
				break;
		}
		return j;
	}
	/* \s+(?!\S): the whole run at the end of text, else the run minus its last character;
	 * a single whitespace character before a non-space falls to \s+. */
	count = 0;
	last = i;
	for (j = i; j < n; j += len) {
		len = unicode_utf8_decode(&cp, s + j, n - j);
		if (unicode_classify(cp) != UNICODE_CLASS_SPACE)
			break;
		last = j;
		count++;
	}
	return (j == n || count == 1) ? j : last;
}

/* Byte-level: maps the bytes of a pre-token to GPT-2 characters and BPE-encodes them. */
static int byte_level_word(struct encoder *e, const char *s, size_t n)
{
	const struct tokenizer *t = e->t;
	size_t i;
	int err;

	e->piece.len = 0;
	if ((err = buf_reserve(&e->piece, n * 2)))
		return err;
	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];

		memcpy(e->piece.p + e->piece.len, t->byte_char[b], t->byte_char_len[b]);
		e->piece.len += t->byte_char_len[b];
	}
	return bpe_word(e, e->piece.p, e->piece.len);
}

/* Applies the normalizer steps to s; the result is in e->norm. */
static int normalize(struct encoder *e, const char *s, size_t n)
{
	const struct tokenizer *t = e->t;
	size_t k;
	int err;

	e->norm.len = 0;
	if ((err = buf_append(&e->norm, s, n)))
		return err;
	for (k = 0; k < t->n_norm; k++) {
		const struct norm_step *st = &t->norm[k];
		struct buf swap;
		size_t i = 0;

		if (e->norm.len == 0)
			break; /* both steps leave an empty string empty */
		e->tmp.len = 0;
		if (st->kind == NORM_PREPEND) {
			if ((err = buf_append(&e->tmp, st->a, st->a_len)) ||
			    (err = buf_append(&e->tmp, e->norm.p, e->norm.len)))
				return err;
		} else {
			while (i < e->norm.len) {
				const char *hit = NULL, *p = e->norm.p + i;
				size_t left = e->norm.len - i;

				while (left >= st->a_len) {
					const char *c = memchr(p, st->a[0], left - st->a_len + 1);
					if (!c)
						break;
					if (memcmp(c, st->a, st->a_len) == 0) {
						hit = c;
						break;
					}
					left -= (size_t)(c + 1 - p);
					p = c + 1;
				}
				if (!hit) {
					err = buf_append(&e->tmp, e->norm.p + i, e->norm.len - i);
					if (err)
						return err;
					break;
				}
				if ((err = buf_append(&e->tmp, e->norm.p + i, (size_t)(hit - (e->norm.p + i)))) ||
				    (err = buf_append(&e->tmp, st->b, st->b_len)))
					return err;
				i = (size_t)(hit - e->norm.p) + st->a_len;
			}
		}
		swap = e->norm;
		e->norm = e->tmp;
		e->tmp = swap;
	}
	return 0;
}

/* Text between added tokens: normalize, pre-tokenize, BPE. */
static int encode_segment(struct encoder *e, const char *s, size_t n)
{
	const struct tokenizer *t = e->t;
	const char *p;
	size_t i, np;
	int err;

	if (!n)
		return 0;
	if ((err = normalize(e, s, n)))
		return err;
	if (!t->byte_level)
		return bpe_word(e, e->norm.p, e->norm.len);
	if (e->norm.len == 0)
		return 0;
	if (t->add_prefix_space && e->norm.p[0] != ' ') {
		e->tmp.len = 0;
		if ((err = buf_append(&e->tmp, " ", 1)) || (err = buf_append(&e->tmp, e->norm.p, e->norm.len)))
			return err;
		p = e->tmp.p;
		np = e->tmp.len;
	} else {
		p = e->norm.p;
		np = e->norm.len;
	}
	if (!t->use_regex)
		return byte_level_word(e, p, np);
	for (i = 0; i < np;) {
		size_t end = gpt2_match(p, np, i);

		if ((err = byte_level_word(e, p + i, end - i)))
			return err;
		i = end;
	}
	return 0;
}

/* The added token starting at s (leftmost-longest), or NULL. */
static const struct added_token *match_added(const struct tokenizer *t, const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];
	size_t k;

	for (k = t->added_first[c]; k < t->added_first[c + 1]; k++) {
		const struct added_token *a = &t->added[k];
		if (a->len <= n && memcmp(a->s, s, a->len) == 0)
			return a;
	}
	return NULL;
}

static bool is_space_at(const char *s, size_t n, size_t *len)
{
	uint32_t cp;

	*len = unicode_utf8_decode(&cp, s, n);
	return unicode_classify(cp) == UNICODE_CLASS_SPACE;
}

static int encode_impl(const struct tokenizer *t, bool naive, const char *text, size_t len,
		       int **out_ids, size_t *out_n)
{
	struct encoder e;
	size_t seg = 0, i = 0, l;
	int err = 0;

	if (!t || !out_ids || !out_n || (!text && len))
		return TOKENIZER_ERR_ARG;
	memset(&e, 0, sizeof(e));
	e.t = t;
	e.naive = naive;
	while (t->n_added && i < len) {
		const struct added_token *a = match_added(t, text + i, len - i);
		size_t end;

		if (!a) {
			i++;
			continue;
		}
		end = i;
		if (a->lstrip) {
			/* the segment keeps everything up to its last non-space character */
			size_t j;

			end = seg;
			for (j = seg; j < i; j += l)
				if (!is_space_at(text + j, i - j, &l))
					end = j + l;
		}
		if ((err = encode_segment(&e, text + seg, end - seg)) || (err = ivec_push(&e.out, a->id)))
			goto out;
		i += a->len;
		if (a->rstrip)
			while (i < len && is_space_at(text + i, len - i, &l))
				i += l;
		seg = i;
	}
	if ((err = encode_segment(&e, text + seg, len - seg)))
		goto out;
	if (!e.out.p && (err = ivec_push(&e.out, 0)) == 0)
		e.out.n = 0; /* callers always get a pointer to free */
	if (err)
		goto out;
	*out_ids = e.out.p;
	*out_n = e.out.n;
	e.out.p = NULL;
out:
	encoder_free(&e);
	return err;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int **out_ids,
		     size_t *out_n)
{
	return encode_impl(t, false, text, len, out_ids, out_n);
}

int tokenizer_encode_naive(const struct tokenizer *t, const char *text, size_t len, int **out_ids,
			   size_t *out_n)
{
	return encode_impl(t, true, text, len, out_ids, out_n);
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                   */

/* A list of byte strings: piece k is b.p[off[k] .. off[k] + len[k]). */
struct plist {
	struct buf b;
	size_t *off, *len;
	size_t n, cap;
};

static void plist_free(struct plist *l)
{
	free(l->b.p);
	free(l->off);
	free(l->len);
}

/* Starts a new (empty) piece; bytes then go in with plist_add. */
static int plist_open(struct plist *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		size_t *o, *n;

		if (l->cap > SIZE_MAX / 2 / sizeof(size_t))
			return TOKENIZER_ERR_NOMEM;
		o = realloc(l->off, cap * sizeof(size_t));
		if (!o)
			return TOKENIZER_ERR_NOMEM;
		l->off = o;
		n = realloc(l->len, cap * sizeof(size_t));
		if (!n)
			return TOKENIZER_ERR_NOMEM;
		l->len = n;
		l->cap = cap;
	}
	l->off[l->n] = l->b.len;
	l->len[l->n] = 0;
	l->n++;
	return 0;
}

static int plist_add(struct plist *l, const char *s, size_t n)
{
	int err = buf_append(&l->b, s, n);

	if (!err)
		l->len[l->n - 1] += n;
	return err;
}

static bool is_hex(char c, unsigned *v)
{
	if (c >= '0' && c <= '9')
		*v = (unsigned)(c - '0');
	else if (c >= 'A' && c <= 'F')
		*v = (unsigned)(c - 'A' + 10);
	else if (c >= 'a' && c <= 'f')
		*v = (unsigned)(c - 'a' + 10);
	else
		return false;
	return true;
}

/* "<0xXX>" -> byte value, or -1. */
static int byte_token_value(const char *s, size_t n)
{
	unsigned hi, lo;

	if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || !is_hex(s[3], &hi) || !is_hex(s[4], &lo))
		return -1;
	return (int)(hi * 16 + lo);
}

static int dec_step_apply(const struct tokenizer *t, const struct dec_step *st, const struct plist *in,
			  struct plist *out)
{
	size_t k, i;
	int err = 0;
	bool in_bytes = false; /* ByteFallback: a piece of raw bytes is open */

	if (st->kind == DEC_FUSE || st->kind == DEC_BYTE_LEVEL)
		if ((err = plist_open(out)))
			return err;
	for (k = 0; k < in->n; k++) {
		/* only empty pieces so far: no buffer, and NULL + 0 is undefined (fuzz finding) */
		const char *s = in->b.p ? in->b.p + in->off[k] : "";
		size_t n = in->len[k];

		switch (st->kind) {
		case DEC_FUSE:
			err = plist_add(out, s, n);
			break;
		case DEC_REPLACE:
			if ((err = plist_open(out)))
				break;
			for (i = 0; i < n && !err;) {
				if (n - i >= st->a_len && memcmp(s + i, st->a, st->a_len) == 0) {
					err = plist_add(out, st->b, st->b_len);
					i += st->a_len;
				} else {
					err = plist_add(out, s + i, 1);
					i++;
				}
			}
			break;
		case DEC_BYTE_FALLBACK: {
			int v = byte_token_value(s, n);
			char c = (char)v;

			/* Consecutive byte tokens form one piece of raw bytes (HF would replace
			 * invalid UTF-8 with U+FFFD; we keep the bytes). */
			if (v < 0) {
				in_bytes = false;
				if (!(err = plist_open(out)))
					err = plist_add(out, s, n);
			} else {
				if (!in_bytes && (err = plist_open(out)))
					break;
				in_bytes = true;
				err = plist_add(out, &c, 1);
			}
			break;
		}
		case DEC_STRIP: {
			size_t cut, a = 0, z = n;

			for (cut = 0; cut < st->start && z - a >= st->a_len &&
				      memcmp(s + a, st->a, st->a_len) == 0; cut++)
				a += st->a_len;
			for (cut = 0; cut < st->stop && z - a >= st->a_len &&
				      memcmp(s + z - st->a_len, st->a, st->a_len) == 0; cut++)
				z -= st->a_len;
			if (!(err = plist_open(out)))
				err = plist_add(out, s + a, z - a);
			break;
		}
		case DEC_BYTE_LEVEL: {
			/* Every character must be in the byte table, else the piece stays as is. */
			size_t mark = out->b.len, l;
			uint32_t cp;

			for (i = 0; i < n && !err; i += l) {
				char c;

				l = unicode_utf8_decode(&cp, s + i, n - i);
				if (cp >= 0x144 || t->char_byte[cp] < 0)
					break;
				c = (char)t->char_byte[cp];
				err = plist_add(out, &c, 1);
			}
			if (!err && i < n) {
				out->len[out->n - 1] -= out->b.len - mark;
				out->b.len = mark;
				err = plist_add(out, s, n);
			}
			break;
		}
		}
		if (err)
			return err;
	}
	return 0;
}

/* Runs the decoder chain over the tokens of ids; the result is the concatenation of *res. */
static int decode_chain(const struct tokenizer *t, const int *ids, size_t n, bool skip_special,
			bool strip, struct buf *res)
{
	struct plist a = {0}, b = {0}, swap;
	size_t k;
	int err = 0;

	for (k = 0; k < n; k++) {
		const char *s;

		if (ids[k] < 0 || ids[k] >= t->n_ids || !t->strs[ids[k]]) {
			err = TOKENIZER_ERR_ARG;
			goto out;
		}
		if (skip_special && t->is_special[ids[k]])
			continue;
		s = t->strs[ids[k]];
		if (!t->has_decoder && a.n && (err = plist_add(&a, " ", 1)))
			goto out;
		if ((t->has_decoder || !a.n) && (err = plist_open(&a)))
			goto out;
		if ((err = plist_add(&a, s, strlen(s))))
			goto out;
	}
	for (k = 0; k < t->n_dec; k++) {
		if (t->dec[k].kind == DEC_STRIP && !strip)
			continue;
		b.n = 0;
		b.b.len = 0;
		if ((err = dec_step_apply(t, &t->dec[k], &a, &b)))
			goto out;
		swap = a;
		a = b;
		b = swap;
	}
	res->len = 0;
	if ((err = buf_reserve(res, 0)))
		goto out;
	res->p[0] = '\0';
	for (k = 0; k < a.n; k++)
		if ((err = buf_append(res, a.b.p ? a.b.p + a.off[k] : "", a.len[k])))
			goto out;
out:
	plist_free(&a);
	plist_free(&b);
	return err;
}

int tokenizer_decode(const struct tokenizer *t, const int *ids, size_t n, int skip_special, char **out,
		     size_t *out_len)
{
	struct buf res = {0};
	int err;

	if (!t || (!ids && n) || !out || !out_len)
		return TOKENIZER_ERR_ARG;
	err = decode_chain(t, ids, n, skip_special != 0, true, &res);
	if (err) {
		free(res.p);
		return err;
	}
	*out = res.p;
	*out_len = res.len;
	return 0;
}

int tokenizer_decode_piece(const struct tokenizer *t, int prev_id, int id, char *buf, size_t cap)
{
	struct buf res = {0};
	int err;

	if (!t || !buf || prev_id < -1 || prev_id >= t->n_ids)
		return TOKENIZER_ERR_ARG;
	err = decode_chain(t, &id, 1, false, false, &res);
	if (!err && (res.len >= cap || res.len > INT_MAX))
		err = TOKENIZER_ERR_ARG;
	if (!err) {
		memcpy(buf, res.p, res.len + 1);
		err = (int)res.len;
	}
	free(res.p);
	return err;
}
