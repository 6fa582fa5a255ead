/* yopo compare: every method at every ratio against the dense model, on one evaluation text;
 * writes report.md, results.csv, results.json and a plot of perplexity against ratio. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "env.h"
#include "eval.h"
#include "clock.h"
#include "file.h"
#include "forward.h"
#include "select.h"
#include "unicode.h"

static const char *const cmd = "compare";

#define MAX_LIST 16

/* Defaults of every option. */
static const struct compare_cli {
	const char *model;        /* --model DIR (required) */
	const char *ratios;       /* --ratios list */
	const char *methods;      /* --methods list */
	const char *policy;       /* --policy FILE (method policy) */
	const char *text;         /* --text FILE (required): evaluation text */
	const char *calib;        /* --calib FILE: Wanda calibration text */
	long calib_windows;       /* --calib-windows N: 0 = whole file */
	long max_windows;         /* --max-windows N: evaluation windows, 0 = all */
	long seq_len;             /* --seq-len N: 0 = max_position_embeddings */
	long sample_tokens;       /* --sample-tokens N: greedy sample length */
	int weights;              /* --weights: also random/magnitude/wanda at weights granularity */
	unsigned long long seed;  /* --seed S */
	const char *out;          /* --out DIR (required) */
	int force;                /* --force: reuse a non-empty --out */
} defaults = {
	NULL, "0.1,0.2,0.3", "policy,random,magnitude,wanda,ken", NULL, NULL, NULL, 0, 0, 0, 24, 0, 0,
	NULL, 0,
};

static void help(FILE *out)
{
	fprintf(out,
		"usage: yopo compare --model DIR --text EVAL --out REPORT_DIR [--ratios 0.1,0.2,0.3]\n"
		"                    [--methods policy,random,magnitude,wanda,ken] [--policy FILE]\n"
		"                    [--calib FILE] [--calib-windows N] [--max-windows N] [--seq-len N]\n"
		"                    [--sample-tokens N] [--weights] [--seed S] [--force]\n"
		"Prunes the model with every method at every ratio, evaluates each result and the dense\n"
		"model on the same text, and writes REPORT_DIR/report.md, results.csv, results.json,\n"
		"perplexity.svg (gnuplot) and the pruned checkpoints under REPORT_DIR/models/.\n"
		"Methods run at their natural granularity: rows (structured) for policy, random,\n"
		"magnitude and wanda; weights (unstructured) for ken. --weights adds random, magnitude\n"
		"and wanda at weights granularity. Zeroed weights save no memory or time by themselves.\n"
		"  --model DIR        Hugging Face checkpoint (never modified)\n"
		"  --text FILE        evaluation text (perplexity)\n"
		"  --out DIR          report directory\n"
		"  --ratios LIST      fractions of FFN rows/weights removed (default 0.1,0.2,0.3)\n"
		"  --methods LIST     any of policy,random,magnitude,wanda,ken (default: all five)\n"
		"  --policy FILE      policy checkpoint (method policy)\n"
		"  --calib FILE       calibration text (method wanda)\n"
		"  --calib-windows N  Wanda calibration windows (default: the whole file)\n"
		"  --max-windows N    evaluation windows (default: all)\n"
		"  --seq-len N        evaluation window (default: max_position_embeddings)\n"
		"  --sample-tokens N  length of the greedy sample in the report (default 24)\n"
		"  --weights          also run random, magnitude and wanda at weights granularity\n"
		"  --seed S           seed of the random method (default 0)\n"
		"  --force            write into a non-empty REPORT_DIR (replacing what yopo wrote there)\n"
		"  --help             this text\n");
}

struct row {
	const char *method;
	enum prune_granularity g;
	double ratio;           /* 0: dense */
	size_t params, ffn_params, bytes;
	double flops, ppl, nll, tps, prune_s, ks;
	char sample[256];
};

