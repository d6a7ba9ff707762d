"""Health checks, the guard and the rollout engine, end to end: canaries
that walk to 100%, and canaries that fail and are reverted by themselves."""
import json
import os
import socket
import time

from harness import get, free_port, Traffic, ws_open, wait_until, admin


GUARD_BASE = {"interval_ms": "100", "window_s": "5", "min_requests": "20", "max_error_rate": "0.05"}


class _Guard:
    """GUARD % "key = value; ..." gives a guard group with those keys
    overriding the test defaults."""

    def __mod__(self, extra):
        keys = dict(GUARD_BASE)
        for part in extra.split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                keys[k.strip()] = v.strip()
        return "guard = { %s };" % " ".join("%s = %s;" % kv for kv in keys.items())


GUARD = _Guard()


def _status(port):
    return json.loads(admin(port, "json status")[2])


_wait = wait_until


def _guard_saw_all(port):
    """True once the guard's verdict counts every candidate request now in
    its window (it ran after the last of them), or once it acted."""
    st = _status(port)
    if st["state"] != "manual":
        return True
    cand = "green" if st["stable"] == "blue" else "blue"
    return st["guard"]["verdict"] == "clean: %d candidate requests in %d s" % (
        st["pools"][cand]["requests"], st["window_s"])


def _env(env, guard_extra="", extra="", **split):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], split, extra=(GUARD % guard_extra) + "\n" + extra)
    return blue, green, p


def test_clean_rollout_reaches_100_and_promotes(env):
    blue, green, p = _env(env, extra="rollout = { hold_s = 1; };")
    tr = Traffic(env, p.port)
    ok, first, rest = admin(p.port, "rollout start green steps 10,50,100 hold 1")
    assert ok, first
    st = _status(p.port)
    assert st["state"] == "running" and st["rollout"]["step"] == 0 and st["weights"]["green"] == 10
    assert st["rollout"]["steps"] == [10, 50, 100] and st["rollout"]["hold_s"] == 1
    assert _wait(lambda: _status(p.port)["state"] == "baking", timeout=8)
    assert _status(p.port)["weights"]["green"] == 100
    assert admin(p.port, "promote")[0]
    st = _status(p.port)
    assert st["stable"] == "green" and st["state"] == "idle" and st["rollout"] is None
    tr.stop()
    assert tr.failed == [] and tr.ok > 20, (tr.failed[:5], tr.ok)
    ok, first, ev = admin(p.port, "show events")
    assert "rollout of green started" in ev and "by rollout timer" in ev and "promote" in ev


def test_bake_s_promotes_by_itself(env):
    blue, green, p = _env(env, guard_extra="bake_s = 1;")
    assert admin(p.port, "switch green")[0]
    assert _status(p.port)["state"] == "baking"
    assert _wait(lambda: _status(p.port)["stable"] == "green", timeout=5)
    assert _status(p.port)["state"] == "idle"


def test_rollout_gates(env):
    blue, green, p = _env(env)
    assert not admin(p.port, "rollout next")[0]
    assert admin(p.port, "rollout start green steps 1,5,100 hold 3600")[0]
    ok, first, rest = admin(p.port, "rollout start green")
    assert not ok and "in progress" in first
    assert admin(p.port, "rollout pause")[0]
    assert _status(p.port)["state"] == "paused"
    # pausing a paused rollout changes nothing, and says so
    ok, first, rest = admin(p.port, "rollout pause")
    assert ok and "(no change)" in rest, rest
    assert admin(p.port, "rollout next")[0]
    st = _status(p.port)
    assert st["rollout"]["step"] == 1 and st["weights"]["green"] == 5 and st["state"] == "paused"
    assert admin(p.port, "rollout resume")[0]
    assert _status(p.port)["state"] == "running"
    assert admin(p.port, "rollout next")[0]
    assert _status(p.port)["state"] == "baking"
    assert admin(p.port, "rollout abort")[0]
    st = _status(p.port)
    assert st["state"] == "reverted" and st["weights"]["green"] == 0


def test_failing_canary_reverted_after_min_requests(env):
    blue, green, p = _env(env)
    green.ctl("fail?rate=1")
    assert admin(p.port, "set weight green 50")[0]
    err_times = []
    end = time.time() + 5
    while time.time() < end:
        st, h, body = get(p.port)
        if st == 500:
            err_times.append(time.time())
        if len(err_times) > 20 and time.time() - err_times[-1] > 0.5:
            break
    st = _status(p.port)
    assert st["state"] == "reverted" and st["weights"]["blue"] == 100, st
    assert st["last_revert"].startswith("error_rate 1.00 > 0.05 over 5s, n="), st["last_revert"]
    n = int(st["last_revert"].split("n=")[1].split()[0])
    assert n >= 20
    # the last failure a client saw came within about one guard interval
    # (100 ms) after the min_requests-th
    assert err_times[-1] - err_times[19] < 0.35, err_times[-1] - err_times[19]
    assert all(get(p.port)[0] == 200 for _ in range(20))
    ok, first, ev = admin(p.port, "show events")
    assert "by guard" in ev and "error_rate" in ev
    assert "guard reverted green" in p.output()
    ok, first, text = admin(p.port, "status")
    assert "state reverted" in text and " s left" not in text, text
    audit = [json.loads(l) for l in open(__import__("harness").admin_paths(p.port)[1])]
    guard = [a for a in audit if "by guard" in a["command"]]
    # the evidence in a field of its own, the result is the outcome
    assert len(guard) == 1 and guard[0]["result"] == "OK", audit
    assert st["last_revert"].startswith(guard[0]["evidence"] + " (by guard at "), guard
    assert guard[0]["new"]["blue"] == 100 and guard[0]["old"]["green"] > 0, guard


