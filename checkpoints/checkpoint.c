/* checkpoint: policy checkpoints as safetensors + JSON metadata. See checkpoint.h.
 *
 * Save and load share one range validator (info_check), so anything that saves also loads.
 * Parameters are kept in the networks' own flat layouts (policy.h, prunenet.h); each tensor
 * is a contiguous slice of that layout, described by a tensor_spec table. */
#include "checkpoint.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "rowfeat.h"
#include "safetensors.h"
#include "yopo_version.h"

#define FORMAT_VERSION 1
/* The yopo JSON of the largest valid checkpoint (1024 paths of 4 KiB) is about 4.3 MiB. */
#define MAX_META_BYTES (8u << 20)
#define MSG_LEN 256

struct checkpoint {
	struct checkpoint_info info;
	float *params; /* (n_params) in the network's layout */
	size_t n_params;
};

/* One tensor: a slice [offset, offset + nelem) of the flat parameter layout. */
struct tensor_spec {
	const char *name;
	int ndim;
	int64_t shape[2];
	size_t offset;
	size_t nelem;
};

#define MAX_SPECS 4

const char *checkpoint_strerror(int err)
{
	switch (err) {
	case CHECKPOINT_OK: return "success";
	case CHECKPOINT_ERR_IO: return "I/O error";
	case CHECKPOINT_ERR_FORMAT: return "not a valid safetensors file";
	case CHECKPOINT_ERR_NO_METADATA: return "no yopo policy metadata";
	case CHECKPOINT_ERR_METADATA: return "invalid policy metadata";
	case CHECKPOINT_ERR_VERSION: return "unsupported checkpoint format version";
	case CHECKPOINT_ERR_ARCH: return "unknown policy architecture";
	case CHECKPOINT_ERR_FEATURES: return "feature list differs from this build's";
	case CHECKPOINT_ERR_TENSOR: return "tensor missing, unexpected or not F32";
	case CHECKPOINT_ERR_SHAPE: return "tensor shape disagrees with the metadata";
	case CHECKPOINT_ERR_NONFINITE: return "non-finite parameter";
	case CHECKPOINT_ERR_MODEL_SHAPE: return "policy does not fit this model's shape";
	case CHECKPOINT_ERR_NOMEM: return "out of memory";
	case CHECKPOINT_ERR_ARG: return "invalid argument";
	default: return "unknown checkpoint error";
	}
}

static const char *arch_name(enum checkpoint_arch a)
{
	return a == CHECKPOINT_ARCH_MLP ? "mlp" : "prunenet";
}

/* Frees what a loaded info owns (strings, lists); the info itself is not freed. */
static void info_free_fields(struct checkpoint_info *info)
{
	for (int i = 0; i < info->n_trained_on; i++) {
		free(info->trained_on[i].model);
		free(info->trained_on[i].model_type);
	}
	free(info->trained_on);
	free(info->ratios);
	info->trained_on = NULL;
	info->n_trained_on = 0;
	info->ratios = NULL;
	info->n_ratios = 0;
}

static bool dim_ok(int v)
{
	return v >= 1 && v <= CHECKPOINT_MAX_DIM;
}

