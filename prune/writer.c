/* writer: the atomic writer of a pruned checkpoint (sliced or masked safetensors, rewritten
 * config.json, copied tokenizer files, yopo_pruning.json). See writer.h. */
#include "writer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "file.h"
#include "output.h"
#include "json.h"
#include "plan_impl.h"
#include "yopo_version.h"

/* ---- the writer: destination checks ---- */

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
		return err_set(err, errlen, PRUNE_ERR_ARG, "bad output directory \"%s\"", out_dir);
	memcpy(out_path, out_dir, n);
	out_path[n] = '\0';
	if (!realpath(in_dir, in_real))
		return err_set(err, errlen, PRUNE_ERR_IO, "%s: %s", in_dir, strerror(errno));
	struct stat sb;
	*exists = lstat(out_path, &sb) == 0;
	if (!*exists && errno != ENOENT)
		return err_set(err, errlen, PRUNE_ERR_IO, "%s: %s", out_path, strerror(errno));
	if (*exists) {
		if (!realpath(out_path, out_real))
			return err_set(err, errlen, PRUNE_ERR_IO, "%s: %s", out_path, strerror(errno));
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
			return err_set(err, errlen, PRUNE_ERR_ARG, "bad output directory \"%s\"", out_dir);
		char pr[PATH_MAX];
		if (!realpath(parent, pr))
			return err_set(err, errlen, PRUNE_ERR_IO, "%s: %s", parent, strerror(errno));
		if ((size_t)snprintf(out_real, sizeof out_real, "%s/%s",
				     strcmp(pr, "/") ? pr : "", base) >= sizeof out_real)
			return err_set(err, errlen, PRUNE_ERR_ARG, "output path too long");
	}
	if (!strcmp(out_real, in_real))
		return err_set(err, errlen, PRUNE_ERR_OUT_IS_INPUT, "%s is the input directory", out_dir);
	if (path_under(out_real, in_real))
		return err_set(err, errlen, PRUNE_ERR_OUT_INSIDE_INPUT, "%s is inside the input directory %s",
			    out_dir, in_dir);
	if (path_under(in_real, out_real))
		return err_set(err, errlen, PRUNE_ERR_OUT_CONTAINS_INPUT,
			    "%s contains the input directory %s", out_dir, in_dir);
	*empty = true;
	if (*exists) {
		if (!S_ISDIR(sb.st_mode))
			return err_set(err, errlen, PRUNE_ERR_OUT_NOT_EMPTY,
				    "%s exists and is not a directory", out_dir);
		int e = util_dir_is_empty(out_path);
		if (e < 0)
			return err_set(err, errlen, PRUNE_ERR_IO, "%s: %s", out_dir, strerror(errno));
		*empty = e == 1;
		if (!*empty && !force)
			return err_set(err, errlen, PRUNE_ERR_OUT_NOT_EMPTY,
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
		for (size_t t = 0; t < PRUNE_N_FFN_TENSORS; t++) {
			if (prune_ffn_tensors[t] == CONFIG_TENSOR_DOWN_BIAS)
				continue; /* (hidden): never changes */
			if (config_tensor_name(buf, sizeof buf, c, prune_ffn_tensors[t], l))
				continue;
			if (!strcmp(buf, name)) {
				*ref = (struct ffn_ref){l, prune_ffn_tensors[t]};
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
		/* constant sizes let the compiler turn each memcpy into one load and store */
		if (esize == 2)
			for (int t = 0; t < k; t++)
				memcpy(d + (size_t)t * 2, s + (size_t)kept[t] * 2, 2);
		else if (esize == 4)
			for (int t = 0; t < k; t++)
				memcpy(d + (size_t)t * 4, s + (size_t)kept[t] * 4, 4);
		else
			for (int t = 0; t < k; t++)
				memcpy(d + (size_t)t * esize, s + (size_t)kept[t] * esize, esize);
		memset(d + (size_t)k * esize, 0, (size_t)(width - k) * esize);
	}
}

/* Masked entries of dst (a copy of the stored tensor) become 0 or base's value. mask is in
 * canonical (out, in) order, (crows, ccols); the stored tensor is its transpose when conv.
 * base_raw holds base's stored bytes in dst's dtype, base_f32 base's stored elements as f32
 * (another dtype); both NULL: zeros. */
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
				safetensors_convert_from_f32(d, dt, &base_f32[si], 1);
			else
				memset(d, 0, esize);
		}
}

