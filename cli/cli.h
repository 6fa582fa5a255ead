/* cli: shared pieces of the yopo subcommands (argument parsing, loading a model directory). */
#ifndef YOPO_CLI_H
#define YOPO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model.h"
#include "tokenizer.h"

/* Each subcommand: argc/argv start at the subcommand's name; returns the process exit code. */
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_spectrum(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_compare(int argc, char **argv);

/* Prints "yopo <cmd>: <message>\n" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict integer/real parsing: the whole string must be a number within [min, max].
 * On failure prints an error naming the option and returns -1; *out untouched. */
int cli_parse_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
		     double *out);

/* A pruning ratio: a number strictly between 0 and 1. Prints an error naming opt and returns -1
 * otherwise; *out untouched. */
int cli_parse_ratio(const char *cmd, const char *opt, const char *s, double *out);

/* A seed: an integer in [0, 2^63 - 1]. Errors as cli_parse_long. */
int cli_parse_seed(const char *cmd, const char *opt, const char *s, unsigned long long *out);

enum { CLI_ITEM_MAX = 32 };

/* Splits a comma-separated list into at most max items of fewer than CLI_ITEM_MAX bytes each.
 * Empty items ("0.1,,0.2", "a,") are errors. On failure prints one line and returns -1. */
int cli_split_list(const char *cmd, const char *opt, const char *s, char items[][CLI_ITEM_MAX],
		   int max, int *n);

/* A comma-separated list of at most max ratios (each as cli_parse_ratio) into out[0..*n). */
int cli_parse_ratios(const char *cmd, const char *opt, const char *s, double *out, int max,
		     int *n);

/* Writes s to f as a JSON string literal (quotes, backslashes and control characters escaped). */
void cli_print_json_string(FILE *f, const char *s);

/* rm -r of a directory tree (symlinks are removed, not followed). Returns 0 or -1 (errno). */
int cli_remove_tree(const char *dir);

/* Opens dir's model and tokenizer; on failure prints one line and returns -1.
 * On success both are owned by the caller (model_close, tokenizer_free). */
int cli_open_model(const char *cmd, const char *dir, struct model **m, struct tokenizer **tok);

/* BOS id: config.json's bos_token_id, else the tokenizer's, else -1. */
int cli_bos_id(const struct model *m, const struct tokenizer *tok);
int cli_eos_id(const struct model *m, const struct tokenizer *tok);

/* Called with the whole sequence after each generated token; non-zero stops generation. */
typedef int cli_token_fn(void *ctx, const int *ids, size_t n);

struct cli_greedy_result {
	long generated;    /* new tokens appended to ids */
	bool hit_context;  /* stopped at the end of the model's context */
	double seconds;
};

/* Greedy decoding: ids holds n prompt tokens (BOS included) and room for max_tokens more; stops
 * at EOS, after max_tokens or at the context end. Only ids the tokenizer can decode are chosen.
 * cb may be NULL. Returns 0, -1 (forward pass or memory failure) or -2 (cb failed). */
int cli_greedy(const struct model *m, const struct tokenizer *tok, int *ids, size_t n,
	       long max_tokens, cli_token_fn *cb, void *ctx, struct cli_greedy_result *res);

/* A number with thousands separators, into buf. Returns buf. */
const char *cli_group(char *buf, size_t cap, unsigned long long v);

#endif