/* Range and consistency checks shared by save (-> ARG) and load (-> METADATA). 0 or -1 with msg. */
static int info_check(const struct checkpoint_info *in, char *msg, size_t len)
{
	if (in->arch != CHECKPOINT_ARCH_MLP && in->arch != CHECKPOINT_ARCH_PRUNENET) {
		err_set(msg, len, 0, "arch %d is not mlp or prunenet", (int)in->arch);
		return -1;
	}
	if (in->arch == CHECKPOINT_ARCH_MLP && (!dim_ok(in->n_features) || !dim_ok(in->n_hidden))) {
		err_set(msg, len, 0, "n_features %d / n_hidden %d out of range [1, %d]", in->n_features,
			in->n_hidden, CHECKPOINT_MAX_DIM);
		return -1;
	}
	if (in->arch == CHECKPOINT_ARCH_PRUNENET && (!dim_ok(in->hidden) || !dim_ok(in->ffn))) {
		err_set(msg, len, 0, "hidden %d / ffn %d out of range [1, %d]", in->hidden, in->ffn,
			CHECKPOINT_MAX_DIM);
		return -1;
	}
	if (in->n_trained_on < 0 || in->n_trained_on > CHECKPOINT_MAX_LIST ||
	    (in->n_trained_on > 0 && !in->trained_on)) {
		err_set(msg, len, 0, "trained_on has %d entries (at most %d)", in->n_trained_on,
			CHECKPOINT_MAX_LIST);
		return -1;
	}
	for (int i = 0; i < in->n_trained_on; i++) {
		const struct checkpoint_model *m = &in->trained_on[i];
		size_t lm = m->model ? strlen(m->model) : 0;
		size_t lt = m->model_type ? strlen(m->model_type) : 0;
		if (lm == 0 || lm > CHECKPOINT_MAX_PATH || lt == 0 || lt >= CHECKPOINT_MAX_TYPE) {
			err_set(msg, len, 0, "trained_on[%d]: model or model_type empty or too long", i);
			return -1;
		}
		if (!dim_ok(m->hidden) || !dim_ok(m->ffn) || !dim_ok(m->layers)) {
			err_set(msg, len, 0, "trained_on[%d]: hidden %d / ffn %d / layers %d out of range",
				i, m->hidden, m->ffn, m->layers);
			return -1;
		}
		if (in->arch == CHECKPOINT_ARCH_PRUNENET && (m->hidden != in->hidden || m->ffn != in->ffn)) {
			err_set(msg, len, 0,
				"trained_on[%d] has hidden %d / ffn %d but the prunenet is tied to %d / %d",
				i, m->hidden, m->ffn, in->hidden, in->ffn);
			return -1;
		}
	}
	if (in->n_ratios < 0 || in->n_ratios > CHECKPOINT_MAX_LIST || (in->n_ratios > 0 && !in->ratios)) {
		err_set(msg, len, 0, "ratios has %d entries (at most %d)", in->n_ratios, CHECKPOINT_MAX_LIST);
		return -1;
	}
	for (int i = 0; i < in->n_ratios; i++) {
		if (!(in->ratios[i] > 0.0 && in->ratios[i] < 1.0)) {
			err_set(msg, len, 0, "ratios[%d] = %g is not in (0, 1)", i, in->ratios[i]);
			return -1;
		}
	}
	if (!memchr(in->reward, '\0', sizeof in->reward) ||
	    (strcmp(in->reward, "neg-ks") != 0 && strcmp(in->reward, "inverse") != 0 &&
	     strcmp(in->reward, "functional") != 0 && strcmp(in->reward, "mix") != 0)) {
		err_set(msg, len, 0, "reward is not \"neg-ks\", \"inverse\", \"functional\" or \"mix\"");
		return -1;
	}
	if (!(in->mix >= 0 && in->mix <= 1) || in->probe_tokens == 1 || in->probe_tokens < 0) {
		err_set(msg, len, 0, "mix %g not in [0, 1] or probe_tokens %d below 2", in->mix,
			in->probe_tokens);
		return -1;
	}
	if (in->episodes < 0) {
		err_set(msg, len, 0, "episodes %d is negative", in->episodes);
		return -1;
	}
	if (!isfinite(in->final_reward) || !isfinite(in->best_reward)) {
		err_set(msg, len, 0, "final_reward / best_reward not finite");
		return -1;
	}
	return 0;
}

/* The tensors of info's arch over the flat layout; *total = parameter count. Dimensions must
 * already be within CHECKPOINT_MAX_DIM, so no product overflows a 64-bit size_t; 32-bit hosts
 * are checked. Returns 0 or -1 on overflow. */
static int specs_build(struct tensor_spec *s, int *n, size_t *total,
		       const struct checkpoint_info *info)
{
	size_t rows, cols;

	if (info->arch == CHECKPOINT_ARCH_MLP) {
		rows = (size_t)info->n_hidden;
		cols = (size_t)info->n_features;
	} else {
		rows = (size_t)info->ffn;
		cols = (size_t)info->hidden;
	}
	if (cols > SIZE_MAX / rows || rows * cols > SIZE_MAX / sizeof(float) - 3 * rows - 1)
		return -1;
	if (info->arch == CHECKPOINT_ARCH_MLP) {
		/* W1 (h, d) | b1 (h) | w2 (h) | b2 (1) */
		s[0] = (struct tensor_spec){ "policy.w1", 2, { (int64_t)rows, (int64_t)cols }, 0, rows * cols };
		s[1] = (struct tensor_spec){ "policy.b1", 1, { (int64_t)rows, 0 }, rows * cols, rows };
		s[2] = (struct tensor_spec){ "policy.w2", 1, { (int64_t)rows, 0 }, rows * cols + rows, rows };
		s[3] = (struct tensor_spec){ "policy.b2", 1, { 1, 0 }, rows * cols + 2 * rows, 1 };
		*n = 4;
		*total = rows * cols + 2 * rows + 1;
	} else {
		/* A (ffn, hidden) | b (ffn) | r (ffn) */
		s[0] = (struct tensor_spec){ "prunenet.A", 2, { (int64_t)rows, (int64_t)cols }, 0, rows * cols };
		s[1] = (struct tensor_spec){ "prunenet.b", 1, { (int64_t)rows, 0 }, rows * cols, rows };
		s[2] = (struct tensor_spec){ "prunenet.r", 1, { (int64_t)rows, 0 }, rows * cols + rows, rows };
		*n = 3;
		*total = rows * cols + 2 * rows;
	}
	return 0;
}

