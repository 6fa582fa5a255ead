#!/usr/bin/python3
"""Markdown tables (perplexity / mean KL at 0.1, 0.2, 0.3) from run.sh's compare outputs."""
import csv, os, statistics, sys

w = sys.argv[1]
rows_of = [("policy", "all", "policy both, probe (shipped default)")]
extra = [("260k-probe", "policy trained on stories260k only, probe"),
         ("3m-probe", "policy trained on 3M only, probe"),
         ("both-weights", "policy both, --weights-only"),
         ("260k-weights", "policy stories260k only, --weights-only"),
         ("3m-weights", "policy 3M only, --weights-only"),
         ("both-layers2", "policy both, --train-layers 2"),
         ("both-layers4", "policy both, --train-layers 4")]
for model in ("stories260k", "tinystories-instruct-3m"):
    def load(d):
        with open(os.path.join(w, f"{model}-{d}", "results.csv")) as f:
            return list(csv.DictReader(f))
    allr = load("all")
    dense = [r for r in allr if r["method"] == "dense"][0]
    print(f"\n**{model}** (dense ppl {float(dense['perplexity']):.3f})\n")
    print("| method | 0.1 | 0.2 | 0.3 |\n|---|---|---|---|")
    def cells(rs, method):
        out = []
        for ratio in ("0.1", "0.2", "0.3"):
            sel = [r for r in rs if r["method"] == method and r["ratio"] == ratio]
            if not sel:
                out.append("—")
                continue
            p = [float(r["perplexity"]) for r in sel]
            k = [float(r["kl_mean"]) for r in sel]
            if len(sel) > 1:
                out.append(f"{statistics.mean(p):.2f}±{statistics.stdev(p):.2f} / "
                           f"{statistics.mean(k):.4f}±{statistics.stdev(k):.4f}")
            else:
                out.append(f"{p[0]:.2f} / {k[0]:.4f}")
        return out
    print("| policy both, probe (shipped default) | " + " | ".join(cells(allr, "policy")) + " |")
    for d, name in extra:
        print(f"| {name} | " + " | ".join(cells(load(d), "policy")) + " |")
    for m in sorted({r["method"] for r in allr} - {"dense", "policy"}):
        print(f"| {m} | " + " | ".join(cells(allr, m)) + " |")

# issue 14's bar at 0.2 and 0.3: below random's mean - sd, below magnitude, within 5 % of probe
print()
for model in ("stories260k", "tinystories-instruct-3m"):
    with open(os.path.join(w, f"{model}-all", "results.csv")) as f:
        allr = list(csv.DictReader(f))
    kl = lambda m, r: [float(x["kl_mean"]) for x in allr if x["method"] == m and x["ratio"] == r]
    for ratio in ("0.2", "0.3"):
        pol, rnd = kl("policy", ratio)[0], kl("random", ratio)
        bar = statistics.mean(rnd) - statistics.stdev(rnd)
        mag, prb = kl("magnitude", ratio)[0], kl("probe", ratio)[0]
        print(f"- {model} @{ratio}: shipped policy KL {pol:.4f}; random mean-sd {bar:.4f} "
              f"({'below' if pol < bar else 'ABOVE'}); magnitude {mag:.4f} "
              f"({'below' if pol < mag else 'ABOVE'}); probe {prb:.4f}: "
              f"{100 * (pol / prb - 1):+.1f} % ({'within' if pol <= 1.05 * prb else 'OVER'} 5 %)")
