"""A receipt load from several processes: each sends 1 KiB messages, a connection per
message, for SECONDS, and every reply code and per-message time is counted.

Usage: filter_load.py PORT PROCESSES SECONDS [RCPT]   (RCPT: user@bench.test)
Prints one line: msg/s accepted, replies by code, and p50/p99/max per message in ms.
"""
import multiprocessing
import smtplib
import sys
import time

def body(rcpt):
    return ("From: <news@example.net>\r\nTo: <%s>\r\nSubject: load\r\n\r\n" % rcpt + "x" * 900 + "\r\n").encode()


def worker(port, seconds, rcpt, out):
    message = body(rcpt)
    codes, times = {}, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=60)
            s.ehlo("mail.example.net")
            s.mail("news@example.net")
            s.rcpt(rcpt)
            code, _ = s.data(message)
            s.quit()
        except smtplib.SMTPResponseException as e:
            code = e.smtp_code
        except (OSError, smtplib.SMTPException):
            code = "error"
        times.append(time.perf_counter() - t0)
        codes[code] = codes.get(code, 0) + 1
    out.put((codes, times))


def main():
    port, procs, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    rcpt = sys.argv[4] if len(sys.argv) > 4 else "user@bench.test"
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker, args=(port, seconds, rcpt, q)) for _ in range(procs)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    codes, times = {}, []
    for _ in ps:
        c, t = q.get()
        times += t
        for k, v in c.items():
            codes[k] = codes.get(k, 0) + v
    for p in ps:
        p.join()
    wall = time.monotonic() - t0
    times.sort()
    pick = lambda f: times[min(len(times) - 1, int(f * len(times)))] * 1000 if times else 0
    replies = " ".join("%s:%d" % (k, v) for k, v in sorted(codes.items(), key=str))
    print("%.0f msg/s accepted; replies %s; per message p50 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (codes.get(250, 0) / wall, replies, pick(0.5), pick(0.99), times[-1] * 1000 if times else 0))


if __name__ == "__main__":
    main()
