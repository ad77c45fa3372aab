#!/usr/bin/env python3
"""Peak memory of `doorman serve` receiving large messages at once.

Ten clients (Python's smtplib) each send one 35 MiB message at the same time; the edge keeps
each message's first MiB in memory and spools the rest as it arrives. Prints the server's
peak RSS (VmHWM) before and after, and checks that every copy is in the spool whole.
The target: under 150 MB.

Usage: bench/large-messages.py [BINARY] [CLIENTS] [MIB]
       (default target/release/doorman, 10 clients, 35 MiB each; build it first with
        cargo build --release)
"""
import os
import re
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/doorman"
clients = int(sys.argv[2]) if len(sys.argv) > 2 else 10
mib = int(sys.argv[3]) if len(sys.argv) > 3 else 35

work = tempfile.mkdtemp(prefix="doorman-bench-large-")
with open(os.path.join(work, "doorman.toml"), "w") as f:
    f.write(f"""[server]
hostname = "bench.doorman.test"
spool_dir = "spool"
tracking_log = "tracking.jsonl"

[server.limits]
max_message_size = {(mib + 1) << 20}

[server.queue]
hold = true

[[server.listeners]]
address = "127.0.0.1:0"
tls = "none"

[[tenants]]
name = "bench"
mx = ["self"]
recipients = ["big@bench.test"]
accepted_domains = [{{ domain = "bench.test" }}]
""")

log = open(os.path.join(work, "serve.log"), "w")
server = subprocess.Popen([binary, "serve", "--config", os.path.join(work, "doorman.toml")], stderr=log)


def wait_for(what, f, limit=20):
    until = time.time() + limit
    while time.time() < until:
        v = f()
        if v:
            return v
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def port():
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(log.name).read())
    return m and int(m.group(1))


def hwm_mb():
    with open(f"/proc/{server.pid}/status") as s:
        kb = int(re.search(r"VmHWM:\s+(\d+) kB", s.read()).group(1))
    return kb / 1024


try:
    p = wait_for("the listener", port)
    line = b"0123456789 the quick brown fox jumps over the lazy dog, over and over again\r\n"
    body = b"Subject: large\r\n\r\n" + line * ((mib << 20) // len(line))
    idle = hwm_mb()
    errors = []

    def send():
        try:
            with smtplib.SMTP("127.0.0.1", p, timeout=120) as s:
                s.sendmail("s@example.net", ["big@bench.test"], body)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    start = time.time()
    threads = [threading.Thread(target=send) for _ in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    took = time.time() - start
    peak = hwm_mb()
    incoming = os.path.join(work, "spool", "incoming")
    sizes = [os.path.getsize(os.path.join(incoming, n)) for n in os.listdir(incoming)]
    whole = sum(1 for s in sizes if s > len(body))
    print(f"{clients} clients x {len(body) / 2**20:.1f} MiB in {took:.1f} s")
    print(f"peak RSS: {idle:.1f} MB idle, {peak:.1f} MB after (target: under 150 MB)")
    print(f"copies in the spool: {whole} of {clients}; errors: {errors or 'none'}")
    sys.exit(0 if peak < 150 and whole == clients and not errors else 1)
finally:
    server.terminate()
    server.wait()
