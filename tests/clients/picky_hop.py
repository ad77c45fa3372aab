"""A next hop that refuses some recipients for good and takes every other: the 5xx at RCPT
that smtp-sink cannot give per recipient.

Usage: picky_hop.py HOST REFUSED_ADDRESS...   (binds port 0 and prints "port N" once listening;
serves until killed; RCPT TO one of the refused addresses gets "550 5.1.1 <addr>: no such
user", any other gets 250, and DATA is read to its end and taken)
"""
import socket
import socketserver
import sys

host, refused = sys.argv[1], {a.lower() for a in sys.argv[2:]}


class Session(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 picky.test ESMTP")
        for line in self.rfile:
            verb = line.split(b" ")[0].split(b":")[0].strip().upper()
            if verb == b"RCPT":
                path = line.decode(errors="replace").split(":", 1)[1].strip()
                address = path.strip("<>").split(">")[0].lower()
                if address in refused:
                    self.reply(f"550 5.1.1 <{address}>: no such user")
                else:
                    self.reply("250 2.1.5 Ok")
            elif verb == b"DATA":
                self.reply("354 go ahead")
                for body in self.rfile:
                    if body == b".\r\n":
                        break
                self.reply("250 2.0.0 Ok: taken")
            elif verb == b"QUIT":
                self.reply("221 2.0.0 Bye")
                return
            elif verb in (b"EHLO", b"HELO"):
                self.reply("250 picky.test")
            else:
                self.reply("250 2.0.0 Ok")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    address_family = socket.AF_INET


server = Server((host, 0), Session)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
