/* config: config.json (through util/json) -> family descriptor. See config.h. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "json.h"

const char *config_strerror(int err)
{
	switch (err) {
	case CONFIG_OK: return "success";
	case CONFIG_ERR_IO: return "cannot read config.json";
	case CONFIG_ERR_JSON: return "config.json is not a valid JSON object";
	case CONFIG_ERR_FAMILY: return "unsupported model_type";
	case CONFIG_ERR_FIELD: return "config.json field missing or of the wrong type";
	case CONFIG_ERR_VALUE: return "config.json field out of range";
	case CONFIG_ERR_UNSUPPORTED: return "config.json asks for a feature yopo does not implement";
	}
	return "unknown config error";
}

const char *config_supported_types(void)
{
	return "llama, mistral, qwen2, gpt_neo, gpt2, opt, gpt_neox, phi";
}

const char *config_family_name(enum config_family f)
{
	switch (f) {
	case CONFIG_FAMILY_LLAMA: return "llama";
	case CONFIG_FAMILY_GPT_NEO: return "gpt_neo";
	case CONFIG_FAMILY_GPT2: return "gpt2";
	case CONFIG_FAMILY_OPT: return "opt";
	case CONFIG_FAMILY_GPT_NEOX: return "gpt_neox";
	case CONFIG_FAMILY_PHI: return "phi";
	}
	return "?";
}

/* Tensor-name formats, called as snprintf(buf, cap, fmt, prefix, layer); model-level names
 * ignore the layer and some ignore the prefix. NULL: the family has no such tensor. */
