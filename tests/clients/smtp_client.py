"""A real SMTP client (Python's smtplib) driven by the integration tests.

Reads a JSON plan on stdin and prints what the server answered, as JSON, on stdout:

    {"port": 2525, "sessions": [{"source": "127.0.0.3", "proxy": {"client": "203.0.113.9"},
      "starttls": true, "cert": "client.pem", "key": "client.key", "helo": "gw.example",
      "transactions": [{"mail_from": "a@example.net", "rcpts": ["b@contoso.com"],
                        "message": "Subject: hi\r\n\r\nbody\r\n"}]}]}

A session may carry "proxy": a PROXY v2 header naming that client is sent before anything
else, as a load balancer would. A transaction with "raw": true sends its MAIL FROM and RCPT TO
paths exactly as given (smtplib would otherwise re-quote them), in UTF-8 when its options
hold SMTPUTF8.
"""
import ipaddress
import json
import smtplib
import socket
import ssl
import struct
import sys


def proxy_v2(client, server_port):
    ip = ipaddress.ip_address(client)
    if ip.version == 4:
        family, addrs = 0x11, ip.packed + ipaddress.ip_address("127.0.0.1").packed + struct.pack("!HH", 40000, server_port)
    else:
        family, addrs = 0x21, ip.packed + ipaddress.ip_address("::1").packed + struct.pack("!HH", 40000, server_port)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, family]) + struct.pack("!H", len(addrs)) + addrs


class Client(smtplib.SMTP):
    def __init__(self, source, preamble, timeout):
        self._preamble = preamble
        super().__init__(source_address=(source, 0) if source else None, timeout=timeout)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout, self.source_address)
        if self._preamble:
            sock.sendall(self._preamble)
        return sock


def reply(pair):
    code, msg = pair
    return [code, msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg]


def run_session(port, s):
    out = {"transactions": []}
    preamble = proxy_v2(s["proxy"]["client"], port) if s.get("proxy") else None
    try:
        c = Client(s.get("source"), preamble, s.get("timeout", 20))
        c._host = "127.0.0.1"  # smtplib.starttls() takes the TLS server name from here
        out["connect"] = reply(c.connect("127.0.0.1", port))
        if out["connect"][0] != 220:
            return out
        out["ehlo"] = reply(c.ehlo(s.get("helo", "client.example")))
        if s.get("starttls"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if s.get("cert"):
                ctx.load_cert_chain(s["cert"], s["key"])
            out["starttls"] = reply(c.starttls(context=ctx))
            out["cipher"] = c.sock.cipher()[0]
            out["ehlo_tls"] = reply(c.ehlo(s.get("helo", "client.example")))
        for t in s.get("transactions", []):
            tr = {"rcpts": []}
            out["transactions"].append(tr)
            options = t.get("options", [])
            if t.get("raw"):
                c.command_encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
                args = " ".join(["FROM:" + t["mail_from"]] + options)
                tr["mail"] = reply(c.docmd("MAIL", args))
            else:
                tr["mail"] = reply(c.mail(t["mail_from"], options))
            if tr["mail"][0] != 250:
                c.rset()
                continue
            for r in t["rcpts"]:
                tr["rcpts"].append(reply(c.docmd("RCPT", "TO:" + r) if t.get("raw") else c.rcpt(r)))
            if t.get("data_if_accepted") and not any(code < 300 for code, _ in tr["rcpts"]):
                c.rset()
                continue
            if t.get("message") is not None:
                try:
                    tr["data"] = reply(c.data(t["message"].encode()))
                except smtplib.SMTPDataError as e:
                    tr["data"] = [e.smtp_code, e.smtp_error.decode("utf-8", "replace")]
            else:
                c.rset()
        out["quit"] = reply(c.quit())
    except smtplib.SMTPServerDisconnected as e:
        out["error"] = "disconnected: %s" % e
    except smtplib.SMTPResponseException as e:
        out["error"] = "%d %s" % (e.smtp_code, e.smtp_error.decode("utf-8", "replace"))
    except (OSError, ssl.SSLError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


def main():
    plan = json.load(sys.stdin)
    results = [run_session(plan["port"], s) for s in plan["sessions"]]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
