/* test-tokenizer: UTF-8 helpers and Unicode classes, tokenizer.json validation (one fixture per
 * error), BPE semantics on small generated tokenizers (heap BPE against the naive reference), and
 * the two real tokenizers in ../shared: hand-derived encodings, the token counts of
 * shared/data/README.md and byte-exact round trips. Fixtures go into mkdtemp directories. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer.h"
#include "unicode.h"
#include "testutil.h"

/* ---- helpers ---- */

/* Writes json to a fresh tokenizer.json and opens it; returns the error code. */
static int open_json(const char *json, struct tokenizer **out, char *msg, size_t msg_cap)
{
	char *dir = testutil_tmpdir_new("tok"), path[4096];
	int err;

	testutil_path_join(path, sizeof path, dir, "tokenizer.json");
	testutil_file_write(path, json, strlen(json));
	err = tokenizer_open_detail(out, path, msg, msg_cap);
	testutil_tmpdir_free(dir);
	return err;
}

static struct tokenizer *open_ok(const char *json)
{
	struct tokenizer *t = NULL;
	char msg[256] = "";
	int err = open_json(json, &t, msg, sizeof msg);

	ck_assert_msg(err == TOKENIZER_OK, "open failed: %s (%s)", tokenizer_strerror(err), msg);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* Encodes text and checks the token strings of the ids, "|"-separated (e.g. "ab|c"). */
static void check_pieces(const struct tokenizer *t, const char *text, size_t len, const char *want)
{
	int *ids = NULL;
	size_t n = 0, i;
	char got[4096] = "";

	ck_assert_int_eq(tokenizer_encode(t, text, len, &ids, &n), TOKENIZER_OK);
	ck_assert_ptr_nonnull(ids);
	for (i = 0; i < n; i++) {
		const char *s = tokenizer_token(t, ids[i]);

		ck_assert_ptr_nonnull(s);
		if (i)
			strncat(got, "|", sizeof got - strlen(got) - 1);
		strncat(got, s, sizeof got - strlen(got) - 1);
	}
	ck_assert_msg(strcmp(got, want) == 0, "encode \"%s\": got \"%s\", want \"%s\"", text, got, want);
	free(ids);
}

static void check_decode(const struct tokenizer *t, const int *ids, size_t n, int skip,
			 const char *want, size_t want_len)
{
	char *s = NULL;
	size_t len = 0;

	ck_assert_int_eq(tokenizer_decode(t, ids, n, skip, &s, &len), TOKENIZER_OK);
	ck_assert_uint_eq(len, want_len);
	ck_assert_mem_eq(s, want, want_len);
	ck_assert_int_eq(s[len], '\0');
	free(s);
}

/* xorshift64*; state passed explicitly. */
struct rng {
	uint64_t s;
};

static uint32_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (uint32_t)((r->s * UINT64_C(2685821657736338717)) >> 32);
}

/* ---- unicode ---- */

static const struct {
	const char *s;
	size_t len, want_len;
	uint32_t want_cp;
} utf8_cases[] = {
	{"A", 1, 1, 0x41},
	{"\x7f", 1, 1, 0x7F},
	{"\xc3\xa9", 2, 2, 0xE9},
	{"\xe2\x96\x81", 3, 3, 0x2581},
	{"\xf0\x9f\x98\x80", 4, 4, 0x1F600},
	{"\xf4\x8f\xbf\xbf", 4, 4, 0x10FFFF},
	{"\x80", 1, 1, UNICODE_INVALID},             /* stray continuation byte */
	{"\xc0\x80", 2, 1, UNICODE_INVALID},         /* overlong NUL */
	{"\xc1\xbf", 2, 1, UNICODE_INVALID},         /* overlong */
	{"\xe0\x80\x80", 3, 1, UNICODE_INVALID},     /* overlong 3-byte */
	{"\xed\xa0\x80", 3, 1, UNICODE_INVALID},     /* surrogate U+D800 */
	{"\xf4\x90\x80\x80", 4, 1, UNICODE_INVALID}, /* U+110000 */
	{"\xf5\x80\x80\x80", 4, 1, UNICODE_INVALID},
	{"\xe2\x82", 2, 1, UNICODE_INVALID},         /* truncated */
	{"\xe2\x28\xa1", 3, 1, UNICODE_INVALID},     /* bad continuation */
	{"\xff", 1, 1, UNICODE_INVALID},
};

START_TEST(test_utf8_decode)
{
	uint32_t cp = 0;
	size_t n = unicode_utf8_decode(&cp, utf8_cases[_i].s, utf8_cases[_i].len);

	ck_assert_uint_eq(n, utf8_cases[_i].want_len);
	ck_assert_uint_eq(cp, utf8_cases[_i].want_cp);
}
END_TEST

START_TEST(test_utf8_encode)
{
	static const uint32_t cps[] = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF};
	char buf[4];
	uint32_t cp;
	size_t i, n;

	for (i = 0; i < sizeof cps / sizeof cps[0]; i++) {
		n = unicode_utf8_encode(buf, cps[i]);
		ck_assert_uint_eq(n, cps[i] < 0x80 ? 1u : cps[i] < 0x800 ? 2u : cps[i] < 0x10000 ? 3u : 4u);
		ck_assert_uint_eq(unicode_utf8_decode(&cp, buf, n), n);
		ck_assert_uint_eq(cp, cps[i]);
	}
	ck_assert_uint_eq(unicode_utf8_encode(buf, 0xD800), 0);
	ck_assert_uint_eq(unicode_utf8_encode(buf, 0x110000), 0);
	ck_assert_uint_eq(unicode_utf8_decode(&cp, buf, 0), 0);
}
END_TEST

