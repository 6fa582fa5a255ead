/* checkpoint: save and load trained pruning policies, so one trained policy is reused on other
 * models and ratios.
 *
 * A checkpoint is a safetensors file of F32 tensors whose __metadata__ is
 * {"format": "pt", "yopo": "<JSON text>"}:
 *   arch "mlp":      policy.w1 (h, d), policy.b1 (h), policy.w2 (h), policy.b2 (1)
 *   arch "prunenet": prunenet.A (ffn, hidden), prunenet.b (ffn), prunenet.r (ffn)
 * The yopo JSON holds, in this key order: format_version (1), arch, then for mlp features (this
 * build's feature names of its set), feature_set ("weights" | "probe"; absent in older files,
 * which load as "weights"), n_features, n_hidden, or for prunenet hidden, ffn (the one shape it is
 * tied to); trained_on [{model, model_type, hidden, ffn, layers}], ratios [..], reward ("neg-ks" |
 * "inverse" | "functional" | "mix"), mix (only for reward mix), probe_tokens and probe_seed (a
 * decimal string; both only when the policy was trained with probes: functional / mix reward or
 * probe features), seed (a decimal string: it is a uint64), episodes, final_reward, best_reward,
 * yopo_version. No timestamps: the same parameters and info always give the same bytes.
 *
 * Loading trusts nothing: the safetensors reader validates the container, then every metadata
 * field is type- and range-checked (unknown keys are ignored, duplicate keys rejected), an
 * mlp's feature list must equal this build's (env/rowfeat.h), and the tensors must be exactly the
 * expected ones, F32, with the shapes the metadata implies and finite values. */
#ifndef YOPO_CHECKPOINT_H
#define YOPO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "prunenet.h"
#include "rowfeat.h"

/* Bounds enforced on save and load. */
#define CHECKPOINT_MAX_LIST 1024      /* entries in trained_on and in ratios */
#define CHECKPOINT_MAX_DIM (1 << 24)  /* n_hidden, hidden, ffn, layers */
#define CHECKPOINT_MAX_PATH 4096      /* bytes of a trained_on model path */
#define CHECKPOINT_MAX_TYPE 64        /* bytes of a model_type */

enum checkpoint_arch { CHECKPOINT_ARCH_MLP, CHECKPOINT_ARCH_PRUNENET };

enum checkpoint_error {
	CHECKPOINT_OK = 0,
	CHECKPOINT_ERR_IO = -1,           /* open/read/write failed (errno kept) */
	CHECKPOINT_ERR_FORMAT = -2,       /* not a valid safetensors file */
	CHECKPOINT_ERR_NO_METADATA = -3,  /* no "yopo" entry in __metadata__ */
	CHECKPOINT_ERR_METADATA = -4,     /* metadata JSON invalid, field missing / wrong type / range */
	CHECKPOINT_ERR_VERSION = -5,      /* format_version unsupported */
	CHECKPOINT_ERR_ARCH = -6,         /* unknown arch */
	CHECKPOINT_ERR_FEATURES = -7,     /* feature list differs from this build's */
	CHECKPOINT_ERR_TENSOR = -8,       /* tensor missing, extra, or not F32 */
	CHECKPOINT_ERR_SHAPE = -9,        /* tensor shape disagrees with the metadata dims */
	CHECKPOINT_ERR_NONFINITE = -10,   /* NaN or inf parameter */
	CHECKPOINT_ERR_MODEL_SHAPE = -11, /* prunenet checkpoint applied to another (hidden, ffn) */
	CHECKPOINT_ERR_NOMEM = -12,
	CHECKPOINT_ERR_ARG = -13,         /* invalid argument (NULL, inconsistent info, ...) */
};

/* Static one-line description of a checkpoint_error; "unknown checkpoint error" otherwise. */
const char *checkpoint_strerror(int err);

struct checkpoint_model {
	char *model;       /* model directory as given on the command line */
	char *model_type;  /* config.json model_type */
	int hidden, ffn, layers;
};

