/* cli: the yopo subcommands. Each one is an option table (opt.h) -> one pipeline call -> print.
 * Exit codes: 0 success, 1 failure, 2 usage error. */
#ifndef YOPO_CLI_H
#define YOPO_CLI_H

#include "opt.h"

/* Each subcommand: argc/argv start at the subcommand's name; returns the process exit code. */
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_spectrum(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_study(int argc, char **argv);

/* Prints "yopo <cmd>: <message>\n" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* opt_parse of the command's table: -1 to go on, else the exit code (0 after --help, 2). */
int cli_parse(const struct opt_cmd *c, int argc, char **argv);

struct train_episode;

/* yopo train's progress lines on stderr (a trainjob_progress_fn), shared with yopo demo. */
void cli_train_progress(void *ctx, const struct train_episode *ep, int episodes);

/* Exit code of a pipeline status: 2 when it is the module's usage error, else 1. */
int cli_exit(int status, int usage_status);

#endif
