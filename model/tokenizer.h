/* tokenizer: Hugging Face tokenizer.json reader with BPE encode/decode.
 *
 * Covers the two BPE styles real checkpoints use, with HF `tokenizers` semantics:
 *  - SentencePiece style (Llama): normalizer Prepend("▁") / Replace(" ", "▁") (alone or in a
 *    Sequence), no pre-tokenizer (the whole normalized text is one BPE word), byte_fallback to
 *    <0xXX> tokens, unk_token / fuse_unk; decoder Replace, ByteFallback, Fuse, Strip.
 *  - Byte-level BPE (GPT-2, GPT-Neo, OPT, Pythia): pre-tokenizer ByteLevel (GPT-2 regex split with
 *    real Unicode L / N / White_Space classes, then the GPT-2 bytes-to-unicode mapping), alone or
 *    inside a Sequence; decoder ByteLevel.
 * Merges may be "left right" strings or ["left", "right"] pairs. Within a BPE word the merge with
 * the lowest rank is applied first (leftmost on ties), as in tokenizers/src/models/bpe/word.rs.
 * added_tokens are matched first on the raw text (leftmost-longest exact byte match; lstrip/rstrip
 * swallow adjacent Unicode whitespace) and emitted as their id; the text between them is normalized,
 * pre-tokenized and BPE-encoded separately, as HF does.
 *
 * Differences from HF, all on inputs HF cannot represent or chooses lossy output for:
 *  - input text may be any bytes: a byte that is not valid UTF-8 counts as one character of class
 *    "other" (byte level: it maps through the byte table like any byte; SentencePiece style: it is
 *    not in the vocab, so byte fallback emits its <0xXX> token);
 *  - decoding never substitutes U+FFFD: ByteFallback and ByteLevel emit the raw bytes, so
 *    decode(encode(text)) == text byte for byte whenever the decoder chain can invert the
 *    normalizer (the two styles above, for text with no literal "▁" and no added-token strings);
 *  - added tokens marked normalized are matched on the raw text too (identical when there is no
 *    normalizer, as for byte-level models); single_word added tokens are rejected as unsupported.
 * Anything else (other normalizers, pre-tokenizers, decoders, Regex patterns, BPE dropout) fails to
 * open with TOKENIZER_ERR_UNSUPPORTED and a message naming the kind. */
#ifndef YOPO_TOKENIZER_H
#define YOPO_TOKENIZER_H

#include <stddef.h>

enum tokenizer_error {
	TOKENIZER_OK = 0,
	TOKENIZER_ERR_IO = -1,          /* file cannot be opened/read, or larger than 1 GiB */
	TOKENIZER_ERR_JSON = -2,        /* not JSON, or a field of the wrong JSON type */
	TOKENIZER_ERR_MODEL = -3,       /* model not BPE, vocab/merges missing, bad model field, unk not in vocab */
	TOKENIZER_ERR_VOCAB = -4,       /* vocab/added token: non-integer/negative/duplicate id, id out of range,
	                                 * duplicate or empty string, added token clashing with vocab */
	TOKENIZER_ERR_MERGE = -5,       /* malformed merge, or merge of/into tokens not in vocab */
	TOKENIZER_ERR_UNSUPPORTED = -6, /* normalizer/pre_tokenizer/decoder kind not implemented */
	TOKENIZER_ERR_NOMEM = -7,
	TOKENIZER_ERR_ARG = -8,         /* NULL argument, id out of range, buffer too small */
};

/* Static one-line description of a tokenizer_error ("unknown tokenizer error" otherwise). */
const char *tokenizer_strerror(int err);

struct tokenizer; /* opaque, immutable after open: safe to share between threads */

/* Reads and validates a tokenizer.json. On success *out owns everything (free with
 * tokenizer_free); *out is written only on success. Errors: any negative tokenizer_error. */
int tokenizer_open(struct tokenizer **out, const char *path);

/* tokenizer_open that also writes a NUL-terminated human-readable reason into msg (at most
 * msg_cap bytes, truncated) on failure, e.g. "unsupported normalizer 'NFKC'". msg may be NULL
 * when msg_cap is 0. msg is left untouched on success. */
int tokenizer_open_detail(struct tokenizer **out, const char *path, char *msg, size_t msg_cap);

/* Frees everything; NULL is a no-op. */
void tokenizer_free(struct tokenizer *t);

/* Max id + 1 over the model vocab and added_tokens (ids in between may have no token). */
int tokenizer_vocab_size(const struct tokenizer *t);

/* Raw vocab string of id (e.g. "Ġthe", "▁the", "<0x0A>", "<s>"), owned by t; NULL if id is out
 * of range or has no token. */
const char *tokenizer_token(const struct tokenizer *t, int id);

/* Id of an exact raw token string (added tokens first, then the model vocab); -1 if absent. */
int tokenizer_token_id(const struct tokenizer *t, const char *piece);

/* Special ids; -1 if none. bos: the first special token of the post_processor template
 * (TemplateProcessing single / Roberta / Bert cls), else an added token named "<s>",
 * "<|begin_of_text|>", "<bos>", "<|startoftext|>" or "<|endoftext|>". eos: the special token after
 * the sequence in the template (or sep), else "</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>". */
int tokenizer_bos_id(const struct tokenizer *t);
int tokenizer_eos_id(const struct tokenizer *t);

/* Encodes len bytes of text (any bytes, NUL and invalid UTF-8 included) WITHOUT adding BOS/EOS.
 * On success *out_ids is a malloc'd array owned by the caller (free(); non-NULL even when
 * *out_n == 0) and *out_n its length. Characters with no token, no byte fallback and no unk token
 * are dropped, as in HF. Errors: TOKENIZER_ERR_ARG (NULL t/out pointers, or NULL text with
 * len > 0), TOKENIZER_ERR_NOMEM. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int **out_ids,
		     size_t *out_n);

/* Same result as tokenizer_encode computed with the naive O(n^2)-per-word BPE loop (rescan for
 * the lowest-rank pair after every merge): the reference the tests check the heap BPE against.
 * Only for short texts. */
int tokenizer_encode_naive(const struct tokenizer *t, const char *text, size_t len, int **out_ids,
			   size_t *out_n);

/* Decodes n ids into a malloc'd NUL-terminated string owned by the caller (free()); *out_len
 * excludes the NUL. skip_special drops added tokens marked special. The decoder chain is applied
 * (e.g. Strip of the leading space for SentencePiece style); with no decoder the tokens are joined
 * by spaces, as in HF. Errors: TOKENIZER_ERR_ARG (NULL pointers, or an id with no token),
 * TOKENIZER_ERR_NOMEM. */
int tokenizer_decode(const struct tokenizer *t, const int *ids, size_t n, int skip_special,
		     char **out, size_t *out_len);

/* Decodes the single token id for streaming output: the decoder chain without its Strip steps,
 * so "▁Once" gives " Once" and a lone byte token gives its raw byte (a UTF-8 character split over
 * byte tokens comes out whole once the caller concatenates the pieces). prev_id is the token
 * emitted before (-1 for none); it must be -1 or a valid id and does not change the output of
 * the supported decoders. Writes the bytes and a terminating NUL to buf (cap includes the NUL).
 * Returns the byte length (excluding the NUL), or TOKENIZER_ERR_ARG (bad id, NULL buf,
 * cap too small) / TOKENIZER_ERR_NOMEM. */
int tokenizer_decode_piece(const struct tokenizer *t, int prev_id, int id, char *buf, size_t cap);

#endif
