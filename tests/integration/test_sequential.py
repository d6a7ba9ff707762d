"""guard.method = "sequential" (CONTRACT.md section 15), end to end on the
real binary: a failing candidate reverted within a few of its requests, a
step that waits for evidence, and the pause after max_inconclusive_s."""
import json
import os
import subprocess
import time

from harness import get, Traffic, wait_until, admin, config_text, free_port, metric, json_events


def _status(port):
    return json.loads(admin(port, "json status")[2])


def _env(env, guard="", rollout="", default=False, interval_ms=100):
    """default: no method named (the default guard is the sequential one)."""
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    method = "# the default guard\n" if default else 'method = "sequential";'
    extra = ('guard = { %s interval_ms = %d; window_s = 60; %s };\n'
             'rollout = { %s };\nmetrics = { address = "127.0.0.1:%d"; };\n'
             % (method, interval_ms, guard, rollout, mport))
    p = env.proxy([blue], [green], {"cookie": ""}, extra=extra)
    p.mport = mport
    return blue, green, p


def test_failing_candidate_reverted_within_ten_of_its_requests(env):
    """At a low rate (one request at a time), green at 5% failing every
    request: reverted by the judge's error_rate after at most 10 green
    requests (CONTRACT: within 10 at the defaults, at any traffic rate)."""
    blue, green, p = _env(env, default=True)
    green.ctl("fail?rate=1")
    assert admin(p.port, "set weight green 5")[0]
    end = time.time() + 60
    while time.time() < end and _status(p.port)["state"] != "reverted":
        get(p.port)
        time.sleep(0.02)
    st = _status(p.port)
    assert st["state"] == "reverted", st
    g = st["guard"]
    assert (g["method"], g["alpha"], g["max_error_ratio"], g["max_inconclusive_s"]) == (
        "sequential", 0.01, 1.5, 600), g
    assert st["last_revert"].startswith("error_rate beyond its limit: evidence "), st
    assert "(alpha 0.01)" in st["last_revert"], st
    # every green request is in the 60 s window: at most 10 before the trip
    # (one guard interval of 100 ms may add the odd one)
    assert st["pools"]["green"]["requests"] <= 10, st["pools"]["green"]
    ok, first, ev = admin(p.port, "show events")
    assert "by guard" in ev and "error_rate beyond its limit" in ev, ev
    # the revert's event carries the judge's evidence of every check on
    rev = [e for e in json_events(p) if e["kind"] == "revert"]
    assert len(rev) == 1, rev
    evid = rev[0]["evidence"]
    assert evid.startswith("error_rate beyond its limit: evidence "), evid
    assert " | judge: alpha 0.01; since the rollout began green " in evid, evid
    assert "; error_rate trip: beyond " in evid and "; error_ratio " in evid, evid
    assert metric(p.mport, 'bgproxy_guard_trips_total{check="error_rate"}') == 1
    # reverted: from the next guard interval on nothing is judged, no evidence exported
    assert wait_until(lambda: metric(p.mport, 'bgproxy_guard_evidence{check="error_rate"}') == 0)
    ok, first, text = admin(p.port, "explain")
    assert ok and "not judging" in text, text


