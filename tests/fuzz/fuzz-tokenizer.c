/* fuzz-tokenizer: a fuzzed tokenizer.json through tokenizer_open_detail, then encode, decode and
 * the token tables. The input is the JSON text, optionally followed by a NUL and a text to
 * encode (at most TEXT_MAX bytes are used; without the NUL a fixed mixed-script text). The heap
 * BPE and the naive reference encoder must give the same ids: any difference aborts, as do ids
 * out of range, a failed decode of valid ids, or a failure without a one-line reason. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzz_util.h"
#include "tokenizer.h"

/* The naive encoder is quadratic per word: keep texts short. */
#define TEXT_MAX 512

static const char default_text[] =
	"Once upon a time, there was a little girl named Lily.\n\tShe said: \"Hi!\"  123 caf\xc3\xa9 "
	"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 \xff\xfe <s></s><|endoftext|> x\x00y";

static void encode_both(const struct tokenizer *t, const char *text, size_t len)
{
	int *fast = NULL, *naive = NULL;
	size_t nf = 0, nn = 0;
	int rf = tokenizer_encode(t, text, len, &fast, &nf);
	int rn = tokenizer_encode_naive(t, text, len, &naive, &nn);
	if (rf != rn || (!rf && (nf != nn || (nf && memcmp(fast, naive, nf * sizeof *fast))))) {
		fprintf(stderr, "encoders disagree: status %d/%d, %zu/%zu ids\n", rf, rn, nf, nn);
		abort();
	}
	int vocab = tokenizer_vocab_size(t);
	for (size_t i = 0; !rf && i < nf; i++)
		if (fast[i] < 0 || fast[i] >= vocab || !tokenizer_token(t, fast[i]))
			abort();
	char *out = NULL, piece[4096];
	size_t out_len;
	for (int skip = 0; !rf && skip < 2; skip++) {
		if (tokenizer_decode(t, fast, nf, skip, &out, &out_len) || strlen(out) > out_len)
			abort();
		free(out);
	}
	for (size_t i = 0; !rf && i < nf; i++)
		(void)tokenizer_decode_piece(t, i ? fast[i - 1] : -1, fast[i], piece, sizeof piece);
	free(fast);
	free(naive);
}

static void check_tables(const struct tokenizer *t)
{
	int vocab = tokenizer_vocab_size(t);
	int bos = tokenizer_bos_id(t), eos = tokenizer_eos_id(t);
	if (vocab < 0 || bos < -1 || bos >= vocab || eos < -1 || eos >= vocab)
		abort();
	for (int id = 0; id < vocab && id < 256; id++) {
		const char *piece = tokenizer_token(t, id);
		if (piece && tokenizer_token_id(t, piece) < 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t json_len = nul ? (size_t)(nul - data) : size;
	const char *path = fuzz_write("tokenizer.json", data, json_len);
	struct tokenizer *t = NULL;
	char err[ERR_MAX] = "";
	int rc = tokenizer_open_detail(&t, path, err, sizeof err);
	fuzz_check_reason(rc, err);
	if (rc)
		return 0;
	check_tables(t);
	if (nul) {
		size_t len = size - json_len - 1;
		encode_both(t, (const char *)nul + 1, len < TEXT_MAX ? len : TEXT_MAX);
	} else {
		encode_both(t, default_text, sizeof default_text - 1);
	}
	tokenizer_free(t);
	return 0;
}
