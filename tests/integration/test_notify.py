"""Notifications (CONTRACT section 13, notify = { webhook; events;
timeout_ms; }): a receiver gets every selected event in order as the JSON
of `json show events`; a receiver that is down or that hangs delays no
revert, and what it did not get is counted."""
import http.server
import json
import socket
import threading
import time

from harness import get, admin, wait_until, free_port, metric, json_status

GUARD = ('guard = { interval_ms = 100; window_s = 5; min_requests = 10; '
         'max_error_rate = 0.05; };\nrollout = { min_requests = 0; };\n')


class Receiver:
    """A webhook on loopback: records each POST's JSON body, in order."""

    def __init__(self, hang=False):
        got = self.got = []
        self.hang = hang
        stop = self.stop_ev = threading.Event()

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if hang:
                    stop.wait(30)
                    return
                got.append((self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.stop_ev.set()
        self.srv.shutdown()
        self.srv.server_close()


def _metric(port, name):
    return metric(port, name)


_status = json_status


def _proxy(env, url, events='[ "revert", "promote", "step", "pause", "trip" ]', timeout=500):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green], {"cookie": ""}, GUARD +
                  'notify = { webhook = "%s"; events = %s; timeout_ms = %d; };\n'
                  % (url, events, timeout) +
                  'metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    return blue, green, p, mport


def _trip(p, timeout=10):
    """Failing requests until the guard reverted; the time it took from the
    first request that could have tripped it."""
    end = time.time() + timeout
    while time.time() < end:
        get(p.port)
        if _status(p)["state"] == "reverted":
            return
    raise AssertionError("no revert: %s" % _status(p))


def test_receiver_gets_every_event_in_order(env):
    rx = Receiver()
    env.demos.append(rx)
    blue, green, p, mport = _proxy(env, "http://127.0.0.1:%d/hook" % rx.port)
    assert admin(p.port, "rollout start green steps 50,100 hold 0")[0]
    assert wait_until(lambda: _status(p)["state"] == "baking", timeout=5)
    assert admin(p.port, "promote")[0]
    # a new candidate (blue), failing: the guard reverts it
    assert admin(p.port, "set weight blue 50")[0]
    blue.ctl("fail?rate=1")
    _trip(p)
    assert wait_until(lambda: len(rx.got) >= 3, timeout=10), rx.got
    kinds = [b["kind"] for ct, b in rx.got]
    # not selected: rollout (the start), weight; selected: the step, promote, the revert
    assert kinds == ["step", "promote", "revert"], kinds
    assert all(ct == "application/json" for ct, b in rx.got)
    rev = rx.got[-1][1]
    assert rev["actor"] == "guard" and rev["evidence"].startswith("error_rate"), rev
    # the same objects as json show events
    events = json.loads(admin(p.port, "json show events")[2])
    mine = [e for e in events if e["kind"] in ("step", "promote", "revert")]
    assert [b for ct, b in rx.got] == mine, (rx.got, mine)
    assert wait_until(lambda: _metric(mport, "bgproxy_notify_sent_total") == 3.0, timeout=5)
    assert _metric(mport, "bgproxy_notify_failures_total") == 0.0


def test_only_trips(env):
    rx = Receiver()
    env.demos.append(rx)
    blue, green, p, mport = _proxy(env, "http://127.0.0.1:%d/" % rx.port, events='[ "trip" ]')
    assert admin(p.port, "set weight green 50")[0]
    assert admin(p.port, "revert")[0]           # an operator's revert: no trip
    assert admin(p.port, "set weight green 50")[0]
    green.ctl("fail?rate=1")
    _trip(p)
    assert wait_until(lambda: len(rx.got) == 1, timeout=10), rx.got
    time.sleep(0.3)
    assert len(rx.got) == 1 and rx.got[0][1]["actor"] == "guard", rx.got


def _revert_delay(p, green):
    """Seconds from the moment the guard could trip to the revert."""
    green.ctl("fail?rate=1")
    n, t_ready = 0, None
    end = time.time() + 10
    while time.time() < end:
        get(p.port)
        n += 1
        st = _status(p)
        if t_ready is None and st["pools"]["green"]["requests"] >= 10:
            t_ready = time.time()
        if st["state"] == "reverted":
            return time.time() - (t_ready or time.time())
    raise AssertionError("no revert: %s" % _status(p))


def test_dead_receiver_delays_no_revert(env):
    port = free_port()          # nothing listens there
    blue, green, p, mport = _proxy(env, "http://127.0.0.1:%d/hook" % port)
    assert admin(p.port, "set weight green 50")[0]
    took = _revert_delay(p, green)
    assert took < 1.0, took
    # the weight event and the revert are given up after the retries, and counted
    assert wait_until(lambda: _metric(mport, "bgproxy_notify_failures_total") >= 1.0,
                      timeout=20), _metric(mport, "bgproxy_notify_failures_total")
    assert wait_until(lambda: "notify: the revert event was not delivered to" in p.output(),
                      timeout=10), p.output()[-2000:]


def test_hanging_receiver_delays_no_revert(env):
    rx = Receiver(hang=True)
    env.demos.append(rx)
    blue, green, p, mport = _proxy(env, "http://127.0.0.1:%d/hook" % rx.port, timeout=300)
    # an event that hangs the receiver first
    assert admin(p.port, "rollout start green steps 50,100 hold 3600")[0]
    assert admin(p.port, "rollout next")[0]     # a step: sent, never answered
    assert admin(p.port, "set weight green 50")[0]
    took = _revert_delay(p, green)
    assert took < 1.0, took
    assert wait_until(lambda: _metric(mport, "bgproxy_notify_failures_total") >= 1.0,
                      timeout=20)
