"""What a guard trip does (CONTRACT section 13, guard.on_trip): revert (as
always), step_back to the step before (and from the first step, revert),
pause at the step; each through two trips, with the evidence in the
events, the audit log, the trips counter and status."""
import time

from harness import json_status, json_events, get, admin, wait_until, admin_paths, free_port, metric

GUARD = ('guard = { interval_ms = 100; window_s = 5; min_requests = 10; '
         'max_error_rate = 0.05; on_trip = "%s"; };\n'
         'rollout = { min_requests = 0; };\n')


_status = json_status
_events = json_events


def _metric(port, name):
    return metric(port, name) or 0.0


def _setup(env, mode, method="threshold"):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    guard = (GUARD % mode).replace("guard = {", 'guard = { method = "%s";' % method, 1)
    p = env.proxy([blue], [green], {"cookie": ""}, guard +
                  'metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    return blue, green, p, mport


def _fail_until(p, pred, timeout=15):
    """Requests until pred(status) holds (the guard acted)."""
    end = time.time() + timeout
    while time.time() < end:
        get(p.port)
        st = _status(p)
        if pred(st):
            return st
    raise AssertionError("the guard did not act: %s" % _status(p))


def test_step_back_twice_then_revert(env, method="threshold"):
    blue, green, p, mport = _setup(env, "step_back", method)
    assert admin(p.port, "rollout start green steps 20,50,100 hold 3600")[0]
    assert admin(p.port, "rollout next")[0]
    assert _status(p)["weights"]["green"] == 50.0
    green.ctl("fail?rate=1")
    # first trip: back to 20%, held
    st = _fail_until(p, lambda s: s["weights"]["green"] == 20.0)
    assert st["state"] == "paused" and st["rollout"]["step"] == 0, st
    assert st["last_trip"]["action"] == "step_back", st["last_trip"]
    assert st["last_trip"]["check"] == "error_rate", st["last_trip"]
    assert st["last_trip"]["reason"].startswith("error_rate"), st["last_trip"]
    assert st["guard"]["on_trip"] == "step_back"
    ev = [e for e in _events(p) if e["kind"] == "step"][-1]
    assert "guard stepped back: step 2 -> 1" in ev["text"] and ev["evidence"].startswith(
        "error_rate"), ev
    text = admin(p.port, "status")[2]
    assert "last_trip step_back: error_rate (error_rate" in text, text
    # a trip at the first step steps back to the stable pool: reverted
    st = _fail_until(p, lambda s: s["state"] == "reverted")
    assert st["weights"]["green"] == 0.0
    assert "step_back from the first step" in st["last_revert"], st["last_revert"]
    assert _metric(mport, 'bgproxy_guard_trips_total{check="error_rate"}') == 2.0
    audit = open(admin_paths(p.port)[1]).read()
    assert "step back (by guard)" in audit and "revert (by guard)" in audit, audit[-2000:]


def test_step_back_twice_then_revert_sequential(env):
    """The same under the sequential guard: a step back begins a new
    judgement (the one that tripped would trip at every interval and walk
    the rollout back to nothing at once), which trips again at the first
    step."""
    test_step_back_twice_then_revert(env, "sequential")


def test_pause_holds_until_an_operator_then_trips_again(env):
    blue, green, p, mport = _setup(env, "pause")
    assert admin(p.port, "rollout start green steps 20,50,100 hold 0")[0]
    # hold 0 and no min_requests: only a pause keeps it from 100% at once
    assert wait_until(lambda: _status(p)["state"] == "baking", timeout=5)
    assert admin(p.port, "revert")[0]
    assert admin(p.port, "rollout start green steps 20,50,100 hold 3600")[0]
    green.ctl("fail?rate=1")
    st = _fail_until(p, lambda s: s["state"] == "paused")
    assert st["weights"]["green"] == 20.0 and st["rollout"]["step"] == 0, st
    assert st["last_trip"]["action"] == "pause"
    version = st["version"]
    # more failures: the candidate keeps its 20%, no second trip
    for i in range(40):
        get(p.port)
    assert wait_until(lambda: _status(p)["guard"]["verdict"].startswith(
        "tripped, paused: error_rate"), timeout=5), _status(p)["guard"]
    st = _status(p)
    assert st["state"] == "paused" and st["weights"]["green"] == 20.0 and \
        st["version"] == version, st
    assert _metric(mport, 'bgproxy_guard_trips_total{check="error_rate"}') == 1.0
    # the operator goes on: the guard judges again, and pauses again
    assert admin(p.port, "rollout resume")[0]
    st = _fail_until(p, lambda s: s["state"] == "paused")
    assert st["version"] > version
    assert _metric(mport, 'bgproxy_guard_trips_total{check="error_rate"}') == 2.0
    pauses = [e for e in _events(p) if e["kind"] == "pause" and e["actor"] == "guard"]
    assert len(pauses) == 2 and all(e["evidence"].startswith("error_rate") for e in pauses), \
        pauses


def test_pause_without_a_rollout_keeps_the_weight(env):
    blue, green, p, mport = _setup(env, "pause")
    assert admin(p.port, "set weight green 30")[0]
    green.ctl("fail?rate=1")
    st = _fail_until(p, lambda s: s["last_trip"] is not None)
    assert st["weights"]["green"] == 30.0 and st["state"] == "manual", st
    for i in range(30):
        get(p.port)
    assert _metric(mport, 'bgproxy_guard_trips_total{check="error_rate"}') == 1.0
    assert admin(p.port, "revert")[0]


def test_revert_is_still_the_default(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"cookie": ""},
                  GUARD.replace(' on_trip = "%s";', ''))
    assert admin(p.port, "set weight green 50")[0]
    green.ctl("fail?rate=1")
    st = _fail_until(p, lambda s: s["state"] == "reverted")
    assert st["guard"]["on_trip"] == "revert" and st["last_trip"]["action"] == "revert"