struct checkpoint_info {
	enum checkpoint_arch arch;
	int n_features, n_hidden;  /* mlp */
	enum rowfeat_set feature_set; /* mlp: what the policy sees; n_features is its count */
	int hidden, ffn;           /* prunenet */
	struct checkpoint_model *trained_on;
	int n_trained_on;
	double *ratios;            /* each in (0, 1) */
	int n_ratios;
	char reward[16];           /* "neg-ks", "inverse", "functional" or "mix" */
	double mix;                /* reward "mix": weight of the functional part (else unused) */
	int probe_tokens;          /* self-sampled probe tokens per model (0: trained without probes) */
	uint64_t probe_seed;       /* their seed (env/probe.h) */
	uint64_t seed;
	int episodes;              /* >= 0 */
	double final_reward, best_reward; /* finite */
	char yopo_version[32];     /* written from the build's YOPO_VERSION; ignored on save */
};

struct checkpoint; /* a loaded checkpoint: info + parameters, independent of the file */

/* Writes the mlp policy p with info to path, atomically (on error path is untouched).
 * info->arch must be CHECKPOINT_ARCH_MLP and info->n_features / n_hidden must equal p's; the
 * fields of info must satisfy what loading checks, so every saved file loads.
 * Errors: CHECKPOINT_ERR_ARG (NULL, inconsistent or out-of-range info, non-UTF-8 strings),
 * CHECKPOINT_ERR_FEATURES (p does not take rowfeat_set_count(info->feature_set) inputs), CHECKPOINT_ERR_NONFINITE
 * (a NaN/inf parameter), CHECKPOINT_ERR_IO (errno kept), CHECKPOINT_ERR_NOMEM. */
int checkpoint_save_mlp(const char *path, struct policy *p, const struct checkpoint_info *info);

/* As checkpoint_save_mlp for a PruneNet: info->arch must be CHECKPOINT_ARCH_PRUNENET,
 * info->hidden / ffn must equal p's, and so must every trained_on model's hidden / ffn. */
int checkpoint_save_prunenet(const char *path, struct prunenet *p,
			     const struct checkpoint_info *info);

/* Loads and validates path. On success *out owns the checkpoint (checkpoint_free); the file is
 * closed again before returning. On failure *out is untouched and err (errlen bytes, may be NULL)
 * gets a one-line reason, e.g. "policy.w1: shape (16, 7), expected (16, 6)".
 * Errors: every negative checkpoint_error except MODEL_SHAPE. */
int checkpoint_load(struct checkpoint **out, const char *path, char *err, size_t errlen);

/* Releases c and everything its info points to. NULL is a no-op. */
void checkpoint_free(struct checkpoint *c);

/* The checkpoint's metadata; borrowed, valid until checkpoint_free(c). */
const struct checkpoint_info *checkpoint_get_info(const struct checkpoint *c);

/* A new policy holding c's parameters (gradients, Adam moments and step count zero); on success
 * the caller owns *out (policy_free). Errors: CHECKPOINT_ERR_ARG (NULL, or c is not an mlp
 * checkpoint), CHECKPOINT_ERR_NOMEM. */
int checkpoint_make_mlp(const struct checkpoint *c, struct policy **out);

/* As checkpoint_make_mlp for a prunenet checkpoint; the caller owns *out (prunenet_free). */
int checkpoint_make_prunenet(const struct checkpoint *c, struct prunenet **out);

/* Whether c applies to a model with this FFN shape. mlp checkpoints fit every model; a prunenet
 * checkpoint only its own (hidden, ffn). Errors: CHECKPOINT_ERR_MODEL_SHAPE with err set to e.g.
 * "policy tied to hidden 64 / ffn 172 (prunenet); this model has hidden 128 / ffn 512",
 * CHECKPOINT_ERR_ARG (NULL c, non-positive dims). */
int checkpoint_check_model(const struct checkpoint *c, int hidden, int ffn, char *err,
			   size_t errlen);

/* Whether c's policy was trained with feature set `set` (prunenet checkpoints see weights only
 * and always pass). Errors: CHECKPOINT_ERR_FEATURES with err e.g. "policy was trained with the
 * \"probe\" feature set, not \"weights\"", CHECKPOINT_ERR_ARG. */
int checkpoint_check_features(const struct checkpoint *c, enum rowfeat_set set, char *err,
			      size_t errlen);

#endif
