"""The control plane: admin socket commands and errors, protocol limits,
socket mode, audit log, bgctl against the proxy, admin client floods.  The
state file is in test_state.py, reload in test_reload.py, metrics in
test_metrics.py."""
import json
import os
import re
import socket
import stat
import subprocess
import threading
import time

import harness
from harness import get, free_port, config_text, admin_paths, Traffic, wait_until
from harness import blue_green_proxy as _env
# admin and bgctl live in harness; re-exported for `from test_admin import admin`
from harness import admin, bgctl  # noqa: F401


def _pool(body):
    return body.decode().strip()


def test_help_lists_every_command(env):
    blue, green, p = _env(env)
    ok, first, rest = admin(p.port, "help")
    assert ok
    for c in ("status", "set weight POOL PERCENT", "switch POOL", "rollout start", "rollout pause",
              "rollout resume", "rollout next", "rollout abort", "promote", "revert",
              "server POOL ADDRESS drain|disable|enable", "show events", "show servers",
              "reload", "help"):
        assert c in rest, c


def test_show_alone_events_n_and_late_options(env):
    blue, green, p = _env(env)
    # a command word with sub-commands lists them
    ok, first, rest = admin(p.port, "show")
    assert not ok and first == "ERR show what? show events [N] | show servers | show nodes | show info", first
    ok, first, rest = admin(p.port, "rollout")
    assert not ok and "rollout start POOL" in first and "rollout abort" in first, first
    r = bgctl(p.port, "show")
    assert r.returncode == 1 and "show events [N]" in r.stderr, (r.returncode, r.stderr)
    for pct in ("1", "2", "3", "4"):
        assert admin(p.port, "set weight green " + pct)[0]
    ok, first, rest = admin(p.port, "show events")
    all_ev = rest.splitlines()
    assert len(all_ev) == 5, all_ev          # the start and four weights
    ok, first, rest = admin(p.port, "show events 2")
    assert ok and rest.splitlines() == all_ev[-2:], rest
    ok, first, rest = admin(p.port, "json show events 1")
    assert ok and [e["text"] for e in json.loads(rest)] == all_ev[-1:], rest
    for bad in ("0", "101", "x", "-1", "2.5"):
        ok, first, rest = admin(p.port, "show events " + bad)
        assert not ok and first.startswith("ERR N must be 1..100"), (bad, first)
    # options may follow the command
    r = bgctl(p.port, "status", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["weights"]["green"] == 4, r.stdout
    sock, _ = admin_paths(p.port)
    r = subprocess.run([os.path.join(harness.BUILD, "bgctl"), "show", "events", "1", "-s", sock],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 0 and r.stdout.strip() == all_ev[-1], (r.returncode, r.stdout, r.stderr)
    # a word after "--" or a negative number stays a word for the server to judge
    r = bgctl(p.port, "set", "weight", "green", "-1")
    assert r.returncode == 1 and "weight must be 0..100" in r.stderr, r.stderr


def test_set_weight_takes_effect_at_next_request(env):
    blue, green, p = _env(env)
    c = {"Cookie": "bgp=somebody"}
    assert _pool(get(p.port, headers=c)[2]) == "blue"
    ok, first, rest = admin(p.port, "set weight green 100")
    assert ok and "green 100.00%" in rest
    assert _pool(get(p.port, headers=c)[2]) == "green"
    ok, first, rest = admin(p.port, "set weight blue 100")
    assert ok
    assert _pool(get(p.port, headers=c)[2]) == "blue"
    # a share in between: about that share of fresh clients
    assert admin(p.port, "set weight green 30")[0]
    got = [_pool(get(p.port)[2]) for _ in range(600)]
    assert 0.23 < got.count("green") / 600 < 0.37


def test_errors_change_nothing(env):
    blue, green, p = _env(env)
    assert admin(p.port, "set weight green 5")[0]
    def split():
        st = json.loads(admin(p.port, "json status")[2])
        # the split and its version; guard figures and server states move by themselves
        return {k: st[k] for k in ("version", "stable", "state", "weights", "rollout",
                                   "last_revert")}

    before = split()
    cases = {
        "set weight green 101": 'weight must be 0..100 with at most two decimals, got "101"',
        "set weight green -1": 'got "-1"',
        "set weight green 5.555": 'got "5.555"',
        "set weight green abc": 'got "abc"',
        "set weight green": "usage: set weight POOL PERCENT",
        "set weight red 5": 'unknown pool "red"; pools are blue and green',
        "switch purple": 'unknown pool "purple"',
        "switch": "usage: switch POOL",
        "server blue 10.9.9.9:1 drain": "no server 10.9.9.9:1 in pool blue",
        "server blue %s explode" % blue.addr: 'unknown server action "explode"',
        "server blue": "usage: server POOL ADDRESS drain|disable|enable",
        "bogus": 'unknown command "bogus"',
        "status extra": "usage: status",
        "rollout start blue": "blue is the stable pool",
        "rollout start green steps 5,1,100": "steps must be increasing",
        "rollout start green hold -3": "hold must be 0..86400",
        "rollout pause": "no rollout",
        "": "empty command",
    }
    for line, want in cases.items():
        ok, first, rest = admin(p.port, line)
        assert not ok and first.startswith("ERR ") and want in first, (line, first)
    assert split() == before
    # json prefix on an error: ERR then one JSON line
    ok, first, rest = admin(p.port, "json set weight green 200")
    assert not ok and json.loads(rest) == {"ok": False, "error": first[4:]}
    # control bytes in a refused line reach the log escaped, never raw (a
    # terminal escape, a forged second line)
    data = admin(p.port, b"frob \x1b[31mRED\x1b]0;title\x07 \rforged\n", raw=True)
    assert data.startswith(b"ERR "), data
    assert wait_until(lambda: "frob \\x1b[31mRED" in p.output(), timeout=5), p.output()[-2000:]
    assert "\x1b" not in p.output() and "\x07" not in p.output() and "\rforged" not in p.output()


def test_json_status_shape(env):
    blue, green, p = _env(env)
    assert admin(p.port, "set weight green 5")[0]
    for _ in range(20):
        get(p.port)
    ok, first, rest = admin(p.port, "json status")
    st = json.loads(rest)
    assert st["stable"] == "blue" and st["state"] == "manual"
    assert st["weights"] == {"blue": 95.0, "green": 5.0}
    assert st["rollout"] is None and st["last_revert"] is None
    b = st["pools"]["blue"]
    assert b["servers_up"] == 1 and b["servers"] == 1
    assert st["pools"]["blue"]["requests"] + st["pools"]["green"]["requests"] == 20
    for k in ("error_rate", "p99_ms"):
        assert isinstance(b[k], (int, float))
    assert b["server_list"][0]["address"] == blue.addr


def test_switch_revert_promote(env):
    blue, green, p = _env(env)
    ok, first, rest = admin(p.port, "promote")
    assert not ok and "no traffic" in first
    assert admin(p.port, "switch green")[0]
    st = json.loads(admin(p.port, "json status")[2])
    assert st["state"] == "baking" and st["stable"] == "blue" and st["weights"]["green"] == 100
    assert _pool(get(p.port)[2]) == "green"
    assert admin(p.port, "revert")[0]
    st = json.loads(admin(p.port, "json status")[2])
    assert st["state"] == "reverted" and st["weights"]["blue"] == 100
    assert "operator" in st["last_revert"]
    assert _pool(get(p.port)[2]) == "blue"
    ok, first, rest = admin(p.port, "promote")
    assert not ok and "reverted" in first
    assert admin(p.port, "set weight green 50")[0]
    assert admin(p.port, "promote")[0]
    st = json.loads(admin(p.port, "json status")[2])
    assert st["stable"] == "green" and st["state"] == "idle" and st["weights"]["green"] == 100
    ok, first, rest = admin(p.port, "show events")
    assert "switch to green" in rest and "revert" in rest and "promote" in rest
    assert "operator uid %d" % os.getuid() in rest


def test_server_drain_disable_enable(env):
    b1, b2, green = env.demo("blue"), env.demo("blue"), env.demo("green")
    p = env.proxy([b1, b2], [green])
    assert admin(p.port, "server blue %s drain" % b1.addr)[0]
    ok, first, rest = admin(p.port, "show servers")
    assert "blue %s draining" % b1.addr in rest
    for _ in range(10):
        assert get(p.port)[1]["x-server"].endswith(str(b2.port))
    # a request in flight on a draining server finishes
    assert admin(p.port, "server blue %s enable" % b1.addr)[0]
    assert admin(p.port, "server blue %s disable" % b2.addr)[0]
    res = []
    t = threading.Thread(target=lambda: res.append(get(p.port, "/slow?ms=1500")[0]))
    # the slow request reaches b1 (b2 is disabled), then b1 is drained while it runs
    n1 = b1.stats()["requests"]
    t.start()
    assert harness.wait_until(lambda: b1.stats()["requests"] > n1, timeout=10), \
        "the slow request did not reach b1: %s" % b1.stats()
    assert admin(p.port, "server blue %s drain" % b1.addr)[0]
    t.join(5)
    assert res == [200]
    # disable cuts a request in flight
    assert admin(p.port, "server blue %s enable" % b2.addr)[0]
    assert admin(p.port, "server blue %s enable" % b1.addr)[0]
    res2 = []

    def slow():
        try:
            res2.append(get(p.port, "/slow?ms=3000", timeout=6)[0])
        except Exception:  # noqa: the cut request fails one way or another
            res2.append("cut")
    ts = [threading.Thread(target=slow) for _ in range(2)]
    n1, n2 = b1.stats()["requests"], b2.stats()["requests"]
    for t in ts:
        t.start()
    # round-robin: one slow request on each server, both in flight
    assert harness.wait_until(lambda: b1.stats()["requests"] > n1 and
                              b2.stats()["requests"] > n2, timeout=10), \
        "the slow requests did not reach b1 and b2: %s %s" % (b1.stats(), b2.stats())
    assert admin(p.port, "server blue %s disable" % b1.addr)[0]
    for t in ts:
        t.join(8)
    assert sorted(map(str, res2)) == ["200", "cut"], res2
    ok, first, rest = admin(p.port, "json show servers")
    srv = {s["address"]: s for s in json.loads(rest)["servers"]}
    assert srv[b1.addr]["state"] == "disabled" and srv[b2.addr]["state"] == "up"


def test_audit_log_and_socket_mode(env):
    blue, green, p = _env(env)
    sock, audit = admin_paths(p.port)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert admin(p.port, "set weight green 7.5")[0]
    assert not admin(p.port, "set weight green 700")[0]
    assert admin(p.port, "status")[0]          # not state-changing: not audited
    lines = [json.loads(l) for l in open(audit)]
    assert len(lines) == 2, lines
    a, b = lines
    assert a["uid"] == os.getuid() and a["pid"] > 0 and a["command"] == "set weight green 7.5"
    assert a["result"] == "OK"
    assert a["old"]["green"] == 0 and a["new"]["green"] == 7.5 and a["new"]["blue"] == 92.5
    assert b["result"].startswith("ERR weight must be") and b["old"] == b["new"]
    assert re.match(r"\d{4}-\d\d-\d\dT", a["time"])


def test_socket_mode_from_config(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra="")
    p.stop()
    port = free_port()
    sock, audit = admin_paths(port)
    text = config_text(port, [blue.addr], [green.addr], admin=False) + \
        'admin = { socket = "%s"; mode = "0660"; audit_log = "%s"; };\n' % (sock, audit)
    q = harness.Proxy(env.tmp, text, port)
    env.proxies.append(q)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660


def test_protocol_limits(env):
    blue, green, p = _env(env)
    out = admin(p.port, b"x" * 5000 + b"\n", raw=True)
    assert out.startswith(b"ERR line too long")
    out = admin(p.port, b"sta\x00tus\n", raw=True)
    assert out.startswith(b"ERR NUL byte")
    # several commands on one connection, each answer ends with an empty line
    sock, _ = admin_paths(p.port)
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(b"status\nshow servers\nhelp\n")
    data = b""
    s.settimeout(5)
    while data.count(b"\n\n") < 3:
        data += s.recv(65536)
    assert data.count(b"OK\n") == 3
    s.close()
    # the last line may lack its newline when the client ends its sending
    # side (printf status | socat): it is answered all the same
    for tail in (b"status", b"help\nshow servers"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        s.sendall(tail)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        assert data.count(b"OK\n") == tail.count(b"\n") + 1 and data.endswith(b"\n\n"), data


def test_many_and_idle_admin_clients_do_not_hurt_traffic(env):
    blue, green, p = _env(env)
    sock, _ = admin_paths(p.port)
    tr = Traffic(env, p.port)
    idle = []
    for _ in range(64):             # the limit of open admin connections
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(sock)
        # an answer proves bgproxy accepted it (not just the kernel's backlog)
        s.sendall(b"help\n")
        data = b""
        while not data.endswith(b"\n\n"):
            data += s.recv(65536)
        s.sendall(b"stat")          # a partial line, never finished
        idle.append(s)
    # beyond the limit the operator still gets in: the oldest idle
    # connection is closed to make room, at once and every time
    for i in range(3):
        t0 = time.time()
        ok, first, rest = admin(p.port, "status")
        assert ok and time.time() - t0 < 2, (first, time.time() - t0)
    closed = 0
    for s in idle:
        s.settimeout(0.05)
        try:
            if s.recv(100) == b"":
                closed += 1
        except socket.timeout:
            pass
    assert closed >= 1, closed
    idle[0].settimeout(1)
    assert idle[0].recv(100) == b"", "the oldest was not the one closed"
    for s in idle:
        s.close()
    tr.stop()
    assert tr.failed == [] and tr.ok > 20


def test_admin_client_that_never_reads_is_bounded(env):
    """Commands written without reading the answers: bgproxy stops reading
    that client (its memory does not grow) and closes it after a while."""
    blue, green, p = _env(env)
    sock, _ = admin_paths(p.port)

    def rss_kb():
        for line in open("/proc/%d/status" % p.proc.pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    before = rss_kb()
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(0.2)
    chunk = b"show events\n" * 4000
    sent = 0
    end = time.time() + 3
    while time.time() < end:
        try:
            sent += s.send(chunk)
        except (socket.timeout, BlockingIOError):
            pass               # the kernel's buffers are full: bgproxy stopped reading
        except OSError:
            break              # closed by bgproxy
    grown = rss_kb() - before
    # bgproxy stopped reading: what the client could send is what the
    # kernel's buffers hold, not hundreds of megabytes
    assert sent < 16 * 1024 * 1024, "%d bytes of commands were taken" % sent
    # (AddressSanitizer's quarantine keeps freed memory: its RSS says nothing)
    if "asan" not in os.path.basename(harness.BUILD):
        assert grown < 20000, "RSS grew by %d KiB after %d bytes of commands" % (grown, sent)
    # another operator is not hurt
    assert admin(p.port, "status")[0]
    # and the stalled client is closed by itself (seen without reading:
    # a read would let bgproxy write, and the client would not be stalled)
    end = time.time() + 20
    gone = False
    while time.time() < end and not gone:
        try:
            s.send(b"status\n")
        except socket.timeout:
            pass
        except OSError:
            gone = True        # EPIPE / ECONNRESET: bgproxy closed it
    assert gone, "the client that never reads was not closed"
    s.close()
    assert "were not read for" in p.output()


def test_bgctl_against_the_proxy(env):
    blue, green, p = _env(env)
    r = bgctl(p.port, "set", "weight", "green", "10")
    assert r.returncode == 0 and "green 10.00%" in r.stdout
    r = bgctl(p.port, "status")
    assert r.returncode == 0 and "blue" in r.stdout and "10.00%" in r.stdout
    r = bgctl(p.port, "--json", "status")
    assert r.returncode == 0 and json.loads(r.stdout)["weights"]["green"] == 10.0
    r = bgctl(p.port, "set", "weight", "green", "1000")
    assert r.returncode == 1 and "weight must be" in r.stderr
    sock, _ = admin_paths(p.port)
    r = subprocess.run([os.path.join(harness.BUILD, "bgctl"), "status"], capture_output=True,
                       text=True, timeout=10, env=dict(os.environ, BGPROXY_SOCKET=sock))
    assert r.returncode == 0
    r = subprocess.run([os.path.join(harness.BUILD, "bgctl"), "-s", sock + ".nope", "status"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
