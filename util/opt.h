/* opt: one option table per command produces its parsing, its --help text and its range checks.
 * Generic: it knows nothing of models; the program (struct opt_prog) supplies its name and the
 * options every command shares.
 *
 * Accepted forms: --name value, --name=value, -x value (when the option has a short name), and
 * --flag / -x for flags. Names must match exactly (no abbreviations); an unknown or misspelled
 * option is one error line that suggests the closest known name. Numbers are strict: decimal only
 * (no leading spaces, no hex), the whole string must be consumed, and the value must lie in the
 * entry's [min, max]. A ratio lies strictly between 0 and 1. Lists are comma separated, with no
 * empty item; a repeatable option collects each occurrence. Every command also takes --help / -h. */
#ifndef YOPO_OPT_H
#define YOPO_OPT_H

#include <stdbool.h>
#include <stdio.h>

#define OPT_LIST_MAX 32

enum opt_type {
	OPT_FLAG,    /* int *: set to 1 */
	OPT_STRING,  /* const char **: the argument itself (not copied) */
	OPT_CHOICE,  /* const char **: one of the comma-separated words in `choices` */
	OPT_LONG,    /* long *: integer in [min, max] */
	OPT_DOUBLE,  /* double *: finite number in [min, max] */
	OPT_RATIO,   /* double *: number in (0, 1) */
	OPT_SEED,    /* unsigned long long *: integer in [0, 2^63 - 1] */
	OPT_RATIOS,  /* struct opt_doubles *: comma list of ratios (repeatable: appends) */
	OPT_STRINGS, /* struct opt_strings *: comma list (repeatable: appends) */
	OPT_REPEAT,  /* struct opt_strings *: each occurrence one item, commas kept (paths) */
};

struct opt_doubles {
	double v[OPT_LIST_MAX];
	int n;
};

struct opt_strings {
	const char *v[OPT_LIST_MAX];
	char buf[OPT_LIST_MAX][256]; /* storage for items split from a comma list */
	int n;
};

struct opt {
	const char *name;     /* long name without the dashes */
	char short_name;      /* 0: none */
	enum opt_type type;
	void *dst;
	double min, max;      /* OPT_LONG / OPT_DOUBLE */
	const char *metavar;  /* shown in --help ("DIR", "N"); NULL for flags */
	const char *help;     /* one line; "\n" continues on an indented line */
	const char *choices;  /* OPT_CHOICE: "rows,weights" */
	bool required;
};

#define OPT_TABLE_MAX 128 /* entries of one table */

/* The program: its name (in the usage line and the error hints) and the options every command
 * takes, listed after each command's own; common may be NULL. */
struct opt_prog {
	const char *name;
	const struct opt *common;
	int n_common;
};

struct opt_cmd {
	const char *name;     /* "prune" */
	const char *summary;  /* what the command does, several lines allowed */
	const struct opt *opts;
	int n_opts;
};

enum opt_result {
	OPT_OK = 0,         /* parsed: run the command */
	OPT_HELP = 1,       /* --help / -h seen: the caller prints opt_help and exits 0 */
	OPT_ERR_USAGE = -1, /* the reason in err (without the program's prefix) */
};

/* Parses argv[1..argc) (argv[0] is the command name) into the destinations of cmd's table and
 * prog's common one, which hold the defaults beforehand. --help and -h are always accepted and
 * stop the parse. Required options must be present. On OPT_ERR_USAGE some destinations may
 * already be written. Tables hold at most OPT_TABLE_MAX entries. */
enum opt_result opt_parse(const struct opt_prog *prog, const struct opt_cmd *cmd, int argc,
			  char **argv, char *err, size_t errlen);

/* Writes the usage, the option table of cmd, prog's common options and -h, --help to out. */
void opt_help(const struct opt_prog *prog, const struct opt_cmd *cmd, FILE *out);

/* Strict number parsers shared with other callers; 0 or -1 (the reason in err). */
int opt_parse_long(long *out, const char *s, long min, long max, char *err, size_t errlen);
int opt_parse_double(double *out, const char *s, double min, double max, char *err, size_t errlen);
int opt_parse_ratio(double *out, const char *s, char *err, size_t errlen);

/* The command line as typed, for display only (never run): prog, then argv[0..argc) separated
 * by spaces, arguments with characters outside [A-Za-z0-9_./,:=+-] in single quotes; truncated
 * to fit cap (> 0). */
void opt_command_line(char *buf, size_t cap, const char *prog, int argc, char *const *argv);

/* The known name closest to `word` (edit distance at most 3), or NULL. names: n strings. */
const char *opt_closest(const char *word, const char *const *names, int n);

#endif
