/* prune: pruning plans and the atomic pruned-checkpoint writer. See prune.h. */
#include "prune.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval.h"
#include "file.h"
#include "output.h"
#include "scorers.h"
#include "yopo_version.h"

const char *prune_strerror(int err)
{
	switch (err) {
	case PRUNE_OK: return "success";
	case PRUNE_ERR_RATIO: return "ratio must be in [0, 1) and leave at least one neuron per layer";
	case PRUNE_ERR_OUT_IS_INPUT: return "output directory is the input directory";
	case PRUNE_ERR_OUT_INSIDE_INPUT: return "output directory is inside the input directory";
	case PRUNE_ERR_OUT_CONTAINS_INPUT: return "input directory is inside the output directory";
	case PRUNE_ERR_OUT_NOT_EMPTY: return "output directory exists and is not empty (use --force)";
	case PRUNE_ERR_IO: return "file system error";
	case PRUNE_ERR_NOMEM: return "out of memory";
	case PRUNE_ERR_PLAN: return "invalid pruning plan for this model";
	case PRUNE_ERR_BASE_SHAPE: return "base model does not match the model's FFN shapes";
	case PRUNE_ERR_SCORES: return "NaN or infinite score";
	case PRUNE_ERR_ARG: return "invalid argument";
	case PRUNE_ERR_INPUT: return "input checkpoint disagrees with the loaded model";
	}
	return "unknown prune error";
}

const char *prune_granularity_name(enum prune_granularity g)
{
	return g == PRUNE_GRANULARITY_WEIGHTS ? "weights" : "rows";
}

/* Writes a one-line reason when err is given; returns code. */
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* ---- plans ---- */

enum { SLOT_UP, SLOT_GATE, SLOT_DOWN, N_SLOTS };

struct prune_plan {
	enum prune_granularity gran;
	int n_layers;
	int hidden;           /* WEIGHTS only */
	int *ffn;             /* (n_layers) neurons per layer */
	int *k;               /* (n_layers) ROWS: kept count */
	int **kept;           /* [layer] (ffn) ROWS: first k entries valid, ascending */
	unsigned char **mask; /* [layer * N_SLOTS + slot] WEIGHTS; gate NULL if not gated */
};

void prune_plan_free(struct prune_plan *p)
{
	if (!p)
		return;
	for (int l = 0; p->kept && l < p->n_layers; l++)
		free(p->kept[l]);
	for (int i = 0; p->mask && i < p->n_layers * N_SLOTS; i++)
		free(p->mask[i]);
	free(p->kept);
	free(p->mask);
	free(p->k);
	free(p->ffn);
	free(p);
}

