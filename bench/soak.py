#!/usr/bin/env python3
"""A soak of `doorman serve` on loopback: load, faults and reloads at once, bounded in time.

- Load: SMALL sessions sending small messages back to back, one sender of 10 MiB messages,
  SLOW clients that dribble their commands and data, each session over STARTTLS, implicit
  TLS or plain; each message to 1-3 recipients across a relay tenant and a Maildir tenant.
- Every RELOAD seconds, a changed config (an accepted domain added or taken away) and
  `doorman reload`; every KILL seconds, `kill -9` and a restart on the same spool.
- The relay tenant's next hop (here) now and then answers 4xx, or drops the connection
  before, during or after the message (after: it has the message, doorman does not know).
- At the end: faults off, the queue flushed and drained, the server stopped. Every
  recipient of a message that got `250` must have been delivered (at least once, as
  docs/delivery.md documents; duplicates are counted), the tracking log must hold a
  `receive` line for each copy and a `deliver` line for each recipient, and the server's RSS
  and open file descriptors must not grow after warm-up (checked on runs of 10 minutes or
  more). Prints one table; exits 1 when a check fails.

Ports are the ones the server and the hop got (port 0), read from their own output.
"""

import argparse
import hashlib
import json
import os
import random
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

RELAY_RCPTS = [f"r{i}@relay.soak.test" for i in range(1, 6)]
BOX_RCPTS = [f"m{i}@box.soak.test" for i in range(1, 4)]
BIG = 10 * 1024 * 1024

args = None
stop = threading.Event()
lock = threading.Lock()
# Message id -> {"rcpts": [...], "queue_ids": [...]} for every 250.
acked = {}
# What the clients saw, by kind.
tally = {"sessions": 0, "acked": 0, "acked_big": 0, "refused": 0, "errors": 0, "tls": 0, "implicit": 0, "slow": 0}
# (message id, rcpt) delivered with a body other than the one sent.
damaged = set()
# The server's ports, None while it is down.
ports = {"starttls": None, "implicit": None}
ports_ready = threading.Condition(lock)


def count(key, n=1):
    with lock:
        tally[key] += n


# ---------------------------------------------------------------- the next hop


class Hop:
    """An SMTP next hop with faults: 4xx replies and dropped connections, at random."""

    def __init__(self, rate):
        self.rate = rate
        self.faults = True
        self.delivered = {}  # (message id, rcpt) -> times
        self.faults_made = {"4xx": 0, "drop_before": 0, "drop_during": 0, "drop_after": 0}
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def fault(self, kind, chance):
        if self.faults and random.random() < chance * self.rate:
            with lock:
                self.faults_made[kind] += 1
            return True
        return False

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        try:
            with conn:
                conn.settimeout(120)
                if self.fault("drop_before", 0.02):
                    return
                f = conn.makefile("rb")
                conn.sendall(b"220 hop.soak.test ESMTP\r\n")
                rcpts = []
                while True:
                    line = f.readline()
                    if not line:
                        return
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        conn.sendall(b"250-hop.soak.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n")
                    elif verb == b"MAIL":
                        rcpts = []
                        conn.sendall(b"250 2.1.0 Ok\r\n")
                    elif verb == b"RCPT":
                        if self.fault("4xx", 0.03):
                            conn.sendall(b"451 4.3.0 soak: try again later\r\n")
                            continue
                        m = re.search(rb"<([^>]*)>", line)
                        rcpts.append(m.group(1).decode() if m else "")
                        conn.sendall(b"250 2.1.5 Ok\r\n")
                    elif verb == b"DATA":
                        conn.sendall(b"354 go ahead\r\n")
                        lines, size = [], 0
                        cut = self.fault("drop_during", 0.02)
                        while True:
                            chunk = f.readline()
                            if not chunk:
                                return
                            size += len(chunk)
                            if cut and size > 512:
                                return
                            if chunk == b".\r\n":
                                break
                            lines.append(chunk[1:] if chunk.startswith(b".") else chunk)
                        data = b"".join(lines)
                        m = re.search(rb"X-Soak-Id: (\S+)", data[:8192])
                        whole = check_sum(data)
                        if self.fault("4xx", 0.02):
                            conn.sendall(b"451 4.3.0 soak: try again later\r\n")
                            continue
                        if m:
                            with lock:
                                for r in rcpts:
                                    key = (m.group(1).decode(), r)
                                    self.delivered[key] = self.delivered.get(key, 0) + 1
                                    if not whole:
                                        damaged.add(key)
                        if self.fault("drop_after", 0.02):
                            return
                        conn.sendall(b"250 2.0.0 Ok: soak\r\n")
                    elif verb == b"QUIT":
                        conn.sendall(b"221 bye\r\n")
                        return
                    elif verb == b"RSET" or verb == b"NOOP":
                        conn.sendall(b"250 Ok\r\n")
                    else:
                        conn.sendall(b"502 5.5.2 not here\r\n")
        except OSError:
            pass


