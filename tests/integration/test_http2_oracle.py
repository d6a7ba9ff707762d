"""A second opinion on the HTTP/2 to HTTP/1.1 translation: every stream
goes to ../shared/tests/oracle_backend.py, a strict RFC 9110/9112 parser
that flags anything a proxy must never forward, and its faults (a reset,
a truncated body, a bad response, a hang) must end only the stream they
hit.  Skipped when ../shared/tests is not there."""
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request

from harness import free_port, wait_until, Proxy, _spawn
from h2client import H2Client
import test_http2 as h2t

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORACLE = os.path.join(ROOT, "..", "shared", "tests", "oracle_backend.py")


class Oracle:
    def __init__(self, env, name):
        self.port, self.ctl = free_port(), free_port()
        self.log = os.path.join(env.tmp, "oracle-%s.jsonl" % name)
        self.addr = "127.0.0.1:%d" % self.port
        self.proc = _spawn([sys.executable, ORACLE, "--port", str(self.port), "--name", name,
                            "--ctl-port", str(self.ctl), "--log", self.log],
                           os.path.join(env.tmp, "oracle-%s.out" % name))
        assert wait_until(lambda: self.stats() is not None, timeout=10), "oracle did not start"

    def stats(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/stats" % self.ctl, timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def events(self):
        with open(self.log) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def _setup(env):
    if not os.path.exists(ORACLE):
        print("SKIP ../shared/tests/oracle_backend.py is not there")
        return None
    blue, green = Oracle(env, "blue"), Oracle(env, "green")
    env.demos += [blue, green]
    port = free_port()
    p = Proxy(env.tmp, h2t.h2c_conf(port, [blue.addr], [green.addr],
                                    {"candidate_percent": 50},
                                    extra="timeouts = { upstream_response_ms = 1000; };\n"), port)
    env.proxies.append(p)
    return blue, green, p


def test_what_reaches_the_servers_parses_strictly(env):
    s = _setup(env)
    if s is None:
        return
    blue, green, p = s
    c = H2Client(p.port)
    sids = []
    sids.append(c.request("/a?x=1", headers=[("cookie", "a=1"), ("cookie", "b=2"),
                                             ("accept", "*/*"), ("te", "trailers")]))
    sids.append(c.request("/post", method="POST", headers=[("content-length", "5")], body=b"hello"))
    sid = c.request("/chunked", method="POST", end=False)
    c.send_data(sid, b"x" * 70000)
    c.conn.send_headers(sid, [("x-trailer", "1")], end_stream=True)
    c.flush()
    sids.append(sid)
    sids.append(c.request("/head", method="HEAD"))
    sids.append(c.request("/opt", method="OPTIONS", headers=[("x-long", "v" * 8000)]))
    sids.append(c.request("/put", method="PUT", body=b"", headers=[("content-length", "0")]))
    sids.append(c.request("/q", pseudo=[(":method", "GET"), (":scheme", "https"),
                                        (":authority", "example.test:8443"), (":path", "/q")]))
    sids.append(c.request("/h", pseudo=[(":method", "GET"), (":scheme", "http"), (":path", "/h")],
                          headers=[("host", "only-host.test")]))
    assert c.wait(sids, timeout=20)
    for s_ in sids:
        st = c.streams[s_]
        assert st.status == 200, (s_, st.status, st.reset)
    evs = [e for o in (blue, green) for e in o.events() if e.get("ev") == "request"]
    assert len(evs) == len(sids), len(evs)
    bad = [(e["target"], e["violations"]) for e in evs if e["violations"]]
    assert not bad, bad
    for o in (blue, green):
        st = o.stats()
        assert st["violations"] == 0 and st["errors"] == 0, st
    byt = {e["target"]: e for e in evs}
    assert byt["/post"]["body_len"] == 5
    assert byt["/chunked"]["body_len"] == 70000
    def head(t):
        return byt[t]["raw_head"].lower()
    assert "\\r\\nhost: example.test:8443\\r\\n" in head("/q"), head("/q")
    assert "\\r\\nhost: only-host.test\\r\\n" in head("/h"), head("/h")
    assert "\\r\\ncookie: a=1; b=2\\r\\n" in head("/a?x=1"), head("/a?x=1")
    assert "x-forwarded-for: 127.0.0.1" in head("/a?x=1")
    c.close()


def test_faults_end_only_their_stream(env):
    s = _setup(env)
    if s is None:
        return
    blue, green, p = s
    c = H2Client(p.port)
    want = {
        "/__fault/reset/x": (502,),
        "/__fault/badresp/x": (502,),
        "/__fault/dupcl/x": (502,),
        "/__fault/bighdr/x": (502,),
        "/__fault/hang/x": (504,),
        "/__fault/503/x": (503,),
        "/__fault/close/x": (502,),
    }
    sids = {path: c.request(path) for path in want}
    trunc = c.request("/__fault/trunc/x")
    big = c.request("/__fault/big/3000000")
    ok = [c.request("/fine%d" % i) for i in range(10)]
    assert c.wait(list(sids.values()) + [trunc, big] + ok, timeout=30)
    for path, sid in sids.items():
        st = c.streams[sid]
        assert st.status in want[path], (path, st.status, st.reset)
    # a body cut short after its head went out: that stream is reset
    st = c.streams[trunc]
    assert st.status == 200 and st.reset == 2 and len(st.data) == 1000, (st.status, st.reset, len(st.data))
    st = c.streams[big]
    assert st.status == 200 and len(st.data) == 3000000
    assert hashlib.sha256(bytes(st.data)).hexdigest() == st.headers["x-body-sha256"]
    for sid in ok:
        assert c.streams[sid].status == 200
    assert not c.closed and c.goaway is None
    c.close()
