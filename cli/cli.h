/* cli: shared pieces of the yopo subcommands (argument parsing, loading a model directory). */
#ifndef YOPO_CLI_H
#define YOPO_CLI_H

#include <stdbool.h>
#include <stddef.h>

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
