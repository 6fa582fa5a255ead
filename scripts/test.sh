#!/usr/bin/env bash
# Installs dependencies, builds yopo and runs the whole test suite.
# YOPO_SANITIZE=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${YOPO_SANITIZE:-0}" = 1 ]; then
  dir=build-asan
  bash scripts/build.sh "$dir" -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  dir=build-test
  bash scripts/build.sh "$dir" --buildtype=debugoptimized
fi
meson test -C "$dir" --print-errorlogs --num-processes 2