/* Everything the tensor producer (safetensors_write_views' view) needs. One output tensor is
 * built at a time (sliced or masked into buf, or read straight from the mapping), handed out
 * in chunks, then its input pages evicted, so memory holds one tensor, not the model. buf is
 * reused from tensor to tensor: a fresh allocation per tensor costs one page fault per 4 KiB,
 * which in this project's virtual machines was a third of a streamed prune's time. */
struct producer {
	const struct model *m;
	const struct prune_plan *p;        /* ROWS plan, or a WEIGHTS plan with masks, or NULL */
	const struct prune_masks *masks;   /* WEIGHTS masks on demand (when p is NULL) */
	const struct prune_rows *rows;     /* ROWS kept neurons on demand (may be NULL) */
	int *k0;                           /* (n_layers) with rows: each layer's count before fill */
	bool *filled;                      /* (n_layers) with rows: the layers filled so far */
	const struct model *base;
	enum prune_granularity gran;
	int width;
	const struct safetensors_tensor **src; /* (n) input tensor of each output entry */
	int cur;                           /* entry being produced, -1 none */
	unsigned char *buf;                /* its bytes when built; kept across tensors */
	size_t cap;                        /* bytes allocated at buf */
	const unsigned char *data;         /* its bytes (buf or the mapping) */
	size_t off;
	size_t zeros;                      /* WEIGHTS: masked entries so far */
	size_t done, total;                /* input tensor bytes finished / in all (progress) */
	char *err;
	size_t errlen;
	int rc;
};

static size_t count_zeros(const unsigned char *mk, size_t n)
{
	size_t z = 0;
	for (size_t i = 0; i < n; i++)
		z += !mk[i];
	return z;
}

/* Base's counterpart of t for a masked write: raw bytes when the dtype matches, else a new f32
 * copy (*owned, stored order). */
static int base_values(const unsigned char **raw, float **owned, const struct model *base,
		       const struct safetensors_tensor *t, const struct ffn_ref *ref, char *err,
		       size_t errlen)
{
	char bname[256];
	const struct safetensors_tensor *bt = NULL;
	if (!config_tensor_name(bname, sizeof bname, &base->cfg, ref->which, ref->layer))
		bt = safetensors_find(base->st, bname);
	if (!bt || bt->ndim != t->ndim || bt->shape[0] != t->shape[0] || bt->shape[1] != t->shape[1])
		return err_set(err, errlen, PRUNE_ERR_BASE_SHAPE, "base model: no tensor matching %s",
			       t->name);
	if (bt->dtype == t->dtype) {
		*raw = bt->data;
		return PRUNE_OK;
	}
	if (!(*owned = malloc(bt->nelem * sizeof **owned + 1)))
		return err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory reading base %s", t->name);
	safetensors_read_f32(*owned, bt);
	return PRUNE_OK;
}

/* Makes pr->buf hold at least n bytes (its contents are not kept). */
static int producer_reserve(struct producer *pr, size_t n, const char *name)
{
	if (n <= pr->cap)
		return PRUNE_OK;
	free(pr->buf);
	pr->cap = 0;
	if (!(pr->buf = malloc(n)))
		return err_set(pr->err, pr->errlen, PRUNE_ERR_NOMEM, "out of memory building %s",
			       name);
	pr->cap = n;
	return PRUNE_OK;
}

/* buf = t with the masked weights of matrix ref replaced (WEIGHTS). */
static int build_masked(struct producer *pr, const struct safetensors_tensor *t,
			const struct ffn_ref *ref)
{
	const struct config *c = &pr->m->cfg;
	size_t F = (size_t)pr->m->layers[ref->layer].ffn, H = (size_t)c->hidden;
	bool upg = ref->which != CONFIG_TENSOR_DOWN;
	size_t crows = upg ? F : H, ccols = upg ? H : F;
	unsigned char *own = NULL;
	const unsigned char *mk = pr->p ? prune_plan_mask_const(pr->p, ref->layer, ref->which) : NULL;
	const unsigned char *braw = NULL;
	float *bf = NULL;
	int rc = PRUNE_OK;
	if (!pr->p) {
		if (!(own = malloc(crows * ccols + 1)))
			return err_set(pr->err, pr->errlen, PRUNE_ERR_NOMEM, "out of memory masking %s",
				       t->name);
		rc = pr->masks->fill(pr->masks->ctx, ref->layer, ref->which, own, (int)crows, (int)ccols,
				     pr->err, pr->errlen);
		mk = own;
	} else if (!mk) {
		rc = err_set(pr->err, pr->errlen, PRUNE_ERR_PLAN, "plan has no mask for %s", t->name);
	}
	if (!rc && pr->base)
		rc = base_values(&braw, &bf, pr->base, t, ref, pr->err, pr->errlen);
	if (!rc)
		rc = producer_reserve(pr, t->nbytes + 1, t->name);
	if (!rc) {
		memcpy(pr->buf, t->data, t->nbytes);
		mask_tensor(pr->buf, mk, crows, ccols, c->conv1d, safetensors_dtype_size(t->dtype),
			    t->dtype, braw, bf);
		pr->zeros += count_zeros(mk, crows * ccols);
	}
	free(bf);
	free(own);
	return rc;
}