int prune_plan_new_rows(struct prune_plan **out, int n_layers, const int *ffn_per_layer)
{
	if (n_layers < 1 || n_layers > CONFIG_MAX_LAYERS)
		return PRUNE_ERR_ARG;
	for (int l = 0; l < n_layers; l++)
		if (ffn_per_layer[l] < 1)
			return PRUNE_ERR_ARG;
	struct prune_plan *p = calloc(1, sizeof *p);
	if (!p)
		return PRUNE_ERR_NOMEM;
	p->gran = PRUNE_GRANULARITY_ROWS;
	p->n_layers = n_layers;
	p->ffn = malloc((size_t)n_layers * sizeof *p->ffn);
	p->k = malloc((size_t)n_layers * sizeof *p->k);
	p->kept = calloc((size_t)n_layers, sizeof *p->kept);
	if (!p->ffn || !p->k || !p->kept)
		goto nomem;
	for (int l = 0; l < n_layers; l++) {
		p->ffn[l] = p->k[l] = ffn_per_layer[l];
		p->kept[l] = malloc((size_t)ffn_per_layer[l] * sizeof **p->kept);
		if (!p->kept[l])
			goto nomem;
		for (int i = 0; i < ffn_per_layer[l]; i++)
			p->kept[l][i] = i;
	}
	*out = p;
	return PRUNE_OK;
nomem:
	prune_plan_free(p);
	return PRUNE_ERR_NOMEM;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int prune_plan_set_layer_rows(struct prune_plan *p, int layer, const int *kept, int k)
{
	if (p->gran != PRUNE_GRANULARITY_ROWS || layer < 0 || layer >= p->n_layers || k < 1 ||
	    k > p->ffn[layer])
		return PRUNE_ERR_PLAN;
	int *tmp = malloc((size_t)k * sizeof *tmp);
	if (!tmp)
		return PRUNE_ERR_NOMEM;
	memcpy(tmp, kept, (size_t)k * sizeof *tmp);
	qsort(tmp, (size_t)k, sizeof *tmp, cmp_int);
	for (int i = 0; i < k; i++) {
		if (tmp[i] < 0 || tmp[i] >= p->ffn[layer] || (i > 0 && tmp[i] == tmp[i - 1])) {
			free(tmp);
			return PRUNE_ERR_PLAN;
		}
	}
	memcpy(p->kept[layer], tmp, (size_t)k * sizeof *tmp);
	p->k[layer] = k;
	free(tmp);
	return PRUNE_OK;
}

int prune_plan_new_weights(struct prune_plan **out, const struct model *m)
{
	const struct config *c = &m->cfg;
	struct prune_plan *p = calloc(1, sizeof *p);
	if (!p)
		return PRUNE_ERR_NOMEM;
	p->gran = PRUNE_GRANULARITY_WEIGHTS;
	p->n_layers = c->n_layers;
	p->hidden = c->hidden;
	p->ffn = malloc((size_t)c->n_layers * sizeof *p->ffn);
	p->mask = calloc((size_t)c->n_layers * N_SLOTS, sizeof *p->mask);
	if (!p->ffn || !p->mask)
		goto nomem;
	for (int l = 0; l < c->n_layers; l++) {
		p->ffn[l] = m->layers[l].ffn;
		size_t n = (size_t)p->ffn[l] * (size_t)c->hidden;
		for (int s = 0; s < N_SLOTS; s++) {
			if (s == SLOT_GATE && !m->layers[l].gate)
				continue;
			unsigned char *mk = malloc(n);
			if (!mk)
				goto nomem;
			memset(mk, 1, n);
			p->mask[l * N_SLOTS + s] = mk;
		}
	}
	*out = p;
	return PRUNE_OK;
nomem:
	prune_plan_free(p);
	return PRUNE_ERR_NOMEM;
}

static int slot_of(enum config_tensor which)
{
	switch (which) {
	case CONFIG_TENSOR_UP: return SLOT_UP;
	case CONFIG_TENSOR_GATE: return SLOT_GATE;
	case CONFIG_TENSOR_DOWN: return SLOT_DOWN;
	default: return -1;
	}
}

const unsigned char *prune_plan_mask_const(const struct prune_plan *p, int layer,
					   enum config_tensor which)
{
	int s = slot_of(which);
	if (p->gran != PRUNE_GRANULARITY_WEIGHTS || layer < 0 || layer >= p->n_layers || s < 0)
		return NULL;
	return p->mask[layer * N_SLOTS + s];
}

unsigned char *prune_plan_mask(struct prune_plan *p, int layer, enum config_tensor which)
{
	return (unsigned char *)prune_plan_mask_const(p, layer, which);
}

int prune_plan_layer_kept(const struct prune_plan *p, int layer, const int **kept)
{
	if (layer < 0 || layer >= p->n_layers)
		return -1;
	if (p->gran == PRUNE_GRANULARITY_WEIGHTS) {
		*kept = NULL;
		return p->ffn[layer];
	}
	*kept = p->kept[layer];
	return p->k[layer];
}

enum prune_granularity prune_plan_granularity(const struct prune_plan *p)
{
	return p->gran;
}

int prune_plan_n_layers(const struct prune_plan *p)
{
	return p->n_layers;
}

/* Whether p was made for m's layer count and widths (and hidden size / gates for WEIGHTS). */
static bool plan_fits(const struct prune_plan *p, const struct model *m)
{
	if (p->n_layers != m->cfg.n_layers)
		return false;
	for (int l = 0; l < p->n_layers; l++) {
		if (p->ffn[l] != m->layers[l].ffn)
			return false;
		if (p->gran == PRUNE_GRANULARITY_WEIGHTS &&
		    (p->hidden != m->cfg.hidden || !p->mask[l * N_SLOTS + SLOT_UP] ||
		     !p->mask[l * N_SLOTS + SLOT_DOWN] ||
		     !p->mask[l * N_SLOTS + SLOT_GATE] != !m->layers[l].gate))
			return false;
	}
	return true;
}

struct scored {
	double s;
	int layer, idx;
};

/* larger score first, then lower layer, then lower index */
static int cmp_scored(const void *pa, const void *pb)
{
	const struct scored *a = pa, *b = pb;
	if (a->s != b->s)
		return a->s > b->s ? -1 : 1;
	if (a->layer != b->layer)
		return a->layer < b->layer ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Fills p's layers from per-layer keep flags. */
static void plan_from_flags(struct prune_plan *p, unsigned char *const *keep)
{
	for (int l = 0; l < p->n_layers; l++) {
		int k = 0;
		for (int i = 0; i < p->ffn[l]; i++)
			if (keep[l][i])
				p->kept[l][k++] = i;
		p->k[l] = k;
	}
}

static int global_flags(unsigned char **keep, const struct prune_plan *p,
			const float *const *scores, double ratio)
{
	int L = p->n_layers;
	size_t total = 0;
	for (int l = 0; l < L; l++)
		total += (size_t)p->ffn[l];
	long removed = lround(ratio * (double)total);
	size_t kept_total = total - (size_t)removed;
	if (kept_total < (size_t)L)
		return PRUNE_ERR_RATIO;
	struct scored *all = malloc(total * sizeof *all);
	if (!all)
		return PRUNE_ERR_NOMEM;
	size_t n = 0;
	for (int l = 0; l < L; l++) {
		double mean = 0;
		for (int i = 0; i < p->ffn[l]; i++)
			mean += fabs((double)scores[l][i]);
		mean /= p->ffn[l];
		double scale = mean > 0 && isfinite(mean) ? 1.0 / mean : 1.0;
		int best = 0;
		for (int i = 1; i < p->ffn[l]; i++)
			if (scores[l][i] > scores[l][best])
				best = i;
		memset(keep[l], 0, (size_t)p->ffn[l]);
		keep[l][best] = 1; /* every layer keeps its best neuron */
		for (int i = 0; i < p->ffn[l]; i++)
			if (i != best)
				all[n++] = (struct scored){scores[l][i] * scale, l, i};
	}
	qsort(all, n, sizeof *all, cmp_scored);
	for (size_t t = 0; t < kept_total - (size_t)L; t++)
		keep[all[t].layer][all[t].idx] = 1;
	free(all);
	return PRUNE_OK;
}

int prune_plan_from_scores(struct prune_plan **out, const struct model *m,
			   const float *const *scores, double ratio, bool global)
{
	int L = m->cfg.n_layers, rc;
	if (!(ratio >= 0.0 && ratio < 1.0))
		return PRUNE_ERR_RATIO;
	for (int l = 0; l < L; l++)
		for (int i = 0; i < m->layers[l].ffn; i++)
			if (!isfinite(scores[l][i]))
				return PRUNE_ERR_SCORES;
	int ffn[CONFIG_MAX_LAYERS];
	for (int l = 0; l < L; l++)
		ffn[l] = m->layers[l].ffn;
	struct prune_plan *p = NULL;
	unsigned char **keep = calloc((size_t)L, sizeof *keep);
	if (!keep)
		return PRUNE_ERR_NOMEM;
	rc = prune_plan_new_rows(&p, L, ffn);
	if (rc)
		goto out;
	rc = PRUNE_ERR_NOMEM;
	for (int l = 0; l < L; l++)
		if (!(keep[l] = malloc((size_t)ffn[l])))
			goto out;
	if (global) {
		rc = global_flags(keep, p, scores, ratio);
		if (rc)
			goto out;
	} else {
		for (int l = 0; l < L; l++) {
			int k = scorers_keep_count(ffn[l], ratio);
			if (k < 0) {
				rc = PRUNE_ERR_RATIO;
				goto out;
			}
			if (scorers_topk(keep[l], scores[l], ffn[l], k)) {
				rc = PRUNE_ERR_NOMEM;
				goto out;
			}
		}
	}
	plan_from_flags(p, keep);
	*out = p;
	p = NULL;
	rc = PRUNE_OK;
out:
	for (int l = 0; l < L; l++)
		free(keep[l]);
	free(keep);
	prune_plan_free(p);
	return rc;
}

/* ---- counts ---- */

static const enum config_tensor ffn_tensors[] = {
	CONFIG_TENSOR_UP, CONFIG_TENSOR_UP_BIAS, CONFIG_TENSOR_GATE,
	CONFIG_TENSOR_GATE_BIAS, CONFIG_TENSOR_DOWN, CONFIG_TENSOR_DOWN_BIAS,
};
#define N_FFN_TENSORS (sizeof ffn_tensors / sizeof ffn_tensors[0])

/* Parameters of layer l's FFN tensors if it had `width` neurons. */
static size_t layer_ffn_params(const struct config *c, int l, int width)
{
	size_t n = 0;
	for (size_t t = 0; t < N_FFN_TENSORS; t++) {
		if (!config_tensor_needed(c, ffn_tensors[t]))
			continue;
		long long shape[2];
		int nd = model_expected_shape(c, ffn_tensors[t], l, shape);
		size_t ne = nd == 2 ? (size_t)shape[0] * (size_t)shape[1] : (size_t)shape[0];
		if (ffn_tensors[t] != CONFIG_TENSOR_DOWN_BIAS)
			ne = ne / (size_t)c->layer_ffn[l] * (size_t)width;
		n += ne;
	}
	return n;
}

static size_t count_ones(const unsigned char *mk, size_t n)
{
	size_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += mk[i] != 0;
	return s;
}

int prune_plan_count(struct prune_counts *out, const struct prune_plan *p, const struct model *m)
{
	if (!plan_fits(p, m))
		return PRUNE_ERR_PLAN;
	const struct config *c = &m->cfg;
	struct prune_counts r = {0};
	r.width = 0;
	for (int l = 0; l < c->n_layers; l++) {
		r.ffn_params_before += layer_ffn_params(c, l, m->layers[l].ffn);
		if (p->gran == PRUNE_GRANULARITY_ROWS) {
			r.ffn_params_after += layer_ffn_params(c, l, p->k[l]);
			if (p->k[l] > r.width)
				r.width = p->k[l];
		} else {
			size_t whole = layer_ffn_params(c, l, m->layers[l].ffn);
			size_t mat = (size_t)m->layers[l].ffn * (size_t)c->hidden;
			for (int s = 0; s < N_SLOTS; s++) {
				const unsigned char *mk = p->mask[l * N_SLOTS + s];
				if (mk)
					whole -= mat - count_ones(mk, mat);
			}
			r.ffn_params_after += whole;
			if (m->layers[l].ffn > r.width)
				r.width = m->layers[l].ffn;
		}
	}
	if (p->gran == PRUNE_GRANULARITY_ROWS)
		for (int l = 0; l < c->n_layers; l++)
			r.ffn_params_stored += layer_ffn_params(c, l, r.width);
	else
		r.ffn_params_stored = r.ffn_params_before;
	r.params_before = m->n_params;
	r.params_after = m->n_params - r.ffn_params_before + r.ffn_params_after;
	r.params_stored = m->n_params - r.ffn_params_before + r.ffn_params_stored;
	*out = r;
	return PRUNE_OK;
}

/* ---- in-memory application ---- */

int prune_check_base(const struct model *m, const struct model *base)
{
	const struct config *a = &m->cfg, *b = &base->cfg;
	if (a->family != b->family || a->n_layers != b->n_layers || a->hidden != b->hidden ||
	    a->gated != b->gated)
		return PRUNE_ERR_BASE_SHAPE;
	for (int l = 0; l < a->n_layers; l++)
		if (m->layers[l].ffn != base->layers[l].ffn)
			return PRUNE_ERR_BASE_SHAPE;
	return PRUNE_OK;
}

int prune_apply(struct model *m, const struct prune_plan *p, const struct model *base)
{
	if (!plan_fits(p, m))
		return PRUNE_ERR_PLAN;
	if (base && p->gran == PRUNE_GRANULARITY_ROWS)
		return PRUNE_ERR_ARG;
	if (base && prune_check_base(m, base))
		return PRUNE_ERR_BASE_SHAPE;
	int H = m->cfg.hidden;
	for (int l = 0; l < p->n_layers; l++) {
		struct model_layer *L = &m->layers[l];
		int F = L->ffn;
		if (p->gran == PRUNE_GRANULARITY_ROWS) {
			int t = 0;
			for (int i = 0; i < F; i++) {
				if (t < p->k[l] && p->kept[l][t] == i) {
					t++;
					continue;
				}
				memset(L->up + (size_t)i * H, 0, (size_t)H * sizeof(float));
				if (L->gate)
					memset(L->gate + (size_t)i * H, 0, (size_t)H * sizeof(float));
				if (L->b_up)
					L->b_up[i] = 0;
				if (L->b_gate)
					L->b_gate[i] = 0;
				for (int r = 0; r < H; r++)
					L->down[(size_t)r * F + i] = 0;
			}
			continue;
		}
		float *mats[N_SLOTS] = {L->up, L->gate, L->down};
		const struct model_layer *B = base ? &base->layers[l] : NULL;
		const float *bmats[N_SLOTS] = {B ? B->up : NULL, B ? B->gate : NULL, B ? B->down : NULL};
		size_t n = (size_t)F * (size_t)H;
		for (int s = 0; s < N_SLOTS; s++) {
			const unsigned char *mk = p->mask[l * N_SLOTS + s];
			if (!mk || !mats[s])
				continue;
			for (size_t i = 0; i < n; i++)
				if (!mk[i])
					mats[s][i] = bmats[s] ? bmats[s][i] : 0.0f;
		}
	}
	return PRUNE_OK;
}

/* ---- the writer: file system helpers ---- */

/* buf = dir/name; -1 if it does not fit */
static int path_join(char *buf, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Removes path and everything under it without following symlinks. Best effort: returns -1 if
 * anything could not be removed. */
static int remove_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(sb.st_mode))
		return unlink(path);
	int bad = 0;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	char child[PATH_MAX];
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= sizeof child) {
			bad = -1;
			continue;
		}
		if (remove_tree(child))
			bad = -1;
	}
	closedir(d);
	if (rmdir(path))
		bad = -1;
	return bad;
}

