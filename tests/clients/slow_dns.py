"""A DNS server for TXT records on loopback, some of them slow: a sender's own DNS that
stalls its lookups on purpose.

Usage: slow_dns.py RECORDS_JSON SLOW_SUFFIX SECONDS
RECORDS_JSON maps a name to its TXT strings. Names ending in SLOW_SUFFIX are answered after
SECONDS; others at once; unknown names get NXDOMAIN. Binds UDP port 0 on 127.0.0.1 and
prints "port N" once it listens.
"""
import json
import socket
import struct
import sys
import threading
import time

records = {k.lower().rstrip("."): v for k, v in json.loads(sys.argv[1]).items()}
slow, delay = sys.argv[2].lower(), float(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
print("port %d" % sock.getsockname()[1], flush=True)


def name_at(packet, at):
    labels = []
    while packet[at]:
        n = packet[at]
        labels.append(packet[at + 1:at + 1 + n].decode("ascii", "replace"))
        at += n + 1
    return ".".join(labels), at + 1


def answer(packet, client):
    qid, _flags, qd = struct.unpack("!HHH", packet[:6])
    name, end = name_at(packet, 12)
    qtype, = struct.unpack("!H", packet[end:end + 2])
    question = packet[12:end + 4]
    if name.lower().endswith(slow):
        time.sleep(delay)
    found = records.get(name.lower())
    rcode = 0 if found is not None else 3
    rrs = b""
    count = 0
    if found is not None and qtype in (16, 255):
        for text in found:
            data = b"".join(bytes([len(c)]) + c for c in [text.encode()[i:i + 255] for i in range(0, len(text.encode()), 255)])
            rrs += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, len(data)) + data
            count += 1
    header = struct.pack("!HHHHHH", qid, 0x8400 | rcode, 1, count, 0, 0)
    sock.sendto(header + question + rrs, client)


while True:
    packet, client = sock.recvfrom(4096)
    threading.Thread(target=answer, args=(packet, client), daemon=True).start()
