#!/usr/bin/env bash
# Slow clients with the default limits: 1,000 clients from 50 addresses, each sending a
# byte of a command every 5 s and reconnecting when closed, while a normal client runs a
# transaction a second. Two layouts: the 50 addresses in one /24, then one in each of 50
# /24s. Prints the normal client's latency (target: EHLO's 250 within 2 s, none refused).
# Then doorman's RSS with 1,000 and 10,000 idle connections.
#
# Usage: bench/slow-clients.sh [SECONDS]   (default 60 per layout; not in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
PORT=2620
METRICS=2621
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 12000 ] || { echo "need ulimit -n of 12000 or more (have $(ulimit -n))" >&2; exit 2; }
# DOORMAN=path runs another build (an older one, to compare) instead of this tree's.
DOORMAN=${DOORMAN:-}
if [ -z "$DOORMAN" ]; then cargo build --release -j2 -q; DOORMAN=target/release/doorman; fi
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() {  # $1: extra [server.limits] lines
  cat > "$WORK/doorman.toml" <<TOML
[server]
hostname = "bench.doorman.test"
spool_dir = "spool"
tracking_log = "tracking.jsonl"
metrics_listener = "127.0.0.1:$METRICS"
[server.limits]
$1
[[server.listeners]]
address = "127.0.0.1:$PORT"
tls = "none"

[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
routing = { type = "maildir", path = "mail" }
TOML
  "$DOORMAN" serve --config "$WORK/doorman.toml" 2>"$WORK/serve.log" &
  PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.log" && return; sleep 0.1; done
  echo "doorman did not start" >&2; cat "$WORK/serve.log" >&2; exit 1
}
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' /proc/$PID/status; }

for layout in net spread; do
  start ""
  python3 bench/slow_clients.py $PORT $METRICS 1000 $layout "$SECS"
  kill $PID; wait $PID 2>/dev/null || true
done

# Idle connections: greeted and EHLO'd, with limits that let them all in.
start "max_connections = 20000
max_connections_per_ip = 20000
max_connections_per_network = 20000"
echo "RSS: at start $(rss)"
for n in 1000 10000; do
  exec 3> >(python3 bench/idle_connections.py $PORT $n > "$WORK/idle.out")
  for _ in $(seq 600); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$WORK/idle.out" || { echo "idle connections did not open" >&2; exit 1; }
  echo "RSS: with $n idle connections $(rss)"
  exec 3>&-
  sleep 2
done
