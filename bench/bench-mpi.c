/* bench-mpi: strong scaling of `mpirun -np N yopo train` (issue 10) on a synthetic Llama
 * checkpoint of --layers equal layers (default 8, hidden 256, FFN 688: the 7B aspect 11008/4096),
 * one BLAS/OpenMP thread per rank: -np 1 against -np 2, wall time of the whole job and the
 * training time rank 0 logs, the checkpoints compared byte for byte. Then the cost model of the
 * README: per-item times from the -np 1 log (first episode = layer loading + one episode; later
 * episodes), their growth with the layer size from a second -np 1 run at half the width, the
 * bytes exchanged per episode, and predictions of 20 episodes on 7B- and 70B-shaped models for
 * 8/32/80 ranks, with the model's error on the measured 1- and 2-rank points.
 *
 * Usage: bench-mpi [--episodes E] [--layers L] [--hidden H] [--reward functional|neg-ks]   (defaults 10, 8, 256; YOPO_EXE, YOPO_MPIRUN from meson)
 * Writes its checkpoints under $TMPDIR (removed at the end). Exits 77 without mpirun. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dist.h"
#include "file.h"
#include "json.h"
#include "synth.h"

extern char **environ;

enum { MAX_EP = 256 };

struct run {
	double wall;             /* seconds, mpirun to exit */
	double cpu;              /* user + system seconds of mpirun and its ranks */
	double el[MAX_EP + 2];   /* rank 0's elapsed after episode e (index e), final at E + 1 */
};

/* --reward: functional (train's default: probe features, so every rank samples the model's
 * probes first, a serial cost) or neg-ks (with --weights-only: no forward pass at all). */
static const char *reward = "functional";

