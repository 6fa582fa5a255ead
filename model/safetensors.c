/* safetensors: mmap reader (validation modelled on the Rust crate's SafeTensors::deserialize) and
 * atomic writer. See safetensors.h.
 *
 * The header is checked twice: a strict RFC 8259 syntax pass of our own (cJSON accepts "01", raw
 * control characters in strings and "\u0000", which the crate's serde_json parser rejects or which
 * would silently truncate a C string), then cJSON builds the tree. cJSON keeps duplicate keys,
 * which is how duplicate tensor names are found. Tensor names point into the cJSON trees, which
 * live as long as the mappings. */
#include "safetensors.h"

#include <cjson/cJSON.h>
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

/* serde_json's default recursion limit: deeper headers are rejected by the crate. */
#define JSON_MAX_DEPTH 128
/* Largest integer a double (cJSON's number type) holds exactly. Shapes and offsets beyond it
 * cannot be read exactly, and no mappable file is that large anyway. */
#define JSON_MAX_EXACT 9007199254740992.0
#define INDEX_MAX_BYTES (64u << 20)
#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

struct st_file {
	unsigned char *map;
	size_t size;
	cJSON *root;        /* parsed header; tensor names and metadata point into it */
	const cJSON *meta;  /* __metadata__ object, or NULL */
	char *shard;        /* file name as written in the index (NULL for a lone file) */
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

static float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;

	if (exp == 0x1f) /* inf / NaN: payload moves up unchanged */
		return f32_from_bits(sign | 0x7f800000u | (man << 13));
	if (exp != 0)
		return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
	if (man == 0)
		return f32_from_bits(sign);
	/* subnormal man x 2^-24: normalise so the leading 1 lands on bit 10 */
	uint32_t e = 113;
	while (!(man & 0x400u)) {
		man <<= 1;
		e--;
	}
	return f32_from_bits(sign | (e << 23) | ((man & 0x3ffu) << 13));
}

static uint16_t f32_to_f16(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
	uint32_t ax = x & 0x7fffffffu;

	if (ax > 0x7f800000u) /* NaN: keep the top payload bits, force quiet so it stays NaN */
		return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
	if (ax >= 0x477ff000u) /* >= 65520 rounds past 65504 (ties to even goes up) */
		return (uint16_t)(sign | 0x7c00u);
	if (ax >= 0x38800000u) { /* normal half: >= 2^-14 */
		uint32_t h = (ax >> 13) - (112u << 10);
		uint32_t rest = ax & 0x1fffu;
		if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
			h++; /* a carry into the exponent is the correct rounding */
		return (uint16_t)(sign | h);
	}
	uint32_t e = ax >> 23;
	if (e < 102) /* below 2^-25: rounds to zero */
		return sign;
	/* subnormal half: q = value / 2^-24 = man x 2^(e-126), shift 14..24 */
	uint32_t man = (ax & 0x7fffffu) | 0x800000u;
	uint32_t shift = 126 - e;
	uint32_t q = man >> shift;
	uint32_t rest = man & ((1u << shift) - 1);
	uint32_t half = 1u << (shift - 1);
	if (rest > half || (rest == half && (q & 1u)))
		q++;
	return (uint16_t)(sign | q);
}

static float bf16_to_f32(uint16_t b)
{
	return f32_from_bits((uint32_t)b << 16);
}

static uint16_t f32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x0040u);
	x += 0x7fffu + ((x >> 16) & 1u); /* overflow of the largest finite values into inf is correct */
	return (uint16_t)(x >> 16);
}

static uint16_t load_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

static void store_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8);
}

static void store_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
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
		for (size_t i = 0; i < n; i++)
			out[i] = f16_to_f32(load_le16(p + 2 * i));
		break;
	case SAFETENSORS_DTYPE_BF16:
		for (size_t i = 0; i < n; i++)
			out[i] = bf16_to_f32(load_le16(p + 2 * i));
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
			store_le16(p + 2 * i, f32_to_f16(src[i]));
		break;
	case SAFETENSORS_DTYPE_BF16:
		for (size_t i = 0; i < n; i++)
			store_le16(p + 2 * i, f32_to_bf16(src[i]));
		break;
	}
}

