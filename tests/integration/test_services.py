"""Many services behind one bgproxy (CONTRACT 17): which service a request
goes to (hosts, exact before wildcard, the longest path_prefix, 404), each
service's own pools and split, and reloads that add and remove services."""
import json
import os
import re
import signal

from h2client import H2Client
from harness import Proxy, admin_paths, free_port, get, raw, wait_until


def _pool(demos):
    return ", ".join('{ address = "%s"; }' % d.addr for d in demos)


def _service(name, blue, green, hosts=None, prefix=None, split=""):
    match = []
    if hosts is not None:
        match.append("hosts = [ %s ];" % ", ".join(json.dumps(h) for h in hosts))
    if prefix is not None:
        match.append("path_prefix = %s;" % json.dumps(prefix))
    return ("  { name = %s; %s\n    pools = { blue = { servers = ( %s ); }; "
            "green = { servers = ( %s ); }; };\n    %s }") % (
                json.dumps(name), ("match = { %s };" % " ".join(match)) if match else "",
                _pool(blue), _pool(green), split)


def _config(port, services, extra=""):
    return ("workers = 1;\n"
            'listen = ( { address = "127.0.0.1:%d"; } );\n'
            "services = (\n%s\n);\n"
            'guard = { method = "threshold"; };\n'
            'log = { level = "info"; access = "stderr"; };\n'
            'admin = { socket = "%s"; audit_log = "%s"; };\n%s') % (
                port, ",\n".join(services), admin_paths(port)[0], admin_paths(port)[1], extra)


def _start(env, services, extra="", port=None):
    port = port or free_port()
    p = Proxy(env.tmp, _config(port, services, extra), port)
    env.proxies.append(p)
    return p


def _host(p, host, path="/"):
    st, _, body = get(p.port, path, headers={"Host": host})
    return st, body


def _demos(env, *names):
    return [env.demo(n) for n in names]


def test_requests_go_to_their_service_by_host(env):
    sb, sg, ab, ag = _demos(env, "shop-blue", "shop-green", "api-blue", "api-green")
    p = _start(env, [_service("shop", [sb], [sg], hosts=["shop.example.com"]),
                     _service("api", [ab], [ag], hosts=["api.example.com"])])
    assert _host(p, "shop.example.com") == (200, b"shop-blue\n")
    assert _host(p, "api.example.com") == (200, b"api-blue\n")
    # any case, a port, a trailing dot: the same host
    assert _host(p, "SHOP.Example.com:8080") == (200, b"shop-blue\n")
    assert _host(p, "api.example.com.") == (200, b"api-blue\n")
    # no service takes it: 404 with a short body, and its access line
    st, body = _host(p, "other.example.com", "/x?y=1")
    assert st == 404 and body.startswith(b"404 Not Found"), (st, body)
    assert len(body) < 200
    lines = p.wait_access_lines(5)
    last = [l for l in lines if l["path"] == "/x?y=1"]
    assert last and last[0]["status"] == 404 and last[0]["service"] is None, lines
    assert last[0]["pool"] is None and last[0]["server"] is None
    named = [l["service"] for l in lines if l["status"] == 200]
    assert named == ["shop", "api", "shop", "api"], named


def test_exact_before_wildcard_then_the_longest_prefix(env):
    a, b, c, d, e = _demos(env, "exact", "wild", "static", "rest", "exact-api")
    idle = env.demo("idle")
    p = _start(env, [
        _service("wild", [b], [idle], hosts=["*.example.com"]),
        _service("exact", [a], [idle], hosts=["www.example.com"]),
        _service("exact-api", [e], [idle], hosts=["www.example.com"], prefix="/api/"),
        _service("static", [c], [idle], prefix="/static/"),
        _service("rest", [d], [idle]),
    ])
    assert _host(p, "www.example.com") == (200, b"exact\n")
    assert _host(p, "www.example.com", "/api/v1") == (200, b"exact-api\n")
    assert _host(p, "www.example.com", "/apix") == (200, b"exact\n")
    assert _host(p, "a.b.example.com") == (200, b"wild\n")
    # a wildcard never matches its own suffix; hostless services last
    assert _host(p, "example.com", "/static/a.css") == (200, b"static\n")
    assert _host(p, "example.com", "/index.html") == (200, b"rest\n")
    assert _host(p, "127.0.0.1", "/static/") == (200, b"static\n")