# ---------------------------------------------------------------- the server


SERVERS = []


class Server:
    def __init__(self, work, hop_port):
        SERVERS.append(self)
        self.work = work
        self.hop_port = hop_port
        self.config = work / "doorman.toml"
        self.log = work / "serve.log"
        self.proc = None
        self.generation = 0
        self.lives = []  # (start time, pid)
        self.write_config()

    def write_config(self):
        extra = (f', {{ domain = "extra{self.generation}.soak.test", type = "internal_relay" }}'
                 if self.generation % 2 else "")
        self.config.write_text(f"""# bench/soak.py, generation {self.generation}
[server]
hostname = "soak.doorman.test"
spool_dir = "spool"
tracking_log = "tracking.jsonl"

[server.queue]
retry_schedule = ["2s", "5s"]
max_connections_per_hop = 8

[[server.listeners]]
address = "127.0.0.1:0"
tls = "starttls"

[[server.listeners]]
address = "127.0.0.1:0"
tls = "implicit"

[[tenants]]
name = "relay"
mx = ["self"]
accepted_domains = [{{ domain = "relay.soak.test", type = "internal_relay" }}{extra}]
routing = {{ type = "relay", next_hops = [{{ host = "127.0.0.1", port = {self.hop_port} }}] }}

[[tenants]]
name = "box"
mx = ["self"]
recipients = [{", ".join(f'"{r}"' for r in BOX_RCPTS)}]
accepted_domains = [{{ domain = "box.soak.test", type = "authoritative" }}]
routing = {{ type = "maildir", path = "mailboxes" }}
""")

    def start(self):
        offset = self.log.stat().st_size if self.log.exists() else 0
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [args.doorman, "serve", "--config", str(self.config), "--log-level", "info"],
            stdout=out, stderr=subprocess.STDOUT, cwd=self.work)
        self.lives.append((time.monotonic(), self.proc.pid))
        found = {}
        deadline = time.monotonic() + 60
        while len(found) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"doorman serve did not come up; see {self.log}")
            with open(self.log, "rb") as f:
                f.seek(offset)
                for m in re.finditer(rb"listening on 127\.0\.0\.1:(\d+) \((\w+)\)", f.read()):
                    found[m.group(2).decode().lower()] = int(m.group(1))
            time.sleep(0.05)
        with lock:
            ports.update(found)
            ports_ready.notify_all()

    def kill9(self):
        with lock:
            ports.update({"starttls": None, "implicit": None})
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def reload(self):
        self.generation += 1
        self.write_config()
        r = subprocess.run([args.doorman, "reload", "--config", str(self.config)],
                           capture_output=True, text=True, cwd=self.work)
        return r.returncode == 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            sys.exit("doorman serve did not stop within 120 s of SIGTERM")

    def sample(self):
        """(RSS bytes, open fds) of the running server, or None."""
        try:
            pid = self.proc.pid
            status = Path(f"/proc/{pid}/status").read_text()
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
            return rss, len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, AttributeError):
            return None


# ---------------------------------------------------------------- clients


def body_sum(message):
    """The body's SHA-256, line ends as LF: what arrives must be what was sent."""
    body = message.split(b"\r\n\r\n", 1)[-1] if b"\r\n\r\n" in message else message.split(b"\n\n", 1)[-1]
    return hashlib.sha256(body.replace(b"\r\n", b"\n")).hexdigest()[:16]


