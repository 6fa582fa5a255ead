/* opt: table-driven option parsing, help and range checks. See opt.h. */
#include "opt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Only plain decimal numbers: strtod alone would take " 0.3", "0x1p-2", "inf" and "nan". */
static bool decimal_chars(const char *s)
{
	if (!*s)
		return false;
	for (const char *p = s; *p; p++)
		if (!strchr("0123456789.eE+-", *p))
			return false;
	return true;
}

int opt_parse_long(long *out, const char *s, long min, long max, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long v = decimal_chars(s) ? strtol(s, &end, 10) : 0;
	if (!decimal_chars(s) || errno || end == s || *end)
		return err_set(err, errlen, -1, "'%s' is not an integer", s);
	if (v < min || v > max)
		return err_set(err, errlen, -1, "%ld is out of range [%ld, %ld]", v, min, max);
	*out = v;
	return 0;
}

int opt_parse_double(double *out, const char *s, double min, double max, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	double v = decimal_chars(s) ? strtod(s, &end) : 0;
	if (!decimal_chars(s) || errno || end == s || *end || !isfinite(v))
		return err_set(err, errlen, -1, "'%s' is not a number", s);
	if (v < min || v > max)
		return err_set(err, errlen, -1, "%g is out of range [%g, %g]", v, min, max);
	*out = v;
	return 0;
}

int opt_parse_ratio(double *out, const char *s, char *err, size_t errlen)
{
	double v;
	if (opt_parse_double(&v, s, -HUGE_VAL, HUGE_VAL, err, errlen))
		return -1;
	if (!(v > 0 && v < 1))
		return err_set(err, errlen, -1, "%g is out of range: a ratio lies strictly between 0 and 1",
			       v);
	*out = v;
	return 0;
}

static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return INT_MAX;
	int row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int sub = diag + (a[i - 1] != b[j - 1]);
			int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			diag = up;
		}
	}
	return row[lb];
}

const char *opt_closest(const char *word, const char *const *names, int n)
{
	const char *best = NULL;
	int bd = 4;
	for (int i = 0; i < n; i++) {
		int d = edit_distance(word, names[i]);
		if (d < bd) {
			bd = d;
			best = names[i];
		}
	}
	return best;
}

/* Splits a comma list into a struct opt_strings (appending). */
static int split_into(struct opt_strings *l, const char *s, char *err, size_t errlen)
{
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");
		if (len == 0)
			return err_set(err, errlen, -1, "empty item in '%s'", s);
		if (l->n == OPT_LIST_MAX)
			return err_set(err, errlen, -1, "at most %d items", OPT_LIST_MAX);
		if (len >= sizeof l->buf[0])
			return err_set(err, errlen, -1, "item '%.*s' is too long", (int)len, p);
		memcpy(l->buf[l->n], p, len);
		l->buf[l->n][len] = '\0';
		l->v[l->n] = l->buf[l->n];
		l->n++;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int check_choice(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *p = choices; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && !strncmp(p, v, n))
			return 0;
		p += len + (p[len] == ',');
	}
	return -1;
}

/* Stores the argument of o; a reason in err on failure. */
static int store(const struct opt *o, const char *arg, char *err, size_t errlen)
{
	long l;
	switch (o->type) {
	case OPT_FLAG: *(int *)o->dst = 1; return 0;
	case OPT_STRING: *(const char **)o->dst = arg; return 0;
	case OPT_CHOICE:
		if (check_choice(o->choices, arg))
			return err_set(err, errlen, -1, "'%s' is not one of %s", arg, o->choices);
		*(const char **)o->dst = arg;
		return 0;
	case OPT_LONG: return opt_parse_long(o->dst, arg, (long)o->min, (long)o->max, err, errlen);
	case OPT_DOUBLE: return opt_parse_double(o->dst, arg, o->min, o->max, err, errlen);
	case OPT_RATIO: return opt_parse_ratio(o->dst, arg, err, errlen);
	case OPT_SEED:
		if (opt_parse_long(&l, arg, 0, LONG_MAX, err, errlen))
			return -1;
		*(unsigned long long *)o->dst = (unsigned long long)l;
		return 0;
	case OPT_RATIOS: {
		struct opt_strings items = {.n = 0};
		struct opt_doubles *d = o->dst;
		if (split_into(&items, arg, err, errlen))
			return -1;
		if (d->n + items.n > OPT_LIST_MAX)
			return err_set(err, errlen, -1, "at most %d items", OPT_LIST_MAX);
		for (int i = 0; i < items.n; i++)
			if (opt_parse_ratio(&d->v[d->n + i], items.v[i], err, errlen))
				return -1;
		d->n += items.n;
		return 0;
	}
	case OPT_STRINGS: return split_into(o->dst, arg, err, errlen);
	case OPT_REPEAT: {
		struct opt_strings *s = o->dst;
		if (s->n == OPT_LIST_MAX)
			return err_set(err, errlen, -1, "given more than %d times", OPT_LIST_MAX);
		s->v[s->n++] = arg;
		return 0;
	}
	}
	return err_set(err, errlen, -1, "bad option table");
}

