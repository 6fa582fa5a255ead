#!/bin/bash
# The issue-14 tables again after probe sampling moved to lanes (env/probe.h): the shipped
# policy and the policies of the cross-model rows retrained with the new probes, then every
# method on both shared models at 0.1/0.2/0.3 (random over 5 seeds), 32 windows of
# tinystories-eval; and the cost of training on fewer layers (--train-layers).
# Run from the repository root with ../shared beside it and a release build in build/.
set -eu
B=build/cli/yopo
T=../shared/data/tinystories-eval.txt
C=../shared/data/tinystories-calib.txt
S=../shared/models/stories260k
M=../shared/models/tinystories-instruct-3m
W=${WORK:-/tmp/compare-lanes}
mkdir -p "$W/pol"
R=0.1,0.2,0.3
train() { # name, args...
	local n=$1; shift
	[ -f "$W/pol/$n.st" ] || $B train "$@" --ratio $R --threads 1 --out "$W/pol/$n.st" -q
}
train both-probe --model $S --model $M
train 260k-probe --model $S
train 3m-probe --model $M
train both-weights --model $S --model $M --weights-only
train 260k-weights --model $S --weights-only
train 3m-weights --model $M --weights-only
train both-layers2 --model $S --model $M --train-layers 2
train both-layers4 --model $S --model $M --train-layers 4
for P in $S $M; do
	N=$(basename $P)
	$B compare --model $P --text $T --calib $C --seeds 5 --max-windows 32 --policy "$W/pol/both-probe.st" \
		--no-keep-models --force --threads 1 --out "$W/$N-all" -q
	for Q in 260k-probe 3m-probe both-weights 260k-weights 3m-weights both-layers2 both-layers4; do
		$B compare --model $P --text $T --methods policy --policy "$W/pol/$Q.st" \
			--max-windows 32 --no-keep-models --force --threads 1 --out "$W/$N-$Q" -q
	done
done
/usr/bin/python3 bench/results/compare-lanes/table.py "$W"
