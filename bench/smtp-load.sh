#!/usr/bin/env bash
# Receipt throughput, side by side in one run: smtp-source (Debian's postfix package) against
# doorman's edge (durable spool), Postfix's smtpd (its queue on the same disk, mail put on
# hold) and Postfix's smtp-sink (a null server that stores nothing: the ceiling). Four loads,
# 20 parallel sessions each: 1 KiB and 100 KiB messages, one connection per message and
# connection reuse (`smtp-source -d`). The three servers run at once and are measured in turn,
# RUNS rounds, the order rotating each round, so that a change in the machine's load hits all
# three alike; the figures are medians. The 100 KiB loads measure a third as long, over at most
# 5 rounds, to keep what the two queues hold to about 6 GB. Then doorman's per-message latency
# under load, and its RSS with 1,000 idle connections.
#
# Usage: bench/smtp-load.sh [SECONDS] [RUNS]   (default 3 s per measurement, 11 rounds; run
# as root: it configures and starts the system's Postfix on 127.0.0.1:25, and stops it again;
# it needs 15 GB free)
#
# Leave five minutes between runs. After tens of thousands of files are deleted, ext4 spends
# minutes checking freed inodes before reusing them (ialloc.c, recently_deleted), which
# triples the kernel time of every file created meanwhile and would penalise whichever
# server's queue was just emptied. So this script deletes nothing before it measures: each
# run spools into a new target/bench-smtp/run-*/ (remove old ones when you are done), and
# Postfix's held mail is deleted only at the end.
#
# bench/smtp-load.sh filter [SECONDS] [RUNS]: receipt with authentication and rspamd on vs off
# instead (bench/filter-cost.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = filter ]; then shift; exec bench/filter-cost.sh "$@"; fi
SECS=${1:-3}
RUNS=${2:-11}
SESSIONS=20
PORT=2600
METRICS=2601
SINK_PORT=2603

