"""Promises a new user found broken (CONTRACT section 14): the split's
version survives a restart and never goes backwards, and a command that
changes nothing says so and changes nothing — not the version, not the last
revert and its evidence, not a counter."""
import json
import os
import signal

from harness import admin, free_port, metric, json_status, json_events, wait_until


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
