"""Process life cycle: -t, configuration errors, SIGTERM drain, access log,
max_connections, SIGUSR1 reopen (-V and --help are test_service.py)."""
import os
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import get, free_port, config_text


def _bin():
    return os.path.join(harness.BUILD, "bgproxy")



def test_check_config_ok_and_errors(env):
    good = os.path.join(env.tmp, "good.conf")
    open(good, "w").write(config_text(free_port(), ["127.0.0.1:1"], ["127.0.0.1:2"]))
    out = subprocess.run([_bin(), "-t", "-c", good], capture_output=True, text=True, timeout=5)
    assert out.returncode == 0 and "configuration OK" in out.stdout
    bad = os.path.join(env.tmp, "bad.conf")
    open(bad, "w").write(config_text(free_port(), ["127.0.0.1:1"], ["127.0.0.1:2"],
                                     extra="timeouts = { client_idle_ms = -5; bogus = 1; };\nstate_file = 5;"))
    out = subprocess.run([_bin(), "-t", "-c", bad], capture_output=True, text=True, timeout=5)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) >= 3, out.stderr
    for ln in lines:
        assert ln.startswith(bad + ":"), ln
    assert "bogus" in out.stderr and "state_file" in out.stderr and "client_idle_ms" in out.stderr
    # the example config is valid
    ex = os.path.join(os.path.dirname(harness.BUILD), "config", "bgproxy.conf")
    if not os.path.exists(ex):
        ex = "config/bgproxy.conf"
    out = subprocess.run([_bin(), "-t", "-c", ex], capture_output=True, text=True, timeout=5)
    assert out.returncode == 0, out.stderr


def test_check_crafted_includes_exit_1_with_file_line(env):
    """@include names that make libconfig 1.5 exit() from its scanner: -t
    and a start answer exit 1 with FILE:LINE:, never libconfig's exit 2."""
    base = config_text(free_port(), ["127.0.0.1:1"], ["127.0.0.1:2"])
    # the raw text names a file, libconfig's unescaped name a directory
    open(os.path.join(env.tmp, "a\\"), "w").close()
    os.mkdir(os.path.join(env.tmp, 'a"b'))
    cases = {
        "escapes": '@include "%s/a\\"b"\n' % env.tmp,
        "unknown escape": '@include "%s/a\\tb"\n' % env.tmp,
        # a regular file that cannot be read: caught by the checking child
        "unreadable": '@include "/proc/self/mem"\n',
    }
    for name, inc in cases.items():
        conf = os.path.join(env.tmp, "crafted.conf")
        with open(conf, "w") as f:
            f.write(inc + base)
        for args in (["-t", "-c", conf], ["-c", conf]):
            out = subprocess.run([_bin()] + args, capture_output=True, text=True, timeout=15)
            assert out.returncode == 1, (name, args, out.returncode, out.stderr)
            lines = out.stderr.strip().splitlines()
            assert lines and all(l.startswith(conf + ":1: ") for l in lines), (name, out.stderr)
            assert "flex" not in out.stderr or "libconfig stopped the parser" in out.stderr, out.stderr


def test_start_with_bad_config_exits_1(env):
    bad = os.path.join(env.tmp, "syntax.conf")
    open(bad, "w").write("workers = ;\n")
    out = subprocess.run([_bin(), "-c", bad], capture_output=True, text=True, timeout=5)
    assert out.returncode == 1 and out.stderr.startswith(bad + ":1:")


def test_sigterm_drain_loses_nothing(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green])
    results = []

    def worker():
        try:
            st, h, body = get(p.port, "/slow?ms=800", timeout=10)
            results.append(st)
        except Exception as e:  # noqa
            results.append(repr(e))
    ts = [threading.Thread(target=worker) for _ in range(20)]
    n0 = blue.stats()["requests"]
    for t in ts:
        t.start()
    # all 20 are in flight (reached blue) before the SIGTERM
    assert harness.wait_until(lambda: blue.stats()["requests"] >= n0 + 20, timeout=15), \
        (blue.stats(), results)
    p.signal(signal.SIGTERM)
    for t in ts:
        t.join(15)
    assert results == [200] * 20, results
    assert p.proc.wait(10) == 0
    # no longer accepting
    try:
        socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
        assert False, "still listening"
    except OSError:
        pass


def test_sigterm_idle_keepalive_closed(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green])
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    # the answer is in: the connection is an idle keep-alive one now
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head
    t0 = time.time()
    p.signal(signal.SIGTERM)
    assert p.proc.wait(5) == 0
    assert time.time() - t0 < 2
    s.close()