for tool in smtp-source smtp-sink postfix python3; do
  command -v $tool >/dev/null || { echo "missing $tool: apt-get install -y postfix python3" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -j2 -q
FREE_GB=$(df -P --block-size=1G target | awk 'NR == 2 {print $4}')
[ "$FREE_GB" -ge 15 ] || { echo "only $FREE_GB GB free under target/; the run needs 15 GB" >&2; exit 2; }
WORK=$PWD/target/bench-smtp/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$WORK"
cat > "$WORK/doorman.toml" <<TOML
[server]
hostname = "bench.doorman.test"
spool_dir = "spool"
tracking_log = "tracking.jsonl"
metrics_listener = "127.0.0.1:$METRICS"

[server.limits]
max_connections = 5000
max_connections_per_ip = 5000

# Receipt only: the spool is the output, as in Postfix with the mail on hold.
[server.queue]
hold = true

[[server.listeners]]
address = "127.0.0.1:$PORT"

[[tenants]]
name = "bench"
mx = ["self"]

[[tenants.accepted_domains]]
domain = "bench.test"
type = "internal_relay"
TOML

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
now() { date +%s.%N; }
rate() { python3 -c "print('%.0f' % ($1 / ($3 - $2)))"; }
# source PORT SIZE COUNT REUSE: one smtp-source load, its progress output dropped.
source_load() {
  local reuse=(); [ "$4" = reuse ] && reuse=(-d)
  smtp-source -s $SESSIONS -l "$2" -m "$3" "${reuse[@]}" -f sender@example.net -t user@bench.test 127.0.0.1:"$1" >/dev/null
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"

target/release/doorman serve --config "$WORK/doorman.toml" --log-level warn 2>"$WORK/serve.log" &
DPID=$!
[ -f /etc/postfix/main.cf ] && cp /etc/postfix/main.cf "$WORK/main.cf.saved"
SINK_PID=
restore() {
  kill $DPID 2>/dev/null || true
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  postsuper -d ALL >/dev/null 2>&1 || true
  postfix stop >/dev/null 2>&1 || true
  if [ -f "$WORK/main.cf.saved" ]; then cp "$WORK/main.cf.saved" /etc/postfix/main.cf; else rm -f /etc/postfix/main.cf; fi
}
trap restore EXIT
wait_port $PORT

# Postfix on 127.0.0.1:25, everything put on hold so nothing is delivered.
postfix stop >/dev/null 2>&1 || true
touch /etc/postfix/main.cf
postconf -e "compatibility_level = 3.6" "myhostname = bench.postfix.test" "inet_interfaces = 127.0.0.1" \
  "inet_protocols = ipv4" "mydestination =" "relay_domains = bench.test" "mynetworks = 127.0.0.0/8" \
  "smtpd_client_restrictions = check_client_access static:HOLD" "smtpd_peername_lookup = no" \
  "alias_maps =" "alias_database =" "maillog_file = /var/log/postfix-bench.log" \
  "smtpd_client_connection_count_limit = 0" "smtpd_client_connection_rate_limit = 0" "default_process_limit = 200"
postfix start >/dev/null 2>&1 || { echo "postfix did not start: see /var/log/postfix-bench.log" >&2; exit 1; }
wait_port 25

smtp-sink -u nobody 127.0.0.1:$SINK_PORT 256 &
SINK_PID=$!
wait_port $SINK_PORT

declare -A PORT_OF=([doorman]=$PORT [postfix]=25 [smtp-sink]=$SINK_PORT)
SERVERS=(doorman postfix smtp-sink)
LOADS=("1024 new" "1024 reuse" "102400 new" "102400 reuse")
RESULTS="$WORK/results.tsv"
: > "$RESULTS"

for load in "${LOADS[@]}"; do
  read -r size mode <<<"$load"
  secs=$SECS rounds=$RUNS
  if [ "$size" -gt 1024 ]; then secs=$(python3 -c "print($SECS / 3)"); rounds=$((RUNS < 5 ? RUNS : 5)); fi
  # Warm up each server, and size the count so that doorman's measurement lasts about $secs.
  for s in "${SERVERS[@]}"; do source_load "${PORT_OF[$s]}" "$size" 500 "$mode"; done
  t0=$(now); source_load $PORT "$size" 2000 "$mode"; t1=$(now)
  n=$(python3 -c "print(max(1000, int(2000 / ($t1 - $t0) * $secs)))")
  echo "== $size bytes, $( [ "$mode" = reuse ] && echo "connection reuse" || echo "a connection per message"): $n messages per measurement, $rounds rounds"
  for r in $(seq 0 $((rounds - 1))); do
    for i in 0 1 2; do
      s=${SERVERS[$(((r + i) % 3))]}
      t0=$(now); source_load "${PORT_OF[$s]}" "$size" "$n" "$mode"; t1=$(now)
      printf '%s\t%s\t%s\t%s\n' "$size" "$mode" "$s" "$(rate "$n" "$t0" "$t1")" >> "$RESULTS"
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Latency as one client sees it while the 1 KiB load runs (not counted in the figures above).
rm -f "$WORK/stop"
python3 bench/latency_probe.py $PORT "$WORK/stop" > "$WORK/probe.txt" &
PROBE=$!
source_load $PORT 1024 20000 new
touch "$WORK/stop"; wait $PROBE

# 1,000 idle connections.
RSS_BEFORE=$(awk '/VmRSS/ {print $2}' /proc/$DPID/status)
exec 4> >(python3 bench/idle_connections.py $PORT 1000 > "$WORK/idle.txt")
for _ in $(seq 600); do grep -q ready "$WORK/idle.txt" 2>/dev/null && break; sleep 0.1; done
RSS_IDLE=$(awk '/VmRSS/ {print $2}' /proc/$DPID/status)
exec 4>&-

echo
python3 - "$RESULTS" <<'PY'
import collections, statistics, sys
rates = collections.defaultdict(list)
for line in open(sys.argv[1]):
    size, mode, server, rate = line.split("\t")
    rates[(int(size), mode, server)].append(float(rate))
loads = sorted({(s, m) for s, m, _ in rates}, key=lambda k: (k[0], k[1] != "new"))
print("%-26s %22s %22s %22s %9s %9s" % ("msg/s, median (min-max)", "doorman", "postfix (on hold)", "smtp-sink (null)", "/postfix", "/sink"))
for size, mode in loads:
    med = {}
    cells = []
    for server in ("doorman", "postfix", "smtp-sink"):
        r = rates[(size, mode, server)]
        med[server] = statistics.median(r)
        cells.append("%6.0f (%.0f-%.0f)" % (med[server], min(r), max(r)))
    label = "%d KiB, %s" % (size // 1024, "connection each" if mode == "new" else "connection reuse")
    print("%-26s %22s %22s %22s %8.2fx %8.0f%%" % (label, *cells, med["doorman"] / med["postfix"], 100 * med["doorman"] / med["smtp-sink"]))
PY
echo "rounds: $RUNS per 1 KiB load, at most 5 per 100 KiB load, interleaved; load average after: $LOAD_AFTER"
echo "doorman latency under load: $(cat "$WORK/probe.txt")"
echo "doorman RSS: $((RSS_BEFORE / 1024)) MiB after the load, $((RSS_IDLE / 1024)) MiB with $(cut -d' ' -f2 "$WORK/idle.txt") idle connections"
echo "copies spooled by doorman: $(ls "$WORK/spool/incoming" | wc -l); held by Postfix: $(find /var/spool/postfix/hold -type f | wc -l)"