/* Categories from the Unicode Character Database (UnicodeData.txt / PropList.txt). */
static const struct {
	uint32_t cp;
	enum unicode_class cls;
} class_cases[] = {
	{'a', UNICODE_CLASS_LETTER}, {'Z', UNICODE_CLASS_LETTER}, {'5', UNICODE_CLASS_NUMBER},
	{' ', UNICODE_CLASS_SPACE}, {'\t', UNICODE_CLASS_SPACE}, {'\r', UNICODE_CLASS_SPACE},
	{'!', UNICODE_CLASS_OTHER}, {'\'', UNICODE_CLASS_OTHER}, {0, UNICODE_CLASS_OTHER},
	{0x1C, UNICODE_CLASS_OTHER},      /* FS: str.isspace() but not White_Space */
	{0x85, UNICODE_CLASS_SPACE},      /* NEL */
	{0xA0, UNICODE_CLASS_SPACE},      /* NBSP, Zs */
	{0xAA, UNICODE_CLASS_LETTER},     /* ª, Lo */
	{0xB2, UNICODE_CLASS_NUMBER},     /* ², No */
	{0xE9, UNICODE_CLASS_LETTER},     /* é, Ll */
	{0x0663, UNICODE_CLASS_NUMBER},   /* Arabic-Indic three, Nd */
	{0x16EE, UNICODE_CLASS_NUMBER},   /* runic, Nl */
	{0x1680, UNICODE_CLASS_SPACE},    /* Ogham space mark */
	{0x200B, UNICODE_CLASS_OTHER},    /* zero width space is Cf, not White_Space */
	{0x2028, UNICODE_CLASS_SPACE},    /* Zl */
	{0x2029, UNICODE_CLASS_SPACE},    /* Zp */
	{0x2460, UNICODE_CLASS_NUMBER},   /* circled one, No */
	{0x2581, UNICODE_CLASS_OTHER},    /* ▁, So */
	{0x3000, UNICODE_CLASS_SPACE},
	{0x4E2D, UNICODE_CLASS_LETTER},   /* 中 */
	{0xAC00, UNICODE_CLASS_LETTER},   /* 가 */
	{0x1F600, UNICODE_CLASS_OTHER},   /* emoji, So */
	{0x20000, UNICODE_CLASS_LETTER},  /* CJK extension B */
	{0xE000, UNICODE_CLASS_OTHER},    /* private use */
	{0x10FFFF, UNICODE_CLASS_OTHER},
	{UNICODE_INVALID, UNICODE_CLASS_OTHER},
};

START_TEST(test_classify)
{
	ck_assert_int_eq(unicode_classify(class_cases[_i].cp), class_cases[_i].cls);
	ck_assert_int_eq(unicode_classify_naive(class_cases[_i].cp), class_cases[_i].cls);
}
END_TEST

/* The binary search (and ASCII shortcut) against the linear scan. */
START_TEST(test_classify_vs_naive)
{
	uint32_t cp;

	for (cp = 0; cp < 0x3400; cp++)
		ck_assert_int_eq(unicode_classify(cp), unicode_classify_naive(cp));
	for (cp = 0x3400; cp <= 0x10FFFF; cp += 13)
		ck_assert_int_eq(unicode_classify(cp), unicode_classify_naive(cp));
	ck_assert_str_eq(unicode_tables_version(), "14.0.0");
}
END_TEST

/* ---- malformed tokenizer.json: one fixture per error ---- */

#define V3 "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}"
#define BPE_OK "\"model\": {\"type\": \"BPE\", " V3 ", \"merges\": [\"a b\"]}"

static const struct {
	const char *json;
	int err;
	const char *msg; /* substring of the detail message */
} bad_cases[] = {
	/* JSON */
	{"{\"model\": ", TOKENIZER_ERR_JSON, "not a JSON object"},
	{"[1, 2]", TOKENIZER_ERR_JSON, "not a JSON object"},
	/* fuzz finding: a quoted value's newline used to split the reason over two lines */
	{"{\"model\": {\"type\": \"BP\\nE\", \"vocab\": {}, \"merges\": []}}", TOKENIZER_ERR_MODEL, "'BP?E' is not BPE"},
	{"{" BPE_OK ", \"normalizer\": 5}", TOKENIZER_ERR_JSON, "normalizer"},
	{"{" BPE_OK ", \"normalizer\": {\"prepend\": \"x\"}}", TOKENIZER_ERR_JSON, "no 'type'"},
	{"{" BPE_OK ", \"normalizer\": {\"type\": \"Prepend\"}}", TOKENIZER_ERR_JSON, "Prepend"},
	{"{" BPE_OK ", \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \"\"}, \"content\": \"x\"}}",
	 TOKENIZER_ERR_JSON, "empty pattern"},
	{"{" BPE_OK ", \"added_tokens\": {}}", TOKENIZER_ERR_JSON, "added_tokens"},
	{"{" BPE_OK ", \"added_tokens\": [5]}", TOKENIZER_ERR_JSON, "not an object"},
	{"{" BPE_OK ", \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": \"yes\"}}",
	 TOKENIZER_ERR_JSON, "ByteLevel"},
	{"{" BPE_OK ", \"decoder\": {\"type\": \"Strip\", \"content\": \" \", \"start\": 1}}",
	 TOKENIZER_ERR_JSON, "Strip"},
	{"{" BPE_OK ", \"decoder\": {\"type\": \"Sequence\", \"decoders\": 3}}", TOKENIZER_ERR_JSON, "Sequence"},
	/* MODEL */
	{"{\"normalizer\": null}", TOKENIZER_ERR_MODEL, "no 'model'"},
	{"{\"model\": {\"type\": \"WordPiece\", " V3 ", \"merges\": []}}", TOKENIZER_ERR_MODEL, "WordPiece"},
	{"{\"model\": {\"type\": \"BPE\", " V3 "}}", TOKENIZER_ERR_MODEL, "merges"},
	{"{\"model\": {\"type\": \"BPE\", \"vocab\": [\"a\"], \"merges\": []}}", TOKENIZER_ERR_MODEL, "vocab"},
	{"{\"model\": {\"type\": \"BPE\", " V3 ", \"merges\": [], \"unk_token\": \"<unk>\"}}",
	 TOKENIZER_ERR_MODEL, "<unk>"},
	{"{\"model\": {\"type\": \"BPE\", " V3 ", \"merges\": [], \"fuse_unk\": 1}}", TOKENIZER_ERR_MODEL,
	 "wrong type"},
	/* VOCAB */
	{"{\"model\": {\"vocab\": {\"a\": -1}, \"merges\": []}}", TOKENIZER_ERR_VOCAB, "'a'"},
	{"{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1.5}, \"merges\": []}}", TOKENIZER_ERR_VOCAB, "'b'"},
	{"{\"model\": {\"vocab\": {\"a\": \"0\"}, \"merges\": []}}", TOKENIZER_ERR_VOCAB, "'a'"},
	{"{\"model\": {\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", TOKENIZER_ERR_VOCAB, "used twice"},
	{"{\"model\": {\"vocab\": {\"a\": 0, \"b\": 2}, \"merges\": []}}", TOKENIZER_ERR_VOCAB, "[0, 2)"},
	{"{\"model\": {\"vocab\": {\"a\": 0, \"a\": 1}, \"merges\": []}}", TOKENIZER_ERR_VOCAB, "twice"},
	{"{" BPE_OK ", \"added_tokens\": [{\"id\": 0, \"content\": \"<x>\"}]}", TOKENIZER_ERR_VOCAB, "used twice"},
	{"{" BPE_OK ", \"added_tokens\": [{\"id\": 3, \"content\": \"a\"}]}", TOKENIZER_ERR_VOCAB, "vocab id 0"},
	{"{" BPE_OK ", \"added_tokens\": [{\"id\": 3, \"content\": \"\"}]}", TOKENIZER_ERR_VOCAB, "content"},
	{"{" BPE_OK ", \"added_tokens\": [{\"content\": \"<x>\"}]}", TOKENIZER_ERR_VOCAB, "<x>"},
	{"{" BPE_OK ", \"added_tokens\": [{\"id\": 4, \"content\": \"<x>\"}]}", TOKENIZER_ERR_VOCAB, "[0, 4)"},
	{"{" BPE_OK ", \"added_tokens\": [{\"id\": 3, \"content\": \"<x>\"}, {\"id\": 4, \"content\": \"<x>\"}]}",
	 TOKENIZER_ERR_VOCAB, "twice"},
	/* MERGE */
	{"{\"model\": {" V3 ", \"merges\": [\"ab\"]}}", TOKENIZER_ERR_MERGE, "merge 0"},
	{"{\"model\": {" V3 ", \"merges\": [\"a b\", \"a b c\"]}}", TOKENIZER_ERR_MERGE, "merge 1"},
	{"{\"model\": {" V3 ", \"merges\": [[\"a\"]]}}", TOKENIZER_ERR_MERGE, "merge 0"},
	{"{\"model\": {" V3 ", \"merges\": [[\"a\", 1]]}}", TOKENIZER_ERR_MERGE, "merge 0"},
	{"{\"model\": {" V3 ", \"merges\": [5]}}", TOKENIZER_ERR_MERGE, "merge 0"},
	{"{\"model\": {" V3 ", \"merges\": [\"a x\"]}}", TOKENIZER_ERR_MERGE, "not in vocab"},
	{"{\"model\": {" V3 ", \"merges\": [[\"b\", \"a\"]]}}", TOKENIZER_ERR_MERGE, "'ba' not in vocab"},
	/* UNSUPPORTED: the message names the kind */
	{"{" BPE_OK ", \"normalizer\": {\"type\": \"NFKC\"}}", TOKENIZER_ERR_UNSUPPORTED, "'NFKC'"},
	{"{" BPE_OK ", \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}]}}",
	 TOKENIZER_ERR_UNSUPPORTED, "'Lowercase'"},
	{"{" BPE_OK ", \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" +\"}, \"content\": \" \"}}",
	 TOKENIZER_ERR_UNSUPPORTED, "Regex"},
	{"{" BPE_OK ", \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", TOKENIZER_ERR_UNSUPPORTED, "'Whitespace'"},
	{"{" BPE_OK ", \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}, "
	 "{\"type\": \"ByteLevel\"}]}}", TOKENIZER_ERR_UNSUPPORTED, "'Digits'"},
	{"{" BPE_OK ", \"decoder\": {\"type\": \"Metaspace\"}}", TOKENIZER_ERR_UNSUPPORTED, "'Metaspace'"},
	{"{\"model\": {" V3 ", \"merges\": [], \"dropout\": 0.1}}", TOKENIZER_ERR_UNSUPPORTED, "dropout"},
	{"{" BPE_OK ", \"added_tokens\": [{\"id\": 3, \"content\": \"<x>\", \"single_word\": true}]}",
	 TOKENIZER_ERR_UNSUPPORTED, "single_word"},
};