static const char *const names[][CONFIG_TENSOR_COUNT] = {
	[CONFIG_FAMILY_LLAMA] = {
		[CONFIG_TENSOR_EMBED] = "%smodel.embed_tokens.weight",
		[CONFIG_TENSOR_FINAL_NORM] = "%smodel.norm.weight",
		[CONFIG_TENSOR_LM_HEAD] = "lm_head.weight",
		[CONFIG_TENSOR_ATTN_NORM] = "%smodel.layers.%d.input_layernorm.weight",
		[CONFIG_TENSOR_FFN_NORM] = "%smodel.layers.%d.post_attention_layernorm.weight",
		[CONFIG_TENSOR_Q] = "%smodel.layers.%d.self_attn.q_proj.weight",
		[CONFIG_TENSOR_Q_BIAS] = "%smodel.layers.%d.self_attn.q_proj.bias",
		[CONFIG_TENSOR_K] = "%smodel.layers.%d.self_attn.k_proj.weight",
		[CONFIG_TENSOR_K_BIAS] = "%smodel.layers.%d.self_attn.k_proj.bias",
		[CONFIG_TENSOR_V] = "%smodel.layers.%d.self_attn.v_proj.weight",
		[CONFIG_TENSOR_V_BIAS] = "%smodel.layers.%d.self_attn.v_proj.bias",
		[CONFIG_TENSOR_O] = "%smodel.layers.%d.self_attn.o_proj.weight",
		[CONFIG_TENSOR_O_BIAS] = "%smodel.layers.%d.self_attn.o_proj.bias",
		[CONFIG_TENSOR_UP] = "%smodel.layers.%d.mlp.up_proj.weight",
		[CONFIG_TENSOR_UP_BIAS] = "%smodel.layers.%d.mlp.up_proj.bias",
		[CONFIG_TENSOR_GATE] = "%smodel.layers.%d.mlp.gate_proj.weight",
		[CONFIG_TENSOR_GATE_BIAS] = "%smodel.layers.%d.mlp.gate_proj.bias",
		[CONFIG_TENSOR_DOWN] = "%smodel.layers.%d.mlp.down_proj.weight",
		[CONFIG_TENSOR_DOWN_BIAS] = "%smodel.layers.%d.mlp.down_proj.bias",
	},
	[CONFIG_FAMILY_GPT_NEO] = {
		[CONFIG_TENSOR_EMBED] = "%stransformer.wte.weight",
		[CONFIG_TENSOR_POS_EMBED] = "%stransformer.wpe.weight",
		[CONFIG_TENSOR_FINAL_NORM] = "%stransformer.ln_f.weight",
		[CONFIG_TENSOR_FINAL_NORM_BIAS] = "%stransformer.ln_f.bias",
		[CONFIG_TENSOR_LM_HEAD] = "lm_head.weight",
		[CONFIG_TENSOR_ATTN_NORM] = "%stransformer.h.%d.ln_1.weight",
		[CONFIG_TENSOR_ATTN_NORM_BIAS] = "%stransformer.h.%d.ln_1.bias",
		[CONFIG_TENSOR_FFN_NORM] = "%stransformer.h.%d.ln_2.weight",
		[CONFIG_TENSOR_FFN_NORM_BIAS] = "%stransformer.h.%d.ln_2.bias",
		[CONFIG_TENSOR_Q] = "%stransformer.h.%d.attn.attention.q_proj.weight",
		[CONFIG_TENSOR_K] = "%stransformer.h.%d.attn.attention.k_proj.weight",
		[CONFIG_TENSOR_V] = "%stransformer.h.%d.attn.attention.v_proj.weight",
		[CONFIG_TENSOR_O] = "%stransformer.h.%d.attn.attention.out_proj.weight",
		[CONFIG_TENSOR_O_BIAS] = "%stransformer.h.%d.attn.attention.out_proj.bias",
		[CONFIG_TENSOR_UP] = "%stransformer.h.%d.mlp.c_fc.weight",
		[CONFIG_TENSOR_UP_BIAS] = "%stransformer.h.%d.mlp.c_fc.bias",
		[CONFIG_TENSOR_DOWN] = "%stransformer.h.%d.mlp.c_proj.weight",
		[CONFIG_TENSOR_DOWN_BIAS] = "%stransformer.h.%d.mlp.c_proj.bias",
	},
	[CONFIG_FAMILY_GPT2] = {
		[CONFIG_TENSOR_EMBED] = "%swte.weight",
		[CONFIG_TENSOR_POS_EMBED] = "%swpe.weight",
		[CONFIG_TENSOR_FINAL_NORM] = "%sln_f.weight",
		[CONFIG_TENSOR_FINAL_NORM_BIAS] = "%sln_f.bias",
		[CONFIG_TENSOR_LM_HEAD] = "lm_head.weight",
		[CONFIG_TENSOR_ATTN_NORM] = "%sh.%d.ln_1.weight",
		[CONFIG_TENSOR_ATTN_NORM_BIAS] = "%sh.%d.ln_1.bias",
		[CONFIG_TENSOR_FFN_NORM] = "%sh.%d.ln_2.weight",
		[CONFIG_TENSOR_FFN_NORM_BIAS] = "%sh.%d.ln_2.bias",
		[CONFIG_TENSOR_QKV] = "%sh.%d.attn.c_attn.weight",
		[CONFIG_TENSOR_QKV_BIAS] = "%sh.%d.attn.c_attn.bias",
		[CONFIG_TENSOR_O] = "%sh.%d.attn.c_proj.weight",
		[CONFIG_TENSOR_O_BIAS] = "%sh.%d.attn.c_proj.bias",
		[CONFIG_TENSOR_UP] = "%sh.%d.mlp.c_fc.weight",
		[CONFIG_TENSOR_UP_BIAS] = "%sh.%d.mlp.c_fc.bias",
		[CONFIG_TENSOR_DOWN] = "%sh.%d.mlp.c_proj.weight",
		[CONFIG_TENSOR_DOWN_BIAS] = "%sh.%d.mlp.c_proj.bias",
	},
	[CONFIG_FAMILY_OPT] = {
		[CONFIG_TENSOR_EMBED] = "%sdecoder.embed_tokens.weight",
		[CONFIG_TENSOR_POS_EMBED] = "%sdecoder.embed_positions.weight",
		[CONFIG_TENSOR_FINAL_NORM] = "%sdecoder.final_layer_norm.weight",
		[CONFIG_TENSOR_FINAL_NORM_BIAS] = "%sdecoder.final_layer_norm.bias",
		[CONFIG_TENSOR_LM_HEAD] = "lm_head.weight",
		[CONFIG_TENSOR_ATTN_NORM] = "%sdecoder.layers.%d.self_attn_layer_norm.weight",
		[CONFIG_TENSOR_ATTN_NORM_BIAS] = "%sdecoder.layers.%d.self_attn_layer_norm.bias",
		[CONFIG_TENSOR_FFN_NORM] = "%sdecoder.layers.%d.final_layer_norm.weight",
		[CONFIG_TENSOR_FFN_NORM_BIAS] = "%sdecoder.layers.%d.final_layer_norm.bias",
		[CONFIG_TENSOR_Q] = "%sdecoder.layers.%d.self_attn.q_proj.weight",
		[CONFIG_TENSOR_Q_BIAS] = "%sdecoder.layers.%d.self_attn.q_proj.bias",
		[CONFIG_TENSOR_K] = "%sdecoder.layers.%d.self_attn.k_proj.weight",
		[CONFIG_TENSOR_K_BIAS] = "%sdecoder.layers.%d.self_attn.k_proj.bias",
		[CONFIG_TENSOR_V] = "%sdecoder.layers.%d.self_attn.v_proj.weight",
		[CONFIG_TENSOR_V_BIAS] = "%sdecoder.layers.%d.self_attn.v_proj.bias",
		[CONFIG_TENSOR_O] = "%sdecoder.layers.%d.self_attn.out_proj.weight",
		[CONFIG_TENSOR_O_BIAS] = "%sdecoder.layers.%d.self_attn.out_proj.bias",
		[CONFIG_TENSOR_UP] = "%sdecoder.layers.%d.fc1.weight",
		[CONFIG_TENSOR_UP_BIAS] = "%sdecoder.layers.%d.fc1.bias",
		[CONFIG_TENSOR_DOWN] = "%sdecoder.layers.%d.fc2.weight",
		[CONFIG_TENSOR_DOWN_BIAS] = "%sdecoder.layers.%d.fc2.bias",
	},
	[CONFIG_FAMILY_GPT_NEOX] = {
		[CONFIG_TENSOR_EMBED] = "%sgpt_neox.embed_in.weight",
		[CONFIG_TENSOR_FINAL_NORM] = "%sgpt_neox.final_layer_norm.weight",
		[CONFIG_TENSOR_FINAL_NORM_BIAS] = "%sgpt_neox.final_layer_norm.bias",
		[CONFIG_TENSOR_LM_HEAD] = "embed_out.weight",
		[CONFIG_TENSOR_ATTN_NORM] = "%sgpt_neox.layers.%d.input_layernorm.weight",
		[CONFIG_TENSOR_ATTN_NORM_BIAS] = "%sgpt_neox.layers.%d.input_layernorm.bias",
		[CONFIG_TENSOR_FFN_NORM] = "%sgpt_neox.layers.%d.post_attention_layernorm.weight",
		[CONFIG_TENSOR_FFN_NORM_BIAS] = "%sgpt_neox.layers.%d.post_attention_layernorm.bias",
		[CONFIG_TENSOR_QKV] = "%sgpt_neox.layers.%d.attention.query_key_value.weight",
		[CONFIG_TENSOR_QKV_BIAS] = "%sgpt_neox.layers.%d.attention.query_key_value.bias",
		[CONFIG_TENSOR_O] = "%sgpt_neox.layers.%d.attention.dense.weight",
		[CONFIG_TENSOR_O_BIAS] = "%sgpt_neox.layers.%d.attention.dense.bias",
		[CONFIG_TENSOR_UP] = "%sgpt_neox.layers.%d.mlp.dense_h_to_4h.weight",
		[CONFIG_TENSOR_UP_BIAS] = "%sgpt_neox.layers.%d.mlp.dense_h_to_4h.bias",
		[CONFIG_TENSOR_DOWN] = "%sgpt_neox.layers.%d.mlp.dense_4h_to_h.weight",
		[CONFIG_TENSOR_DOWN_BIAS] = "%sgpt_neox.layers.%d.mlp.dense_4h_to_h.bias",
	},
	[CONFIG_FAMILY_PHI] = {
		[CONFIG_TENSOR_EMBED] = "%smodel.embed_tokens.weight",
		[CONFIG_TENSOR_FINAL_NORM] = "%smodel.final_layernorm.weight",
		[CONFIG_TENSOR_FINAL_NORM_BIAS] = "%smodel.final_layernorm.bias",
		[CONFIG_TENSOR_LM_HEAD] = "lm_head.weight",
		[CONFIG_TENSOR_LM_HEAD_BIAS] = "lm_head.bias",
		[CONFIG_TENSOR_ATTN_NORM] = "%smodel.layers.%d.input_layernorm.weight",
		[CONFIG_TENSOR_ATTN_NORM_BIAS] = "%smodel.layers.%d.input_layernorm.bias",
		[CONFIG_TENSOR_Q] = "%smodel.layers.%d.self_attn.q_proj.weight",
		[CONFIG_TENSOR_Q_BIAS] = "%smodel.layers.%d.self_attn.q_proj.bias",
		[CONFIG_TENSOR_K] = "%smodel.layers.%d.self_attn.k_proj.weight",
		[CONFIG_TENSOR_K_BIAS] = "%smodel.layers.%d.self_attn.k_proj.bias",
		[CONFIG_TENSOR_V] = "%smodel.layers.%d.self_attn.v_proj.weight",
		[CONFIG_TENSOR_V_BIAS] = "%smodel.layers.%d.self_attn.v_proj.bias",
		[CONFIG_TENSOR_O] = "%smodel.layers.%d.self_attn.dense.weight",
		[CONFIG_TENSOR_O_BIAS] = "%smodel.layers.%d.self_attn.dense.bias",
		[CONFIG_TENSOR_UP] = "%smodel.layers.%d.mlp.fc1.weight",
		[CONFIG_TENSOR_UP_BIAS] = "%smodel.layers.%d.mlp.fc1.bias",
		[CONFIG_TENSOR_DOWN] = "%smodel.layers.%d.mlp.fc2.weight",
		[CONFIG_TENSOR_DOWN_BIAS] = "%smodel.layers.%d.mlp.fc2.bias",
	},
};

