#!/usr/bin/env bash
# Reloads every pruned checkpoint under the given directories (e.g. REPORT_DIR/models of
# `yopo compare`) three ways: `yopo eval`, `yopo generate`, and the independent NumPy reader
# hfref.py (which knows nothing of yopo and reads config.json the way transformers does). Prints
# one line per checkpoint: its FFN width, yopo's and the reference's perplexity on the first
# windows of TEXT, their relative difference, and the first generated words.
# usage: tools/ref/check-pruned.sh YOPO TEXT WINDOWS DIR...
set -euo pipefail
yopo=$1 text=$2 windows=$3
shift 3
ref="$(dirname "$0")/hfref.py"
printf '%-48s %6s %12s %12s %9s  %s\n' checkpoint ffn yopo_ppl ref_ppl rel_diff sample
status=0
for dir in "$@"; do
  for m in "$dir"/*/; do
    m=${m%/}
    ffn=$(/usr/bin/python3 -c 'import json,sys
c=json.load(open(sys.argv[1]))
print(next(c[k] for k in ("intermediate_size","ffn_dim","n_inner") if c.get(k)))' "$m/config.json")
    a=$("$yopo" eval --model "$m" --text "$text" --max-windows "$windows" --json 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["perplexity"])')
    b=$(/usr/bin/python3 "$ref" ppl --model "$m" --text "$text" --max-windows "$windows" 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["perplexity"])')
    d=$(/usr/bin/python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print("%.2e" % (abs(a-b)/b))' "$a" "$b")
    s=$("$yopo" generate --model "$m" --max-tokens 8 2>/dev/null | tr '\n' ' ' | cut -c1-40)
    printf '%-48s %6s %12.6f %12.6f %9s  %s\n' "$(basename "$(dirname "$dir")")/${m##*/}" "$ffn" "$a" "$b" "$d" "$s"
    /usr/bin/python3 -c 'import sys; sys.exit(float(sys.argv[1]) > 1e-3)' "$d" || status=1
  done
done
exit $status
