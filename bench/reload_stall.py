"""RCPT round trips while the config is reloaded.

Usage: reload_stall.py PORT CONFIG SERVE_LOG PID [RELOADS]

Two sessions send RCPT TO one after another (RSET every 50). First 10 s without a reload,
then RELOADS (10) times: the config is rewritten with a new comment and renamed into place,
and the next generation is waited for in SERVE_LOG. Prints the slowest RCPT round trip of the
quiet period and of each reload (from the rename until 0.5 s after the new generation is in
force), the compile time the edge logged, and the edge's RSS after each reload.
"""
import array
import bisect
import gc
import os
import re
import socket
import sys
import threading
import time

port, config, log, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
reloads = int(sys.argv[5]) if len(sys.argv) > 5 else 10
# End times and round trips, in arrays: millions of tuples would make Python's garbage
# collector pause the client for longer than the edge ever does.
ends, trips = array.array("d"), array.array("d")
gc.disable()
lock = threading.Lock()
running = True


def session(k):
    s = socket.create_connection(("127.0.0.1", port), 10)
    f = s.makefile("rb")

    def cmd(line):
        s.sendall(line + b"\r\n")
        while True:
            r = f.readline()
            if len(r) < 4 or r[3:4] != b"-":
                return r

    f.readline()
    cmd(b"EHLO load%d.example" % k)
    cmd(b"MAIL FROM:<x@example.net>")
    n = 0
    while running:
        t0 = time.perf_counter()
        cmd(b"RCPT TO:<user%d@tenant%d.example>" % (n % 5, n % 10000))
        t1 = time.perf_counter()
        with lock:
            ends.append(t1)
            trips.append(t1 - t0)
        n += 1
        if n % 50 == 0:
            cmd(b"RSET")
            cmd(b"MAIL FROM:<x@example.net>")


def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return -1


def slowest(since, until):
    """The slowest round trip that ended in [since, until], how many ended then, and when
    (seconds after `since`) the slowest ended."""
    with lock:
        n = len(ends)
    lo = bisect.bisect_left(ends, since - 1, 0, n)  # two threads append: nearly sorted
    worst, count, at = 0.0, 0, 0.0
    for i in range(lo, n):
        t = ends[i]
        if since <= t <= until:
            count += 1
            if trips[i] > worst:
                worst, at = trips[i], t - since
    return worst * 1000, count, at


threads = [threading.Thread(target=session, args=(k,), daemon=True) for k in range(2)]
for t in threads:
    t.start()
time.sleep(1)
t0 = time.perf_counter()
time.sleep(10)
worst, n, _ = slowest(t0, time.perf_counter())
print(f"no reload: slowest RCPT {worst:.1f} ms of {n}; RSS {rss()} MiB")
text = open(config).read()
for i in range(1, reloads + 1):
    generation = i + 1
    start = time.perf_counter()
    tmp = config + ".new"
    with open(tmp, "w") as f:
        f.write(text + f"\n# reload {i}\n")
    os.rename(tmp, config)
    pattern = re.compile(rf"generation {generation}, \d+ tenant\(s\), compiled in ([0-9.]+\w+)")
    compiled = None
    deadline = time.time() + 120
    with open(log) as f:
        f.seek(0, os.SEEK_END)
        seen = f.tell()
    while compiled is None and time.time() < deadline:
        with open(log) as f:
            f.seek(seen)
            m = pattern.search(f.read())
        if m:
            compiled = m.group(1)
        else:
            time.sleep(0.02)
    if compiled is None:
        sys.exit(f"generation {generation} never came")
    time.sleep(0.5)
    worst, n, at = slowest(start, time.perf_counter())
    print(f"reload {i}: generation {generation} compiled in {compiled}; slowest RCPT {worst:.1f} ms of {n} "
          f"(at +{at:.2f} s); RSS {rss()} MiB", flush=True)
    if os.environ.get("QUIET"):
        q = time.perf_counter()
        time.sleep(2)
        worst, n, at = slowest(q, time.perf_counter())
        print(f"  quiet: slowest RCPT {worst:.1f} ms of {n} (at +{at:.2f} s)", flush=True)
running = False