/* Runs yopo train under mpirun -np np with one thread per rank; 0 or -1. */
static int train(struct run *r, const char *tmp, int np, const char *model, int episodes,
		 const char *out)
{
	char npb[16], epb[16], log[1024];
	snprintf(npb, sizeof npb, "%d", np);
	snprintf(epb, sizeof epb, "%d", episodes);
	snprintf(log, sizeof log, "%s/log-%d.jsonl", tmp, np);
	const char *mpirun = getenv("YOPO_MPIRUN"), *exe = getenv("YOPO_EXE");
	const char *argv[] = {mpirun, "-q", "--allow-run-as-root", "--oversubscribe", "--bind-to",
			      "none", "-x", "OMP_NUM_THREADS=1", "-x", "OPENBLAS_NUM_THREADS=1",
			      "-np", npb, exe, "train", "--threads", "1", "--model", model,
			      "--ratio", "0.5", "--episodes", epb, "--log", log, "--out", out,
			      "--reward", reward, strcmp(reward, "functional") ? "--weights-only" : NULL,
			      NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	struct rusage u0, u1;
	getrusage(RUSAGE_CHILDREN, &u0);
	double t0 = util_now();
	int rc = posix_spawn(&pid, mpirun, &fa, NULL, (char *const *)(void *)argv, environ), st;
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return fprintf(stderr, "bench-mpi: %s: %s\n", mpirun, strerror(rc)), -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->wall = util_now() - t0;
	getrusage(RUSAGE_CHILDREN, &u1);
	r->cpu = (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec + u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
		 1e-6 * (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec + u1.ru_stime.tv_usec - u0.ru_stime.tv_usec);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return fprintf(stderr, "bench-mpi: -np %d failed\n", np), -1;
	FILE *f = fopen(log, "r");
	char line[1 << 16];
	while (f && fgets(line, sizeof line, f)) {
		struct cJSON *o = json_parse(line, strlen(line));
		double e = o ? json_number(json_get(o, "episode")) : -1;
		if (e >= 1 && e <= MAX_EP + 1)
			r->el[(int)e] = json_number(json_get(o, "elapsed"));
		json_free(o);
	}
	if (f)
		fclose(f);
	return f ? 0 : -1;
}

/* Per-item seconds of a -np 1 run over n items: *load (first episode minus a later one),
 * *ep (one later episode), *fin (the final greedy evaluation), *fixed (wall minus training). */
static void item_times(const struct run *r, int E, int n, double *load, double *ep, double *fin,
		       double *fixed)
{
	double steady = (r->el[E] - r->el[1]) / (E - 1);
	*ep = steady / n;
	*load = (r->el[1] - steady) / n;
	*fin = (r->el[E + 1] - r->el[E]) / n;
	*fixed = r->wall - r->el[E + 1];
}

static int model_at(char *dir, size_t cap, const char *tmp, int layers, int hidden)
{
	struct synth_spec s;
	synth_spec_default(&s, CONFIG_FAMILY_LLAMA);
	s.n_layers = layers;
	s.hidden = hidden;
	s.ffn = hidden * 11008 / 4096;
	s.n_heads = s.n_kv_heads = 4;
	s.max_pos = 64;
	snprintf(dir, cap, "%s/model-%d", tmp, hidden);
	return synth_write(dir, &s);
}

/* A shape the cost model predicts for. */
struct shape {
	const char *name;
	int layers;
	double rows, cols;
};

static void predict(double load, double ep, double fin, double fixed, double c_ref, double p,
		    size_t rec)
{
	static const struct shape shapes[] = {{"7B", 32, 11008, 4096}, {"70B", 80, 28672, 8192}};
	static const int ranks[] = {8, 32, 80};
	printf("\nprediction, 20 episodes, 1 ratio, 16 samples (item time ∝ (rows·cols²)^%.2f):\n", p);
	for (size_t s = 0; s < 2; s++) {
		const struct shape *S = &shapes[s];
		double g = pow(S->rows * S->cols * S->cols / c_ref, p);
		double item = g * (load + 20 * ep + fin);
		printf("  %-4s %2d layers, one item (layer) %.3g s (load %.3g s, episode %.3g s); exchange %zu B/episode\n",
		       S->name, S->layers, item, g * load, g * ep, rec * (size_t)S->layers);
		for (size_t k = 0; k < 3; k++) {
			int per = (S->layers + ranks[k] - 1) / ranks[k];
			printf("       %2d ranks: %d item(s) on the busiest rank -> %.3g s = %.3g h\n",
			       ranks[k], per, fixed + per * item, (fixed + per * item) / 3600);
		}
	}
}

int main(int argc, char **argv)
{
	int E = 10, layers = 8, hidden = 256;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--reward") && (!strcmp(argv[i + 1], "functional") ||
						     !strcmp(argv[i + 1], "neg-ks"))) {
			reward = argv[i + 1];
			continue;
		}
		int *v = !strcmp(argv[i], "--episodes") ? &E : !strcmp(argv[i], "--layers") ? &layers
			 : !strcmp(argv[i], "--hidden") ? &hidden : NULL;
		if (!v || (*v = atoi(argv[i + 1])) < 1)
			return fprintf(stderr, "usage: bench-mpi [--episodes E] [--layers L] [--hidden H] [--reward functional|neg-ks]\n"), 2;
	}
	if (E < 2 || E > MAX_EP || layers < 2 || hidden < 16 || hidden % 8)
		return fprintf(stderr, "bench-mpi: episodes 2..%d, layers >= 2, hidden a multiple of 8 >= 16\n", MAX_EP), 2;
	if (!getenv("YOPO_MPIRUN") || !getenv("YOPO_EXE") || strcmp(dist_backend(), "openmpi"))
		return printf("bench-mpi: skipped (no MPI in this build or no mpirun)\n"), 77;
	char tmp[] = "/tmp/yopo-bench-mpi-XXXXXX", big[1024], small[1024], o1[1100], o2[1100], o3[1100];
	char err[ERR_MAX];
	if (!mkdtemp(tmp))
		return perror("mkdtemp"), 1;
	struct run r1 = {0}, r2 = {0}, rs = {0};
	int rc = 1;
	snprintf(o1, sizeof o1, "%s/np1.safetensors", tmp);
	snprintf(o2, sizeof o2, "%s/np2.safetensors", tmp);
	snprintf(o3, sizeof o3, "%s/small.safetensors", tmp);
	if (model_at(big, sizeof big, tmp, layers, hidden) ||
	    model_at(small, sizeof small, tmp, layers, hidden / 2) ||
	    train(&r1, tmp, 1, big, E, o1) || train(&r2, tmp, 2, big, E, o2) ||
	    train(&rs, tmp, 1, small, E, o3))
		goto out;
	size_t n1, n2;
	char *b1 = NULL, *b2 = NULL;
	bool same = !util_read_file(&b1, &n1, o1, 1 << 30, false, err, sizeof err) &&
		    !util_read_file(&b2, &n2, o2, 1 << 30, false, err, sizeof err) && n1 == n2 &&
		    !memcmp(b1, b2, n1);
	free(b1);
	free(b2);
	printf("bench-mpi: synthetic llama, %d layers, hidden %d, FFN %d, %d episodes, 1 thread per rank\n",
	       layers, hidden, hidden * 11008 / 4096, E);
	printf("  -np 1: wall %.2f s, training %.2f s, CPU %.2f s\n  -np 2: wall %.2f s, training %.2f s, CPU %.2f s\n",
	       r1.wall, r1.el[E + 1], r1.cpu, r2.wall, r2.el[E + 1], r2.cpu);
	printf("  speed-up -np 2 / -np 1: wall %.2fx, training %.2fx (target >= 1.8x); checkpoints %s\n",
	       r1.wall / r2.wall, r1.el[E + 1] / r2.el[E + 1], same ? "byte-identical" : "DIFFER");
	/* on a loaded machine the ranks get no core each: CPU time shows the work the distribution
	 * adds, and estimates what two free cores would give (CPU of -np 1 over half of -np 2's;
	 * it ignores the serial start and counts MPI's spinning waits as work) */
	printf("  CPU -np 2 / -np 1: %.2f; speed-up estimate for two free cores: %.2fx\n",
	       r2.cpu / r1.cpu, r1.cpu / (r2.cpu / 2));
	double load, ep, fin, fixed, ls, es, fs, xs;
	item_times(&r1, E, layers, &load, &ep, &fin, &fixed);
	item_times(&rs, E, layers, &ls, &es, &fs, &xs);
	double cb = (double)hidden * hidden * (hidden * 11008 / 4096);
	double cs = (double)(hidden / 2) * (hidden / 2) * (hidden / 2 * 11008 / 4096);
	double p = log((load + ep * E + fin) / (ls + es * E + fs)) / log(cb / cs);
	printf("  per item: load %.4f s, episode %.4f s, final evaluation %.4f s; fixed %.2f s (start, MPI, save)\n",
	       load, ep, fin, fixed);
	printf("  half width: item %.4f s vs %.4f s -> time ∝ (rows·cols²)^%.2f\n",
	       ls + es * E + fs, load + ep * E + fin, p);
	/* the model on the measured points: fixed + busiest rank's items × per-item time */
	for (int np = 1; np <= 2; np++) {
		int per = (layers + np - 1) / np;
		double pred = fixed + per * (load + E * ep + fin), meas = np == 1 ? r1.wall : r2.wall;
		printf("  model at -np %d: predicted %.2f s, measured %.2f s (%+.0f%%)\n", np, pred, meas,
		       100 * (pred - meas) / meas);
	}
	/* one record per cell: struct train_cell (2 ints, 6 doubles) + the mlp gradient (d 6, h 16) */
	size_t rec = 2 * sizeof(int) + 6 * sizeof(double) + (16 * 6 + 2 * 16 + 1) * sizeof(float);
	printf("  exchange: %zu B per cell per episode, gathered by every rank\n", rec);
	/* extrapolated in CPU seconds (what a dedicated core takes: the -np 1 run's wall times
	 * scaled by the share of a core it got) and cubically, as the Gram route's eigenvalue
	 * solve and downdate grow at a fixed FFN/hidden aspect; the fitted exponent is the check */
	double share = r1.cpu / r1.wall;
	printf("  -np 1 got %.0f%% of a core: per item on a dedicated core load %.4f s, episode %.4f s\n",
	       100 * share, share * load, share * ep);
	predict(share * load, share * ep, share * fin, share * fixed, cb, 1.0, rec);
	rc = same ? 0 : 1;
out:
	util_remove_tree(tmp);
	return rc;
}