static void progress_bar(int done, int total, const char *what)
{
	int w = 30, fill = total ? done * w / total : w;
	fprintf(stderr, "yopo compare: [");
	for (int i = 0; i < w; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %d/%d %s\n", done, total, what);
}

/* Perplexity, speed and a greedy sample of the model in dir. */
static int measure(struct row *r, const char *dir, const int *ids, size_t n_ids, long seq_len,
		   long max_windows, long sample_tokens)
{
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct forward *f = NULL;
	int rc = -1, *gen = NULL;
	char *text = NULL;
	size_t len;
	if (cli_open_model(cmd, dir, &m, &tok))
		return -1;
	int sl = seq_len ? (int)seq_len : m->cfg.max_pos;
	struct eval_result er;
	if (forward_new(&f, m, sl) ||
	    eval_perplexity(&er, f, m, ids, n_ids, sl, (size_t)max_windows, NULL, NULL)) {
		cli_error(cmd, "%s: evaluation failed", dir);
		goto out;
	}
	r->params = m->n_params;
	r->ffn_params = m->n_ffn_params;
	r->bytes = m->file_bytes;
	r->flops = eval_flops_per_token(m, sl);
	r->ppl = er.perplexity;
	r->nll = er.nll;
	r->tps = er.tokens_per_s;
	int bos = cli_bos_id(m, tok);
	gen = malloc(((size_t)sample_tokens + 1) * sizeof *gen);
	struct cli_greedy_result gr;
	if (gen && bos >= 0) {
		gen[0] = bos;
		if (cli_greedy(m, tok, gen, 1, sample_tokens, NULL, NULL, &gr) == 0 &&
		    tokenizer_decode(tok, gen + 1, (size_t)gr.generated, 1, &text, &len) == 0) {
			/* one line of valid UTF-8 for tables and CSV: controls, pipes, quotes and
			 * backslashes become spaces, invalid bytes '?' */
			size_t o = 0;
			for (size_t i = 0; i < len;) {
				uint32_t cp;
				size_t w = unicode_utf8_decode(&cp, text + i, len - i);
				if (o + w + 1 > sizeof r->sample)
					break;
				if (cp == UNICODE_INVALID)
					r->sample[o++] = '?';
				else if (cp < 0x20 || cp == 0x7f || cp == '|' || cp == '"' || cp == '\\')
					r->sample[o++] = ' ';
				else {
					memcpy(r->sample + o, text + i, w);
					o += w;
				}
				i += w;
			}
			r->sample[o] = '\0';
		}
	}
	rc = 0;
out:
	free(text);
	free(gen);
	forward_free(f);
	tokenizer_free(tok);
	model_close(m);
	return rc;
}

/* Mean over layers of the KS distance between the scored matrix's singular values before and
 * after the plan (kept rows, or the matrix with zeroed weights). */
static int plan_ks(double *out, struct env *env, const struct prune_plan *plan)
{
	const struct config *c = env_config(env);
	enum config_tensor scored = c->gated ? CONFIG_TENSOR_GATE : CONFIG_TENSOR_UP;
	double sum = 0;
	float *w2 = NULL;
	for (int l = 0; l < c->n_layers; l++) {
		const float *w;
		double ks;
		if (env_layer_begin(env, l, NULL, &w, NULL, 0))
			goto fail;
		int rows = env_rows(env, l), cols = env_cols(env);
		if (prune_plan_granularity(plan) == PRUNE_GRANULARITY_ROWS) {
			const int *kept;
			int k = prune_plan_layer_kept(plan, l, &kept);
			if (k < 1 || env_layer_ks(env, kept, k, &ks, NULL, 0))
				goto fail;
		} else {
			const unsigned char *mask = prune_plan_mask_const(plan, l, scored);
			float *nw = realloc(w2, (size_t)rows * cols * sizeof *w2);
			if (!mask || !nw)
				goto fail;
			w2 = nw;
			for (size_t i = 0; i < (size_t)rows * cols; i++)
				w2[i] = mask[i] ? w[i] : 0.0f;
			if (env_layer_ks_matrix(env, w2, &ks, NULL, 0))
				goto fail;
		}
		sum += ks;
	}
	free(w2);
	*out = sum / c->n_layers;
	return 0;
fail:
	free(w2);
	return -1;
}

static void write_csv(FILE *f, const struct row *rows, int n)
{
	fprintf(f, "method,granularity,ratio,params,ffn_params,bytes,flops_per_token,perplexity,"
		   "delta_perplexity,tokens_per_s,prune_seconds,mean_ks,sample\n");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		fprintf(f, "%s,%s,%g,%zu,%zu,%zu,%.0f,%.6f,%.6f,%.1f,%.3f,%.6f,\"%s\"\n", r->method,
			r->ratio > 0 ? prune_granularity_name(r->g) : "-", r->ratio, r->params, r->ffn_params,
			r->bytes, r->flops, r->ppl, r->ppl - rows[0].ppl, r->tps, r->prune_s, r->ks, r->sample);
	}
}

