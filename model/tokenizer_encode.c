/* tokenizer_encode: text -> ids: split on added tokens, normalize, pre-tokenize, then one BPE word
 * per pre-token merged with a min-heap of (rank, position) over a linked list of symbols (and the
 * naive reference merge). See tokenizer.h. */
#include "tokenizer.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "unicode.h"

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
	m = tok_pair_map_get(&e->t->merges, s->id, e->sym[s->next].id);
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
		m = tok_pair_map_get(&e->t->merges, s->id, e->sym[s->next].id);
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
			m = tok_pair_map_get(&e->t->merges, e->sym[i].id, e->sym[e->sym[i].next].id);
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
		return tok_str_map_get(&t->vocab, c, n);
	e->chr.len = 0;
	if ((!first && t->prefix && tok_buf_append(&e->chr, t->prefix, t->prefix_len)) ||
	    tok_buf_append(&e->chr, c, n) ||
	    (last && t->suffix && tok_buf_append(&e->chr, t->suffix, t->suffix_len)))
		return -2;
	return tok_str_map_get(&t->vocab, e->chr.p, e->chr.len);
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
	if (t->ignore_merges && (id = tok_str_map_get(&t->vocab, w, n)) >= 0)
		return tok_ivec_push(&e->out, id);
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
		if ((err = tok_ivec_push(&e->out, e->sym[k].id)))
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
	if ((err = tok_buf_reserve(&e->piece, n * 2)))
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
	if ((err = tok_buf_append(&e->norm, s, n)))
		return err;
	for (k = 0; k < t->n_norm; k++) {
		const struct norm_step *st = &t->norm[k];
		struct buf swap;
		size_t i = 0;

		if (e->norm.len == 0)
			break; /* both steps leave an empty string empty */
		e->tmp.len = 0;
		if (st->kind == NORM_PREPEND) {
			if ((err = tok_buf_append(&e->tmp, st->a, st->a_len)) ||
			    (err = tok_buf_append(&e->tmp, e->norm.p, e->norm.len)))
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
					err = tok_buf_append(&e->tmp, e->norm.p + i, e->norm.len - i);
					if (err)
						return err;
					break;
				}
				if ((err = tok_buf_append(&e->tmp, e->norm.p + i, (size_t)(hit - (e->norm.p + i)))) ||
				    (err = tok_buf_append(&e->tmp, st->b, st->b_len)))
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
		if ((err = tok_buf_append(&e->tmp, " ", 1)) || (err = tok_buf_append(&e->tmp, e->norm.p, e->norm.len)))
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
		if ((err = encode_segment(&e, text + seg, end - seg)) || (err = tok_ivec_push(&e.out, a->id)))
			goto out;
		i += a->len;
		if (a->rstrip)
			while (i < len && is_space_at(text + i, len - i, &l))
				i += l;
		seg = i;
	}
	if ((err = encode_segment(&e, text + seg, len - seg)))
		goto out;
	if (!e.out.p && (err = tok_ivec_push(&e.out, 0)) == 0)
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