/* ---- strict UTF-8 and JSON syntax (what Rust's str::from_utf8 and serde_json accept) ---- */

static bool utf8_valid(const unsigned char *s, size_t n)
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
static bool json_syntax_ok(const unsigned char *p, size_t n)
{
	struct jscan s = { p, p + n };
	if (!js_value(&s, 0))
		return false;
	js_ws(&s);
	return s.p == s.end;
}

/* ---- header parsing and validation ---- */

/* Exact non-negative integer held by a cJSON number; false if not one. */
static bool json_uint(const cJSON *v, uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return false;
	double d = v->valuedouble;
	if (!(d >= 0 && d <= JSON_MAX_EXACT))
		return false;
	uint64_t u = (uint64_t)d;
	if ((double)u != d)
		return false;
	*out = u;
	return true;
}

static int parse_metadata(const cJSON *m)
{
	if (!cJSON_IsObject(m))
		return SAFETENSORS_ERR_ENTRY;
	for (const cJSON *c = m->child; c; c = c->next)
		if (!cJSON_IsString(c))
			return SAFETENSORS_ERR_ENTRY;
	return SAFETENSORS_OK;
}

/* Checks one tensor entry's types and fills it (sizes come later, in offset order). */
static int parse_entry(struct st_item *it, const cJSON *e)
{
	const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;

	if (!cJSON_IsObject(e))
		return SAFETENSORS_ERR_ENTRY;
	for (const cJSON *c = e->child; c; c = c->next) {
		const cJSON **slot = NULL;
		if (strcmp(c->string, "dtype") == 0)
			slot = &dtype;
		else if (strcmp(c->string, "shape") == 0)
			slot = &shape;
		else if (strcmp(c->string, "data_offsets") == 0)
			slot = &offs;
		if (!slot)
			continue; /* serde ignores unknown fields */
		if (*slot)
			return SAFETENSORS_ERR_ENTRY; /* serde: duplicate field */
		*slot = c;
	}
	if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
		return SAFETENSORS_ERR_ENTRY;
	if (cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &it->begin) ||
	    !json_uint(offs->child->next, &it->end))
		return SAFETENSORS_ERR_ENTRY;

	if (strcmp(dtype->valuestring, "F32") == 0)
		it->t.dtype = SAFETENSORS_DTYPE_F32;
	else if (strcmp(dtype->valuestring, "F16") == 0)
		it->t.dtype = SAFETENSORS_DTYPE_F16;
	else if (strcmp(dtype->valuestring, "BF16") == 0)
		it->t.dtype = SAFETENSORS_DTYPE_BF16;
	else
		return SAFETENSORS_ERR_DTYPE;

	int nd = 0;
	for (const cJSON *d = shape->child; d; d = d->next) {
		uint64_t v;
		if (nd == SAFETENSORS_MAX_DIMS || !json_uint(d, &v))
			return SAFETENSORS_ERR_SHAPE;
		it->t.shape[nd++] = (int64_t)v;
	}
	it->t.ndim = nd;
	it->t.name = e->string;
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

static int cmp_names(const void *a, const void *b)
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

