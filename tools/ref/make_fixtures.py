#!/usr/bin/python3
"""Writes tests/fixtures/families/<name>/{config.json, model.safetensors, expected.json}.

Each fixture is a tiny random checkpoint of one model family with a realistic HF config.json;
expected.json holds 10 token ids and the float64 logits hfref.py computes for them after
reading the files back (so F16/BF16 fixtures are scored on the rounded weights). Deterministic:
every fixture has its own fixed seed, so output is byte-identical across runs.

Besides writing, it checks that each fixture is sensitive to the family feature it exists for
(local window, sliding window, parallel residual, ...): the logits must change by more than
ABLATION_MIN (1e-2; 1e-4 for erf vs tanh GELU, which never differ by more than 4.7e-4) when
that feature is switched off in the config.

Usage: /usr/bin/python3 tools/ref/make_fixtures.py [OUT_DIR]   (default tests/fixtures/families)
"""

import copy
import json
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hfref  # noqa: E402

VOCAB = 40
SEQ = 10
ABLATION_MIN = 1e-2
MAX_BYTES = 100 * 1024


class Gen:
    """Weight factory: matrices N(0, 0.2), embeddings N(0, 0.3), norm gains 1 + N(0, 0.1),
    biases N(0, 0.1)."""

    def __init__(self, name):
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))

    def mat(self, *shape):
        return self.rng.normal(0.0, 0.2, shape)

    def emb(self, *shape):
        return self.rng.normal(0.0, 0.3, shape)

    def gain(self, n):
        return 1.0 + self.rng.normal(0.0, 0.1, n)

    def bias(self, n):
        return self.rng.normal(0.0, 0.1, n)

    def tokens(self):
        t = self.rng.integers(0, VOCAB, SEQ)
        t[2], t[7] = VOCAB - 1, 0  # touch both ends of the embedding table
        return [int(x) for x in t]


# ---------------------------------------------------------------------------------------------
# llama / mistral / qwen2


