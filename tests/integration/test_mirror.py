"""Shadow traffic with split.mirror_percent (CONTRACT section 13): copies of
the stable pool's idempotent requests go to the candidate with
X-Bgproxy-Mirror: 1; the client's answer comes from stable alone and never
waits for a copy, whether the candidate is healthy, slow, failing or dead;
copies in flight are bounded; bgproxy_mirror_requests_total counts each
result."""
import http.client
import json
import time

from harness import get, admin, wait_until, free_port, metric
from test_ends import FaultServer


def _mirror(port, result):
    return metric(port, 'bgproxy_mirror_requests_total{result="%s"}' % result)


def _setup(env, pct=100.0, extra=""):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green], {"mirror_percent": pct},
                  'metrics = { address = "127.0.0.1:%d"; };\n' % mport + extra)
    return blue, green, p, mport


def _timed(port, n, method="GET", body=None):
    """n requests on one keep-alive connection: (statuses, bodies, seconds each)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sts, bodies, times = [], [], []
    for i in range(n):
        t0 = time.time()
        c.request(method, "/", body=body)
        r = c.getresponse()
        bodies.append(r.read())
        times.append(time.time() - t0)
        sts.append(r.status)
    c.close()
    return sts, bodies, times


def _p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def test_healthy_candidate_gets_every_copy(env):
    blue, green, p, mport = _setup(env)
    sts, bodies, times = _timed(p.port, 50)
    assert sts == [200] * 50 and set(bodies) == {b"blue\n"}, (sts, set(bodies))
    assert wait_until(lambda: green.stats()["mirrored"] == 50, timeout=10), green.stats()
    assert green.stats()["requests"] == 50
    assert wait_until(lambda: _mirror(mport, "ok") == 50.0, timeout=5)
    assert _mirror(mport, "sent") == 50.0 and _mirror(mport, "error") == 0.0
    # the copies are not users: the split and the guard's windows do not see them
    st = json.loads(admin(p.port, "json status")[2])
    assert st["weights"]["green"] == 0.0 and st["pools"]["green"]["requests"] == 0, st


def test_share_methods_and_bodies(env):
    blue, green, p, mport = _setup(env, pct=50.0)
    _timed(p.port, 400)
    assert wait_until(lambda: _mirror(mport, "ok") == _mirror(mport, "sent"), timeout=10)
    sent = _mirror(mport, "sent")
    assert 140 <= sent <= 260, sent          # about half of 400
    before = green.stats()["mirrored"]
    # POST is never copied, nor counted
    skipped = _mirror(mport, "skipped")
    _timed(p.port, 20, method="POST", body=b"x" * 10)
    time.sleep(0.2)
    assert green.stats()["mirrored"] == before and _mirror(mport, "skipped") == skipped


def _chunked_put(port, pieces):
    """A PUT whose body goes in chunks; returns the answer's status and body."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest("PUT", "/")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for piece in pieces:
        c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_bodies_up_to_the_limit_go_with_the_copy(env):
    blue, green, p, mport = _setup(env, extra="limits = { mirror_body_bytes = 1000; };\n")
    body = bytes(range(256)) * 3                       # 768 bytes, each value
    sts, bodies, _ = _timed(p.port, 10, method="PUT", body=body)
    assert sts == [200] * 10 and set(bodies) == {b"blue\n"}
    assert wait_until(lambda: green.stats()["mirrored"] == 10, timeout=10), green.stats()
    gs = green.stats()
    assert gs["mirrored_body_bytes"] == 10 * len(body), gs
    assert gs["mirrored_body_sum"] == 10 * sum(body), gs
    assert wait_until(lambda: _mirror(mport, "ok") == 10.0, timeout=5)
    # Expect: 100-continue: the candidate's 100 Continue is an interim
    # answer, the final one counts
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    c.request("PUT", "/", body=b"e" * 100, headers={"Expect": "100-continue"})
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"blue\n"
    c.close()
    assert wait_until(lambda: _mirror(mport, "ok") == 11.0, timeout=5), (
        _mirror(mport, "ok"), _mirror(mport, "error"))
    assert _mirror(mport, "error") == 0.0
    assert wait_until(lambda: green.stats()["mirrored_body_bytes"] == 10 * len(body) + 100,
                      timeout=5), green.stats()
    base_bytes = 10 * len(body) + 100
    # over the limit: the request is served, the copy skipped
    sk = _mirror(mport, "skipped")
    sts, bodies, _ = _timed(p.port, 5, method="PUT", body=b"z" * 1001)
    assert sts == [200] * 5 and _mirror(mport, "skipped") == sk + 5
    # chunked: copied with its framing while it stays within the limit,
    # given up once it grows past it
    st, b = _chunked_put(p.port, [b"a" * 300, b"b" * 300])
    assert st == 200 and b == b"blue\n"
    assert wait_until(lambda: green.stats()["mirrored_body_bytes"] == base_bytes + 600,
                      timeout=10), green.stats()
    st, b = _chunked_put(p.port, [b"c" * 600, b"d" * 600])
    assert st == 200 and b == b"blue\n"
    assert wait_until(lambda: _mirror(mport, "skipped") == sk + 6, timeout=5)
    assert green.stats()["mirrored"] == 12
    # limits.mirror_body_bytes = 0: no copy has a body
    p2 = env.proxy([blue], [green], {"mirror_percent": 100.0},
                   "limits = { mirror_body_bytes = 0; };\n")
    _timed(p2.port, 3, method="PUT", body=b"q")
    _timed(p2.port, 3)
    assert wait_until(lambda: green.stats()["mirrored"] == 15, timeout=10), green.stats()
    assert green.stats()["mirrored_body_bytes"] == base_bytes + 600