static void unknown(const struct opt_cmd *cmd, const char *word)
{
	const char *names[130];
	int n = 0;
	for (int i = 0; i < cmd->n_opts && n < 127; i++)
		names[n++] = cmd->opts[i].name;
	names[n++] = "help";
	names[n++] = "threads";
	names[n++] = "quiet";
	const char *bare = word + strspn(word, "-");
	char key[128];
	snprintf(key, sizeof key, "%.*s", (int)strcspn(bare, "="), bare);
	const char *near = opt_closest(key, names, n);
	if (near)
		fprintf(stderr, "yopo %s: unknown option '%s' (did you mean --%s?)\n", cmd->name, word, near);
	else
		fprintf(stderr, "yopo %s: unknown option '%s' (see yopo %s --help)\n", cmd->name, word,
			cmd->name);
}

static const struct opt *find(const struct opt_cmd *cmd, const char *arg, const char **value)
{
	*value = NULL;
	if (arg[1] != '-') {
		for (int i = 0; i < cmd->n_opts; i++)
			if (cmd->opts[i].short_name && arg[1] == cmd->opts[i].short_name && !arg[2])
				return &cmd->opts[i];
		return NULL;
	}
	const char *name = arg + 2;
	size_t len = strcspn(name, "=");
	for (int i = 0; i < cmd->n_opts; i++)
		if (strlen(cmd->opts[i].name) == len && !strncmp(cmd->opts[i].name, name, len)) {
			if (name[len] == '=')
				*value = name + len + 1;
			return &cmd->opts[i];
		}
	return NULL;
}

/* The common options every command takes: --threads, --quiet. */
static long threads_value;
static int quiet_value;
static const struct opt common_opts[] = {
	{"threads", 't', OPT_LONG, &threads_value, 1, 4096, "N",
	 "threads for every compute runtime (default: the cores)", NULL, false},
	{"quiet", 'q', OPT_FLAG, &quiet_value, 0, 0, NULL,
	 "no progress lines on stderr (errors and results still appear)", NULL, false},
};

long opt_threads(void)
{
	return threads_value;
}

bool opt_quiet(void)
{
	return quiet_value != 0;
}

enum opt_result opt_parse(const struct opt_cmd *cmd, int argc, char **argv)
{
	threads_value = 0;
	quiet_value = 0;
	bool seen[128] = {false};
	char err[ERR_MAX];
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			opt_help(cmd, stdout);
			return OPT_HELP;
		}
		if (arg[0] != '-' || !arg[1]) {
			fprintf(stderr, "yopo %s: unexpected argument '%s'\n", cmd->name, arg);
			return OPT_ERROR;
		}
		const char *value;
		const struct opt *o = find(cmd, arg, &value);
		struct opt_cmd common = {cmd->name, "", common_opts,
					 (int)(sizeof common_opts / sizeof common_opts[0])};
		if (!o)
			o = find(&common, arg, &value);
		if (!o) {
			unknown(cmd, arg);
			return OPT_ERROR;
		}
		if (o->type == OPT_FLAG && value) {
			fprintf(stderr, "yopo %s: --%s takes no value\n", cmd->name, o->name);
			return OPT_ERROR;
		}
		if (o->type != OPT_FLAG && !value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "yopo %s: --%s needs a value (%s)\n", cmd->name, o->name,
					o->metavar ? o->metavar : "see --help");
				return OPT_ERROR;
			}
			value = argv[++i];
		}
		if (store(o, value, err, sizeof err)) {
			fprintf(stderr, "yopo %s: --%s: %s\n", cmd->name, o->name, err);
			return OPT_ERROR;
		}
		if (o >= cmd->opts && o < cmd->opts + cmd->n_opts && o - cmd->opts < 128)
			seen[o - cmd->opts] = true;
	}
	for (int i = 0; i < cmd->n_opts && i < 128; i++)
		if (cmd->opts[i].required && !seen[i]) {
			fprintf(stderr, "yopo %s: --%s is required (see yopo %s --help)\n", cmd->name,
				cmd->opts[i].name, cmd->name);
			return OPT_ERROR;
		}
	return OPT_OK;
}

void opt_help(const struct opt_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: yopo %s", cmd->name);
	for (int i = 0; i < cmd->n_opts; i++)
		if (cmd->opts[i].required)
			fprintf(out, " --%s %s", cmd->opts[i].name, cmd->opts[i].metavar);
	fprintf(out, " [options]\n%s\n", cmd->summary);
	for (int i = 0; i < cmd->n_opts; i++) {
		const struct opt *o = &cmd->opts[i];
		char left[64];
		int n = o->short_name ? snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->name)
				      : snprintf(left, sizeof left, "    --%s", o->name);
		if (o->metavar && n > 0 && (size_t)n < sizeof left)
			snprintf(left + n, sizeof left - (size_t)n, " %s", o->metavar);
		fprintf(out, "  %-26s ", left);
		for (const char *p = o->help; *p; p++) {
			fputc(*p, out);
			if (*p == '\n')
				fprintf(out, "  %-26s ", "");
		}
		fputc('\n', out);
	}
	fprintf(out, "  %-26s %s\n", "-t, --threads N", common_opts[0].help);
	fprintf(out, "  %-26s %s\n", "-q, --quiet", common_opts[1].help);
	fprintf(out, "  %-26s %s\n", "-h, --help", "this text");
}
