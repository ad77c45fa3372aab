#!/usr/bin/env bash
# Receipt throughput: smtp-source (Debian's postfix package) against doorman's edge (durable
# spool) and, in the same run, against Postfix's smtpd with its queue on the same disk and mail
# put on hold. 1 KiB messages, 20 parallel sessions. Also doorman's per-message latency as a
# client sees it under that load, its RSS with 1,000 idle connections, and the ceiling: the same
# load against Postfix's smtp-sink, a null server that stores nothing.
#
# Usage: bench/smtp-load.sh [SECONDS]   (default 30; run as root: it configures and starts
# the system's Postfix on 127.0.0.1:25, and stops it again)
#
# Leave five minutes between runs. After tens of thousands of files are deleted, ext4 spends
# minutes checking freed inodes before reusing them (ialloc.c, recently_deleted), which
# triples the kernel time of every file created meanwhile and would penalise whichever
# server's queue was just emptied. So this script deletes nothing before it measures: each
# run spools into a new target/bench-smtp/run-*/ (remove old ones when you are done), and
# Postfix's held mail is deleted only at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
SESSIONS=20
SIZE=1024
PORT=2600
METRICS=2601

for tool in smtp-source postfix python3; do
  command -v $tool >/dev/null || { echo "missing $tool: apt-get install -y postfix python3" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -j2 -q
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

target/release/doorman serve --config "$WORK/doorman.toml" --log-level warn 2>"$WORK/serve.log" &
DPID=$!
trap 'kill $DPID 2>/dev/null || true' EXIT
wait_port $PORT

# Calibrate so the measured run lasts about $SECS seconds.
t0=$(now); smtp-source -s $SESSIONS -l $SIZE -m 3000 -f sender@example.net -t user@bench.test 127.0.0.1:$PORT; t1=$(now)
N=$(python3 -c "print(max(3000, int(3000 / ($t1 - $t0) * $SECS)))")
echo "calibrated: $(rate 3000 $t0 $t1) msg/s; measuring $N messages per server"

rm -f "$WORK/stop"
python3 bench/latency_probe.py $PORT "$WORK/stop" > "$WORK/probe.txt" &
PROBE=$!
t0=$(now); smtp-source -s $SESSIONS -l $SIZE -m "$N" -f sender@example.net -t user@bench.test 127.0.0.1:$PORT; t1=$(now)
touch "$WORK/stop"; wait $PROBE
DOORMAN_RATE=$(rate "$N" "$t0" "$t1")
SPOOLED=$(ls "$WORK/spool/incoming" | wc -l)

# 1,000 idle connections.
RSS_BEFORE=$(awk '/VmRSS/ {print $2}' /proc/$DPID/status)
exec 4> >(python3 bench/idle_connections.py $PORT 1000 > "$WORK/idle.txt")
for _ in $(seq 600); do grep -q ready "$WORK/idle.txt" 2>/dev/null && break; sleep 0.1; done
RSS_IDLE=$(awk '/VmRSS/ {print $2}' /proc/$DPID/status)
exec 4>&-
kill $DPID; wait $DPID 2>/dev/null || true
echo "doorman: $DOORMAN_RATE msg/s; $(cat "$WORK/probe.txt"); RSS $((RSS_BEFORE / 1024)) MiB, $((RSS_IDLE / 1024)) MiB with idle connections ($(cat "$WORK/idle.txt"))"

# Postfix on 127.0.0.1:25, everything put on hold so nothing is delivered.
[ -f /etc/postfix/main.cf ] && cp /etc/postfix/main.cf "$WORK/main.cf.saved"
restore() {
  postsuper -d ALL >/dev/null 2>&1 || true
  postfix stop >/dev/null 2>&1 || true
  if [ -f "$WORK/main.cf.saved" ]; then cp "$WORK/main.cf.saved" /etc/postfix/main.cf; else rm -f /etc/postfix/main.cf; fi
}
trap restore EXIT
postfix stop >/dev/null 2>&1 || true
touch /etc/postfix/main.cf
postconf -e "compatibility_level = 3.6" "myhostname = bench.postfix.test" "inet_interfaces = 127.0.0.1" \
  "inet_protocols = ipv4" "mydestination =" "relay_domains = bench.test" "mynetworks = 127.0.0.0/8" \
  "smtpd_client_restrictions = check_client_access static:HOLD" "smtpd_peername_lookup = no" \
  "alias_maps =" "alias_database =" "maillog_file = /var/log/postfix-bench.log" \
  "smtpd_client_connection_count_limit = 0" "smtpd_client_connection_rate_limit = 0" "default_process_limit = 200"
postfix start >/dev/null 2>&1 || { echo "postfix did not start: see /var/log/postfix-bench.log" >&2; exit 1; }
wait_port 25
smtp-source -s $SESSIONS -l $SIZE -m 1000 -f sender@example.net -t user@bench.test 127.0.0.1:25   # warm up
t0=$(now); smtp-source -s $SESSIONS -l $SIZE -m "$N" -f sender@example.net -t user@bench.test 127.0.0.1:25; t1=$(now)
POSTFIX_RATE=$(rate "$N" "$t0" "$t1")
HELD=$(find /var/spool/postfix/hold -type f | wc -l)

# The ceiling: Postfix's smtp-sink, a null server that answers and stores nothing.
SINK_PORT=2603
smtp-sink -u nobody 127.0.0.1:$SINK_PORT 256 & SINK_PID=$!
wait_port $SINK_PORT
t0=$(now); smtp-source -s $SESSIONS -l $SIZE -m "$N" -f sender@example.net -t user@bench.test 127.0.0.1:$SINK_PORT; t1=$(now)
SINK_RATE=$(rate "$N" "$t0" "$t1")
kill $SINK_PID 2>/dev/null || true

echo
echo "== receipt, $N messages of $SIZE bytes, $SESSIONS sessions (smtp-source) =="
echo "doorman (durable spool): $DOORMAN_RATE msg/s  ($SPOOLED copies spooled)"
echo "postfix smtpd (on hold): $POSTFIX_RATE msg/s  ($HELD messages held)"
echo "smtp-sink (null server): $SINK_RATE msg/s"
python3 -c "print('doorman / postfix: %.2fx' % ($DOORMAN_RATE / $POSTFIX_RATE))"
python3 -c "print('doorman / smtp-sink: %.0f%%' % (100 * $DOORMAN_RATE / $SINK_RATE))"
echo "doorman latency under load: $(cat "$WORK/probe.txt")"
echo "doorman RSS: $((RSS_BEFORE / 1024)) MiB after the load, $((RSS_IDLE / 1024)) MiB with $(cut -d' ' -f2 "$WORK/idle.txt") idle connections"