/* Index of the first non-finite value in x (n), or n. */
static size_t find_nonfinite(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return i;
	return n;
}

/* ---- saving ---- */

static void add_number(struct cJSON *o, const char *key, double v, bool *ok)
{
	if (!json_add_number(o, key, v))
		*ok = false;
}

static void add_string(struct cJSON *o, const char *key, const char *v, bool *ok)
{
	if (!json_add_string(o, key, v))
		*ok = false;
}

/* The architecture-specific members: the feature list and sizes (mlp) or the shape (prunenet). */
static void meta_add_arch(struct cJSON *root, const struct checkpoint_info *info, bool *ok)
{
	if (info->arch != CHECKPOINT_ARCH_MLP) {
		add_number(root, "hidden", info->hidden, ok);
		add_number(root, "ffn", info->ffn, ok);
		return;
	}
	struct cJSON *arr = json_add_array(root, "features");
	*ok = *ok && arr;
	for (int i = 0; arr && i < info->n_features; i++)
		add_string(arr, NULL, rowfeat_name(i), ok);
	add_string(root, "feature_set", rowfeat_set_name(info->feature_set), ok);
	add_number(root, "n_features", info->n_features, ok);
	add_number(root, "n_hidden", info->n_hidden, ok);
}

/* The yopo metadata JSON text (compact, fixed key order); NULL when out of memory. Free with
 * free(). */
static char *meta_build(const struct checkpoint_info *info)
{
	struct cJSON *root = json_new_object(), *arr;
	char *text = NULL;
	char seed[24];
	bool ok = root != NULL;

	if (!ok)
		goto out;
	add_number(root, "format_version", FORMAT_VERSION, &ok);
	add_string(root, "arch", arch_name(info->arch), &ok);
	meta_add_arch(root, info, &ok);
	arr = json_add_array(root, "trained_on");
	ok = ok && arr;
	for (int i = 0; arr && i < info->n_trained_on; i++) {
		const struct checkpoint_model *m = &info->trained_on[i];
		struct cJSON *item = json_add_object(arr, NULL);
		if (!item) {
			ok = false;
			break;
		}
		add_string(item, "model", m->model, &ok);
		add_string(item, "model_type", m->model_type, &ok);
		add_number(item, "hidden", m->hidden, &ok);
		add_number(item, "ffn", m->ffn, &ok);
		add_number(item, "layers", m->layers, &ok);
	}
	arr = json_add_array(root, "ratios");
	ok = ok && arr;
	for (int i = 0; arr && i < info->n_ratios; i++)
		add_number(arr, NULL, info->ratios[i], &ok);
	add_string(root, "reward", info->reward, &ok);
	if (strcmp(info->reward, "mix") == 0)
		add_number(root, "mix", info->mix, &ok);
	if (info->probe_tokens > 0) {
		add_number(root, "probe_tokens", info->probe_tokens, &ok);
		snprintf(seed, sizeof seed, "%llu", (unsigned long long)info->probe_seed);
		add_string(root, "probe_seed", seed, &ok);
	}
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)info->seed);
	add_string(root, "seed", seed, &ok);
	add_number(root, "episodes", info->episodes, &ok);
	/* doubles are printed with enough digits to read back the same value */
	add_number(root, "final_reward", info->final_reward, &ok);
	add_number(root, "best_reward", info->best_reward, &ok);
	add_string(root, "yopo_version", YOPO_VERSION, &ok);
	if (ok)
		text = json_print(root, false);
out:
	json_free(root);
	return text;
}

static int save_common(const char *path, const float *params, size_t count,
		       const struct checkpoint_info *info)
{
	struct tensor_spec specs[MAX_SPECS];
	struct safetensors_entry entries[MAX_SPECS];
	const char *meta[4];
	unsigned char *bytes = NULL;
	char *text = NULL;
	size_t total;
	int n_specs, rc;

	if (specs_build(specs, &n_specs, &total, info) != 0 || total != count)
		return CHECKPOINT_ERR_ARG;
	if (find_nonfinite(params, count) < count)
		return CHECKPOINT_ERR_NONFINITE;
	text = meta_build(info);
	bytes = malloc(count * sizeof(float));
	if (!text || !bytes) {
		rc = CHECKPOINT_ERR_NOMEM;
		goto out;
	}
	/* explicit little-endian bytes, whatever the host order */
	safetensors_convert_from_f32(bytes, SAFETENSORS_DTYPE_F32, params, count);
	for (int i = 0; i < n_specs; i++) {
		memset(&entries[i], 0, sizeof entries[i]);
		entries[i].name = specs[i].name;
		entries[i].dtype = SAFETENSORS_DTYPE_F32;
		entries[i].ndim = specs[i].ndim;
		entries[i].shape[0] = specs[i].shape[0];
		entries[i].shape[1] = specs[i].shape[1];
		entries[i].data = bytes + specs[i].offset * sizeof(float);
	}
	meta[0] = "format";
	meta[1] = "pt";
	meta[2] = "yopo";
	meta[3] = text;
	rc = safetensors_write(path, entries, n_specs, meta, 2);
	switch (rc) {
	case SAFETENSORS_OK: rc = CHECKPOINT_OK; break;
	case SAFETENSORS_ERR_IO: rc = CHECKPOINT_ERR_IO; break;
	case SAFETENSORS_ERR_NOMEM: rc = CHECKPOINT_ERR_NOMEM; break;
	default: rc = CHECKPOINT_ERR_ARG; break; /* e.g. a non-UTF-8 model path */
	}
out:
	{
		int saved = errno; /* keep the writer's errno past free() */
		free(text);
		free(bytes);
		errno = saved;
	}
	return rc;
}

