"""Traffic split: shares, cookie stickiness, monotonic ramp across a
restart, override header."""
import re

from harness import get, free_port


def _pool(body):
    return body.decode().strip()


def test_split_shares(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 20.0})
    n, g = 1500, 0
    for _ in range(n):
        st, h, body = get(p.port)
        assert st == 200
        assert "set-cookie" in h and h["set-cookie"].startswith("bgp=")
        g += _pool(body) == "green"
    share = g / n
    assert 0.16 < share < 0.24, share


def test_split_zero_and_hundred(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 0})
    assert all(_pool(get(p.port)[2]) == "blue" for _ in range(200))
    p.stop()
    p2 = env.proxy([blue], [green], {"candidate_percent": 100})
    assert all(_pool(get(p2.port)[2]) == "green" for _ in range(200))


def test_cookie_stickiness(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 50.0})
    for _ in range(30):
        st, h, body = get(p.port)
        m = re.match(r"bgp=([^;]+); Path=/; HttpOnly; SameSite=Lax", h["set-cookie"])
        assert m, h["set-cookie"]
        first = _pool(body)
        for _ in range(10):
            st, h2, body2 = get(p.port, headers={"Cookie": "a=b; bgp=" + m.group(1)})
            assert st == 200 and _pool(body2) == first
            assert "set-cookie" not in h2


def test_header_key(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 50.0, "header": "X-User-Id", "cookie": ""})
    for i in range(40):
        pools = {_pool(get(p.port, headers={"X-User-Id": "u%d" % i})[2]) for _ in range(5)}
        assert len(pools) == 1
    st, h, _ = get(p.port, headers={"X-User-Id": "u1"})
    assert "set-cookie" not in h


def test_monotonic_ramp_across_restart(env):
    blue, green = env.demo("blue"), env.demo("green")
    keys = ["user%d" % i for i in range(400)]
    port = free_port()
    prev_green = set()
    for pct in (5, 25, 50, 100):
        p = env.proxy([blue], [green], {"candidate_percent": pct}, port=port)
        now_green = set()
        for k in keys:
            st, h, body = get(p.port, headers={"Cookie": "bgp=" + k})
            if _pool(body) == "green":
                now_green.add(k)
        assert prev_green <= now_green, "a client moved back from green to blue"
        assert abs(len(now_green) / len(keys) - pct / 100) < 0.08, (pct, len(now_green))
        prev_green = now_green
        assert p.stop() == 0


def test_same_key_same_pool_on_every_instance(env):
    blue, green = env.demo("blue"), env.demo("green")
    p1 = env.proxy([blue], [green], {"candidate_percent": 30})
    p2 = env.proxy([blue], [green], {"candidate_percent": 30})
    for i in range(100):
        c = {"Cookie": "bgp=k%d" % i}
        assert get(p1.port, headers=c)[2] == get(p2.port, headers=c)[2]


def test_override_header(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 0})
    for _ in range(20):
        assert _pool(get(p.port, headers={"X-Bgproxy-Pool": "green"})[2]) == "green"
    assert _pool(get(p.port, headers={"X-Bgproxy-Pool": "bogus"})[2]) == "blue"
    p.stop()
    # a client outside override_from cannot steer
    p2 = env.proxy([blue], [green], {"candidate_percent": 0, "override_from": ["10.0.0.0/8"]})
    for _ in range(10):
        assert _pool(get(p2.port, headers={"X-Bgproxy-Pool": "green"})[2]) == "blue"


def test_random_split_without_key(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 50, "cookie": ""})
    got = [_pool(get(p.port)[2]) for _ in range(400)]
    assert 140 < got.count("green") < 260
    assert "set-cookie" not in get(p.port)[1]


def test_expose_header(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 100, "expose_header": True})
    st, h, body = get(p.port)
    assert h.get("x-bgproxy-pool") == "green"


def test_round_robin_within_pool(env):
    b1, b2, green = env.demo("blue"), env.demo("blue"), env.demo("green")
    p = env.proxy([b1, b2], [green], {"candidate_percent": 0})
    seen = {}
    for _ in range(40):
        st, h, body = get(p.port)
        seen[h["x-server"]] = seen.get(h["x-server"], 0) + 1
    assert sorted(seen.values()) == [20, 20], seen
