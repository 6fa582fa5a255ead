/* text: opening a model directory with its tokenizer, and turning text into the token ids every
 * measurement uses. The one place that decides BOS: config.json's bos_token_id when it lies in
 * the vocabulary, else the tokenizer's, else none. Evaluation, calibration, generation prompts
 * and the compare report all go through text_encode, so they see the same sequence. */
#ifndef YOPO_TEXT_H
#define YOPO_TEXT_H

#include <stddef.h>

#include "model.h"
#include "tokenizer.h"

enum text_error {
	TEXT_OK = 0,
	TEXT_ERR_IO = -1,       /* the file cannot be read (missing, not a regular file, too large) */
	TEXT_ERR_EMPTY = -2,    /* the text file holds no byte */
	TEXT_ERR_TOKENIZE = -3, /* the tokenizer failed */
	TEXT_ERR_MODEL = -4,    /* the model directory is missing or invalid */
	TEXT_ERR_NOMEM = -5,
};

/* Opens dir's model and tokenizer.json; the tokenizer must not be larger than the model's
 * vocabulary. On success both are owned by the caller (model_close, tokenizer_free). */
int text_open_model(struct model **m, struct tokenizer **tok, const char *dir, char *err,
		    size_t errlen);

/* text_open_model with a choice of how the weights are kept (model_open_weights). */
int text_open_model_weights(struct model **m, struct tokenizer **tok, const char *dir,
			    enum model_weights weights, char *err, size_t errlen);

/* BOS / EOS id: config.json's when within the vocabulary, else the tokenizer's, else -1. */
int text_bos_id(const struct model *m, const struct tokenizer *tok);
int text_eos_id(const struct model *m, const struct tokenizer *tok);

/* ids = [BOS] + encode(text (len)): *ids (caller frees) holds *n ids and room for `extra` more
 * (generation appends there). */
int text_encode(int **ids, size_t *n, const struct model *m, const struct tokenizer *tok,
		const char *text, size_t len, size_t extra, char *err, size_t errlen);

/* Reads the text file at path (non-empty, at most UTIL_TEXT_MAX bytes) and encodes it as
 * text_encode with no extra room. Reasons name the file. */
int text_encode_file(int **ids, size_t *n, const struct model *m, const struct tokenizer *tok,
		     const char *path, char *err, size_t errlen);

/* Reads path as text_encode_file does, but only checks it (for early failures). */
int text_check_file(const char *path, char *err, size_t errlen);

#endif
