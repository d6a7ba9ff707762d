#!/usr/bin/env python3
"""Helpers for bench/run.sh (stdlib only).

Subcommands:
  ports N                  print N free loopback TCP ports, one a line
  wait-port PORT [SECS]    wait until 127.0.0.1:PORT accepts a connection
  cputicks PID...          print the summed utime+stime (clock ticks) of PIDs
  rss PID...               print the summed VmRSS (kB) of PIDs
  children PID             print the direct children of PID, one a line
  split PORT N [MODE]      send N GETs, print the body counts (JSON); MODE is
                           http (keep-alive, default), https (TLS keep-alive) or
                           close (TLS, a new connection per request)
  tls-counters PORT        print bgproxy's TLS handshake and handshake-error
                           counters from its metrics listener on PORT
  record ...               parse one wrk output and append a JSON line (see below)
  report JSONL OUT.json [SCENARIO]
                           write the JSON summary of every scenario in JSONL and
                           print the median tables (only SCENARIO's if given)
"""
import http.client
import json
import os
import socket
import ssl
import statistics
import sys
import time


_handed_ports = set()


def free_port():
    """A free loopback port, never the same twice in one process: a port
    the kernel picks (bind to 0, close) can come back on the next call, and
    two listeners of one run would then be given the same port."""
    for _ in range(1000):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p not in _handed_ports:
            _handed_ports.add(p)
            return p
    raise RuntimeError("no free port")


def cmd_ports(n):
    socks, ports = [], []
    for _ in range(int(n)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)  # keep bound until all are chosen: no duplicates
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print("\n".join(str(p) for p in ports))


def cmd_wait_port(port, secs="10"):
    deadline = time.monotonic() + float(secs)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=0.5):
                return 0
        except OSError:
            time.sleep(0.05)
    print(f"benchlib: port {port} not accepting after {secs}s", file=sys.stderr)
    return 1


def _stat_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may hold spaces and parens: split after the last ')'.
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime is field 14, stime field 15.
    return int(rest[11]) + int(rest[12])


def cmd_cputicks(*pids):
    print(sum(_stat_ticks(p) for p in pids))


def cmd_rss(*pids):
    total = 0
    for p in pids:
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    print(total)


def cmd_children(pid):
    out = []
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/children") as f:
                out += f.read().split()
        except OSError:
            pass
    if not out:  # no CONFIG_PROC_CHILDREN: scan every process's parent
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        data = f.read()
                except OSError:
                    continue
                if data[data.rindex(")") + 2:].split()[1] == str(pid):
                    out.append(d)
    print("\n".join(out))


def _bench_ssl_context():
    # Loopback benchmark against a self-signed certificate made for the run:
    # no verification, like wrk.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def cmd_split(port, n, mode="http"):
    if mode not in ("http", "https", "close"):
        print(f"benchlib: bad split mode {mode!r}", file=sys.stderr)
        return 2
    ctx = _bench_ssl_context() if mode != "http" else None

    def connect():
        if ctx is None:
            return http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
        return http.client.HTTPSConnection("127.0.0.1", int(port), timeout=5, context=ctx)

    counts = {}
    conn = connect()
    for _ in range(int(n)):
        try:
            hdrs = {"Connection": "close"} if mode == "close" else {}
            conn.request("GET", "/", headers=hdrs)
            r = conn.getresponse()
            body = r.read().decode(errors="replace").strip()
            key = body if r.status == 200 else f"status {r.status}"
            if mode == "close":
                conn.close()
                conn = connect()
        except (OSError, http.client.HTTPException) as e:
            key = f"error {type(e).__name__}"
            conn.close()
            conn = connect()
        counts[key] = counts.get(key, 0) + 1
    conn.close()
    print(json.dumps(counts, sort_keys=True))


def cmd_tls_counters(port):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("bgproxy_tls_handshakes_total",
                                             "bgproxy_tls_handshake_errors_total"):
            vals[parts[0]] = int(float(parts[1]))
    print(vals["bgproxy_tls_handshakes_total"], vals["bgproxy_tls_handshake_errors_total"])


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _to_ms(tok):
    for u in ("us", "ms", "s", "m"):
        if tok.endswith(u):
            try:
                return float(tok[: -len(u)]) * _UNITS[u]
            except ValueError:
                continue
    raise ValueError(f"bad latency {tok!r}")