/* Maps f->map / f->size from path. */
static int file_map(struct st_file *f, const char *path)
{
	struct stat sb;
	int ret = SAFETENSORS_ERR_IO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
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

/* Validates the mapped file f and returns its tensors (unsorted) in *items / *n_items. */
static int file_parse(struct st_file *f, int file_index, struct st_item **items, int *n_items)
{
	const unsigned char *h = f->map + 8;
	uint64_t hlen = load_le64(f->map);
	struct st_item *it = NULL;
	int n = 0, ret;

	if (hlen > SAFETENSORS_MAX_HEADER)
		return SAFETENSORS_ERR_HEADER_TOO_LARGE;
	if (hlen > f->size - 8)
		return SAFETENSORS_ERR_HEADER_OUT_OF_FILE;
	if (!utf8_valid(h, (size_t)hlen))
		return SAFETENSORS_ERR_JSON;
	if (hlen == 0 || h[0] != '{')
		return SAFETENSORS_ERR_HEADER_START;
	if (!json_syntax_ok(h, (size_t)hlen))
		return SAFETENSORS_ERR_JSON;
	f->root = cJSON_ParseWithLength((const char *)h, (size_t)hlen);
	/* After the syntax pass only allocation failure or a number longer than cJSON's 63-character
	 * limit can fail here; the latter is valid JSON but no header we could use. */
	if (!f->root)
		return SAFETENSORS_ERR_JSON;

	int cap = cJSON_GetArraySize(f->root);
	it = calloc(cap ? (size_t)cap : 1, sizeof *it);
	if (!it)
		return SAFETENSORS_ERR_NOMEM;
	for (const cJSON *c = f->root->child; c; c = c->next) {
		if (strcmp(c->string, "__metadata__") == 0) {
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
	qsort(it, (size_t)n, sizeof *it, cmp_names);
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

void safetensors_close(struct safetensors *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n_files; i++) {
		struct st_file *f = &st->files[i];
		if (f->map)
			munmap(f->map, f->size);
		cJSON_Delete(f->root);
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
	ret = file_parse(f, st->n_files - 1, &it, &n);
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

int safetensors_open(struct safetensors **out, const char *path)
{
	struct safetensors *st = set_new(1);
	if (!st)
		return SAFETENSORS_ERR_NOMEM;
	int ret = set_add_file(st, path);
	if (ret) {
		int saved = errno;
		safetensors_close(st);
		errno = saved;
		return ret;
	}
	*out = st;
	return SAFETENSORS_OK;
}

static char *path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

/* Whole file into a NUL-terminated buffer, at most `max` bytes. */
static int read_small_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	int ret = SAFETENSORS_ERR_IO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return SAFETENSORS_ERR_IO;
	if (fstat(fd, &sb) != 0)
		goto out;
	if (!S_ISREG(sb.st_mode) || (uintmax_t)sb.st_size > max) {
		ret = SAFETENSORS_ERR_INDEX;
		goto out;
	}
	size_t n = (size_t)sb.st_size, got = 0;
	buf = malloc(n + 1);
	if (!buf) {
		ret = SAFETENSORS_ERR_NOMEM;
		goto out;
	}
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO; /* file shrank under us */
			goto out;
		}
		got += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	ret = SAFETENSORS_OK;
out:;
	int saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return ret;
}

static int cmp_str(const void *a, const void *b)
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

static int open_index(struct safetensors **out, const char *dir, const char *index_path)
{
	char *text = NULL, *path = NULL;
	const char **shards = NULL;
	bool *claimed = NULL;
	size_t len;
	cJSON *root = NULL;
	struct safetensors *st = NULL;
	int n_shards = 0, ret;

	ret = read_small_file(index_path, INDEX_MAX_BYTES, &text, &len);
	if (ret)
		goto out;
	ret = SAFETENSORS_ERR_INDEX;
	/* same strict syntax as headers: cJSON alone would accept trailing garbage */
	if (!utf8_valid((const unsigned char *)text, len) ||
	    !json_syntax_ok((const unsigned char *)text, len))
		goto out;
	root = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(root))
		goto out;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
	if ((meta && !cJSON_IsObject(meta)) || !cJSON_IsObject(map))
		goto out;
	int n_map = cJSON_GetArraySize(map);
	if (n_map == 0)
		goto out; /* no tensor at all: an index naming no shard is malformed */
	shards = malloc((n_map ? (size_t)n_map : 1) * sizeof *shards);
	if (!shards) {
		ret = SAFETENSORS_ERR_NOMEM;
		goto out;
	}
	for (const cJSON *c = map->child; c; c = c->next) {
		if (!cJSON_IsString(c) || !shard_name_ok(c->valuestring))
			goto out;
		shards[n_shards++] = c->valuestring;
	}
	qsort(shards, (size_t)n_shards, sizeof *shards, cmp_str);
	int n_distinct = 0;
	for (int i = 0; i < n_shards; i++)
		if (i == 0 || strcmp(shards[i], shards[n_distinct - 1]) != 0)
			shards[n_distinct++] = shards[i];

	st = set_new(n_distinct);
	if (!st) {
		ret = SAFETENSORS_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < n_distinct; i++) {
		path = path_join(dir, shards[i]);
		if (!path) {
			ret = SAFETENSORS_ERR_NOMEM;
			goto out;
		}
		ret = set_add_file(st, path);
		free(path);
		path = NULL;
		if (ret == SAFETENSORS_ERR_IO && errno == ENOENT)
			ret = SAFETENSORS_ERR_INDEX;
		if (ret)
			goto out;
		st->files[i].shard = strdup(shards[i]);
		if (!st->files[i].shard) {
			ret = SAFETENSORS_ERR_NOMEM;
			goto out;
		}
	}
	qsort(st->items, (size_t)st->n, sizeof *st->items, cmp_names);
	for (int i = 1; i < st->n; i++) {
		if (strcmp(st->items[i - 1].t.name, st->items[i].t.name) == 0) {
			ret = SAFETENSORS_ERR_DUPLICATE;
			goto out;
		}
	}
	/* Every weight_map entry names a tensor of its shard, once. Tensors a shard holds beyond
	 * the map are kept: loaders read whole shards. */
	claimed = calloc(st->n ? (size_t)st->n : 1, sizeof *claimed);
	if (!claimed) {
		ret = SAFETENSORS_ERR_NOMEM;
		goto out;
	}
	ret = SAFETENSORS_ERR_INDEX;
	for (const cJSON *c = map->child; c; c = c->next) {
		const struct st_item *it = find_item(st, c->string);
		if (!it || strcmp(st->files[it->file].shard, c->valuestring) != 0)
			goto out;
		if (claimed[it - st->items])
			goto out; /* the same key twice */
		claimed[it - st->items] = true;
	}
	*out = st;
	st = NULL;
	ret = SAFETENSORS_OK;
out:;
	int saved = errno;
	safetensors_close(st);
	free(claimed);
	free(shards);
	cJSON_Delete(root);
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
	for (const cJSON *c = st->files[0].meta->child; c; c = c->next)
		if (strcmp(c->string, key) == 0)
			found = c->valuestring;
	return found;
}

size_t safetensors_file_bytes(const struct safetensors *st)
{
	return st->file_bytes;
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

/* ---- writer ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n + 1) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_u64(struct sbuf *b, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
	sb_put(b, tmp, (size_t)n);
}

/* JSON string literal, escaped the way serde_json does (", \ and control characters only). */
static void sb_json_str(struct sbuf *b, const char *s)
{
	static const char short_esc[] = "btn\0fr"; /* for \b \t \n (skip 0x0b) \f \r */
	sb_put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			sb_put(b, esc, 2);
		} else if (*p >= 0x08 && *p <= 0x0d && short_esc[*p - 0x08]) {
			esc[0] = '\\';
			esc[1] = short_esc[*p - 0x08];
			sb_put(b, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			sb_put(b, esc, 6);
		} else {
			sb_put(b, (const char *)p, 1);
		}
	}
	sb_put(b, "\"", 1);
}

static bool str_ok(const char *s)
{
	return s && s[0] != '\0' && utf8_valid((const unsigned char *)s, strlen(s));
}

static bool has_duplicate(const char **names, int n)
{
	qsort(names, (size_t)n, sizeof *names, cmp_str);
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
		if (!meta[i] || !utf8_valid((const unsigned char *)meta[i], strlen(meta[i])))
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

static void header_build(struct sbuf *b, const struct safetensors_entry *e, int n,
			 const char *const *meta, int n_meta, const uint64_t *nbytes)
{
	uint64_t off = 0;

	sb_str(b, "{");
	if (n_meta > 0) {
		sb_str(b, "\"__metadata__\":{");
		for (int i = 0; i < n_meta; i++) {
			if (i)
				sb_str(b, ",");
			sb_json_str(b, meta[2 * i]);
			sb_str(b, ":");
			sb_json_str(b, meta[2 * i + 1]);
		}
		sb_str(b, "}");
	}
	for (int i = 0; i < n; i++) {
		if (i || n_meta > 0)
			sb_str(b, ",");
		sb_json_str(b, e[i].name);
		sb_str(b, ":{\"dtype\":");
		sb_json_str(b, safetensors_dtype_name(e[i].dtype));
		sb_str(b, ",\"shape\":[");
		for (int d = 0; d < e[i].ndim; d++) {
			if (d)
				sb_str(b, ",");
			sb_u64(b, (uint64_t)e[i].shape[d]);
		}
		sb_str(b, "],\"data_offsets\":[");
		sb_u64(b, off);
		sb_str(b, ",");
		sb_u64(b, off + nbytes[i]);
		sb_str(b, "]}");
		off += nbytes[i];
	}
	sb_str(b, "}");
	while (b->len % 8)
		sb_str(b, " ");
}

static int write_all(int fd, const void *data, size_t n)
{
	const unsigned char *p = data;
	while (n > 0) {
		size_t chunk = n > (1u << 30) ? (1u << 30) : n;
		ssize_t w = write(fd, p, chunk);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
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
	if (!dir)
		return;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Tensor i's bytes through fill, one chunk at a time. */
static int write_filled(int fd, safetensors_fill_fn *fill, void *ctx, int i, uint64_t nbytes,
			unsigned char *chunk)
{
	for (uint64_t done = 0; done < nbytes;) {
		size_t len = nbytes - done < SAFETENSORS_STREAM_CHUNK ? (size_t)(nbytes - done)
								      : SAFETENSORS_STREAM_CHUNK;
		if (fill(ctx, i, chunk, len) != 0)
			return SAFETENSORS_ERR_FILL;
		if (write_all(fd, chunk, len))
			return SAFETENSORS_ERR_IO;
		done += len;
	}
	return SAFETENSORS_OK;
}

/* Both writers: tensor bytes from entries[i].data when fill is NULL, else from fill. */
static int write_file(const char *path, const struct safetensors_entry *entries, int n,
		      const char *const *meta, int n_meta, safetensors_fill_fn *fill, void *ctx)
{
	struct sbuf hdr = { 0 };
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
	ret = writer_check(entries, n, meta, n_meta, fill == NULL, nbytes);
	if (ret)
		goto out;
	if (fill) {
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
	header_build(&hdr, entries, n, meta, n_meta, nbytes);
	if (hdr.oom) {
		ret = SAFETENSORS_ERR_NOMEM;
		goto out;
	}
	if (hdr.len > SAFETENSORS_MAX_HEADER) {
		ret = SAFETENSORS_ERR_ARG; /* no reader would accept it */
		goto out;
	}
	store_le32(len8, (uint32_t)hdr.len);
	store_le32(len8 + 4, 0);

	ret = SAFETENSORS_ERR_IO;
	fd = temp_create(path, &tmp);
	if (fd == -2)
		ret = SAFETENSORS_ERR_NOMEM;
	if (fd < 0)
		goto out;
	if (write_all(fd, len8, 8) || write_all(fd, hdr.p, hdr.len))
		goto out;
	for (int i = 0; i < n; i++) {
		if (fill)
			ret = write_filled(fd, fill, ctx, i, nbytes[i], chunk);
		else
			ret = write_all(fd, entries[i].data, (size_t)nbytes[i]) ? SAFETENSORS_ERR_IO
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
	free(hdr.p);
	free(nbytes);
	errno = saved;
	return ret;
}

int safetensors_write(const char *path, const struct safetensors_entry *entries, int n,
		      const char *const *meta, int n_meta)
{
	return write_file(path, entries, n, meta, n_meta, NULL, NULL);
}

int safetensors_write_stream(const char *path, const struct safetensors_entry *entries, int n,
			     const char *const *meta, int n_meta, safetensors_fill_fn *fill,
			     void *ctx)
{
	if (!fill)
		return SAFETENSORS_ERR_ARG;
	return write_file(path, entries, n, meta, n_meta, fill, ctx);
}
