/* tokenizer_decode: ids -> text through the decoder chain (replace, byte fallback, fuse, strip,
 * byte level). See tokenizer.h. */
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
	int err = tok_buf_append(&l->b, s, n);

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
	if ((err = tok_buf_reserve(res, 0)))
		goto out;
	res->p[0] = '\0';
	for (k = 0; k < a.n; k++)
		if ((err = tok_buf_append(res, a.b.p ? a.b.p + a.off[k] : "", a.len[k])))
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

