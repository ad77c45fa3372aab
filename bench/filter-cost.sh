#!/usr/bin/env bash
# What authentication and the spam filter cost at receipt, side by side in one run: four
# doorman edges that differ only in [server.authentication] and [server.spam_filter] (off,
# authentication, rspamd, both), measured in turn, RUNS rounds, the order rotating. DNS is a
# dnsmasq on loopback with example.net's SPF and DMARC records; rspamd is a private instance
# on a Unix socket (no modules, so only its core checks: the HTTP round trip and parse).
# Then the bound: a fifth edge with max_concurrent_scans = 2 and a 1 s scan timeout under
# 100 sessions: clients get 451 4.7.0 when no scan slot frees in time, never an unbounded wait.
#
# Usage: bench/filter-cost.sh [SECONDS] [RUNS]   (default 5 s per measurement, 3 rounds;
# needs dnsmasq, rspamd and python3; runs anywhere, no root needed beyond rspamd's -u)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
for tool in dnsmasq rspamd python3; do
  command -v $tool >/dev/null || { echo "missing $tool: apt-get install -y dnsmasq rspamd python3" >&2; exit 2; }
done
cargo build --release -j2 -q
DOORMAN=${DOORMAN:-target/release/doorman}
WORK=$(mktemp -d /tmp/doorman-filter-cost.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

DNS_PORT=5390
dnsmasq --keep-in-foreground --conf-file=/dev/null --port=$DNS_PORT --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --pid-file= --local=/net/ --local=/test/ \
  '--txt-record=example.net,v=spf1 ip4:127.0.0.0/8 -all' '--txt-record=_dmarc.example.net,v=DMARC1; p=reject' \
  2>"$WORK/dnsmasq.log" &
PIDS+=($!)

mkdir -p "$WORK/rspamd"
cat > "$WORK/rspamd/rspamd.conf" <<CONF
options { pidfile = "$WORK/rspamd/rspamd.pid"; dbdir = "$WORK/rspamd"; tempdir = "$WORK/rspamd";
  hs_cache_dir = "$WORK/rspamd/"; cache_file = "$WORK/rspamd/symbols.cache"; dynamic_conf = "$WORK/rspamd/dyn";
  history_file = "$WORK/rspamd/history"; stats_file = "$WORK/rspamd/stats.ucl"; filters = ""; explicit_modules = [];
  dns { nameserver = ["127.0.0.1:1"]; timeout = 1s; retransmits = 1; } }
logging { type = "file"; filename = "$WORK/rspamd/rspamd.log"; level = "warning"; }
actions { reject = 15; add_header = 6; greylist = 4; }
worker "normal" { bind_socket = "$WORK/rspamd/rspamd.sock mode=0666"; count = 2; }
CONF
rspamd -f -u root -g root -c "$WORK/rspamd/rspamd.conf" >/dev/null 2>&1 &
RSPAMD=$!
PIDS+=($RSPAMD)
for _ in $(seq 600); do curl -s --unix-socket "$WORK/rspamd/rspamd.sock" http://x/ping 2>/dev/null | grep -q pong && break; sleep 0.1; done

# edge NAME PORT EXTRA: a doorman edge on PORT with EXTRA under [server].
edge() {
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/doorman.toml" <<TOML
[server]
hostname = "bench.doorman.test"
spool_dir = "spool"
tracking_log = "tracking.jsonl"
[server.limits]
max_connections_per_ip = 5000
max_connections_per_network = 5000
[server.queue]
hold = true
[server.dns]
servers = ["127.0.0.1:$DNS_PORT"]
$3
[[server.listeners]]
address = "127.0.0.1:$2"
tls = "none"
[[tenants]]
name = "bench"
mx = ["self"]
accepted_domains = [{ domain = "bench.test", type = "internal_relay" }]
TOML
  (cd "$WORK/$1" && exec "$OLDPWD/$DOORMAN" serve --config doorman.toml --log-level warn 2>serve.log) &
  PIDS+=($!)
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null && return 0; sleep 0.1; done
  echo "edge $1 did not start" >&2; exit 1
}
AUTH=$'[server.authentication]\nenabled = true'
SCAN=$'[server.spam_filter]\naddress = "unix:'"$WORK"'/rspamd/rspamd.sock"'
edge off 2610 ""
edge authentication 2611 "$AUTH"
edge rspamd 2612 "$SCAN"
edge both 2613 "$AUTH"$'\n'"$SCAN"
edge bounded 2614 "$SCAN"$'\nmax_concurrent_scans = 2\ntimeout = "1s"'

declare -A PORT_OF=([off]=2610 [authentication]=2611 [rspamd]=2612 [both]=2613)
NAMES=(off authentication rspamd both)
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); 20 sessions, 1 KiB, a connection per message"
for n in "${NAMES[@]}"; do python3 bench/filter_load.py "${PORT_OF[$n]}" 4 1 >/dev/null; done
for r in $(seq 0 $((RUNS - 1))); do
  for i in 0 1 2 3; do
    n=${NAMES[$(((r + i) % 4))]}
    printf '%-15s round %d: %s\n' "$n" "$r" "$(python3 bench/filter_load.py "${PORT_OF[$n]}" 20 "$SECS")"
  done
done
echo "bound: 100 sessions against max_concurrent_scans = 2, timeout = 1s:"
echo "  rspamd answering:  $(python3 bench/filter_load.py 2614 100 "$SECS")"
# rspamd's workers stopped (SIGSTOP) for 3 s in the middle of the load: every scan in that
# time waits at most the timeout, then its client gets 451, and receipt recovers after.
python3 bench/filter_load.py 2614 100 "$SECS" > "$WORK/stalled.txt" &
LOAD=$!
sleep 1
WORKERS=$(pgrep -P "$RSPAMD" | tr '\n' ' ')
kill -STOP $WORKERS; sleep 3; kill -CONT $WORKERS
wait $LOAD
echo "  rspamd stalled 3 s: $(cat "$WORK/stalled.txt")"
echo "rspamd's own errors: $(grep -c -i error "$WORK/rspamd/rspamd.log" || true)"
rm -rf "$WORK"
