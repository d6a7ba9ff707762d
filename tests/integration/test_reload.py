"""Configuration reload: broken files keep serving, servers added and
removed under traffic, listeners that stay keep their connections."""
import os
import signal
import socket

import harness
from harness import get, free_port, Traffic, admin
from harness import blue_green_proxy as _env


def _write_conf(p, text):
    with open(p.conf, "w") as f:
        f.write(text)


def test_reload_broken_files_keep_serving(env):
    blue, green, p = _env(env)
    good = open(p.conf).read()
    tr = Traffic(env, p.port)
    d = os.path.join(env.tmp, "adir")
    os.mkdir(d)
    broken = {
        "syntax": good + "workers = ;\n",
        "unknown key": good + "frobnicate = 1;\n",
        "include dir": good + '@include "%s"\n' % d,
        "missing certificate": good.replace(
            "listen = ( { address", 'listen = ( { address = "127.0.0.1:%d"; tls = { certificates = '
            '( { cert = "/nonexistent/x.pem"; key = "/nonexistent/x.key"; } ); }; }, { address'
            % free_port()),
    }
    for name, text in broken.items():
        _write_conf(p, text)
        ok, first, rest = admin(p.port, "reload")
        assert not ok and first.startswith("ERR " + p.conf + ":"), (name, first)
        # SIGHUP with the same file: logged, nothing changes
        refused = p.output().count("warn: reload refused")
        p.signal(signal.SIGHUP)
        assert harness.wait_until(
            lambda: p.output().count("warn: reload refused") > refused, timeout=10), \
            (name, p.output()[-2000:])
    tr.stop()
    assert tr.failed == [] and tr.ok > 20, (tr.failed[:5], tr.ok)
    assert "certificate" in p.output() or "cert" in p.output()
    _write_conf(p, good)
    assert admin(p.port, "reload")[0]


def test_reload_adds_and_removes_servers_under_traffic(env):
    b1, b2, green = env.demo("blue"), env.demo("blue"), env.demo("green")
    p = env.proxy([b1], [green])
    tr = Traffic(env, p.port)
    # the reload comes under traffic
    assert harness.wait_until(lambda: tr.ok > 20 or tr.failed, timeout=15), (tr.ok, tr.failed[:5])
    _write_conf(p, open(p.conf).read().replace(b1.addr, b2.addr))
    ok, first, rest = admin(p.port, "reload")
    assert ok and "1 server(s) added, 1 removed" in rest, rest
    # and the traffic moves on to b2
    assert harness.wait_until(lambda: b2.stats()["requests"] >= 10 or tr.failed, timeout=15), \
        (b2.stats(), tr.failed[:5])
    n_b2 = b2.stats()["requests"]
    tr.stop()
    assert tr.failed == [] and tr.ok > 20, (tr.failed[:5], tr.ok)
    assert n_b2 > 0
    assert get(p.port)[1]["x-server"].endswith(str(b2.port))
    ok, first, rest = admin(p.port, "show servers")
    assert b1.addr not in rest and b2.addr in rest


def test_reload_listeners_keep_connections(env):
    blue, green, p = _env(env)
    c = __import__("http.client").client.HTTPConnection("127.0.0.1", p.port, timeout=5)
    assert get(p.port, conn=c)[0] == 200
    port2 = free_port()
    text = open(p.conf).read().replace('listen = ( { address = "127.0.0.1:%d"; } ' % p.port,
                                       'listen = ( { address = "127.0.0.1:%d"; }, '
                                       '{ address = "127.0.0.1:%d"; } ' % (p.port, port2))
    _write_conf(p, text)
    p.signal(signal.SIGHUP)
    harness.wait_port(port2)
    assert get(port2)[0] == 200
    assert get(p.port, conn=c)[0] == 200       # the kept listener's connection goes on
    # and away again
    _write_conf(p, text.replace(', { address = "127.0.0.1:%d"; } ' % port2, ' '))
    assert admin(p.port, "reload")[0]

    def refused():
        # the worker closes the listener after the reload answered
        try:
            socket.create_connection(("127.0.0.1", port2), timeout=1).close()
            return False
        except OSError:
            return True
    assert harness.wait_until(refused, timeout=10), "removed listener still accepts"
    try:
        socket.create_connection(("127.0.0.1", port2), timeout=1).close()
        assert False, "removed listener still accepts"
    except OSError:
        pass
    assert get(p.port, conn=c)[0] == 200
    c.close()


def test_a_reload_event_names_what_changed(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra="guard = { max_error_rate = 0.05; };\n")
    text = open(p.conf).read()
    _write_conf(p, text.replace("max_error_rate = 0.05;", "max_error_rate = 0.1; window_s = 30;"))
    ok, first, rest = admin(p.port, "reload")
    assert ok, first
    assert "guard.window_s 10 -> 30" in rest and "guard.max_error_rate 0.05 -> 0.1" in rest, rest
    ev = admin(p.port, "show events")[2]
    assert "guard.max_error_rate 0.05 -> 0.1" in ev, ev
    # the same file again: nothing changed, and it says so
    ok, first, rest = admin(p.port, "reload")
    assert ok and "no setting changed" in rest, rest


def test_a_reload_event_names_servers_and_listeners(env):
    b1, b2, green = env.demo("blue"), env.demo("blue"), env.demo("green")
    p = env.proxy([b1], [green])
    text = open(p.conf).read()
    new = text.replace('blue = { servers = ( { address = "%s"; } ); };' % b1.addr,
                       'blue = { servers = ( { address = "%s"; weight = 5; }, { address = "%s"; } ); };'
                       % (b1.addr, b2.addr))
    new = new.replace('listen = ( { address = "127.0.0.1:%d"; } ' % p.port,
                      'listen = ( { address = "127.0.0.1:%d"; h2c = true; } ' % p.port)
    assert new.count("weight = 5") == 1 and "h2c = true" in new
    _write_conf(p, new)
    ok, first, rest = admin(p.port, "reload")
    assert ok, first
    assert "+blue %s" % b2.addr in rest and "blue %s weight 1 -> 5" % b1.addr in rest, rest
    assert "listen 127.0.0.1:%d h2c false -> true" % p.port in rest, rest
    assert "no setting changed" not in rest, rest