/* With pr->rows: fills layer's kept neurons unless done; the count must stay what the header
 * was built from. */
static int fill_layer(struct producer *pr, int layer)
{
	if (!pr->rows || pr->filled[layer])
		return PRUNE_OK;
	int rc = pr->rows->fill(pr->rows->ctx, layer, pr->err, pr->errlen);
	if (rc)
		return rc;
	if (pr->p->k[layer] != pr->k0[layer])
		return err_set(pr->err, pr->errlen, PRUNE_ERR_PLAN,
			       "layer %d: kept %d neurons, the output was laid out for %d", layer,
			       pr->p->k[layer], pr->k0[layer]);
	pr->filled[layer] = true;
	return PRUNE_OK;
}

/* Makes entry i current: its bytes sliced, masked or straight from the mapping. */
static int produce_begin(struct producer *pr, int i)
{
	const struct config *c = &pr->m->cfg;
	const struct safetensors_tensor *t = pr->src[i];
	pr->cur = i;
	pr->off = 0;
	pr->data = t->data;
	safetensors_prefetch(t);
	struct ffn_ref ref;
	if (!find_ffn_tensor(c, t->name, &ref))
		return PRUNE_OK;
	bool matrix = ref.which == CONFIG_TENSOR_UP || ref.which == CONFIG_TENSOR_GATE ||
		      ref.which == CONFIG_TENSOR_DOWN;
	if (pr->gran == PRUNE_GRANULARITY_WEIGHTS && !matrix)
		return PRUNE_OK; /* biases are never masked */
	if (pr->gran == PRUNE_GRANULARITY_WEIGHTS) {
		int rc = build_masked(pr, t, &ref);
		pr->data = pr->buf;
		return rc;
	}
	int rc = fill_layer(pr, ref.layer);
	if (rc)
		return rc;
	size_t esize = safetensors_dtype_size(t->dtype), rows, cols;
	int axis;
	ffn_axis(c, ref.which, t->shape, t->ndim, &rows, &cols, &axis);
	size_t other = axis == 0 ? cols : rows;
	int rc2 = producer_reserve(pr, other * (size_t)pr->width * esize + 1, t->name);
	if (rc2)
		return rc2;
	slice_tensor(pr->buf, t->data, rows, cols, esize, axis, pr->p->kept[ref.layer],
		     pr->p->k[ref.layer], pr->width);
	pr->data = pr->buf;
	return PRUNE_OK;
}

static prune_write_progress_fn *write_progress;
static void *write_progress_ctx;

void prune_set_write_progress(prune_write_progress_fn *fn, void *ctx)
{
	write_progress = fn;
	write_progress_ctx = ctx;
}

/* Drops the current entry: its buffer and the input's mapped pages (RSS tracks one tensor). */
static void produce_end(struct producer *pr)
{
	if (pr->cur < 0)
		return;
	safetensors_evict(pr->src[pr->cur]);
	pr->done += pr->src[pr->cur]->nbytes;
	if (write_progress && pr->rc == PRUNE_OK)
		write_progress(write_progress_ctx, pr->done, pr->total);
	pr->cur = -1;
}

/* safetensors_view_fn: the next nbytes of entry `index`, straight from buf or the mapping. */
static const void *produce(void *ctx, int index, size_t nbytes)
{
	struct producer *pr = ctx;
	if (index != pr->cur) {
		produce_end(pr);
		if ((pr->rc = produce_begin(pr, index)))
			return NULL;
	}
	const unsigned char *p = pr->data + pr->off;
	pr->off += nbytes;
	return p;
}

/* entries[i] describes output tensor i (taken from input tensor src[i]): its shape after slicing;
 * data stays NULL (the producer supplies it). Checks every FFN tensor's stored shape. */
