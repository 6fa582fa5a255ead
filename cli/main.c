/* yopo: command-line entry point, dispatching to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "err.h"
#include "output.h"
#include "yopo_version.h"

static const struct {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
} commands[] = {
	{"compare", cmd_compare, "prune with every method and ratio, evaluate, write a report"},
	{"demo", cmd_demo, "run the main job end to end (synthetic model unless --model)"},
	{"eval", cmd_eval, "perplexity and size/speed measures of a checkpoint on a text"},
	{"generate", cmd_generate, "text generation from a checkpoint (greedy or sampled)"},
	{"prune", cmd_prune, "write a pruned checkpoint (policy or baseline method)"},
	{"spectrum", cmd_spectrum, "KS distance of kept vs original FFN spectra for a selection method"},
	{"study", cmd_study, "does a data-free reward predict pruning damage? (Spearman rho vs KL)"},
	{"train", cmd_train, "train a pruning policy (REINFORCE; self-sampled probes, no user text)"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: yopo <command> [options]   (yopo help <command> or yopo <command> --help\n"
		     "       for details; every command takes -t/--threads N and -q/--quiet)\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

/* A command's exit code, unless stdout could not be written (a full disk, /dev/full): then one
 * line and failure, never a silent 0. A command that failed has said why in its own line. */
static int finish(int rc)
{
	char err[ERR_MAX];
	dist_finalize(); /* every rank of an mpirun job (yopo train) ends MPI here */
	if (util_close_stdout(err, sizeof err) && !rc) {
		fprintf(stderr, "yopo: %s\n", err);
		return 1;
	}
	return rc;
}

/* The command called name, or NULL after one line naming the closest command. */
static int (*find_command(const char *name))(int, char **)
{
	const char *names[sizeof commands / sizeof commands[0]];
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(name, commands[i].name))
			return commands[i].run;
		names[i] = commands[i].name;
	}
	const char *near = opt_closest(name, names, (int)(sizeof names / sizeof names[0]));
	if (near)
		fprintf(stderr, "yopo: unknown command '%s' (did you mean '%s'?)\n", name, near);
	else
		fprintf(stderr, "yopo: unknown command '%s' (see yopo --help)\n", name);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* yopo help CMD = yopo CMD --help */
	if (!strcmp(argv[1], "help") && argc == 3 && strcmp(argv[2], "help")) {
		int (*run)(int, char **) = find_command(argv[2]);
		char help[] = "--help", *help_argv[] = {argv[2], help, NULL};
		return run ? finish(run(2, help_argv)) : 2;
	}
	if (!strcmp(argv[1], "help") && argc > 3) { /* "yopo help help" falls through to the usage */
		fprintf(stderr, "yopo help: give one command (yopo help CMD)\n");
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return finish(0);
	}
	if (!strcmp(argv[1], "--version")) {
		printf("yopo %s\n", YOPO_VERSION);
		return finish(0);
	}
	int (*run)(int, char **) = find_command(argv[1]);
	return run ? finish(run(argc - 1, argv + 1)) : 2;
}
