#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the
family fixtures, ../shared (when present) and small hand-made files. Run from the repository
root; the policy seeds come from tests/fuzz/corpus/policy (written by checkpoint_save_* once,
kept as they are). Every corpus stays under 100 KB."""
import json
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures", "families")
SHARED = os.path.join(ROOT, "..", "shared", "models")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
FAMILIES = ["gpt2", "gpt2_prefixed", "gpt_neo", "gpt_neox", "gpt_neox_seq",
            "llama_gqa", "mistral", "opt", "phi", "qwen2"]  # order of fuzz-config-weights.c


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, meta=None):
    """tensors: [(name, dtype, shape, raw bytes)] laid out in order."""
    header, off = {}, 0
    if meta:
        header["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t[3] for t in tensors)


def seeds_safetensors():
    for fam in ["opt", "gpt2"]:
        put("safetensors", fam + ".safetensors", open(os.path.join(FIX, fam, "model.safetensors"), "rb").read())
    put("safetensors", "tiny-f16-meta.safetensors", safetensors(
        [("x", "F16", [2, 3], struct.pack("<6H", 0x3c00, 0xc000, 0x7c00, 0xfc00, 0x7e00, 1))],
        {"format": "pt", "yopo": "{}"}))
    put("safetensors", "scalar-bf16-empty.safetensors", safetensors(
        [("s", "BF16", [], struct.pack("<H", 0x3f80)), ("z", "F32", [0, 4], b"")]))
    put("safetensors", "f32-3d.safetensors", safetensors(
        [("a.b", "F32", [1, 2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("c", "F32", [1], struct.pack("<f", 5))]))


SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"


def seeds_index():
    wm = {"a": SHARD1, "b": SHARD1, "c": SHARD2}
    put("safetensors-index", "valid.json", json.dumps({"metadata": {"total_size": 26}, "weight_map": wm}))
    put("safetensors-index", "partial.json", json.dumps({"weight_map": {"c": SHARD2}}))
    shard = safetensors([("a", "F32", [2], struct.pack("<2f", 1, -2)),
                         ("b", "F16", [2, 2], struct.pack("<4H", 0x3c00, 0xc000, 0x7c00, 1))])
    put("safetensors-index", "with-shard1.bin",
        json.dumps({"weight_map": {"a": SHARD1, "b": SHARD1}}).encode() + b"\0" + shard)


def seeds_config():
    for i, fam in enumerate(FAMILIES):
        cfg = open(os.path.join(FIX, fam, "config.json"), "rb").read()
        put("config", fam + ".json", cfg)
        put("config-weights", fam + ".bin", bytes([i]) + cfg)
    for m in ["stories260k", "tinystories-instruct-3m"]:
        p = os.path.join(SHARED, m, "config.json")
        if os.path.exists(p):
            put("config", m + ".json", open(p, "rb").read())


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def seeds_tokenizer():
    text = b"\0Once upon a time, Lily said \"hi\"! caf\xc3\xa9 \xf0\x9f\x98\x80 \xff"
    p = os.path.join(SHARED, "stories260k", "tokenizer.json")
    if os.path.exists(p):
        put("tokenizer", "stories260k.bin", open(p, "rb").read() + text)
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = ["\u0120 t", "h e", "\u0120t he", "\u0120 \u0120", "' s"]
    for m in merges:
        vocab[m.replace(" ", "")] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    bl = {"added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
          "normalizer": None,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
          "decoder": {"type": "ByteLevel"},
          "model": {"type": "BPE", "vocab": vocab, "merges": merges}}
    put("tokenizer", "byte-level.bin", json.dumps(bl, ensure_ascii=False).encode() + b"\0the the's\n\n  the\t\xff!!")
    sp = {"added_tokens": [{"id": 0, "content": "<s>", "special": True, "normalized": False},
                           {"id": 1, "content": "</s>", "special": True},
                           {"id": 9, "content": "<m>", "special": False, "lstrip": True, "rstrip": True}],
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Prepend", "prepend": "\u2581"},
              {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
          "pre_tokenizer": None,
          "post_processor": {"type": "TemplateProcessing",
                             "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                        {"Sequence": {"id": "A", "type_id": 0}}],
                             "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}},
          "decoder": {"type": "Sequence", "decoders": [
              {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
              {"type": "ByteFallback"}, {"type": "Fuse"},
              {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                    "vocab": {"<s>": 0, "</s>": 1, "<unk>": 2, "<0xC3>": 3, "<0xA9>": 4, "\u2581": 5,
                              "h": 6, "i": 7, "\u2581h": 8, "\u2581hi": 10, "<m>": 9},
                    "merges": ["\u2581 h", "\u2581h i"]}}
    put("tokenizer", "sentencepiece.bin", json.dumps(sp, ensure_ascii=False).encode() + b"\0hi <m> h\xc3\xa9 hi</s>")
    put("tokenizer", "subword.json", json.dumps({"model": {
        "vocab": {"a": 0, "##b": 1, "##c": 2, "ab": 3, "##bc": 4},
        "merges": ["##b ##c", "a ##b"], "continuing_subword_prefix": "##"}}))
    put("tokenizer", "suffix.json", json.dumps({"model": {
        "vocab": {"a": 0, "b</w>": 1, "ab</w>": 2, "b": 3}, "merges": ["a b</w>"],
        "end_of_word_suffix": "</w>", "ignore_merges": True}}))


if __name__ == "__main__":
    seeds_safetensors()
    seeds_index()
    seeds_config()
    seeds_tokenizer()
    for t in sorted(os.listdir(OUT)):
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in os.listdir(os.path.join(OUT, t)))
        print(f"{t}: {len(os.listdir(os.path.join(OUT, t)))} files, {size} bytes")
        if size >= 100_000:
            sys.exit(f"{t}: corpus over 100 KB")
