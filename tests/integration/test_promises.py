"""Promises a new user found broken (CONTRACT section 14): the split's
version survives a restart and never goes backwards, and a command that
changes nothing says so and changes nothing — not the version, not the last
revert and its evidence, not a counter."""
import os
import socket
import subprocess

import harness
from harness import (admin, free_port, metric, json_status, json_events, get, config_text,
                     Proxy)


def _proxy(env, port=None, mport=None, state=None):
    blue, green = env.demo("blue"), env.demo("green")
    port = port or free_port()
    mport = mport or free_port()
    state = state or os.path.join(env.tmp, "state")
    extra = 'state_file = "%s"; metrics = { address = "127.0.0.1:%d"; };' % (state, mport)
    p = env.proxy([blue], [green], port=port, extra=extra)
    p.metrics_port = mport
    p.blue, p.green, p.state = blue, green, state
    return p


def _again(env, p):
    q = env.proxy([p.blue], [p.green], port=p.port,
                  extra='state_file = "%s"; metrics = { address = "127.0.0.1:%d"; };'
                  % (p.state, p.metrics_port))
    q.metrics_port, q.blue, q.green, q.state = p.metrics_port, p.blue, p.green, p.state
    return q


def _version(p):
    return json_status(p)["version"]


def test_version_survives_sigterm_and_kill9(env):
    p = _proxy(env)
    for w in (5, 10, 20):
        assert admin(p.port, "set weight green %d" % w)[0]
    v = _version(p)
    assert v >= 4, v
    assert metric(p.metrics_port, "bgproxy_split_version") == v
    p.stop()
    q = _again(env, p)
    v2 = _version(q)
    assert v2 > v, (v, v2)
    assert metric(q.metrics_port, "bgproxy_split_version") == v2
    # if-version 1 is refused: the caller never saw that split
    ok, first, _ = admin(q.port, "set weight green 30 if-version 1")
    assert not ok and "version is %d" % v2 in first, first
    assert admin(q.port, "set weight green 30 if-version %d" % v2)[0]
    v3 = _version(q)
    q.kill9()
    r = _again(env, q)
    assert _version(r) > v3
    assert json_status(r)["weights"]["green"] == 30.0


def test_revert_with_nothing_to_revert_changes_nothing(env):
    p = _proxy(env)
    assert admin(p.port, "set weight green 10")[0]
    assert admin(p.port, "revert")[0]
    st = json_status(p)
    v, last = st["version"], st["last_revert"]
    reverts = metric(p.metrics_port, "bgproxy_reverts_total")
    events = len(json_events(p))
    for cmd in ("revert", "rollout abort"):
        ok, first, rest = admin(p.port, cmd)
        assert ok and "(no change)" in rest, (cmd, first, rest)
    st = json_status(p)
    assert st["version"] == v and st["last_revert"] == last, st
    assert st["state"] == "reverted"
    assert metric(p.metrics_port, "bgproxy_reverts_total") == reverts
    assert len(json_events(p)) == events


def test_no_op_commands_say_so(env):
    p = _proxy(env)
    v = _version(p)
    # the stable pool has 100% already
    ok, first, rest = admin(p.port, "switch blue")
    assert ok and "(no change)" in rest and "blue has 100%" in rest, rest
    ok, first, rest = admin(p.port, "set weight green 0")
    assert ok and "(no change)" in rest, rest
    ok, first, rest = admin(p.port, "rollout abort")
    assert ok and "(no change)" in rest, rest
    assert _version(p) == v
    # a split set by hand is not a rollout: abort leaves it
    assert admin(p.port, "set weight green 10")[0]
    v = _version(p)
    ok, first, rest = admin(p.port, "rollout abort")
    assert ok and "no rollout to abort (no change)" in rest, rest
    assert _version(p) == v and json_status(p)["weights"]["green"] == 10.0
    ok, first, rest = admin(p.port, "set weight green 10")
    assert ok and "(no change)" in rest, rest
    # green has every user after a switch: switching again changes nothing
    assert admin(p.port, "switch green")[0]
    v = _version(p)
    ok, first, rest = admin(p.port, "switch green")
    assert ok and "(no change)" in rest and "green has 100%" in rest, rest
    assert _version(p) == v
    # a server that is up already
    events = len(json_events(p))
    ok, first, rest = admin(p.port, "server blue %s enable" % p.blue.addr)
    assert ok and "up already (no change)" in rest, rest
    assert len(json_events(p)) == events
    assert admin(p.port, "server blue %s drain" % p.blue.addr)[0]
    ok, first, rest = admin(p.port, "server blue %s enable" % p.blue.addr)
    assert ok and "(no change)" not in rest, rest
    assert _version(p) == v