def test_http2_authority_and_absolute_form_route_too(env):
    sb, ab, idle = _demos(env, "shop", "api", "idle")
    port = free_port()
    text = _config(port, [_service("shop", [sb], [idle], hosts=["shop.example.com"]),
                          _service("api", [ab], [idle], hosts=["api.example.com"])])
    text = text.replace('address = "127.0.0.1:%d"; }' % port,
                        'address = "127.0.0.1:%d"; h2c = true; }' % port)
    p = Proxy(env.tmp, text, port)
    env.proxies.append(p)
    c = H2Client(p.port)
    st = c.get("/", authority="api.example.com")
    assert st.status == 200 and bytes(st.data) == b"api\n"
    st = c.get("/", authority="shop.example.com:443")
    assert st.status == 200 and bytes(st.data) == b"shop\n"
    st = c.get("/", authority="nobody.example.com")
    assert st.status == 404, st.status
    c.close()
    # HTTP/1.1 absolute-form: its authority is the host
    st, _, body = get(p.port, "http://api.example.com/x", headers={"Host": "shop.example.com"})
    assert (st, body) == (200, b"api\n")


def test_each_service_has_its_own_split(env):
    sb, sg, ab, ag = _demos(env, "shop-blue", "shop-green", "api-blue", "api-green")
    p = _start(env, [
        _service("shop", [sb], [sg], hosts=["shop.example.com"],
                 split='split = { candidate_percent = 100; cookie = "shopk"; };'),
        _service("api", [ab], [ag], hosts=["api.example.com"]),
    ])
    for _ in range(20):
        assert _host(p, "shop.example.com")[1] == b"shop-green\n"
        assert _host(p, "api.example.com")[1] == b"api-blue\n"
    # each service's stickiness cookie is its own
    st, hdrs, _ = get(p.port, "/", headers={"Host": "shop.example.com"})
    assert "shopk=" in hdrs.get("set-cookie", ""), hdrs
    st, hdrs, _ = get(p.port, "/", headers={"Host": "api.example.com"})
    assert "bgp=" in hdrs.get("set-cookie", ""), hdrs


def test_a_reload_adds_and_removes_services(env):
    sb, ab, idle = _demos(env, "shop", "api", "idle")
    shop = _service("shop", [sb], [idle], hosts=["shop.example.com"])
    api = _service("api", [ab], [idle], hosts=["api.example.com"])
    p = _start(env, [shop])
    assert _host(p, "api.example.com")[0] == 404
    with open(p.conf, "w") as f:
        f.write(_config(p.port, [shop, api]))
    p.signal(signal.SIGHUP)
    assert wait_until(lambda: _host(p, "api.example.com") == (200, b"api\n"))
    assert _host(p, "shop.example.com") == (200, b"shop\n")
    with open(p.conf, "w") as f:
        f.write(_config(p.port, [api]))
    p.signal(signal.SIGHUP)
    assert wait_until(lambda: _host(p, "shop.example.com")[0] == 404)
    assert _host(p, "api.example.com") == (200, b"api\n")
    # and back: the service keeps its name and takes requests again
    with open(p.conf, "w") as f:
        f.write(_config(p.port, [shop, api]))
    p.signal(signal.SIGHUP)
    assert wait_until(lambda: _host(p, "shop.example.com") == (200, b"shop\n"))
    out = p.output()
    assert "shop (service removed)" in out and "api (service added)" in out, out[-3000:]