int config_tensor_name(char *buf, size_t cap, const struct config *c, enum config_tensor which,
		       int layer)
{
	if (which < 0 || which >= CONFIG_TENSOR_COUNT)
		return -1;
	const char *fmt = names[c->family][which];
	if (!fmt)
		return -1;
	int n = snprintf(buf, cap, fmt, c->prefix, layer);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return 0;
}

bool config_tensor_needed(const struct config *c, enum config_tensor which)
{
	if (!names[c->family][which])
		return false;
	switch (which) {
	case CONFIG_TENSOR_POS_EMBED: return c->learned_pos;
	case CONFIG_TENSOR_LM_HEAD: return !c->tied;
	case CONFIG_TENSOR_LM_HEAD_BIAS: return c->lm_head_bias;
	case CONFIG_TENSOR_FINAL_NORM_BIAS:
	case CONFIG_TENSOR_ATTN_NORM_BIAS:
	case CONFIG_TENSOR_FFN_NORM_BIAS: return c->norm_bias;
	case CONFIG_TENSOR_FFN_NORM:
		return c->residual != CONFIG_RESIDUAL_PARALLEL_SHARED;
	case CONFIG_TENSOR_Q:
	case CONFIG_TENSOR_K:
	case CONFIG_TENSOR_V: return c->qkv == CONFIG_QKV_SEPARATE;
	case CONFIG_TENSOR_Q_BIAS:
	case CONFIG_TENSOR_K_BIAS:
	case CONFIG_TENSOR_V_BIAS: return c->qkv == CONFIG_QKV_SEPARATE && c->qkv_bias;
	case CONFIG_TENSOR_QKV: return c->qkv != CONFIG_QKV_SEPARATE;
	case CONFIG_TENSOR_QKV_BIAS: return c->qkv != CONFIG_QKV_SEPARATE && c->qkv_bias;
	case CONFIG_TENSOR_O_BIAS: return c->o_bias;
	case CONFIG_TENSOR_GATE: return c->gated;
	case CONFIG_TENSOR_GATE_BIAS: return c->gated && c->ffn_bias;
	case CONFIG_TENSOR_UP_BIAS:
	case CONFIG_TENSOR_DOWN_BIAS: return c->ffn_bias;
	default: return true;
	}
}