START_TEST(test_bad_json)
{
	struct tokenizer *t = (struct tokenizer *)&t; /* sentinel: must stay untouched */
	char msg[256] = "";
	int err = open_json(bad_cases[_i].json, &t, msg, sizeof msg);

	ck_assert_msg(err == bad_cases[_i].err, "case %d: got %d (%s), want %d", _i, err, msg,
		      bad_cases[_i].err);
	ck_assert_ptr_eq(t, (struct tokenizer *)&t);
	ck_assert_msg(strstr(msg, bad_cases[_i].msg) != NULL, "case %d: message \"%s\" lacks \"%s\"", _i,
		      msg, bad_cases[_i].msg);
	ck_assert_msg(!strchr(msg, '\n'), "case %d: reason on more than one line", _i);
	ck_assert_str_ne(tokenizer_strerror(err), "unknown tokenizer error");
}
END_TEST

START_TEST(test_io_and_args)
{
	struct tokenizer *t = NULL;
	char msg[64] = "", *dir = testutil_tmpdir_new("tok");

	ck_assert_int_eq(tokenizer_open(&t, "/nonexistent/yopo/tokenizer.json"), TOKENIZER_ERR_IO);
	ck_assert_int_eq(tokenizer_open_detail(&t, dir, msg, sizeof msg), TOKENIZER_ERR_IO); /* a directory */
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(msg, "cannot read"));
	/* a long message is truncated, still NUL-terminated */
	ck_assert_int_eq(tokenizer_open_detail(&t, "/nonexistent/yopo/a/very/long/path/name/tokenizer.json",
					       msg, 8), TOKENIZER_ERR_IO);
	ck_assert_uint_eq(strlen(msg), 7);
	ck_assert_int_eq(tokenizer_open(NULL, "x"), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_open(&t, NULL), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_open_detail(&t, "x", NULL, 5), TOKENIZER_ERR_ARG);
	testutil_tmpdir_free(dir);

	ck_assert_str_eq(tokenizer_strerror(TOKENIZER_OK), "success");
	ck_assert_str_eq(tokenizer_strerror(12345), "unknown tokenizer error");
	tokenizer_free(NULL);
	ck_assert_int_eq(tokenizer_vocab_size(NULL), 0);
	ck_assert_ptr_null(tokenizer_token(NULL, 0));
	ck_assert_int_eq(tokenizer_token_id(NULL, "a"), -1);
	ck_assert_int_eq(tokenizer_bos_id(NULL), -1);
}
END_TEST

