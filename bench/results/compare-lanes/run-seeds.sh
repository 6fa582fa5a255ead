#!/bin/bash
# Probe-seed spread of the shipped recipe: the policy retrained with --probe-seed 1 and 2 (and,
# once, --probe-lanes 8), each compared with the probe baseline of the same seed on both shared
# models (32 windows). Run from the repository root after a release build in build/.
set -eu
B=build/cli/yopo
W=${WORK:-/tmp/compare-lanes-seeds}
mkdir -p "$W"
for S in 1 2; do
	$B train --model ../shared/models/stories260k --model ../shared/models/tinystories-instruct-3m \
		--ratio 0.1,0.2,0.3 --threads 1 --probe-seed $S --out "$W/both-s$S.st" -q --force
	for M in stories260k tinystories-instruct-3m; do
		$B compare --model ../shared/models/$M --text ../shared/data/tinystories-eval.txt \
			--methods policy,probe --policy "$W/both-s$S.st" --seed $S --max-windows 32 \
			--no-keep-models --force --threads 1 --out "$W/$M-s$S" -q
	done
done
$B train --model ../shared/models/stories260k --model ../shared/models/tinystories-instruct-3m \
	--ratio 0.1,0.2,0.3 --threads 1 --probe-lanes 8 --out "$W/both-l8.st" -q --force
for M in stories260k tinystories-instruct-3m; do
	$B compare --model ../shared/models/$M --text ../shared/data/tinystories-eval.txt \
		--methods policy,probe --policy "$W/both-l8.st" --probe-lanes 8 --max-windows 32 \
		--no-keep-models --force --threads 1 --out "$W/$M-l8" -q
done
for d in "$W"/*-s1 "$W"/*-s2 "$W"/*-l8; do
	echo "$(basename "$d")"; grep -E "^(policy|probe),rows" "$d/results.csv" | cut -d, -f1,3,13
done