def test_access_log_json(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green])
    get(p.port, "/some/path?q=1", headers={"X-Request-Id": "rid-42"})
    get(p.port, "/x", method="HEAD")
    lines = p.wait_access_lines(2)    # the access log is flushed every 100 ms
    assert len(lines) >= 2, p.output()
    a = [l for l in lines if l["request_id"] == "rid-42"][0]
    for k in ("time", "client", "method", "path", "status", "bytes", "pool", "server",
              "duration_ms", "request_id"):
        assert k in a, k
    assert a["method"] == "GET" and a["path"] == "/some/path?q=1" and a["status"] == 200
    assert a["pool"] == "blue" and a["server"] == blue.addr and a["client"] == "127.0.0.1"
    assert a["bytes"] == 5


def test_access_log_file_and_reopen(env):
    blue, green = env.demo("blue"), env.demo("green")
    path = os.path.join(env.tmp, "access.log")
    p = env.proxy([blue], [green], extra='')
    p.stop()
    port = free_port()
    text = config_text(port, [blue.addr], [green.addr]).replace('access = "stderr"', 'access = "%s"' % path)
    q = harness.Proxy(env.tmp, text, port)
    env.proxies.append(q)
    get(port)
    harness.wait_until(lambda: os.path.getsize(path) > 0, timeout=10)   # flushed every 100 ms
    assert os.path.getsize(path) > 0
    os.rename(path, path + ".1")
    q.signal(signal.SIGUSR1)
    # the next request's line must go to the new file: wait for the reopen
    assert harness.wait_until(lambda: "log files reopened" in q.output(), timeout=10), q.output()
    get(port)
    harness.wait_until(lambda: os.path.exists(path) and os.path.getsize(path) > 0, timeout=10)
    assert os.path.exists(path) and os.path.getsize(path) > 0


def test_max_connections_pauses_accept(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra="limits = { max_connections = 5; };")
    held = [socket.create_connection(("127.0.0.1", p.port), timeout=5) for _ in range(5)]
    for s in held:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    # the 6th waits in the backlog and is served once a slot frees up
    result, started = [], []

    def late():
        started.append(1)
        result.append(get(p.port, timeout=10)[0])
    t = threading.Thread(target=late)
    t.start()
    assert harness.wait_until(lambda: started, timeout=10)
    # a fixed time on purpose: nothing is to happen, the 6th stays unserved
    # while it lasts (a proxy that accepted it would answer in milliseconds)
    time.sleep(0.5)
    assert result == []
    cpu0 = sum(int(x) for x in open("/proc/%d/stat" % p.proc.pid).read().split(")")[1].split()[11:13])
    # a fixed time on purpose: the CPU the proxy uses over it is the measure
    time.sleep(0.5)
    cpu1 = sum(int(x) for x in open("/proc/%d/stat" % p.proc.pid).read().split(")")[1].split()[11:13])
    assert cpu1 - cpu0 < 20, "proxy spins while at max_connections"
    held[0].close()
    t.join(5)
    assert result == [200]
    for s in held[1:]:
        s.close()


def test_workers_share_the_load(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    text = config_text(port, [blue.addr], [green.addr], {"candidate_percent": 50}).replace(
        "workers = 1;", "workers = 3;")
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    errors = []

    def client(n):
        try:
            for _ in range(n):
                st, h, body = get(port)
                if st != 200 or body not in (b"blue\n", b"green\n"):
                    errors.append((st, body))
        except Exception as e:  # noqa
            errors.append(repr(e))
    ts = [threading.Thread(target=client, args=(60,)) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert errors == []
    threads = os.listdir("/proc/%d/task" % p.proc.pid)
    assert len(threads) >= 4, threads       # main + 3 workers
    assert p.stop() == 0



def test_bgdemo_help_lists_fault_switches(env):
    out = subprocess.run([os.path.join(harness.BUILD, "bgdemo"), "--help"],
                         capture_output=True, text=True, timeout=5)
    assert out.returncode == 0, out
    for sw in ("/__ctl/fail?rate=", "/__ctl/slow?ms=", "/__ctl/close", "/__ctl/health?ok=0",
               "/__ctl/reset"):
        assert sw in out.stdout, (sw, out.stdout)
    # a wrong argument still says how to use it, on stderr, exit 2
    out = subprocess.run([os.path.join(harness.BUILD, "bgdemo"), "--bogus", "1"],
                         capture_output=True, text=True, timeout=5)
    assert out.returncode == 2 and "usage: bgdemo" in out.stderr, out
