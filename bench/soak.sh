#!/usr/bin/env bash
# A soak on loopback, bounded in time: steady mixed load (small messages, 10 MiB ones, slow
# clients; STARTTLS, implicit TLS and plain), a changed config reloaded every minute,
# `kill -9` and a restart every three minutes, and a next hop that now and then answers 4xx
# or drops the connection. Then it drains the queue and checks that every recipient of every
# message that got 250 was delivered (duplicates counted: delivery is at least once), that
# the tracking log accounts for each, and, on runs of 10 minutes or more, that RSS and open
# fds stay flat after warm-up. Prints one table; exits 1 when a check fails. See bench/soak.py.
#
# Usage: bench/soak.sh [MINUTES]   (default 30; under 5 minutes, reloads and kills come
# faster so that a short run has both. DOORMAN=path runs that binary instead of building
# this tree's release one; needs python3)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-30}
DOORMAN=${DOORMAN:-}
if [ -z "$DOORMAN" ]; then cargo build --release -j2 -q; DOORMAN=target/release/doorman; fi
DOORMAN=$(realpath "$DOORMAN")
WORK=$(mktemp -d /tmp/doorman-soak.XXXXXX)
status=0
secs=$(python3 -c "print(int(float('$MINUTES') * 60))")
if [ "$secs" -lt 300 ]; then
  every=(--reload-every $((secs / 4 > 5 ? secs / 4 : 5)) --kill-every $((secs / 2 > 10 ? secs / 2 : 10)) --warmup 10)
else
  every=()
fi
python3 bench/soak.py --doorman "$DOORMAN" --work "$WORK" --seconds "$secs" "${every[@]}" || status=$?
# The work folder is kept when something failed: its logs and spool say why.
if [ $status -eq 0 ]; then rm -rf "$WORK"; else echo "soak: logs and spool kept in $WORK" >&2; fi
exit $status