static void write_json(FILE *f, const struct row *rows, int n, const char *model, const char *text)
{
	fprintf(f, "{\n  \"model\": ");
	cli_print_json_string(f, model);
	fprintf(f, ",\n  \"text\": ");
	cli_print_json_string(f, text);
	fprintf(f, ",\n  \"results\": [\n");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		fprintf(f,
			"    {\"method\": \"%s\", \"granularity\": \"%s\", \"ratio\": %g, \"params\": %zu, "
			"\"ffn_params\": %zu, \"bytes\": %zu, \"flops_per_token\": %.0f, \"perplexity\": %.8g, "
			"\"nll\": %.8g, \"delta_perplexity\": %.8g, \"tokens_per_s\": %.6g, \"prune_seconds\": %.4f, "
			"\"mean_ks\": %.8g, \"sample\": \"%s\"}%s\n",
			r->method, r->ratio > 0 ? prune_granularity_name(r->g) : "dense", r->ratio, r->params,
			r->ffn_params, r->bytes, r->flops, r->ppl, r->nll, r->ppl - rows[0].ppl, r->tps,
			r->prune_s, r->ks, r->sample, i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
}

static void write_md(FILE *f, const struct row *rows, int n, const char *model, const char *text,
		     size_t n_ids, long max_windows, bool plotted)
{
	char a[32], b[32], c[32], d[32];
	fprintf(f, "# yopo compare\n\nModel `%s`, evaluated on `%s` (%s tokens incl. BOS, %s).\n\n", model,
		text, cli_group(a, sizeof a, n_ids),
		max_windows ? "first windows only, see results.json" : "every window");
	fprintf(f, "| method | granularity | ratio | params | FFN params | bytes | FLOPs/token | perplexity | "
		   "Δ ppl | tokens/s | prune s | mean KS | sample |\n");
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		fprintf(f, "| %s | %s | %g | %s | %s | %s | %s | %.3f | %+.3f | %.0f | %.2f | %.4f | %s |\n",
			r->method, r->ratio > 0 ? prune_granularity_name(r->g) : "-", r->ratio,
			cli_group(a, sizeof a, r->params), cli_group(b, sizeof b, r->ffn_params),
			cli_group(c, sizeof c, r->bytes), cli_group(d, sizeof d, (unsigned long long)r->flops),
			r->ppl, r->ppl - rows[0].ppl, r->tps, r->prune_s, r->ks, r->sample);
	}
	fprintf(f, "\nparams and FFN params count the weights stored; for the weights granularity they "
		   "count nonzero weights, but the checkpoint keeps its dense shapes: **zeroed weights save no "
		   "memory or time by themselves** (bytes, FLOPs and tokens/s stay those of the dense model).\n"
		   "Mean KS: two-sample KS distance between the singular values of each layer's FFN "
		   "up-projection before and after pruning, averaged over layers (lower is better).\n"
		   "Tokens/s is measured on a shared machine and is noisy.\n");
	if (plotted)
		fprintf(f, "\n![perplexity against ratio](perplexity.svg)\n");
}