static int describe_entry(struct safetensors_entry *e, const struct safetensors_tensor *t,
			  const struct config *c, enum prune_granularity gran, int width, char *err,
			  size_t errlen)
{
	*e = (struct safetensors_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim};
	memcpy(e->shape, t->shape, sizeof e->shape);
	struct ffn_ref ref;
	if (!find_ffn_tensor(c, t->name, &ref))
		return PRUNE_OK;
	long long want[2];
	int nd = model_expected_shape(c, ref.which, ref.layer, want);
	if (t->ndim != nd || t->shape[0] != want[0] || (nd == 2 && t->shape[1] != want[1]))
		return err_set(err, errlen, PRUNE_ERR_INPUT,
			       "tensor %s: stored shape disagrees with the model", t->name);
	if (gran != PRUNE_GRANULARITY_ROWS)
		return PRUNE_OK;
	size_t rows, cols;
	int axis;
	ffn_axis(c, ref.which, t->shape, t->ndim, &rows, &cols, &axis);
	if (t->ndim == 1)
		e->shape[0] = width;
	else
		e->shape[axis] = width;
	return PRUNE_OK;
}

/* ---- the writer: JSON ---- */

/* Writes root pretty-printed plus a newline to a new file path (fsynced); reasons name show,
 * the file's final path. */
static int write_json(const char *path, const char *show, const struct cJSON *root, char *err,
		      size_t errlen)
{
	char *s = json_print(root, true);
	if (!s)
		return err_set(err, errlen, PRUNE_ERR_NOMEM, "%s: out of memory", show);
	size_t len = strlen(s);
	s[len] = '\n'; /* replaces the NUL; length known */
	int rc = PRUNE_OK;
	if (util_write_new_file(path, s, len + 1))
		rc = err_set(err, errlen, PRUNE_ERR_IO, "writing %s: %s", show, strerror(errno));
	free(s);
	return rc;
}

/* config.json of the ROWS output: the input's object with the FFN width replaced. */
static int write_config(const char *path, const char *show, const char *src,
			const struct config *c, int width, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	if (util_read_file(&text, &len, src, CONFIG_MAX_BYTES, false, NULL, 0))
		return err_set(err, errlen, PRUNE_ERR_INPUT, "%s: unreadable", src);
	int rc = PRUNE_OK;
	struct cJSON *root = json_parse(text, len);
	free(text);
	if (json_type(root) != JSON_TYPE_OBJECT)
		rc = err_set(err, errlen, PRUNE_ERR_INPUT, "%s: not a JSON object", src);
	else if (json_set_number(root, c->ffn_key, width))
		rc = err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
	else
		rc = write_json(path, show, root, err, errlen);
	json_free(root);
	return rc;
}

