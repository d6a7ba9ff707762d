#!/usr/bin/env python3
"""What cluster mode costs, and how fast a trip on one node reaches the fleet.

1. The request path: the same bgproxy (1 worker, pinned to core 0) with and
   without a cluster group (a 3-member etcd on loopback), keep-alive HTTP
   from wrk on core 1, ROUNDS interleaved rounds of DURATION seconds each.
   Reported per round and as medians: requests per second, requests per
   CPU second of the proxy (its utime+stime), and the ratio cluster / alone
   of the per-core figure (1.00: no cost).
2. The time from a trip on one node to 0% on all: three nodes, green at
   100% on the fleet, green answering 500; requests through node B alone
   until B's guard reverts; then A and C are polled (every 2 ms, over the
   admin socket) until they serve 0% green.  TRIPS trips, median and max.

Loopback only; every process it starts is stopped by PID; bounded in time.
Usage: bench/cluster.py [--build build] [--rounds 5] [--duration 5] [--trips 10]
       [--conns 50] [--skip-cost] [--skip-trips]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    """benchlib.free_port: never the same port twice in a run."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import benchlib
    return benchlib.free_port()


def wait(pred, timeout, step=0.01):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(step)
    return False


def port_up(port):
    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    return True


def admin(sock, line):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
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


def status(sock):
    return json.loads(admin(sock, "json status").split("\n")[1])


def ctl(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/__ctl/" + path)
    c.getresponse().read()
    c.close()


def ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Bench:
    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="bgp-cluster-bench-")
        self.procs = []

    def spawn(self, args, name, core=None):
        if core is not None:
            args = ["taskset", "-c", str(core)] + args
        p = subprocess.Popen(args, stdout=open(os.path.join(self.tmp, name), "wb"),
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def close(self):
        for p in list(self.procs):
            self.stop(p)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def etcd(self, n=3):
        peers = [("m%d" % i, free_port(), free_port()) for i in range(n)]
        initial = ",".join("%s=http://127.0.0.1:%d" % (nm, pp) for nm, cp, pp in peers)
        urls = []
        for nm, cp, pp in peers:
            self.spawn(["etcd", "--name", nm, "--data-dir", os.path.join(self.tmp, "etcd-" + nm),
                        "--listen-client-urls", "http://127.0.0.1:%d" % cp,
                        "--advertise-client-urls", "http://127.0.0.1:%d" % cp,
                        "--listen-peer-urls", "http://127.0.0.1:%d" % pp,
                        "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pp,
                        "--initial-cluster", initial, "--initial-cluster-state", "new",
                        "--heartbeat-interval", "50", "--election-timeout", "500",
                        "--log-level", "warn"], "etcd-%s.log" % nm, core=1)
            urls.append("http://127.0.0.1:%d" % cp)

        def healthy():
            for u in urls:
                c = http.client.HTTPConnection("127.0.0.1", int(u.rsplit(":", 1)[1]), timeout=1)
                try:
                    c.request("GET", "/health")
                    if json.loads(c.getresponse().read()).get("health") != "true":
                        return False
                finally:
                    c.close()
            return True
        if not wait(healthy, 30, 0.1):
            raise RuntimeError("etcd did not become healthy")
        return urls

    def demos(self):
        ports = []
        for name in ("blue", "green"):
            pf = os.path.join(self.tmp, name + ".port")
            self.spawn([os.path.join(self.a.build, "bgdemo"), "--port", "0", "--name", name,
                        "--port-file", pf], name + ".log", core=1)
            if not wait(lambda: os.path.exists(pf) and open(pf).read().strip(), 5):
                raise RuntimeError("bgdemo did not start")
            ports.append(int(open(pf).read().strip()))
        return ports

    def proxy(self, name, blue, green, cluster=None, guard="", split="", core=None):
        port = free_port()
        sock = os.path.join(self.tmp, name + ".sock")
        conf = os.path.join(self.tmp, name + ".conf")
        with open(conf, "w") as f:
            f.write('listen = ( { address = "127.0.0.1:%d"; } );\n' % port)
            f.write('admin = { socket = "%s"; audit_log = "%s/%s.audit"; };\n'
                    % (sock, self.tmp, name))
            f.write('pools = { blue = { servers = ( { address = "127.0.0.1:%d"; } ); };\n' % blue)
            f.write('  green = { servers = ( { address = "127.0.0.1:%d"; } ); }; };\n' % green)
            f.write('split = { %s };\nlog = { level = "warn"; access = "off"; };\n' % split)
            f.write(guard)
            if cluster is not None:
                eps, prefix = cluster
                f.write('cluster = { etcd = [ %s ]; prefix = "%s"; node = "%s"; ttl_s = 2; };\n'
                        % (", ".join('"%s"' % u for u in eps), prefix, name))
        p = self.spawn([os.path.join(self.a.build, "bgproxy"), "-c", conf], name + ".log",
                       core=core)
        if not wait(lambda: port_up(port) and os.path.exists(sock), 10):
            raise RuntimeError("bgproxy %s did not start: %s" % (
                name, open(os.path.join(self.tmp, name + ".log")).read()[-2000:]))
        return p, port, sock


def wrk(port, secs, conns):
    r = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c%d" % conns, "-d%ds" % secs,
                        "http://127.0.0.1:%d/" % port], capture_output=True, text=True,
                       timeout=secs + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    n = re.search(r"(\d+) requests in", r.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    if not m or not n or bad:
        raise RuntimeError("wrk: %s %s" % (r.stdout, r.stderr))
    return float(m.group(1)), int(n.group(1))


def cost(b):
    a = b.a
    eps = b.etcd()
    blue, green = b.demos()
    alone = b.proxy("alone", blue, green, split="candidate_percent = 10.0;", core=0)
    fleet = b.proxy("fleet", blue, green, cluster=(eps, "/bench/cost"),
                    split="candidate_percent = 10.0;", core=0)
    # the fleet node takes its split from etcd: give it the same 10%
    admin(fleet[2], "set weight green 10")
    rows = {"alone": [], "cluster": []}
    clk = os.sysconf("SC_CLK_TCK")
    for r in range(a.rounds):
        order = [("alone", alone), ("cluster", fleet)]
        if r % 2:
            order.reverse()
        for name, (p, port, sock) in order:
            wrk(port, 1, a.conns)                     # warm-up
            t0 = ticks(p.pid)
            rps, n = wrk(port, a.duration, a.conns)
            cpu = (ticks(p.pid) - t0) / clk
            per_core = n / cpu if cpu > 0 else float("nan")
            rows[name].append((rps, per_core))
            print("round %d %-8s %9.0f req/s %9.0f req per CPU second" % (r + 1, name, rps,
                                                                         per_core), flush=True)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
           for k, v in rows.items()}
    ratios = [c[1] / s[1] for s, c in zip(rows["alone"], rows["cluster"])]
    print("median alone   %9.0f req/s %9.0f per CPU second" % med["alone"])
    print("median cluster %9.0f req/s %9.0f per CPU second" % med["cluster"])
    print("cluster / alone per core: median %.2f (rounds: %s)" % (
        statistics.median(ratios), " ".join("%.2f" % x for x in ratios)), flush=True)
    for p in (alone[0], fleet[0]):
        b.stop(p)
    return statistics.median(ratios)


