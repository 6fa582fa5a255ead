#!/usr/bin/python3
"""Consistency checks for hfref.py (the reference has no HF/torch to compare against here).

1. Cross-family equivalences on the committed fixtures: a checkpoint rewritten into another
   family's layout must give the same logits (to 1e-10), which pins down the layout handling
   that the real models do not exercise:
     gpt_neo (all layers global) -> gpt2   Conv1D (in, out) transposition, fused c_attn split,
                                            1/sqrt(d) scaling vs none
     gpt2 -> opt                            position offset 2, q pre-scaling, tensor prefixes
     phi (lm_head bias 0) -> gpt_neox       per-head [q k v] fused rows, partial rotary,
                                            parallel residual with ln1 == ln2
2. The committed fixtures are reproduced byte for byte by make_fixtures.py.
3. With --real (needs /work/shared or $YOPO_SHARED): tokenizer counts from
   data/README.md and the stories260k greedy text.

Usage: /usr/bin/python3 tools/ref/selfcheck.py [--real]
"""

import copy
import filecmp
import math
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hfref  # noqa: E402
import make_fixtures  # noqa: E402

FIX = os.path.join(HERE, "..", "..", "tests", "fixtures", "families")
TOKENS = [3, 17, 39, 0, 22, 5, 5, 31, 12, 8]


def clone(m, family, config, tensors):
    n = copy.copy(m)
    n.family, n.config, n.t = family, config, tensors
    return n


def neo_to_gpt2(neo):
    c = neo.config
    D, H = c["hidden_size"], c["num_heads"]
    hd = D // H
    t = {}
    g = lambda n: neo.get("transformer." + n)
    for n in ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"):
        t[n] = g(n)
    for i in range(c["num_layers"]):
        p, a = f"h.{i}.", f"h.{i}.attn.attention."
        for n in ("ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias"):
            t[p + n] = g(p + n)
        # gpt2 divides scores by sqrt(hd), gpt_neo does not: pre-multiply q
        t[p + "attn.c_attn.weight"] = np.concatenate(
            [g(a + "q_proj.weight").T * math.sqrt(hd), g(a + "k_proj.weight").T, g(a + "v_proj.weight").T], axis=1)
        t[p + "attn.c_attn.bias"] = np.zeros(3 * D)
        t[p + "attn.c_proj.weight"] = g(a + "out_proj.weight").T
        t[p + "attn.c_proj.bias"] = g(a + "out_proj.bias")
        for n in ("c_fc", "c_proj"):
            t[p + f"mlp.{n}.weight"] = g(p + f"mlp.{n}.weight").T
            t[p + f"mlp.{n}.bias"] = g(p + f"mlp.{n}.bias")
    cfg = {"model_type": "gpt2", "n_embd": D, "n_head": H, "n_layer": c["num_layers"],
           "n_positions": c["max_position_embeddings"], "vocab_size": c["vocab_size"],
           "layer_norm_epsilon": c["layer_norm_epsilon"], "activation_function": c["activation_function"]}
    return clone(neo, "gpt2", cfg, t)


def gpt2_to_opt(g2):
    c = g2.config
    D = c["n_embd"]
    P = "model.decoder."
    gt = lambda n: g2.get(n)
    wpe = gt("wpe.weight")
    t = {P + "embed_tokens.weight": gt("wte.weight"),
         P + "embed_positions.weight": np.concatenate([np.zeros((2, D)), wpe]),
         P + "final_layer_norm.weight": gt("ln_f.weight"), P + "final_layer_norm.bias": gt("ln_f.bias")}
    for i in range(c["n_layer"]):
        p, q = f"h.{i}.", f"{P}layers.{i}."
        for src, dst in (("ln_1", "self_attn_layer_norm"), ("ln_2", "final_layer_norm")):
            t[q + dst + ".weight"], t[q + dst + ".bias"] = gt(p + src + ".weight"), gt(p + src + ".bias")
        w, b = gt(p + "attn.c_attn.weight"), gt(p + "attn.c_attn.bias")
        for j, n in enumerate(("q_proj", "k_proj", "v_proj")):
            t[q + f"self_attn.{n}.weight"] = w[:, j * D:(j + 1) * D].T
            t[q + f"self_attn.{n}.bias"] = b[j * D:(j + 1) * D]
        t[q + "self_attn.out_proj.weight"] = gt(p + "attn.c_proj.weight").T
        t[q + "self_attn.out_proj.bias"] = gt(p + "attn.c_proj.bias")
        t[q + "fc1.weight"], t[q + "fc1.bias"] = gt(p + "mlp.c_fc.weight").T, gt(p + "mlp.c_fc.bias")
        t[q + "fc2.weight"], t[q + "fc2.bias"] = gt(p + "mlp.c_proj.weight").T, gt(p + "mlp.c_proj.bias")
    cfg = {"model_type": "opt", "hidden_size": D, "num_attention_heads": c["n_head"],
           "num_hidden_layers": c["n_layer"], "max_position_embeddings": c["n_positions"],
           "vocab_size": c["vocab_size"], "activation_function": c["activation_function"],
           "do_layer_norm_before": True, "word_embed_proj_dim": D}
    return clone(g2, "opt", cfg, t)


