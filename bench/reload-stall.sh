#!/usr/bin/env bash
# Reload under load: the rcpt bench's 10,000-tenant config, reloaded 10 times while two
# sessions send RCPTs. Prints the slowest RCPT round trip without a reload and during each
# reload (target: under 50 ms), the compile time and the RSS after each reload.
#
# Usage: bench/reload-stall.sh [RELOADS]   (not in CI; generates target/doorman-bench-10k.toml
# with the rcpt bench when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
RELOADS=${1:-10}
PORT=2630
# DOORMAN=path runs another build (an older one, to compare) instead of this tree's.
DOORMAN=${DOORMAN:-}
if [ -z "$DOORMAN" ]; then cargo build --release -j2 -q; DOORMAN=target/release/doorman; fi
[ -f target/doorman-bench-10k.toml ] || cargo bench -q -p doorman-policy --bench rcpt >/dev/null
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
{
  cat <<TOML
[server]
hostname = "bench.doorman.example"
spool_dir = "spool"
tracking_log = "tracking.jsonl"
[server.limits]
max_errors = 1000000000
[server.queue]
hold = true
[[server.listeners]]
address = "127.0.0.1:$PORT"
tls = "none"
TOML
  tail -n +3 target/doorman-bench-10k.toml
} > "$WORK/doorman.toml"
"$DOORMAN" serve --config "$WORK/doorman.toml" 2>"$WORK/serve.log" &
PID=$!
for _ in $(seq 600); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
grep -q "listening on" "$WORK/serve.log" || { echo "doorman did not start" >&2; cat "$WORK/serve.log" >&2; exit 1; }
python3 bench/reload_stall.py $PORT "$WORK/doorman.toml" "$WORK/serve.log" $PID "$RELOADS"