def trips(b):
    a = b.a
    eps = b.etcd()
    blue, green = b.demos()
    guard = ("guard = { interval_ms = 100; window_s = 2; min_requests = 10; "
             "max_error_rate = 0.05; };\n")
    nodes = [b.proxy(n, blue, green, cluster=(eps, "/bench/trips"), guard=guard,
                     split='cookie = "";') for n in ("a", "b", "c")]
    na, nb, nc = nodes
    times = []
    for t in range(a.trips):
        ctl(green, "fail?rate=0")
        admin(na[2], "set weight green 100")
        if not wait(lambda: all(status(n[2])["weights"]["green"] == 100.0 for n in nodes), 10):
            raise RuntimeError("the fleet did not take 100% green")
        # the window forgets the last trip's failures
        time.sleep(2.2)
        ctl(green, "fail?rate=1")
        tripped = None
        conn = http.client.HTTPConnection("127.0.0.1", nb[1], timeout=5)
        end = time.time() + 20
        while time.time() < end:
            conn.request("GET", "/")
            conn.getresponse().read()
            st = status(nb[2])
            if st["state"] == "reverted":
                tripped = time.time()
                break
        conn.close()
        if tripped is None:
            raise RuntimeError("node b did not trip")
        done = {}
        end = time.time() + 10
        while len(done) < 2 and time.time() < end:
            for n in (na, nc):
                if n[2] not in done and status(n[2])["weights"]["green"] == 0.0:
                    done[n[2]] = time.time()
            time.sleep(0.002)
        if len(done) < 2:
            raise RuntimeError("the fleet did not follow the trip")
        ms = (max(done.values()) - tripped) * 1000
        times.append(ms)
        print("trip %2d: 0%% on all nodes %.1f ms after node b reverted" % (t + 1, ms),
              flush=True)
    print("trip to 0%% on all: median %.1f ms, max %.1f ms over %d trips" % (
        statistics.median(times), max(times), len(times)), flush=True)
    for n in nodes:
        b.stop(n[0])
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--trips", type=int, default=10)
    ap.add_argument("--skip-cost", action="store_true")
    ap.add_argument("--skip-trips", action="store_true")
    a = ap.parse_args()
    for tool in ("etcd", "wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit("bench/cluster.py: %s not found (BGPROXY_BENCH=1 scripts/setup.sh)" % tool)
    if os.cpu_count() < 2:
        sys.exit("bench/cluster.py: needs 2 cores (proxy on 0, load and etcd on 1)")
    if not a.skip_cost:
        b = Bench(a)
        try:
            cost(b)
        finally:
            b.close()
    if not a.skip_trips:
        b = Bench(a)
        try:
            trips(b)
        finally:
            b.close()


if __name__ == "__main__":
    main()
