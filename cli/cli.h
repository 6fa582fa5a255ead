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

/* A number with thousands separators, into buf. Returns buf. */
const char *cli_group(char *buf, size_t cap, unsigned long long v);

#endif