static const char *note_for(enum prune_granularity gran, bool padded, bool base)
{
	if (gran == PRUNE_GRANULARITY_WEIGHTS)
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

/* Adds the per-layer kept counts (and, for ROWS, the kept indices) to r; *padded tells whether
 * some layer is narrower than the written width. p NULL: WEIGHTS streamed without a plan (every
 * layer keeps its width). */
static bool add_layers(struct cJSON *r, const struct prune_plan *p, const struct model *m,
		       int width, bool *padded)
{
	struct cJSON *kpl = json_add_array(r, "kept_per_layer");
	bool rows = p && p->gran == PRUNE_GRANULARITY_ROWS;
	*padded = false;
	for (int l = 0; kpl && l < m->cfg.n_layers; l++) {
		int k = rows ? p->k[l] : m->layers[l].ffn;
		*padded |= k != width;
		if (!json_add_number(kpl, NULL, k))
			return false;
	}
	if (!kpl)
		return false;
	if (!rows)
		return true;
	struct cJSON *ki = json_add_array(r, "kept_indices");
	for (int l = 0; ki && l < p->n_layers; l++)
		if (!json_add_int_array(ki, NULL, p->kept[l], p->k[l]))
			return false;
	return ki != NULL;
}

/* yopo_pruning.json (the keys prune_write documents, in that order). */
static int write_report(const char *path, const char *show, const struct prune_plan *p,
			const struct model *m, const struct prune_info *info,
			const struct prune_counts *cn, bool base, char *err, size_t errlen)
{
	enum prune_granularity gran = p ? p->gran : PRUNE_GRANULARITY_WEIGHTS;
	if (prune_granularity_nm(info->granularity, NULL, NULL))
		gran = info->granularity; /* masks that zero weights, recorded as their pattern */
	struct cJSON *r = json_new_object(), *cal = NULL;
	bool padded = false, ok = r != NULL;
	ok = ok && json_add_string(r, "yopo_version", YOPO_VERSION) &&
	     json_add_string(r, "method", info->method) && json_add_number(r, "ratio", info->ratio) &&
	     json_add_string(r, "granularity", prune_granularity_name(gran)) &&
	     json_add_bool(r, "global", info->global) &&
	     json_add_uint64(r, "seed", info->seed) && /* exact u64, beyond double precision */
	     json_add_string(r, "policy_sha256", info->policy_sha256);
	if (ok && info->calib_file)
		ok = (cal = json_add_object(r, "calibration")) &&
		     json_add_string(cal, "file", info->calib_file) &&
		     json_add_number(cal, "tokens", (double)info->calib_tokens);
	else if (ok)
		ok = json_add_null(r, "calibration") != NULL;
	if (ok && info->source_model) {
		const char *slash = strrchr(info->source_model, '/');
		char name[256], real[PATH_MAX];
		snprintf(name, sizeof name, "%s", slash && slash[1] ? slash + 1 : info->source_model);
		struct cJSON *src = json_add_object(r, "source_model");
		ok = src && json_add_string(src, "path", info->source_model) &&
		     json_add_string(src, "realpath", realpath(info->source_model, real) ? real : NULL) &&
		     json_add_string(src, "name", name);
	}
	ok = ok && json_add_string(r, "base", info->base_dir) && prune_counts_json(r, cn) &&
	     add_layers(r, p, m, cn->width, &padded) &&
	     json_add_string(r, "note", note_for(gran, padded, base));
	int rc = ok ? write_json(path, show, r, err, errlen)
		    : err_set(err, errlen, PRUNE_ERR_NOMEM, "%s: out of memory", show);
	json_free(r);
	return rc;
}

/* ---- the writer ---- */

static const char *const extra_files[] = {
	"tokenizer.json", "tokenizer_config.json", "generation_config.json",
	"special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model",
};

/* The output's safetensors files: the input's layout, i.e. one model.safetensors, or (for a
 * sharded input) the same shard file names, each tensor in the shard it came from. */
struct shards {
	int n;                 /* files */
	char **name;           /* (n) file names, strcmp order; NULL for a lone model.safetensors */
	int *of;               /* (tensors) file of each input tensor */
};

static void shards_free(struct shards *sh)
{
	for (int i = 0; sh->name && i < sh->n; i++)
		free(sh->name[i]);
	free(sh->name);
	free(sh->of);
}

static int shard_slot(struct shards *sh, const char *file)
{
	for (int i = 0; i < sh->n; i++)
		if (!strcmp(sh->name[i], file))
			return i;
	char *d = strdup(file);
	if (!d)
		return -1;
	sh->name[sh->n] = d;
	return sh->n++;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads in_dir's index (when there is no model.safetensors, as safetensors_open_dir does). */
static int shards_read(struct shards *sh, const struct model *m, const char *in_dir, char *err,
		       size_t errlen)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int n = safetensors_count(m->st), rc = PRUNE_OK;
	*sh = (struct shards){0};
	if (!(sh->of = calloc((size_t)n + 1, sizeof *sh->of)))
		return err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
	if (util_join(path, sizeof path, in_dir, "model.safetensors"))
		return err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
	if (access(path, F_OK) == 0 || util_join(path, sizeof path, in_dir,
						 "model.safetensors.index.json")) {
		sh->n = 1;
		return PRUNE_OK;
	}
	if (util_read_file(&text, &len, path, SAFETENSORS_MAX_HEADER, false, NULL, 0))
		return err_set(err, errlen, PRUNE_ERR_INPUT, "%s: unreadable", path);
	struct cJSON *root = json_parse(text, len);
	free(text);
	const struct cJSON *map = json_get(root, "weight_map");
	if (!(sh->name = calloc((size_t)n + 1, sizeof *sh->name))) {
		rc = err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n && !rc; i++) {
		const char *tn = safetensors_at(m->st, i)->name;
		const char *file = json_string(json_get(map, tn));
		if (!file || !*file || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, ".."))
			rc = err_set(err, errlen, PRUNE_ERR_INPUT, "%s: no usable shard for %s", path, tn);
		else if (shard_slot(sh, file) < 0)
			rc = err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
	}
	if (rc)
		goto out;
	qsort(sh->name, (size_t)sh->n, sizeof *sh->name, cmp_names);
	for (int i = 0; i < n; i++)
		sh->of[i] = shard_slot(sh, json_string(json_get(map, safetensors_at(m->st, i)->name)));
out:
	json_free(root);
	return rc;
}