def test_bad_services_are_refused_with_file_and_line(env):
    idle = env.demo("idle")
    port = free_port()
    cases = [
        ([_service("a", [idle], [idle]), _service("a", [idle], [idle], hosts=["x.example"])],
         'service "a" is named twice'),
        ([_service("a", [idle], [idle], hosts=["x.example"]),
          _service("b", [idle], [idle], hosts=["X.example"])],
         'matches host "x.example" with path_prefix "/", as service "a"'),
        ([_service("a b", [idle], [idle])], "must be 1..64 letters"),
        ([_service("a", [idle], [idle], hosts=["bad host"])], "must be a host name"),
        ([_service("a", [idle], [idle], prefix="api")], "match.path_prefix"),
    ]
    for services, want in cases:
        conf = os.path.join(env.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write(_config(port, services))
        import subprocess
        from harness import BUILD
        r = subprocess.run([os.path.join(BUILD, "bgproxy"), "-t", "-c", conf],
                           capture_output=True, text=True)
        assert r.returncode == 1 and want in r.stderr and conf + ":" in r.stderr, (want, r.stderr)
    # pools at the top level beside a services list
    with open(conf, "w") as f:
        f.write(_config(port, [_service("a", [idle], [idle])]) +
                'pools = { blue = { servers = ( { address = "%s"; } ); }; '
                'green = { servers = ( { address = "%s"; } ); }; };\n' % (idle.addr, idle.addr))
    r = subprocess.run([os.path.join(BUILD, "bgproxy"), "-t", "-c", conf],
                       capture_output=True, text=True)
    assert r.returncode == 1 and '"pools" belongs in each service' in r.stderr, r.stderr


def _adm(p, line):
    from harness import admin
    return admin(p.port, line, raw=True).decode()


def test_admin_commands_take_the_service(env):
    sb, sg, ab, ag = _demos(env, "shop-blue", "shop-green", "api-blue", "api-green")
    p = _start(env, [_service("shop", [sb], [sg], hosts=["shop.example.com"]),
                     _service("api", [ab], [ag], hosts=["api.example.com"])])
    # a command about a split needs the service when there are several
    r = _adm(p, "set weight green 100")
    assert r.startswith("ERR which service? shop, api"), r
    r = _adm(p, "in nope status")
    assert r.startswith("ERR no service \"nope\"; services: shop, api"), r
    r = _adm(p, "in shop reload")
    assert r.startswith("ERR"), r
    assert _adm(p, "in shop set weight green 100").startswith("OK"), p.output()[-2000:]
    for _ in range(10):
        assert _host(p, "shop.example.com")[1] == b"shop-green\n"
        assert _host(p, "api.example.com")[1] == b"api-blue\n"
    # status alone: one line each; in SERVICE status: that one's
    r = _adm(p, "status")
    lines = [l for l in r.splitlines()[1:] if l]
    assert len(lines) == 2 and lines[0].startswith("shop state manual") and \
        lines[1].startswith("api state idle"), r
    st = json.loads(_adm(p, "json status").splitlines()[1])
    assert [s["name"] for s in st["services"]] == ["shop", "api"], st
    assert st["services"][0]["weights"]["green"] == 100.0, st
    st = json.loads(_adm(p, "json in api status").splitlines()[1])
    assert st["weights"]["green"] == 0.0 and st["state"] == "idle", st
    st = json.loads(_adm(p, "in shop json status").splitlines()[1])
    assert st["weights"]["green"] == 100.0, st
    # events are each service's own; the audit log names it
    ev = _adm(p, "in shop show events")
    assert "weight" in ev, ev
    assert "weight" not in _adm(p, "in api show events")
    audit = open(admin_paths(p.port)[1]).read().splitlines()
    last = json.loads(audit[-1])
    assert last["service"] == "shop" and last["command"] == "in shop set weight green 100", last
    # if-version is the service's
    v = st["version"]
    r = _adm(p, "in api set weight green 5 if-version %d" % (v + 100))
    assert r.startswith("ERR version is"), r


def test_guard_reverts_one_service_and_leaves_the_other(env):
    sb, sg, ab, ag = _demos(env, "shop-blue", "shop-green", "api-blue", "api-green")
    guard = 'guard = { method = "threshold"; window_s = 5; min_requests = 5; max_error_rate = 0.2; };'
    p = _start(env, [_service("shop", [sb], [sg], hosts=["shop.example.com"], split=guard),
                     _service("api", [ab], [ag], hosts=["api.example.com"], split=guard)],
               extra="")
    assert _adm(p, "in shop set weight green 50").startswith("OK")
    assert _adm(p, "in api set weight green 50").startswith("OK")
    sg.ctl("fail?rate=1")
    # traffic to both; only shop's candidate fails
    def shop_reverted():
        for _ in range(10):
            _host(p, "shop.example.com")
            _host(p, "api.example.com")
        st = json.loads(_adm(p, "json in shop status").splitlines()[1])
        return st["state"] == "reverted"
    assert wait_until(shop_reverted, timeout=20), _adm(p, "status")
    api = json.loads(_adm(p, "json in api status").splitlines()[1])
    assert api["state"] == "manual" and api["weights"]["green"] == 50.0, api
    for _ in range(10):
        assert _host(p, "shop.example.com")[1] == b"shop-blue\n"
    ev = _adm(p, "in api show events")
    assert "revert" not in ev, ev


def test_every_service_keeps_its_split_across_a_restart(env):
    sb, sg, ab, ag = _demos(env, "shop-blue", "shop-green", "api-blue", "api-green")
    state = os.path.join(env.tmp, "state")
    extra = 'state_file = "%s";\n' % state
    services = [_service("shop", [sb], [sg], hosts=["shop.example.com"]),
                _service("api", [ab], [ag], hosts=["api.example.com"])]
    p = _start(env, services, extra)
    assert _adm(p, "in shop set weight green 25").startswith("OK")
    assert _adm(p, "in api switch green").startswith("OK")
    text = open(state).read()
    assert text.startswith("# bgproxy services state") and "service shop " in text and \
        "service api " in text, text
    vshop = json.loads(_adm(p, "json in shop status").splitlines()[1])["version"]
    port = p.port
    p.stop()
    p2 = _start(env, services, extra, port=port)
    shop = json.loads(_adm(p2, "json in shop status").splitlines()[1])
    api = json.loads(_adm(p2, "json in api status").splitlines()[1])
    assert shop["weights"]["green"] == 25.0 and shop["state"] == "manual", shop
    assert shop["version"] >= vshop, (shop, vshop)
    assert api["weights"]["green"] == 100.0 and api["state"] == "baking", api
    assert os.path.exists(state + ".events.shop") and os.path.exists(state + ".events.api")


def test_metrics_have_a_service_label(env):
    sb, sg, ab, ag = _demos(env, "shop-blue", "shop-green", "api-blue", "api-green")
    mport = free_port()
    p = _start(env, [_service("shop", [sb], [sg], hosts=["shop.example.com"]),
                     _service("api", [ab], [ag], hosts=["api.example.com"])],
               extra='metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    assert _adm(p, "in shop set weight green 10").startswith("OK")
    _host(p, "shop.example.com")
    _host(p, "api.example.com")
    _host(p, "api.example.com")

    def body():
        return get(mport, "/metrics")[2].decode()
    assert wait_until(lambda: 'bgproxy_requests_total{service="api",pool="blue",class="2xx",'
                      'proto="http/1.1"} 2' in body())
    m = body()
    assert 'bgproxy_pool_weight_percent{service="shop",pool="green"} 10.00' in m, m
    assert 'bgproxy_pool_weight_percent{service="api",pool="green"} 0.00' in m
    assert 'bgproxy_split_version{service="shop"}' in m
    assert 'bgproxy_server_up{service="api",pool="blue",server="%s"} 1' % ab.addr in m
    # the web view's JSON: all of them, or one
    st = json.loads(get(mport, "/status.json")[2])
    assert [s["name"] for s in st["services"]] == ["shop", "api"], st
    st = json.loads(get(mport, "/status.json?service=api")[2])
    assert st["stable"] == "blue" and "pools" in st, st


def test_bgctl_takes_the_service(env):
    import subprocess
    from harness import BUILD
    sb, sg, ab, ag = _demos(env, "shop-blue", "shop-green", "api-blue", "api-green")
    p = _start(env, [_service("shop", [sb], [sg], hosts=["shop.example.com"]),
                     _service("api", [ab], [ag], hosts=["api.example.com"])])
    sock = admin_paths(p.port)[0]

    def bgctl(*args):
        return subprocess.run([os.path.join(BUILD, "bgctl"), "-s", sock] + list(args),
                              capture_output=True, text=True, timeout=10)
    r = bgctl("-S", "api", "set", "weight", "green", "7")
    assert r.returncode == 0, r
    r = bgctl("set", "weight", "green", "7")
    assert r.returncode == 1 and "which service? shop, api" in r.stderr + r.stdout, r
    r = bgctl("status")
    assert r.returncode == 0 and "shop" in r.stdout and "api" in r.stdout and \
        "7.00%" in r.stdout, r
    r = bgctl("--service", "api", "status")
    assert r.returncode == 0 and "green" in r.stdout, r
    r = bgctl("-S", "bad name", "status")
    assert r.returncode == 1, r


def test_a_service_added_back_begins_from_its_configuration(env):
    sb, sg, ab = _demos(env, "shop-blue", "shop-green", "api")
    shop = _service("shop", [sb], [sg], hosts=["shop.example.com"])
    api = _service("api", [ab], [ab], hosts=["api.example.com"])
    p = _start(env, [shop, api])
    assert _adm(p, "in shop set weight green 100").startswith("OK")
    for services in ([api], [shop, api]):
        with open(p.conf, "w") as f:
            f.write(_config(p.port, services))
        p.signal(signal.SIGHUP)
        want = 404 if services == [api] else 200
        assert wait_until(lambda: _host(p, "shop.example.com")[0] == want)
    st = json.loads(_adm(p, "json in shop status").splitlines()[1])
    assert st["state"] == "idle" and st["weights"]["green"] == 0.0, st
    assert _host(p, "shop.example.com")[1] == b"shop-blue\n"


def test_views_and_tools_with_several_services(env):
    import subprocess
    from harness import BUILD
    sb, ab = _demos(env, "shop", "api")
    mport = free_port()
    p = _start(env, [_service("shop", [sb], [sb], hosts=["shop.example.com"]),
                     _service("api", [ab], [ab], hosts=["api.example.com"])],
               extra='metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    # rollout wait names no rollout of several services
    r = subprocess.run([os.path.join(BUILD, "bgctl"), "-s", admin_paths(p.port)[0], "rollout",
                        "wait", "--timeout", "2"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "which service? shop, api" in r.stderr, r
    # the web view's JSON: service= among other parameters; unknown: 404
    st, _, body = get(mport, "/status.json?x=1&service=api")
    assert st == 200 and json.loads(body)["service"] == "api", body
    st, _, body = get(mport, "/events.json?service=api&x=1")
    assert st == 200 and json.loads(body)[0]["kind"] == "start", body
    st, _, _ = get(mport, "/status.json?service=nope")
    assert st == 404
    st, _, _ = get(mport, "/events.json")
    assert st == 404
    before = int(re.search(r"bgproxy_unrouted_requests_total (\d+)",
                           get(mport, "/metrics")[2].decode()).group(1))
    # HEAD that no service takes: the head alone, the connection kept usable
    data = raw(p.port, b"HEAD / HTTP/1.1\r\nHost: nobody.example\r\n\r\n"
               b"GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n",
               timeout=5)
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 404") and b"Content-Length: 14" in first, data
    assert rest.startswith(b"HTTP/1.1 200") or rest == b"", data
    # counted: no service took it
    assert wait_until(lambda: int(re.search(
        r"bgproxy_unrouted_requests_total (\d+)",
        get(mport, "/metrics")[2].decode()).group(1)) == before + 1)


def test_a_removed_service_takes_its_files_and_a_dropped_split_is_logged(env):
    sb, ab = _demos(env, "shop", "api")
    state = os.path.join(env.tmp, "state")
    extra = 'state_file = "%s";\n' % state
    shop = _service("shop", [sb], [sb], hosts=["shop.example.com"])
    api = _service("api", [ab], [ab], hosts=["api.example.com"])
    p = _start(env, [shop, api], extra)
    assert _adm(p, "in api set weight green 5").startswith("OK")
    assert os.path.exists(state + ".events.api")
    with open(p.conf, "w") as f:
        f.write(_config(p.port, [shop], extra))
    p.signal(signal.SIGHUP)
    assert wait_until(lambda: not os.path.exists(state + ".events.api"))
    assert "service api " not in open(state).read()
    port = p.port
    p.stop()
    # a state file that names a service the configuration lacks
    p2 = _start(env, [shop, api], extra, port=port)
    assert _adm(p2, "in api set weight green 5").startswith("OK")
    p2.stop()
    p3 = _start(env, [shop], extra, port=port)
    assert wait_until(lambda: "service api is not in the configuration" in p3.output())
