#!/usr/bin/python3
"""Independent float64 NumPy reference for Hugging Face causal LM checkpoints.

Reads a checkpoint directory by hand (config.json, model.safetensors, tokenizer.json) and runs
the forward pass of the families yopo supports, following the semantics of the Hugging Face
`transformers` modeling code (llama/mistral/qwen2, gpt_neo, gpt2, opt, gpt_neox, phi). It is
the yardstick for yopo's C forward pass, so it deliberately shares no code with it and uses
nothing but NumPy (+ the `regex` module for the GPT-2 pre-tokenizer split).

Library use:
    m = load_model(dir); logits = forward(m, [1, 2, 3])      # (T, vocab) float64
    tok = Tokenizer(dir + "/tokenizer.json"); ids = tok.encode(text); tok.decode(ids)

CLI (always run with /usr/bin/python3):
    hfref.py logits   --model DIR --tokens 1,2,3
    hfref.py generate --model DIR [--prompt TEXT] --max-tokens N
    hfref.py ppl      --model DIR --text FILE [--seq-len N] [--max-windows W]
    hfref.py count    --model DIR --text FILE
"""

import argparse
import heapq
import json
import math
import os
import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------------------------
# safetensors

_ST_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened to float32 by bit shifting below
}


def read_safetensors(path):
    """Returns {name: float64 ndarray} and {name: dtype string}. Checks header bounds strictly."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise ValueError(f"{path}: header length {hlen} exceeds file")
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    data = memoryview(blob)[8 + hlen:]
    tensors, dtypes = {}, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt}")
        shape = tuple(int(s) for s in info["shape"])
        start, end = (int(x) for x in info["data_offsets"])
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= start <= end <= len(data)) or end - start != n * _ST_DTYPES[dt].itemsize:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {start}..{end}")
        raw = np.frombuffer(data[start:end], dtype=_ST_DTYPES[dt])
        if dt == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = raw.astype(np.float64).reshape(shape)
        dtypes[name] = dt
    return tensors, dtypes


def float32_to_bf16_bits(x):
    """Round-to-nearest-even float32 -> bfloat16, as uint16 bit patterns (no NaN handling)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def write_safetensors(path, tensors, dtype="F32"):
    """Writes {name: array} in the layout the HF serializer produces: metadata first, tensors in
    name order, header padded with spaces to a multiple of 8, contiguous data."""
    header = {"__metadata__": {"format": "pt"}}
    chunks, off = [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float64)
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        elif dtype == "BF16":
            raw = float32_to_bf16_bits(a.astype(np.float32)).astype("<u2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)


# ---------------------------------------------------------------------------------------------
# elementwise pieces


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# Names as in transformers.activations.ACT2FN.
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "gelu_python": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": lambda x: 0.5 * x * (1.0 + np.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
    "quick_gelu": lambda x: x * _sigmoid(1.702 * x),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
}


def act_fn(name):
    if name not in ACTIVATIONS:
        raise NotImplementedError(f"activation {name!r}")
    return ACTIVATIONS[name]


def layer_norm(x, w, b, eps):
    # x (T, D); biased variance as torch.nn.LayerNorm
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps) * w
    return y + b if b is not None else y


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w


def linear(x, w, b=None):
    # nn.Linear: w (out, in)
    y = x @ w.T
    return y + b if b is not None else y