/* ---- JSON field helpers: each records a one-line reason on failure ---- */

struct reader {
	const struct cJSON *root;
	char *err;
	size_t errlen;
	int status;
};

static void fail(struct reader *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct reader *r, int status, const char *fmt, ...)
{
	if (r->status)
		return; /* keep the first reason */
	r->status = status;
	if (r->err && r->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
		err_clean(r->err); /* quoted values may hold newlines */
	}
}

/* Records a util/json getter's failure: wrong type -> FIELD, out of range -> VALUE. */
static void fail_json(struct reader *r, int jrc, const char *msg)
{
	fail(r, jrc == JSON_ERR_RANGE ? CONFIG_ERR_VALUE : CONFIG_ERR_FIELD, "%s", msg);
}

/* Member key unless absent or null (Hugging Face writes null for "not set"). */
static const struct cJSON *field(const struct reader *r, const char *key)
{
	const struct cJSON *v = json_get(r->root, key);
	return json_type(v) == JSON_TYPE_NULL ? NULL : v;
}

/* First key of `keys` (NULL-terminated) present and not null. */
static const struct cJSON *field_any(const struct reader *r, const char *const *keys,
				     const char **used)
{
	for (; *keys; keys++) {
		const struct cJSON *v = field(r, *keys);
		if (v) {
			if (used)
				*used = *keys;
			return v;
		}
	}
	return NULL;
}

/* An integer in [min, max]; missing or null -> def (def < min: required). */
static int get_int(struct reader *r, const char *key, int def, int min, int max)
{
	char msg[ERR_MAX];
	long v;
	if (!field(r, key)) {
		if (def < min)
			fail(r, CONFIG_ERR_FIELD, "config.json: missing required field \"%s\"", key);
		return def;
	}
	int jrc = json_get_int(&v, r->root, key, min, max, "config.json", msg, sizeof msg);
	if (jrc) {
		fail_json(r, jrc, msg);
		return def;
	}
	return (int)v;
}

static double get_num(struct reader *r, const char *key, double def, double min, double max)
{
	char msg[ERR_MAX];
	double v;
	if (!field(r, key))
		return def;
	int jrc = json_get_double(&v, r->root, key, min, max, "config.json", msg, sizeof msg);
	if (jrc) {
		fail_json(r, jrc, msg);
		return def;
	}
	return v;
}

