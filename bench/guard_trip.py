#!/usr/bin/env python3
"""How fast does the guard revert a failing canary, and what do clients see?

Starts two bgdemo upstreams and bgproxy (guard.interval_ms = 100,
window_s = 10, min_requests = 20, max_error_rate = 0.05, cookie "" so each
request is split on its own), sends a steady load (default 1000 req/s,
keep-alive, several client threads), puts green at 10% and then makes it
answer 500 to everything.  Measures, per trip:
  - time from the first failing response a client got to the moment the
    admin socket reports 100% to blue (polled every 2 ms), and
  - how many failed responses clients saw in that time.
Repeats TRIPS times (default 10) and prints each trip and the medians.
Then the shadow phase: `rollout start green shadow 10`, a clean window, and
green fails every copy; per trip the time from the fault to the revert, the
failed responses clients saw (none expected: copies only) and the users
green served (none expected), with the medians.
Loopback only; every process it starts is stopped by PID; bounded in time.
The error rate is taken over the whole window, so the trip time is mostly
the time it takes the failures to pass max_error_rate of the window's
requests: a shorter guard.window_s (--window) trips sooner.
Usage: bench/guard_trip.py [--build build] [--trips 10] [--rate 1000] [--window 10]
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    """benchlib.free_port: never the same port twice in a run."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import benchlib
    return benchlib.free_port()


def wait_port(port, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d not up" % port)


def admin(sock, line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n\n"):
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return data.decode()


def ctl(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/__ctl/" + path)
    body = c.getresponse().read()
    c.close()
    return body


def wait_reverted(sock, t_fault):
    while True:
        st = json.loads(admin(sock, "json status").split("\n")[1])
        if st["state"] == "reverted":
            return time.time(), st
        if time.time() - t_fault > 10:
            raise RuntimeError("no revert within 10 s")
        time.sleep(0.002)


def shadow_trips(a, sock, gp, load):
    """The shadow phase's trips: copies of 10% fail, no user is involved."""
    times, fails, users = [], [], []
    for trip in range(a.trips):
        ctl(gp, "reset")
        admin(sock, "set weight green 0")
        admin(sock, "rollout start green shadow 10 hold 3600")
        time.sleep(a.window + 1)  # a full clean window of copies first
        g0 = json.loads(ctl(gp, "stats"))
        t_fault = time.time()
        ctl(gp, "fail?rate=1")
        t_rev, st = wait_reverted(sock, t_fault)
        g1 = json.loads(ctl(gp, "stats"))
        with load.lock:
            bad = [t for t, s in load.events if t_fault <= t <= t_rev and (s >= 500 or s == 0)]
        times.append((t_rev - t_fault) * 1000)
        fails.append(len(bad))
        # what green served that was not a copy: users (none expected)
        users.append((g1["requests"] - g0["requests"]) - (g1["mirrored"] - g0["mirrored"]))
        print("shadow trip %2d: %6.1f ms from the fault to the revert, %d failed client "
              "responses, %d users at green (%s)" % (trip + 1, times[-1], fails[-1], users[-1],
                                                    st["last_revert"]), flush=True)
    print()
    print("shadow phase, median over %d trips: %.1f ms from the fault to the revert, "
          "%d failed client responses, %d users at green (copies of 10%%, window %d s)" % (
              len(times), statistics.median(times), statistics.median(fails),
              max(users), a.window))


class Load:
    """rate req/s over `threads` keep-alive connections; records (t, status)."""

    def __init__(self, port, rate, threads=4):
        self.port, self.rate, self.n = port, rate, threads
        self.events = []
        self.lock = threading.Lock()
        self.stop = False
        self.ts = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.ts:
            t.start()

    def run(self):
        period = self.n / self.rate
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        nxt = time.time()
        deadline = time.time() + 900
        while not self.stop and time.time() < deadline:
            try:
                c.request("GET", "/")
                r = c.getresponse()
                r.read()
                st = r.status
            except Exception:  # noqa
                st = 0
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            with self.lock:
                self.events.append((time.time(), st))
            nxt += period
            d = nxt - time.time()
            if d > 0:
                time.sleep(d)
        c.close()

    def close(self):
        self.stop = True
        for t in self.ts:
            t.join(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--trips", type=int, default=10)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--window", type=int, default=10, help="guard.window_s")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bgp-trip-")
    procs = []

    def spawn(args, name):
        p = subprocess.Popen(args, stdout=open(os.path.join(tmp, name), "wb"),
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.append(p)
        return p
    try:
        bp, gp, pp = free_port(), free_port(), free_port()
        spawn([os.path.join(a.build, "bgdemo"), "--port", str(bp), "--name", "blue"], "blue.log")
        spawn([os.path.join(a.build, "bgdemo"), "--port", str(gp), "--name", "green"], "green.log")
        sock = os.path.join(tmp, "admin.sock")
        conf = os.path.join(tmp, "bgproxy.conf")
        with open(conf, "w") as f:
            f.write('listen = ( { address = "127.0.0.1:%d"; } );\n' % pp)
            f.write('admin = { socket = "%s"; audit_log = "%s/audit.log"; };\n' % (sock, tmp))
            f.write('pools = { blue = { servers = ( { address = "127.0.0.1:%d"; } ); };\n' % bp)
            f.write('          green = { servers = ( { address = "127.0.0.1:%d"; } ); }; };\n' % gp)
            f.write('split = { cookie = ""; };\n')
            f.write('guard = { interval_ms = 100; window_s = %d; min_requests = 20; '
                    'max_error_rate = 0.05; };\n' % a.window)
            f.write('log = { level = "warn"; access = "off"; };\n')
        spawn([os.path.join(a.build, "bgproxy"), "-c", conf], "bgproxy.log")
        for p in (bp, gp, pp):
            wait_port(p)
        load = Load(pp, a.rate)
        times, fails = [], []
        for trip in range(a.trips):
            ctl(gp, "reset")
            admin(sock, "set weight green 10")
            time.sleep(a.window + 1)  # a full clean window before the fault
            t_fault = time.time()
            ctl(gp, "fail?rate=1")
            t_rev, st = wait_reverted(sock, t_fault)
            with load.lock:
                ev = [e for e in load.events if e[0] >= t_fault]
            bad = [t for t, s in ev if s >= 500 or s == 0]
            if not bad:
                print("trip %d: no failing response seen" % (trip + 1))
                continue
            t_first = bad[0]
            n_bad = len([t for t in bad if t <= t_rev])
            times.append((t_rev - t_first) * 1000)
            fails.append(n_bad)
            print("trip %2d: %6.1f ms from the first failing response to 100%% blue, "
                  "%3d failed responses (%s)" % (trip + 1, times[-1], n_bad, st["last_revert"]),
                  flush=True)
        with load.lock:
            total = len(load.events)
        print()
        print("median over %d trips: %.1f ms to revert, %d failed responses "
              "(load %d req/s, canary at 10%%, guard interval 100 ms, window %d s; "
              "%d requests sent)" % (len(times), statistics.median(times),
                                     statistics.median(fails), a.rate, a.window, total))
        print()
        shadow_trips(a, sock, gp, load)
        load.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
