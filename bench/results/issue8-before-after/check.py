"""Issue 8's behaviour check: every field of every results.json row equal before and after,
timings (prune_seconds, tokens_per_s) excepted. Usage: python3 check.py [DIR] (default: here)."""
import json, os, sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
TIMINGS = {"prune_seconds", "tokens_per_s"}
bad = 0
for m in ("stories260k", "tinystories-instruct-3m"):
    a = json.load(open(os.path.join(d, f"before-{m}.json")))["results"]
    b = json.load(open(os.path.join(d, f"main-{m}.json")))["results"]
    if len(a) != len(b):
        print(f"{m}: {len(a)} rows before, {len(b)} after"); bad += 1; continue
    for x, y in zip(a, b):
        for k in (set(x) | set(y)) - TIMINGS:
            if x.get(k) != y.get(k):
                print(f"{m}: {x.get('method')} {x.get('ratio')} {k}: {x.get(k)} != {y.get(k)}"); bad += 1
    print(f"{m}: {len(a)} rows compared, {bad} differences outside timings")
sys.exit(1 if bad else 0)