/* Draws perplexity against ratio per method with gnuplot; returns 0 if the plot was made. */
static int plot(const char *out, const struct row *rows, int n)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/perplexity.dat", out);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	/* one gnuplot data block per method+granularity, separated by two blank lines */
	for (int i = 1; i < n; i++) {
		char key[64];
		snprintf(key, sizeof key, "%s-%s", rows[i].method, prune_granularity_name(rows[i].g));
		bool seen = false;
		for (int j = 1; j < i; j++)
			seen |= !strcmp(rows[j].method, rows[i].method) && rows[j].g == rows[i].g;
		if (seen)
			continue;
		fprintf(f, "# %s\n0 %.8g\n", key, rows[0].ppl);
		for (int j = i; j < n; j++)
			if (!strcmp(rows[j].method, rows[i].method) && rows[j].g == rows[i].g)
				fprintf(f, "%g %.8g\n", rows[j].ratio, rows[j].ppl);
		fprintf(f, "\n\n");
	}
	fclose(f);
	snprintf(path, sizeof path, "%s/perplexity.gp", out);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "set terminal svg size 800,500 dynamic background rgb 'white'\nset output '%s/perplexity.svg'\n"
		   "set xlabel 'pruning ratio'\nset ylabel 'perplexity (log scale)'\nset logscale y\n"
		   "set key left top\nset grid\nset title 'yopo compare: perplexity against ratio'\nplot ",
		out);
	int idx = 0;
	for (int i = 1; i < n; i++) {
		bool seen = false;
		for (int j = 1; j < i; j++)
			seen |= !strcmp(rows[j].method, rows[i].method) && rows[j].g == rows[i].g;
		if (seen)
			continue;
		fprintf(f, "%s'%s/perplexity.dat' index %d using 1:2 with linespoints title '%s (%s)'",
			idx ? ", " : "", out, idx, rows[i].method, prune_granularity_name(rows[i].g));
		idx++;
	}
	fprintf(f, "\n");
	fclose(f);
	char command[2 * PATH_MAX];
	snprintf(command, sizeof command, "gnuplot '%s' 2>/dev/null", path);
	return system(command) == 0 ? 0 : -1;
}