START_TEST(test_call_errors)
{
	struct tokenizer *t = open_ok("{" BPE_OK ", \"decoder\": {\"type\": \"Fuse\"}}");
	int *ids = (int *)&t, bad[] = {0, 3}, neg[] = {-1};
	size_t n = 99, len = 99;
	char *s = (char *)&t, buf[4];

	ck_assert_int_eq(tokenizer_encode(NULL, "a", 1, &ids, &n), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_encode(t, NULL, 1, &ids, &n), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_encode(t, "a", 1, NULL, &n), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_encode(t, "a", 1, &ids, NULL), TOKENIZER_ERR_ARG);
	ck_assert_ptr_eq(ids, (int *)&t);
	ck_assert_uint_eq(n, 99);
	ck_assert_int_eq(tokenizer_decode(t, bad, 2, 0, &s, &len), TOKENIZER_ERR_ARG); /* id 3 >= size 3 */
	ck_assert_int_eq(tokenizer_decode(t, neg, 1, 0, &s, &len), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_decode(t, NULL, 1, 0, &s, &len), TOKENIZER_ERR_ARG);
	ck_assert_ptr_eq(s, (char *)&t);
	ck_assert_uint_eq(len, 99);
	ck_assert_int_eq(tokenizer_decode_piece(t, -1, 3, buf, sizeof buf), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_decode_piece(t, 3, 0, buf, sizeof buf), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_decode_piece(t, -2, 0, buf, sizeof buf), TOKENIZER_ERR_ARG);
	ck_assert_int_eq(tokenizer_decode_piece(t, -1, 2, buf, 2), TOKENIZER_ERR_ARG); /* "ab" + NUL */
	ck_assert_int_eq(tokenizer_decode_piece(t, -1, 2, buf, 3), 2);
	ck_assert_str_eq(buf, "ab");
	/* empty input: a pointer to free, no ids */
	ck_assert_int_eq(tokenizer_encode(t, NULL, 0, &ids, &n), TOKENIZER_OK);
	ck_assert_ptr_nonnull(ids);
	ck_assert_uint_eq(n, 0);
	free(ids);
	check_decode(t, NULL, 0, 0, "", 0);
	tokenizer_free(t);
}
END_TEST

/* ---- BPE semantics on small generated tokenizers ---- */

/* "abc" can be built as a+bc or ab+c: the merge order decides (ranks by hand). */
START_TEST(test_merge_order)
{
	struct tokenizer *t1 = open_ok("{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, "
				       "\"bc\": 4, \"abc\": 5}, \"merges\": [\"b c\", \"a b\", \"ab c\", \"a bc\"]}}");
	struct tokenizer *t2 = open_ok("{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, "
				       "\"bc\": 4}, \"merges\": [[\"a\", \"b\"], [\"b\", \"c\"]]}}");
	int want_abc[] = {5};
	int *ids;
	size_t n;

	/* t1: b+c (rank 0) first, then a+bc (rank 3) */
	check_pieces(t1, "abc", 3, "abc");
	ck_assert_int_eq(tokenizer_encode(t1, "abc", 3, &ids, &n), TOKENIZER_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], want_abc[0]);
	free(ids);
	/* without a merge into "abcabc", a rank-0 pair repeated merges left to right */
	check_pieces(t1, "abcabc", 6, "abc|abc");
	/* t2: a+b (rank 0) wins over b+c; "ab c" has no merge; pair form accepted */
	check_pieces(t2, "abc", 3, "ab|c");
	check_pieces(t2, "bcab", 4, "bc|ab");
	/* overlapping equal pairs: leftmost first ("bbb" is not in this vocab) */
	tokenizer_free(t1);
	tokenizer_free(t2);
	t1 = open_ok("{\"model\": {\"vocab\": {\"b\": 0, \"bb\": 1}, \"merges\": [\"b b\"]}}");
	check_pieces(t1, "bbb", 3, "bb|b");
	check_pieces(t1, "bbbb", 4, "bb|bb");
	ck_assert_int_eq(tokenizer_vocab_size(t1), 2);
	ck_assert_int_eq(tokenizer_bos_id(t1), -1);
	ck_assert_int_eq(tokenizer_eos_id(t1), -1);
	tokenizer_free(t1);
}
END_TEST

/* unk, fuse_unk, byte_fallback and dropping, as HF BPE::merge_word. */
START_TEST(test_unknown_chars)
{
	struct tokenizer *t;

	/* no unk, no fallback: unknown characters vanish */
	t = open_ok("{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}}");
	check_pieces(t, "axa\xc3\xa9", 5, "a|a");
	tokenizer_free(t);
	/* unk without fuse: one per character */
	t = open_ok("{\"model\": {\"vocab\": {\"<unk>\": 0, \"a\": 1}, \"merges\": [], \"unk_token\": \"<unk>\"}}");
	check_pieces(t, "axy\xc3\xa9" "a", 6, "a|<unk>|<unk>|<unk>|a");
	tokenizer_free(t);
	/* fuse_unk: consecutive unknowns are one unk */
	t = open_ok("{\"model\": {\"vocab\": {\"<unk>\": 0, \"a\": 1}, \"merges\": [], \"unk_token\": \"<unk>\", "
		    "\"fuse_unk\": true}}");
	check_pieces(t, "axy\xc3\xa9" "a\xff", 7, "a|<unk>|a|<unk>");
	tokenizer_free(t);
	/* byte fallback for characters whose bytes all have tokens, else unk */
	t = open_ok("{\"model\": {\"vocab\": {\"<unk>\": 0, \"a\": 1, \"<0xC3>\": 2, \"<0xA9>\": 3, \"<0xFF>\": 4},"
		    " \"merges\": [], \"unk_token\": \"<unk>\", \"byte_fallback\": true}}");
	check_pieces(t, "a\xc3\xa9z\xff", 5, "a|<0xC3>|<0xA9>|<unk>|<0xFF>");
	check_pieces(t, "zz\xff", 3, "<unk>|<unk>|<0xFF>"); /* no fuse_unk here */
	tokenizer_free(t);
}
END_TEST

/* continuing_subword_prefix / end_of_word_suffix and ignore_merges. */
START_TEST(test_model_options)
{
	struct tokenizer *t;

	t = open_ok("{\"model\": {\"vocab\": {\"a\": 0, \"##b\": 1, \"##c\": 2, \"ab\": 3, \"##bc\": 4},"
		    " \"merges\": [\"##b ##c\", \"a ##b\"], \"continuing_subword_prefix\": \"##\"}}");
	/* merge "a ##b" yields "a" + "b" = "ab" (the prefix of the right part is dropped) */
	check_pieces(t, "ab", 2, "ab");
	check_pieces(t, "abc", 3, "a|##bc");
	tokenizer_free(t);
	t = open_ok("{\"model\": {\"vocab\": {\"a\": 0, \"b</w>\": 1, \"ab</w>\": 2, \"b\": 3},"
		    " \"merges\": [\"a b</w>\"], \"end_of_word_suffix\": \"</w>\"}}");
	check_pieces(t, "ab", 2, "ab</w>");
	check_pieces(t, "bab", 3, "b|ab</w>");
	tokenizer_free(t);
	t = open_ok("{\"model\": {\"vocab\": {\"x\": 0, \"y\": 1, \"xy\": 2, \"xyx\": 3}, \"merges\": [\"x y\"],"
		    " \"ignore_merges\": true}}");
	check_pieces(t, "xyx", 3, "xyx"); /* whole word in vocab, though no merge makes it */
	check_pieces(t, "xyxy", 4, "xy|xy");
	tokenizer_free(t);
}
END_TEST