int checkpoint_save_mlp(const char *path, struct policy *p, const struct checkpoint_info *info)
{
	if (!path || !p || !info || info->arch != CHECKPOINT_ARCH_MLP ||
	    info->n_features != policy_n_features(p) || info->n_hidden != policy_n_hidden(p) ||
	    info_check(info, NULL, 0) != 0)
		return CHECKPOINT_ERR_ARG;
	if (!rowfeat_set_name(info->feature_set) ||
	    info->n_features != rowfeat_set_count(info->feature_set))
		return CHECKPOINT_ERR_FEATURES;
	return save_common(path, policy_params(p), policy_param_count(p), info);
}

int checkpoint_save_prunenet(const char *path, struct prunenet *p,
			     const struct checkpoint_info *info)
{
	if (!path || !p || !info || info->arch != CHECKPOINT_ARCH_PRUNENET ||
	    info->hidden != prunenet_hidden(p) || info->ffn != prunenet_ffn(p) ||
	    info_check(info, NULL, 0) != 0)
		return CHECKPOINT_ERR_ARG;
	return save_common(path, prunenet_params(p), prunenet_param_count(p), info);
}

/* ---- loading: metadata ---- */

/* 0 if no two members of object o share a key, else -1 with msg. */
static int check_duplicates(const struct cJSON *o, const char *where, char *msg, size_t len)
{
	for (const struct cJSON *a = json_child(o); a; a = json_next(a))
		for (const struct cJSON *b = json_next(a); b; b = json_next(b))
			if (strcmp(json_key(a), json_key(b)) == 0) {
				err_set(msg, len, 0, "%s: duplicate key \"%s\"", where, json_key(a));
				return -1;
			}
	return 0;
}

/* The typed getters are util/json's (messages "where: missing field \"key\"", "... is not an
 * integer", ...); every failure is a metadata error. */
static int get_int(int *out, const struct cJSON *o, const char *key, const char *where, char *msg,
		   size_t len)
{
	long v;
	if (json_get_int(&v, o, key, INT_MIN, INT_MAX, where, msg, len))
		return CHECKPOINT_ERR_METADATA;
	*out = (int)v;
	return CHECKPOINT_OK;
}

static int get_double(double *out, const struct cJSON *o, const char *key, char *msg, size_t len)
{
	return json_get_double(out, o, key, -DBL_MAX, DBL_MAX, NULL, msg, len)
		       ? CHECKPOINT_ERR_METADATA
		       : CHECKPOINT_OK;
}

/* *out borrows the document's string. */
static int get_string(const char **out, const struct cJSON *o, const char *key, const char *where,
		      char *msg, size_t len)
{
	return json_get_string(out, o, key, where, msg, len) ? CHECKPOINT_ERR_METADATA
							      : CHECKPOINT_OK;
}

/* Copies the string o[key] (at most max - 1 bytes) into dst (max). */
static int get_fixed_string(char *dst, size_t max, const struct cJSON *o, const char *key,
			    char *msg, size_t len)
{
	const char *s;
	int rc = get_string(&s, o, key, NULL, msg, len);

	if (rc != CHECKPOINT_OK)
		return rc;
	if (strlen(s) >= max) {
		err_set(msg, len, 0, "field \"%s\" is longer than %zu bytes", key, max - 1);
		return CHECKPOINT_ERR_METADATA;
	}
	memcpy(dst, s, strlen(s) + 1);
	return CHECKPOINT_OK;
}

static int get_array(const struct cJSON **out, int *n, const struct cJSON *o, const char *key,
		     char *msg, size_t len)
{
	const struct cJSON *v;

	if (json_get_array(&v, n, o, key, NULL, msg, len))
		return CHECKPOINT_ERR_METADATA;
	if (*n > CHECKPOINT_MAX_LIST) {
		err_set(msg, len, 0, "field \"%s\" has more than %d entries", key, CHECKPOINT_MAX_LIST);
		return CHECKPOINT_ERR_METADATA;
	}
	*out = v;
	return CHECKPOINT_OK;
}