static bool get_bool(struct reader *r, const char *key, bool def)
{
	char msg[ERR_MAX];
	bool v;
	if (!field(r, key))
		return def;
	int jrc = json_get_bool_or(&v, r->root, key, def, "config.json", msg, sizeof msg);
	if (jrc) {
		fail_json(r, jrc, msg);
		return def;
	}
	return v;
}

/* bos/eos ids may be an integer or a list (first element used). */
static int get_token_id(struct reader *r, const char *key)
{
	const struct cJSON *v = field(r, key);
	if (json_type(v) == JSON_TYPE_ARRAY)
		v = json_at(v, 0);
	if (!v)
		return -1;
	if (!json_is_integer(v, 0, 1e9)) {
		fail(r, CONFIG_ERR_FIELD, "config.json: \"%s\" must be a token id", key);
		return -1;
	}
	return (int)json_number(v);
}

static void get_act(struct reader *r, struct config *c, const char *const *keys, const char *def)
{
	const char *used = keys[0];
	const struct cJSON *v = field_any(r, keys, &used);
	const char *name = def;
	if (v) {
		if (!(name = json_string(v))) {
			fail(r, CONFIG_ERR_FIELD, "config.json: \"%s\" must be a string", used);
			return;
		}
	}
	if (!strcmp(name, "silu") || !strcmp(name, "swish"))
		c->act = CONFIG_ACT_SILU;
	else if (!strcmp(name, "gelu"))
		c->act = CONFIG_ACT_GELU;
	else if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh") ||
		 !strcmp(name, "gelu_fast"))
		c->act = CONFIG_ACT_GELU_TANH;
	else if (!strcmp(name, "relu"))
		c->act = CONFIG_ACT_RELU;
	else
		fail(r, CONFIG_ERR_UNSUPPORTED,
		     "config.json: activation \"%s\" is not supported (silu, gelu, gelu_new, relu)", name);
}

static const int max_dim = 1 << 20;

static void parse_llama(struct reader *r, struct config *c)
{
	c->hidden = get_int(r, "hidden_size", -1, 1, max_dim);
	c->ffn = get_int(r, "intermediate_size", -1, 1, max_dim);
	c->ffn_key = "intermediate_size";
	c->n_layers = get_int(r, "num_hidden_layers", -1, 1, CONFIG_MAX_LAYERS);
	c->n_heads = get_int(r, "num_attention_heads", -1, 1, 4096);
	c->n_kv_heads = get_int(r, "num_key_value_heads", c->n_heads, 1, 4096);
	c->head_dim = get_int(r, "head_dim", c->n_heads > 0 ? c->hidden / c->n_heads : 0, 1, 65536);
	c->vocab = get_int(r, "vocab_size", -1, 1, 1 << 24);
	c->max_pos = get_int(r, "max_position_embeddings", 2048, 1, 1 << 24);
	c->norm_eps = get_num(r, "rms_norm_eps", 1e-6, 0, 1);
	c->rope_theta = get_num(r, "rope_theta", 10000.0, 1, 1e12);
	c->rotary_dim = c->head_dim;
	c->norm = CONFIG_NORM_RMS;
	c->residual = CONFIG_RESIDUAL_SEQUENTIAL;
	c->qkv = CONFIG_QKV_SEPARATE;
	c->gated = true;
	bool attn_bias = get_bool(r, "attention_bias", false);
	c->qkv_bias = attn_bias;
	c->o_bias = attn_bias;
	if (!strcmp(c->model_type, "qwen2")) {
		c->qkv_bias = true;
		c->o_bias = false;
	}
	c->ffn_bias = get_bool(r, "mlp_bias", false);
	c->tied = get_bool(r, "tie_word_embeddings", false);
	get_act(r, c, (const char *const[]){"hidden_act", NULL}, "silu");
	const struct cJSON *rs = field(r, "rope_scaling");
	if (rs) {
		const struct cJSON *t = json_get(rs, "rope_type");
		if (!t)
			t = json_get(rs, "type");
		const char *type = json_string(t);
		if (!type || strcmp(type, "default"))
			fail(r, CONFIG_ERR_UNSUPPORTED, "config.json: rope_scaling %s is not supported",
			     type ? type : "(unknown type)");
	}
	int sw = 0;
	if (field(r, "sliding_window") && get_bool(r, "use_sliding_window", true))
		sw = get_int(r, "sliding_window", 0, 0, 1 << 30);
	for (int i = 0; i < CONFIG_MAX_LAYERS; i++)
		c->window[i] = sw;
}