/* A SentencePiece-style fixture: normalizer, added tokens (lstrip/rstrip), decoder chain. */
#define SP_JSON \
	"{\"added_tokens\": [" \
	"{\"id\": 0, \"content\": \"<s>\", \"special\": true, \"normalized\": false}," \
	"{\"id\": 1, \"content\": \"</s>\", \"special\": true}," \
	"{\"id\": 9, \"content\": \"<m>\", \"special\": false, \"lstrip\": true, \"rstrip\": true}]," \
	"\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"}," \
	"{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]}," \
	"\"pre_tokenizer\": null," \
	"\"decoder\": {\"type\": \"Sequence\", \"decoders\": [" \
	"{\"type\": \"Replace\", \"pattern\": {\"String\": \"\xe2\x96\x81\"}, \"content\": \" \"}," \
	"{\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}," \
	"\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"byte_fallback\": true, \"fuse_unk\": true, \"vocab\": {" \
	"\"<s>\": 0, \"</s>\": 1, \"<unk>\": 2, \"<0xC3>\": 3, \"<0xA9>\": 4, \"\xe2\x96\x81\": 5, \"h\": 6, \"i\": 7," \
	"\"\xe2\x96\x81h\": 8, \"\xe2\x96\x81hi\": 10, \"<m>\": 9}, \"merges\": [\"\xe2\x96\x81 h\", \"\xe2\x96\x81h i\"]}}"

START_TEST(test_sentencepiece_style)
{
	struct tokenizer *t = open_ok(SP_JSON);
	int ids[] = {0, 10, 5, 10, 3, 4, 1};
	char buf[16];

	ck_assert_int_eq(tokenizer_bos_id(t), 0);
	ck_assert_int_eq(tokenizer_eos_id(t), 1);
	ck_assert_int_eq(tokenizer_vocab_size(t), 11);
	ck_assert_int_eq(tokenizer_token_id(t, "\xe2\x96\x81hi"), 10);
	ck_assert_int_eq(tokenizer_token_id(t, "<m>"), 9);
	ck_assert_int_eq(tokenizer_token_id(t, "nope"), -1);
	ck_assert_ptr_null(tokenizer_token(t, 11));
	ck_assert_ptr_null(tokenizer_token(t, -1));
	/* Prepend + Replace: " hi" -> "▁▁hi" */
	check_pieces(t, "hi", 2, "\xe2\x96\x81hi");
	check_pieces(t, " hi", 3, "\xe2\x96\x81|\xe2\x96\x81hi");
	check_pieces(t, "hi\xc3\xa9", 4, "\xe2\x96\x81hi|<0xC3>|<0xA9>");
	/* invalid UTF-8 byte with no <0xFF> token: unk */
	check_pieces(t, "hi\xff", 3, "\xe2\x96\x81hi|<unk>");
	/* added tokens split first; each piece is normalized on its own (HF) */
	check_pieces(t, "<s>hi</s>", 9, "<s>|\xe2\x96\x81hi|</s>");
	/* lstrip/rstrip swallow the spaces around <m> */
	check_pieces(t, "hi  <m> hi", 10, "\xe2\x96\x81hi|<m>|\xe2\x96\x81hi");
	/* decoder: Replace, ByteFallback (raw bytes), Fuse, Strip one leading space */
	/* "<s>" " hi" " " " hi" "é" "</s>": nothing to strip before "<s>" */
	check_decode(t, ids, 7, 0, "<s> hi  hi\xc3\xa9</s>", 16);
	check_decode(t, ids, 7, 1, "hi  hi\xc3\xa9", 8);
	check_decode(t, ids + 2, 4, 1, " hi\xc3\xa9", 5); /* "  hié": Strip removes one space */
	/* streaming pieces: no Strip */
	ck_assert_int_eq(tokenizer_decode_piece(t, 0, 10, buf, sizeof buf), 3);
	ck_assert_str_eq(buf, " hi");
	ck_assert_int_eq(tokenizer_decode_piece(t, 10, 3, buf, sizeof buf), 1);
	ck_assert_int_eq((unsigned char)buf[0], 0xC3);
	ck_assert_int_eq(tokenizer_decode_piece(t, -1, 1, buf, sizeof buf), 4);
	ck_assert_str_eq(buf, "</s>");
	tokenizer_free(t);
}
END_TEST

/* Byte-level fixture: the GPT-2 split and byte mapping on a small vocab of the 256 byte
 * characters plus a few merges. */
static char *byte_level_json(int add_prefix_space, int use_regex, const char *extra_vocab,
			     const char *merges)
{
	static const int ranges[][2] = {{'!', '~'}, {0xA1, 0xAC}, {0xAE, 0xFF}};
	size_t cap = 1 << 16, len = 0;
	char *j = malloc(cap);
	int b, n = 0, id = 0;
	bool printable[256] = {false};

	ck_assert_ptr_nonnull(j);
	for (b = 0; b < 3; b++)
		for (int c = ranges[b][0]; c <= ranges[b][1]; c++)
			printable[c] = true;
	len += (size_t)snprintf(j + len, cap - len,
				"{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\","
				" \"add_prefix_space\": %s, \"trim_offsets\": true, \"use_regex\": %s}]},"
				" \"decoder\": {\"type\": \"ByteLevel\"},"
				" \"added_tokens\": [{\"id\": 256, \"content\": \"<|endoftext|>\", \"special\": true}],"
				" \"model\": {\"type\": \"BPE\", \"vocab\": {",
				add_prefix_space ? "true" : "false", use_regex ? "true" : "false");
	for (b = 0; b < 256; b++) {
		/* bytes_to_unicode written out independently of tokenizer.c */
		unsigned cp = printable[b] ? (unsigned)b : 256u + (unsigned)n++;
		char u[4];
		size_t k = unicode_utf8_encode(u, cp);

		if (cp == '"' || cp == '\\')
			len += (size_t)snprintf(j + len, cap - len, "\"\\%c\": %d, ", (char)cp, id++);
		else
			len += (size_t)snprintf(j + len, cap - len, "\"%.*s\": %d, ", (int)k, u, id++);
	}
	len += (size_t)snprintf(j + len, cap - len, "\"<|endoftext|>\": 256%s}, \"merges\": [%s]}}", extra_vocab,
				merges);
	ck_assert_uint_lt(len, cap);
	return j;
}

