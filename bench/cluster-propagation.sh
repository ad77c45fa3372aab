#!/usr/bin/env bash
# How fast a policy change reaches every node of a cluster, and what publishing the tracking
# events to the cluster's stream costs at receipt. One nats-server (JetStream, temp store) on
# loopback, every port read from the processes' own output.
#
# 1. Propagation: three nodes n1..n3 on one policy; CHANGES changes, each flipping one
#    recipient (added on odd changes, removed again on even ones), published with
#    `doorman config publish`. For each change and node: the time from just before the
#    publish starts until that node's RCPT answer for the recipient changes, polled with
#    fresh sessions back to back (one thread per node). The publish itself is included.
#    Target: the slowest of all under 1 s (EOP: up to 60 min).
# 2. Trace cost: two more nodes on the same NATS and policy, trace = true and trace = false;
#    CLIENTS sessions sending 1 KiB messages to alice@t.test for SECONDS each, on and off
#    in turn for 3 rounds (order alternating), then each node's trace counters.
#
# Usage: bench/cluster-propagation.sh [CHANGES] [SECONDS]   (default 20 changes, 5 s per load
# measurement, CLIENTS=20; DOORMAN=path runs that binary instead of building this tree's
# release one; needs nats-server, python3 and curl)
set -euo pipefail
cd "$(dirname "$0")/.."
CHANGES=${1:-20}
SECS=${2:-5}
CLIENTS=${CLIENTS:-20}
for tool in nats-server python3 curl; do
  command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
DOORMAN=${DOORMAN:-}
if [ -z "$DOORMAN" ]; then cargo build --release -j2 -q; DOORMAN=target/release/doorman; fi
DOORMAN=$(realpath "$DOORMAN")
WORK=$(mktemp -d /tmp/doorman-cluster-propagation.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # Logs are kept when something failed: they are what tells why.
  if [ $rc -eq 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK" >&2; fi
}
trap cleanup EXIT

# port_of LOG PID TEXT: the port ending the first match of the regex TEXT in LOG, once PID
# has written it; fails if PID dies first or after 60 s.
port_of() {
  local m
  for _ in $(seq 1200); do
    m=$(grep -oE -m1 "$3" "$1" 2>/dev/null | head -1 || true)
    [ -n "$m" ] && { echo "${m##*:}"; return 0; }
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "no '$3' in $1:" >&2; tail -5 "$1" >&2; return 1
}

nats-server -a 127.0.0.1 -p -1 -js -sd "$WORK/js" 2>"$WORK/nats.log" &
PIDS+=($!)
NATS="nats://127.0.0.1:$(port_of "$WORK/nats.log" $! 'client connections on 127\.0\.0\.1:[0-9]+')"

cat > "$WORK/policy.toml" <<TOML
[[tenants]]
name = "t"
mx = ["self"]
recipients = ["alice@t.test"]
routing = { type = "maildir", path = "$WORK/mail" }
[[tenants.accepted_domains]]
domain = "t.test"
TOML

# node NAME TRACE: start a cluster node (it listens once it has a policy).
declare -A PID_OF SMTP METRICS
node() {
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/node.toml" <<TOML
[server]
hostname = "edge.test"
spool_dir = "$WORK/$1/spool"
tracking_log = "$WORK/$1/tracking.jsonl"
metrics_listener = "127.0.0.1:0"
[[server.listeners]]
address = "127.0.0.1:0"
tls = "starttls"
[server.queue]
hold = true
# The load's clients and the pollers all come from 127.0.0.1: no per-client cap in the way.
[server.limits]
max_connections_per_ip = 5000
max_connections_per_network = 5000

[cluster]
url = "$NATS"
node_name = "$1"
heartbeat = "1s"
trace = $2
TOML
  "$DOORMAN" serve --config "$WORK/$1/node.toml" 2>"$WORK/$1/serve.log" &
  PIDS+=($!)
  PID_OF[$1]=$!
}
# listening NAME: wait until the node serves, and note its SMTP and metrics ports.
listening() {
  SMTP[$1]=$(port_of "$WORK/$1/serve.log" "${PID_OF[$1]}" 'listening on 127\.0\.0\.1:[0-9]+')
  METRICS[$1]=$(port_of "$WORK/$1/serve.log" "${PID_OF[$1]}" 'metrics on http://127\.0\.0\.1:[0-9]+')
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $DOORMAN; NATS at $NATS"
for n in n1 n2 n3; do node $n true; done
"$DOORMAN" config publish "$WORK/policy.toml" --cluster "$NATS" >/dev/null
for n in n1 n2 n3; do listening $n; done

echo "== propagation: $CHANGES changes, time from publish until each node's RCPT answer changes"
python3 bench/cluster_propagation.py propagate "$DOORMAN" "$NATS" "$WORK/policy.toml" "$CHANGES" \
  n1="${SMTP[n1]}" n2="${SMTP[n2]}" n3="${SMTP[n3]}"
# The heartbeats should agree with the answers: every node reports the last revision.
for _ in $(seq 100); do
  "$DOORMAN" cluster status --cluster "$NATS" --json > "$WORK/status.json" && break
  sleep 0.1
done
python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))
print("cluster status: revision %d, %s, agreed %s" % (s["revision"],
      " ".join("%s@%d" % (n["node"], n["revision"]) for n in s["nodes"]), s["agreed"]))' "$WORK/status.json"

# The propagation nodes would only add their heartbeats to the load's machine: stop them.
for n in n1 n2 n3; do kill "${PID_OF[$n]}"; wait "${PID_OF[$n]}" || true; done

echo "== trace cost: $CLIENTS sessions, 1 KiB to alice@t.test, a connection per message, $SECS s each"
node trace-on true
node trace-off false
listening trace-on
listening trace-off
for m in on off; do python3 bench/filter_load.py "${SMTP[trace-$m]}" 4 1 alice@t.test >/dev/null; done
declare -A RATES=([on]="" [off]="")
for r in 1 2 3; do
  # The order alternates, so a drift in the machine's speed does not favour one side.
  order=(on off); [ $((r % 2)) -eq 0 ] && order=(off on)
  for m in "${order[@]}"; do
    line=$(python3 bench/filter_load.py "${SMTP[trace-$m]}" "$CLIENTS" "$SECS" alice@t.test)
    printf 'trace %-3s round %d: %s\n' "$m" "$r" "$line"
    RATES[$m]+=" ${line%% *}"
  done
done
mean() { awk '{ for (i = 1; i <= NF; i++) s += $i; printf "%.0f", s / NF }' <<< "$1"; }
ON=$(mean "${RATES[on]}")
OFF=$(mean "${RATES[off]}")
echo "mean: trace on $ON msg/s, trace off $OFF msg/s ($(awk -v a="$ON" -v b="$OFF" 'BEGIN { printf "%+.1f%%", b ? (a - b) * 100 / b : 0 }') with the stream)"
for m in on off; do
  echo "trace-$m metrics: $(curl -s "http://127.0.0.1:${METRICS[trace-$m]}/metrics" \
    | grep -E '^doorman_cluster_trace_events_(published|dropped)_total ' | paste -sd ' ')"
done