def phi_to_neox(phi):
    c = phi.config
    D, H = c["hidden_size"], c["num_attention_heads"]
    hd = D // H
    g = phi.get
    t = {"gpt_neox.embed_in.weight": g("model.embed_tokens.weight"), "embed_out.weight": g("lm_head.weight"),
         "gpt_neox.final_layer_norm.weight": g("model.final_layernorm.weight"),
         "gpt_neox.final_layer_norm.bias": g("model.final_layernorm.bias")}
    for i in range(c["num_hidden_layers"]):
        p, q = f"model.layers.{i}.", f"gpt_neox.layers.{i}."
        for ln in ("input_layernorm", "post_attention_layernorm"):  # shared norm -> both copies
            t[q + ln + ".weight"], t[q + ln + ".bias"] = g(p + "input_layernorm.weight"), g(p + "input_layernorm.bias")
        ws, bs = [], []
        for h in range(H):
            for n in ("q_proj", "k_proj", "v_proj"):
                ws.append(g(p + f"self_attn.{n}.weight")[h * hd:(h + 1) * hd])
                bs.append(g(p + f"self_attn.{n}.bias")[h * hd:(h + 1) * hd])
        t[q + "attention.query_key_value.weight"] = np.concatenate(ws)
        t[q + "attention.query_key_value.bias"] = np.concatenate(bs)
        t[q + "attention.dense.weight"], t[q + "attention.dense.bias"] = g(p + "self_attn.dense.weight"), g(p + "self_attn.dense.bias")
        t[q + "mlp.dense_h_to_4h.weight"], t[q + "mlp.dense_h_to_4h.bias"] = g(p + "mlp.fc1.weight"), g(p + "mlp.fc1.bias")
        t[q + "mlp.dense_4h_to_h.weight"], t[q + "mlp.dense_4h_to_h.bias"] = g(p + "mlp.fc2.weight"), g(p + "mlp.fc2.bias")
    cfg = {"model_type": "gpt_neox", "hidden_size": D, "num_attention_heads": H,
           "num_hidden_layers": c["num_hidden_layers"], "max_position_embeddings": c["max_position_embeddings"],
           "vocab_size": c["vocab_size"], "hidden_act": c["hidden_act"], "layer_norm_eps": c["layer_norm_eps"],
           "rotary_pct": c["partial_rotary_factor"], "rotary_emb_base": c["rope_theta"],
           "use_parallel_residual": True, "tie_word_embeddings": False}
    return clone(phi, "gpt_neox", cfg, t)


def check(label, a, b, tol=1e-10):
    d = float(np.abs(a - b).max())
    ok = d <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {label}: max |dlogit| {d:.2e}")
    return ok


def equivalences():
    ok = True
    neo = hfref.load_model(os.path.join(FIX, "gpt_neo"))
    neo.config = dict(neo.config, attention_layers=["global"] * neo.config["num_layers"])
    g2 = neo_to_gpt2(neo)
    ref = hfref.forward(neo, TOKENS)
    ok &= check("gpt_neo (global) == gpt2 rewrite", ref, hfref.forward(g2, TOKENS))
    ok &= check("gpt2 rewrite == opt rewrite", ref, hfref.forward(gpt2_to_opt(g2), TOKENS))
    phi = hfref.load_model(os.path.join(FIX, "phi"))
    phi.t = dict(phi.t, **{"lm_head.bias": np.zeros(phi.config["vocab_size"])})
    ok &= check("phi (no lm_head bias) == gpt_neox rewrite", hfref.forward(phi, TOKENS),
                hfref.forward(phi_to_neox(phi), TOKENS))
    return ok


def fixtures_reproduce():
    with tempfile.TemporaryDirectory() as tmp:
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            for name in make_fixtures.FIXTURES:
                make_fixtures.write_fixture(tmp, name)
        ok = True
        for name in make_fixtures.FIXTURES:
            for fn in ("config.json", "model.safetensors", "expected.json"):
                a, b = os.path.join(tmp, name, fn), os.path.join(FIX, name, fn)
                if not (os.path.exists(b) and filecmp.cmp(a, b, shallow=False)):
                    print(f"FAIL fixture {name}/{fn} differs from a fresh make_fixtures.py run")
                    ok = False
        if ok:
            print(f"ok   {len(make_fixtures.FIXTURES)} committed fixtures reproduce byte for byte")
        return ok


def real_models():
    shared = os.environ.get("YOPO_SHARED", "/work/shared")
    md, dd = os.path.join(shared, "models"), os.path.join(shared, "data")
    ok = True
    counts = {("tinystories-calib.txt", "stories260k"): 42926,
              ("tinystories-calib.txt", "tinystories-instruct-3m"): 22258,
              ("tinystories-eval.txt", "stories260k"): 350091 - 1,
              ("tinystories-eval.txt", "tinystories-instruct-3m"): 174380 - 1,
              ("wikitext2-test.txt", "stories260k"): 815070 - 1,
              ("wikitext2-test.txt", "tinystories-instruct-3m"): 398220 - 1}
    toks = {}
    for (f, mdl), want in counts.items():
        tok = toks.setdefault(mdl, hfref.Tokenizer(os.path.join(md, mdl, "tokenizer.json")))
        with open(os.path.join(dd, f), encoding="utf-8") as fh:
            text = fh.read()
        ids = tok.encode(text)
        good = len(ids) == want
        rt = tok.decode(ids) == text
        print(f"{'ok  ' if good else 'FAIL'} {mdl} {f}: {len(ids)} tokens (want {want}); decode round-trip {rt}")
        ok &= good
    m = hfref.load_model(os.path.join(md, "stories260k"))
    text = toks["stories260k"].decode(hfref.greedy(m, [1], 40))
    want = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
    good = text.startswith(want)
    print(f"{'ok  ' if good else 'FAIL'} stories260k greedy: {text!r}")
    return ok and good


def main():
    ok = equivalences()
    ok &= fixtures_reproduce()
    if "--real" in sys.argv[1:]:
        ok &= real_models()
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
