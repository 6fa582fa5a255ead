#!/usr/bin/python3
"""Header and shape check of a row-pruned checkpoint against its source, independent of yopo.

Usage: check_pruned_st.py SOURCE_DIR PRUNED_DIR

Reads every *.safetensors file of both directories with numpy memory maps (a 7B checkpoint is
never loaded whole) and checks, for Llama-style FFNs (mlp.gate_proj / up_proj / down_proj):
- every header is well formed (offsets in bounds, sizes = shape x dtype, no overlap) and both
  checkpoints hold the same tensor names with the same dtypes;
- config.json's intermediate_size and yopo_pruning.json's kept_per_layer agree with the shapes:
  gate/up (kept_l, hidden), down (hidden, kept_l);
- every sliced tensor equals the source's kept rows (gate, up) or columns (down) at
  kept_indices[l], byte for byte, and every other tensor is byte-identical to the source.
Prints one line per finding and a summary; exit status 1 on any finding."""
import json
import os
import re
import sys

import numpy as np

ITEM = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I8": 1, "U8": 1}
FFN = re.compile(r"^model\.layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.weight$")


def read_headers(d):
    """{name: (path, dtype, shape, absolute byte offset)} over every safetensors file of d."""
    out = {}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".safetensors"):
            continue
        path = os.path.join(d, f)
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            hlen = int.from_bytes(fh.read(8), "little")
            if hlen > size - 8:
                raise ValueError(f"{path}: header length {hlen} beyond the file")
            header = json.loads(fh.read(hlen))
        base, spans = 8 + hlen, []
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dt, shape = info["dtype"], tuple(int(s) for s in info["shape"])
            a, b = (int(x) for x in info["data_offsets"])
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if dt not in ITEM or not 0 <= a <= b <= size - base or b - a != n * ITEM[dt]:
                raise ValueError(f"{path}: {name}: bad dtype or offsets")
            spans.append((a, b, name))
            out[name] = (path, dt, shape, base + a)
        spans.sort()
        for (a0, b0, n0), (a1, _, n1) in zip(spans, spans[1:]):
            if a1 < b0:
                raise ValueError(f"{path}: {n0} and {n1} overlap")
    return out


def raw(entry):
    """The tensor's bytes as a uint8/uint16/... memmap of its shape (no conversion)."""
    path, dt, shape, off = entry
    return np.memmap(path, dtype=np.dtype(f"u{ITEM[dt]}"), mode="r", offset=off, shape=shape)


def main(src, dst):
    bad = []
    s, p = read_headers(src), read_headers(dst)
    cfg = json.load(open(os.path.join(dst, "config.json")))
    info = json.load(open(os.path.join(dst, "yopo_pruning.json")))
    kept, per = info["kept_indices"], info["kept_per_layer"]
    if set(s) != set(p):
        bad.append(f"tensor names differ: {sorted(set(s) ^ set(p))[:5]}")
    if cfg.get("intermediate_size") not in (max(per), per):
        bad.append(f"config intermediate_size {cfg.get('intermediate_size')} vs kept {per[:3]}...")
    sliced = 0
    for name in sorted(set(s) & set(p)):
        if s[name][1] != p[name][1]:
            bad.append(f"{name}: dtype {p[name][1]} (source {s[name][1]})")
            continue
        a, b = raw(s[name]), raw(p[name])
        m = FFN.match(name)
        if not m:
            if a.shape != b.shape or not np.array_equal(a, b):
                bad.append(f"{name}: not byte-identical to the source")
            continue
        layer, kind = int(m.group(1)), m.group(2)
        idx = np.asarray(kept[layer], dtype=np.int64)
        want = a[idx, :] if kind != "down_proj" else a[:, idx]
        shape = (per[layer], a.shape[1]) if kind != "down_proj" else (a.shape[0], per[layer])
        if b.shape != shape or len(idx) != per[layer]:
            bad.append(f"{name}: shape {b.shape}, expected {shape}")
        elif not np.array_equal(want, b):
            bad.append(f"{name}: differs from the source's kept rows/columns")
        sliced += 1
    for line in bad:
        print(line)
    print(f"{len(p)} tensors, {sliced} sliced FFN matrices checked against kept_indices, "
          f"{len(p) - sliced} byte-identical copies checked; {len(bad)} findings")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
