#!/usr/bin/env python3
"""Memory per slow reader and large-download throughput: bgproxy against
HAProxy and nginx (those that are installed), same machine, same run.

  bench/slow_readers.py [--build DIR] [--baseline DIR] [--conns N] [--rounds R] [--mb MB]

--baseline DIR adds the bgproxy built in DIR as "bgproxy-base", to compare a
change with what it changes in the same interleaved run.

Each proxy runs as one worker pinned to core 0; the client and the bgdemo
upstream are pinned to core 1.  Two measurements per proxy and round, the
proxies interleaved within each round:

  slow readers  N connections each ask for a 256 MiB body, read the head and
                then nothing (a 4 KiB receive buffer); once the proxy's RSS
                stops growing, (RSS - RSS before) / N is what one slow
                reader costs it.
  download      one keep-alive client downloads MB MiB through the proxy,
                reading as fast as it can: MiB/s.

Prints the medians and the ratios bgproxy / other; results also go to
bench/results/slow_readers-DATE.json.  Loopback only, every loop bounded.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    """benchlib.free_port: never the same port twice in a run."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import benchlib
    return benchlib.free_port()


def wait_port(port, proc, secs=10):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not listening" % port)


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def family(pid):
    """pid and its children (nginx's worker, HAProxy's master/worker)."""
    out = [pid]
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def configs(d, name, port, up):
    if name.startswith("bgproxy"):
        p = os.path.join(d, "bgproxy.conf")
        open(p, "w").write(
            'workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; } );\n'
            'pools = { blue = { servers = ( { address = "127.0.0.1:%d"; } ); };\n'
            '          green = { servers = ( { address = "127.0.0.1:%d"; } ); }; };\n'
            'log = { level = "warn"; access = "off"; };\n'
            'admin = { socket = "%s/admin.sock"; audit_log = "off"; };\n'
            'timeouts = { client_idle_ms = 120000; };\n' % (port, up, up, d))
        return p
    if name == "haproxy":
        p = os.path.join(d, "haproxy.cfg")
        open(p, "w").write(
            "global\n    nbthread 1\n    maxconn 8000\n"
            "defaults\n    mode http\n    option http-keep-alive\n    http-reuse always\n"
            "    timeout connect 2s\n    timeout client 120s\n    timeout server 120s\n"
            "frontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n"
            "backend be\n    server blue 127.0.0.1:%d\n" % (port, up))
        return p
    p = os.path.join(d, "nginx.conf")
    os.makedirs(os.path.join(d, "ng"), exist_ok=True)
    open(p, "w").write(
        "worker_processes 1;\npid %s/ng/nginx.pid;\nerror_log %s/ng/error.log warn;\n"
        "events { worker_connections 8000; }\nhttp {\n access_log off;\n"
        " client_body_temp_path %s/ng/body;\n proxy_temp_path %s/ng/proxy;\n"
        " upstream demo { server 127.0.0.1:%d; keepalive 64; }\n"
        " server { listen 127.0.0.1:%d;\n  location / { proxy_pass http://demo;\n"
        "   proxy_http_version 1.1; proxy_set_header Connection \"\"; } }\n}\n"
        % (d, d, d, d, up, port))
    return p


def start(name, build, d, port, up):
    conf = configs(d, name, port, up)
    log = open(os.path.join(d, name + ".log"), "wb")
    if name.startswith("bgproxy"):
        args = [os.path.join(build, "bgproxy"), "-c", conf]
    elif name == "haproxy":
        args = ["haproxy", "-f", conf, "-db"]
    else:
        args = ["nginx", "-c", conf, "-p", os.path.join(d, "ng"), "-g", "daemon off;"]
    proc = subprocess.Popen(["taskset", "-c", "0"] + args, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def slow_readers(port, pids, n):
    time.sleep(0.3)
    before = rss_kb(pids)
    socks = []
    req = b"GET /big?n=268435456 HTTP/1.1\r\nHost: a\r\n\r\n"
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        s.recv(1024)               # the head has come; read no more
        socks.append(s)
    # wait until the proxy's memory stops growing (bounded)
    last, stable_since, end = -1, time.time(), time.time() + 20
    while time.time() < end:
        now = rss_kb(pids)
        if abs(now - last) > max(64, last // 200):
            last, stable_since = now, time.time()
        elif time.time() - stable_since > 1.5:
            break
        time.sleep(0.1)
    after = rss_kb(pids)
    for s in socks:
        s.close()
    return (after - before) / n


def download(port, mb):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    want = mb * 1024 * 1024
    s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % want)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(65536)
    got = len(head) - head.index(b"\r\n\r\n") - 4
    t0 = time.time()
    buf = bytearray(1 << 20)
    while got < want and time.time() - t0 < 60:
        n = s.recv_into(buf)
        if n == 0:
            break
        got += n
    took = time.time() - t0
    s.close()
    return got / (1024 * 1024) / took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mb", type=int, default=512)
    a = ap.parse_args()
    os.sched_setaffinity(0, {1})
    proxies = ["bgproxy"] + (["bgproxy-base"] if a.baseline else []) + \
        [p for p in ("haproxy", "nginx") if shutil.which(p)]
    d = tempfile.mkdtemp(prefix="bgp-slow-")
    up = free_port()
    demo = subprocess.Popen(["taskset", "-c", "1", os.path.join(a.build, "bgdemo"), "--port",
                             str(up), "--name", "blue"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(up, demo)
    res = {p: {"slow_kb": [], "mib_s": []} for p in proxies}
    try:
        for r in range(a.rounds):
            for p in proxies:
                port = free_port()
                proc = start(p, a.baseline if p == "bgproxy-base" else a.build, d, port, up)
                try:
                    res[p]["mib_s"].append(download(port, a.mb))
                    res[p]["slow_kb"].append(slow_readers(port, family(proc.pid), a.conns))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                print("round %d %-8s %7.0f MiB/s  %6.1f KiB per slow reader" % (
                    r + 1, p, res[p]["mib_s"][-1], res[p]["slow_kb"][-1]), flush=True)
    finally:
        demo.kill()
        demo.wait()
        shutil.rmtree(d, ignore_errors=True)
    med = {p: {k: statistics.median(v) for k, v in res[p].items()} for p in proxies}
    print("\nmedians over %d rounds:" % a.rounds)
    for p in proxies:
        print("  %-8s %7.0f MiB/s  %6.1f KiB per slow reader" % (p, med[p]["mib_s"],
                                                                  med[p]["slow_kb"]))
    for p in proxies[1:]:
        print("  bgproxy / %-7s download %.2fx" % (p, med["bgproxy"]["mib_s"] / med[p]["mib_s"]))
    out = os.path.join(HERE, "results", "slow_readers-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"conns": a.conns, "mb": a.mb, "rounds": res, "medians": med}, f, indent=1)
    print("results in", out)


if __name__ == "__main__":
    sys.exit(main())
