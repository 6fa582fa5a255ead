/* tokenizer_load: reading and validating tokenizer.json (model vocab and merges, added tokens,
 * normalizer, pre-tokenizer, decoder, post-processor specials) into a struct tokenizer. JSON
 * through util/json; the file through util_read_file. See tokenizer.h. */
#include "tokenizer.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "json.h"
#include "tokenizer_impl.h"
#include "unicode.h"

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

/* An exact non-negative integer below limit, or -1. */
static long id_below(const struct cJSON *v, long limit)
{
	double d;

	if (json_type(v) != JSON_TYPE_NUMBER)
		return -1;
	d = json_number(v);
	if (!isfinite(d) || d < 0 || d >= (double)limit || d != floor(d))
		return -1;
	return (long)d;
}

/* Optional boolean field; wrong type is an error. */
static int field_bool(const struct cJSON *obj, const char *name, bool dflt, bool *out)
{
	const struct cJSON *v = json_get(obj, name);

	if (!v || json_type(v) == JSON_TYPE_NULL) {
		*out = dflt;
		return 0;
	}
	if (json_type(v) != JSON_TYPE_BOOL)
		return -1;
	*out = json_bool(v);
	return 0;
}

/* Optional string field: *out = NULL when absent or null; wrong type is an error. */
static int field_str(const struct cJSON *obj, const char *name, const char **out)
{
	const struct cJSON *v = json_get(obj, name);

	*out = NULL;
	if (!v || json_type(v) == JSON_TYPE_NULL)
		return 0;
	if (json_type(v) != JSON_TYPE_STRING)
		return -1;
	*out = json_string(v);
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

static const char *type_of(const struct cJSON *obj)
{
	const struct cJSON *v = json_get(obj, "type");

	return json_type(v) == JSON_TYPE_STRING ? json_string(v) : NULL;
}

/* The string of a {"String": s} pattern; unsupported for {"Regex": ...}. */
static int load_pattern(struct load *ld, const struct cJSON *step, const char *what, const char **out)
{
	const struct cJSON *pat = json_get(step, "pattern");
	const struct cJSON *s;

	if (json_type(pat) != JSON_TYPE_OBJECT)
		return fail(ld, TOKENIZER_ERR_JSON, "%s: 'pattern' is not an object", what);
	if (json_get(pat, "Regex"))
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported %s with a Regex pattern", what);
	s = json_get(pat, "String");
	if (json_type(s) != JSON_TYPE_STRING)
		return fail(ld, TOKENIZER_ERR_JSON, "%s: pattern has no 'String'", what);
	if (!json_string(s)[0])
		return fail(ld, TOKENIZER_ERR_JSON, "%s: empty pattern", what);
	*out = json_string(s);
	return 0;
}

typedef int (*step_loader)(struct load *ld, const struct cJSON *step, int depth);

/* The head every normalizer / pre_tokenizer / decoder step shares (`what` names it in errors):
 * absent or null -> 1 (nothing to load); not an object, nested deeper than TOKENIZER_MAX_DEPTH or
 * without a type -> a TOKENIZER_ERR_JSON status; *seen (when given) set once the type is known; a
 * Sequence -> every element of its `list_key` array through `load`, then 1 (or the first error);
 * any other type -> 0 with *type set, for the caller to load. */
static int step_head(struct load *ld, const struct cJSON *n, int depth, const char *what,
		     const char *list_key, step_loader load, bool *seen, const char **type)
{
	if (!n || json_type(n) == JSON_TYPE_NULL)
		return 1;
	if (json_type(n) != JSON_TYPE_OBJECT || depth > TOKENIZER_MAX_DEPTH)
		return fail(ld, TOKENIZER_ERR_JSON, "%s is not an object (or nested too deep)", what);
	*type = type_of(n);
	if (!*type)
		return fail(ld, TOKENIZER_ERR_JSON, "%s has no 'type'", what);
	if (seen)
		*seen = true;
	if (strcmp(*type, "Sequence") != 0)
		return 0;
	const struct cJSON *list = json_get(n, list_key);
	if (json_type(list) != JSON_TYPE_ARRAY)
		return fail(ld, TOKENIZER_ERR_JSON, "Sequence %s without '%s' array", what, list_key);
	for (const struct cJSON *it = json_child(list); it; it = json_next(it)) {
		int err = load(ld, it, depth + 1);
		if (err)
			return err;
	}
	return 1;
}

static int load_normalizer(struct load *ld, const struct cJSON *n, int depth)
{
	struct tokenizer *t = ld->t;
	const char *type, *a, *b;
	struct norm_step *st;
	int err;

	err = step_head(ld, n, depth, "normalizer", "normalizers", load_normalizer, NULL, &type);
	if (err)
		return err > 0 ? 0 : err;
	if (strcmp(type, "Prepend") == 0) {
		if (field_str(n, "prepend", &a) || !a)
			return fail(ld, TOKENIZER_ERR_JSON, "Prepend normalizer without 'prepend' string");
		b = NULL;
	} else if (strcmp(type, "Replace") == 0) {
		err = load_pattern(ld, n, "Replace normalizer", &a);
		if (err)
			return err;
		if (field_str(n, "content", &b) || !b)
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

static int load_pre_tokenizer(struct load *ld, const struct cJSON *p, int depth)
{
	struct tokenizer *t = ld->t;
	const char *type;

	int err = step_head(ld, p, depth, "pre_tokenizer", "pretokenizers", load_pre_tokenizer, NULL,
			    &type);
	if (err)
		return err > 0 ? 0 : err;
	if (strcmp(type, "ByteLevel") != 0)
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported pre_tokenizer '%s'", type);
	/* A second ByteLevel would map bytes twice; no real tokenizer does that. */
	if (t->byte_level)
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported pre_tokenizer: ByteLevel twice");
	t->byte_level = true;
	if (field_bool(p, "add_prefix_space", true, &t->add_prefix_space) ||
	    field_bool(p, "use_regex", true, &t->use_regex))
		return fail(ld, TOKENIZER_ERR_JSON, "ByteLevel pre_tokenizer: field of the wrong type");
	return 0;
}

static int load_decoder(struct load *ld, const struct cJSON *d, int depth)
{
	struct tokenizer *t = ld->t;
	struct dec_step st = {0};
	const char *type, *a = NULL, *b = NULL;

	int head = step_head(ld, d, depth, "decoder", "decoders", load_decoder, &t->has_decoder, &type);
	if (head)
		return head > 0 ? 0 : head;
	if (strcmp(type, "Replace") == 0) {
		int err = load_pattern(ld, d, "Replace decoder", &a);

		if (err)
			return err;
		if (field_str(d, "content", &b) || !b)
			return fail(ld, TOKENIZER_ERR_JSON, "Replace decoder without 'content' string");
		st.kind = DEC_REPLACE;
	} else if (strcmp(type, "ByteFallback") == 0) {
		st.kind = DEC_BYTE_FALLBACK;
	} else if (strcmp(type, "Fuse") == 0) {
		st.kind = DEC_FUSE;
	} else if (strcmp(type, "ByteLevel") == 0) {
		st.kind = DEC_BYTE_LEVEL;
	} else if (strcmp(type, "Strip") == 0) {
		long start = id_below(json_get(d, "start"), LONG_MAX);
		long stop = id_below(json_get(d, "stop"), LONG_MAX);
		uint32_t cp;

		if (field_str(d, "content", &a) || !a || start < 0 || stop < 0)
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

static int load_vocab(struct load *ld, const struct cJSON *vocab, long limit)
{
	struct tokenizer *t = ld->t;
	const struct cJSON *it;
	int err;

	for (it = json_child(vocab); it; it = json_next(it)) {
		long id = id_below(it, limit);

		if (id < 0)
			return fail(ld, TOKENIZER_ERR_VOCAB,
				    "vocab entry '%s': id is not an integer in [0, %ld)", json_key(it), limit);
		err = put_token(ld, id, json_key(it), "vocab");
		if (err)
			return err;
		if (tok_str_map_put(&t->vocab, t->strs[id], strlen(t->strs[id]), (int)id) >= 0)
			return fail(ld, TOKENIZER_ERR_VOCAB, "vocab: token '%s' appears twice", json_key(it));
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

static int load_added(struct load *ld, const struct cJSON *list, long limit)
{
	struct tokenizer *t = ld->t;
	const struct cJSON *it;
	size_t n = 0, i;

	if (!list || json_type(list) == JSON_TYPE_NULL)
		return 0;
	if (json_type(list) != JSON_TYPE_ARRAY)
		return fail(ld, TOKENIZER_ERR_JSON, "'added_tokens' is not an array");
	t->added = calloc((size_t)json_count(list) + 1, sizeof(*t->added));
	if (!t->added)
		return TOKENIZER_ERR_NOMEM;
	for (it = json_child(list); it; it = json_next(it)) {
		struct added_token *a = &t->added[n];
		const char *content;
		bool single_word, normalized;
		int vid, err;
		long id;

		if (json_type(it) != JSON_TYPE_OBJECT)
			return fail(ld, TOKENIZER_ERR_JSON, "added_tokens entry is not an object");
		id = id_below(json_get(it, "id"), limit);
		if (field_str(it, "content", &content) || !content || !content[0])
			return fail(ld, TOKENIZER_ERR_VOCAB, "added token without non-empty 'content'");
		if (id < 0)
			return fail(ld, TOKENIZER_ERR_VOCAB,
				    "added token '%s': id is not an integer in [0, %ld)", content, limit);
		if (field_bool(it, "special", false, &a->special) ||
		    field_bool(it, "lstrip", false, &a->lstrip) ||
		    field_bool(it, "rstrip", false, &a->rstrip) ||
		    field_bool(it, "single_word", false, &single_word) ||
		    field_bool(it, "normalized", false, &normalized))
			return fail(ld, TOKENIZER_ERR_JSON, "added token '%s': flag of the wrong type", content);
		if (single_word)
			return fail(ld, TOKENIZER_ERR_UNSUPPORTED,
				    "unsupported added token option single_word ('%s')", content);
		vid = tok_str_map_get(&t->vocab, content, strlen(content));
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
		if (tok_str_map_put(&t->added_map, a->s, a->len, a->id) >= 0)
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
static int merge_parts(const struct cJSON *m, struct buf *scratch, const char **l, const char **r)
{
	if (json_type(m) == JSON_TYPE_STRING) {
		const char *s = json_string(m), *sp = strchr(s, ' ');

		if (!sp || strchr(sp + 1, ' '))
			return -1;
		scratch->len = 0;
		if (tok_buf_append(scratch, s, (size_t)(sp - s)))
			return -1;
		*l = scratch->p;
		*r = sp + 1;
		return 0;
	}
	if ((json_type(m) == JSON_TYPE_ARRAY) && json_count(m) == 2) {
		const struct cJSON *a = json_at(m, 0), *b = json_at(m, 1);

		if (json_type(a) != JSON_TYPE_STRING || json_type(b) != JSON_TYPE_STRING)
			return -1;
		*l = json_string(a);
		*r = json_string(b);
		return 0;
	}
	return -1;
}

static int load_merges(struct load *ld, const struct cJSON *merges)
{
	struct tokenizer *t = ld->t;
	struct buf left = {0}, joined = {0};
	const struct cJSON *it;
	int rank = 0, err = 0;

	err = tok_pair_map_init(&t->merges, (size_t)json_count(merges));
	if (err)
		goto out;
	for (it = json_child(merges); it; it = json_next(it)) {
		const char *l, *r;
		int lid, rid, nid;
		size_t rlen;

		if (merge_parts(it, &left, &l, &r)) {
			err = fail(ld, TOKENIZER_ERR_MERGE, "merge %d is not \"left right\" or [left, right]", rank);
			goto out;
		}
		lid = tok_str_map_get(&t->vocab, l, strlen(l));
		rid = tok_str_map_get(&t->vocab, r, strlen(r));
		rlen = strlen(r);
		if (lid < 0 || rid < 0 || rlen < t->prefix_len) {
			err = fail(ld, TOKENIZER_ERR_MERGE, "merge %d ('%s' '%s') uses a token not in vocab",
				   rank, l, r);
			goto out;
		}
		joined.len = 0;
		if (tok_buf_append(&joined, l, strlen(l)) ||
		    tok_buf_append(&joined, r + t->prefix_len, rlen - t->prefix_len)) {
			err = TOKENIZER_ERR_NOMEM;
			goto out;
		}
		nid = tok_str_map_get(&t->vocab, joined.p, joined.len);
		if (nid < 0) {
			err = fail(ld, TOKENIZER_ERR_MERGE, "merge %d: result '%s' not in vocab", rank, joined.p);
			goto out;
		}
		tok_pair_map_put(&t->merges, lid, rid, rank, nid);
		rank++;
	}
out:
	free(left.p);
	free(joined.p);
	return err;
}

static int load_model(struct load *ld, const struct cJSON *model)
{
	struct tokenizer *t = ld->t;
	const char *type, *unk, *prefix, *suffix;
	const struct cJSON *dropout;
	char name[8];
	int b;

	type = type_of(model);
	if (json_get(model, "type") && !type)
		return fail(ld, TOKENIZER_ERR_MODEL, "model 'type' is not a string");
	if (type && strcmp(type, "BPE") != 0)
		return fail(ld, TOKENIZER_ERR_MODEL, "model type '%s' is not BPE", type);
	dropout = json_get(model, "dropout");
	if (dropout && json_type(dropout) != JSON_TYPE_NULL &&
	    !(json_type(dropout) == JSON_TYPE_NUMBER && json_number(dropout) == 0))
		return fail(ld, TOKENIZER_ERR_UNSUPPORTED, "unsupported BPE dropout");
	if (field_str(model, "unk_token", &unk) || field_str(model, "continuing_subword_prefix", &prefix) ||
	    field_str(model, "end_of_word_suffix", &suffix) ||
	    field_bool(model, "fuse_unk", false, &t->fuse_unk) ||
	    field_bool(model, "byte_fallback", false, &t->byte_fallback) ||
	    field_bool(model, "ignore_merges", false, &t->ignore_merges))
		return fail(ld, TOKENIZER_ERR_MODEL, "BPE model field of the wrong type");
	if (prefix && prefix[0] && !(t->prefix = dup_str(prefix, &t->prefix_len)))
		return TOKENIZER_ERR_NOMEM;
	if (suffix && suffix[0] && !(t->suffix = dup_str(suffix, &t->suffix_len)))
		return TOKENIZER_ERR_NOMEM;
	t->unk_id = -1;
	if (unk) {
		t->unk_id = tok_str_map_get(&t->vocab, unk, strlen(unk));
		if (t->unk_id < 0)
			return fail(ld, TOKENIZER_ERR_MODEL, "unk_token '%s' is not in the vocab", unk);
	}
	for (b = 0; b < 256; b++) {
		snprintf(name, sizeof(name), "<0x%02X>", (unsigned)b);
		t->byte_token[b] = tok_str_map_get(&t->vocab, name, strlen(name));
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
static int template_special(const struct cJSON *pp, const struct cJSON *single, bool after)
{
	const struct cJSON *specials = json_get(pp, "special_tokens"), *it;
	bool seen_seq = false;

	for (it = json_child(single); it; it = json_next(it)) {
		const struct cJSON *sp = json_get(it, "SpecialToken"), *name, *entry, *ids;

		if (json_get(it, "Sequence")) {
			seen_seq = true;
			continue;
		}
		if (!sp || seen_seq != after)
			continue;
		name = json_get(sp, "id");
		if (json_type(name) != JSON_TYPE_STRING)
			continue;
		entry = json_get(specials, json_string(name));
		ids = json_get(entry, "ids");
		if ((json_type(ids) == JSON_TYPE_ARRAY) && json_count(ids) >= 1)
			return (int)id_below(json_at(ids, 0), INT_MAX);
	}
	return -1;
}

/* Roberta/Bert processors: "cls": ["<s>", 0], "sep": ["</s>", 2]. */
static int processor_pair_id(const struct cJSON *pp, const char *field)
{
	const struct cJSON *v = json_get(pp, field);

	if (json_type(v) != JSON_TYPE_ARRAY || json_count(v) != 2)
		return -1;
	return (int)id_below(json_at(v, 1), INT_MAX);
}

static int added_named(const struct tokenizer *t, const char *const *names)
{
	for (; *names; names++) {
		int id = tok_str_map_get(&t->added_map, *names, strlen(*names));
		if (id >= 0)
			return id;
	}
	return -1;
}

static void find_specials(struct tokenizer *t, const struct cJSON *pp)
{
	static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>",
						"<|endoftext|>", NULL};
	static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", NULL};
	const char *type = json_type(pp) == JSON_TYPE_OBJECT ? type_of(pp) : NULL;

	t->bos_id = t->eos_id = -1;
	if (type && strcmp(type, "TemplateProcessing") == 0) {
		const struct cJSON *single = json_get(pp, "single");

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
	struct cJSON *root = NULL;
	const struct cJSON *model, *vocab, *merges, *added;
	char *text = NULL;
	size_t text_len, n_vocab, n_added;
	long limit;
	int err;

	if (!out || !path || (!msg && msg_cap))
		return fail(&ld, TOKENIZER_ERR_ARG, "tokenizer_open_detail: no output or path");
	char why[ERR_MAX];
	err = util_read_file(&text, &text_len, path, TOKENIZER_MAX_FILE, true, why, sizeof why);
	if (err) {
		err = fail(&ld, err == UTIL_ERR_NOMEM ? TOKENIZER_ERR_NOMEM : TOKENIZER_ERR_IO,
			   "cannot read '%s' (%s)", path, why);
		goto out;
	}
	root = json_parse(text, text_len);
	if (json_type(root) != JSON_TYPE_OBJECT) {
		err = fail(&ld, TOKENIZER_ERR_JSON, "'%s' is not a JSON object", path);
		goto out;
	}
	model = json_get(root, "model");
	if (json_type(model) != JSON_TYPE_OBJECT) {
		err = fail(&ld, TOKENIZER_ERR_MODEL, "no 'model' object");
		goto out;
	}
	vocab = json_get(model, "vocab");
	merges = json_get(model, "merges");
	if (json_type(vocab) != JSON_TYPE_OBJECT || json_type(merges) != JSON_TYPE_ARRAY) {
		err = fail(&ld, TOKENIZER_ERR_MODEL, "model has no 'vocab' object or 'merges' array");
		goto out;
	}
	added = json_get(root, "added_tokens");
	n_vocab = (size_t)json_count(vocab);
	n_added = json_type(added) == JSON_TYPE_ARRAY ? (size_t)json_count(added) : 0;
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
	err = tok_str_map_init(&t->vocab, n_vocab);
	if (!err)
		err = tok_str_map_init(&t->added_map, n_added);
	if (!err)
		err = load_vocab(&ld, vocab, limit);
	if (!err)
		err = load_model(&ld, model);
	if (!err)
		err = load_merges(&ld, merges);
	if (!err)
		err = load_added(&ld, added, limit);
	if (!err)
		err = load_normalizer(&ld, json_get(root, "normalizer"), 0);
	if (!err)
		err = load_pre_tokenizer(&ld, json_get(root, "pre_tokenizer"), 0);
	if (!err)
		err = load_decoder(&ld, json_get(root, "decoder"), 0);
	if (err)
		goto out;
	init_byte_table(t);
	find_specials(t, json_get(root, "post_processor"));
	*out = t;
	t = NULL;
out:
	if (err == TOKENIZER_ERR_NOMEM)
		fail(&ld, err, "out of memory");
	tokenizer_free(t);
	json_free(root);
	free(text);
	return err;
}

int tokenizer_open(struct tokenizer **out, const char *path)
{
	return tokenizer_open_detail(out, path, NULL, 0);
}

