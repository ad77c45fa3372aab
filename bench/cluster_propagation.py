"""The propagation half of bench/cluster-propagation.sh (the load half is filter_load.py).

propagate DOORMAN NATS_URL POLICY CHANGES NAME=PORT...
    CHANGES policy changes, each flipping one recipient in POLICY's `recipients = [...]`
    line (change k adds userK@t.test when k is odd, removes user(k-1)@t.test when even),
    published with `DOORMAN config publish`. For each change and node, the time from just
    before the publish starts until that node's RCPT answer for the flipped recipient
    changes: one thread per node opens fresh sessions (EHLO, MAIL, RCPT, QUIT) back to back.
    Prints a line per change and a summary.
"""
import re
import smtplib
import statistics
import subprocess
import sys
import threading
import time

TIMEOUT = 30.0  # a node that has not changed its answer after this long counts as failed
TARGET = 1.0


def rcpt_once(port, rcpt):
    """One session up to RCPT: its reply code and the moment the reply arrived."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    try:
        s.ehlo("probe.example.net")
        s.mail("probe@example.net")
        code, _ = s.rcpt(rcpt)
        seen = time.perf_counter()  # the reply, not the QUIT after it, is the answer
        s.quit()
    finally:
        s.close()
    return code, seen


def poller(port, rcpt, want, barrier, out):
    """Check the old answer, then poll until the new one: out gets (first time seen, sessions, errors)."""
    try:
        code, _ = rcpt_once(port, rcpt)
        if code == want:
            out["error"] = "already answers %d before the publish" % code
    except (OSError, smtplib.SMTPException) as e:
        out["error"] = "did not answer before the publish: %s" % e
    barrier.wait()  # reached even on error, so the others are not left waiting
    if "error" in out:
        return
    sessions = errors = 0
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        try:
            code, seen = rcpt_once(port, rcpt)
        except (OSError, smtplib.SMTPException):
            errors += 1  # a refused or cut session is not an answer; try again
            continue
        sessions += 1
        if code == want:
            out["seen"] = seen
            break
    out["sessions"], out["errors"] = sessions, errors


def ms(seconds):
    return "timeout" if seconds is None else "%.0f ms" % (seconds * 1000)


def propagate(doorman, url, policy_path, changes, nodes):
    base = open(policy_path).read()
    line = re.search(r"^recipients = \[(.*)\]$", base, re.M)
    recipients = re.findall(r'"([^"]+)"', line.group(1))
    names = [n for n, _ in nodes]
    print("change  publish  " + "".join("%10s" % n for n in names) + "  recipient", flush=True)
    times, publishes, sessions, errors = [], [], 0, 0
    for k in range(1, changes + 1):
        # Odd changes add a recipient, even ones remove it again: both directions measured.
        flipped = "user%d@t.test" % (k if k % 2 else k - 1)
        adding = k % 2 == 1
        recipients = recipients + [flipped] if adding else [r for r in recipients if r != flipped]
        path = "%s.%d" % (policy_path, k)
        with open(path, "w") as f:
            f.write(base[: line.start()] + "recipients = [%s]" % ", ".join('"%s"' % r for r in recipients) + base[line.end():])
        want = 250 if adding else 550
        barrier = threading.Barrier(len(nodes) + 1)
        outs = [{} for _ in nodes]
        threads = [threading.Thread(target=poller, args=(port, flipped, want, barrier, out))
                   for (_, port), out in zip(nodes, outs)]
        for t in threads:
            t.start()
        barrier.wait()  # every poller has seen the old answer
        t0 = time.perf_counter()
        pub = subprocess.run([doorman, "config", "publish", path, "--cluster", url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        publishes.append(time.perf_counter() - t0)
        for t in threads:
            t.join()
        if pub.returncode != 0:
            sys.exit("change %d: config publish exited %d: %s" % (k, pub.returncode, pub.stderr.strip()))
        for name, out in zip(names, outs):
            if "error" in out:
                sys.exit("change %d: node %s %s" % (k, name, out["error"]))
        row = [out["seen"] - t0 if "seen" in out else None for out in outs]
        times += row
        sessions += sum(o["sessions"] for o in outs)
        errors += sum(o["errors"] for o in outs)
        print("%6d %6.0f ms  %s  %s%s" % (k, publishes[-1] * 1000, "".join("%10s" % ms(t) for t in row),
                                          "+" if adding else "-", flipped), flush=True)
    done = [t for t in times if t is not None]
    worst = None if len(done) < len(times) else max(times)
    print("propagation, %d measurements (%d nodes x %d changes): median %s, max %s"
          % (len(times), len(nodes), changes, ms(statistics.median(done)) if done else "-", ms(worst)))
    print("config publish itself (process start to exit, included above): median %s" % ms(statistics.median(publishes)))
    print("polling: %d sessions, %d failed" % (sessions, errors))
    print("target: max < 1 s (EOP: up to 60 min): %s" % ("PASS" if worst is not None and worst < TARGET else "FAIL"))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "propagate":
        nodes = [(n, int(p)) for n, p in (a.split("=") for a in args[4:])]
        propagate(args[0], args[1], args[2], int(args[3]), nodes)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