def parse_wrk(text):
    res = {"rps": None, "p99_ms": None, "requests": None, "non2xx": 0,
           "sock_connect": 0, "sock_read": 0, "sock_write": 0, "sock_timeout": 0}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Requests/sec:"):
            res["rps"] = float(s.split()[1])
        elif s.startswith("99%"):
            res["p99_ms"] = _to_ms(s.split()[1])
        elif "requests in" in s:
            res["requests"] = int(s.split()[0])
        elif s.startswith("Non-2xx or 3xx responses:"):
            res["non2xx"] = int(s.split(":")[1])
        elif s.startswith("Socket errors:"):
            # Socket errors: connect 0, read 0, write 0, timeout 0
            for part in s.split(":", 1)[1].split(","):
                k, v = part.split()
                res["sock_" + k] = int(v)
    return res


def parse_h2load(text, reqlog=None):
    """h2load's summary; the p99 from its --log-file (start, status, us)."""
    res = {"rps": None, "p99_ms": None, "requests": None, "non2xx": 0,
           "sock_connect": 0, "sock_read": 0, "sock_write": 0, "sock_timeout": 0}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("finished in"):
            # finished in 5.00s, 51893.33 req/s, 5.48MB/s
            res["rps"] = float(s.split(",")[1].split()[0])
        elif s.startswith("requests:"):
            # requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
            parts = dict((p.split()[1], int(p.split()[0])) for p in s[9:].split(","))
            res["requests"] = parts.get("succeeded", 0)
            res["sock_read"] = parts.get("errored", 0)
            res["sock_timeout"] = parts.get("timeout", 0)
        elif s.startswith("status codes:"):
            parts = dict((p.split()[1], int(p.split()[0])) for p in s[13:].split(","))
            res["non2xx"] = sum(v for k, v in parts.items() if k != "2xx")
    if reqlog and os.path.exists(reqlog):
        us = []
        with open(reqlog) as f:
            for line in f:
                cols = line.split()
                if len(cols) >= 3:
                    us.append(int(cols[2]))
        if us:
            us.sort()
            res["p99_ms"] = us[min(len(us) - 1, int(len(us) * 0.99))] / 1000.0
    return res


# Socket errors are expected in the "handshake" scenario: every request ends
# with a close, and wrk counts some closes as read errors depending on who
# closes first.  They are reported there, not flagged.
SOCKERR_EXPECTED = {"handshake"}


def _sockerr(r):
    return r["sock_connect"] + r["sock_read"] + r["sock_write"] + r["sock_timeout"]


def cmd_record(jsonl, rnd, proxy, wrk_file, ticks0, ticks1, t0, t1, clk_tck, rss_kb,
               scenario="http", tls_hs="-", tls_hs_err="-"):
    with open(wrk_file) as f:
        text = f.read()
    w = parse_h2load(text, wrk_file + ".reqlog") if scenario in ("h2", "h2_up") else parse_wrk(text)
    wall = float(t1) - float(t0)
    cpu = (int(ticks1) - int(ticks0)) / float(clk_tck)
    busy = cpu / wall if wall > 0 else 0.0
    rec = {"scenario": scenario, "round": int(rnd), "proxy": proxy, **w,
           "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "busy": round(busy, 4),
           "rss_kb": int(rss_kb)}
    rec["rps_per_core"] = (w["rps"] / busy) if (w["rps"] and busy > 0) else None
    if tls_hs != "-":
        # bgproxy's own count of completed TLS handshakes (and failures) during
        # the run, read from its metrics listener.
        rec["tls_handshakes"] = int(tls_hs)
        rec["tls_handshake_errors"] = int(tls_hs_err)
    with open(jsonl, "a") as f:
        f.write(json.dumps(rec) + "\n")
    serr = _sockerr(rec)
    note = ""
    if rec["non2xx"]:
        note += f"  NON2XX {rec['non2xx']}"
    if serr:
        note += (f"  sockerr {serr} (closes, expected)" if scenario in SOCKERR_EXPECTED
                 else f"  SOCKERR {serr}")
    if "tls_handshakes" in rec:
        note += f"  tls-hs {rec['tls_handshakes']} err {rec['tls_handshake_errors']}"
    print(f"  round {rnd} {proxy:8s} {w['rps'] or 0:10.0f} req/s  p99 {w['p99_ms'] or 0:7.2f} ms  "
          f"busy {busy:5.2f}  rss {int(rss_kb)/1024:6.1f} MiB  "
          f"per-core {rec['rps_per_core'] or 0:10.0f}" + note)


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _summarize(recs):
    proxies = []
    for r in recs:
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])
    by = {(r["round"], r["proxy"]): r for r in recs}
    rounds = sorted({r["round"] for r in recs})

    summary = {}
    for p in proxies:
        rs = [r for r in recs if r["proxy"] == p]
        summary[p] = {
            "rounds": len(rs),
            "rps": _median([r["rps"] for r in rs]),
            "p99_ms": _median([r["p99_ms"] for r in rs]),
            "rss_kb": _median([r["rss_kb"] for r in rs]),
            "busy": _median([r["busy"] for r in rs]),
            "rps_per_core": _median([r["rps_per_core"] for r in rs]),
            "non2xx_total": sum(r["non2xx"] for r in rs),
            "socket_errors_total": sum(_sockerr(r) for r in rs),
            "requests_total": sum(r["requests"] or 0 for r in rs),
        }
        if any("tls_handshakes" in r for r in rs):
            summary[p]["tls_handshakes_total"] = sum(r.get("tls_handshakes", 0) for r in rs)
            summary[p]["tls_handshake_errors_total"] = sum(
                r.get("tls_handshake_errors", 0) for r in rs)

    ratios = {}
    for other in proxies:
        if other == "bgproxy" or "bgproxy" not in proxies:
            continue
        for key in ("rps", "rps_per_core"):
            same_round = []
            for rnd in rounds:
                a, b = by.get((rnd, "bgproxy")), by.get((rnd, other))
                if a and b and a.get(key) and b.get(key):
                    same_round.append(a[key] / b[key])
            ratios[f"bgproxy/{other}"] = ratios.get(f"bgproxy/{other}", {})
            ratios[f"bgproxy/{other}"][key] = {
                "median": _median(same_round),
                "per_round": [round(x, 4) for x in same_round],
            }
    return proxies, summary, ratios