static void parse_gpt_neo(struct reader *r, struct config *c)
{
	c->hidden = get_int(r, "hidden_size", -1, 1, max_dim);
	c->ffn = get_int(r, "intermediate_size", c->hidden > 0 ? 4 * c->hidden : -1, 1, max_dim);
	c->ffn_key = "intermediate_size";
	c->n_layers = get_int(r, "num_layers", -1, 1, CONFIG_MAX_LAYERS);
	c->n_heads = get_int(r, "num_heads", -1, 1, 4096);
	c->n_kv_heads = c->n_heads;
	c->head_dim = c->n_heads > 0 ? c->hidden / c->n_heads : 0;
	c->vocab = get_int(r, "vocab_size", -1, 1, 1 << 24);
	c->max_pos = get_int(r, "max_position_embeddings", -1, 1, 1 << 24);
	c->norm_eps = get_num(r, "layer_norm_epsilon", 1e-5, 0, 1);
	c->attn_scale = 1.0; /* GPT-Neo does not scale attention scores */
	c->learned_pos = true;
	c->norm = CONFIG_NORM_LAYER;
	c->norm_bias = true;
	c->residual = CONFIG_RESIDUAL_SEQUENTIAL;
	c->qkv = CONFIG_QKV_SEPARATE;
	c->o_bias = true;
	c->ffn_bias = true;
	c->tied = get_bool(r, "tie_word_embeddings", true);
	get_act(r, c, (const char *const[]){"activation_function", NULL}, "gelu_new");
	int window = get_int(r, "window_size", 256, 1, 1 << 30);
	const struct cJSON *layers = field(r, "attention_layers");
	if (!layers) {
		fail(r, CONFIG_ERR_FIELD, "config.json: missing required field \"attention_layers\"");
		return;
	}
	if (json_type(layers) != JSON_TYPE_ARRAY || json_count(layers) != c->n_layers) {
		fail(r, CONFIG_ERR_VALUE, "config.json: \"attention_layers\" must list num_layers entries");
		return;
	}
	int i = 0;
	for (const struct cJSON *it = json_child(layers); it; it = json_next(it)) {
		const char *kind = json_string(it);
		if (kind && !strcmp(kind, "global"))
			c->window[i] = 0;
		else if (kind && !strcmp(kind, "local"))
			c->window[i] = window;
		else {
			fail(r, CONFIG_ERR_VALUE, "config.json: attention_layers[%d] must be \"global\" or \"local\"", i);
			return;
		}
		i++;
	}
}

