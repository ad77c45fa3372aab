#!/usr/bin/env bash
# End to end: smtp-source -> doorman (durable spool) -> smtp-sink, beside the receipt-only
# figure (the queue held). 1 KiB messages, 20 sessions. Prints msg/s for both, the queue's
# length over the run, and how long the queue took to drain after the load stopped.
#
# Usage: bench/smtp-relay.sh [SECONDS]   (default 30; needs postfix's smtp-source and smtp-sink)
# As with bench/smtp-load.sh, leave five minutes after deleting many spool files.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
SESSIONS=20
SIZE=1024
PORT=2610
SINK=2612
for tool in smtp-source smtp-sink python3; do
  command -v $tool >/dev/null || { echo "missing $tool: apt-get install -y postfix python3" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -j2 -q
WORK=$PWD/target/bench-relay/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$WORK"

config() {  # $1: hold (true|false)
  cat > "$WORK/doorman.toml" <<TOML
[server]
hostname = "bench.doorman.test"
spool_dir = "spool-$1"
tracking_log = "tracking-$1.jsonl"

[server.limits]
max_connections = 5000
max_connections_per_ip = 5000

[server.queue]
hold = $1
max_connections_per_hop = $SESSIONS

[[server.listeners]]
address = "127.0.0.1:$PORT"

[[tenants]]
name = "bench"
mx = ["self"]
accepted_domains = [{ domain = "bench.test", type = "internal_relay" }]
routing = { type = "relay", next_hops = [{ host = "127.0.0.1", port = $SINK }] }
TOML
}
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
now() { date +%s.%N; }
queued() { { ls "$WORK/spool-$1/incoming" 2>/dev/null || true; } | wc -l; }

smtp-sink -u nobody 127.0.0.1:$SINK 1000 &
SINK_PID=$!
trap 'kill $SINK_PID ${DPID:-} 2>/dev/null || true' EXIT
wait_port $SINK

run() {  # $1: hold; prints "msg/s N"
  config "$1"
  target/release/doorman serve --config "$WORK/doorman.toml" --log-level warn 2>>"$WORK/serve.log" &
  DPID=$!
  wait_port $PORT
  local t0 t1
  t0=$(now)
  smtp-source -s $SESSIONS -l $SIZE -m "$N" -f sender@example.net -t user@bench.test 127.0.0.1:$PORT &
  local SRC=$!
  local max=0
  while kill -0 $SRC 2>/dev/null; do q=$(queued "$1"); [ "$q" -gt "$max" ] && max=$q; sleep 0.5; done
  wait $SRC
  t1=$(now)
  RATE=$(python3 -c "print('%.0f' % ($N / ($t1 - $t0)))")
  MAXQ=$max
  if [ "$1" = false ]; then
    for _ in $(seq 600); do [ "$(queued false)" -eq 0 ] && break; sleep 0.1; done
    DRAIN=$(python3 -c "print('%.1f' % ($(now) - $t1))")
    DONE=$(now)
    E2E=$(python3 -c "print('%.0f' % ($N / ($DONE - $t0)))")
    LEFT=$(queued false)
  fi
  kill $DPID; wait $DPID 2>/dev/null || true
}

# Calibrate on the held run's rate, so each run lasts about $SECS seconds.
N=3000; run true; N=$(python3 -c "print(max(3000, int($RATE * $SECS)))")
run true;  HELD_RATE=$RATE; HELD_MAX=$MAXQ
run false; RELAY_RATE=$RATE
echo
echo "== $N messages of $SIZE bytes, $SESSIONS sessions (smtp-source), next hop smtp-sink =="
echo "receipt only (queue held):      $HELD_RATE msg/s  (queue grew to $HELD_MAX)"
echo "receipt while delivering:       $RELAY_RATE msg/s  (queue at most $MAXQ, sampled every 0.5 s)"
echo "end to end (until queue empty): $E2E msg/s; the queue drained ${DRAIN}s after the load; $LEFT left"