/* A failed safetensors write; show is the file's final path (a full disk is about where the
 * bytes go). */
static int stream_error(int sr, const char *show, const struct producer *pr, char *err,
			size_t errlen)
{
	if (sr == SAFETENSORS_ERR_FILL)
		return pr->rc; /* the producer wrote the reason */
	return err_set(err, errlen,
		       sr == SAFETENSORS_ERR_NOMEM ? PRUNE_ERR_NOMEM
		       : sr == SAFETENSORS_ERR_ARG ? PRUNE_ERR_INPUT : PRUNE_ERR_IO,
		       "writing %s: %s%s%s", show, safetensors_strerror(sr),
		       sr == SAFETENSORS_ERR_IO ? ": " : "", sr == SAFETENSORS_ERR_IO ? strerror(errno) : "");
}

/* model.safetensors.index.json of the output: total_size and the weight map. */
static int write_index(const char *tmp, const char *out, const struct shards *sh,
		       const struct safetensors_entry *entries, int n, char *err, size_t errlen)
{
	char path[PATH_MAX], show[PATH_MAX];
	double total = 0;
	for (int i = 0; i < n; i++) {
		size_t el = safetensors_dtype_size(entries[i].dtype);
		for (int d = 0; d < entries[i].ndim; d++)
			el *= (size_t)entries[i].shape[d];
		total += (double)el;
	}
	struct cJSON *r = json_new_object(), *meta = NULL, *map = NULL;
	bool ok = r && (meta = json_add_object(r, "metadata")) &&
		  json_add_number(meta, "total_size", total) && (map = json_add_object(r, "weight_map"));
	for (int i = 0; ok && i < n; i++)
		ok = json_add_string(map, entries[i].name, sh->name[sh->of[i]]) != NULL;
	int rc;
	if (!ok)
		rc = err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
	else if (util_join(path, sizeof path, tmp, "model.safetensors.index.json") ||
		 util_join(show, sizeof show, out, "model.safetensors.index.json"))
		rc = err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
	else
		rc = write_json(path, show, r, err, errlen);
	json_free(r);
	return rc;
}

/* Streams every tensor into tmp's safetensors file(s) (and index). */
static int write_tensors(const char *tmp, const char *out, struct producer *pr, const char *in_dir,
			 char *err, size_t errlen)
{
	const struct model *m = pr->m;
	char path[PATH_MAX], show[PATH_MAX];
	int n = safetensors_count(m->st), rc;
	struct shards sh = {0};
	struct safetensors_entry *entries = calloc((size_t)n + 1, sizeof *entries);
	struct safetensors_entry *part = calloc((size_t)n + 1, sizeof *part);
	const struct safetensors_tensor **src = calloc((size_t)n + 1, sizeof *src);
	if (!entries || !part || !src) {
		rc = err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		if ((rc = describe_entry(&entries[i], safetensors_at(m->st, i), &m->cfg, pr->gran,
					 pr->width, err, errlen)))
			goto out;
	if ((rc = shards_read(&sh, m, in_dir, err, errlen)))
		goto out;
	const char *fmt = safetensors_metadata(m->st, "format");
	const char *meta[2] = {"format", fmt ? fmt : "pt"};
	pr->src = src;
	pr->done = pr->total = 0;
	for (int i = 0; i < n; i++)
		pr->total += safetensors_at(m->st, i)->nbytes;
	for (int f = 0; f < sh.n; f++) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (sh.of[i] == f) {
				part[k] = entries[i];
				src[k++] = safetensors_at(m->st, i);
			}
		const char *file = sh.name ? sh.name[f] : "model.safetensors";
		if (util_join(path, sizeof path, tmp, file) || util_join(show, sizeof show, out, file)) {
			rc = err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
			goto out;
		}
		pr->cur = -1;
		int sr = safetensors_write_views(path, part, k, meta, 1, produce, pr);
		produce_end(pr);
		if (sr) {
			rc = stream_error(sr, show, pr, err, errlen);
			goto out;
		}
	}
	rc = sh.name ? write_index(tmp, out, &sh, entries, n, err, errlen) : PRUNE_OK;
out:
	free(pr->buf);
	pr->buf = NULL;
	pr->cap = 0;
	shards_free(&sh);
	free(src);
	free(part);
	free(entries);
	return rc;
}

