#!/usr/bin/env bash
# Configures (first time) or reconfigures a meson build directory and builds it.
# usage: scripts/build.sh BUILD_DIR [meson options...]
set -euo pipefail
dir=$1; shift
cd "$(dirname "$0")/.."
if [ -f "$dir/build.ninja" ]; then
  meson setup --reconfigure "$dir" "$@" >/dev/null
else
  meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