START_TEST(test_byte_level_split)
{
	/* ids 257.. : "Ġt", "he", "Ġthe", "ĠĠ", "'s" */
	char *json = byte_level_json(0, 1,
				     ", \"\xc4\xa0t\": 257, \"he\": 258, \"\xc4\xa0the\": 259, \"\xc4\xa0\xc4\xa0\": 260, \"'s\": 261",
				     "\"\xc4\xa0 t\", \"h e\", \"\xc4\xa0t he\", \"\xc4\xa0 \xc4\xa0\", \"' s\"");
	struct tokenizer *t = open_ok(json);
	static const char text[] = "the the's\n\n  the\t\xff!!";
	int *ids;
	size_t n;

	free(json);
	ck_assert_int_eq(tokenizer_bos_id(t), 256);
	ck_assert_int_eq(tokenizer_eos_id(t), 256);
	/* pre-tokens: "the" " the" "'s" "\n\n " " the" "\t" "\xff!!": the whitespace run before
	 * "the" gives its last space to " the"; a lone "\t" before a non-space is \s+; the invalid
	 * byte is "other" like "!". "the" stays t|he (there is no "t h" merge); "\n\n " has no
	 * merge; byte 9 maps to U+0109, byte 10 to U+010A, 0xFF to U+00FF. */
	check_pieces(t, text, sizeof text - 1,
		     "t|he|\xc4\xa0the|'s|\xc4\x8a|\xc4\x8a|\xc4\xa0|\xc4\xa0the|\xc4\x89|\xc3\xbf|!|!");
	ck_assert_int_eq(tokenizer_encode(t, text, sizeof text - 1, &ids, &n), TOKENIZER_OK);
	check_decode(t, ids, n, 0, text, sizeof text - 1);
	free(ids);
	/* special token in the text; skip_special drops it on decode */
	check_pieces(t, "<|endoftext|>the", 16, "<|endoftext|>|t|he");
	ck_assert_int_eq(tokenizer_encode(t, "x<|endoftext|>", 14, &ids, &n), TOKENIZER_OK);
	check_decode(t, ids, n, 1, "x", 1);
	check_decode(t, ids, n, 0, "x<|endoftext|>", 14);
	free(ids);
	/* trailing whitespace run at the end of text stays whole: "ĠĠ" merges */
	check_pieces(t, "a  ", 3, "a|\xc4\xa0\xc4\xa0");
	tokenizer_free(t);

	/* add_prefix_space, and use_regex false (one word: " the the" -> Ġthe Ġthe via merges) */
	json = byte_level_json(1, 0, ", \"\xc4\xa0t\": 257, \"he\": 258, \"\xc4\xa0the\": 259",
			       "\"\xc4\xa0 t\", \"h e\", \"\xc4\xa0t he\"");
	t = open_ok(json);
	free(json);
	check_pieces(t, "the the", 7, "\xc4\xa0the|\xc4\xa0the");
	check_pieces(t, " the", 4, "\xc4\xa0the"); /* already starts with a space */
	tokenizer_free(t);
}
END_TEST

/* The heap BPE against the naive rescan on random words, with a vocab where most tokens can be
 * built several ways (every split of every string of length <= 5 over {a, b, c}) and random
 * merge ranks. */
START_TEST(test_heap_vs_naive)
{
	struct rng r = {UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)_i};
	char (*tok)[8] = malloc(400 * sizeof(*tok));
	char (*merge)[16] = malloc(2000 * sizeof(*merge));
	size_t n_tok = 0, n_merge = 0, cap = 1 << 17, len = 0, i, k;
	char *json = malloc(cap);
	struct tokenizer *t;

	ck_assert_ptr_nonnull(tok);
	ck_assert_ptr_nonnull(merge);
	ck_assert_ptr_nonnull(json);
	/* all strings over {a,b,c} of length 1..5 (363), in length order */
	for (size_t l = 1; l <= 5; l++) {
		size_t count = 1;
		for (k = 0; k < l; k++)
			count *= 3;
		for (i = 0; i < count; i++) {
			size_t x = i;
			for (k = 0; k < l; k++, x /= 3)
				tok[n_tok][l - 1 - k] = (char)('a' + x % 3);
			tok[n_tok][l] = '\0';
			n_tok++;
		}
	}
	for (i = 0; i < n_tok; i++)
		for (k = 1; k < strlen(tok[i]); k++)
			snprintf(merge[n_merge++], 16, "%.*s %s", (int)k, tok[i], tok[i] + k);
	for (i = n_merge; i > 1; i--) { /* Fisher-Yates */
		size_t j = rng_next(&r) % i;
		char tmp[16];
		memcpy(tmp, merge[i - 1], 16);
		memcpy(merge[i - 1], merge[j], 16);
		memcpy(merge[j], tmp, 16);
	}
	len += (size_t)snprintf(json + len, cap - len, "{\"decoder\": {\"type\": \"Fuse\"}, \"model\": {\"vocab\": {");
	for (i = 0; i < n_tok; i++)
		len += (size_t)snprintf(json + len, cap - len, "%s\"%s\": %zu", i ? ", " : "", tok[i], i);
	len += (size_t)snprintf(json + len, cap - len, "}, \"merges\": [");
	for (i = 0; i < n_merge; i++)
		len += (size_t)snprintf(json + len, cap - len, "%s\"%s\"", i ? ", " : "", merge[i]);
	len += (size_t)snprintf(json + len, cap - len, "]}}");
	ck_assert_uint_lt(len, cap);
	t = open_ok(json);
	for (int w = 0; w < 300; w++) {
		char word[64];
		size_t wl = 1 + rng_next(&r) % 60;
		int *a, *b;
		size_t na, nb;

		for (i = 0; i < wl; i++)
			word[i] = (char)('a' + rng_next(&r) % 3);
		ck_assert_int_eq(tokenizer_encode(t, word, wl, &a, &na), TOKENIZER_OK);
		ck_assert_int_eq(tokenizer_encode_naive(t, word, wl, &b, &nb), TOKENIZER_OK);
		ck_assert_uint_eq(na, nb);
		ck_assert_mem_eq(a, b, na * sizeof(int));
		/* every adjacent pair of letters has a merge, so a long word always shrinks */
		ck_assert_uint_le(na, wl);
		if (wl > 1)
			ck_assert_uint_lt(na, wl);
		check_decode(t, a, na, 0, word, wl);
		free(a);
		free(b);
	}
	tokenizer_free(t);
	free(json);
	free(tok);
	free(merge);
}
END_TEST