/* Decimal uint64 without sign, spaces or overflow. */
static int parse_u64(uint64_t *out, const char *s)
{
	uint64_t v = 0;

	if (*s == '\0' || strlen(s) > 20)
		return -1;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The optional mix weight (reward mix) and probe count and seed (policies trained with probes). */
static int parse_probe_info(struct checkpoint_info *info, const struct cJSON *root, char *msg,
			    size_t len)
{
	const char *s;
	int rc = CHECKPOINT_OK;
	info->mix = 0;
	info->probe_tokens = 0;
	info->probe_seed = 0;
	if (json_get(root, "mix"))
		rc = get_double(&info->mix, root, "mix", msg, len);
	if (rc == CHECKPOINT_OK && !(info->mix >= 0 && info->mix <= 1)) {
		err_set(msg, len, 0, "mix %g is not in [0, 1]", info->mix);
		return CHECKPOINT_ERR_METADATA;
	}
	if (rc != CHECKPOINT_OK || !json_get(root, "probe_tokens"))
		return rc;
	rc = get_int(&info->probe_tokens, root, "probe_tokens", NULL, msg, len);
	if (rc == CHECKPOINT_OK && info->probe_tokens < 2) {
		err_set(msg, len, 0, "probe_tokens %d is below 2", info->probe_tokens);
		return CHECKPOINT_ERR_METADATA;
	}
	if (rc == CHECKPOINT_OK)
		rc = get_string(&s, root, "probe_seed", NULL, msg, len);
	if (rc == CHECKPOINT_OK && parse_u64(&info->probe_seed, s) != 0) {
		err_set(msg, len, 0, "probe_seed \"%.32s\" is not a decimal uint64", s);
		rc = CHECKPOINT_ERR_METADATA;
	}
	return rc;
}

/* The optional feature_set (absent in files written before feature sets: "weights"). */
static int parse_feature_set(struct checkpoint_info *info, const struct cJSON *root, char *msg,
			     size_t len)
{
	const char *s;
	info->feature_set = ROWFEAT_SET_WEIGHTS;
	if (!json_get(root, "feature_set"))
		return CHECKPOINT_OK;
	int rc = get_string(&s, root, "feature_set", "", msg, len);
	if (rc == CHECKPOINT_OK && rowfeat_set_parse(&info->feature_set, s) != 0) {
		err_set(msg, len, 0, "unknown feature_set \"%.64s\" (expected weights or probe)", s);
		rc = CHECKPOINT_ERR_FEATURES;
	}
	return rc;
}

/* The mlp part: features must equal this build's list of the checkpoint's feature set. */
static int parse_mlp(struct checkpoint_info *info, const struct cJSON *root, char *msg, size_t len)
{
	const struct cJSON *feats, *f;
	int n, i = 0, rc;

	rc = parse_feature_set(info, root, msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_array(&feats, &n, root, "features", msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_int(&info->n_features, root, "n_features", NULL, msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_int(&info->n_hidden, root, "n_hidden", NULL, msg, len);
	if (rc != CHECKPOINT_OK)
		return rc;
	for (f = json_child(feats); f; f = json_next(f)) {
		if (json_type(f) != JSON_TYPE_STRING) {
			err_set(msg, len, 0, "features[%d] is not a string", i);
			return CHECKPOINT_ERR_METADATA;
		}
		i++;
	}
	if (n != info->n_features) {
		err_set(msg, len, 0, "features lists %d names but n_features is %d", n, info->n_features);
		return CHECKPOINT_ERR_METADATA;
	}
	if (n != rowfeat_set_count(info->feature_set)) {
		err_set(msg, len, 0, "policy takes %d features; feature set %s has %d (%s)", n,
			rowfeat_set_name(info->feature_set), rowfeat_set_count(info->feature_set),
			rowfeat_set_list(info->feature_set));
		return CHECKPOINT_ERR_FEATURES;
	}
	i = 0;
	for (f = json_child(feats); f; f = json_next(f)) {
		if (strcmp(json_string(f), rowfeat_name(i)) != 0) {
			err_set(msg, len, 0, "feature %d is \"%.64s\" in the checkpoint but \"%s\" in this build",
				i, json_string(f), rowfeat_name(i));
			return CHECKPOINT_ERR_FEATURES;
		}
		i++;
	}
	return CHECKPOINT_OK;
}

static int parse_trained_on(struct checkpoint_info *info, const struct cJSON *root, char *msg,
			    size_t len)
{
	const struct cJSON *arr, *e;
	char where[48];
	int n, i = 0, rc;

	rc = get_array(&arr, &n, root, "trained_on", msg, len);
	if (rc != CHECKPOINT_OK)
		return rc;
	if (n > 0) {
		info->trained_on = calloc((size_t)n, sizeof *info->trained_on);
		if (!info->trained_on)
			return CHECKPOINT_ERR_NOMEM;
	}
	for (e = json_child(arr); e; e = json_next(e)) {
		struct checkpoint_model *m = &info->trained_on[i];
		const char *model, *type;
		snprintf(where, sizeof where, "trained_on[%d]", i);
		if (json_type(e) != JSON_TYPE_OBJECT) {
			err_set(msg, len, 0, "%s: not an object", where);
			return CHECKPOINT_ERR_METADATA;
		}
		if (check_duplicates(e, "trained_on entry", msg, len) != 0)
			return CHECKPOINT_ERR_METADATA;
		rc = get_string(&model, e, "model", where, msg, len);
		if (rc == CHECKPOINT_OK)
			rc = get_string(&type, e, "model_type", where, msg, len);
		if (rc == CHECKPOINT_OK)
			rc = get_int(&m->hidden, e, "hidden", where, msg, len);
		if (rc == CHECKPOINT_OK)
			rc = get_int(&m->ffn, e, "ffn", where, msg, len);
		if (rc == CHECKPOINT_OK)
			rc = get_int(&m->layers, e, "layers", where, msg, len);
		if (rc != CHECKPOINT_OK)
			return rc;
		/* counted now so info_free_fields frees the strings of this entry too */
		info->n_trained_on = i + 1;
		m->model = strdup(model);
		m->model_type = strdup(type);
		if (!m->model || !m->model_type)
			return CHECKPOINT_ERR_NOMEM;
		i++;
	}
	return CHECKPOINT_OK;
}

static int parse_ratios(struct checkpoint_info *info, const struct cJSON *root, char *msg,
			size_t len)
{
	const struct cJSON *arr, *e;
	int n, i = 0, rc;

	rc = get_array(&arr, &n, root, "ratios", msg, len);
	if (rc != CHECKPOINT_OK)
		return rc;
	if (n > 0) {
		info->ratios = calloc((size_t)n, sizeof *info->ratios);
		if (!info->ratios)
			return CHECKPOINT_ERR_NOMEM;
	}
	for (e = json_child(arr); e; e = json_next(e)) {
		if (json_type(e) != JSON_TYPE_NUMBER) {
			err_set(msg, len, 0, "ratios[%d] is not a number", i);
			return CHECKPOINT_ERR_METADATA;
		}
		info->ratios[i++] = json_number(e);
	}
	info->n_ratios = n;
	return CHECKPOINT_OK;
}

/* Fills info (zeroed by the caller; its lists are owned by it even on error) from the JSON text. */
static int parse_meta(struct checkpoint_info *info, const char *text, char *msg, size_t len)
{
	struct cJSON *root = NULL;
	const char *s;
	int version, rc;

	if (strlen(text) > MAX_META_BYTES) {
		err_set(msg, len, 0, "yopo metadata longer than %u bytes", MAX_META_BYTES);
		return CHECKPOINT_ERR_METADATA;
	}
	root = json_parse(text, strlen(text));
	if (json_type(root) != JSON_TYPE_OBJECT) {
		if (root)
			err_set(msg, len, 0, "yopo metadata is not a JSON object");
		else
			err_set(msg, len, 0, "yopo metadata is not valid JSON");
		rc = CHECKPOINT_ERR_METADATA;
		goto out;
	}
	rc = check_duplicates(root, "yopo metadata", msg, len) ? CHECKPOINT_ERR_METADATA : 0;
	if (rc == CHECKPOINT_OK)
		rc = get_int(&version, root, "format_version", NULL, msg, len);
	if (rc != CHECKPOINT_OK)
		goto out;
	if (version != FORMAT_VERSION) {
		err_set(msg, len, 0, "format_version %d is not supported (this build reads %d)", version,
			FORMAT_VERSION);
		rc = CHECKPOINT_ERR_VERSION;
		goto out;
	}
	rc = get_string(&s, root, "arch", NULL, msg, len);
	if (rc != CHECKPOINT_OK)
		goto out;
	if (strcmp(s, "mlp") == 0) {
		info->arch = CHECKPOINT_ARCH_MLP;
		rc = parse_mlp(info, root, msg, len);
	} else if (strcmp(s, "prunenet") == 0) {
		info->arch = CHECKPOINT_ARCH_PRUNENET;
		rc = get_int(&info->hidden, root, "hidden", NULL, msg, len);
		if (rc == CHECKPOINT_OK)
			rc = get_int(&info->ffn, root, "ffn", NULL, msg, len);
	} else {
		err_set(msg, len, 0, "unknown arch \"%.64s\" (expected mlp or prunenet)", s);
		rc = CHECKPOINT_ERR_ARCH;
	}
	if (rc == CHECKPOINT_OK)
		rc = parse_trained_on(info, root, msg, len);
	if (rc == CHECKPOINT_OK)
		rc = parse_ratios(info, root, msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_fixed_string(info->reward, sizeof info->reward, root, "reward", msg, len);
	if (rc == CHECKPOINT_OK)
		rc = parse_probe_info(info, root, msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_string(&s, root, "seed", NULL, msg, len);
	if (rc == CHECKPOINT_OK && parse_u64(&info->seed, s) != 0) {
		err_set(msg, len, 0, "seed \"%.32s\" is not a decimal uint64", s);
		rc = CHECKPOINT_ERR_METADATA;
	}
	if (rc == CHECKPOINT_OK)
		rc = get_int(&info->episodes, root, "episodes", NULL, msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_double(&info->final_reward, root, "final_reward", msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_double(&info->best_reward, root, "best_reward", msg, len);
	if (rc == CHECKPOINT_OK)
		rc = get_fixed_string(info->yopo_version, sizeof info->yopo_version, root,
				      "yopo_version", msg, len);
	if (rc == CHECKPOINT_OK && info_check(info, msg, len) != 0)
		rc = CHECKPOINT_ERR_METADATA;
out:
	json_free(root);
	return rc;
}

/* ---- loading: tensors ---- */

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < ndim && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* Checks the file's tensors against specs and copies them into params (total). */
static int read_tensors(float *params, const struct safetensors *st,
			const struct tensor_spec *specs, int n_specs, char *msg, size_t len)
{
	char got[128], want[64];

	for (int i = 0; i < n_specs; i++) {
		const struct tensor_spec *s = &specs[i];
		const struct safetensors_tensor *t = safetensors_find(st, s->name);
		if (!t) {
			err_set(msg, len, 0, "tensor %s is missing", s->name);
			return CHECKPOINT_ERR_TENSOR;
		}
		if (t->dtype != SAFETENSORS_DTYPE_F32) {
			err_set(msg, len, 0, "tensor %s is %s, expected F32", s->name,
				safetensors_dtype_name(t->dtype));
			return CHECKPOINT_ERR_TENSOR;
		}
		if (t->ndim != s->ndim || t->shape[0] != s->shape[0] ||
		    (s->ndim == 2 && t->shape[1] != s->shape[1])) {
			shape_text(got, sizeof got, t->ndim, t->shape);
			shape_text(want, sizeof want, s->ndim, s->shape);
			err_set(msg, len, 0, "tensor %s has shape (%s), expected (%s)", s->name, got, want);
			return CHECKPOINT_ERR_SHAPE;
		}
	}
	for (int i = 0; i < safetensors_count(st); i++) {
		const char *name = safetensors_at(st, i)->name;
		bool known = false;
		for (int j = 0; j < n_specs; j++)
			known = known || strcmp(name, specs[j].name) == 0;
		if (!known) {
			err_set(msg, len, 0, "unexpected tensor %.64s", name);
			return CHECKPOINT_ERR_TENSOR;
		}
	}
	for (int i = 0; i < n_specs; i++) {
		const struct safetensors_tensor *t = safetensors_find(st, specs[i].name);
		float *dst = params + specs[i].offset;
		size_t bad;
		safetensors_read_f32(dst, t);
		bad = find_nonfinite(dst, specs[i].nelem);
		if (bad < specs[i].nelem) {
			err_set(msg, len, 0, "tensor %s element %zu is %g", specs[i].name, bad, (double)dst[bad]);
			return CHECKPOINT_ERR_NONFINITE;
		}
	}
	return CHECKPOINT_OK;
}

int checkpoint_load(struct checkpoint **out, const char *path, char *err, size_t errlen)
{
	struct safetensors *st = NULL;
	struct checkpoint *c = NULL;
	struct tensor_spec specs[MAX_SPECS];
	char msg[MSG_LEN] = "";
	const char *text;
	int n_specs, rc;

	if (!out || !path) {
		err_set(err, errlen, 0, "invalid argument");
		return CHECKPOINT_ERR_ARG;
	}
	rc = safetensors_open(&st, path);
	if (rc != SAFETENSORS_OK) {
		if (rc == SAFETENSORS_ERR_IO) {
			err_set(msg, sizeof msg, 0, "cannot read: %s", strerror(errno));
			rc = CHECKPOINT_ERR_IO;
		} else if (rc == SAFETENSORS_ERR_NOMEM) {
			err_set(msg, sizeof msg, 0, "out of memory");
			rc = CHECKPOINT_ERR_NOMEM;
		} else {
			err_set(msg, sizeof msg, 0, "not a valid safetensors file: %s", safetensors_strerror(rc));
			rc = CHECKPOINT_ERR_FORMAT;
		}
		goto out;
	}
	text = safetensors_metadata(st, "yopo");
	if (!text) {
		err_set(msg, sizeof msg, 0, "no \"yopo\" entry in __metadata__: not a yopo policy checkpoint");
		rc = CHECKPOINT_ERR_NO_METADATA;
		goto out;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		rc = CHECKPOINT_ERR_NOMEM;
		goto out;
	}
	rc = parse_meta(&c->info, text, msg, sizeof msg);
	if (rc != CHECKPOINT_OK)
		goto out;
	if (specs_build(specs, &n_specs, &c->n_params, &c->info) != 0) {
		err_set(msg, sizeof msg, 0, "parameter count overflows");
		rc = CHECKPOINT_ERR_METADATA;
		goto out;
	}
	c->params = malloc(c->n_params * sizeof(float));
	if (!c->params) {
		rc = CHECKPOINT_ERR_NOMEM;
		goto out;
	}
	rc = read_tensors(c->params, st, specs, n_specs, msg, sizeof msg);
out:
	safetensors_close(st);
	if (rc != CHECKPOINT_OK) {
		if (rc == CHECKPOINT_ERR_NOMEM && msg[0] == '\0')
			err_set(msg, sizeof msg, 0, "out of memory");
		err_set(err, errlen, 0, "%s", msg);
		checkpoint_free(c);
		return rc;
	}
	*out = c;
	return CHECKPOINT_OK;
}

void checkpoint_free(struct checkpoint *c)
{
	if (!c)
		return;
	info_free_fields(&c->info);
	free(c->params);
	free(c);
}

const struct checkpoint_info *checkpoint_get_info(const struct checkpoint *c)
{
	return c ? &c->info : NULL;
}

int checkpoint_make_mlp(const struct checkpoint *c, struct policy **out)
{
	struct policy *p = NULL;
	struct pcg32 rng;
	int rc;

	if (!c || !out || c->info.arch != CHECKPOINT_ARCH_MLP)
		return CHECKPOINT_ERR_ARG;
	/* the initialisation is overwritten: any fixed stream will do */
	pcg32_seed(&rng, 0, 0);
	rc = policy_new(&p, c->info.n_features, c->info.n_hidden, &rng);
	if (rc != POLICY_OK)
		return rc == POLICY_ERR_NOMEM ? CHECKPOINT_ERR_NOMEM : CHECKPOINT_ERR_ARG;
	if (policy_param_count(p) != c->n_params) {
		policy_free(p);
		return CHECKPOINT_ERR_ARG;
	}
	memcpy(policy_params(p), c->params, c->n_params * sizeof(float));
	*out = p;
	return CHECKPOINT_OK;
}

int checkpoint_make_prunenet(const struct checkpoint *c, struct prunenet **out)
{
	struct prunenet *p = NULL;
	struct pcg32 rng;
	int rc;

	if (!c || !out || c->info.arch != CHECKPOINT_ARCH_PRUNENET)
		return CHECKPOINT_ERR_ARG;
	pcg32_seed(&rng, 0, 0);
	rc = prunenet_new(&p, c->info.hidden, c->info.ffn, &rng);
	if (rc != PRUNENET_OK)
		return rc == PRUNENET_ERR_NOMEM ? CHECKPOINT_ERR_NOMEM : CHECKPOINT_ERR_ARG;
	if (prunenet_param_count(p) != c->n_params) {
		prunenet_free(p);
		return CHECKPOINT_ERR_ARG;
	}
	memcpy(prunenet_params(p), c->params, c->n_params * sizeof(float));
	*out = p;
	return CHECKPOINT_OK;
}

int checkpoint_check_model(const struct checkpoint *c, int hidden, int ffn, char *err,
			   size_t errlen)
{
	if (!c || hidden <= 0 || ffn <= 0) {
		err_set(err, errlen, 0, "invalid argument");
		return CHECKPOINT_ERR_ARG;
	}
	if (c->info.arch == CHECKPOINT_ARCH_PRUNENET && (c->info.hidden != hidden || c->info.ffn != ffn)) {
		err_set(err, errlen, 0,
			"policy tied to hidden %d / ffn %d (prunenet); this model has hidden %d / ffn %d",
			c->info.hidden, c->info.ffn, hidden, ffn);
		return CHECKPOINT_ERR_MODEL_SHAPE;
	}
	return CHECKPOINT_OK;
}

int checkpoint_check_features(const struct checkpoint *c, enum rowfeat_set set, char *err,
			      size_t errlen)
{
	if (!c || !rowfeat_set_name(set))
		return err_set(err, errlen, CHECKPOINT_ERR_ARG, "invalid checkpoint or feature set");
	if (c->info.arch != CHECKPOINT_ARCH_MLP || c->info.feature_set == set)
		return CHECKPOINT_OK;
	return err_set(err, errlen, CHECKPOINT_ERR_FEATURES,
		       "policy was trained with the \"%s\" feature set, not \"%s\"",
		       rowfeat_set_name(c->info.feature_set), rowfeat_set_name(set));
}
