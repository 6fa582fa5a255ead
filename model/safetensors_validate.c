/* safetensors_validate: the header checks of the reader, modelled on the Rust crate's
 * SafeTensors::deserialize. The header is checked twice: a strict RFC 8259 syntax pass of our own
 * (cJSON accepts "01", raw control characters in strings and "\u0000", which the crate's
 * serde_json parser rejects or which would silently truncate a C string), then util/json builds
 * the tree. The tree keeps duplicate keys, which is how duplicate tensor names are found. Tensor
 * names point into the trees, which live as long as the mappings. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "safetensors_impl.h"

/* ---- strict UTF-8 and JSON syntax (what Rust's str::from_utf8 and serde_json accept) ---- */

bool st_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

struct jscan {
	const unsigned char *p, *end;
};

static void js_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool js_hex4(struct jscan *s, unsigned *out)
{
	unsigned v = 0;
	if (s->end - s->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		unsigned c = *s->p++, d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		v = v * 16 + d;
	}
	*out = v;
	return true;
}

/* "\u0000" is refused although JSON allows it: names and metadata become C strings. */
static bool js_string(struct jscan *s)
{
	s->p++; /* opening quote */
	while (s->p < s->end) {
		unsigned c = *s->p++;
		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return false;
		c = *s->p++;
		if (c == 'u') {
			unsigned u, lo;
			if (!js_hex4(s, &u) || u == 0 || (u >= 0xdc00 && u <= 0xdfff))
				return false;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
					return false;
				s->p += 2;
				if (!js_hex4(s, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return false;
			}
		} else if (!strchr("\"\\/bfnrt", (int)c) || c == 0) {
			return false;
		}
	}
	return false;
}

static bool js_digits(struct jscan *s)
{
	const unsigned char *start = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static bool js_number(struct jscan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p >= s->end)
		return false;
	if (*s->p == '0')
		s->p++;
	else if (!(*s->p >= '1' && *s->p <= '9') || !js_digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!js_digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!js_digits(s))
			return false;
	}
	return true;
}

static bool js_literal(struct jscan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool js_value(struct jscan *s, int depth);

/* Object or array at *s->p; `close` is '}' or ']'. */
static bool js_container(struct jscan *s, int depth, unsigned char close)
{
	if (depth >= JSON_MAX_DEPTH)
		return false;
	s->p++;
	js_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			if (s->p >= s->end || *s->p != '"' || !js_string(s))
				return false;
			js_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return false;
			s->p++;
		}
		if (!js_value(s, depth + 1))
			return false;
		js_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == close) {
			s->p++;
			return true;
		}
		if (*s->p != ',')
			return false;
		s->p++;
		js_ws(s);
	}
}

static bool js_value(struct jscan *s, int depth)
{
	js_ws(s);
	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{': return js_container(s, depth, '}');
	case '[': return js_container(s, depth, ']');
	case '"': return js_string(s);
	case 't': return js_literal(s, "true");
	case 'f': return js_literal(s, "false");
	case 'n': return js_literal(s, "null");
	default: return js_number(s);
	}
}

/* One JSON value then only whitespace (the crate pads headers with spaces). */
bool st_json_syntax_ok(const unsigned char *p, size_t n)
{
	struct jscan s = { p, p + n };
	if (!js_value(&s, 0))
		return false;
	js_ws(&s);
	return s.p == s.end;
}

/* ---- header parsing and validation ---- */

/* Exact non-negative integer held by a JSON number; false if not one. */
static bool json_uint(const struct cJSON *v, uint64_t *out)
{
	if (json_type(v) != JSON_TYPE_NUMBER)
		return false;
	double d = json_number(v);
	if (!(d >= 0 && d <= JSON_MAX_EXACT))
		return false;
	uint64_t u = (uint64_t)d;
	if ((double)u != d)
		return false;
	*out = u;
	return true;
}

static int parse_metadata(const struct cJSON *m)
{
	if (json_type(m) != JSON_TYPE_OBJECT)
		return SAFETENSORS_ERR_ENTRY;
	for (const struct cJSON *c = json_child(m); c; c = json_next(c))
		if (json_type(c) != JSON_TYPE_STRING)
			return SAFETENSORS_ERR_ENTRY;
	return SAFETENSORS_OK;
}

/* Checks one tensor entry's types and fills it (sizes come later, in offset order). */
static int parse_entry(struct st_item *it, const struct cJSON *e)
{
	const struct cJSON *dtype = NULL, *shape = NULL, *offs = NULL;

	if (json_type(e) != JSON_TYPE_OBJECT)
		return SAFETENSORS_ERR_ENTRY;
	for (const struct cJSON *c = json_child(e); c; c = json_next(c)) {
		const struct cJSON **slot = NULL;
		if (strcmp(json_key(c), "dtype") == 0)
			slot = &dtype;
		else if (strcmp(json_key(c), "shape") == 0)
			slot = &shape;
		else if (strcmp(json_key(c), "data_offsets") == 0)
			slot = &offs;
		if (!slot)
			continue; /* serde ignores unknown fields */
		if (*slot)
			return SAFETENSORS_ERR_ENTRY; /* serde: duplicate field */
		*slot = c;
	}
	if (json_type(dtype) != JSON_TYPE_STRING || json_type(shape) != JSON_TYPE_ARRAY ||
	    json_type(offs) != JSON_TYPE_ARRAY)
		return SAFETENSORS_ERR_ENTRY;
	if (json_count(offs) != 2 || !json_uint(json_at(offs, 0), &it->begin) ||
	    !json_uint(json_at(offs, 1), &it->end))
		return SAFETENSORS_ERR_ENTRY;
	const char *dt = json_string(dtype);

	if (strcmp(dt, "F32") == 0)
		it->t.dtype = SAFETENSORS_DTYPE_F32;
	else if (strcmp(dt, "F16") == 0)
		it->t.dtype = SAFETENSORS_DTYPE_F16;
	else if (strcmp(dt, "BF16") == 0)
		it->t.dtype = SAFETENSORS_DTYPE_BF16;
	else
		return SAFETENSORS_ERR_DTYPE;

	int nd = 0;
	for (const struct cJSON *d = json_child(shape); d; d = json_next(d)) {
		uint64_t v;
		if (nd == SAFETENSORS_MAX_DIMS || !json_uint(d, &v))
			return SAFETENSORS_ERR_SHAPE;
		it->t.shape[nd++] = (int64_t)v;
	}
	it->t.ndim = nd;
	it->t.name = json_key(e);
	return SAFETENSORS_OK;
}

