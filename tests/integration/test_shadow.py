"""The shadow phase of a rollout (CONTRACT section 13): `rollout start POOL
shadow PERCENT` copies that share of the stable pool's requests to the
candidate before any user is sent there.  The copies are a class of their
own in the guard's figures, judged against the stable answers to the same
requests: a clean phase of hold_s moves on to the first live step, a dirty
one reverts before any user reached the candidate.  Each case with a
healthy, a slow, a failing and a dead candidate checks what the clients
saw and what the guard did."""
import http.client
import os
import time

from harness import json_status, json_events, admin, wait_until, free_port, metric

GUARD = ('guard = { interval_ms = 100; window_s = 5; min_requests = 10; %s };\n'
         'rollout = { min_requests = 0; };\n')


_status = json_status
_events = json_events


def _setup(env, guard_extra="max_error_rate = 0.05;", extra=""):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green], {"cookie": ""}, GUARD % guard_extra +
                  'metrics = { address = "127.0.0.1:%d"; };\n' % mport + extra)
    return blue, green, p, mport


class Clients:
    """Requests on one keep-alive connection, each answer and its time kept."""

    def __init__(self, port):
        self.port = port
        self.c = None
        self.statuses, self.bodies, self.times = [], [], []

    def one(self):
        if self.c is None:
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        t0 = time.time()
        closing = True
        try:
            self.c.request("GET", "/")
            r = self.c.getresponse()
            body = r.read()
            st = r.status
            closing = r.getheader("connection", "").lower() == "close"
        except (OSError, http.client.HTTPException) as e:
            st, body = 0, repr(e).encode()
        self.times.append(time.time() - t0)
        self.statuses.append(st)
        self.bodies.append(body)
        if closing:
            self.c.close()
            self.c = None

    def until(self, p, pred, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            self.one()
            st = _status(p)
            if pred(st):
                return st
        raise AssertionError("not reached: %s" % _status(p))

    def p99(self, start=0):
        xs = sorted(self.times[start:])
        return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def _mirror(mport, result):
    return metric(mport, 'bgproxy_mirror_requests_total{result="%s"}' % result) or 0.0


def test_clean_shadow_phase_moves_on_to_the_first_live_step(env):
    blue, green, p, mport = _setup(env)
    ok, first, _ = admin(p.port, "rollout start green shadow 100 steps 10,50,100 hold 2")
    assert ok, first
    st = _status(p)
    assert st["state"] == "running" and st["weights"]["green"] == 0.0, st
    assert st["rollout"]["shadow"] == 100.0 and st["rollout"]["step"] == 0, st["rollout"]
    ok, _, text = admin(p.port, "status")
    assert "rollout green shadow phase (copies of 100.00%, then step 1 of 3)" in text, text
    assert st["shadow"]["percent"] == 100.0 and st["shadow"]["copies"]["requests"] == 0, st
    cl = Clients(p.port)
    for _ in range(5):
        cl.one()
    assert wait_until(lambda: _status(p)["shadow"]["copies"]["requests"] == 5, timeout=5)
    ok, _, text = admin(p.port, "status")
    assert "\nshadow 100.00% copies/5s 5 error_rate 0.0000" in text, text
    assert "stable answers 5 error_rate 0.0000" in text, text
    # while the phase lasts no user reaches green, and the guard judges the copies
    st = cl.until(p, lambda s: s["rollout"] is not None and s["rollout"]["shadow"] is None)
    # (the last request may have met the first live step)
    assert set(cl.bodies[:-1]) == {b"blue\n"}, set(cl.bodies)
    assert st["weights"]["green"] == 10.0 and st["rollout"]["step"] == 0, st
    assert green.stats()["mirrored"] >= 10
    assert all(s == 200 for s in cl.statuses)
    kinds = [(e["kind"], e["text"]) for e in _events(p)]
    assert any(k == "rollout" and "shadow phase" in m for k, m in kinds), kinds
    assert any(k == "step" and "step 1 of 3" in m for k, m in kinds), kinds
    # after the phase the copies stop: only the users' share reaches green
    sent = _mirror(mport, "sent")
    for _ in range(20):
        cl.one()
    assert _mirror(mport, "sent") == sent
    assert st["guard"]["verdict"].startswith("clean")


def test_failing_candidate_reverts_before_any_user(env):
    blue, green, p, mport = _setup(env)
    green.ctl("fail?rate=1")
    assert admin(p.port, "rollout start green shadow 50 steps 10,100 hold 3600")[0]
    cl = Clients(p.port)
    st = cl.until(p, lambda s: s["state"] == "reverted")
    assert st["weights"]["green"] == 0.0
    assert "shadow copies: error_rate" in st["last_revert"], st["last_revert"]
    assert "shadow phase" in st["last_revert"], st["last_revert"]
    assert st["last_trip"]["check"] == "error_rate", st["last_trip"]
    # the copies' window, beside the stable answers to the same requests
    sh = st["shadow"]
    assert sh["percent"] == 0.0 and sh["copies"]["error_rate"] == 1.0, sh
    assert sh["stable"]["error_rate"] == 0.0 and sh["stable"]["requests"] >= 10, sh
    # every client was answered by blue; green saw copies only
    assert set(cl.statuses) == {200} and set(cl.bodies) == {b"blue\n"}
    gs = green.stats()
    assert gs["requests"] == gs["mirrored"] > 0, gs
    assert metric(mport, 'bgproxy_guard_trips_total{check="error_rate"}') == 1.0
    ok, _, text = admin(p.port, "status")
    assert "rollout green reverted in its shadow phase (no user)" in text, text
    # a revert stops the copies
    sent = _mirror(mport, "sent")
    for _ in range(20):
        cl.one()
    assert _mirror(mport, "sent") == sent
    # green mended: a new shadow phase is judged on its own copies, not on
    # the failed ones still in the window
    green.ctl("reset")
    assert admin(p.port, "set weight green 0")[0]
    assert admin(p.port, "rollout start green shadow 50 steps 10,100 hold 2")[0]
    st = cl.until(p, lambda s: s["state"] == "reverted" or s["weights"]["green"] == 10.0)
    assert st["state"] == "running" and st["weights"]["green"] == 10.0, st


def test_dead_candidate_costs_no_client_error_and_reverts(env):
    blue, green, p, mport = _setup(env)
    green.stop()
    assert admin(p.port, "rollout start green shadow 100 hold 3600")[0]
    cl = Clients(p.port)
    st = cl.until(p, lambda s: s["state"] == "reverted")
    assert set(cl.statuses) == {200} and set(cl.bodies) == {b"blue\n"}, set(cl.statuses)
    assert "shadow copies:" in st["last_revert"], st["last_revert"]
    assert _mirror(mport, "error") >= 10.0 and _mirror(mport, "ok") == 0.0


def test_slow_candidate_adds_no_latency_and_trips_on_p99(env):
    blue, green, p, mport = _setup(env, "max_error_rate = 0.05; max_p99_ms = 500;",
                                   "limits = { mirror_inflight = 1000; };\n")
    cl = Clients(p.port)
    for _ in range(30):
        cl.one()
    base = cl.p99()
    green.ctl("slow?ms=2000")
    assert admin(p.port, "rollout start green shadow 100 hold 3600")[0]
    start = len(cl.times)
    st = cl.until(p, lambda s: s["state"] == "reverted", timeout=30)
    assert set(cl.statuses) == {200} and set(cl.bodies) == {b"blue\n"}
    # the copies waited 2 s at green; no client did
    assert cl.p99(start) < max(0.5, base * 5), (cl.p99(start), base)
    assert "shadow copies: p99" in st["last_revert"], st["last_revert"]


def test_copies_judged_against_the_stable_answers(env):
    """max_error_delta compares the copies with the stable pool's answers to
    the same requests: both failing alike is no reason to revert."""
    blue, green, p, mport = _setup(env, "max_error_rate = 1.0; max_error_delta = 0.2;")
    blue.ctl("fail?rate=0.5")
    green.ctl("fail?rate=0.5")
    assert admin(p.port, "rollout start green shadow 100 steps 10,100 hold 3")[0]
    cl = Clients(p.port)
    st = cl.until(p, lambda s: s["rollout"] is not None and s["rollout"]["shadow"] is None)
    assert st["weights"]["green"] == 10.0, st
    assert admin(p.port, "revert")[0]
    # green now fails every copy, blue half of its answers: a delta of 0.5
    green.ctl("fail?rate=1")
    assert admin(p.port, "set weight green 0")[0]
    assert admin(p.port, "rollout start green shadow 100 hold 3600")[0]
    st = cl.until(p, lambda s: s["state"] == "reverted")
    assert "shadow copies: error_delta" in st["last_revert"], st["last_revert"]


def test_gates_bad_input_and_a_restart(env):
    state_file = os.path.join(env.tmp, "shadow.state")
    conf = 'state_file = "%s";\n' % state_file
    blue, green, p, mport = _setup(env, extra=conf)
    for bad, why in (("rollout start green shadow 0", "shadow must be a percentage"),
                     ("rollout start green shadow 101", "shadow must be a percentage"),
                     ("rollout start green shadow", "needs a value"),
                     ("rollout start green shadow 5 shadow 6", "given twice")):
        ok, first, _ = admin(p.port, bad)
        assert not ok and why in first, (bad, first)
    assert _status(p)["rollout"] is None
    # a shadow phase comes before any user: not with the candidate at 5%
    assert admin(p.port, "set weight green 5")[0]
    v = _status(p)["version"]
    ok, first, _ = admin(p.port, "rollout start green shadow 10")
    assert not ok and "shadow phase comes before any user" in first, first
    assert _status(p)["version"] == v
    assert admin(p.port, "set weight green 0")[0]
    # pause and resume work in the phase
    assert admin(p.port, "rollout start green shadow 25 steps 5,100 hold 3600")[0]
    ok, first, rest = admin(p.port, "rollout pause")
    assert ok and "shadow phase" in first + rest, (first, rest)
    assert _status(p)["rollout"]["shadow"] == 25.0
    # the phase survives a restart (the state file), running or paused
    for paused in (True, False):
        if not paused:
            assert admin(p.port, "rollout resume")[0]
        p.stop()
        p = env.proxy([blue], [green], {"cookie": ""}, GUARD % "max_error_rate = 0.05;" + conf, port=p.port)
        st = _status(p)
        assert st["rollout"]["shadow"] == 25.0, st
        assert st["state"] == ("paused" if paused else "running"), st
        assert st["weights"]["green"] == 0.0
    # next goes to the first live step
    ok, first, rest = admin(p.port, "rollout next")
    assert ok and "step 1 of 2" in first + rest, (first, rest)
    st = _status(p)
    assert st["rollout"]["shadow"] is None and st["weights"]["green"] == 5.0, st
