#!/usr/bin/env python3
"""Many services behind one bgproxy (docs/services.md): what 1,000 cost.

1. Start: bgproxy with 1 and with 1,000 services (each its own pools, hosts
   svcN.example), the time from exec to "started" (listeners bound, admin
   socket answering) and the RSS then; STARTS runs each, medians.
2. Per request: wrk (one thread, CONNS connections, keep-alive) through
   bgproxy to two bgdemo upstreams (a 90/10 split), proxy on core 0, wrk and
   the upstreams on core 1.  "one": the configuration without services (the
   service "default"), every request Host svc1.example; "many1": 1,000
   services, every request to one of them (what the lookup among 1,000
   costs); "many": 1,000 services, the requests' Host going round all of
   them (each service's figures made on its first request: a warm-up run
   first; each service's servers keep their own idle connections, as
   HAProxy's backends do, so 50 client connections over 1,000 services
   reuse few).  ROUNDS rounds, interleaved; the proxy's CPU time per
   request (utime+stime / requests) and requests per second, medians, and
   the ratios to "one".

3. The same three runs through HAProxy (Debian's, one thread) with one
   backend and with 1,000 backends chosen by a map of the Host field, when
   it is installed (HAPROXY=0: not).

Env: DURATION (s, default 5), ROUNDS (5), STARTS (5), CONNS (50), SERVICES
(1000), BGPROXY, BGDEMO, HAPROXY (1).  Loopback only; every run is bounded in time.
Prints a table and writes bench/results/services.json.
"""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BGPROXY = os.environ.get("BGPROXY", os.path.join(ROOT, "build", "bgproxy"))
BGDEMO = os.environ.get("BGDEMO", os.path.join(ROOT, "build", "bgdemo"))
DURATION = int(os.environ.get("DURATION", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
STARTS = int(os.environ.get("STARTS", "5"))
CONNS = int(os.environ.get("CONNS", "50"))
NSVC = int(os.environ.get("SERVICES", "1000"))
CLK = os.sysconf("SC_CLK_TCK")

procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs=10):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.01)
    return False


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def pools(blue, green):
    return ("pools = { blue = { servers = ( { address = \"127.0.0.1:%d\"; } ); };\n"
            "  green = { servers = ( { address = \"127.0.0.1:%d\"; } ); }; };\n" % (blue, green))


def config(tmp, port, blue, green, n):
    head = ("workers = 1;\n"
            "listen = ( { address = \"127.0.0.1:%d\"; } );\n"
            "admin = { socket = \"%s/admin-%d.sock\"; audit_log = \"off\"; };\n"
            "log = { level = \"info\"; access = \"off\"; };\n"
            "split = { candidate_percent = 10; };\n"
            "guard = { method = \"threshold\"; };\n") % (port, tmp, port)
    if n == 0:
        return head + pools(blue, green)
    svcs = []
    for i in range(1, n + 1):
        svcs.append("  { name = \"svc%d\"; match = { hosts = [ \"svc%d.example\" ]; };\n    %s  }"
                    % (i, i, pools(blue, green)))
    return head + "services = (\n" + ",\n".join(svcs) + "\n);\n"


def haproxy_config(tmp, port, blue, green, n):
    """One backend (n == 0), or n chosen by the Host field through a map."""
    head = ("global\n  nbthread 1\n  maxconn 4000\n"
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n"
            "  timeout server 30s\n  option http-keep-alive\n  http-reuse safe\n"
            "frontend f\n  bind 127.0.0.1:%d\n" % port)
    back = ("backend %s\n  balance roundrobin\n  server blue 127.0.0.1:%d weight 9\n"
            "  server green 127.0.0.1:%d weight 1\n")
    if n == 0:
        return head + "  default_backend b1\n" + back % ("b1", blue, green)
    mp = os.path.join(tmp, "hosts-%d.map" % port)
    with open(mp, "w") as f:
        for i in range(1, n + 1):
            f.write("svc%d.example b%d\n" % (i, i))
    text = head + ("  use_backend %%[req.hdr(host),lower,map_str(%s)]\n"
                   "  default_backend b1\n") % mp
    for i in range(1, n + 1):
        text += back % ("b%d" % i, blue, green)
    return text


