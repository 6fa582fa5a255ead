/* opt: table-driven option parsing, help and range checks (generic: no model knowledge). */
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

void opt_command_line(char *buf, size_t cap, const char *prog, int argc, char *const *argv)
{
	size_t n = (size_t)snprintf(buf, cap, "%s", prog);
	for (int i = 0; i < argc && n < cap; i++) {
		const char *a = argv[i];
		bool plain = *a && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					     "0123456789_./,:=+-") == strlen(a);
		n += (size_t)snprintf(buf + n, cap - n, plain ? " %s" : " '%s'", a);
	}
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

/* The unknown-option reason, with the closest known name as a hint. */
static int unknown(const struct opt_prog *prog, const struct opt_cmd *cmd, const char *word,
		   char *err, size_t errlen)
{
	const char *names[2 * OPT_TABLE_MAX + 1];
	int n = 0;
	for (int i = 0; i < cmd->n_opts; i++)
		names[n++] = cmd->opts[i].name;
	names[n++] = "help";
	for (int i = 0; i < prog->n_common; i++)
		names[n++] = prog->common[i].name;
	const char *bare = word + strspn(word, "-");
	char key[128];
	snprintf(key, sizeof key, "%.*s", (int)strcspn(bare, "="), bare);
	const char *near = opt_closest(key, names, n);
	if (near)
		return err_set(err, errlen, OPT_ERR_USAGE, "unknown option '%s' (did you mean --%s?)",
			       word, near);
	return err_set(err, errlen, OPT_ERR_USAGE, "unknown option '%s' (see %s %s --help)", word,
		       prog->name, cmd->name);
}

/* The entry of opts[0..n) that arg names, its inline value ("--name=value") in *value. */
static const struct opt *find(const struct opt *opts, int n, const char *arg, const char **value)
{
	*value = NULL;
	if (arg[1] != '-') {
		for (int i = 0; i < n; i++)
			if (opts[i].short_name && arg[1] == opts[i].short_name && !arg[2])
				return &opts[i];
		return NULL;
	}
	const char *name = arg + 2;
	size_t len = strcspn(name, "=");
	for (int i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len)) {
			if (name[len] == '=')
				*value = name + len + 1;
			return &opts[i];
		}
	return NULL;
}

/* Parses the option at argv[*i] (advancing *i past a separate value) and stores it. */
static int parse_one(const struct opt **out, const struct opt_prog *prog,
		     const struct opt_cmd *cmd, int argc, char **argv, int *i, char *err, size_t errlen)
{
	const char *arg = argv[*i], *value;
	if (arg[0] != '-' || !arg[1])
		return err_set(err, errlen, OPT_ERR_USAGE, "unexpected argument '%s'", arg);
	const struct opt *o = find(cmd->opts, cmd->n_opts, arg, &value);
	if (!o && prog->common)
		o = find(prog->common, prog->n_common, arg, &value);
	if (!o)
		return unknown(prog, cmd, arg, err, errlen);
	if (o->type == OPT_FLAG && value)
		return err_set(err, errlen, OPT_ERR_USAGE, "--%s takes no value", o->name);
	if (o->type != OPT_FLAG && !value) {
		if (*i + 1 >= argc)
			return err_set(err, errlen, OPT_ERR_USAGE, "--%s needs a value (%s)", o->name,
				       o->metavar ? o->metavar : "see --help");
		value = argv[++*i];
	}
	char why[ERR_MAX];
	if (store(o, value, why, sizeof why))
		return err_set(err, errlen, OPT_ERR_USAGE, "--%s: %s", o->name, why);
	*out = o;
	return 0;
}

enum opt_result opt_parse(const struct opt_prog *prog, const struct opt_cmd *cmd, int argc,
			  char **argv, char *err, size_t errlen)
{
	if (cmd->n_opts > OPT_TABLE_MAX || prog->n_common > OPT_TABLE_MAX)
		return err_set(err, errlen, OPT_ERR_USAGE, "option table of %s %s too long", prog->name,
			       cmd->name);
	bool seen[OPT_TABLE_MAX] = {false};
	for (int i = 1; i < argc; i++) {
		const struct opt *o = NULL;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return OPT_HELP;
		if (parse_one(&o, prog, cmd, argc, argv, &i, err, errlen))
			return OPT_ERR_USAGE;
		if (o >= cmd->opts && o < cmd->opts + cmd->n_opts)
			seen[o - cmd->opts] = true;
	}
	for (int i = 0; i < cmd->n_opts; i++)
		if (cmd->opts[i].required && !seen[i])
			return err_set(err, errlen, OPT_ERR_USAGE, "--%s is required (see %s %s --help)",
				       cmd->opts[i].name, prog->name, cmd->name);
	return OPT_OK;
}

static void help_line(const struct opt *o, FILE *out)
{
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

void opt_help(const struct opt_prog *prog, const struct opt_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: %s %s", prog->name, cmd->name);
	for (int i = 0; i < cmd->n_opts; i++)
		if (cmd->opts[i].required)
			fprintf(out, " --%s %s", cmd->opts[i].name, cmd->opts[i].metavar);
	fprintf(out, " [options]\n%s\n", cmd->summary);
	for (int i = 0; i < cmd->n_opts; i++)
		help_line(&cmd->opts[i], out);
	for (int i = 0; i < prog->n_common; i++)
		help_line(&prog->common[i], out);
	fprintf(out, "  %-26s %s\n", "-h, --help", "this text");
}
