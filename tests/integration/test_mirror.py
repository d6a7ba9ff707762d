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


def _metric(port, name):
    return metric(port, name)


def _mirror(port, result):
    return _metric(port, 'bgproxy_mirror_requests_total{result="%s"}' % result)


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
    # POST is never copied; a PUT with a body is skipped (and counted)
    _timed(p.port, 20, method="POST", body=b"x" * 10)
    _timed(p.port, 40, method="PUT", body=b"y" * 10)
    assert _mirror(mport, "skipped") > 0
    time.sleep(0.2)
    assert green.stats()["mirrored"] == before


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
