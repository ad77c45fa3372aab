#!/usr/bin/env bash
# Fuzzes every parser doorman reads untrusted bytes with (fuzz/src/: SMTP command lines,
# DATA and BDAT framing, PROXY v1/v2, addresses, configs, Exchange Online exports, message
# traces, the spool after a crash) with AFL++, each target for SECONDS, starting from its
# seed corpus in fuzz/corpus/. Prints executions, paths found and crashes per target; each
# crash is copied to target/fuzz/crashes/TARGET/ and makes the exit status 1. A crash, once
# fixed, goes to fuzz/regressions/TARGET/, which `cargo test -p doorman-fuzz` replays.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default 60 s each, every target;
# JOBS=2 runs two targets at once). Needs cargo-afl and its AFL++:
#   cargo install cargo-afl --version 0.18.2 --locked && cargo afl config --build
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
JOBS=${JOBS:-1}
command -v cargo-afl >/dev/null || {
  echo "missing cargo-afl: cargo install cargo-afl --version 0.18.2 --locked && cargo afl config --build" >&2
  exit 2
}
ROOT=$PWD
export CARGO_TARGET_DIR=$ROOT/target/afl
(cd fuzz/afl && cargo afl build --release -j2 -q)
BIN=$CARGO_TARGET_DIR/release/doorman-afl
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls fuzz/corpus)
OUT=$ROOT/target/fuzz
mkdir -p "$OUT"

# AFL++ in a container: no core_pattern or CPU governor to tune, no UI, no affinity fight
# between two instances.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
run() {  # $1: target
  local t=$1
  rm -rf "$OUT/$t"
  cargo afl fuzz -V "$SECS" -t 5000 -m none -i "fuzz/corpus/$t" -o "$OUT/$t" -- "$BIN" "$t" \
    >"$OUT/$t.log" 2>&1 || echo "afl-fuzz for $t ended with $? (see $OUT/$t.log)" >&2
}
pending=("${targets[@]}")
while [ ${#pending[@]} -gt 0 ]; do
  batch=("${pending[@]:0:$JOBS}")
  pending=("${pending[@]:$JOBS}")
  for t in "${batch[@]}"; do run "$t" & done
  wait
done
# The spool target's scratch folders (doorman-fuzz-spool-PID-N) of processes that are gone:
# a crash leaves its own behind.
for d in /dev/shm/doorman-fuzz-spool-*; do
  [ -e "$d" ] || continue
  pid=${d#/dev/shm/doorman-fuzz-spool-}
  kill -0 "${pid%%-*}" 2>/dev/null || rm -rf "$d"
done

crashed=0
printf '| %-9s | %8s | %12s | %9s | %7s | %7s | %5s |\n' target seconds executions "execs/s" paths crashes hangs
printf '| %-9s | %8s | %12s | %9s | %7s | %7s | %5s |\n' --- ---: ---: ---: ---: ---: ---:
total_execs=0
for t in "${targets[@]}"; do
  stats=$OUT/$t/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    printf '| %-9s | did not run: see %s |\n' "$t" "$OUT/$t.log"
    crashed=1
    continue
  fi
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  execs=$(get execs_done)
  crashes=$(get saved_crashes)
  total_execs=$((total_execs + execs))
  printf '| %-9s | %8s | %12s | %9s | %7s | %7s | %5s |\n' \
    "$t" "$(get run_time)" "$execs" "$(get execs_per_sec)" "$(get corpus_count)" "$crashes" "$(get saved_hangs)"
  if [ "$crashes" != 0 ]; then
    crashed=1
    mkdir -p "$OUT/crashes/$t"
    cp "$OUT/$t"/default/crashes/id:* "$OUT/crashes/$t/"
  fi
done
echo "total: ${#targets[@]} targets, $((SECS * ${#targets[@]})) s, $total_execs executions"
if [ $crashed -ne 0 ]; then
  echo "crashes kept in $OUT/crashes/ (replay one: $BIN TARGET < FILE)" >&2
fi
exit $crashed