def llama_like(name, model_type, arch, *, hidden, layers, heads, kv_heads, ffn, head_dim,
               tied, qkv_bias, extra):
    g = Gen(name)
    D, hd = hidden, head_dim
    cfg = {
        "architectures": [arch],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": D,
        "initializer_range": 0.02,
        "intermediate_size": ffn,
        "max_position_embeddings": 64,
        "model_type": model_type,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    cfg.update(extra)
    t = {"model.embed_tokens.weight": g.emb(VOCAB, D), "model.norm.weight": g.gain(D)}
    if not tied:
        t["lm_head.weight"] = g.mat(VOCAB, D)
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = g.gain(D)
        t[p + "post_attention_layernorm.weight"] = g.gain(D)
        t[p + "self_attn.q_proj.weight"] = g.mat(heads * hd, D)
        t[p + "self_attn.k_proj.weight"] = g.mat(kv_heads * hd, D)
        t[p + "self_attn.v_proj.weight"] = g.mat(kv_heads * hd, D)
        t[p + "self_attn.o_proj.weight"] = g.mat(D, heads * hd)
        if qkv_bias:
            t[p + "self_attn.q_proj.bias"] = g.bias(heads * hd)
            t[p + "self_attn.k_proj.bias"] = g.bias(kv_heads * hd)
            t[p + "self_attn.v_proj.bias"] = g.bias(kv_heads * hd)
        t[p + "mlp.gate_proj.weight"] = g.mat(ffn, D)
        t[p + "mlp.up_proj.weight"] = g.mat(ffn, D)
        t[p + "mlp.down_proj.weight"] = g.mat(D, ffn)
    return cfg, t, g


def fx_llama_gqa():
    cfg, t, g = llama_like(
        "llama_gqa", "llama", "LlamaForCausalLM", hidden=16, layers=2, heads=4, kv_heads=2,
        ffn=24, head_dim=4, tied=False, qkv_bias=False,
        extra={"attention_bias": False, "head_dim": 4, "mlp_bias": False, "pretraining_tp": 1,
               "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0})
    return cfg, t, g, "F32", [("rope_theta 10000", {"rope_theta": 10000.0})]


def fx_mistral():
    # head_dim 8 != hidden/heads (4): q_proj is (32, 16), o_proj (16, 32)
    cfg, t, g = llama_like(
        "mistral", "mistral", "MistralForCausalLM", hidden=16, layers=2, heads=4, kv_heads=2,
        ffn=24, head_dim=8, tied=False, qkv_bias=False,
        extra={"head_dim": 8, "rope_theta": 1000000.0, "sliding_window": 4})
    return cfg, t, g, "F32", [("no sliding window", {"sliding_window": None})]


def fx_qwen2():
    # sliding_window is written (as HF does) but use_sliding_window is false: it must be ignored
    cfg, t, g = llama_like(
        "qwen2", "qwen2", "Qwen2ForCausalLM", hidden=16, layers=2, heads=4, kv_heads=2,
        ffn=24, head_dim=4, tied=True, qkv_bias=True,
        extra={"bos_token_id": 38, "eos_token_id": 39, "max_window_layers": 0,
               "rope_theta": 1000000.0, "sliding_window": 4, "use_sliding_window": False})
    return cfg, t, g, "F32", [("sliding window honoured", {"use_sliding_window": True})]


# ---------------------------------------------------------------------------------------------
# gpt_neo


def fx_gpt_neo():
    g = Gen("gpt_neo")
    D, L, ffn = 16, 2, 64  # intermediate_size null -> 4 * hidden
    cfg = {
        "activation_function": "gelu_new",
        "architectures": ["GPTNeoForCausalLM"],
        "attention_dropout": 0,
        "attention_layers": ["global", "local"],
        "attention_types": [[["global", "local"], 1]],
        "bos_token_id": 39,
        "embed_dropout": 0,
        "eos_token_id": 39,
        "gradient_checkpointing": False,
        "hidden_size": D,
        "initializer_range": 0.02,
        "intermediate_size": None,
        "layer_norm_epsilon": 1e-05,
        "max_position_embeddings": 32,
        "model_type": "gpt_neo",
        "num_heads": 4,
        "num_layers": L,
        "resid_dropout": 0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": VOCAB,
        "window_size": 4,
    }
    t = {"transformer.wte.weight": g.emb(VOCAB, D), "transformer.wpe.weight": g.emb(32, D),
         "transformer.ln_f.weight": g.gain(D), "transformer.ln_f.bias": g.bias(D)}
    for i in range(L):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = g.gain(D), g.bias(D)
        a = p + "attn.attention."
        for n in ("q_proj", "k_proj", "v_proj"):
            t[a + n + ".weight"] = g.mat(D, D)
        t[a + "out_proj.weight"], t[a + "out_proj.bias"] = g.mat(D, D), g.bias(D)
        t[p + "mlp.c_fc.weight"], t[p + "mlp.c_fc.bias"] = g.mat(ffn, D), g.bias(ffn)
        t[p + "mlp.c_proj.weight"], t[p + "mlp.c_proj.bias"] = g.mat(D, ffn), g.bias(D)
    return cfg, t, g, "F32", [("all layers global", {"attention_layers": ["global", "global"]})]


# ---------------------------------------------------------------------------------------------
# gpt2


def gpt2_like(name, prefix, n_inner, act, buffers):
    g = Gen(name)
    D, L, npos = 16, 2, 32
    ffn = n_inner or 4 * D
    cfg = {
        "activation_function": act,
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 39,
        "embd_pdrop": 0.1,
        "eos_token_id": 39,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": npos,
        "n_embd": D,
        "n_head": 4,
        "n_inner": n_inner,
        "n_layer": L,
        "n_positions": npos,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    P = prefix
    t = {P + "wte.weight": g.emb(VOCAB, D), P + "wpe.weight": g.emb(npos, D),
         P + "ln_f.weight": g.gain(D), P + "ln_f.bias": g.bias(D)}
    for i in range(L):
        p = f"{P}h.{i}."
        for ln in ("ln_1", "ln_2"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = g.gain(D), g.bias(D)
        # Conv1D: weight (in, out)
        t[p + "attn.c_attn.weight"], t[p + "attn.c_attn.bias"] = g.mat(D, 3 * D), g.bias(3 * D)
        t[p + "attn.c_proj.weight"], t[p + "attn.c_proj.bias"] = g.mat(D, D), g.bias(D)
        t[p + "mlp.c_fc.weight"], t[p + "mlp.c_fc.bias"] = g.mat(D, ffn), g.bias(ffn)
        t[p + "mlp.c_proj.weight"], t[p + "mlp.c_proj.bias"] = g.mat(ffn, D), g.bias(D)
        if buffers == "bias":  # causal-mask buffer some hub checkpoints carry; not a weight
            t[p + "attn.bias"] = np.tril(np.ones((npos, npos)))[None, None]
        elif buffers == "masked_bias":  # 0-d buffer of older checkpoints
            t[p + "attn.masked_bias"] = np.array(-1e4)
    return cfg, t, g


def fx_gpt2():
    cfg, t, g = gpt2_like("gpt2", "", None, "gelu_new", "bias")
    cfg["torch_dtype"] = "float16"
    return cfg, t, g, "F16", [("no 1/sqrt(d) scaling", {"scale_attn_weights": False})]


def fx_gpt2_prefixed():
    cfg, t, g = gpt2_like("gpt2_prefixed", "transformer.", 48, "gelu", "masked_bias")
    cfg["torch_dtype"] = "float32"
    # erf vs tanh GELU differ by < 4.7e-4 anywhere, so this ablation gets a smaller threshold
    return cfg, t, g, "F32", [("gelu_new instead of exact gelu", {"activation_function": "gelu_new"}, 1e-4)]


# ---------------------------------------------------------------------------------------------
# opt


def fx_opt():
    g = Gen("opt")
    D, L, ffn, npos = 16, 2, 32, 32
    cfg = {
        "_remove_final_layer_norm": False,
        "activation_dropout": 0.0,
        "activation_function": "relu",
        "architectures": ["OPTForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 2,
        "do_layer_norm_before": True,
        "dropout": 0.1,
        "enable_bias": True,
        "eos_token_id": 2,
        "ffn_dim": ffn,
        "hidden_size": D,
        "init_std": 0.02,
        "layer_norm_elementwise_affine": True,
        "layerdrop": 0.0,
        "max_position_embeddings": npos,
        "model_type": "opt",
        "num_attention_heads": 4,
        "num_hidden_layers": L,
        "pad_token_id": 1,
        "prefix": "</s>",
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": VOCAB,
        "word_embed_proj_dim": D,
    }
    P = "model.decoder."
    t = {P + "embed_tokens.weight": g.emb(VOCAB, D),
         P + "embed_positions.weight": g.emb(npos + 2, D),  # rows 0, 1 unused (offset 2)
         P + "final_layer_norm.weight": g.gain(D), P + "final_layer_norm.bias": g.bias(D)}
    for i in range(L):
        p = f"{P}layers.{i}."
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = g.gain(D), g.bias(D)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[p + "self_attn." + n + ".weight"] = g.mat(D, D)
            t[p + "self_attn." + n + ".bias"] = g.bias(D)
        t[p + "fc1.weight"], t[p + "fc1.bias"] = g.mat(ffn, D), g.bias(ffn)
        t[p + "fc2.weight"], t[p + "fc2.bias"] = g.mat(D, ffn), g.bias(D)
    return cfg, t, g, "BF16", [("gelu instead of relu", {"activation_function": "gelu"})]


# ---------------------------------------------------------------------------------------------
# gpt_neox


def neox_like(name, parallel, rotary_pct, base, heads):
    g = Gen(name)
    D, L, ffn = 32, 2, 48
    cfg = {
        "architectures": ["GPTNeoXForCausalLM"],
        "attention_bias": True,
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "classifier_dropout": 0.1,
        "eos_token_id": 0,
        "hidden_act": "gelu",
        "hidden_dropout": 0.0,
        "hidden_size": D,
        "initializer_range": 0.02,
        "intermediate_size": ffn,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 32,
        "model_type": "gpt_neox",
        "num_attention_heads": heads,
        "num_hidden_layers": L,
        "rope_scaling": None,
        "rotary_emb_base": base,
        "rotary_pct": rotary_pct,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "use_parallel_residual": parallel,
        "vocab_size": VOCAB,
    }
    P = "gpt_neox."
    t = {P + "embed_in.weight": g.emb(VOCAB, D), "embed_out.weight": g.mat(VOCAB, D),
         P + "final_layer_norm.weight": g.gain(D), P + "final_layer_norm.bias": g.bias(D)}
    for i in range(L):
        p = f"{P}layers.{i}."
        for ln in ("input_layernorm", "post_attention_layernorm"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = g.gain(D), g.bias(D)
        # rows laid out per head as [q_h | k_h | v_h], head_size rows each
        t[p + "attention.query_key_value.weight"] = g.mat(3 * D, D)
        t[p + "attention.query_key_value.bias"] = g.bias(3 * D)
        t[p + "attention.dense.weight"], t[p + "attention.dense.bias"] = g.mat(D, D), g.bias(D)
        t[p + "mlp.dense_h_to_4h.weight"], t[p + "mlp.dense_h_to_4h.bias"] = g.mat(ffn, D), g.bias(ffn)
        t[p + "mlp.dense_4h_to_h.weight"], t[p + "mlp.dense_4h_to_h.bias"] = g.mat(D, ffn), g.bias(D)
    return cfg, t, g


def fx_gpt_neox():
    cfg, t, g = neox_like("gpt_neox", True, 0.5, 10000, 4)
    return cfg, t, g, "F32", [("sequential residual", {"use_parallel_residual": False}),
                              ("full rotary", {"rotary_pct": 1.0})]


def fx_gpt_neox_seq():
    # head_size 16, rotary_pct 0.25: 4 rotating dims per head
    cfg, t, g = neox_like("gpt_neox_seq", False, 0.25, 500, 2)
    return cfg, t, g, "F32", [("parallel residual", {"use_parallel_residual": True}),
                              ("rotary base 10000", {"rotary_emb_base": 10000})]


# ---------------------------------------------------------------------------------------------
# phi


def fx_phi():
    g = Gen("phi")
    D, L, ffn, H = 32, 2, 48, 4
    cfg = {
        "architectures": ["PhiForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 39,
        "embd_pdrop": 0.0,
        "eos_token_id": 39,
        "hidden_act": "gelu_new",
        "hidden_size": D,
        "initializer_range": 0.02,
        "intermediate_size": ffn,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 32,
        "model_type": "phi",
        "num_attention_heads": H,
        "num_hidden_layers": L,
        "num_key_value_heads": H,
        "partial_rotary_factor": 0.5,
        "qk_layernorm": False,
        "resid_pdrop": 0.0,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    t = {"model.embed_tokens.weight": g.emb(VOCAB, D),
         "model.final_layernorm.weight": g.gain(D), "model.final_layernorm.bias": g.bias(D),
         "lm_head.weight": g.mat(VOCAB, D), "lm_head.bias": g.bias(VOCAB)}
    for i in range(L):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"], t[p + "input_layernorm.bias"] = g.gain(D), g.bias(D)
        for n in ("q_proj", "k_proj", "v_proj", "dense"):
            t[p + "self_attn." + n + ".weight"] = g.mat(D, D)
            t[p + "self_attn." + n + ".bias"] = g.bias(D)
        t[p + "mlp.fc1.weight"], t[p + "mlp.fc1.bias"] = g.mat(ffn, D), g.bias(ffn)
        t[p + "mlp.fc2.weight"], t[p + "mlp.fc2.bias"] = g.mat(D, ffn), g.bias(D)
    return cfg, t, g, "F32", [("full rotary", {"partial_rotary_factor": 1.0})]


FIXTURES = {
    "llama_gqa": fx_llama_gqa,
    "mistral": fx_mistral,
    "qwen2": fx_qwen2,
    "gpt_neo": fx_gpt_neo,
    "gpt2": fx_gpt2,
    "gpt2_prefixed": fx_gpt2_prefixed,
    "opt": fx_opt,
    "gpt_neox": fx_gpt_neox,
    "gpt_neox_seq": fx_gpt_neox_seq,
    "phi": fx_phi,
}


def write_fixture(out, name):
    cfg, tensors, g, dtype, ablations = FIXTURES[name]()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    hfref.write_safetensors(os.path.join(d, "model.safetensors"), tensors, dtype)
    tokens = g.tokens()
    m = hfref.load_model(d)  # read back: logits come from the stored (rounded) weights
    logits = hfref.forward(m, tokens)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"tokens": tokens, "logits": logits.tolist()}, f)
        f.write("\n")

    notes = []
    for label, change, *limit in ablations:
        limit = limit[0] if limit else ABLATION_MIN
        m2 = copy.copy(m)
        m2.config = dict(copy.deepcopy(m.config), **change)
        delta = float(np.abs(hfref.forward(m2, tokens) - logits).max())
        if delta < limit:
            raise SystemExit(f"{name}: fixture insensitive to '{label}' (max |dlogit| {delta:.2e})")
        notes.append(f"{label}: {delta:.2e}")
    for fn in os.listdir(d):
        size = os.path.getsize(os.path.join(d, fn))
        if size >= MAX_BYTES:
            raise SystemExit(f"{name}/{fn}: {size} bytes >= {MAX_BYTES}")
    print(f"{name:14s} {dtype:4s} logits |max| {np.abs(logits).max():.3f} std {logits.std():.3f}"
          f"  ablations (max |dlogit|): {'; '.join(notes)}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "tests", "fixtures", "families")
    for name in FIXTURES:
        write_fixture(out, name)


if __name__ == "__main__":
    main()