def rope_tables(T, rot_dim, theta):
    """cos, sin (T, rot_dim) for HF rotate_half RoPE: frequencies repeated over both halves."""
    inv_freq = 1.0 / (theta ** (np.arange(0, rot_dim, 2, dtype=np.float64) / rot_dim))
    freqs = np.outer(np.arange(T, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb), np.sin(emb)


def apply_rope(x, cos, sin, rot_dim):
    # x (H, T, d); rotates the leading rot_dim dims of each head, passes the rest through
    if rot_dim == 0:
        return x
    xr, xp = x[..., :rot_dim], x[..., rot_dim:]
    half = rot_dim // 2
    rotated = np.concatenate([-xr[..., half:], xr[..., :half]], axis=-1)
    return np.concatenate([xr * cos + rotated * sin, xp], axis=-1)


def causal_mask(T, window=None):
    """allowed[i, j]: key j visible from query i. With a window: i - window < j <= i."""
    i = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    allowed = j <= i
    if window is not None:
        allowed &= (i - j) < window
    return allowed


def attention(q, k, v, scale, allowed):
    """q (H, T, d), k/v (Hkv, T, d) -> (T, H*d). Query head h reads KV head h // (H / Hkv)."""
    H, Hkv = q.shape[0], k.shape[0]
    if H % Hkv:
        raise ValueError(f"{H} heads not a multiple of {Hkv} kv heads")
    rep = H // Hkv
    k = np.repeat(k, rep, axis=0)
    v = np.repeat(v, rep, axis=0)
    s = (q @ k.transpose(0, 2, 1)) * scale
    s = np.where(allowed[None], s, -np.inf)
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    o = p @ v  # (H, T, d)
    return o.transpose(1, 0, 2).reshape(q.shape[1], -1)


def split_heads(x, n, d):
    # (T, n*d) -> (n, T, d)
    return x.reshape(x.shape[0], n, d).transpose(1, 0, 2)


# ---------------------------------------------------------------------------------------------
# model loading


class Model:
    def __init__(self, path, config, tensors, dtypes):
        self.path = path
        self.config = config
        self.t = tensors
        self.dtypes = dtypes
        self.family = config["model_type"]

    def get(self, name):
        if name not in self.t:
            raise KeyError(f"{self.path}: tensor {name!r} missing")
        return self.t[name]

    def opt(self, name):
        return self.t.get(name)


FAMILIES = ("llama", "mistral", "qwen2", "gpt_neo", "gpt2", "opt", "gpt_neox", "phi")

# transformers' per-class default for tie_word_embeddings when config.json omits it.
_TIE_DEFAULT = {"llama": False, "mistral": False, "qwen2": False, "gpt_neo": True, "gpt2": True,
                "opt": True, "gpt_neox": False, "phi": False}


def load_model(path):
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    mt = config.get("model_type")
    if mt not in FAMILIES:
        raise NotImplementedError(f"model_type {mt!r}")
    tensors, dtypes = read_safetensors(os.path.join(path, "model.safetensors"))
    return Model(path, config, tensors, dtypes)


def _tied(c, family):
    return bool(c.get("tie_word_embeddings", _TIE_DEFAULT[family]))


def _prefix(m, candidates, probe):
    """First prefix p in candidates with p + probe present (handles with/without `transformer.`)."""
    for p in candidates:
        if p + probe in m.t:
            return p
    raise KeyError(f"{m.path}: no tensor {probe!r} under prefixes {candidates}")


def _check_rope_scaling(c):
    rs = c.get("rope_scaling")
    if rs is not None and rs.get("rope_type", rs.get("type")) not in (None, "default"):
        raise NotImplementedError(f"rope_scaling {rs}")


# ---------------------------------------------------------------------------------------------
# forward passes, one per family; each returns logits (T, vocab) float64


def _forward_llama(m, ids):
    c, fam = m.config, m.family
    _check_rope_scaling(c)
    D, L = c["hidden_size"], c["num_hidden_layers"]
    H = c["num_attention_heads"]
    Hkv = c.get("num_key_value_heads") or H
    hd = c.get("head_dim") or D // H
    eps = c["rms_norm_eps"]
    act = act_fn(c.get("hidden_act", "silu"))
    T = len(ids)
    cos, sin = rope_tables(T, hd, float(c.get("rope_theta", 10000.0)))
    scale = hd ** -0.5
    qkv_bias = fam == "qwen2" or bool(c.get("attention_bias", False))
    o_bias = fam != "qwen2" and bool(c.get("attention_bias", False))
    mlp_bias = bool(c.get("mlp_bias", False))

    window = c.get("sliding_window")
    if fam == "llama":
        window = None
    elif fam == "qwen2" and not c.get("use_sliding_window", False):
        window = None
    full = causal_mask(T)
    local = causal_mask(T, window) if window is not None else full
    # qwen2: only layers >= max_window_layers slide; mistral: all layers
    first_sliding = c.get("max_window_layers", 0) if fam == "qwen2" else 0

    x = m.get("model.embed_tokens.weight")[ids]
    for i in range(L):
        p = f"model.layers.{i}."
        h = rms_norm(x, m.get(p + "input_layernorm.weight"), eps)
        b = (lambda n: m.get(p + n)) if qkv_bias else (lambda n: None)
        q = split_heads(linear(h, m.get(p + "self_attn.q_proj.weight"), b("self_attn.q_proj.bias")), H, hd)
        k = split_heads(linear(h, m.get(p + "self_attn.k_proj.weight"), b("self_attn.k_proj.bias")), Hkv, hd)
        v = split_heads(linear(h, m.get(p + "self_attn.v_proj.weight"), b("self_attn.v_proj.bias")), Hkv, hd)
        q, k = apply_rope(q, cos, sin, hd), apply_rope(k, cos, sin, hd)
        allowed = local if i >= first_sliding else full
        a = attention(q, k, v, scale, allowed)
        ob = m.get(p + "self_attn.o_proj.bias") if o_bias else None
        x = x + linear(a, m.get(p + "self_attn.o_proj.weight"), ob)
        h = rms_norm(x, m.get(p + "post_attention_layernorm.weight"), eps)
        mb = (lambda n: m.get(p + n)) if mlp_bias else (lambda n: None)
        g = linear(h, m.get(p + "mlp.gate_proj.weight"), mb("mlp.gate_proj.bias"))
        u = linear(h, m.get(p + "mlp.up_proj.weight"), mb("mlp.up_proj.bias"))
        x = x + linear(act(g) * u, m.get(p + "mlp.down_proj.weight"), mb("mlp.down_proj.bias"))
    x = rms_norm(x, m.get("model.norm.weight"), eps)
    head = m.get("model.embed_tokens.weight") if _tied(c, fam) else m.get("lm_head.weight")
    return x @ head.T


def _forward_gpt_neo(m, ids):
    c = m.config
    D, L, H = c["hidden_size"], c["num_layers"], c["num_heads"]
    hd = D // H
    eps = c["layer_norm_epsilon"]
    act = act_fn(c["activation_function"])
    layers = c["attention_layers"]
    if len(layers) != L:
        raise ValueError("attention_layers length != num_layers")
    T = len(ids)
    masks = {"global": causal_mask(T), "local": causal_mask(T, c["window_size"])}
    pre = _prefix(m, ["transformer.", ""], "wte.weight")
    g = lambda n: m.get(pre + n)
    x = g("wte.weight")[ids] + g("wpe.weight")[np.arange(T)]
    for i in range(L):
        p = f"h.{i}."
        h = layer_norm(x, g(p + "ln_1.weight"), g(p + "ln_1.bias"), eps)
        a = p + "attn.attention."
        q = split_heads(linear(h, g(a + "q_proj.weight")), H, hd)
        k = split_heads(linear(h, g(a + "k_proj.weight")), H, hd)
        v = split_heads(linear(h, g(a + "v_proj.weight")), H, hd)
        o = attention(q, k, v, 1.0, masks[layers[i]])  # GPT-Neo does not scale scores
        x = x + linear(o, g(a + "out_proj.weight"), g(a + "out_proj.bias"))
        h = layer_norm(x, g(p + "ln_2.weight"), g(p + "ln_2.bias"), eps)
        h = act(linear(h, g(p + "mlp.c_fc.weight"), g(p + "mlp.c_fc.bias")))
        x = x + linear(h, g(p + "mlp.c_proj.weight"), g(p + "mlp.c_proj.bias"))
    x = layer_norm(x, g("ln_f.weight"), g("ln_f.bias"), eps)
    head = g("wte.weight") if _tied(c, "gpt_neo") else m.get("lm_head.weight")
    return x @ head.T


def _forward_gpt2(m, ids):
    c = m.config
    D, L, H = c["n_embd"], c["n_layer"], c["n_head"]
    hd = D // H
    eps = c.get("layer_norm_epsilon", 1e-5)
    act = act_fn(c.get("activation_function", "gelu_new"))
    T = len(ids)
    allowed = causal_mask(T)
    pre = _prefix(m, ["transformer.", ""], "wte.weight")
    g = lambda n: m.get(pre + n)
    conv1d = lambda x, n: x @ g(n + ".weight") + g(n + ".bias")  # Conv1D weight is (in, out)
    x = g("wte.weight")[ids] + g("wpe.weight")[np.arange(T)]
    for i in range(L):
        p = f"h.{i}."
        h = layer_norm(x, g(p + "ln_1.weight"), g(p + "ln_1.bias"), eps)
        qkv = conv1d(h, p + "attn.c_attn")
        q, k, v = (split_heads(qkv[:, j * D:(j + 1) * D], H, hd) for j in range(3))
        scale = 1.0
        if c.get("scale_attn_weights", True):
            scale /= math.sqrt(hd)
        if c.get("scale_attn_by_inverse_layer_idx", False):
            scale /= float(i + 1)
        o = attention(q, k, v, scale, allowed)
        x = x + conv1d(o, p + "attn.c_proj")
        h = layer_norm(x, g(p + "ln_2.weight"), g(p + "ln_2.bias"), eps)
        x = x + conv1d(act(conv1d(h, p + "mlp.c_fc")), p + "mlp.c_proj")
    x = layer_norm(x, g("ln_f.weight"), g("ln_f.bias"), eps)
    head = g("wte.weight") if _tied(c, "gpt2") else m.get("lm_head.weight")
    return x @ head.T


def _forward_opt(m, ids):
    c = m.config
    D, L, H = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    if c.get("word_embed_proj_dim", D) != D:
        raise NotImplementedError("OPT word_embed_proj_dim != hidden_size (project_in/out)")
    hd = D // H
    eps = 1e-5  # OPT uses nn.LayerNorm's default eps; config.json has no eps key
    act = act_fn(c.get("activation_function", "relu"))
    pre_ln = bool(c.get("do_layer_norm_before", True))
    bias = bool(c.get("enable_bias", True))
    T = len(ids)
    allowed = causal_mask(T)
    pre = _prefix(m, ["model.decoder.", "decoder."], "embed_tokens.weight")
    g = lambda n: m.get(pre + n)
    gb = (lambda n: m.get(pre + n)) if bias else (lambda n: None)
    ln = lambda x, n: layer_norm(x, m.opt(pre + n + ".weight"), m.opt(pre + n + ".bias"), eps) \
        if pre + n + ".weight" in m.t else layer_norm(x, 1.0, None, eps)
    x = g("embed_tokens.weight")[ids] + g("embed_positions.weight")[np.arange(T) + 2]
    for i in range(L):
        p = f"layers.{i}."
        r = x
        h = ln(x, p + "self_attn_layer_norm") if pre_ln else x
        a = p + "self_attn."
        q = split_heads(linear(h, g(a + "q_proj.weight"), gb(a + "q_proj.bias")), H, hd)
        k = split_heads(linear(h, g(a + "k_proj.weight"), gb(a + "k_proj.bias")), H, hd)
        v = split_heads(linear(h, g(a + "v_proj.weight"), gb(a + "v_proj.bias")), H, hd)
        o = attention(q * hd ** -0.5, k, v, 1.0, allowed)
        x = r + linear(o, g(a + "out_proj.weight"), gb(a + "out_proj.bias"))
        if not pre_ln:
            x = ln(x, p + "self_attn_layer_norm")
        r = x
        h = ln(x, p + "final_layer_norm") if pre_ln else x
        h = act(linear(h, g(p + "fc1.weight"), gb(p + "fc1.bias")))
        x = r + linear(h, g(p + "fc2.weight"), gb(p + "fc2.bias"))
        if not pre_ln:
            x = ln(x, p + "final_layer_norm")
    if pre_ln and not c.get("_remove_final_layer_norm", False):
        x = ln(x, "final_layer_norm")
    head = g("embed_tokens.weight") if _tied(c, "opt") else m.get("lm_head.weight")
    return x @ head.T


def _forward_gpt_neox(m, ids):
    c = m.config
    _check_rope_scaling(c)
    D, L, H = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    hd = D // H
    eps = c.get("layer_norm_eps", 1e-5)
    act = act_fn(c.get("hidden_act", "gelu"))
    pct = c.get("rotary_pct", c.get("partial_rotary_factor", 0.25))
    rot = int(hd * pct)
    theta = float(c.get("rotary_emb_base", c.get("rope_theta", 10000)))
    bias = bool(c.get("attention_bias", True))
    parallel = bool(c.get("use_parallel_residual", True))
    T = len(ids)
    cos, sin = rope_tables(T, rot, theta)
    allowed = causal_mask(T)
    g = lambda n: m.get("gpt_neox." + n)
    gb = (lambda n: m.get("gpt_neox." + n)) if bias else (lambda n: None)
    x = g("embed_in.weight")[ids]
    for i in range(L):
        p = f"layers.{i}."
        h = layer_norm(x, g(p + "input_layernorm.weight"), g(p + "input_layernorm.bias"), eps)
        qkv = linear(h, g(p + "attention.query_key_value.weight"), gb(p + "attention.query_key_value.bias"))
        qkv = qkv.reshape(T, H, 3 * hd).transpose(1, 0, 2)  # per head [q | k | v]
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        q, k = apply_rope(q, cos, sin, rot), apply_rope(k, cos, sin, rot)
        o = attention(q, k, v, hd ** -0.5, allowed)
        a = linear(o, g(p + "attention.dense.weight"), gb(p + "attention.dense.bias"))
        mlp = lambda y: linear(act(linear(y, g(p + "mlp.dense_h_to_4h.weight"), g(p + "mlp.dense_h_to_4h.bias"))),
                               g(p + "mlp.dense_4h_to_h.weight"), g(p + "mlp.dense_4h_to_h.bias"))
        ln2 = lambda y: layer_norm(y, g(p + "post_attention_layernorm.weight"),
                                   g(p + "post_attention_layernorm.bias"), eps)
        if parallel:
            x = x + a + mlp(ln2(x))
        else:
            x = x + a
            x = x + mlp(ln2(x))
    x = layer_norm(x, g("final_layer_norm.weight"), g("final_layer_norm.bias"), eps)
    head = g("embed_in.weight") if _tied(c, "gpt_neox") else m.get("embed_out.weight")
    return x @ head.T


def _forward_phi(m, ids):
    c = m.config
    _check_rope_scaling(c)
    D, L, H = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    Hkv = c.get("num_key_value_heads") or H
    hd = D // H
    eps = c.get("layer_norm_eps", 1e-5)
    act = act_fn(c.get("hidden_act", "gelu_new"))
    rot = int(hd * c.get("partial_rotary_factor", 0.5))
    T = len(ids)
    cos, sin = rope_tables(T, rot, float(c.get("rope_theta", 10000.0)))
    allowed = causal_mask(T)
    qk_ln = bool(c.get("qk_layernorm", False))
    g = m.get
    x = g("model.embed_tokens.weight")[ids]
    for i in range(L):
        p = f"model.layers.{i}."
        h = layer_norm(x, g(p + "input_layernorm.weight"), g(p + "input_layernorm.bias"), eps)
        a = p + "self_attn."
        q = split_heads(linear(h, g(a + "q_proj.weight"), g(a + "q_proj.bias")), H, hd)
        k = split_heads(linear(h, g(a + "k_proj.weight"), g(a + "k_proj.bias")), Hkv, hd)
        v = split_heads(linear(h, g(a + "v_proj.weight"), g(a + "v_proj.bias")), Hkv, hd)
        if qk_ln:
            q = layer_norm(q, g(a + "q_layernorm.weight"), g(a + "q_layernorm.bias"), eps)
            k = layer_norm(k, g(a + "k_layernorm.weight"), g(a + "k_layernorm.bias"), eps)
        q, k = apply_rope(q, cos, sin, rot), apply_rope(k, cos, sin, rot)
        o = attention(q, k, v, hd ** -0.5, allowed)
        attn = linear(o, g(a + "dense.weight"), g(a + "dense.bias"))
        ff = linear(act(linear(h, g(p + "mlp.fc1.weight"), g(p + "mlp.fc1.bias"))),
                    g(p + "mlp.fc2.weight"), g(p + "mlp.fc2.bias"))
        x = x + attn + ff  # one shared norm feeds both branches
    x = layer_norm(x, g("model.final_layernorm.weight"), g("model.final_layernorm.bias"), eps)
    if _tied(c, "phi"):
        return x @ g("model.embed_tokens.weight").T
    return linear(x, g("lm_head.weight"), m.opt("lm_head.bias"))


_FORWARD = {"llama": _forward_llama, "mistral": _forward_llama, "qwen2": _forward_llama,
            "gpt_neo": _forward_gpt_neo, "gpt2": _forward_gpt2, "opt": _forward_opt,
            "gpt_neox": _forward_gpt_neox, "phi": _forward_phi}


def max_positions(m):
    c = m.config
    return int(c.get("max_position_embeddings") or c.get("n_positions"))


def vocab_size(m):
    return int(m.config["vocab_size"])


def forward(m, ids):
    """Logits (T, vocab) float64 for token ids (list of int), no KV cache."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or len(ids) == 0:
        raise ValueError("need a non-empty 1-D token list")
    if ids.min() < 0 or ids.max() >= vocab_size(m):
        raise ValueError("token id out of range")
    if len(ids) > max_positions(m):
        raise ValueError(f"{len(ids)} tokens exceed max positions {max_positions(m)}")
    return _FORWARD[m.family](m, ids)


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---------------------------------------------------------------------------------------------
# tokenizer (HF tokenizers BPE: SentencePiece-style with byte fallback, or GPT-2 byte-level)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


class Tokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        if model.get("type") != "BPE":
            raise NotImplementedError(f"tokenizer model {model.get('type')}")
        self.vocab = model["vocab"]
        self.inv = {i: s for s, i in self.vocab.items()}
        self.byte_fallback = bool(model.get("byte_fallback", False))
        self.fuse_unk = bool(model.get("fuse_unk", False))
        self.unk = self.vocab.get(model["unk_token"]) if model.get("unk_token") else None
        self.merges = {}
        for rank, mg in enumerate(model["merges"]):
            a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
            self.merges[(self.vocab[a], self.vocab[b])] = (rank, self.vocab[a + b])
        self.added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
        self.special = {t["id"] for t in tj.get("added_tokens", []) if t.get("special")}
        pt = tj.get("pre_tokenizer")
        self.byte_level = pt is not None and pt.get("type") == "ByteLevel"
        if self.byte_level:
            import regex  # python3-regex; only the byte-level style needs \p{L}
            self.pat = regex.compile(GPT2_PATTERN)
            self.b2u = bytes_to_unicode()
            self.u2b = {u: b for b, u in self.b2u.items()}
        else:
            if pt is not None:
                raise NotImplementedError(f"pre_tokenizer {pt.get('type')}")
            self._check_sp_normalizer(tj.get("normalizer"))
        self.cache = {}

    @staticmethod
    def _check_sp_normalizer(norm):
        want = [{"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]
        if norm is None or norm.get("type") != "Sequence" or norm.get("normalizers") != want:
            raise NotImplementedError(f"normalizer {norm}")

    def _initial_symbols(self, word):
        ids = []
        for ch in word:
            i = self.vocab.get(ch)
            if i is not None:
                ids.append(i)
                continue
            if self.byte_fallback:
                bt = [self.vocab.get(f"<0x{b:02X}>") for b in ch.encode("utf-8")]
                if all(x is not None for x in bt):
                    ids.extend(bt)
                    continue
            if self.unk is None:
                raise ValueError(f"character {ch!r} not in vocabulary and no unk token")
            if self.fuse_unk and ids and ids[-1] == self.unk:
                continue
            ids.append(self.unk)
        return ids

    def _bpe(self, word):
        """Merges like tokenizers' Word::merge_all: lowest rank first, leftmost on ties."""
        sym = self._initial_symbols(word)
        n = len(sym)
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        alive = [True] * n
        heap = []
        for i in range(n - 1):
            mg = self.merges.get((sym[i], sym[i + 1]))
            if mg:
                heap.append((mg[0], i, mg[1]))
        heapq.heapify(heap)
        while heap:
            rank, pos, new_id = heapq.heappop(heap)
            if not alive[pos] or nxt[pos] >= n:
                continue
            r = nxt[pos]
            mg = self.merges.get((sym[pos], sym[r]))
            if mg is None or mg[1] != new_id:
                continue  # stale entry
            sym[pos] = new_id
            alive[r] = False
            nxt[pos] = nxt[r]
            if nxt[r] < n:
                prev[nxt[r]] = pos
            if prev[pos] >= 0:
                mg = self.merges.get((sym[prev[pos]], sym[pos]))
                if mg:
                    heapq.heappush(heap, (mg[0], prev[pos], mg[1]))
            if nxt[pos] < n:
                mg = self.merges.get((sym[pos], sym[nxt[pos]]))
                if mg:
                    heapq.heappush(heap, (mg[0], pos, mg[1]))
        return [sym[i] for i in range(n) if alive[i]]

    def _encode_plain(self, text):
        if not text:
            return []
        if self.byte_level:
            out = []
            for piece in self.pat.findall(text):
                w = "".join(self.b2u[b] for b in piece.encode("utf-8"))
                ids = self.cache.get(w)
                if ids is None:
                    ids = self._bpe(w)
                    self.cache[w] = ids
                out.extend(ids)
            return out
        return self._bpe("▁" + text.replace(" ", "▁"))

    def encode(self, text):
        """Token ids for text, without BOS/EOS; added tokens found verbatim are split out first."""
        out, start, i = [], 0, 0
        keys = sorted(self.added, key=len, reverse=True)
        while i < len(text):
            hit = next((k for k in keys if text.startswith(k, i)), None)
            if hit is None:
                i += 1
                continue
            out.extend(self._encode_plain(text[start:i]))
            out.append(self.added[hit])
            i += len(hit)
            start = i
        out.extend(self._encode_plain(text[start:]))
        return out

    def decode(self, ids, skip_special=True):
        toks = [self.inv[i] for i in ids if not (skip_special and i in self.special)]
        if self.byte_level:
            data = bytearray()
            for t in toks:
                if t in self.added:
                    data.extend(t.encode("utf-8"))
                else:
                    data.extend(self.u2b[ch] for ch in t)
            return data.decode("utf-8", errors="replace")
        # Replace("▁", " "), ByteFallback, Fuse, Strip(1 leading space)
        pieces, pending = [], bytearray()
        for t in toks:
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                pending.append(int(t[3:5], 16))
                continue
            if pending:
                pieces.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
            pieces.append(t.replace("▁", " "))
        if pending:
            pieces.append(pending.decode("utf-8", errors="replace"))
        s = "".join(pieces)
        return s[1:] if s.startswith(" ") else s


# ---------------------------------------------------------------------------------------------
# tasks


def bos_id(m):
    b = m.config.get("bos_token_id")
    if b is None:
        raise ValueError("config.json has no bos_token_id")
    return int(b)


def greedy(m, prompt_ids, max_tokens, stop_at_eos=True):
    """Greedy continuation (list of new ids), recomputing the full forward at every step."""
    ids = list(prompt_ids)
    eos = m.config.get("eos_token_id")
    new = []
    for _ in range(max_tokens):
        if len(ids) >= max_positions(m):
            break
        nxt = int(np.argmax(forward(m, ids)[-1]))
        ids.append(nxt)
        new.append(nxt)
        if stop_at_eos and eos is not None and nxt == eos:
            break
    return new


def perplexity(m, ids, seq_len, max_windows=None):
    """Mean NLL over non-overlapping windows of ids (ids already include BOS).

    Every window predicts its positions 1..len-1 from the prefix inside the window; a trailing
    partial window counts if it has at least 2 tokens."""
    total, count, windows = 0.0, 0, 0
    for start in range(0, len(ids), seq_len):
        if max_windows is not None and windows >= max_windows:
            break
        w = ids[start:start + seq_len]
        if len(w) < 2:
            break
        lp = log_softmax(forward(m, w)[:-1])
        tgt = np.asarray(w[1:])
        total -= lp[np.arange(len(tgt)), tgt].sum()
        count += len(tgt)
        windows += 1
    nll = total / count
    return {"perplexity": math.exp(nll), "nll": nll, "tokens": count, "windows": windows}


def _cmd_logits(a):
    m = load_model(a.model)
    ids = [int(t) for t in a.tokens.split(",")]
    z = forward(m, ids)
    json.dump({"tokens": ids, "logits": z.tolist()}, sys.stdout)
    sys.stdout.write("\n")


def _cmd_generate(a):
    m = load_model(a.model)
    tok = Tokenizer(os.path.join(a.model, "tokenizer.json"))
    prompt = [bos_id(m)] + (tok.encode(a.prompt) if a.prompt else [])
    new = greedy(m, prompt, a.max_tokens, stop_at_eos=not a.no_stop)
    text = tok.decode(prompt[1:] + new)
    if a.json:
        json.dump({"prompt_tokens": prompt, "tokens": new, "text": text}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(text)


def _cmd_ppl(a):
    m = load_model(a.model)
    tok = Tokenizer(os.path.join(a.model, "tokenizer.json"))
    with open(a.text, encoding="utf-8") as f:
        ids = [bos_id(m)] + tok.encode(f.read())
    seq = a.seq_len or max_positions(m)
    r = perplexity(m, ids, seq, a.max_windows)
    r["seq_len"] = seq
    r["file_tokens"] = len(ids)
    json.dump(r, sys.stdout)
    sys.stdout.write("\n")


def _cmd_count(a):
    tok = Tokenizer(os.path.join(a.model, "tokenizer.json"))
    with open(a.text, encoding="utf-8") as f:
        print(len(tok.encode(f.read())))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("logits", help="JSON {tokens, logits} for a token list")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True, help="comma-separated ids")
    p.set_defaults(fn=_cmd_logits)
    p = sub.add_parser("generate", help="greedy text from BOS (+ prompt)")
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", default="")
    p.add_argument("--max-tokens", type=int, required=True)
    p.add_argument("--no-stop", action="store_true", help="do not stop at eos_token_id")
    p.add_argument("--json", action="store_true", help="print ids and text as JSON")
    p.set_defaults(fn=_cmd_generate)
    p = sub.add_parser("ppl", help="perplexity over non-overlapping windows")
    p.add_argument("--model", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--seq-len", type=int, default=0, help="default: max_position_embeddings")
    p.add_argument("--max-windows", type=int, default=None)
    p.set_defaults(fn=_cmd_ppl)
    p = sub.add_parser("count", help="number of tokens in a text file (no BOS)")
    p.add_argument("--model", required=True)
    p.add_argument("--text", required=True)
    p.set_defaults(fn=_cmd_count)
    a = ap.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
