#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, -Dfuzz=enabled) in build-fuzz/
# and runs every target for SECONDS (default 60) over its committed seed corpus
# (tests/fuzz/corpus/<target>, never modified: new inputs go to build-fuzz/fuzz-work/<target>)
# with its dictionary (tests/fuzz/dict/<target>.dict). The regression inputs of
# tests/fuzz/regress/<target>/ are replayed first. Any finding (crash, sanitizer report, leak,
# timeout, out-of-memory) fails the script; the reproducer is left in
# build-fuzz/findings/<target>/ and the log in build-fuzz/fuzz-work/<target>.log.
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   FUZZ_PARALLEL=1  run the targets at the same time (default: one after the other)
#   FUZZ_BUILD=dir   build directory (default build-fuzz)
#   FUZZ_KEEP=1      keep build-fuzz/fuzz-work/<target> (the inputs found so far) between runs
set -euo pipefail
secs=${1:-60}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=${FUZZ_BUILD:-build-fuzz}
cc=$(command -v clang-14 || command -v clang)
if [ ! -f "$dir/build.ninja" ]; then
  CC=$cc meson setup "$dir" -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false \
    --buildtype=debugoptimized >/dev/null
fi
ninja -C "$dir" >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors safetensors-index config config-weights tokenizer policy)
# scratch files of the targets: tmpfs when there is one (15x more executions per second), in a
# directory of this run removed at exit (a crashing target cannot clean up after itself)
base=/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
TMPDIR=$(mktemp -d "$base/yopo-fuzz-run-XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

run_one() {
  local t=$1 exe="$dir/tests/fuzz/fuzz-$1" work="$dir/fuzz-work/$1" found="$dir/findings/$1"
  [ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$work"
  mkdir -p "$work" "$found"
  if [ -d "tests/fuzz/regress/$t" ] && [ -n "$(ls -A "tests/fuzz/regress/$t")" ]; then
    "$exe" tests/fuzz/regress/"$t"/* >"$work.regress.log" 2>&1 ||
      { echo "fuzz $t: a regression input fails again (see $work.regress.log)"; return 1; }
  fi
  "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="tests/fuzz/dict/$t.dict" -artifact_prefix="$found/" "$work" "tests/fuzz/corpus/$t" \
    >"$work.log" 2>&1 || { echo "fuzz $t: FINDING (see $work.log, reproducer in $found/)"; return 1; }
  local execs cov
  execs=$(grep -a "^stat::number_of_executed_units" "$work.log" | grep -oE "[0-9]+$" || true)
  cov=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$work.log" | grep -aoE 'cov: [0-9]+ ft: [0-9]+' | tail -1)
  echo "fuzz $t: ${secs}s, $execs executions, $cov, no finding"
}

status=0
if [ "${FUZZ_PARALLEL:-0}" = 1 ]; then
  pids=()
  for t in "${targets[@]}"; do run_one "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
else
  for t in "${targets[@]}"; do run_one "$t" || status=1; done
fi
exit $status
