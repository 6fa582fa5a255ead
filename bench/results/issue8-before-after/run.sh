#!/bin/sh
# compare on both shared models with the build before issue 8's cli move (9d5789b) and main
set -eu
S=/work/shared
for tag in before main; do
  Y=/work/wt-$tag/build/cli/yopo; [ $tag = main ] && Y=/work/main/build/cli/yopo
  for m in stories260k tinystories-instruct-3m; do
    out=/tmp/cmp/$tag-$m; rm -rf $out
    nice -n 19 $Y compare --model $S/models/$m --text $S/data/tinystories-eval.txt \
      --calib $S/data/tinystories-calib.txt --calib-tokens 4096 --ratios 0.1,0.3 --max-windows 8 \
      --seeds 2 --no-keep-models --threads 1 -q --out $out > /tmp/cmp/$tag-$m.log 2>&1
  done
done
