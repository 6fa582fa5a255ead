/* tokenizer: Hugging Face tokenizer.json tokenizers — the shared containers (growable buffers,
 * hash maps), the accessors and freeing. Loading is tokenizer_load.c, BPE encoding
 * tokenizer_encode.c, decoding tokenizer_decode.c (see tokenizer.h).
 *
 * Shape of the data: every token string is copied once (strs[id]); two open-addressing hash maps
 * index them (model vocab string -> id, added token string -> id) and a third maps a merge pair
 * (left id, right id) -> (rank, merged id). Encoding: split on added tokens, normalize, pre-tokenize,
 * then one BPE word per pre-token, merged with a min-heap of (rank, position) over a linked list
 * of symbols, like tokenizers/src/models/bpe/word.rs. */
#include "tokenizer.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

/* ------------------------------------------------------------------------------------------ */
/* Growable buffers                                                                           */



int tok_buf_reserve(struct buf *b, size_t extra)
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

int tok_buf_append(struct buf *b, const char *s, size_t n)
{
	int err = tok_buf_reserve(b, n);

	if (err)
		return err;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int tok_ivec_push(struct ivec *v, int x)
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



int tok_str_map_init(struct str_map *m, size_t n)
{
	m->cap = map_capacity(n);
	if (!m->cap || m->cap > SIZE_MAX / sizeof(*m->e))
		return TOKENIZER_ERR_NOMEM;
	m->e = calloc(m->cap, sizeof(*m->e));
	return m->e ? 0 : TOKENIZER_ERR_NOMEM;
}

int tok_str_map_get(const struct str_map *m, const char *s, size_t n)
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
int tok_str_map_put(struct str_map *m, const char *s, size_t n, int val)
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




int tok_pair_map_init(struct pair_map *m, size_t n)
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

const struct pair_entry *tok_pair_map_get(const struct pair_map *m, int left, int right)
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
void tok_pair_map_put(struct pair_map *m, int left, int right, int rank, int new_id)
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
	id = tok_str_map_get(&t->added_map, piece, n);
	return id >= 0 ? id : tok_str_map_get(&t->vocab, piece, n);
}

int tokenizer_bos_id(const struct tokenizer *t)
{
	return t ? t->bos_id : -1;
}

int tokenizer_eos_id(const struct tokenizer *t)
{
	return t ? t->eos_id : -1;
}

