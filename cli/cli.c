/* cli: helpers shared by the subcommands. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>

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

int cli_parse(const struct opt_cmd *c, int argc, char **argv)
{
	switch (opt_parse(c, argc, argv)) {
	case OPT_OK:
		threads_apply((int)opt_threads());
		return -1;
	case OPT_HELP: return 0;
	case OPT_ERROR: break;
	}
	return 2;
}

int cli_exit(int status, int usage_status)
{
	return status == 0 ? 0 : status == usage_status ? 2 : 1;
}
