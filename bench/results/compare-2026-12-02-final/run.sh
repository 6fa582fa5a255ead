#!/bin/bash
# Issue 14's closing table: every method on both shared models at 0.1/0.2/0.3.
cd /work/main
B=build-test/cli/yopo
T=../shared/data/tinystories-eval.txt
C=../shared/data/tinystories-calib.txt
for M in stories260k tinystories-instruct-3m; do
  $B compare --model ../shared/models/$M --text $T --calib $C --seeds 5 --max-windows 32 \
     --no-keep-models --force --threads 1 --out /work/final/$M-all -q
  for P in 260k-probe 3m-probe 260k-weights 3m-weights both-weights; do
    $B compare --model ../shared/models/$M --text $T --methods policy --policy /work/pol2/$P.st \
       --max-windows 32 --no-keep-models --force --threads 1 --out /work/final/$M-$P -q
  done
done
echo done