def start_haproxy(tmp, text, port):
    path = os.path.join(tmp, "haproxy-%d.cfg" % port)
    with open(path, "w") as f:
        f.write(text)
    hp = shutil.which("haproxy") or "/usr/sbin/haproxy"
    p = subprocess.Popen(["taskset", "-c", "0", hp, "-f", path, "-db"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    if not wait_port(port):
        raise RuntimeError("haproxy did not start")
    return p


def start_proxy(tmp, text, port):
    path = os.path.join(tmp, "bgproxy-%d.conf" % port)
    with open(path, "w") as f:
        f.write(text)
    log = open(os.path.join(tmp, "bgproxy-%d.log" % port), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", "0", BGPROXY, "-c", path], stdout=log, stderr=log)
    procs.append(p)
    end = time.time() + 30
    while time.time() < end and p.poll() is None:
        log.seek(0)
        if " started: " in log.read():
            return p, time.monotonic() - t0
        time.sleep(0.002)
    raise RuntimeError("bgproxy did not start: " + open(log.name).read()[-2000:])


def wrk(port, script, secs):
    r = subprocess.run(["timeout", str(secs + 15), "taskset", "-c", "1", "wrk", "-t1",
                        "-c%d" % CONNS, "-d%ds" % secs, "-s", script,
                        "http://127.0.0.1:%d/" % port], capture_output=True, text=True)
    m = re.search(r"(\d+) requests in", r.stdout)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    if m is None:
        raise RuntimeError("wrk: " + r.stdout + r.stderr)
    return int(m.group(1)), int(errs.group(1)) if errs else 0


def main():
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s not found (BGPROXY_BENCH=1 scripts/setup.sh)" % tool)
    tmp = tempfile.mkdtemp(prefix="bgproxy-bench-svc.")
    out = {"services": NSVC, "duration_s": DURATION, "rounds": ROUNDS, "conns": CONNS}
    try:
        blue, green = free_port(), free_port()
        for port, name in ((blue, "blue"), (green, "green")):
            procs.append(subprocess.Popen(["taskset", "-c", "1", BGDEMO, "--port", str(port),
                                           "--name", name], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            if not wait_port(port):
                sys.exit("bench: bgdemo %s did not start" % name)
        # 1. start
        starts = {1: [], NSVC: []}
        rss = {1: [], NSVC: []}
        for _ in range(STARTS):
            for n in (1, NSVC):
                port = free_port()
                p, secs = start_proxy(tmp, config(tmp, port, blue, green, 0 if n == 1 else n),
                                      port)
                starts[n].append(secs)
                rss[n].append(rss_kb(p.pid))
                stop(p)
        out["start_s"] = {str(n): statistics.median(v) for n, v in starts.items()}
        out["start_rss_kb"] = {str(n): statistics.median(v) for n, v in rss.items()}
        # 2. per request
        one_lua = os.path.join(tmp, "one.lua")
        many_lua = os.path.join(tmp, "many.lua")
        with open(one_lua, "w") as f:
            f.write('wrk.headers["Host"] = "svc1.example"\n')
        with open(many_lua, "w") as f:
            f.write("local i = 0\nrequest = function()\n  i = i %% %d + 1\n"
                    "  return wrk.format(\"GET\", \"/\", { [\"Host\"] = \"svc\" .. i .. "
                    "\".example\" })\nend\n" % NSVC)
        kinds = ("one", "many1", "many")
        setups = {"one": (0, one_lua), "many1": (NSVC, one_lua), "many": (NSVC, many_lua)}
        hap = os.environ.get("HAPROXY", "1") != "0" and (shutil.which("haproxy") or
                                                          os.path.exists("/usr/sbin/haproxy"))
        if hap:
            kinds += ("haproxy_one", "haproxy_many1", "haproxy_many")
            for k in ("one", "many1", "many"):
                setups["haproxy_" + k] = setups[k]
        runs = {k: [] for k in kinds}
        live = {}
        for k in kinds:
            n, lua = setups[k]
            port = free_port()
            if k.startswith("haproxy_"):
                p = start_haproxy(tmp, haproxy_config(tmp, port, blue, green, n), port)
            else:
                p, _ = start_proxy(tmp, config(tmp, port, blue, green, n), port)
            live[k] = (p, port, lua)
            wrk(port, lua, 2)     # warm-up: every service's figures made
        for _ in range(ROUNDS):
            for k in kinds:
                p, port, lua = live[k]
                t0 = cpu_ticks(p.pid)
                req, bad = wrk(port, lua, DURATION)
                t1 = cpu_ticks(p.pid)
                runs[k].append({"requests": req, "non_2xx": bad, "rps": req / DURATION,
                                "cpu_us_per_req": (t1 - t0) / CLK * 1e6 / max(req, 1)})
        out["rss_after_kb"] = {k: rss_kb(v[0].pid) for k, v in live.items()}
        for k in live:
            stop(live[k][0])
        out["runs"] = runs
        med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "cpu_us_per_req")}
               for k, v in runs.items()}
        out["median"] = med
        for k in ("many1", "many"):
            out["cost_ratio_%s_over_one" % k] = med[k]["cpu_us_per_req"] / med["one"]["cpu_us_per_req"]
            out["rps_ratio_%s_over_one" % k] = med[k]["rps"] / med["one"]["rps"]
            if hap:
                h = "haproxy_" + k
                out["haproxy_cost_ratio_%s_over_one" % k] = (
                    med[h]["cpu_us_per_req"] / med["haproxy_one"]["cpu_us_per_req"])
                # bgproxy's CPU per request over HAProxy's, the same traffic
                out["cost_vs_haproxy_%s" % k] = med[k]["cpu_us_per_req"] / med[h]["cpu_us_per_req"]
        if hap:
            out["cost_vs_haproxy_one"] = (med["one"]["cpu_us_per_req"] /
                                          med["haproxy_one"]["cpu_us_per_req"])
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print("start (median of %d): 1 service %.3f s, %d services %.3f s; RSS %d kB, %d kB" % (
        STARTS, out["start_s"]["1"], NSVC, out["start_s"][str(NSVC)],
        out["start_rss_kb"]["1"], out["start_rss_kb"][str(NSVC)]))
    for k in out["median"]:
        print("%-13s req/s %9.0f  CPU per request %.2f us  (medians of %d rounds of %d s)" % (
            k, out["median"][k]["rps"], out["median"][k]["cpu_us_per_req"], ROUNDS, DURATION))
    for k in ("many1", "many"):
        print("per-request cost %s / one: %.3f (req/s %.3f)" % (
            k, out["cost_ratio_%s_over_one" % k], out["rps_ratio_%s_over_one" % k]))
        if "haproxy_cost_ratio_%s_over_one" % k in out:
            print("  HAProxy %s / one: %.3f; bgproxy's CPU per request / HAProxy's: %.3f" % (
                k, out["haproxy_cost_ratio_%s_over_one" % k], out["cost_vs_haproxy_%s" % k]))
    if "cost_vs_haproxy_one" in out:
        print("one: bgproxy's CPU per request / HAProxy's: %.3f" % out["cost_vs_haproxy_one"])
    print("RSS after the runs (kB): %s" % out["rss_after_kb"])
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "services.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