_SCENARIO_TITLES = {
    "http": "http: plain HTTP keep-alive",
    "https": "https: TLS keep-alive",
    "handshake": "handshake: TLS, new connection per request (req/s = handshakes/s)",
}


def _print_table(scen, proxies, summary, ratios):
    def fmt(v, spec):
        return format(v, spec) if v is not None else "-"

    print()
    print(f"== {_SCENARIO_TITLES.get(scen, scen)}")
    print(f"{'proxy':10s} {'req/s':>10s} {'p99 ms':>8s} {'RSS MiB':>8s} {'busy':>6s} "
          f"{'req/s/core':>11s} {'non2xx':>7s} {'sockerr':>7s}   (medians over rounds; "
          f"non2xx, sockerr: totals)")
    for p in proxies:
        s = summary[p]
        rss = s["rss_kb"] / 1024 if s["rss_kb"] is not None else None
        print(f"{p:10s} {fmt(s['rps'], '10.0f')} {fmt(s['p99_ms'], '8.2f')} {fmt(rss, '8.1f')} "
              f"{fmt(s['busy'], '6.2f')} {fmt(s['rps_per_core'], '11.0f')} "
              f"{s['non2xx_total']:7d} {s['socket_errors_total']:7d}")
    if scen in SOCKERR_EXPECTED and any(summary[p]["socket_errors_total"] for p in proxies):
        print("(socket errors here are mostly wrk counting the per-request closes; "
              "not a failure)")
    bg = summary.get("bgproxy", {})
    if "tls_handshakes_total" in bg:
        print(f"bgproxy counted {bg['tls_handshakes_total']} TLS handshakes "
              f"({bg['tls_handshake_errors_total']} failed) for {bg['requests_total']} "
              f"requests wrk completed")
    print()
    for name, r in ratios.items():
        print(f"{name:18s} req/s {fmt(r['rps']['median'], '.3f')} "
              f"(rounds: {', '.join(format(x, '.3f') for x in r['rps']['per_round'])})   "
              f"per-core {fmt(r['rps_per_core']['median'], '.3f')} "
              f"(rounds: {', '.join(format(x, '.3f') for x in r['rps_per_core']['per_round'])})")


def cmd_report(jsonl, out, only=None):
    with open(jsonl) as f:
        recs = [json.loads(l) for l in f if l.strip()]
    scenarios = []
    for r in recs:
        r.setdefault("scenario", "http")
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])

    doc = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "scenarios": {}}
    for scen in scenarios:
        srecs = [r for r in recs if r["scenario"] == scen]
        proxies, summary, ratios = _summarize(srecs)
        doc["scenarios"][scen] = {"summary": summary, "ratios": ratios, "runs": srecs}
        if only is None or only == scen:
            _print_table(scen, proxies, summary, ratios)
    meta = os.environ.get("BENCH_META")
    if meta:
        doc["meta"] = json.loads(meta)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)
    print(f"\nwrote {out} ({', '.join(scenarios)})")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    fn = {"ports": cmd_ports, "wait-port": cmd_wait_port, "cputicks": cmd_cputicks,
          "rss": cmd_rss, "children": cmd_children, "split": cmd_split,
          "tls-counters": cmd_tls_counters,
          "record": cmd_record, "report": cmd_report}.get(cmd)
    if fn is None:
        print(__doc__, file=sys.stderr)
        return 2
    return fn(*args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
