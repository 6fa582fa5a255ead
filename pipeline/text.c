/* text: model + tokenizer loading and BOS-prefixed encoding. See text.h. */
#include "text.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "file.h"

int text_open_model(struct model **m, struct tokenizer **tok, const char *dir, char *err,
		    size_t errlen)
{
	return text_open_model_weights(m, tok, dir, MODEL_WEIGHTS_F32, err, errlen);
}

int text_open_model_weights(struct model **m, struct tokenizer **tok, const char *dir,
			    enum model_weights weights, char *err, size_t errlen)
{
	struct stat sb;
	char path[PATH_MAX];
	if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
		char hint[1024];
		model_dir_hint(hint, sizeof hint, dir);
		return err_set(err, errlen, TEXT_ERR_MODEL, "%s: not a model directory%s", dir, hint);
	}
	if (util_join(path, sizeof path, dir, "tokenizer.json"))
		return err_set(err, errlen, TEXT_ERR_MODEL, "%s: path too long", dir);
	struct model *mm = NULL;
	struct tokenizer *tt = NULL;
	if (model_open_weights(&mm, dir, weights, err, errlen))
		return TEXT_ERR_MODEL;
	int rc = tokenizer_open(&tt, path);
	if (rc) {
		model_close(mm);
		return err_set(err, errlen, TEXT_ERR_MODEL, "%s: %s", path, tokenizer_strerror(rc));
	}
	if (tokenizer_vocab_size(tt) > mm->cfg.vocab) {
		rc = err_set(err, errlen, TEXT_ERR_MODEL,
			     "%s: tokenizer has %d tokens but the model's vocabulary is %d", path,
			     tokenizer_vocab_size(tt), mm->cfg.vocab);
		tokenizer_free(tt);
		model_close(mm);
		return rc;
	}
	*m = mm;
	*tok = tt;
	return TEXT_OK;
}

int text_bos_id(const struct model *m, const struct tokenizer *tok)
{
	if (m->cfg.bos_id >= 0 && m->cfg.bos_id < m->cfg.vocab)
		return m->cfg.bos_id;
	return tokenizer_bos_id(tok);
}

int text_eos_id(const struct model *m, const struct tokenizer *tok)
{
	if (m->cfg.eos_id >= 0 && m->cfg.eos_id < m->cfg.vocab)
		return m->cfg.eos_id;
	return tokenizer_eos_id(tok);
}

int text_encode(int **ids, size_t *n, const struct model *m, const struct tokenizer *tok,
		const char *text, size_t len, size_t extra, char *err, size_t errlen)
{
	int *enc = NULL, bos = text_bos_id(m, tok);
	size_t n_enc = 0;
	if (tokenizer_encode(tok, text, len, &enc, &n_enc))
		return err_set(err, errlen, TEXT_ERR_TOKENIZE, "cannot tokenize");
	size_t n_ids = bos >= 0 ? 1 : 0;
	if (n_enc > SIZE_MAX / sizeof *enc - 1 - extra) {
		free(enc);
		return err_set(err, errlen, TEXT_ERR_NOMEM, "out of memory");
	}
	int *out = malloc((n_ids + n_enc + extra) * sizeof *out + 1);
	if (!out) {
		free(enc);
		return err_set(err, errlen, TEXT_ERR_NOMEM, "out of memory");
	}
	if (bos >= 0)
		out[0] = bos;
	if (n_enc)
		memcpy(out + n_ids, enc, n_enc * sizeof *out);
	free(enc);
	*ids = out;
	*n = n_ids + n_enc;
	return TEXT_OK;
}

/* Reads a non-empty text file; reasons name it. */
static int read_text(char **text, size_t *len, const char *path, char *err, size_t errlen)
{
	int e = util_read_file(text, len, path, UTIL_TEXT_MAX, true, err, errlen);
	if (e == UTIL_ERR_NOMEM)
		return TEXT_ERR_NOMEM;
	if (e)
		return err_prefix(err, errlen, TEXT_ERR_IO, "cannot read the text file");
	if (*len == 0) {
		free(*text);
		return err_set(err, errlen, TEXT_ERR_EMPTY, "%s: the text file is empty", path);
	}
	return TEXT_OK;
}

int text_encode_file(int **ids, size_t *n, const struct model *m, const struct tokenizer *tok,
		     const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_text(&text, &len, path, err, errlen);
	if (rc)
		return rc;
	rc = text_encode(ids, n, m, tok, text, len, 0, err, errlen);
	free(text);
	if (rc)
		return err_prefix(err, errlen, rc, "%s", path);
	return TEXT_OK;
}

int text_check_file(const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_text(&text, &len, path, err, errlen);
	if (!rc)
		free(text);
	return rc;
}