def message(mid, rcpts, size):
    line = f"The quick brown fox jumps over the lazy dog. {mid} {random.random():.12f}\r\n"
    body = (line * max(1, size // len(line))).encode()
    head = (f"From: soak@example.net\r\nTo: {', '.join(rcpts)}\r\nSubject: soak {mid}\r\n"
            f"Message-ID: <{mid}@soak.test>\r\nX-Soak-Id: {mid}\r\n"
            f"X-Soak-Sum: {body_sum(body)}\r\n\r\n").encode()
    return head + body


def wait_port(kind):
    with lock:
        while ports[kind] is None and not stop.is_set():
            ports_ready.wait(0.2)
        return ports[kind]


def record(mid, rcpts, reply, big=False):
    ids = re.findall(r"[0-9A-F]{16}", reply.split("queued as", 1)[-1]) if "queued as" in reply else []
    with lock:
        acked[mid] = {"rcpts": rcpts, "queue_ids": ids}
        tally["acked"] += 1
        if big:
            tally["acked_big"] += 1


def smtp_session(mid, rcpts, size, mode):
    """One message through smtplib; records it when DATA got 250."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    port = wait_port("implicit" if mode == "implicit" else "starttls")
    if port is None:
        return
    count("sessions")
    try:
        if mode == "implicit":
            s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=120, context=context)
            count("implicit")
        else:
            s = smtplib.SMTP("127.0.0.1", port, timeout=120)
        with s:
            s.ehlo("client.soak.test")
            if mode == "starttls":
                s.starttls(context=context)
                s.ehlo("client.soak.test")
                count("tls")
            code, _ = s.mail("soak@example.net")
            if code != 250:
                count("refused")
                return
            taken = [r for r in rcpts if s.rcpt(r)[0] == 250]
            if not taken:
                count("refused")
                return
            code, reply = s.data(message(mid, rcpts, size))
            if code == 250:
                record(mid, taken, reply.decode(errors="replace"), big=size >= BIG)
            else:
                count("refused")
    except (OSError, smtplib.SMTPException):
        count("errors")


def slow_session(mid, rcpts):
    """A client that takes its time: a pause before each command, the data in small pieces."""
    port = wait_port("starttls")
    if port is None:
        return
    count("sessions")
    count("slow")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
            f = s.makefile("rb")

            def reply():
                lines = []
                while True:
                    line = f.readline()
                    if not line:
                        raise OSError("closed")
                    lines.append(line.decode(errors="replace"))
                    if line[3:4] != b"-":
                        return int(line[:3]), "".join(lines)

            def say(text):
                time.sleep(random.uniform(0.2, 1.0))
                s.sendall(text.encode() + b"\r\n")
                return reply()

            reply()
            say("EHLO slow.soak.test")
            if say("MAIL FROM:<slow@example.net>")[0] != 250:
                count("refused")
                return
            taken = [r for r in rcpts if say(f"RCPT TO:<{r}>")[0] == 250]
            if not taken or say("DATA")[0] != 354:
                count("refused")
                return
            data = message(mid, rcpts, 20_000)
            for i in range(0, len(data), 2000):
                time.sleep(0.1)
                s.sendall(data[i:i + 2000])
            s.sendall(b".\r\n")
            code, text = reply()
            if code == 250:
                record(mid, taken, text)
            else:
                count("refused")
    except OSError:
        count("errors")


def pick_rcpts():
    pool = RELAY_RCPTS + BOX_RCPTS
    return random.sample(pool, random.randint(1, 3))


def loader(name, kind):
    n = 0
    while not stop.is_set():
        n += 1
        mid = f"{name}-{n}"
        if kind == "small":
            mode = random.choice(["starttls", "plain", "implicit", "plain"])
            smtp_session(mid, pick_rcpts(), random.randint(500, 20_000), mode)
        elif kind == "big":
            smtp_session(mid, pick_rcpts(), BIG, random.choice(["starttls", "plain"]))
            stop.wait(args.big_every)
        else:
            slow_session(mid, pick_rcpts())


# ---------------------------------------------------------------- the checks


def check_sum(data):
    """Whether a message's body matches its X-Soak-Sum header."""
    m = re.search(rb"X-Soak-Sum: (\w+)", data[:8192])
    return bool(m) and m.group(1).decode() == body_sum(data)


def maildir_deliveries(root):
    out = {}
    for f in root.glob("*/new/*"):
        rcpt = f.parent.parent.name
        data = f.read_bytes()
        m = re.search(rb"X-Soak-Id: (\S+)", data[:8192])
        if m:
            key = (m.group(1).decode(), rcpt)
            out[key] = out.get(key, 0) + 1
            if not check_sum(data):
                damaged.add(key)
    return out


def tracking(path):
    received, delivered = set(), set()
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["event"] == "receive":
                received.add(r.get("queue_id"))
            elif r["event"] == "deliver":
                delivered.add((r.get("queue_id"), r.get("rcpt")))
    return received, delivered


def spool_left(spool):
    return sum(1 for d in ("incoming", "hold") for _ in (spool / d).glob("*") if (spool / d).is_dir())


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--doorman", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--seconds", type=float, default=1800)
    p.add_argument("--reload-every", type=float, default=60)
    p.add_argument("--kill-every", type=float, default=180)
    p.add_argument("--small", type=int, default=6)
    p.add_argument("--slow", type=int, default=3)
    p.add_argument("--big-every", type=float, default=10)
    p.add_argument("--warmup", type=float, default=60)
    p.add_argument("--fault-rate", type=float, default=1.0)
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    hop = Hop(args.fault_rate)
    server = Server(work, hop.port)
    server.start()
    t0 = time.monotonic()
    # Daemons: a failure that ends the script must not leave them looping.
    threads = [threading.Thread(target=loader, args=(f"s{i}", "small"), daemon=True) for i in range(args.small)]
    threads += [threading.Thread(target=loader, args=(f"w{i}", "slow"), daemon=True) for i in range(args.slow)]
    threads.append(threading.Thread(target=loader, args=("big", "big"), daemon=True))
    for t in threads:
        t.start()

    samples = []  # (seconds since start, seconds since this life began, rss, fds)
    reloads = [0, 0]  # ok, failed
    kills = 0
    next_reload, next_kill = args.reload_every, args.kill_every
    while (now := time.monotonic() - t0) < args.seconds:
        s = server.sample()
        if s:
            samples.append((now, time.monotonic() - server.lives[-1][0], *s))
        if now >= next_reload:
            reloads[0 if server.reload() else 1] += 1
            next_reload += args.reload_every
        if now >= next_kill:
            server.kill9()
            kills += 1
            server.start()
            next_kill += args.kill_every
        time.sleep(min(2.0, max(0.05, args.seconds - now)))

    stop.set()
    with lock:
        ports_ready.notify_all()
    for t in threads:
        t.join()
    load_secs = time.monotonic() - t0

    # Drain: no more faults, every copy due now, until the spool is empty.
    hop.faults = False
    drain_t0 = time.monotonic()
    spool = work / "spool"
    while spool_left(spool) and time.monotonic() - drain_t0 < 300:
        subprocess.run([args.doorman, "queue", "flush", "--config", str(server.config)], cwd=work,
                       capture_output=True)
        time.sleep(1)
    drain_secs = time.monotonic() - drain_t0
    left = spool_left(spool)
    server.stop()

    # Kept with the logs when a check fails.
    (work / "acked.json").write_text(json.dumps(acked))
    delivered = dict(hop.delivered)
    for k, v in maildir_deliveries(work / "mailboxes").items():
        delivered[k] = delivered.get(k, 0) + v
    pairs = [(mid, r) for mid, a in acked.items() for r in a["rcpts"]]
    lost = [p for p in pairs if delivered.get(p, 0) == 0]
    dups = [p for p in pairs if delivered.get(p, 0) > 1]
    acked_set = set(pairs)
    unacked_delivered = sum(1 for k in delivered if k not in acked_set)
    received, delivered_lines = tracking(work / "tracking.jsonl")
    copies = [q for a in acked.values() for q in a["queue_ids"]]
    no_receive = [q for q in copies if q not in received]
    # Each recipient is in one of its message's copies (its tenant's); that copy's deliver
    # line names it.
    by_copy = {}
    for q, r in delivered_lines:
        by_copy.setdefault(q, set()).add(r)
    no_deliver = [(mid, r) for mid, a in acked.items() for r in a["rcpts"]
                  if not any(r in by_copy.get(q, ()) for q in a["queue_ids"])]
    corrupt = len(list((spool / "corrupt").glob("*.why"))) if (spool / "corrupt").is_dir() else 0

    warm = [s for s in samples if s[0] >= args.warmup and s[1] >= min(args.warmup, 20)]
    half = len(warm) // 2
    first, second = warm[:half], warm[half:]

    def stat(xs, i):
        v = sorted(x[i] for x in xs)
        return (v[len(v) // 2], v[-1]) if v else (0, 0)

    rss1, rss2 = stat(first, 2), stat(second, 2)
    fd1, fd2 = stat(first, 3), stat(second, 3)
    rss_flat = rss2[1] <= rss1[1] * 1.25 + 16 * 2**20
    fd_flat = fd2[1] <= fd1[1] + 16
    judged = args.seconds >= 600 and len(first) >= 5

    mib = lambda b: f"{b / 2**20:.0f} MiB"
    rows = [
        ("load", f"{load_secs / 60:.1f} min; {args.small} small-message sessions, {args.slow} slow, one 10 MiB sender"),
        ("sessions", f"{tally['sessions']} ({tally['tls']} STARTTLS, {tally['implicit']} implicit TLS, {tally['slow']} slow)"),
        ("messages acknowledged (250)", f"{tally['acked']} ({tally['acked_big']} of 10 MiB), {len(pairs)} recipients"),
        ("refused or failed sessions", f"{tally['refused']} refused, {tally['errors']} cut off (kill -9, drops)"),
        ("reloads", f"{reloads[0]} applied, {reloads[1]} failed"),
        ("kill -9 and restart", f"{kills}"),
        ("next hop faults", ", ".join(f"{k} {v}" for k, v in hop.faults_made.items())),
        ("drain", f"{drain_secs:.0f} s, {left} copies left"),
        ("lost (acknowledged, never delivered)", f"{len(lost)}"),
        ("delivered with other bytes than sent", f"{len(damaged)}"),
        ("delivered more than once", f"{len(dups)} recipients (at least once after kill -9 or a dropped reply)"),
        ("delivered, never acknowledged", f"{unacked_delivered} (a kill -9 between commit and the 250 reply)"),
        ("set aside in corrupt/", f"{corrupt}"),
        ("tracking: copies without receive", f"{len(no_receive)} of {len(copies)}"),
        ("tracking: recipients without deliver", f"{len(no_deliver)} of {len(pairs)}"),
        ("RSS after warm-up, median / max", f"first half {mib(rss1[0])} / {mib(rss1[1])}, second half {mib(rss2[0])} / {mib(rss2[1])}"
            + ("" if judged else " (not judged: run under 10 min)") + ("" if not judged or rss_flat else "  GROWING")),
        ("open fds after warm-up, median / max", f"first half {fd1[0]} / {fd1[1]}, second half {fd2[0]} / {fd2[1]}"
            + ("" if judged else " (not judged)") + ("" if not judged or fd_flat else "  GROWING")),
    ]
    width = max(len(k) for k, _ in rows)
    print("| " + "what".ljust(width) + " | figure |")
    print("| " + "-" * width + " | --- |")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    failed = []
    if lost:
        failed.append(f"lost: {lost[:10]}")
    if damaged:
        failed.append(f"damaged: {sorted(damaged)[:10]}")
    if left:
        failed.append(f"{left} copies never drained")
    if no_receive or no_deliver:
        failed.append(f"tracking misses {no_receive[:5]} {no_deliver[:5]}")
    if not acked:
        failed.append("no message was acknowledged")
    if reloads[1]:
        failed.append(f"{reloads[1]} reloads failed")
    if judged and not (rss_flat and fd_flat):
        failed.append("RSS or fds grew")
    if failed:
        print("FAILED: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        # However the script ends, no server is left running.
        stop.set()
        for server in SERVERS:
            if server.proc and server.proc.poll() is None:
                server.proc.kill()
