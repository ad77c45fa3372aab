#!/usr/bin/env bash
# Audit at scale: the policy benchmark's generated config (10,000 tenants, 100,000
# connection-filter entries, 10,000 connectors), as JSON. Prints wall time and peak RSS.
# Target: under 10 s and under 2 GB.
#
# Usage: bench/audit-scale.sh   (generates target/doorman-bench-10k.toml with the rcpt bench
# when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -j2 -q
CONFIG=target/doorman-bench-10k.toml
[ -f "$CONFIG" ] || cargo bench -q -p doorman-policy --bench rcpt >/dev/null
OUT=$(mktemp)
status=0
/usr/bin/time -f "%e %M" -o "$OUT.time" target/release/doorman audit --config "$CONFIG" --json > "$OUT" || status=$?
[ "$status" -le 1 ] || { echo "doorman audit failed ($status)" >&2; exit 1; }
read -r secs kib < <(tail -1 "$OUT.time")
python3 - "$OUT" "$secs" "$kib" <<'PY'
import json, sys
audit = json.load(open(sys.argv[1]))
t = audit["tenants"]
verdicts = {}
for x in t:
    verdicts[x["verdict"]] = verdicts.get(x["verdict"], 0) + 1
classes = sum(x["evaluations"] for x in t)
print(f"audited {len(t)} tenants ({classes} RCPT and DATA evaluations) in {float(sys.argv[2]):.2f} s; "
      f"peak RSS {int(sys.argv[3]) / 1024:.0f} MiB; verdicts {verdicts}")
PY
rm -f "$OUT" "$OUT.time"