static void parse_gpt2(struct reader *r, struct config *c)
{
	c->hidden = get_int(r, "n_embd", -1, 1, max_dim);
	c->ffn = get_int(r, "n_inner", c->hidden > 0 ? 4 * c->hidden : -1, 1, max_dim);
	c->ffn_key = "n_inner";
	c->n_layers = get_int(r, "n_layer", -1, 1, CONFIG_MAX_LAYERS);
	c->n_heads = get_int(r, "n_head", -1, 1, 4096);
	c->n_kv_heads = c->n_heads;
	c->head_dim = c->n_heads > 0 ? c->hidden / c->n_heads : 0;
	c->vocab = get_int(r, "vocab_size", -1, 1, 1 << 24);
	c->max_pos = get_int(r, "n_positions", 1024, 1, 1 << 24);
	c->norm_eps = get_num(r, "layer_norm_epsilon", 1e-5, 0, 1);
	if (!get_bool(r, "scale_attn_weights", true))
		c->attn_scale = 1.0;
	if (get_bool(r, "scale_attn_by_inverse_layer_idx", false) ||
	    get_bool(r, "reorder_and_upcast_attn", false))
		fail(r, CONFIG_ERR_UNSUPPORTED,
		     "config.json: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
	c->learned_pos = true;
	c->norm = CONFIG_NORM_LAYER;
	c->norm_bias = true;
	c->residual = CONFIG_RESIDUAL_SEQUENTIAL;
	c->qkv = CONFIG_QKV_FUSED_CONV1D;
	c->conv1d = true;
	c->qkv_bias = c->o_bias = c->ffn_bias = true;
	c->tied = get_bool(r, "tie_word_embeddings", true);
	snprintf(c->prefix, sizeof c->prefix, "transformer.");
	get_act(r, c, (const char *const[]){"activation_function", NULL}, "gelu_new");
}

static void parse_opt(struct reader *r, struct config *c)
{
	c->hidden = get_int(r, "hidden_size", -1, 1, max_dim);
	c->ffn = get_int(r, "ffn_dim", -1, 1, max_dim);
	c->ffn_key = "ffn_dim";
	c->n_layers = get_int(r, "num_hidden_layers", -1, 1, CONFIG_MAX_LAYERS);
	c->n_heads = get_int(r, "num_attention_heads", -1, 1, 4096);
	c->n_kv_heads = c->n_heads;
	c->head_dim = c->n_heads > 0 ? c->hidden / c->n_heads : 0;
	c->vocab = get_int(r, "vocab_size", -1, 1, 1 << 24);
	c->max_pos = get_int(r, "max_position_embeddings", -1, 1, 1 << 24);
	c->norm_eps = 1e-5;
	c->learned_pos = true;
	c->pos_offset = 2;
	c->norm = CONFIG_NORM_LAYER;
	c->norm_bias = get_bool(r, "layer_norm_elementwise_affine", true);
	if (!c->norm_bias)
		fail(r, CONFIG_ERR_UNSUPPORTED, "config.json: OPT without layer-norm affine is not supported");
	c->residual = CONFIG_RESIDUAL_SEQUENTIAL;
	c->qkv = CONFIG_QKV_SEPARATE;
	bool bias = get_bool(r, "enable_bias", true);
	c->qkv_bias = c->o_bias = c->ffn_bias = bias;
	c->tied = get_bool(r, "tie_word_embeddings", true);
	snprintf(c->prefix, sizeof c->prefix, "model.");
	get_act(r, c, (const char *const[]){"activation_function", NULL}, "relu");
	if (!get_bool(r, "do_layer_norm_before", true))
		fail(r, CONFIG_ERR_UNSUPPORTED,
		     "config.json: OPT with do_layer_norm_before=false (post-LN, opt-350m) is not supported");
	int proj = get_int(r, "word_embed_proj_dim", c->hidden, 1, max_dim);
	if (!r->status && proj != c->hidden)
		fail(r, CONFIG_ERR_UNSUPPORTED,
		     "config.json: OPT word_embed_proj_dim != hidden_size (project_in/out) is not supported");
}

static void parse_gpt_neox(struct reader *r, struct config *c)
{
	c->hidden = get_int(r, "hidden_size", -1, 1, max_dim);
	c->ffn = get_int(r, "intermediate_size", -1, 1, max_dim);
	c->ffn_key = "intermediate_size";
	c->n_layers = get_int(r, "num_hidden_layers", -1, 1, CONFIG_MAX_LAYERS);
	c->n_heads = get_int(r, "num_attention_heads", -1, 1, 4096);
	c->n_kv_heads = c->n_heads;
	c->head_dim = c->n_heads > 0 ? c->hidden / c->n_heads : 0;
	c->vocab = get_int(r, "vocab_size", -1, 1, 1 << 24);
	c->max_pos = get_int(r, "max_position_embeddings", 2048, 1, 1 << 24);
	c->norm_eps = get_num(r, "layer_norm_eps", 1e-5, 0, 1);
	double pct = get_num(r, "rotary_pct", 0.25, 0, 1);
	pct = get_num(r, "partial_rotary_factor", pct, 0, 1);
	c->rotary_dim = (int)(c->head_dim * pct);
	c->rope_theta = get_num(r, "rotary_emb_base", 10000.0, 1, 1e12);
	c->rope_theta = get_num(r, "rope_theta", c->rope_theta, 1, 1e12);
	c->norm = CONFIG_NORM_LAYER;
	c->norm_bias = true;
	c->residual = get_bool(r, "use_parallel_residual", true) ? CONFIG_RESIDUAL_PARALLEL
								  : CONFIG_RESIDUAL_SEQUENTIAL;
	c->qkv = CONFIG_QKV_FUSED_HEADS;
	bool bias = get_bool(r, "attention_bias", true);
	c->qkv_bias = c->o_bias = bias;
	c->ffn_bias = true;
	c->tied = get_bool(r, "tie_word_embeddings", false);
	get_act(r, c, (const char *const[]){"hidden_act", NULL}, "gelu");
	if (field(r, "rope_scaling"))
		fail(r, CONFIG_ERR_UNSUPPORTED, "config.json: rope_scaling is not supported");
}

static void parse_phi(struct reader *r, struct config *c)
{
	c->hidden = get_int(r, "hidden_size", -1, 1, max_dim);
	c->ffn = get_int(r, "intermediate_size", -1, 1, max_dim);
	c->ffn_key = "intermediate_size";
	c->n_layers = get_int(r, "num_hidden_layers", -1, 1, CONFIG_MAX_LAYERS);
	c->n_heads = get_int(r, "num_attention_heads", -1, 1, 4096);
	c->n_kv_heads = get_int(r, "num_key_value_heads", c->n_heads, 1, 4096);
	c->head_dim = c->n_heads > 0 ? c->hidden / c->n_heads : 0;
	c->vocab = get_int(r, "vocab_size", -1, 1, 1 << 24);
	c->max_pos = get_int(r, "max_position_embeddings", 2048, 1, 1 << 24);
	c->norm_eps = get_num(r, "layer_norm_eps", 1e-5, 0, 1);
	double pct = get_num(r, "partial_rotary_factor", 0.5, 0, 1);
	c->rotary_dim = (int)(c->head_dim * pct);
	c->rope_theta = get_num(r, "rope_theta", 10000.0, 1, 1e12);
	c->norm = CONFIG_NORM_LAYER;
	c->norm_bias = true;
	c->residual = CONFIG_RESIDUAL_PARALLEL_SHARED;
	c->qkv = CONFIG_QKV_SEPARATE;
	c->qkv_bias = c->o_bias = c->ffn_bias = true;
	c->lm_head_bias = true;
	c->tied = get_bool(r, "tie_word_embeddings", false);
	get_act(r, c, (const char *const[]){"hidden_act", NULL}, "gelu_new");
	if (get_bool(r, "qk_layernorm", false))
		fail(r, CONFIG_ERR_UNSUPPORTED, "config.json: phi qk_layernorm is not supported");
	if (field(r, "rope_scaling"))
		fail(r, CONFIG_ERR_UNSUPPORTED, "config.json: rope_scaling is not supported");
}

static const struct {
	const char *type;
	enum config_family family;
	void (*parse)(struct reader *, struct config *);
} families[] = {
	{"llama", CONFIG_FAMILY_LLAMA, parse_llama},
	{"mistral", CONFIG_FAMILY_LLAMA, parse_llama},
	{"qwen2", CONFIG_FAMILY_LLAMA, parse_llama},
	{"gpt_neo", CONFIG_FAMILY_GPT_NEO, parse_gpt_neo},
	{"gpt2", CONFIG_FAMILY_GPT2, parse_gpt2},
	{"opt", CONFIG_FAMILY_OPT, parse_opt},
	{"gpt_neox", CONFIG_FAMILY_GPT_NEOX, parse_gpt_neox},
	{"phi", CONFIG_FAMILY_PHI, parse_phi},
};

static void parse_layer_ffn(struct config *c)
{
	for (int i = 0; i < CONFIG_MAX_LAYERS; i++)
		c->layer_ffn[i] = c->ffn;
}

int config_parse(struct config *out, const char *json, size_t len, char *err, size_t errlen)
{
	struct config c;
	memset(&c, 0, sizeof c);
	c.bos_id = c.eos_id = -1;
	struct reader r = {.err = err, .errlen = errlen};
	struct cJSON *root = json_parse(json, len);
	if (json_type(root) != JSON_TYPE_OBJECT) {
		fail(&r, CONFIG_ERR_JSON, "config.json is not a valid JSON object");
		goto out;
	}
	r.root = root;
	const char *mt = json_string(field(&r, "model_type"));
	if (!mt) {
		fail(&r, CONFIG_ERR_FAMILY, "config.json has no model_type (supported: %s)",
		     config_supported_types());
		goto out;
	}
	size_t fi;
	for (fi = 0; fi < sizeof families / sizeof families[0]; fi++)
		if (!strcmp(families[fi].type, mt))
			break;
	if (fi == sizeof families / sizeof families[0]) {
		fail(&r, CONFIG_ERR_FAMILY, "unsupported model_type \"%.40s\" (supported: %s)",
		     mt, config_supported_types());
		goto out;
	}
	snprintf(c.model_type, sizeof c.model_type, "%s", mt);
	c.family = families[fi].family;
	c.attn_scale = -1; /* default resolved below */
	families[fi].parse(&r, &c);
	if (r.status)
		goto out;
	if (c.n_heads % c.n_kv_heads) {
		fail(&r, CONFIG_ERR_VALUE, "config.json: num_attention_heads %d is not a multiple of the KV heads %d",
		     c.n_heads, c.n_kv_heads);
		goto out;
	}
	if (c.head_dim <= 0 || (c.family != CONFIG_FAMILY_LLAMA && c.head_dim * c.n_heads != c.hidden)) {
		fail(&r, CONFIG_ERR_VALUE, "config.json: hidden size %d is not divisible into %d heads",
		     c.hidden, c.n_heads);
		goto out;
	}
	if (c.rotary_dim % 2) {
		fail(&r, CONFIG_ERR_VALUE, "config.json: rotary dimension %d must be even", c.rotary_dim);
		goto out;
	}
	if (c.attn_scale < 0)
		c.attn_scale = 1.0 / sqrt((double)c.head_dim);
	c.bos_id = get_token_id(&r, "bos_token_id");
	c.eos_id = get_token_id(&r, "eos_token_id");
	parse_layer_ffn(&c);
	*out = c;
out:
	json_free(root);
	return r.status;
}

int config_load(struct config *out, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t n = 0;
	int rc = util_read_file(&buf, &n, path, CONFIG_MAX_BYTES, true, err, errlen);
	if (rc)
		return CONFIG_ERR_IO; /* the reason (missing, not a file, too large) is in err */
	rc = config_parse(out, buf, n, err, errlen);
	free(buf);
	return rc;
}