def test_a_step_waits_for_evidence_then_advances(env):
    """With no traffic the hold passes and the step stays, saying it waits
    for evidence; with clean traffic the evidence comes and it advances."""
    blue, green, p = _env(env, guard="alpha = 0.05; max_error_rate = 0.2;",
                          rollout="hold_s = 1; min_requests = 0;")
    ok, first, rest = admin(p.port, "rollout start green steps 10,50,100 hold 1")
    assert ok, first

    def waits_for_evidence():
        st = _status(p.port)
        return "evidence" in (st["rollout"].get("waiting_for") or "") and st

    st = wait_until(waits_for_evidence, timeout=10)
    assert st, _status(p.port)
    assert st["rollout"]["step"] == 0 and st["weights"]["green"] == 10, st
    # nothing judged: no traffic at green, the verdict says why it waits
    assert st["guard"]["verdict"].startswith(("inconclusive", "not watching")), st["guard"]
    # explain says what it waits for
    ok, first, text = admin(p.port, "explain")
    assert ok and "method sequential, alpha 0.05" in text, text
    tr = Traffic(env, p.port, max_s=120)

    def judged():
        ex = json.loads(admin(p.port, "json explain")[2])
        return ex.get("judging") and ex["step_requests"] > 0 and ex

    ex = wait_until(judged, timeout=30)
    assert ex, admin(p.port, "json explain")
    assert ex["method"] == "sequential" and ex["candidate"] == "green", ex
    names = [c["check"] for c in ex["checks"]]
    assert names == ["error_rate", "error_ratio"], names
    # alpha 0.05: a trip at a tenth of it for error_rate, nine tenths for the
    # ratio; clean at half of it each
    bounds = {c["check"]: (round(c["beyond"]["bound"]), round(c["within"]["bound"]))
              for c in ex["checks"]}
    assert bounds == {"error_rate": (200, 40), "error_ratio": (22, 40)}, bounds
    for c in ex["checks"]:
        assert c["verdict"] in ("inconclusive", "clean"), c
    assert 0 < metric(p.mport, 'bgproxy_guard_evidence{check="error_rate"}') < 40
    assert metric(p.mport, 'bgproxy_guard_evidence{check="p99"}') == 0
    st = wait_until(lambda: (lambda s: s["rollout"] and s["rollout"]["step"] >= 1 and s)(
        _status(p.port)), timeout=90, step=0.2)
    assert st and st["weights"]["green"] >= 50, _status(p.port)
    # the timer's step rests on the judge's evidence, and its event says so
    steps = [e for e in json_events(p) if e["actor"] == "rollout timer" and e["kind"] != "rollout"]
    assert steps, json_events(p)
    assert "judge: alpha 0.05; " in steps[0]["evidence"], steps[0]
    assert "; error_rate clean: " in steps[0]["evidence"], steps[0]
    tr.stop()
    assert not tr.failed, tr.failed[:5]


def test_inconclusive_step_pauses_after_max_inconclusive_s(env):
    blue, green, p = _env(env, rollout="hold_s = 0; min_requests = 0; max_inconclusive_s = 1;")
    ok, first, rest = admin(p.port, "rollout start green steps 10,100 hold 0")
    assert ok, first
    st = wait_until(lambda: (lambda s: s["state"] == "paused" and s)(_status(p.port)), timeout=15)
    assert st, _status(p.port)
    assert st["weights"]["green"] == 10, st
    ok, first, ev = admin(p.port, "show events")
    assert "inconclusive for 1 s" in ev, ev


