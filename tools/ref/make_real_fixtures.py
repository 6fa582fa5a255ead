#!/usr/bin/env python3
"""Writes tests/fixtures/real/<model>.json: reference logits of the shared real checkpoints.

For a fixed token sequence (BOS followed by the tokenization of a short story opening), it stores
the float64 reference logits at 32 fixed vocabulary indices plus each row's log-sum-exp, which
pins the whole row's normalisation without committing vocab-sized rows. Rerun:
    /usr/bin/python3 tools/ref/make_real_fixtures.py ../shared/models tests/fixtures/real
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hfref  # noqa: E402

TEXT = "Once upon a time, there was a little girl named Lily. She liked to play"


def main():
    models_dir, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    for name in ("stories260k", "tinystories-instruct-3m"):
        path = os.path.join(models_dir, name)
        m = hfref.load_model(path)
        tok = hfref.Tokenizer(os.path.join(path, "tokenizer.json"))
        ids = [hfref.bos_id(m)] + list(tok.encode(TEXT))
        logits = np.asarray(hfref.forward(m, np.asarray(ids)), dtype=np.float64)
        vocab = logits.shape[1]
        rng = np.random.default_rng(7)
        idx = sorted(set(rng.choice(vocab, 28, replace=False).tolist()) |
                     set(int(i) for i in np.argmax(logits, axis=1)[:4]))
        mx = logits.max(axis=1, keepdims=True)
        lse = (mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))).tolist()
        doc = {
            "model": name,
            "text": TEXT,
            "tokens": ids,
            "indices": idx,
            "logits": [[float(r[i]) for i in idx] for r in logits],
            "logsumexp": lse,
            "note": "float64 NumPy reference (tools/ref/hfref.py); see tools/ref/make_real_fixtures.py",
        }
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, indent=0)
        print(name, len(ids), "tokens,", len(idx), "indices")


if __name__ == "__main__":
    main()
