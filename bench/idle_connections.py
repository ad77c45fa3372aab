"""Holds N idle SMTP connections open (greeted and EHLO'd) until stdin closes.

Usage: idle_connections.py PORT N   (prints "ready N" once all are open)
"""
import socket
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), 10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"EHLO idle%d.example\r\n" % i)
    while True:
        line = f.readline()
        if len(line) < 4 or line[3:4] != b"-":
            break
    conns.append((s, f))
print("ready %d" % len(conns), flush=True)
sys.stdin.read()