def test_bad_sequential_config_values(env):
    blue, green = env.demo("blue"), env.demo("green")
    bgproxy = os.path.join(os.environ["BGPROXY_BUILD"], "bgproxy")
    for extra, want in (
            ('guard = { method = "bayes"; };', '"guard.method"'),
            ("guard = { alpha = 0.9; };", '"guard.alpha" must be'),
            ("guard = { max_error_ratio = -2.0; };", '"guard.max_error_ratio" must be'),
            ("rollout = { max_inconclusive_s = -1; };", '"rollout.max_inconclusive_s" must be')):
        path = os.path.join(env.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(config_text(free_port(), [blue.addr], [green.addr], extra=extra + "\n"))
        r = subprocess.run([bgproxy, "-t", "-c", path], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and want in r.stderr, (extra, r.stderr)


def test_low_traffic_failing_candidate_never_advances(env):
    """CONTRACT 15 / issue 22: ~19 requests a second of fresh users, `rollout
    start green` at the defaults (hold 1 s so that a step could move), green
    failing every request: no step advances, and the revert comes within 10
    green answers."""
    blue, green, p = _env(env, default=True, rollout="hold_s = 1;")
    green.ctl("fail?rate=1")
    ok, first, rest = admin(p.port, "rollout start green hold 1")
    assert ok, first
    steps = set()
    end = time.time() + 120
    while time.time() < end:
        st = _status(p.port)
        if st["state"] == "reverted":
            break
        if st["rollout"]:
            steps.add(st["rollout"]["step"])
        get(p.port)
        time.sleep(0.05)
    st = _status(p.port)
    assert st["state"] == "reverted", st
    assert steps == {0}, steps
    assert st["pools"]["green"]["requests"] <= 10, st["pools"]["green"]


def test_equal_pools_at_4pct_advance_and_never_trip(env):
    """Both pools fail 4% of requests (max_error_rate 0.05): no trip, and
    the rollout walks 10 -> 50 -> 100 as the evidence comes.  At alpha 0.001:
    equal pools may trip in up to alpha of runs (the simulator: 0.2% at
    0.01), and a test must not fail by chance one CI run in a hundred."""
    blue, green, p = _env(env, default=True, guard="alpha = 0.001;")
    blue.ctl("fail?rate=0.04")
    green.ctl("fail?rate=0.04")
    ok, first, rest = admin(p.port, "rollout start green steps 10,50,100 hold 2")
    assert ok, first
    tr = Traffic(env, p.port, max_s=400)

    def done():
        st = _status(p.port)
        assert st["state"] != "reverted", st
        return st["weights"]["green"] == 100 and st

    st = wait_until(done, timeout=400, step=0.5)
    tr.stop()
    assert st, (_status(p.port), admin(p.port, "explain")[2])
    ok, first, ev = admin(p.port, "show events")
    assert "revert" not in ev and "trip" not in ev, ev


def test_evidence_goes_on_after_a_restart(env):
    """The bound holds over the whole rollout: the evidence the judge
    gathered goes on after a restart (SIGTERM or kill -9, with a state
    file), and is forgotten once the candidate has no live traffic."""
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    state = os.path.join(env.tmp, "state")
    extra = ('state_file = "%s";\nguard = { method = "sequential"; interval_ms = 100; };\n'
             % state)
    p = env.proxy([blue], [green], {"cookie": ""}, port=port, extra=extra)
    assert admin(port, "set weight green 50")[0]

    def judged(at_least):
        ex = json.loads(admin(port, "json explain")[2])
        return ex.get("judging") and ex["counts"]["green"]["requests"] >= at_least and ex

    def traffic_until_judged(at_least):
        for _ in range(20):
            get(port)
        return judged(at_least)

    before = wait_until(lambda: traffic_until_judged(50), timeout=20)
    assert before, admin(port, "json explain")
    # written at most every 2 s: wait until the file holds what was seen
    n = before["counts"]["green"]["requests"]

    def saved():
        try:
            return json.load(open(state + ".judge"))
        except (OSError, ValueError):
            return None

    assert wait_until(saved, timeout=10)
    t0 = os.stat(state + ".judge").st_mtime_ns
    assert wait_until(lambda: os.stat(state + ".judge").st_mtime_ns != t0, timeout=10)
    p.kill9()
    env.proxy([blue], [green], {"cookie": ""}, port=port, extra=extra)
    after = wait_until(lambda: traffic_until_judged(1), timeout=20)
    assert after, admin(port, "json explain")
    # a write after `before` was read holds at least its requests
    assert after["counts"]["green"]["requests"] >= n, (n, after["counts"])
    # and so does the step's: a restart starts no step's evidence again
    assert after["step_requests"] >= before["step_requests"], (before, after)
    p2 = env.proxies[-1]
    assert "evidence gathered before the restart goes on" in p2.output()
    # a revert ends the rollout: the next one starts with no evidence
    assert admin(port, "revert")[0]
    assert wait_until(lambda: not os.path.exists(state + ".judge"), timeout=10)


def test_shadow_phase_judged_by_the_judge(env):
    """A rollout's shadow phase under the sequential guard: the judge is fed
    the copies against the stable answers to the same requests, a failing
    candidate is reverted on that evidence before any user reached it, a
    clean one moves to its first live step only once the evidence shows it
    within every limit, and the users' requests go on in the same
    judgement."""
    blue, green, p = _env(env, guard="alpha = 0.05; max_error_rate = 0.2;",
                          rollout="min_requests = 0;")
    green.ctl("fail?rate=1")
    ok, first, rest = admin(p.port, "rollout start green shadow 100 steps 10,100 hold 3600")
    assert ok, first
    seen = []
    end = time.time() + 30
    while time.time() < end and _status(p.port)["state"] != "reverted":
        st, h, body = get(p.port)
        seen.append((st, body))
    st = _status(p.port)
    assert st["state"] == "reverted", st
    assert st["last_revert"].startswith(
        "shadow copies: error_rate beyond its limit: evidence "), st["last_revert"]
    assert "green copies " in st["last_revert"] and "shadow phase" in st["last_revert"], st
    assert set(seen) == {(200, b"blue\n")}, set(seen)
    rev = [e for e in json_events(p) if e["kind"] == "revert"]
    assert " | judge: alpha 0.05; since the rollout began green copies " in rev[0]["evidence"], rev
    # mended: a new rollout's shadow phase waits for evidence, then moves on
    green.ctl("reset")
    assert admin(p.port, "set weight green 0")[0]
    ok, first, rest = admin(p.port, "rollout start green shadow 100 steps 10,100 hold 1")
    assert ok, first
    st = wait_until(lambda: (lambda s: "evidence" in (s["rollout"].get("waiting_for") or "")
                             and s)(_status(p.port)), timeout=10)
    assert st and st["rollout"]["shadow"] == 100.0 and st["weights"]["green"] == 0, st
    tr = Traffic(env, p.port, max_s=120)
    ex = wait_until(lambda: (lambda e: e.get("judging") and e["copies"] and e)(
        json.loads(admin(p.port, "json explain")[2])), timeout=20)
    assert ex and ex["candidate"] == "green", ex
    ok, first, text = admin(p.port, "explain")
    assert "green copies (the shadow phase) against blue" in text or \
        "green against blue" in text, text
    st = wait_until(lambda: (lambda s: s["weights"]["green"] == 10 and s)(_status(p.port)),
                    timeout=90, step=0.2)
    assert st and st["rollout"]["shadow"] is None, _status(p.port)
    copies = ex["counts"]["green"]["requests"]
    # the same judgement goes on with the users' requests
    ex2 = wait_until(lambda: (lambda e: e.get("judging") and not e["copies"] and
                              e["counts"]["green"]["requests"] > copies and e)(
        json.loads(admin(p.port, "json explain")[2])), timeout=30)
    assert ex2, admin(p.port, "json explain")
    steps = [e for e in json_events(p) if e["actor"] == "rollout timer" and e["kind"] == "step"]
    assert steps and "judge: alpha 0.05; since the rollout began green copies " in \
        steps[-1]["evidence"], steps
    tr.stop()
    assert not tr.failed, tr.failed[:5]


def test_late_total_failure_reverted_within_ten(env):
    """A candidate that fails every request after a clean history (2,000
    requests of it) is reverted within 10 of its failing requests, as one
    that fails from the start (CONTRACT 15: at any traffic rate)."""
    blue, green, p = _env(env, default=True)
    assert admin(p.port, "set weight green 50")[0]

    def judged(n):
        ex = json.loads(admin(p.port, "json explain")[2])
        return ex.get("judging") and ex["counts"]["green"]["requests"] >= n and ex

    end = time.time() + 120
    while time.time() < end and not judged(2000):
        for _ in range(200):
            get(p.port)
    assert judged(2000), admin(p.port, "json explain")
    assert _status(p.port)["state"] == "manual"
    green.ctl("fail?rate=1")
    failed = 0
    end = time.time() + 60
    # about one green request per guard interval (100 ms): the judge sees
    # requests by interval, so at a higher rate more than one goes by in
    # the interval the fault begins in, and in the one that trips
    while time.time() < end and _status(p.port)["state"] != "reverted":
        st, h, body = get(p.port)
        failed += st == 500
        time.sleep(0.06)
    st = _status(p.port)
    assert st["state"] == "reverted", st
    assert failed <= 10, (failed, st["last_revert"])
    assert st["last_revert"].startswith("error_rate beyond its limit"), st["last_revert"]


def test_revert_and_start_within_one_interval_is_a_new_judgement(env):
    """revert then rollout start before the guard's next interval: the new
    rollout's judgement begins with nothing of the old one's."""
    blue, green, p = _env(env, rollout="min_requests = 0;", interval_ms=1000)
    assert admin(p.port, "rollout start green steps 50,100 hold 3600")[0]

    def counted():
        ex = json.loads(admin(p.port, "json explain")[2])
        return ex.get("judging") and ex["counts"]["green"]["requests"]

    end = time.time() + 30
    while time.time() < end and (counted() or 0) < 40:
        for _ in range(40):
            get(p.port)
    assert (counted() or 0) >= 40, admin(p.port, "json explain")
    # both within one guard interval (1 s): from the revert on the old
    # judgement is over, and the next interval begins a new one
    assert admin(p.port, "revert")[0]
    assert admin(p.port, "rollout start green steps 50,100 hold 3600")[0]
    assert "not judging" in admin(p.port, "explain")[2]
    assert wait_until(lambda: json.loads(admin(p.port, "json explain")[2]).get("judging"),
                      timeout=10), admin(p.port, "json explain")
    assert counted() == 0, admin(p.port, "json explain")
    sent = 0
    while not (counted() or 0) and sent < 200:
        get(p.port)
        sent += 1
    n = wait_until(lambda: counted(), timeout=10)
    assert n and n <= sent, (sent, admin(p.port, "json explain"))
