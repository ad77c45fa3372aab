"""A next hop that counts DATA commands: it takes everything up to RCPT and would take DATA,
so a client that sends DATA is caught.

Usage: counting_server.py HOST PORT COUNT_FILE   (prints "ready" once listening; serves until
killed; after each session writes how many DATA (and BDAT) commands it has seen to COUNT_FILE)
"""
import os
import socket
import sys

host, port, count_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(5)
print("ready", flush=True)
data = 0
while True:
    conn, _ = server.accept()
    f = conn.makefile("rb")
    conn.sendall(b"220 counting.test ESMTP\r\n")
    for line in f:
        verb = line.split(b" ")[0].strip().upper()
        if verb in (b"DATA", b"BDAT"):
            data += 1
            conn.sendall(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            break
        else:
            conn.sendall(b"250 OK\r\n")
    conn.close()
    # Written whole, then renamed into place: a reader never sees a half-written count.
    with open(count_file + ".tmp", "w") as out:
        out.write(str(data))
    os.replace(count_file + ".tmp", count_file)