# ---- one bgproxy per listener address ------------------------------------

def _second_conf(env, port, blue, green, name, workers=1):
    """A config for port with its own admin socket (no metrics)."""
    text = config_text(port, [blue.addr], [green.addr], {"candidate_percent": 90}, admin=False)
    sock = os.path.join(env.tmp, "%s.sock" % name)
    text += 'admin = { socket = "%s"; audit_log = "%s"; };\n' % (
        sock, os.path.join(env.tmp, "%s.audit" % name))
    text = text.replace("workers = 1;", "workers = %d;" % workers)
    path = os.path.join(env.tmp, "%s.conf" % name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _run(*args, timeout=15):
    return subprocess.run([os.path.join(harness.BUILD, "bgproxy")] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def test_a_second_bgproxy_on_the_same_listener_exits_naming_it(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    first = env.proxy([blue], [green], port=port)
    addr = "127.0.0.1:%d" % port
    second = _second_conf(env, port, blue, green, "second")
    r = _run("-c", second)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert addr in r.stderr and "held by another bgproxy" in r.stderr, r.stderr
    # nothing of the second one was made
    assert not os.path.exists(os.path.join(env.tmp, "second.sock"))
    # -t says the same while the first runs ...
    r = _run("-t", "-c", second)
    assert r.returncode == 1 and addr in r.stderr, (r.returncode, r.stdout, r.stderr)
    assert "configuration OK" not in r.stdout
    # ... but checks the running one's own file (before its reload)
    r = _run("-t", "-c", first.conf)
    assert r.returncode == 0 and "configuration OK" in r.stdout, (r.stdout, r.stderr)
    assert "a reload of it applies this file" in r.stdout, r.stdout
    # every request still goes to the first one's split (100% blue)
    assert all(get(port)[2].decode().strip() == "blue" for _ in range(40))
    # another program on the port is named too
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    other = _second_conf(env, busy.getsockname()[1], blue, green, "other")
    r = _run("-c", other)
    busy.close()
    assert r.returncode == 1 and "in use by another program" in r.stderr, r.stderr
    # once the first is gone (SIGTERM, or kill -9) the address is free
    first.stop()
    q = env.proxy([blue], [green], port=port)
    q.kill9()
    env.proxy([blue], [green], port=port)
    assert get(port)[0] == 200


def test_workers_share_a_listener_and_a_reload_may_not_take_anothers(env):
    blue, green = env.demo("blue"), env.demo("green")
    port, other_port = free_port(), free_port()
    first = env.proxy([blue], [green], port=port)
    two = _second_conf(env, other_port, blue, green, "two", workers=2)
    p = Proxy(env.tmp, open(two).read(), other_port)
    env.proxies.append(p)
    assert get(other_port)[0] == 200
    # a reload of the second that adds the first's address is refused
    text = open(p.conf).read().replace(
        'listen = ( { address = "127.0.0.1:%d"; } ' % other_port,
        'listen = ( { address = "127.0.0.1:%d"; }, { address = "127.0.0.1:%d"; } '
        % (other_port, port))
    assert text != open(p.conf).read()
    with open(p.conf, "w") as f:
        f.write(text)
    # -t on that file: the second's own address is noted, the first's is
    # refused (it is not the second's to take)
    r = _run("-t", "-c", p.conf)
    assert r.returncode == 1 and "127.0.0.1:%d" % port in r.stderr, (r.stdout, r.stderr)
    assert "configuration OK" not in r.stdout and \
        "127.0.0.1:%d" % other_port in r.stdout, r.stdout
    ok, first_line, rest = admin(other_port, "reload", sock=os.path.join(env.tmp, "two.sock"))
    assert not ok and "held by another bgproxy" in first_line, (first_line, rest)
    assert all(get(port)[2].decode().strip() == "blue" for _ in range(20))


def test_a_paused_rollout_says_what_a_resume_begins_with(env):
    p = _proxy(env)
    assert admin(p.port, "rollout start green steps 10,50,100 hold 120")[0]
    assert admin(p.port, "rollout pause")[0]
    r = json_status(p)["rollout"]
    assert r["paused"] and r["step_left_s"] == 120 and r["min_requests"] == 20, r
    # pausing again, or resuming a running rollout, changes nothing
    v = _version(p)
    ok, first, rest = admin(p.port, "rollout pause")
    assert ok and "(no change)" in rest, rest
    assert admin(p.port, "rollout resume")[0]
    v = _version(p)
    ok, first, rest = admin(p.port, "rollout resume")
    assert ok and "(no change)" in rest and _version(p) == v, rest
    assert r["waiting_for"].startswith("paused: rollout resume (then 120 s and 20 "), r


def test_events_survive_a_restart(env):
    p = _proxy(env)
    assert admin(p.port, "set weight green 10")[0]
    assert admin(p.port, "revert")[0]
    before = json_events(p)
    kinds = [e["kind"] for e in before]
    assert "revert" in kinds and "weight" in kinds, kinds
    p.kill9()
    q = _again(env, p)
    after = json_events(q)
    # the last run's events, then this run's start
    assert [e["text"] for e in after[:len(before)]] == [e["text"] for e in before], after
    assert after[-1]["kind"] == "start", after[-1]
    text = admin(q.port, "show events")[2]
    assert "revert" in text and "operator revert" in text, text


def test_an_earlier_revert_is_history(env):
    p = _proxy(env)
    assert admin(p.port, "set weight green 10")[0]
    assert admin(p.port, "revert")[0]
    d = json_status(p)["last_revert_detail"]
    assert d["current"] is True and d["age_s"] is not None and d["age_s"] < 60, d
    out = subprocess.run([os.path.join(harness.BUILD, "bgctl"), "-s",
                          harness.admin_paths(p.port)[0], "status"],
                         capture_output=True, text=True).stdout
    assert "last revert: operator revert" in out and "s ago)" in out, out
    # a new rollout: the revert is history
    assert admin(p.port, "rollout start green steps 10,100 hold 600")[0]
    d = json_status(p)["last_revert_detail"]
    assert d["current"] is False, d
    out = subprocess.run([os.path.join(harness.BUILD, "bgctl"), "-s",
                          harness.admin_paths(p.port)[0], "status"],
                         capture_output=True, text=True).stdout
    assert "last revert (earlier, " in out, out


def test_two_bgproxies_started_at_once_on_overlapping_addresses_one_wins(env):
    blue, green = env.demo("blue"), env.demo("green")
    for i in range(8):
        port = free_port()
        confs = []
        for name, host in (("w%da" % i, "0.0.0.0"), ("w%db" % i, "127.0.0.1")):
            c = _second_conf(env, port, blue, green, name)
            text = open(c).read().replace('address = "127.0.0.1:%d"' % port,
                                          'address = "%s:%d"' % (host, port))
            open(c, "w").write(text)
            confs.append(c)
        procs = [subprocess.Popen([os.path.join(harness.BUILD, "bgproxy"), "-c", c],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for c in confs]
        # one exits 1 naming the address; the other serves
        assert harness.wait_until(lambda: sum(p.poll() is not None for p in procs) >= 1,
                                  timeout=10)
        running = [p for p in procs if p.poll() is None]
        try:
            assert len(running) == 1, [p.poll() for p in procs]
            lost = [p for p in procs if p.poll() is not None][0]
            assert lost.returncode == 1 and ":%d" % port in lost.stderr.read()
        finally:
            for p in running:
                p.terminate()
                p.wait(10)


def test_version_goes_on_after_a_corrupt_state_file(env):
    p = _proxy(env)
    for w in (5, 10, 20):
        assert admin(p.port, "set weight green %d" % w)[0]
    v = _version(p)
    p.stop()
    with open(p.state, "w") as f:
        f.write("garbage\n")
    q = _again(env, p)
    # the state file is set aside (the split starts over), its version is not
    st = json_status(q)
    assert st["weights"]["green"] == 0.0 and st["version"] > v, (st["version"], v)
