#!/usr/bin/env bash
# Installs dependencies, builds yopo (release) and runs the main job: `yopo demo [args...]`.
# With no arguments the demo runs on the real model embedded in the repository (demo/: Karpathy's
# stories260k, with a TinyStories evaluation and a separate calibration text), so the first run
# shows real numbers on a machine that has nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build --buildtype=release
if [ $# -eq 0 ]; then
  set -- --model demo/stories260k --text demo/tinystories-eval.txt \
    --calib demo/tinystories-calib.txt
fi
exec build/cli/yopo demo "$@"