/* No decoder: HF joins the tokens with spaces. Repeated merge pair: the later rank counts. */
START_TEST(test_no_decoder_and_dup_merge)
{
	struct tokenizer *t = open_ok("{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4},"
				      " \"merges\": [\"a b\", \"b c\", \"a b\"]}}");
	int ids[] = {3, 2, 0};

	check_decode(t, ids, 3, 0, "ab c a", 6);
	/* "a b" now has rank 2 > rank 1 of "b c" */
	check_pieces(t, "abc", 3, "a|bc");
	tokenizer_free(t);
}
END_TEST

/* ---- the real tokenizers ---- */

static const char *const model_names[] = {"stories260k", "tinystories-instruct-3m"};

static struct tokenizer *open_real(int model)
{
	char path[2400];
	struct tokenizer *t = NULL;

	if (!testutil_shared_present())
		return NULL;
	snprintf(path, sizeof path, "%s/models/%s/tokenizer.json", testutil_shared(), model_names[model]);
	ck_assert_int_eq(tokenizer_open(&t, path), TOKENIZER_OK);
	return t;
}

static char *read_data(const char *name, size_t *len)
{
	char path[2400];
	char *p;

	ck_assert(testutil_shared_present());
	snprintf(path, sizeof path, "%s/data/%s", testutil_shared(), name);
	p = testutil_file_read(path, len);
	ck_assert_uint_gt(*len, 0);
	return p;
}

/* Expected pieces derived by hand from the vocab and merge ranks in the tokenizer.json files
 * (e.g. stories260k "Hello" = "▁Hello": "l l" rank 49, then "▁ H" 65, then "▁H e" 92, and no
 * merge joins "▁He"/"ll"/"o"; GPT-Neo " cat": "a t" rank 9, "Ġ c" 13, "Ġc at" 3029), and
 * cross-checked against an independent implementation (HF tokenizers.js). */
static const struct {
	int model;
	const char *text;
	size_t len;
	const char *pieces;
	bool round_trip; /* false where normalization is not invertible, as in HF */
} real_cases[] = {
	{0, "Hello", 5, "\xe2\x96\x81He|ll|o", true},
	{0, " the cat", 8, "\xe2\x96\x81|\xe2\x96\x81the|\xe2\x96\x81" "c|at", true},
	{0, "<s>abc</s> d", 12, "<s>|\xe2\x96\x81" "a|b|c|</s>|\xe2\x96\x81|\xe2\x96\x81" "d", false},
	{0, "\xf0\x9f\x98\x80 ok", 7, "\xe2\x96\x81|<0xF0>|<0x9F>|<0x98>|<0x80>|\xe2\x96\x81o|k", true},
	{0, "a\xff" "b\xc3", 4, "\xe2\x96\x81" "a|<0xFF>|b|<0xC3>", true},
	{0, "x\0y", 3, "\xe2\x96\x81|x|<0x00>|y", true},
	{0, "", 0, "", true},
	{1, "Hello", 5, "Hello", true},
	{1, " the cat", 8, "\xc4\xa0the|\xc4\xa0" "cat", true},
	{1, "\n\nOnce", 6, "\xc4\x8a|\xc4\x8a|Once", true},
	{1, "<|endoftext|>hi<|endoftext|>", 28, "<|endoftext|>|hi|<|endoftext|>", true},
	{1, "I'll we've they're 'S", 21, "I|'ll|\xc4\xa0we|'ve|\xc4\xa0they|'re|\xc4\xa0'|S", true},
	/* "  \u00a0 x\u2028y": the White_Space run before "x" loses its last space to " x"; U+2028
	 * alone before "y" is \s+ */
	{1, "  \xc2\xa0 x\xe2\x80\xa8y", 10, "\xc4\xa0|\xc4\xa0|\xc3\x82\xc5\x82|\xc4\xa0x|\xc3\xa2\xc4\xa2|\xc2\xa8|y", true},
	{1, "a\xff" "b\xc3", 4, "a|\xc3\xbf|b|\xc3\x83", true},
	{1, "x\0y", 3, "x|\xc4\x80|y", true},
	{1, " ", 1, "\xc4\xa0", true},
};

START_TEST(test_real_cases)
{
	struct tokenizer *t = open_real(real_cases[_i].model);
	int *ids;
	size_t n;

	if (!t)
		return;
	check_pieces(t, real_cases[_i].text, real_cases[_i].len, real_cases[_i].pieces);
	/* invalid UTF-8 and NUL round-trip too */
	ck_assert_int_eq(tokenizer_encode(t, real_cases[_i].text, real_cases[_i].len, &ids, &n), TOKENIZER_OK);
	if (real_cases[_i].round_trip)
		check_decode(t, ids, n, 0, real_cases[_i].text, real_cases[_i].len);
	free(ids);
	tokenizer_free(t);
}
END_TEST

/* Vocab facts read off the files by hand. */
START_TEST(test_real_vocab)
{
	struct tokenizer *s = open_real(0), *g = open_real(1);

	if (!s || !g)
		return;
	ck_assert_int_eq(tokenizer_vocab_size(s), 512);
	ck_assert_int_eq(tokenizer_bos_id(s), 1);
	ck_assert_int_eq(tokenizer_eos_id(s), 2);
	ck_assert_str_eq(tokenizer_token(s, 0), "<unk>");
	ck_assert_str_eq(tokenizer_token(s, 3), "<0x00>");
	ck_assert_str_eq(tokenizer_token(s, 258), "<0xFF>");
	ck_assert_int_eq(tokenizer_token_id(s, "\xe2\x96\x81He"), 346);
	ck_assert_int_eq(tokenizer_token_id(s, "ll"), 306);
	ck_assert_int_eq(tokenizer_token_id(s, "o"), 414);
	ck_assert_int_eq(tokenizer_vocab_size(g), 14019);
	ck_assert_int_eq(tokenizer_bos_id(g), 14018);
	ck_assert_int_eq(tokenizer_eos_id(g), 14018);
	ck_assert_str_eq(tokenizer_token(g, 14018), "<|endoftext|>");
	ck_assert_int_eq(tokenizer_token_id(g, "\xc4\xa0the"), 262);
	ck_assert_int_eq(tokenizer_token_id(g, "\xc4\xa0" "cat"), 3285);
	ck_assert_int_eq(tokenizer_token_id(g, "\xc4\x8a"), 198);
	ck_assert_ptr_null(tokenizer_token(g, 14019));
	tokenizer_free(s);
	tokenizer_free(g);
}
END_TEST

