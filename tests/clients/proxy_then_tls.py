"""Plays a load balancer in front of an implicit-TLS listener: the PROXY v2 header and the
TLS ClientHello go out in one write, as HAProxy's often do. Then EHLO and QUIT inside TLS.

    proxy_then_tls.py PORT SOURCE CLIENT

Prints the greeting and the EHLO reply's first line, one per line; exits 1 when the
handshake or a reply does not come within 10 s.
"""
import ipaddress
import socket
import ssl
import struct
import sys

port, source, client = int(sys.argv[1]), sys.argv[2], sys.argv[3]
addrs = ipaddress.ip_address(client).packed + ipaddress.ip_address("127.0.0.1").packed + struct.pack("!HH", 40000, port)
header = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs

sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="edge.test")


def pump(step):
    """Runs one TLS step, moving bytes between the socket and the BIOs until it completes."""
    while True:
        try:
            result = step()
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)
            return result
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            if not data:
                sys.exit("the server closed the connection")
            incoming.write(data)


try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
sock.sendall(header + outgoing.read())
try:
    pump(tls.do_handshake)
    buf = b""

    def reply():
        global buf
        while True:
            lines = buf.split(b"\r\n")
            for i, line in enumerate(lines[:-1]):
                if len(line) < 4 or line[3:4] != b"-":
                    out = b"\r\n".join(lines[: i + 1])
                    buf = b"\r\n".join(lines[i + 1 :])
                    return out.decode()
            buf += pump(lambda: tls.read(65536))

    print(reply())
    tls.write(b"EHLO lb.example\r\n")
    sock.sendall(outgoing.read())
    print(reply().split("\r\n")[0])
    tls.write(b"QUIT\r\n")
    sock.sendall(outgoing.read())
except (socket.timeout, TimeoutError):
    sys.exit("no reply within 10 s")
