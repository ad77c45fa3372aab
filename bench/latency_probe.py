"""Measures per-message latency, as a client sees it, while a load runs.

Usage: latency_probe.py PORT STOP_FILE
Sends 1 KiB messages one after another over one connection until STOP_FILE exists, timing
each from MAIL FROM to the 250 after the message, and prints count, p50 and p99 in ms.
"""
import os
import smtplib
import sys
import time

port, stop = int(sys.argv[1]), sys.argv[2]
body = ("Subject: probe\r\n\r\n" + "x" * 1000 + "\r\n").encode()
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("probe.example")
times = []
while not os.path.exists(stop):
    t0 = time.perf_counter()
    s.mail("probe@example.net")
    s.rcpt("probe@bench.test")
    code, _ = s.data(body)
    if code == 250:
        times.append(time.perf_counter() - t0)
s.quit()
times.sort()
if not times:
    print("probe: no messages")
    sys.exit(1)
pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
print("probe: %d messages, p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (len(times), pick(0.50), pick(0.99), times[-1] * 1000))