def test_dead_canary_reverted_and_gets_retried(env):
    blue, green, p = _env(env)
    green.stop()
    assert admin(p.port, "set weight green 50")[0]
    tr = Traffic(env, p.port)
    assert _wait(lambda: _status(p.port)["state"] == "reverted", timeout=10)
    # and traffic goes on after the revert
    ok0 = tr.ok
    assert _wait(lambda: tr.ok >= ok0 + 10 or tr.failed, timeout=10), (tr.ok, tr.failed[:5])
    tr.stop()
    assert tr.failed == [], tr.failed[:5]          # GETs were retried on blue
    st = _status(p.port)
    assert st["last_revert"].startswith("error_rate") or st["last_revert"].startswith("healthy")


def test_failed_health_checks_revert_without_traffic(env):
    blue, green = env.demo("blue"), env.demo("green")
    health = 'health = { path = "/healthz"; interval_ms = 100; timeout_ms = 50; rise = 1; fall = 2; };'
    text_extra = GUARD % ""
    p = env.proxy([blue], [green], extra=text_extra)
    conf = open(p.conf).read().replace(
        "green = { servers = ( { address = \"%s\"; } ); };" % green.addr,
        "green = { servers = ( { address = \"%s\"; } ); %s };" % (green.addr, health))
    open(p.conf, "w").write(conf)
    assert admin(p.port, "reload")[0]
    assert admin(p.port, "set weight green 10")[0]
    # a healthy green stays: several health checks pass and the guard,
    # watching green now, finds it clean
    h0 = green.stats()["health_checks"]

    def checked():
        st = _status(p.port)
        return st["state"] != "manual" or (green.stats()["health_checks"] >= h0 + 3 and
                                           st["guard"]["verdict"].startswith("clean"))
    assert _wait(checked, timeout=10), (green.stats(), _status(p.port)["guard"])
    assert _status(p.port)["state"] == "manual"
    green.ctl("health?ok=0")
    assert _wait(lambda: _status(p.port)["state"] == "reverted", timeout=5)
    st = _status(p.port)
    assert st["last_revert"].startswith("healthy 0/1 < 0.5 (by guard at "), st["last_revert"]
    d = st["last_revert_detail"]
    assert d["reason"] == "healthy 0/1 < 0.5" and d["actor"] == "guard" and d["time_ms"] > 0, d
    ok, first, rest = admin(p.port, "show servers")
    assert "green %s down" % green.addr in rest
    green.ctl("health?ok=1")
    assert _wait(lambda: "green %s up" % green.addr in admin(p.port, "show servers")[2], timeout=5)


def test_slow_canary_trips_p99(env):
    blue, green, p = _env(env, guard_extra="max_p99_ms = 150; min_requests = 5;")
    green.ctl("slow?ms=300")
    assert admin(p.port, "set weight green 100")[0]
    tr = Traffic(env, p.port)
    assert _wait(lambda: _status(p.port)["state"] == "reverted", timeout=20)
    tr.stop()
    r = _status(p.port)["last_revert"]
    assert r.startswith("p99 ") and "> 150ms" in r, r


def test_canary_as_bad_as_stable_does_not_trip_delta(env):
    blue, green, p = _env(env, guard_extra="max_error_rate = 1.0; max_error_delta = 0.2;")
    blue.ctl("fail?rate=0.3")
    green.ctl("fail?rate=0.3")
    assert admin(p.port, "set weight green 50")[0]
    for _ in range(200):
        get(p.port)
    # the guard has judged all of them
    assert _wait(lambda: _guard_saw_all(p.port), timeout=10), _status(p.port)
    assert _status(p.port)["state"] == "manual"
    green.ctl("fail?rate=1")
    for _ in range(200):
        get(p.port)
        if _status(p.port)["state"] == "reverted":
            break
    assert _wait(lambda: _status(p.port)["state"] == "reverted", timeout=3)
    r = _status(p.port)["last_revert"]
    assert r.startswith("error_delta ") and "(green " in r and ", blue " in r, r


