"""Slow clients against an edge, and a normal client beside them.

Usage: slow_clients.py PORT METRICS_PORT N SOURCES SECONDS

N slow clients from SOURCES addresses (SOURCES is "net" for 127.0.0.10.. in one /24, or
"spread" for 127.1.K.1, one address per /24) each send one byte of a command line every
5 s and never finish it; when the edge closes one or refuses it, it connects again at once,
as an attacker would. Meanwhile a normal client (127.0.200.1) runs a whole transaction
every second. Prints, once SECONDS are over: the normal client's time to its EHLO's 250 and
to the 250 after DATA (p50, max), how many of its sessions were refused, and how many slow
connections the edge held (from its metrics) over the run.
"""
import socket
import smtplib
import sys
import threading
import time
import urllib.request

port, metrics, n, mode, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
sources = [f"127.0.0.{10 + i}" if mode == "net" else f"127.1.{i}.1" for i in range(50)]
stop = time.time() + secs
stats = {"refused": 0, "closed": 0, "connects": 0}


def connect(i):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.bind((sources[i % len(sources)], 0))
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        greeting = s.recv(512)
    except OSError:
        s.close()
        return None
    stats["connects"] += 1
    if not greeting.startswith(b"220"):
        stats["refused"] += 1
        s.close()
        return None
    s.setblocking(False)
    return s


def slow():
    conns = [None] * n
    while time.time() < stop:
        round_end = time.time() + 5
        for i in range(n):
            s = conns[i]
            if s is not None:
                try:
                    data = s.recv(512)
                    # The edge said something (a 421) or closed: connect again.
                    stats["closed"] += 1
                    s.close()
                    s = None
                except BlockingIOError:
                    try:
                        s.send(b"x")
                    except OSError:
                        s.close()
                        s = None
                except OSError:
                    s.close()
                    s = None
            if s is None and time.time() < stop:
                s = connect(i)
            conns[i] = s
        time.sleep(max(0, round_end - time.time()))
    for s in conns:
        if s is not None:
            s.close()


def held():
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read().decode()
    except OSError:
        return -1
    for line in text.splitlines():
        if line.startswith("doorman_connections_open "):
            return int(float(line.split()[1]))
    return -1


threading.Thread(target=slow, daemon=True).start()
time.sleep(10)  # let the slow clients take their places
ehlo, whole, refused, opened, why = [], [], 0, [], set()
while time.time() < stop:
    t0 = time.perf_counter()
    try:
        c = smtplib.SMTP(timeout=30, source_address=("127.0.200.1", 0))
        code, text = c.connect("127.0.0.1", port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, text)
        code, _ = c.ehlo("normal.example")
        ehlo.append(time.perf_counter() - t0)
        c.sendmail("normal@example.net", ["alice@contoso.com"], b"Subject: normal\r\n\r\nbody\r\n")
        whole.append(time.perf_counter() - t0)
        c.quit()
    except (smtplib.SMTPException, OSError) as e:
        refused += 1
        why.add(str(e)[:120])
    opened.append(held())
    time.sleep(max(0, 1 - (time.perf_counter() - t0)))

def fmt(xs):
    if not xs:
        return "none"
    xs = sorted(xs)
    return f"p50 {xs[len(xs) // 2] * 1000:.1f} ms, max {xs[-1] * 1000:.1f} ms"

print(f"slow clients: {n} from 50 addresses ({'one /24' if mode == 'net' else 'fifty /24s'}); "
      f"the edge held {min(opened)}..{max(opened)} connections; slow connects {stats['connects']}, "
      f"refused {stats['refused']}, closed by the edge {stats['closed']}")
print(f"normal client: {len(whole)} transactions, {refused} refused or failed; "
      f"EHLO 250 {fmt(ehlo)}; queued {fmt(whole)}")
for w in sorted(why):
    print(f"  refused: {w}")
