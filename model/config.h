/* config: a Hugging Face config.json turned into a family descriptor.
 *
 * The descriptor says everything the loader, the forward pass and the pruner need to know about a
 * checkpoint without looking at its tensors: sizes, activation, norm, position scheme, biases,
 * residual layout and where each tensor lives (config_tensor_name). */
#ifndef YOPO_CONFIG_H
#define YOPO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define CONFIG_MAX_LAYERS 256
/* Largest config.json read (bytes). */
#define CONFIG_MAX_BYTES ((size_t)16 << 20)

enum config_family {
	CONFIG_FAMILY_LLAMA,    /* also mistral, qwen2 */
	CONFIG_FAMILY_GPT_NEO,
	CONFIG_FAMILY_GPT2,
	CONFIG_FAMILY_OPT,
	CONFIG_FAMILY_GPT_NEOX,
	CONFIG_FAMILY_PHI,
};

enum config_act {
	CONFIG_ACT_SILU,
	CONFIG_ACT_GELU,      /* exact, erf */
	CONFIG_ACT_GELU_TANH, /* gelu_new / gelu_pytorch_tanh */
	CONFIG_ACT_RELU,
};

enum config_norm { CONFIG_NORM_RMS, CONFIG_NORM_LAYER };

enum config_residual {
	CONFIG_RESIDUAL_SEQUENTIAL,      /* x += attn(ln1 x); x += mlp(ln2 x) */
	CONFIG_RESIDUAL_PARALLEL,        /* x += attn(ln1 x) + mlp(ln2 x)  (gpt_neox) */
	CONFIG_RESIDUAL_PARALLEL_SHARED, /* x += attn(ln x) + mlp(ln x)    (phi) */
};

enum config_qkv {
	CONFIG_QKV_SEPARATE,     /* q_proj, k_proj, v_proj */
	CONFIG_QKV_FUSED_CONV1D, /* gpt2 c_attn: (hidden, 3*hidden) = [q | k | v] columns */
	CONFIG_QKV_FUSED_HEADS,  /* gpt_neox query_key_value: (3*hidden, hidden), per head [q k v] */
};

enum config_error {
	CONFIG_OK = 0,
	CONFIG_ERR_IO = -1,          /* config.json missing or unreadable */
	CONFIG_ERR_JSON = -2,        /* not valid JSON / not an object */
	CONFIG_ERR_FAMILY = -3,      /* model_type missing or not supported */
	CONFIG_ERR_FIELD = -4,       /* required field missing or of the wrong type */
	CONFIG_ERR_VALUE = -5,       /* field out of range or inconsistent with another */
	CONFIG_ERR_UNSUPPORTED = -6, /* a known feature yopo does not implement (e.g. rope_scaling) */
};

/* Per-layer and per-model tensors a family may have. */
enum config_tensor {
	CONFIG_TENSOR_EMBED,
	CONFIG_TENSOR_POS_EMBED,
	CONFIG_TENSOR_FINAL_NORM,
	CONFIG_TENSOR_FINAL_NORM_BIAS,
	CONFIG_TENSOR_LM_HEAD,
	CONFIG_TENSOR_LM_HEAD_BIAS,
	CONFIG_TENSOR_ATTN_NORM,
	CONFIG_TENSOR_ATTN_NORM_BIAS,
	CONFIG_TENSOR_FFN_NORM,
	CONFIG_TENSOR_FFN_NORM_BIAS,
	CONFIG_TENSOR_Q,
	CONFIG_TENSOR_Q_BIAS,
	CONFIG_TENSOR_K,
	CONFIG_TENSOR_K_BIAS,
	CONFIG_TENSOR_V,
	CONFIG_TENSOR_V_BIAS,
	CONFIG_TENSOR_QKV,
	CONFIG_TENSOR_QKV_BIAS,
	CONFIG_TENSOR_O,
	CONFIG_TENSOR_O_BIAS,
	CONFIG_TENSOR_UP,
	CONFIG_TENSOR_UP_BIAS,
	CONFIG_TENSOR_GATE,
	CONFIG_TENSOR_GATE_BIAS,
	CONFIG_TENSOR_DOWN,
	CONFIG_TENSOR_DOWN_BIAS,
	CONFIG_TENSOR_COUNT,
};

struct config {
	enum config_family family;
	char model_type[32];      /* as written in config.json */
	const char *ffn_key;      /* config.json key holding the FFN width */
	char prefix[32];          /* tensor-name prefix, set by the loader ("" unless probed) */

	int n_layers, hidden, ffn, n_heads, n_kv_heads, head_dim, vocab, max_pos;
	int layer_ffn[CONFIG_MAX_LAYERS]; /* FFN width per layer (HF configs: all == ffn) */
	int window[CONFIG_MAX_LAYERS];    /* 0: global attention, else local window (keys i-w < j <= i) */

	double norm_eps;
	double attn_scale;        /* multiplies q·k; 1 for gpt_neo, 1/sqrt(head_dim) elsewhere */
	double rope_theta;
	int rotary_dim;           /* leading dims of each head that rotate; 0: no RoPE */
	bool learned_pos;
	int pos_offset;           /* OPT's learned positions start at row 2 */

	enum config_act act;
	enum config_norm norm;
	enum config_residual residual;
	enum config_qkv qkv;
	bool conv1d;              /* matrices stored (in, out) (gpt2) */
	bool gated;               /* SwiGLU-style gate */
	bool qkv_bias, o_bias, ffn_bias, norm_bias, lm_head_bias;
	bool tied;                /* lm_head shares the embedding */

	int bos_id, eos_id;       /* -1 if config.json gives none */
};

const char *config_strerror(int err);

/* Names of the supported model_type values, comma separated (for error messages). */
const char *config_supported_types(void);

/* Parses config.json text. On failure returns a negative config_error and writes a one-line
 * reason to err (if err != NULL); *out is written only on success. */
int config_parse(struct config *out, const char *json, size_t len, char *err, size_t errlen);

/* Reads and parses path (a config.json). Same contract as config_parse. */
int config_load(struct config *out, const char *path, char *err, size_t errlen);

/* Writes the name of tensor `which` of `layer` (ignored for model-level tensors) into buf.
 * Returns 0, or -1 if this family has no such tensor (e.g. GATE for gpt2) or buf is too small. */
int config_tensor_name(char *buf, size_t cap, const struct config *c, enum config_tensor which,
		       int layer);

/* Whether the checkpoint must contain `which` for this configuration (biases, gates, ...). */
bool config_tensor_needed(const struct config *c, enum config_tensor which);

/* Name of the family ("llama", "gpt_neo", ...). */
const char *config_family_name(enum config_family f);

#endif
