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
			return err_set(err, errlen, PRUNE_ERR_INPUT,
				    "tensor %s: stored shape disagrees with the model", t->name);
		size_t esize = safetensors_dtype_size(t->dtype), rows, cols;
		int axis;
		ffn_axis(c, ref.which, t->shape, t->ndim, &rows, &cols, &axis);
		if (p->gran == PRUNE_GRANULARITY_ROWS) {
			int l = ref.layer;
			size_t other = axis == 0 ? cols : rows;
			bufs[i] = malloc(other * (size_t)width * esize + 1);
			if (!bufs[i])
				return err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory slicing %s", t->name);
			slice_tensor(bufs[i], t->data, rows, cols, esize, axis, p->kept[l], p->k[l], width);
			if (t->ndim == 1)
				e->shape[0] = width;
			else
				e->shape[axis] = width;
		} else {
			const unsigned char *mk = prune_plan_mask_const(p, ref.layer, ref.which);
			if (!mk)
				return err_set(err, errlen, PRUNE_ERR_PLAN, "plan has no mask for %s", t->name);
			bufs[i] = malloc(t->nbytes + 1);
			if (!bufs[i])
				return err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory masking %s", t->name);
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
					return err_set(err, errlen, PRUNE_ERR_BASE_SHAPE,
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

/* Adds the per-layer kept counts (and, for ROWS, the kept indices) to r; *padded tells whether
 * some layer is narrower than the written width. */
static bool add_layers(struct cJSON *r, const struct prune_plan *p, int width, bool *padded)
{
	struct cJSON *kpl = json_add_array(r, "kept_per_layer");
	*padded = false;
	for (int l = 0; kpl && l < p->n_layers; l++) {
		int k = p->gran == PRUNE_GRANULARITY_ROWS ? p->k[l] : p->ffn[l];
		*padded |= k != width;
		if (!json_add_number(kpl, NULL, k))
			return false;
	}
	if (!kpl)
		return false;
	if (p->gran != PRUNE_GRANULARITY_ROWS)
		return true;
	struct cJSON *ki = json_add_array(r, "kept_indices");
	for (int l = 0; ki && l < p->n_layers; l++)
		if (!json_add_int_array(ki, NULL, p->kept[l], p->k[l]))
			return false;
	return ki != NULL;
}

/* yopo_pruning.json (the keys prune_write documents, in that order). */
static int write_report(const char *path, const char *show, const struct prune_plan *p,
			const struct prune_info *info, const struct prune_counts *cn, bool base,
			char *err, size_t errlen)
{
	struct cJSON *r = json_new_object(), *cal = NULL;
	bool padded = false, ok = r != NULL;
	ok = ok && json_add_string(r, "yopo_version", YOPO_VERSION) &&
	     json_add_string(r, "method", info->method) && json_add_number(r, "ratio", info->ratio) &&
	     json_add_string(r, "granularity", prune_granularity_name(p->gran)) &&
	     json_add_bool(r, "global", info->global) &&
	     json_add_uint64(r, "seed", info->seed) && /* exact u64, beyond double precision */
	     json_add_string(r, "policy_sha256", info->policy_sha256);
	if (ok && info->calib_file)
		ok = (cal = json_add_object(r, "calibration")) &&
		     json_add_string(cal, "file", info->calib_file) &&
		     json_add_number(cal, "tokens", (double)info->calib_tokens);
	else if (ok)
		ok = json_add_null(r, "calibration") != NULL;
	ok = ok && json_add_string(r, "base", info->base_dir) &&
	     json_add_number(r, "params_before", (double)cn->params_before) &&
	     json_add_number(r, "params_after", (double)cn->params_after) &&
	     json_add_number(r, "params_stored", (double)cn->params_stored) &&
	     json_add_number(r, "ffn_params_before", (double)cn->ffn_params_before) &&
	     json_add_number(r, "ffn_params_after", (double)cn->ffn_params_after) &&
	     json_add_number(r, "ffn_params_stored", (double)cn->ffn_params_stored) &&
	     json_add_number(r, "ffn_width", cn->width) && add_layers(r, p, cn->width, &padded) &&
	     json_add_string(r, "note", note_for(p, padded, base));
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
static int fill_dir(const char *tmp, const char *out, const struct model *m, const char *in_dir,
		    const struct prune_plan *p, const struct model *base,
		    const struct prune_info *info, const struct prune_counts *cn, char *err,
		    size_t errlen)
{
	char path[PATH_MAX], src[PATH_MAX], show[PATH_MAX];
	int n = safetensors_count(m->st), rc;
	struct safetensors_entry *entries = calloc((size_t)n + 1, sizeof *entries);
	unsigned char **bufs = calloc((size_t)n + 1, sizeof *bufs);
	if (!entries || !bufs) {
		rc = err_set(err, errlen, PRUNE_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = build_entries(entries, bufs, m, p, base, cn->width, err, errlen);
	if (rc)
		goto out;
	const char *fmt = safetensors_metadata(m->st, "format");
	const char *meta[2] = {"format", fmt ? fmt : "pt"};
	char cfg_path[PATH_MAX], cfg_show[PATH_MAX];
	if (util_join(path, sizeof path, tmp, "model.safetensors") ||
	    util_join(show, sizeof show, out, "model.safetensors") ||
	    util_join(cfg_path, sizeof cfg_path, tmp, "config.json") ||
	    util_join(cfg_show, sizeof cfg_show, out, "config.json") ||
	    util_join(src, sizeof src, in_dir, "config.json")) {
		rc = err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
		goto out;
	}
	int sr = safetensors_write(path, entries, n, meta, 1);
	if (sr) {
		rc = err_set(err, errlen,
			  sr == SAFETENSORS_ERR_NOMEM ? PRUNE_ERR_NOMEM
			  : sr == SAFETENSORS_ERR_ARG ? PRUNE_ERR_INPUT : PRUNE_ERR_IO,
			  "writing %s: %s%s%s", show, safetensors_strerror(sr),
			  sr == SAFETENSORS_ERR_IO ? ": " : "", sr == SAFETENSORS_ERR_IO ? strerror(errno) : "");
		goto out;
	}
	if (p->gran == PRUNE_GRANULARITY_ROWS) {
		rc = write_config(cfg_path, cfg_show, src, &m->cfg, cn->width, err, errlen);
		if (rc)
			goto out;
	} else if ((rc = copy_extra(tmp, out, in_dir, "config.json", err, errlen))) {
		goto out;
	}
	for (size_t i = 0; i < sizeof extra_files / sizeof extra_files[0]; i++)
		if ((rc = copy_extra(tmp, out, in_dir, extra_files[i], err, errlen)))
			goto out;
	if (util_join(path, sizeof path, tmp, "yopo_pruning.json") ||
	    util_join(show, sizeof show, out, "yopo_pruning.json")) {
		rc = err_set(err, errlen, PRUNE_ERR_ARG, "path too long");
		goto out;
	}
	if ((rc = write_report(path, show, p, info, cn, base != NULL, err, errlen)))
		goto out;
	if (util_fsync_path(tmp, true))
		rc = err_set(err, errlen, PRUNE_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
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
		return err_set(err, errlen, PRUNE_ERR_ARG, "no method given for yopo_pruning.json");
	if (!prune_plan_fits(plan, m))
		return err_set(err, errlen, PRUNE_ERR_PLAN, "plan does not fit the model's layers");
	if (base && plan->gran == PRUNE_GRANULARITY_ROWS)
		return err_set(err, errlen, PRUNE_ERR_ARG, "a base model applies to weights pruning only");
	if (base && prune_check_base(m, base))
		return err_set(err, errlen, PRUNE_ERR_BASE_SHAPE,
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
	rc = fill_dir(tmp, out_path, m, in_dir, plan, base, info, &cn, err, errlen);
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
out:
	if (have_tmp)
		util_remove_tree(tmp);
	return rc;
}

