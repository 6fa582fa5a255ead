#!/usr/bin/python3
"""Weights-only row heuristics against perplexity, computed with the reference alone.

For a model and a ratio, removes round(ratio * ffn) FFN neurons per layer chosen by simple
heuristics (uniform random, largest up-projection L1 norm, largest down-projection column norm,
largest up-row x down-column norm), by zeroing their up (and gate) rows and biases, which is
exactly removing them. Prints per heuristic the mean KS distance over layers of the up-projection
and of the down-projection spectra (kept vs all, scipy.stats.ks_2samp) and the perplexity on
the first windows of a text. Used to ask whether the spectral objective predicts perplexity.

usage: row_heuristics.py --model DIR --text FILE [--ratio 0.3] [--max-windows 8] [--seeds 2]
"""
import argparse
import os
import sys

import numpy as np
from scipy.stats import ks_2samp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hfref as H  # noqa: E402

# (scored up, paired up or None, up bias or None, down) tensor names per family
NAMES = {
    "llama": ("model.layers.{}.mlp.gate_proj.weight", "model.layers.{}.mlp.up_proj.weight",
              None, "model.layers.{}.mlp.down_proj.weight"),
    "gpt_neo": ("transformer.h.{}.mlp.c_fc.weight", None, "transformer.h.{}.mlp.c_fc.bias",
                "transformer.h.{}.mlp.c_proj.weight"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--max-windows", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=2)
    a = ap.parse_args()
    m = H.load_model(a.model)
    if m.family not in NAMES:
        sys.exit(f"row_heuristics: family {m.family} not handled (llama, gpt_neo)")
    up_n, pair_n, bias_n, down_n = NAMES[m.family]
    c = m.config
    n_layers = c.get("num_layers") or c.get("num_hidden_layers")
    tok = H.Tokenizer(os.path.join(a.model, "tokenizer.json"))
    with open(a.text, encoding="utf-8") as f:
        ids = [H.bos_id(m)] + tok.encode(f.read())
    orig = {k: v.copy() for k, v in m.t.items()}

    def up(l):
        return orig[up_n.format(l)].astype(np.float64)

    def down(l):  # (hidden, ffn)
        return orig[down_n.format(l)].astype(np.float64)

    heuristics = []
    for s in range(a.seeds):
        rng = np.random.default_rng(s)
        heuristics.append((f"random (seed {s})",
                           lambda l, rng=rng: rng.random(up(l).shape[0])))
    heuristics += [
        ("largest up L1", lambda l: np.abs(up(l)).sum(1) +
         (np.abs(orig[pair_n.format(l)]).sum(1) if pair_n else 0)),
        ("largest down column norm", lambda l: np.linalg.norm(down(l), axis=0)),
        ("largest up x down norm", lambda l: np.linalg.norm(up(l), axis=1) *
         np.linalg.norm(down(l), axis=0)),
    ]
    print(f"{a.model}: ratio {a.ratio}, first {a.max_windows} windows of {a.text}")
    print(f"{'kept rows':28s} {'KS up':>7s} {'KS down':>8s} {'perplexity':>11s}")
    for name, score in heuristics:
        ks_up = ks_down = 0.0
        for k, v in orig.items():
            m.t[k] = v.copy()
        for l in range(n_layers):
            w, d = up(l), down(l)
            n = w.shape[0]
            order = np.argsort(score(l), kind="stable")
            drop, keep = order[:round(a.ratio * n)], np.sort(order[round(a.ratio * n):])
            sv = np.linalg.svd
            ks_up += ks_2samp(sv(w, compute_uv=False), sv(w[keep], compute_uv=False)).statistic
            ks_down += ks_2samp(sv(d, compute_uv=False),
                                sv(d[:, keep], compute_uv=False)).statistic
            for name_fmt in (up_n, pair_n, bias_n):
                if name_fmt:
                    m.t[name_fmt.format(l)][drop] = 0
        ppl = H.perplexity(m, ids, H.max_positions(m), a.max_windows)["perplexity"]
        print(f"{name:28s} {ks_up / n_layers:7.4f} {ks_down / n_layers:8.4f} {ppl:11.3f}",
              flush=True)


if __name__ == "__main__":
    main()
