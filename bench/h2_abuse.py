#!/usr/bin/env python3
"""HTTP/2 upload abuse: bgproxy against HAProxy (when installed), same
machine, same run (issue 21 part 9).

  /usr/bin/python3 bench/h2_abuse.py [--build DIR] [--baseline DIR] [--conns N]
      [--streams M] [--seconds S] [--rounds R]

--baseline DIR adds the bgproxy built in DIR as "bgproxy-base".

Each proxy runs as one worker pinned to core 0, listening for HTTP/2 with
prior knowledge (bgproxy `h2c = true`, HAProxy `bind ... proto h2`); the
attacker, the side client and the upstreams are pinned to core 1.  Per
proxy and round:

  attack  N connections, each with M POST streams of 100 MB toward a server
          that accepts and never reads (4 KiB receive buffer set before
          listen), the client sending DATA as fast as the windows let it for
          S seconds; (RSS after - RSS before) / N is what one such
          connection costs the proxy.
  side    meanwhile a client does one GET every 100 ms, over its own
          connection, to a healthy upstream (bgproxy: the override header
          to green; HAProxy: a path to a second backend): its p50, p99 and
          worst latency, and how many failed.
  after   12 s after the attackers closed: RSS - RSS before (memory given
          back or not).

Prints medians and the ratios bgproxy / HAProxy; results also go to
bench/results/h2_abuse-DATE.json.  Loopback only, every loop bounded.
"""
import argparse
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import h2.config
import h2.connection
import h2.events

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from slow_readers import free_port, wait_port, rss_kb, family  # noqa: E402


class Sink:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop_ev = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except socket.timeout:
                continue
            except OSError:
                return

    def drop(self):
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.conns = []

    def stop(self):
        self.stop_ev.set()
        self.drop()
        self.sock.close()


def configs(d, name, port, sink, demo):
    if name.startswith("bgproxy"):
        p = os.path.join(d, name + ".conf")
        open(p, "w").write(
            'workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; h2c = true; } );\n'
            'pools = { blue = { servers = ( { address = "127.0.0.1:%d"; } ); };\n'
            '          green = { servers = ( { address = "127.0.0.1:%d"; } ); }; };\n'
            'split = { cookie = ""; };\n'
            'log = { level = "warn"; access = "off"; };\n'
            'admin = { socket = "%s/%s.sock"; audit_log = "off"; };\n'
            'timeouts = { client_idle_ms = 120000; upstream_response_ms = 120000; '
            'shutdown_ms = 1000; };\n' % (port, sink, demo, d, name))
        return p
    p = os.path.join(d, "haproxy.cfg")
    open(p, "w").write(
        "global\n    nbthread 1\n    maxconn 4000\n"
        "defaults\n    mode http\n    option http-keep-alive\n"
        "    timeout connect 2s\n    timeout client 120s\n    timeout server 120s\n"
        "frontend fe\n    bind 127.0.0.1:%d proto h2\n"
        "    use_backend side if { path_beg /side }\n    default_backend sink\n"
        "backend sink\n    server s 127.0.0.1:%d\n"
        "backend side\n    server d 127.0.0.1:%d\n" % (port, sink, demo))
    return p


