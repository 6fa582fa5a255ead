/* cli: the yopo subcommands. Each one is an option table (util/opt.h) -> one pipeline call ->
 * print. Exit codes: 0 success, 1 failure, 2 usage error. */
#ifndef YOPO_CLI_H
#define YOPO_CLI_H

#include <stdbool.h>

#include "opt.h"
#include "probe.h"

struct cJSON;

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

/* opt_parse of the command's table plus the options every command takes: -t/--threads N
 * (threads for every compute runtime, applied here; default: the cores) and -q/--quiet.
 * -1 to go on, else the exit code (0 after --help on stdout, 2 after one line on stderr). */
int cli_parse(const struct opt_cmd *c, int argc, char **argv);

/* Whether the last cli_parse saw --quiet: progress callbacks return at once when it is set. */
bool cli_quiet(void);

/* The command ending after a failed pipeline call: "yopo <cmd>: <err>" on stderr, and the exit
 * code of status (2 when it is the module's usage error usage_status, else 1; usage_status 0
 * for modules without one: always 1). */
int cli_fail(const char *cmd, int status, int usage_status, const char *err);

/* --json: writes obj (a pipeline summary; NULL: out of memory) as one line on stdout and frees
 * it. 0, or 1 after a line on stderr. */
int cli_json(const char *cmd, struct cJSON *obj);

/* Long phases print a progress line at most this often. */
enum { CLI_LINE_SECONDS = 30 };

/* Probe sampling progress lines "yopo <ctx>: probes: ... ETA" on stderr (a probe_progress_fn;
 * ctx is the command's name), shared by the commands that sample probes. */
void cli_probe_progress(void *ctx, enum probe_phase phase, int done, int total);

struct train_episode;

/* yopo train's progress lines on stderr (a trainjob_progress_fn), shared with yopo demo. */
void cli_train_progress(void *ctx, const struct train_episode *ep, int episodes);

#endif
