"""The state file: the split survives kill -9, a corrupt state file fails
safe."""
import json
import os

from harness import get, free_port, admin


def _pool(body):
    return body.decode().strip()


def test_state_survives_kill9(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    state = os.path.join(env.tmp, "state")
    extra = 'state_file = "%s";' % state
    p = env.proxy([blue], [green], port=port, extra=extra)
    assert admin(port, "set weight green 25")[0]
    keys = ["k%d" % i for i in range(200)]
    before = {k: _pool(get(port, headers={"Cookie": "bgp=" + k})[2]) for k in keys}
    p.kill9()
    p2 = env.proxy([blue], [green], port=port, extra=extra)
    st = json.loads(admin(port, "json status")[2])
    assert st["weights"] == {"blue": 75.0, "green": 25.0} and st["state"] == "manual"
    after = {k: _pool(get(port, headers={"Cookie": "bgp=" + k})[2]) for k in keys}
    assert before == after
    # a reverted candidate stays reverted across a restart
    assert admin(port, "revert")[0]
    p2.kill9()
    env.proxy([blue], [green], port=port, extra=extra)
    st = json.loads(admin(port, "json status")[2])
    assert st["state"] == "reverted" and st["weights"]["green"] == 0


def test_corrupt_state_file_fails_safe(env):
    blue, green = env.demo("blue"), env.demo("green")
    state = os.path.join(env.tmp, "state")
    with open(state, "w") as f:
        f.write("version 1\nstable green\ncandidate_percent 99.00\ngarbage\n")
    p = env.proxy([blue], [green], {"candidate_percent": 40}, extra='state_file = "%s";' % state)
    st = json.loads(admin(p.port, "json status")[2])
    assert st["stable"] == "blue" and st["weights"]["blue"] == 100
    aside = [f for f in os.listdir(env.tmp) if f.startswith("state.corrupt.")]
    assert len(aside) == 1
    assert "CORRUPT" in p.output()
    assert all(_pool(get(p.port)[2]) == "blue" for _ in range(20))


def test_revert_record_survives_a_restart(env):
    blue, green = env.demo("blue"), env.demo("green")
    port, mport = free_port(), free_port()
    state = os.path.join(env.tmp, "state")
    extra = 'state_file = "%s"; metrics = { address = "127.0.0.1:%d"; };' % (state, mport)
    p = env.proxy([blue], [green], port=port, extra=extra)
    assert admin(port, "rollout start green steps 10,50,100 hold 3600")[0]
    assert admin(port, "rollout next")[0]
    assert admin(port, "revert")[0]
    before = json.loads(admin(port, "json status")[2])["last_revert_detail"]
    assert before["step"] == 1 and before["actor"].startswith("operator"), before
    p.stop()
    env.proxy([blue], [green], port=port, extra=extra)
    st = json.loads(admin(port, "json status")[2])
    assert st["state"] == "reverted" and st["last_revert_detail"] == before, (st, before)
    code, h, body = get(mport, "/metrics")
    line = [l for l in body.decode().splitlines()
            if l.startswith("bgproxy_last_revert_timestamp_seconds ")][0]
    assert abs(float(line.split()[1]) - before["time_ms"] / 1000.0) < 0.01, line
