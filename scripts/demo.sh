#!/usr/bin/env bash
# Installs dependencies, builds yopo (release) and runs the main job: `yopo demo [args...]`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build --buildtype=release
exec build/cli/yopo demo "$@"