static int fsync_path(const char *path, bool dir)
{
	int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Creates path (must not exist) holding data, fsynced. */
static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, data, len);
	if (!rc)
		rc = fsync(fd);
	if (close(fd))
		rc = -1;
	return rc;
}

/* Copies src to dst (new file, fsynced). Returns 1 if src does not exist, 0 on success, -1 on
 * failure (errno set). */
static int copy_file(const char *dst, const char *src)
{
	int in = open(src, O_RDONLY);
	if (in < 0)
		return errno == ENOENT ? 1 : -1;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (out < 0) {
		int e = errno;
		close(in);
		errno = e;
		return -1;
	}
	char buf[1 << 16];
	int rc = 0;
	for (;;) {
		ssize_t r = read(in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		if (write_all(out, buf, (size_t)r)) {
			rc = -1;
			break;
		}
	}
	int e = errno;
	if (!rc)
		rc = fsync(out);
	if (close(out))
		rc = -1;
	close(in);
	if (rc)
		errno = e ? e : EIO;
	return rc;
}

/* 1 if dir holds no entry, 0 if it holds some, -1 on error */
static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/* a == b or a lies under b (both canonical absolute paths) */
static bool path_under(const char *a, const char *b)
{
	size_t n = strlen(b);
	if (n == 1 && b[0] == '/')
		return true;
	return !strncmp(a, b, n) && (a[n] == '\0' || a[n] == '/');
}

/* Output path checks. out_path gets out_dir without trailing slashes; *exists tells whether it
 * exists (as an empty or non-empty directory: *empty). */
static int check_paths(const char *in_dir, const char *out_dir, bool force, char *out_path,
		       size_t cap, bool *exists, bool *empty, char *err, size_t errlen)
{
	char in_real[PATH_MAX], out_real[PATH_MAX], parent[PATH_MAX];
	size_t n = strlen(out_dir);
	while (n > 1 && out_dir[n - 1] == '/')
		n--;
	if (n == 0 || n >= cap)
		return fail(err, errlen, PRUNE_ERR_ARG, "bad output directory \"%s\"", out_dir);
	memcpy(out_path, out_dir, n);
	out_path[n] = '\0';
	if (!realpath(in_dir, in_real))
		return fail(err, errlen, PRUNE_ERR_IO, "%s: %s", in_dir, strerror(errno));
	struct stat sb;
	*exists = lstat(out_path, &sb) == 0;
	if (!*exists && errno != ENOENT)
		return fail(err, errlen, PRUNE_ERR_IO, "%s: %s", out_path, strerror(errno));
	if (*exists) {
		if (!realpath(out_path, out_real))
			return fail(err, errlen, PRUNE_ERR_IO, "%s: %s", out_path, strerror(errno));
	} else {
		const char *slash = strrchr(out_path, '/');
		const char *base = slash ? slash + 1 : out_path;
		if (!slash)
			snprintf(parent, sizeof parent, ".");
		else if (slash == out_path)
			snprintf(parent, sizeof parent, "/");
		else
			snprintf(parent, sizeof parent, "%.*s", (int)(slash - out_path), out_path);
		if (!strcmp(base, ".") || !strcmp(base, ".."))
			return fail(err, errlen, PRUNE_ERR_ARG, "bad output directory \"%s\"", out_dir);
		char pr[PATH_MAX];
		if (!realpath(parent, pr))
			return fail(err, errlen, PRUNE_ERR_IO, "%s: %s", parent, strerror(errno));
		if ((size_t)snprintf(out_real, sizeof out_real, "%s/%s",
				     strcmp(pr, "/") ? pr : "", base) >= sizeof out_real)
			return fail(err, errlen, PRUNE_ERR_ARG, "output path too long");
	}
	if (!strcmp(out_real, in_real))
		return fail(err, errlen, PRUNE_ERR_OUT_IS_INPUT, "%s is the input directory", out_dir);
	if (path_under(out_real, in_real))
		return fail(err, errlen, PRUNE_ERR_OUT_INSIDE_INPUT, "%s is inside the input directory %s",
			    out_dir, in_dir);
	if (path_under(in_real, out_real))
		return fail(err, errlen, PRUNE_ERR_OUT_CONTAINS_INPUT,
			    "%s contains the input directory %s", out_dir, in_dir);
	*empty = true;
	if (*exists) {
		if (!S_ISDIR(sb.st_mode))
			return fail(err, errlen, PRUNE_ERR_OUT_NOT_EMPTY,
				    "%s exists and is not a directory", out_dir);
		int e = dir_is_empty(out_path);
		if (e < 0)
			return fail(err, errlen, PRUNE_ERR_IO, "%s: %s", out_dir, strerror(errno));
		*empty = e == 1;
		if (!*empty && !force)
			return fail(err, errlen, PRUNE_ERR_OUT_NOT_EMPTY,
				    "%s exists and is not empty (force replaces it)", out_dir);
	}
	return PRUNE_OK;
}

int prune_check_out(const char *in_dir, const char *out_dir, bool force, char *err, size_t errlen)
{
	char out_path[PATH_MAX];
	bool exists, empty;
	return check_paths(in_dir, out_dir, force, out_path, sizeof out_path, &exists, &empty, err,
			   errlen);
}

/* ---- the writer: tensors ---- */

/* One FFN tensor of the input: which layer and role. */
struct ffn_ref {
	int layer;
	enum config_tensor which;
};

/* Finds whether tensor `name` is an FFN tensor of m (layer, role); false otherwise. */
static bool find_ffn_tensor(const struct config *c, const char *name, struct ffn_ref *ref)
{
	char buf[256];
	for (int l = 0; l < c->n_layers; l++)
		for (size_t t = 0; t < N_FFN_TENSORS; t++) {
			if (ffn_tensors[t] == CONFIG_TENSOR_DOWN_BIAS)
				continue; /* (hidden): never changes */
			if (config_tensor_name(buf, sizeof buf, c, ffn_tensors[t], l))
				continue;
			if (!strcmp(buf, name)) {
				*ref = (struct ffn_ref){l, ffn_tensors[t]};
				return true;
			}
		}
	return false;
}

/* The stored tensor's (rows, cols) view and which axis holds the neurons (0 rows, 1 cols).
 * Vectors are (1, n) with the neuron axis 1. */
static void ffn_axis(const struct config *c, enum config_tensor which, const int64_t *shape,
		     int ndim, size_t *rows, size_t *cols, int *axis)
{
	if (ndim == 1) {
		*rows = 1;
		*cols = (size_t)shape[0];
		*axis = 1;
		return;
	}
	*rows = (size_t)shape[0];
	*cols = (size_t)shape[1];
	bool up = which == CONFIG_TENSOR_UP || which == CONFIG_TENSOR_GATE;
	/* (out, in): up/gate neurons are rows, down's are columns; Conv1D stores the transpose. */
	*axis = (up != c->conv1d) ? 0 : 1;
}

/* dst = src (rows, cols) of esize-byte elements with the neuron axis cut to kept (k) and padded
 * with zero elements to width. */
static void slice_tensor(unsigned char *dst, const unsigned char *src, size_t rows, size_t cols,
			 size_t esize, int axis, const int *kept, int k, int width)
{
	if (axis == 0) {
		size_t row_bytes = cols * esize;
		for (int t = 0; t < k; t++)
			memcpy(dst + (size_t)t * row_bytes, src + (size_t)kept[t] * row_bytes, row_bytes);
		memset(dst + (size_t)k * row_bytes, 0, (size_t)(width - k) * row_bytes);
		return;
	}
	for (size_t r = 0; r < rows; r++) {
		unsigned char *d = dst + r * (size_t)width * esize;
		const unsigned char *s = src + r * cols * esize;
		for (int t = 0; t < k; t++)
			memcpy(d + (size_t)t * esize, s + (size_t)kept[t] * esize, esize);
		memset(d + (size_t)k * esize, 0, (size_t)(width - k) * esize);
	}
}

/* Masked entries of dst (a copy of the stored tensor) become 0 or base's value. mask is in
 * canonical (out, in) order, (crows, ccols); the stored tensor is its transpose when conv. */
static void mask_tensor(unsigned char *dst, const unsigned char *mask, size_t crows, size_t ccols,
			bool conv, size_t esize, enum safetensors_dtype dt,
			const unsigned char *base_raw, const float *base_f32)
{
	for (size_t r = 0; r < crows; r++)
		for (size_t c = 0; c < ccols; c++) {
			size_t ci = r * ccols + c;
			if (mask[ci])
				continue;
			size_t si = conv ? c * crows + r : ci;
			unsigned char *d = dst + si * esize;
			if (base_raw)
				memcpy(d, base_raw + si * esize, esize);
			else if (base_f32)
				safetensors_convert_from_f32(d, dt, &base_f32[ci], 1);
			else
				memset(d, 0, esize);
		}
}

static const float *canonical_matrix(const struct model *m, int l, enum config_tensor which)
{
	const struct model_layer *L = &m->layers[l];
	return which == CONFIG_TENSOR_UP ? L->up : which == CONFIG_TENSOR_GATE ? L->gate : L->down;
}

/* Builds the list of tensors to write: entries (n) point into the mapping or into bufs
 * (owned; freed by the caller whether or not this fails). */
static int build_entries(struct safetensors_entry *entries, unsigned char **bufs,
			 const struct model *m, const struct prune_plan *p, const struct model *base,
			 int width, char *err, size_t errlen)
{
	const struct config *c = &m->cfg;
	int n = safetensors_count(m->st);
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(m->st, i);
		struct safetensors_entry *e = &entries[i];
		e->name = t->name;
		e->dtype = t->dtype;
		e->ndim = t->ndim;
		memcpy(e->shape, t->shape, sizeof e->shape);
		e->data = t->data;
		struct ffn_ref ref;
		if (!find_ffn_tensor(c, t->name, &ref))
			continue;
		bool matrix = ref.which == CONFIG_TENSOR_UP || ref.which == CONFIG_TENSOR_GATE ||
			      ref.which == CONFIG_TENSOR_DOWN;
		if (p->gran == PRUNE_GRANULARITY_WEIGHTS && !matrix)
			continue; /* biases are never masked */
		long long want[2];
		int nd = model_expected_shape(c, ref.which, ref.layer, want);
		if (t->ndim != nd || t->shape[0] != want[0] || (nd == 2 && t->shape[1] != want[1]))
			return fail(err, errlen, PRUNE_ERR_INPUT,
				    "tensor %s: stored shape disagrees with the model", t->name);
		size_t esize = safetensors_dtype_size(t->dtype), rows, cols;
		int axis;
		ffn_axis(c, ref.which, t->shape, t->ndim, &rows, &cols, &axis);
		if (p->gran == PRUNE_GRANULARITY_ROWS) {
			int l = ref.layer;
			size_t other = axis == 0 ? cols : rows;
			bufs[i] = malloc(other * (size_t)width * esize + 1);
			if (!bufs[i])
				return fail(err, errlen, PRUNE_ERR_NOMEM, "out of memory slicing %s", t->name);
			slice_tensor(bufs[i], t->data, rows, cols, esize, axis, p->kept[l], p->k[l], width);
			if (t->ndim == 1)
				e->shape[0] = width;
			else
				e->shape[axis] = width;
		} else {
			const unsigned char *mk = prune_plan_mask_const(p, ref.layer, ref.which);
			if (!mk)
				return fail(err, errlen, PRUNE_ERR_PLAN, "plan has no mask for %s", t->name);
			bufs[i] = malloc(t->nbytes + 1);
			if (!bufs[i])
				return fail(err, errlen, PRUNE_ERR_NOMEM, "out of memory masking %s", t->name);
			memcpy(bufs[i], t->data, t->nbytes);
			const unsigned char *braw = NULL;
			const float *bf = NULL;
			if (base) {
				char bname[256];
				const struct safetensors_tensor *bt = NULL;
				if (!config_tensor_name(bname, sizeof bname, &base->cfg, ref.which, ref.layer))
					bt = safetensors_find(base->st, bname);
				if (!bt || bt->ndim != t->ndim || bt->shape[0] != t->shape[0] ||
				    bt->shape[1] != t->shape[1])
					return fail(err, errlen, PRUNE_ERR_BASE_SHAPE,
						    "base model: no tensor matching %s", t->name);
				if (bt->dtype == t->dtype)
					braw = bt->data;
				else
					bf = canonical_matrix(base, ref.layer, ref.which);
			}
			/* canonical (out, in): (ffn, hidden) for up/gate, (hidden, ffn) for down */
			size_t F = (size_t)m->layers[ref.layer].ffn, H = (size_t)c->hidden;
			bool upg = ref.which != CONFIG_TENSOR_DOWN;
			mask_tensor(bufs[i], mk, upg ? F : H, upg ? H : F, c->conv1d, esize, t->dtype,
				    braw, bf);
		}
		e->data = bufs[i];
	}
	return PRUNE_OK;
}