def test_h2_request_bodies_go_with_the_copy(env):
    """An HTTP/2 request body, with a content-length and without one (then
    chunked to the servers), is copied as the stable server gets it."""
    from h2client import H2Client
    from test_http2 import h2c_conf
    from harness import Proxy
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    p = Proxy(env.tmp, h2c_conf(port, [blue.addr], [green.addr], {"mirror_percent": 100.0}),
              port)
    env.proxies.append(p)
    c = H2Client(p.port)
    body = bytes(range(256)) * 4
    sids = [c.request("/", "PUT", headers=[("content-length", str(len(body)))], body=body),
            c.request("/", "PUT", body=body)]
    assert c.wait(sids)
    for sid in sids:
        assert c.streams[sid].status == 200 and c.streams[sid].data == b"blue\n"
    c.close()
    assert wait_until(lambda: green.stats()["mirrored"] == 2, timeout=10), green.stats()
    gs = green.stats()
    assert gs["mirrored_body_bytes"] == 2 * len(body) and \
        gs["mirrored_body_sum"] == 2 * sum(body), gs


def test_slow_candidate_adds_no_latency(env):
    blue, green, p, mport = _setup(env)
    _timed(p.port, 20)                       # warm up
    base = _p99(_timed(p.port, 50)[2])
    green.ctl("slow?ms=2000")
    sts, bodies, times = _timed(p.port, 50)
    assert sts == [200] * 50 and set(bodies) == {b"blue\n"}
    # a copy waits 2 s at the candidate; no client does
    assert _p99(times) < max(0.5, base * 5), (_p99(times), base)
    assert _mirror(mport, "sent") >= 50.0


def test_dead_candidate_costs_no_client_error(env):
    blue, green, p, mport = _setup(env)
    green.stop()
    sts, bodies, times = _timed(p.port, 50)
    assert sts == [200] * 50 and set(bodies) == {b"blue\n"}
    assert wait_until(lambda: _mirror(mport, "error") >= 1.0, timeout=10)
    assert _mirror(mport, "ok") == 0.0


def test_copies_in_flight_are_bounded(env):
    blue, green, p, mport = _setup(env, extra="limits = { mirror_inflight = 2; };\n")
    green.ctl("slow?ms=3000")
    sts, bodies, times = _timed(p.port, 20)
    assert sts == [200] * 20
    assert _mirror(mport, "sent") == 2.0 and _mirror(mport, "skipped") == 18.0, (
        _mirror(mport, "sent"), _mirror(mport, "skipped"))
    assert wait_until(lambda: _mirror(mport, "ok") == 2.0, timeout=10)


class _HeadServer(FaultServer):
    """A candidate that answers each copy as its path says, then closes:
    /interim  100 Continue, then 204 (the final head counts)
    /garbage  a head the strict parser refuses (a status of letters)
    /status5  503
    (FaultServer's socket and accept loop, its own answers)"""

    def _serve(self, c):
        buf = b""
        c.settimeout(10)
        try:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            path = buf.split(b" ")[1]
            if path.startswith(b"/interim"):
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
            elif path.startswith(b"/garbage"):
                c.sendall(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")
            else:
                c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            c.close()


def test_copy_answers_read_by_the_strict_parser(env):
    """A copy's answer is read with the parser a live response meets: an
    interim head is followed by the final one, which counts; a head the
    parser refuses is an error (protocol) for the guard's shadow figures."""
    cand = _HeadServer()
    env.demos.append(cand)
    blue = env.demo("blue")
    mport = free_port()
    p = env.proxy([blue], [cand], {"mirror_percent": 100.0},
                  'metrics = { address = "127.0.0.1:%d"; };\n' % mport)

    def shadow():
        return json.loads(admin(p.port, "json status")[2])["shadow"]["copies"]

    for path, want_err in (("/interim", 0), ("/garbage", 1), ("/status5", 2)):
        st, h, body = get(p.port, path)
        assert st == 200 and body == b"blue\n", (path, st)
        assert wait_until(lambda: shadow()["requests"] >= 1 + ["/interim", "/garbage",
                                                               "/status5"].index(path),
                          timeout=10), shadow()
        errs = round(shadow()["error_rate"] * shadow()["requests"])
        assert errs == want_err, (path, shadow())
    assert _mirror(mport, "ok") == 1 and _mirror(mport, "error") == 2, (
        _mirror(mport, "ok"), _mirror(mport, "error"))
