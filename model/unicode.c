/* unicode: UTF-8 helpers and character classes (see unicode.h). The class
 * table is generated into unicode_tables.inc by tools/gen_unicode_tables.py. */
#include "unicode.h"

struct unicode_run {
	uint32_t first, last;
	enum unicode_class cls;
};

#include "unicode_tables.inc"

#define UNICODE_N_RUNS (sizeof(unicode_runs) / sizeof(unicode_runs[0]))

size_t unicode_utf8_decode(uint32_t *cp, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c, min;
	size_t n, i;

	if (len == 0)
		return 0;
	c = u[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		c &= 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		c &= 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		*cp = UNICODE_INVALID;
		return 1;
	}
	if (len < n) {
		*cp = UNICODE_INVALID;
		return 1;
	}
	for (i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*cp = UNICODE_INVALID;
			return 1;
		}
		c = (c << 6) | (u[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
		*cp = UNICODE_INVALID;
		return 1;
	}
	*cp = c;
	return n;
}

size_t unicode_utf8_encode(char out[4], uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return 0;
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp <= 0x10FFFF) {
		out[0] = (char)(0xF0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		return 4;
	}
	return 0;
}

enum unicode_class unicode_classify(uint32_t cp)
{
	size_t lo = 0, hi = UNICODE_N_RUNS;

	/* ASCII dominates real text: answer it without the search. */
	if (cp < 0x80) {
		if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
			return UNICODE_CLASS_LETTER;
		if (cp >= '0' && cp <= '9')
			return UNICODE_CLASS_NUMBER;
		if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
			return UNICODE_CLASS_SPACE;
		return UNICODE_CLASS_OTHER;
	}
	/* lo ends as the first run whose last code point is >= cp */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (unicode_runs[mid].last < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < UNICODE_N_RUNS && unicode_runs[lo].first <= cp)
		return unicode_runs[lo].cls;
	return UNICODE_CLASS_OTHER;
}

enum unicode_class unicode_classify_naive(uint32_t cp)
{
	size_t i;

	for (i = 0; i < UNICODE_N_RUNS; i++)
		if (unicode_runs[i].first <= cp && cp <= unicode_runs[i].last)
			return unicode_runs[i].cls;
	return UNICODE_CLASS_OTHER;
}

const char *unicode_tables_version(void)
{
	return UNICODE_TABLES_VERSION;
}
