/* cli: helpers shared by the subcommands. */
/* nftw is an XSI interface */
#define _XOPEN_SOURCE 700
#include "cli.h"

#include "eval.h"
#include "clock.h"
#include "forward.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "yopo %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_parse_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0') {
		cli_error(cmd, "%s: '%s' is not an integer", opt, s);
		return -1;
	}
	if (v < min || v > max) {
		cli_error(cmd, "%s: %ld is out of range [%ld, %ld]", opt, v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
		     double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(v)) {
		cli_error(cmd, "%s: '%s' is not a number", opt, s);
		return -1;
	}
	if (v < min || v > max) {
		cli_error(cmd, "%s: %g is out of range [%g, %g]", opt, v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_ratio(const char *cmd, const char *opt, const char *s, double *out)
{
	double v;
	if (cli_parse_double(cmd, opt, s, -HUGE_VAL, HUGE_VAL, &v))
		return -1;
	if (!(v > 0 && v < 1)) {
		cli_error(cmd, "%s: %g is out of range: a ratio lies strictly between 0 and 1", opt, v);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_seed(const char *cmd, const char *opt, const char *s, unsigned long long *out)
{
	long v;
	if (cli_parse_long(cmd, opt, s, 0, LONG_MAX, &v))
		return -1;
	*out = (unsigned long long)v;
	return 0;
}

int cli_split_list(const char *cmd, const char *opt, const char *s, char items[][CLI_ITEM_MAX],
		   int max, int *n)
{
	int count = 0;
	/* by hand: strtok would skip empty items and accept "0.3," */
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");
		if (len == 0) {
			cli_error(cmd, "%s: empty item in '%s'", opt, s);
			return -1;
		}
		if (count == max) {
			cli_error(cmd, "%s: at most %d items", opt, max);
			return -1;
		}
		if (len >= CLI_ITEM_MAX) {
			cli_error(cmd, "%s: item '%.*s' is too long", opt, (int)len, p);
			return -1;
		}
		memcpy(items[count], p, len);
		items[count++][len] = '\0';
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	*n = count;
	return 0;
}

int cli_parse_ratios(const char *cmd, const char *opt, const char *s, double *out, int max,
		     int *n)
{
	char(*items)[CLI_ITEM_MAX] = malloc((size_t)max * sizeof *items);
	int count = 0, rc = -1;
	if (!items) {
		cli_error(cmd, "out of memory");
		return -1;
	}
	if (cli_split_list(cmd, opt, s, items, max, &count))
		goto out;
	for (int i = 0; i < count; i++)
		if (cli_parse_ratio(cmd, opt, items[i], &out[i]))
			goto out;
	*n = count;
	rc = 0;
out:
	free(items);
	return rc;
}

void cli_print_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int cli_remove_tree(const char *dir)
{
	/* depth first so directories are empty when removed; FTW_PHYS: never follow symlinks */
	return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

int cli_open_model(const char *cmd, const char *dir, struct model **m, struct tokenizer **tok)
{
	struct stat sb;
	char err[ERR_MAX], path[PATH_MAX];
	if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
		cli_error(cmd, "%s: not a model directory", dir);
		return -1;
	}
	struct model *mm = NULL;
	if (model_open(&mm, dir, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		return -1;
	}
	if ((size_t)snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= sizeof path) {
		cli_error(cmd, "%s: path too long", dir);
		model_close(mm);
		return -1;
	}
	struct tokenizer *tt = NULL;
	int rc = tokenizer_open(&tt, path);
	if (rc) {
		cli_error(cmd, "%s: %s", path, tokenizer_strerror(rc));
		model_close(mm);
		return -1;
	}
	if (tokenizer_vocab_size(tt) > mm->cfg.vocab) {
		cli_error(cmd, "%s: tokenizer has %d tokens but the model's vocabulary is %d", path,
			  tokenizer_vocab_size(tt), mm->cfg.vocab);
		tokenizer_free(tt);
		model_close(mm);
		return -1;
	}
	*m = mm;
	*tok = tt;
	return 0;
}

int cli_bos_id(const struct model *m, const struct tokenizer *tok)
{
	if (m->cfg.bos_id >= 0 && m->cfg.bos_id < m->cfg.vocab)
		return m->cfg.bos_id;
	return tokenizer_bos_id(tok);
}

int cli_eos_id(const struct model *m, const struct tokenizer *tok)
{
	if (m->cfg.eos_id >= 0 && m->cfg.eos_id < m->cfg.vocab)
		return m->cfg.eos_id;
	return tokenizer_eos_id(tok);
}

const char *cli_group(char *buf, size_t cap, unsigned long long v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%llu", v), o = 0;
	for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

/* Highest logit among ids the tokenizer can decode (a vocabulary may be padded past it). */
static int argmax(const float *v, int n, const struct tokenizer *tok)
{
	int best = -1;
	for (int i = 0; i < n; i++)
		if (tokenizer_token(tok, i) && (best < 0 || v[i] > v[best]))
			best = i;
	return best;
}

int cli_greedy(const struct model *m, const struct tokenizer *tok, int *ids, size_t n,
	       long max_tokens, cli_token_fn *cb, void *ctx, struct cli_greedy_result *res)
{
	int ctx_len = m->cfg.max_pos, V = m->cfg.vocab, rc = -1;
	struct forward *f = NULL;
	float *logits = malloc(n * (size_t)V * sizeof *logits);
	struct cli_greedy_result r = {0, false, 0};
	if (!logits || n == 0 || n >= (size_t)ctx_len || forward_new(&f, m, ctx_len))
		goto out;
	int eos = cli_eos_id(m, tok);
	double t0 = util_now();
	if (forward_run(f, logits, ids, (int)n, 0))
		goto out;
	const float *last = logits + (n - 1) * (size_t)V;
	for (;;) {
		int next = argmax(last, V, tok);
		if (next < 0 || next == eos)
			break;
		ids[n++] = next;
		r.generated++;
		if (cb && cb(ctx, ids, n)) {
			rc = -2;
			goto out;
		}
		if (r.generated == max_tokens)
			break;
		if ((int)n >= ctx_len) {
			r.hit_context = true;
			break;
		}
		if (forward_run(f, logits, &ids[n - 1], 1, (int)n - 1))
			goto out;
		last = logits;
	}
	r.seconds = util_now() - t0;
	*res = r;
	rc = 0;
out:
	forward_free(f);
	free(logits);
	return rc;
}
