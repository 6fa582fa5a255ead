/* cli: helpers shared by the subcommands — the common options, errors, exit codes, --json. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "err.h"
#include "json.h"
#include "probe.h"
#include "threads.h"

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "yopo %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The options every command takes; their values are those of the last cli_parse. */
static long threads_value;
static int quiet_value;
static const struct opt common_opts[] = {
	{"threads", 't', OPT_LONG, &threads_value, 1, 4096, "N",
	 "threads for every compute runtime (default: the cores)", NULL, false},
	{"quiet", 'q', OPT_FLAG, &quiet_value, 0, 0, NULL,
	 "no progress lines on stderr (errors and results still appear)", NULL, false},
};

bool cli_quiet(void)
{
	return quiet_value != 0;
}

int cli_parse(const struct opt_cmd *c, int argc, char **argv)
{
	static const struct opt_prog yopo = {"yopo", common_opts,
					     (int)(sizeof common_opts / sizeof common_opts[0])};
	char err[ERR_MAX];
	threads_value = 0;
	quiet_value = 0;
	switch (opt_parse(&yopo, c, argc, argv, err, sizeof err)) {
	case OPT_OK:
		threads_apply((int)threads_value);
		return -1;
	case OPT_HELP:
		opt_help(&yopo, c, stdout);
		return 0;
	case OPT_ERR_USAGE: break;
	}
	cli_error(c->name, "%s", err);
	return 2;
}

int cli_fail(const char *cmd, int status, int usage_status, const char *err)
{
	cli_error(cmd, "%s", err);
	return status == usage_status ? 2 : 1;
}

int cli_json(const char *cmd, struct cJSON *obj)
{
	int rc = obj ? json_write(stdout, obj, false) : -1;
	if (!obj)
		cli_error(cmd, "out of memory");
	json_free(obj);
	return rc ? 1 : 0;
}

/* Probe sampling and streaming (minutes on a 7B model): a line at most every
 * CLI_LINE_SECONDS, with an ETA from the rate measured since the phase's first report. */
static double probe_t0, last_probe_line;
static int probe_phase = -1, probe_first, probe_last;

void cli_probe_progress(void *ctx, enum probe_phase phase, int done, int total)
{
	const char *cmd = ctx;
	double now = util_now();
	if ((int)phase != probe_phase || done < probe_last) {
		/* a new phase or the next model: the rate is measured from this first report on */
		probe_phase = (int)phase;
		probe_t0 = last_probe_line = now;
		probe_first = done;
	}
	probe_last = done;
	if (cli_quiet() || done == total || now - last_probe_line < CLI_LINE_SECONDS)
		return;
	last_probe_line = now;
	double el = now - probe_t0, rate = (done - probe_first) / el;
	fprintf(stderr, "yopo %s: probes: %s %d/%d, ETA %.0f s\n", cmd,
		phase == PROBE_PHASE_SAMPLE ? "sampled tokens" : "layers run", done, total,
		(total - done) / rate);
}