int cmd_compare(int argc, char **argv)
{
	struct compare_cli o = defaults;
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"ratios", required_argument, NULL, 'r'},
		{"methods", required_argument, NULL, 'M'},
		{"policy", required_argument, NULL, 'p'},
		{"text", required_argument, NULL, 't'},
		{"calib", required_argument, NULL, 'c'},
		{"calib-windows", required_argument, NULL, 'C'},
		{"max-windows", required_argument, NULL, 'w'},
		{"seq-len", required_argument, NULL, 'l'},
		{"sample-tokens", required_argument, NULL, 'n'},
		{"weights", no_argument, NULL, 'W'},
		{"seed", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 'r': o.ratios = optarg; break;
		case 'M': o.methods = optarg; break;
		case 'p': o.policy = optarg; break;
		case 't': o.text = optarg; break;
		case 'c': o.calib = optarg; break;
		case 'C':
			if (cli_parse_long(cmd, "--calib-windows", optarg, 1, 1L << 30, &o.calib_windows))
				return 2;
			break;
		case 'w':
			if (cli_parse_long(cmd, "--max-windows", optarg, 1, 1L << 40, &o.max_windows))
				return 2;
			break;
		case 'l':
			if (cli_parse_long(cmd, "--seq-len", optarg, 2, 1 << 24, &o.seq_len))
				return 2;
			break;
		case 'n':
			if (cli_parse_long(cmd, "--sample-tokens", optarg, 1, 200, &o.sample_tokens))
				return 2;
			break;
		case 'W': o.weights = 1; break;
		case 's':
			if (cli_parse_seed(cmd, "--seed", optarg, &o.seed))
				return 2;
			break;
		case 'o': o.out = optarg; break;
		case 'f': o.force = 1; break;
		case 'h': help(stdout); return 0;
		default: help(stderr); return 2;
		}
	}
	if (optind < argc) {
		cli_error(cmd, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!o.model || !o.text || !o.out) {
		cli_error(cmd, "--model, --text and --out are required (see --help)");
		return 2;
	}
	char method_s[MAX_LIST][CLI_ITEM_MAX];
	int n_ratios, n_methods;
	double ratios[MAX_LIST];
	if (cli_parse_ratios(cmd, "--ratios", o.ratios, ratios, MAX_LIST, &n_ratios) ||
	    cli_split_list(cmd, "--methods", o.methods, method_s, MAX_LIST, &n_methods))
		return 2;
	bool wants_policy = false, wants_wanda = false;
	for (int i = 0; i < n_methods; i++) {
		if (!select_method_known(method_s[i])) {
			cli_error(cmd, "--methods: '%s' is not one of %s", method_s[i], select_methods());
			return 2;
		}
		wants_policy |= !strcmp(method_s[i], "policy");
		wants_wanda |= !strcmp(method_s[i], "wanda");
	}
	if (wants_policy && !o.policy) {
		cli_error(cmd, "method policy needs --policy FILE");
		return 2;
	}
	if (wants_wanda && !o.calib) {
		cli_error(cmd, "method wanda needs --calib FILE");
		return 2;
	}

	/* the list of runs: (method, granularity) x ratios */
	struct run {
		const char *method;
		enum prune_granularity g;
	} runs[2 * MAX_LIST];
	int n_runs = 0;
	for (int i = 0; i < n_methods; i++)
		runs[n_runs++] = (struct run){method_s[i], !strcmp(method_s[i], "ken") ? PRUNE_GRANULARITY_WEIGHTS
										   : PRUNE_GRANULARITY_ROWS};
	if (o.weights)
		for (int i = 0; i < n_methods; i++)
			if (strcmp(method_s[i], "ken") && strcmp(method_s[i], "policy"))
				runs[n_runs++] = (struct run){method_s[i], PRUNE_GRANULARITY_WEIGHTS};

	int rc = 1, n_rows = 0, total = 1 + n_runs * n_ratios;
	struct row *rows = calloc((size_t)total, sizeof *rows);
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct env *env = NULL;
	struct select_cache cache = {0};
	char *text = NULL, err[ERR_MAX], path[PATH_MAX];
	int *enc = NULL, *ids = NULL;
	size_t len = 0, n_enc = 0, n_ids = 0;
	bool plotted = false, created = false;
	if (!rows) {
		cli_error(cmd, "out of memory");
		goto out;
	}
	/* everything that can fail cheaply does, before the report directory is created */
	snprintf(path, sizeof path, "%s/report.md", o.out);
	if (!o.force && access(path, F_OK) == 0) {
		cli_error(cmd, "%s already holds a report (use --force to replace it)", o.out);
		goto out;
	}
	int e = util_read_file(&text, &len, o.text, UTIL_TEXT_MAX, false, NULL, 0);
	if (e) {
		cli_error(cmd, "%s: %s", o.text, util_strerror(e));
		goto out;
	}
	if (cli_open_model(cmd, o.model, &m, &tok))
		goto out;
	if (tokenizer_encode(tok, text, len, &enc, &n_enc) || !(ids = malloc((n_enc + 1) * sizeof *ids))) {
		cli_error(cmd, "%s: cannot tokenize", o.text);
		goto out;
	}
	int bos = cli_bos_id(m, tok);
	if (bos >= 0)
		ids[n_ids++] = bos;
	memcpy(ids + n_ids, enc, n_enc * sizeof *ids);
	n_ids += n_enc;
	if (o.seq_len > m->cfg.max_pos) {
		cli_error(cmd, "--seq-len %ld exceeds the model's context (%d)", o.seq_len, m->cfg.max_pos);
		goto out;
	}
	for (int i = 0; i < n_methods; i++) {
		struct select_opts so = {.method = method_s[i], .policy = o.policy, .calib = o.calib,
					 .calib_windows = o.calib_windows, .norm_p = 1,
					 .granularity = runs[i].g, .seed = o.seed};
		if (select_prepare(m, &so, &cache, err, sizeof err)) {
			cli_error(cmd, "%s", err);
			goto out;
		}
	}
	if (env_open(&env, o.model, SPECTRUM_ROUTE_SVD, 256u << 20, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	if (mkdir(o.out, 0777) == 0)
		created = true;
	else if (errno != EEXIST) {
		cli_error(cmd, "%s: cannot create: %s", o.out, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof path, "%s/models", o.out);
	if (mkdir(path, 0777) && errno != EEXIST) {
		cli_error(cmd, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}

	progress_bar(0, total, "dense model");
	struct row *dense = &rows[n_rows];
	dense->method = "dense";
	if (measure(dense, o.model, ids, n_ids, o.seq_len, o.max_windows, o.sample_tokens))
		goto out;
	n_rows++;
	for (int ri = 0; ri < n_runs; ri++) {
		for (int k = 0; k < n_ratios; k++) {
			struct row *r = &rows[n_rows];
			char what[128], dir[PATH_MAX];
			snprintf(what, sizeof what, "%s (%s) ratio %g", runs[ri].method,
				 prune_granularity_name(runs[ri].g), ratios[k]);
			progress_bar(n_rows, total, what);
			r->method = runs[ri].method;
			r->g = runs[ri].g;
			r->ratio = ratios[k];
			if ((size_t)snprintf(dir, sizeof dir, "%s/models/%s-%s-%g", o.out, r->method,
					     prune_granularity_name(r->g), r->ratio) >= sizeof dir) {
				cli_error(cmd, "%s: path too long", o.out);
				goto out;
			}
			struct select_opts so = {.method = r->method, .policy = o.policy, .calib = o.calib,
						 .calib_windows = o.calib_windows, .norm_p = 1,
						 .granularity = r->g, .seed = o.seed};
			struct prune_plan *plan = NULL;
			double t0 = util_now();
			if (select_plan(&plan, m, o.model, tok, &so, r->ratio, &cache, err, sizeof err)) {
				cli_error(cmd, "%s: %s", what, err);
				goto out;
			}
			struct prune_info info = {
				.method = r->method, .ratio = r->ratio, .granularity = r->g, .seed = o.seed,
				.policy_sha256 = !strcmp(r->method, "policy") ? cache.policy_sha256 : NULL,
				.calib_file = !strcmp(r->method, "wanda") ? o.calib : NULL,
				.calib_tokens = !strcmp(r->method, "wanda") ? cache.calib_tokens : 0,
			};
			int we = prune_write(m, o.model, plan, NULL, &info, dir, true, err, sizeof err);
			r->prune_s = util_now() - t0;
			int ke = we ? 0 : plan_ks(&r->ks, env, plan);
			struct prune_counts counts;
			int ce = we ? 0 : prune_plan_count(&counts, plan, m);
			prune_plan_free(plan);
			if (we || ke || ce) {
				cli_error(cmd, "%s: %s", what, we ? err : "measuring the spectrum failed");
				goto out;
			}
			if (measure(r, dir, ids, n_ids, o.seq_len, o.max_windows, o.sample_tokens))
				goto out;
			/* count nonzero weights for the weights granularity (the file keeps dense shapes) */
			r->params = counts.params_after;
			r->ffn_params = counts.ffn_params_after;
			n_rows++;
		}
	}
	progress_bar(n_rows, total, "writing the report");
	plotted = plot(o.out, rows, n_rows) == 0;
	if (!plotted)
		fprintf(stderr, "yopo compare: gnuplot failed or is not installed; no plot drawn\n");
	const char *names[] = {"results.csv", "results.json", "report.md"};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", o.out, names[i]);
		FILE *f = fopen(path, "w");
		if (!f) {
			cli_error(cmd, "%s: cannot write", path);
			goto out;
		}
		if (i == 0)
			write_csv(f, rows, n_rows);
		else if (i == 1)
			write_json(f, rows, n_rows, o.model, o.text);
		else
			write_md(f, rows, n_rows, o.model, o.text, n_ids, o.max_windows, plotted);
		if (fclose(f)) {
			cli_error(cmd, "%s: write failed", path);
			goto out;
		}
	}
	printf("report: %s/report.md\n", o.out);
	rc = 0;
out:
	/* a failed run leaves no half-written report behind (a directory it did not create keeps
	 * whatever it held) */
	if (rc && created && cli_remove_tree(o.out))
		fprintf(stderr, "yopo compare: could not remove %s: %s\n", o.out, strerror(errno));
	select_cache_free(&cache);
	env_close(env);
	free(ids);
	free(enc);
	free(text);
	free(rows);
	tokenizer_free(tok);
	model_close(m);
	return rc;
}