/* ---- the writer: JSON ---- */

static int write_json(const char *path, cJSON *root)
{
	char *s = cJSON_Print(root);
	if (!s)
		return -2;
	size_t len = strlen(s);
	s[len] = '\n'; /* replaces the NUL; length known */
	int rc = write_file(path, s, len + 1);
	cJSON_free(s);
	return rc;
}

/* config.json of the ROWS output: the input's object with the FFN width replaced. */
static int write_config(const char *path, const char *src, const struct config *c, int width,
			char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	if (eval_read_file(src, &text, &len))
		return fail(err, errlen, PRUNE_ERR_INPUT, "%s: unreadable", src);
	int rc = PRUNE_OK;
	cJSON *root = cJSON_ParseWithLength(text, len);
	free(text);
	if (!root || !cJSON_IsObject(root)) {
		rc = fail(err, errlen, PRUNE_ERR_INPUT, "%s: not a JSON object", src);
		goto out;
	}
	cJSON *num = cJSON_CreateNumber(width);
	if (!num) {
		rc = fail(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (cJSON_HasObjectItem(root, c->ffn_key))
		cJSON_ReplaceItemInObjectCaseSensitive(root, c->ffn_key, num);
	else
		cJSON_AddItemToObject(root, c->ffn_key, num);
	int w = write_json(path, root);
	if (w == -2)
		rc = fail(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
	else if (w)
		rc = fail(err, errlen, PRUNE_ERR_IO, "%s: %s", path, strerror(errno));
out:
	cJSON_Delete(root);
	return rc;
}

static cJSON *string_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static const char *note_for(const struct prune_plan *p, bool padded, bool base)
{
	if (p->gran == PRUNE_GRANULARITY_WEIGHTS)
		return base ? "Unstructured pruning: pruned FFN weights were reset to the base model's "
			      "values; shapes and config.json are unchanged, so this checkpoint by itself "
			      "saves no memory and no time."
			    : "Unstructured pruning: pruned FFN weights were set to zero; shapes and "
			      "config.json are unchanged, so this checkpoint by itself saves no memory and "
			      "no time (that needs sparse storage or sparse kernels).";
	return padded ? "Structured pruning with a global budget: layers keep different numbers of "
			"FFN neurons (kept_per_layer), but config.json can express only one FFN width, "
			"so every layer is padded with zero neurons (zero up/gate rows and biases, zero "
			"down columns; they add exactly 0 to the output) up to ffn_width. params_after "
			"counts real parameters; params_stored counts what the file holds."
		      : "Structured pruning: removed FFN neurons were sliced out of up/gate/down; the "
			"checkpoint is smaller and faster by itself.";
}

static int write_report(const char *path, const struct prune_plan *p, const struct prune_info *info,
			const struct prune_counts *cn, bool base)
{
	cJSON *r = cJSON_CreateObject();
	if (!r)
		return -2;
	char seed[32];
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)info->seed);
	bool padded = false;
	cJSON_AddStringToObject(r, "yopo_version", YOPO_VERSION);
	cJSON_AddStringToObject(r, "method", info->method);
	cJSON_AddNumberToObject(r, "ratio", info->ratio);
	cJSON_AddStringToObject(r, "granularity", prune_granularity_name(p->gran));
	cJSON_AddBoolToObject(r, "global", info->global);
	cJSON_AddRawToObject(r, "seed", seed); /* exact u64, beyond double precision */
	cJSON_AddItemToObject(r, "policy_sha256", string_or_null(info->policy_sha256));
	if (info->calib_file) {
		cJSON *cal = cJSON_AddObjectToObject(r, "calibration");
		if (cal) {
			cJSON_AddStringToObject(cal, "file", info->calib_file);
			cJSON_AddNumberToObject(cal, "tokens", (double)info->calib_tokens);
		}
	} else {
		cJSON_AddNullToObject(r, "calibration");
	}
	cJSON_AddItemToObject(r, "base", string_or_null(info->base_dir));
	cJSON_AddNumberToObject(r, "params_before", (double)cn->params_before);
	cJSON_AddNumberToObject(r, "params_after", (double)cn->params_after);
	cJSON_AddNumberToObject(r, "params_stored", (double)cn->params_stored);
	cJSON_AddNumberToObject(r, "ffn_params_before", (double)cn->ffn_params_before);
	cJSON_AddNumberToObject(r, "ffn_params_after", (double)cn->ffn_params_after);
	cJSON_AddNumberToObject(r, "ffn_params_stored", (double)cn->ffn_params_stored);
	cJSON_AddNumberToObject(r, "ffn_width", cn->width);
	cJSON *kpl = cJSON_AddArrayToObject(r, "kept_per_layer");
	for (int l = 0; kpl && l < p->n_layers; l++) {
		int k = p->gran == PRUNE_GRANULARITY_ROWS ? p->k[l] : p->ffn[l];
		padded |= k != cn->width;
		cJSON_AddItemToArray(kpl, cJSON_CreateNumber(k));
	}
	if (p->gran == PRUNE_GRANULARITY_ROWS) {
		cJSON *ki = cJSON_AddArrayToObject(r, "kept_indices");
		for (int l = 0; ki && l < p->n_layers; l++)
			cJSON_AddItemToArray(ki, cJSON_CreateIntArray(p->kept[l], p->k[l]));
	}
	cJSON_AddStringToObject(r, "note", note_for(p, padded, base));
	int rc = write_json(path, r);
	cJSON_Delete(r);
	return rc;
}

/* ---- the writer ---- */

static const char *const extra_files[] = {
	"tokenizer.json", "tokenizer_config.json", "generation_config.json",
	"special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model",
};

/* Fills the temp dir tmp with everything. */
static int fill_dir(const char *tmp, const struct model *m, const char *in_dir,
		    const struct prune_plan *p, const struct model *base,
		    const struct prune_info *info, const struct prune_counts *cn, char *err,
		    size_t errlen)
{
	char path[PATH_MAX], src[PATH_MAX];
	int n = safetensors_count(m->st), rc;
	struct safetensors_entry *entries = calloc((size_t)n + 1, sizeof *entries);
	unsigned char **bufs = calloc((size_t)n + 1, sizeof *bufs);
	if (!entries || !bufs) {
		rc = fail(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = build_entries(entries, bufs, m, p, base, cn->width, err, errlen);
	if (rc)
		goto out;
	const char *fmt = safetensors_metadata(m->st, "format");
	const char *meta[2] = {"format", fmt ? fmt : "pt"};
	char cfg_path[PATH_MAX];
	if (path_join(path, sizeof path, tmp, "model.safetensors") ||
	    path_join(cfg_path, sizeof cfg_path, tmp, "config.json") ||
	    path_join(src, sizeof src, in_dir, "config.json")) {
		rc = fail(err, errlen, PRUNE_ERR_ARG, "path too long");
		goto out;
	}
	int sr = safetensors_write(path, entries, n, meta, 1);
	if (sr) {
		rc = fail(err, errlen,
			  sr == SAFETENSORS_ERR_NOMEM ? PRUNE_ERR_NOMEM
			  : sr == SAFETENSORS_ERR_ARG ? PRUNE_ERR_INPUT : PRUNE_ERR_IO,
			  "%s: %s%s%s", path, safetensors_strerror(sr),
			  sr == SAFETENSORS_ERR_IO ? ": " : "", sr == SAFETENSORS_ERR_IO ? strerror(errno) : "");
		goto out;
	}
	if (p->gran == PRUNE_GRANULARITY_ROWS) {
		rc = write_config(cfg_path, src, &m->cfg, cn->width, err, errlen);
		if (rc)
			goto out;
	} else {
		if (copy_file(cfg_path, src)) {
			rc = fail(err, errlen, PRUNE_ERR_IO, "copying %s: %s", src, strerror(errno));
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof extra_files / sizeof extra_files[0]; i++) {
		if (path_join(path, sizeof path, tmp, extra_files[i]) ||
		    path_join(src, sizeof src, in_dir, extra_files[i])) {
			rc = fail(err, errlen, PRUNE_ERR_ARG, "path too long");
			goto out;
		}
		if (copy_file(path, src) < 0) {
			rc = fail(err, errlen, PRUNE_ERR_IO, "copying %s: %s", src, strerror(errno));
			goto out;
		}
	}
	if (path_join(path, sizeof path, tmp, "yopo_pruning.json")) {
		rc = fail(err, errlen, PRUNE_ERR_ARG, "path too long");
		goto out;
	}
	int w = write_report(path, p, info, cn, base != NULL);
	if (w) {
		rc = w == -2 ? fail(err, errlen, PRUNE_ERR_NOMEM, "out of memory")
			     : fail(err, errlen, PRUNE_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fsync_path(tmp, true))
		rc = fail(err, errlen, PRUNE_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
out:
	for (int i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(entries);
	return rc;
}

/* Parent directory of path (for fsync after rename). */
static void parent_of(char *buf, size_t cap, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, cap, ".");
	else if (slash == path)
		snprintf(buf, cap, "/");
	else
		snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

int prune_write(const struct model *m, const char *in_dir, const struct prune_plan *plan,
		const struct model *base, const struct prune_info *info, const char *out_dir,
		bool force, char *err, size_t errlen)
{
	char out_path[PATH_MAX], tmp[PATH_MAX], old[PATH_MAX], parent[PATH_MAX];
	bool exists = false, empty = true, have_tmp = false;
	int rc;
	if (!info || !info->method)
		return fail(err, errlen, PRUNE_ERR_ARG, "no method given for yopo_pruning.json");
	if (!plan_fits(plan, m))
		return fail(err, errlen, PRUNE_ERR_PLAN, "plan does not fit the model's layers");
	if (base && plan->gran == PRUNE_GRANULARITY_ROWS)
		return fail(err, errlen, PRUNE_ERR_ARG, "a base model applies to weights pruning only");
	if (base && prune_check_base(m, base))
		return fail(err, errlen, PRUNE_ERR_BASE_SHAPE,
			    "base model differs in family, layers or FFN sizes");
	struct prune_counts cn;
	prune_plan_count(&cn, plan, m);
	rc = check_paths(in_dir, out_dir, force, out_path, sizeof out_path, &exists, &empty, err,
			 errlen);
	if (rc)
		return rc;
	/* "<out>.tmp-<pid>-XXXXXX", mode 0777 & ~umask (util/output.h) */
	if ((rc = util_temp_dir_new(tmp, sizeof tmp, out_path, "tmp", err, errlen)))
		return rc == UTIL_ERR_ARG ? PRUNE_ERR_ARG : PRUNE_ERR_IO;
	have_tmp = true;
	rc = fill_dir(tmp, m, in_dir, plan, base, info, &cn, err, errlen);
	if (rc)
		goto out;
	parent_of(parent, sizeof parent, out_path);
	if (exists && !empty) {
		/* move the old directory aside, put the new one in place, then delete the old one */
		if (util_temp_dir_new(old, sizeof old, out_path, "old", err, errlen)) {
			rc = PRUNE_ERR_IO;
			goto out;
		}
		if (rename(out_path, old)) {
			rc = fail(err, errlen, PRUNE_ERR_IO, "moving %s aside: %s", out_path,
				  strerror(errno));
			rmdir(old);
			goto out;
		}
		if (rename(tmp, out_path)) {
			rc = fail(err, errlen, PRUNE_ERR_IO, "renaming %s to %s: %s", tmp, out_path,
				  strerror(errno));
			rename(old, out_path);
			goto out;
		}
		have_tmp = false;
		remove_tree(old); /* best effort: the new output is already complete and in place */
	} else {
		/* rename() replaces an empty directory atomically */
		if (rename(tmp, out_path)) {
			rc = fail(err, errlen, errno == ENOTEMPTY || errno == EEXIST ? PRUNE_ERR_OUT_NOT_EMPTY
										    : PRUNE_ERR_IO,
				  "renaming %s to %s: %s", tmp, out_path, strerror(errno));
			goto out;
		}
		have_tmp = false;
	}
	fsync_path(parent, true); /* best effort, as safetensors_write: the rename has happened */
out:
	if (have_tmp)
		remove_tree(tmp);
	return rc;
}