START_TEST(test_real_decode_piece)
{
	struct tokenizer *s = open_real(0), *g = open_real(1);
	static const char text[] = "\xf0\x9f\x98\x80 ok";
	char buf[64], joined[64] = "";
	int *ids, bos;
	size_t n, i, at = 0;

	if (!s || !g)
		return;
	bos = tokenizer_bos_id(s);
	ck_assert_int_eq(tokenizer_decode_piece(s, bos, tokenizer_token_id(s, "\xe2\x96\x81He"), buf, sizeof buf), 3);
	ck_assert_str_eq(buf, " He");
	ck_assert_int_eq(tokenizer_decode_piece(g, -1, 262, buf, sizeof buf), 4);
	ck_assert_str_eq(buf, " the");
	ck_assert_int_eq(tokenizer_decode_piece(g, 262, 198, buf, sizeof buf), 1);
	ck_assert_str_eq(buf, "\n");
	ck_assert_int_eq(tokenizer_decode_piece(g, 262, 14018, buf, sizeof buf), 13);
	ck_assert_str_eq(buf, "<|endoftext|>");
	/* streaming a character split into byte-fallback tokens: pieces concatenate to the text,
	 * with the leading "▁" kept as a space */
	ck_assert_int_eq(tokenizer_encode(s, text, sizeof text - 1, &ids, &n), TOKENIZER_OK);
	for (i = 0; i < n; i++) {
		int l = tokenizer_decode_piece(s, i ? ids[i - 1] : bos, ids[i], buf, sizeof buf);

		ck_assert_int_ge(l, 0);
		memcpy(joined + at, buf, (size_t)l);
		at += (size_t)l;
	}
	ck_assert_uint_eq(at, sizeof text);
	ck_assert_int_eq(joined[0], ' ');
	ck_assert_mem_eq(joined + 1, text, sizeof text - 1);
	free(ids);
	/* same for byte-level: "😀" is 4 byte tokens */
	ck_assert_int_eq(tokenizer_encode(g, text, sizeof text - 1, &ids, &n), TOKENIZER_OK);
	ck_assert_uint_eq(n, 5);
	for (i = 0, at = 0; i < n; i++) {
		int l = tokenizer_decode_piece(g, i ? ids[i - 1] : -1, ids[i], buf, sizeof buf);

		ck_assert_int_ge(l, 0);
		memcpy(joined + at, buf, (size_t)l);
		at += (size_t)l;
	}
	ck_assert_uint_eq(at, sizeof text - 1);
	ck_assert_mem_eq(joined, text, sizeof text - 1);
	free(ids);
	tokenizer_free(s);
	tokenizer_free(g);
}
END_TEST

/* Token counts from shared/data/README.md (its "+1 BOS" numbers minus the BOS), and round trips. */
static const struct {
	int model;
	const char *file;
	size_t count;
} count_cases[] = {
	{0, "tinystories-calib.txt", 42926},
	{0, "tinystories-eval.txt", 350090},
	{0, "wikitext2-test.txt", 815069},
	{1, "tinystories-calib.txt", 22258},
	{1, "tinystories-eval.txt", 174379},
	{1, "wikitext2-test.txt", 398219},
};

START_TEST(test_real_counts)
{
	struct tokenizer *t = open_real(count_cases[_i].model);
	char *text, *back;
	size_t len, n, back_len;
	int *ids;

	if (!t)
		return;
	text = read_data(count_cases[_i].file, &len);
	ck_assert_int_eq(tokenizer_encode(t, text, len, &ids, &n), TOKENIZER_OK);
	ck_assert_uint_eq(n, count_cases[_i].count);
	ck_assert_int_eq(tokenizer_decode(t, ids, n, 0, &back, &back_len), TOKENIZER_OK);
	ck_assert_uint_eq(back_len, len);
	ck_assert_mem_eq(back, text, len);
	free(back);
	free(ids);
	free(text);
	tokenizer_free(t);
}
END_TEST

/* Heap BPE against the naive reference on the first paragraphs of real text. */
START_TEST(test_real_heap_vs_naive)
{
	struct tokenizer *t = open_real(_i);
	char *text;
	size_t len, at = 0;
	int chunks = 0;

	if (!t)
		return;
	text = read_data("tinystories-calib.txt", &len);
	while (at < len && chunks < 25) {
		const char *br = strstr(text + at, "\n\n"); /* the file has no NUL */
		size_t end = br && (size_t)(br - text) < len ? (size_t)(br - text) + 2 : len;
		int *a, *b;
		size_t na, nb;

		if (end - at > 1200)
			end = at + 1200;
		ck_assert_int_eq(tokenizer_encode(t, text + at, end - at, &a, &na), TOKENIZER_OK);
		ck_assert_int_eq(tokenizer_encode_naive(t, text + at, end - at, &b, &nb), TOKENIZER_OK);
		ck_assert_uint_eq(na, nb);
		ck_assert_mem_eq(a, b, na * sizeof(int));
		ck_assert_uint_gt(na, 0);
		free(a);
		free(b);
		at = end;
		chunks++;
	}
	ck_assert_int_eq(chunks, 25);
	free(text);
	tokenizer_free(t);
}
END_TEST

static Suite *tokenizer_suite(void)
{
	Suite *s = suite_create("tokenizer");
	TCase *tc = tcase_create("unicode");

	tcase_add_loop_test(tc, test_utf8_decode, 0, (int)(sizeof utf8_cases / sizeof utf8_cases[0]));
	tcase_add_test(tc, test_utf8_encode);
	tcase_add_loop_test(tc, test_classify, 0, (int)(sizeof class_cases / sizeof class_cases[0]));
	tcase_add_test(tc, test_classify_vs_naive);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_loop_test(tc, test_bad_json, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
	tcase_add_test(tc, test_io_and_args);
	tcase_add_test(tc, test_call_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("bpe");
	tcase_add_test(tc, test_merge_order);
	tcase_add_test(tc, test_unknown_chars);
	tcase_add_test(tc, test_model_options);
	tcase_add_test(tc, test_sentencepiece_style);
	tcase_add_test(tc, test_byte_level_split);
	tcase_add_loop_test(tc, test_heap_vs_naive, 0, 3);
	tcase_add_test(tc, test_no_decoder_and_dup_merge);
	suite_add_tcase(s, tc);

	tc = tcase_create("real");
	tcase_add_loop_test(tc, test_real_cases, 0, (int)(sizeof real_cases / sizeof real_cases[0]));
	tcase_add_test(tc, test_real_vocab);
	tcase_add_test(tc, test_real_decode_piece);
	tcase_add_loop_test(tc, test_real_counts, 0, (int)(sizeof count_cases / sizeof count_cases[0]));
	tcase_add_loop_test(tc, test_real_heap_vs_naive, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(tokenizer_suite(), true);
}
