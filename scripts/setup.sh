#!/usr/bin/env bash
# Installs yopo's build and test dependencies from Debian packages (run as root or with sudo);
# clang-14 and libclang-rt-14-dev build the libFuzzer targets (scripts/fuzz.sh); OpenMPI
# (libopenmpi-dev, openmpi-bin) the layer-parallel `mpirun yopo train` and its tests.
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config
      libdnnl-dev liblapacke-dev libopenblas-dev libcjson-dev nettle-dev check libfftw3-dev
      gnuplot-nox python3 python3-numpy python3-scipy python3-matplotlib python3-regex
      clang-14 libclang-rt-14-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
