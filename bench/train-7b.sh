#!/bin/sh
# train-7b.sh: the complete `yopo train` run on the 7B-shaped F16 checkpoint (issue 9, item 5).
#
# Writes the synthetic Llama-2-7B-shaped F16 checkpoint (13.5 GB, model/synth) with
# bench-evalnative (which also measures eval's peak RSS on it), runs `yopo train` with its
# default settings plus any extra arguments, keeps the --log, prints the wall time and the
# peak RSS (GNU time), and removes the checkpoint unless KEEP=1.
#
# Usage: bench/train-7b.sh BUILD_DIR [extra yopo train arguments...]
#   WORK=/path (default ${TMPDIR:-/tmp}/yopo-train7b) holds the checkpoint, policy and log.
# Example: bench/train-7b.sh build-x --train-layers 8
#   With the defaults (--cache-mb 8192) train keeps as many evenly spaced layers resident as fit
#   (a 7B layer: matrix 180 MB + Gram 134 MB + functional G 969 MB; 6 of 32), so each layer's
#   setup is paid once; --train-layers N chooses the count (more than fit: streamed, set up again
#   every pass).
set -eu
build=${1:?usage: $0 BUILD_DIR [train args...]}
shift
work=${WORK:-${TMPDIR:-/tmp}/yopo-train7b}
mkdir -p "$work"
model="$work/7b"
if [ ! -f "$model/model.safetensors" ]; then
	"$build/bench/bench-evalnative" --dir "$model" --keep --windows 1
fi
start=$(date +%s)
status=0
/usr/bin/time -v "$build/cli/yopo" train --model "$model" --ratio 0.3 \
	--out "$work/policy.json" --log "$work/train.log" "$@" 2>"$work/train.stderr" || status=$?
end=$(date +%s)
grep -E "yopo train|Maximum resident" "$work/train.stderr" | tail -n 40
echo "train-7b: exit $status, wall $((end - start)) s ($(( (end - start + 59) / 60 )) min);" \
	"log $work/train.log"
if [ "${KEEP:-0}" != 1 ]; then
	rm -rf "$model"
fi
exit "$status"