static int cmp_offsets(const void *a, const void *b)
{
	const struct st_item *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

int st_cmp_names(const void *a, const void *b)
{
	const struct st_item *x = a, *y = b;
	return strcmp(x->t.name, y->t.name);
}

/* Metadata::validate: in offset order each range starts where the previous ended, and its length
 * is nelem x dtype size, multiplied in dimension order with overflow checks. Returns the end. */
static int validate_ranges(struct st_item *it, int n, uint64_t *data_end)
{
	uint64_t start = 0;

	qsort(it, (size_t)n, sizeof *it, cmp_offsets);
	for (int i = 0; i < n; i++) {
		if (it[i].begin > it[i].end)
			return SAFETENSORS_ERR_SIZE_MISMATCH;
		if (it[i].begin != start)
			return SAFETENSORS_ERR_OFFSETS;
		start = it[i].end;
		uint64_t nelem = 1;
		for (int d = 0; d < it[i].t.ndim; d++) {
			uint64_t dim = (uint64_t)it[i].t.shape[d];
			if (dim != 0 && nelem > UINT64_MAX / dim)
				return SAFETENSORS_ERR_OVERFLOW;
			nelem *= dim;
		}
		uint64_t es = safetensors_dtype_size(it[i].t.dtype);
		if (nelem > UINT64_MAX / es || nelem * es > SIZE_MAX)
			return SAFETENSORS_ERR_OVERFLOW;
		if (it[i].end - it[i].begin != nelem * es)
			return SAFETENSORS_ERR_SIZE_MISMATCH;
		it[i].t.nelem = (size_t)nelem;
		it[i].t.nbytes = (size_t)(nelem * es);
	}
	*data_end = start;
	return SAFETENSORS_OK;
}

/* Validates the mapped file f and returns its tensors (unsorted) in *items / *n_items. */
int st_file_parse(struct st_file *f, int file_index, struct st_item **items, int *n_items)
{
	const unsigned char *h = f->map + 8;
	uint64_t hlen = load_le64(f->map);
	struct st_item *it = NULL;
	int n = 0, ret;

	if (hlen > SAFETENSORS_MAX_HEADER)
		return SAFETENSORS_ERR_HEADER_TOO_LARGE;
	if (hlen > f->size - 8)
		return SAFETENSORS_ERR_HEADER_OUT_OF_FILE;
	if (!st_utf8_valid(h, (size_t)hlen))
		return SAFETENSORS_ERR_JSON;
	if (hlen == 0 || h[0] != '{')
		return SAFETENSORS_ERR_HEADER_START;
	if (!st_json_syntax_ok(h, (size_t)hlen))
		return SAFETENSORS_ERR_JSON;
	f->root = json_parse((const char *)h, (size_t)hlen);
	/* After the syntax pass only allocation failure or a number longer than cJSON's 63-character
	 * limit can fail here; the latter is valid JSON but no header we could use. */
	if (!f->root)
		return SAFETENSORS_ERR_JSON;

	int cap = json_count(f->root);
	it = calloc(cap ? (size_t)cap : 1, sizeof *it);
	if (!it)
		return SAFETENSORS_ERR_NOMEM;
	for (const struct cJSON *c = json_child(f->root); c; c = json_next(c)) {
		if (strcmp(json_key(c), "__metadata__") == 0) {
			if (f->meta) {
				ret = SAFETENSORS_ERR_ENTRY;
				goto out;
			}
			ret = parse_metadata(c);
			if (ret)
				goto out;
			f->meta = c;
			continue;
		}
		ret = parse_entry(&it[n], c);
		if (ret)
			goto out;
		it[n++].file = file_index;
	}

	uint64_t data_end;
	ret = validate_ranges(it, n, &data_end);
	if (ret)
		goto out;
	if (data_end != f->size - 8 - hlen) {
		ret = SAFETENSORS_ERR_TRAILING;
		goto out;
	}
	qsort(it, (size_t)n, sizeof *it, st_cmp_names);
	for (int i = 1; i < n; i++) {
		if (strcmp(it[i - 1].t.name, it[i].t.name) == 0) {
			ret = SAFETENSORS_ERR_DUPLICATE;
			goto out;
		}
	}
	for (int i = 0; i < n; i++)
		it[i].t.data = h + hlen + it[i].begin;
	*items = it;
	*n_items = n;
	it = NULL;
	ret = SAFETENSORS_OK;
out:
	free(it);
	return ret;
}