def start(name, build, d, port, sink, demo):
    conf = configs(d, name, port, sink, demo)
    log = open(os.path.join(d, name + ".log"), "wb")
    if name.startswith("bgproxy"):
        args = [os.path.join(build, "bgproxy"), "-c", conf]
    else:
        args = ["haproxy", "-f", conf, "-db"]
    proc = subprocess.Popen(["taskset", "-c", "0"] + args, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def attacker(port, streams, until, out):
    """One connection: streams uploads, DATA as the windows allow."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        sids = []
        for i in range(streams):
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                                 (":authority", "a"), (":path", "/up"),
                                 ("content-length", str(100 * 1024 * 1024))])
            sids.append(sid)
        s.sendall(c.data_to_send())
        s.setblocking(False)
        chunk = b"x" * 16384
        while time.time() < until:
            moved = False
            for sid in sids:
                try:
                    room = min(c.local_flow_control_window(sid), len(chunk))
                except Exception:      # noqa: BLE001 - a stream the proxy ended
                    continue
                if room > 0:
                    c.send_data(sid, chunk[:room])
                    moved = True
            data = c.data_to_send()
            while data and time.time() < until:
                try:
                    data = data[s.send(data):]
                except BlockingIOError:
                    time.sleep(0.005)
            try:
                got = s.recv(65536)
                if got:
                    c.receive_data(got)
            except BlockingIOError:
                pass
            except Exception:          # noqa: BLE001 - closed by the proxy
                break
            if not moved:
                time.sleep(0.01)
        out.append(s)
    except OSError:
        pass


def side(port, name, until, lat, fails):
    """One GET every 100 ms, each on a new HTTP/2 (prior knowledge)
    connection, as the attackers speak: both proxies listen for h2 only."""
    path = "/side" if name == "haproxy" else "/"
    while time.time() < until:
        t0 = time.time()
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            h.initiate_connection()
            h.send_headers(1, [(":method", "GET"), (":scheme", "http"),
                               (":authority", "a"), (":path", path),
                               ("x-bgproxy-pool", "green")], end_stream=True)
            c.sendall(h.data_to_send())
            status, done = None, False
            while not done:
                b = c.recv(65536)
                if not b:
                    break
                for ev in h.receive_data(b):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = dict(ev.headers).get(b":status")
                    if isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                        done = True
                c.sendall(h.data_to_send())
            c.close()
            if status != b"200" or not done:
                fails.append(status)
            lat.append((time.time() - t0) * 1000)
        except OSError as e:
            fails.append(repr(e))
        time.sleep(max(0, 0.1 - (time.time() - t0)))


def side_proc(port, name, until, q):
    lat, fails = [], []
    side(port, name, until, lat, fails)
    q.put((lat, [repr(f) for f in fails]))


def one(name, build, d, sink, demo, a):
    port = free_port()
    proc = start(name, build, d, port, sink.port, demo)
    pids = family(proc.pid)
    try:
        time.sleep(0.5)
        before = rss_kb(pids)
        until = time.time() + a.seconds
        socks, lat, fails = [], [], []
        # The side client is a process of its own: as a thread it would
        # wait for the attackers' interpreter lock, and measure that.
        q = multiprocessing.Queue()
        st = multiprocessing.Process(target=side_proc, args=(port, name, until + 1, q))
        st.start()
        ts = [threading.Thread(target=attacker, args=(port, a.streams, until, socks))
              for _ in range(a.conns)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(a.seconds + 30)
        peak = rss_kb(pids)
        lat, fails = q.get(timeout=60)
        st.join(30)
        for s in socks:
            s.close()
        sink.drop()
        time.sleep(12)
        after = rss_kb(pids)
        series = [round(x, 1) for x in lat]
        lat.sort()
        return {
            "side_series": series,
            "per_conn_kb": (peak - before) / a.conns,
            "after_kb": after - before,
            "side_p50_ms": lat[len(lat) // 2] if lat else None,
            "side_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
            "side_max_ms": lat[-1] if lat else None,
            "side_fails": len(fails),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--conns", type=int, default=40)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.sched_setaffinity(0, {1})
    proxies = ["bgproxy"] + (["bgproxy-base"] if a.baseline else []) + \
        (["haproxy"] if shutil.which("haproxy") else [])
    d = tempfile.mkdtemp(prefix="bgp-h2abuse-")
    sink = Sink()
    demo_port = free_port()
    demo = subprocess.Popen(["taskset", "-c", "1", os.path.join(a.build, "bgdemo"), "--port",
                             str(demo_port), "--name", "green"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(demo_port, demo)
    res = {p: [] for p in proxies}
    try:
        for r in range(a.rounds):
            order = proxies[r % len(proxies):] + proxies[:r % len(proxies)]
            for name in order:
                build = a.baseline if name == "bgproxy-base" else a.build
                res[name].append(one(name, build, d, sink, demo_port, a))
                print("round %d %-12s %s" % (r + 1, name, json.dumps(res[name][-1])), flush=True)
    finally:
        sink.stop()
        demo.terminate()
        demo.wait(5)
    med = {}
    for name, runs in res.items():
        med[name] = {k: statistics.median([x[k] for x in runs if x[k] is not None] or [0])
                     for k in runs[0] if k != "side_series"}
    print("\nmedians over %d rounds, %d connections x %d upload streams for %g s:"
          % (a.rounds, a.conns, a.streams, a.seconds))
    for name, m in med.items():
        print("  %-12s per connection %7.0f KiB   after 12 s %8.0f KiB   side p50 %6.1f ms "
              "p99 %7.1f ms max %7.1f ms fails %d" % (name, m["per_conn_kb"], m["after_kb"],
                                                      m["side_p50_ms"], m["side_p99_ms"],
                                                      m["side_max_ms"], m["side_fails"]))
    if "haproxy" in med:
        h, b = med["haproxy"], med["bgproxy"]
        print("  ratio bgproxy/haproxy: memory per connection %.2f, side p99 %.2f"
              % (b["per_conn_kb"] / max(h["per_conn_kb"], 1), b["side_p99_ms"] /
                 max(h["side_p99_ms"], 0.001)))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", "h2_abuse-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(out, "w") as f:
        json.dump({"args": vars(a), "runs": res, "medians": med}, f, indent=1)
    print("results in", out)


if __name__ == "__main__":
    main()
