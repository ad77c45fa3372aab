#!/usr/bin/env bash
# Audit at scale: the policy benchmark's generated config (10,000 tenants, 100,000
# connection-filter entries, 10,000 connectors), and its first 3,000 tenants. For each size
# and each format (text, json, svg, html) prints wall time, peak RSS, and the output's size
# in lines and bytes; then the verdicts, and the head of the text report (its summary).
# Targets: under 10 s and 2 GB for 10,000 tenants in every format; the SVG a summary past 25
# tenants, so it stays small.
#
# Usage: bench/audit-scale.sh [TENANTS...]   (default: 3000 10000; generates
# target/doorman-bench-10k.toml with the rcpt bench when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -j2 -q
FULL=target/doorman-bench-10k.toml
[ -f "$FULL" ] || cargo bench -q -p doorman-policy --bench rcpt >/dev/null
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(3000 10000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in "${sizes[@]}"; do
  config="$work/audit-$n.toml"
  # The first N [[tenants]] of the generated config, and its [server].
  awk -v n="$n" '/^\[\[tenants\]\]$/ { t++ } t <= n' "$FULL" >"$config"
  for format in text json svg html; do
    out="$work/out.$format"
    status=0
    /usr/bin/time -f "%e %M" -o "$work/time" \
      target/release/doorman audit --config "$config" --format "$format" >"$out" || status=$?
    [ "$status" -le 1 ] || { echo "doorman audit --format $format failed ($status)" >&2; exit 1; }
    read -r secs kib < <(tail -1 "$work/time")
    printf '%6d tenants  %-4s  %6.2f s  %5d MiB  %9d lines  %11d bytes\n' \
      "$n" "$format" "$secs" $((kib / 1024)) "$(wc -l <"$out")" "$(wc -c <"$out")"
    [ "$format" = json ] && cp "$out" "$work/audit-$n.json"
    [ "$format" = text ] && head -6 "$out" >"$work/head-$n.txt"
  done
  python3 - "$work/audit-$n.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["tenants"]
verdicts = {}
for x in t:
    verdicts[x["verdict"]] = verdicts.get(x["verdict"], 0) + 1
print(f"  verdicts {verdicts}; {sum(x['evaluations'] for x in t)} RCPT and DATA evaluations")
PY
  echo "  the text report opens with:"
  sed 's/^/    /' "$work/head-$n.txt"
done