/* Counts of a WEIGHTS write without a plan, from the masked entries the producer saw. */
static void streamed_counts(struct prune_counts *cn, const struct model *m, size_t zeros)
{
	*cn = (struct prune_counts){
		.params_before = m->n_params, .params_after = m->n_params - zeros,
		.params_stored = m->n_params, .ffn_params_before = m->n_ffn_params,
		.ffn_params_after = m->n_ffn_params - zeros, .ffn_params_stored = m->n_ffn_params,
	};
	for (int l = 0; l < m->cfg.n_layers; l++)
		if (m->layers[l].ffn > cn->width)
			cn->width = m->layers[l].ffn;
}

/* Copies in_dir/name to tmp/name if it exists; a failure names the destination out/name (a full
 * disk is about where the copy goes, not where it comes from). */
static int copy_extra(const char *tmp, const char *out, const char *in_dir, const char *name,
		      char *err, size_t errlen)
{
	char path[PATH_MAX], src[PATH_MAX], show[PATH_MAX];
	if (util_join(path, sizeof path, tmp, name) || util_join(src, sizeof src, in_dir, name) ||
	    util_join(show, sizeof show, out, name))
		return err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
	if (util_copy_file(path, src) < 0)
		return err_set(err, errlen, PRUNE_ERR_IO, "writing %s (a copy of %s): %s", show, src,
			       strerror(errno));
	return PRUNE_OK;
}