def test_dry_run_records_and_does_not_act(env):
    blue, green, p = _env(env, guard_extra="dry_run = true;")
    green.ctl("fail?rate=1")
    assert admin(p.port, "set weight green 50")[0]
    verdicts = set()
    # traffic over many guard intervals, so that the window's count (n=)
    # and thus the verdict's text change between them
    for batch in range(6):
        before = _status(p.port)["dry_run_verdict"]
        for _ in range(80 if batch == 0 else 20):
            get(p.port)
        # wait for a guard tick that has seen this batch
        assert _wait(lambda: _status(p.port)["dry_run_verdict"] not in (None, before),
                     timeout=5), before
        verdicts.add(_status(p.port)["dry_run_verdict"])
    assert len(verdicts) >= 3, verdicts        # the figures did change
    st = _status(p.port)
    assert st["state"] == "manual" and st["weights"]["green"] == 50
    assert st["dry_run"] is True and st["last_revert"] is None
    assert st["dry_run_verdict"].startswith("would revert green: error_rate 1.00 > 0.05"), st
    ok, first, ev = admin(p.port, "show events")
    assert "dry run: would revert green: error_rate" in ev
    assert ev.count("dry run") == 1, ev   # recorded once per kind of verdict, not per text
    ok, first, text = admin(p.port, "status")
    assert "dry_run would revert green: error_rate" in text, text
    # the guard does not watch an idle candidate: nothing to say
    assert admin(p.port, "set weight green 0")[0]
    assert _wait(lambda: _status(p.port)["dry_run_verdict"] is None, timeout=5)


def test_revert_closes_websocket_to_reverted_pool(env):
    blue, green, p = _env(env)
    assert admin(p.port, "set weight green 100")[0]
    ws_green = ws_open(p.port)[0]
    ws_blue = ws_open(p.port, b"X-Bgproxy-Pool: blue\r\n")[0]
    assert admin(p.port, "revert")[0]
    ws_green.settimeout(5)
    t0 = time.time()
    data = b""
    try:
        while True:
            b = ws_green.recv(4096)
            if not b:
                break
            data += b
    except OSError:
        pass
    assert time.time() - t0 < 4
    # the tunnel to the stable pool is untouched
    ws_blue.settimeout(0.5)
    try:
        assert ws_blue.recv(1) != b""
    except socket.timeout:
        pass
    ws_blue.close()
    ws_green.close()


def test_kill9_during_rollout_resumes_at_same_step(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    state = os.path.join(env.tmp, "state")
    extra = 'state_file = "%s";\n' % state + GUARD % ""
    p = env.proxy([blue], [green], port=port, extra=extra)
    assert admin(port, "rollout start green steps 10,25,50,100 hold 3600")[0]
    assert admin(port, "rollout next")[0]
    assert admin(port, "rollout pause")[0]
    p.kill9()
    env.proxy([blue], [green], port=port, extra=extra)
    st = _status(port)
    assert st["state"] == "paused" and st["rollout"]["step"] == 1 and st["weights"]["green"] == 25
    assert admin(port, "rollout resume")[0]
    st = _status(port)
    assert st["state"] == "running" and st["rollout"]["step_left_s"] > 3500
    # an operator's revert ends it: status names the step, no clock runs
    assert admin(port, "rollout abort")[0]
    ok, first, text = admin(port, "status")
    assert "rollout green reverted at step 2 of 4 (25.00%)" in text and " s left" not in text, text


def test_retries_counted_in_metrics(env):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green], extra="metrics = { address = \"127.0.0.1:%d\"; };\n" % mport
                  + GUARD % "min_requests = 1000;")
    green.ctl("fail?rate=0")
    green.stop()
    assert admin(p.port, "set weight green 100")[0]
    for _ in range(5):
        st, h, body = get(p.port)
        assert st == 200 and body == b"blue\n"
    st, h, body = get(mport, "/metrics")
    m = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in body.decode().splitlines()
         if l and not l.startswith("#")}
    # three connect failures (each retried on blue), then green is out of
    # rotation and requests go straight to blue
    assert m["bgproxy_retries_total"] >= 3
    assert m['bgproxy_upstream_errors_total{pool="green",kind="connect"}'] >= 1


def test_retries_logged_as_one_summary_a_second(env):
    """Under load every retry is counted, but the info log gets at most one
    summary line a second, not two lines per retry."""
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"cookie": ""}, extra=GUARD % "min_requests = 1000000;")
    green.ctl("fail?rate=0")
    green.ctl("close")            # green closes every connection instead of answering
    assert admin(p.port, "set weight green 50")[0]
    t0 = time.time()
    n = 0
    while time.time() - t0 < 2.5:
        st, h, body = get(p.port)
        assert st == 200 and body == b"blue\n", (st, body)
        n += 1
    took = time.time() - t0
    out = p.output()
    assert "retrying" not in out, "a retry was logged at info"
    summaries = [l for l in out.splitlines() if "retried on the stable pool" in l]
    assert n > 100 and 1 <= len(summaries) <= took + 2, (n, len(summaries), summaries)
    assert "last: server %s (green): closed" % green.addr in summaries[0], summaries[0]