/* Fills the temp dir tmp with everything; reasons name the final paths under out. */
static int fill_dir(const char *tmp, const char *out, struct producer *pr, const char *in_dir,
		    const struct prune_info *info, struct prune_counts *cn, char *err, size_t errlen)
{
	char path[PATH_MAX], src[PATH_MAX], show[PATH_MAX];
	int rc = write_tensors(tmp, out, pr, in_dir, err, errlen);
	for (int l = 0; !rc && pr->rows && l < pr->m->cfg.n_layers; l++)
		rc = fill_layer(pr, l); /* a layer without FFN tensors in the file (none so far) */
	if (rc)
		return rc;
	if (!pr->p)
		streamed_counts(cn, pr->m, pr->zeros);
	if (pr->gran == PRUNE_GRANULARITY_ROWS) {
		if (util_join(path, sizeof path, tmp, "config.json") ||
		    util_join(show, sizeof show, out, "config.json") ||
		    util_join(src, sizeof src, in_dir, "config.json"))
			return err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
		if ((rc = write_config(path, show, src, &pr->m->cfg, cn->width, err, errlen)))
			return rc;
	} else if ((rc = copy_extra(tmp, out, in_dir, "config.json", err, errlen))) {
		return rc;
	}
	for (size_t i = 0; i < sizeof extra_files / sizeof extra_files[0]; i++)
		if ((rc = copy_extra(tmp, out, in_dir, extra_files[i], err, errlen)))
			return rc;
	if (util_join(path, sizeof path, tmp, "yopo_pruning.json") ||
	    util_join(show, sizeof show, out, "yopo_pruning.json"))
		return err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
	if ((rc = write_report(path, show, pr->p, pr->m, info, cn, pr->base != NULL, err, errlen)))
		return rc;
	if (util_fsync_path(tmp, true))
		return err_set(err, errlen, PRUNE_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
	return PRUNE_OK;
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

/* Checks of prune_write and prune_write_stream before any file is touched. */
static int check_inputs(const struct model *m, const struct prune_plan *plan,
			const struct prune_masks *masks, const struct model *base,
			const struct prune_info *info, char *err, size_t errlen)
{
	if (!info || !info->method)
		return err_set(err, errlen, PRUNE_ERR_ARG, "no method given for yopo_pruning.json");
	if (!plan && (!masks || !masks->fill))
		return err_set(err, errlen, PRUNE_ERR_ARG, "neither a plan nor masks given");
	if (plan && !prune_plan_fits(plan, m))
		return err_set(err, errlen, PRUNE_ERR_PLAN, "plan does not fit the model's layers");
	if (base && plan && plan->gran == PRUNE_GRANULARITY_ROWS)
		return err_set(err, errlen, PRUNE_ERR_ARG, "a base model applies to weights pruning only");
	if (base && prune_check_base(m, base))
		return err_set(err, errlen, PRUNE_ERR_BASE_SHAPE,
			    "base model differs in family, layers or FFN sizes");
	return PRUNE_OK;
}

static int write_any(struct prune_counts *counts, const struct model *m, const char *in_dir,
		     const struct prune_plan *plan, const struct prune_masks *masks,
		     const struct prune_rows *rows, const struct model *base, const struct prune_info *info, const char *out_dir,
		     bool force, char *err, size_t errlen)
{
	char out_path[PATH_MAX], tmp[PATH_MAX], old[PATH_MAX], parent[PATH_MAX];
	bool exists = false, empty = true, have_tmp = false;
	int rc = check_inputs(m, plan, masks, base, info, err, errlen);
	if (rc)
		return rc;
	struct prune_counts cn = {0};
	if (plan)
		prune_plan_count(&cn, plan, m);
	else
		streamed_counts(&cn, m, 0);
	struct producer pr = {
		.m = m, .p = plan, .masks = masks, .rows = rows, .base = base,
		.gran = plan ? plan->gran : PRUNE_GRANULARITY_WEIGHTS, .width = cn.width, .cur = -1,
		.err = err, .errlen = errlen,
	};
	rc = check_paths(in_dir, out_dir, force, out_path, sizeof out_path, &exists, &empty, err,
			 errlen);
	if (rc)
		return rc;
	if (rows) {
		pr.k0 = malloc((size_t)plan->n_layers * sizeof *pr.k0);
		pr.filled = calloc((size_t)plan->n_layers, sizeof *pr.filled);
		if (!pr.k0 || !pr.filled) {
			rc = err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
			goto out;
		}
		memcpy(pr.k0, plan->k, (size_t)plan->n_layers * sizeof *pr.k0);
	}
	/* "<out>.tmp-<pid>-XXXXXX", mode 0777 & ~umask (util/output.h) */
	if ((rc = util_temp_dir_new(tmp, sizeof tmp, out_path, "tmp", err, errlen))) {
		rc = rc == UTIL_ERR_ARG ? PRUNE_ERR_ARG : PRUNE_ERR_IO;
		goto out;
	}
	have_tmp = true;
	rc = fill_dir(tmp, out_path, &pr, in_dir, info, &cn, err, errlen);
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
			rc = err_set(err, errlen, PRUNE_ERR_IO, "moving %s aside: %s", out_path,
				  strerror(errno));
			rmdir(old);
			goto out;
		}
		if (rename(tmp, out_path)) {
			rc = err_set(err, errlen, PRUNE_ERR_IO, "renaming %s to %s: %s", tmp, out_path,
				  strerror(errno));
			rename(old, out_path);
			goto out;
		}
		have_tmp = false;
		util_remove_tree(old); /* best effort: the new output is already complete and in place */
	} else {
		/* rename() replaces an empty directory atomically */
		if (rename(tmp, out_path)) {
			rc = err_set(err, errlen, errno == ENOTEMPTY || errno == EEXIST ? PRUNE_ERR_OUT_NOT_EMPTY
										    : PRUNE_ERR_IO,
				  "renaming %s to %s: %s", tmp, out_path, strerror(errno));
			goto out;
		}
		have_tmp = false;
	}
	util_fsync_path(parent, true); /* best effort, as safetensors_write: the rename has happened */
	if (counts)
		*counts = cn;
out:
	if (have_tmp)
		util_remove_tree(tmp);
	free(pr.filled);
	free(pr.k0);
	return rc;
}

int prune_write(const struct model *m, const char *in_dir, const struct prune_plan *plan,
		const struct model *base, const struct prune_info *info, const char *out_dir,
		bool force, char *err, size_t errlen)
{
	if (!plan)
		return err_set(err, errlen, PRUNE_ERR_ARG, "no plan given");
	return write_any(NULL, m, in_dir, plan, NULL, NULL, base, info, out_dir, force, err, errlen);
}

int prune_write_stream(struct prune_counts *counts, const struct model *m,
		       const struct prune_plan *plan, const struct prune_masks *masks,
		       const struct prune_rows *rows, const struct model *base,
		       const struct prune_info *info, const char *out_dir, bool force, char *err,
		       size_t errlen)
{
	if (plan && plan->gran != PRUNE_GRANULARITY_ROWS)
		return err_set(err, errlen, PRUNE_ERR_ARG, "a streamed write takes a rows plan or masks");
	if (rows && (!plan || !rows->fill))
		return err_set(err, errlen, PRUNE_ERR_ARG, "kept neurons on demand need a rows plan");
	return write_any(counts, m, m->dir, plan, plan ? NULL : masks, plan ? rows : NULL, base, info,
			 out_dir, force, err, errlen);
}

