"""Every exchange ends once and is counted (CONTRACT section 14): whatever
ended it — the response whole, our own reply, the client gone or too slow,
the server reset or quiet half-way through its body, a bad body, a tunnel —
it has one access line with its "term" and is in the figures: a server that
fails after its head went out is an error of that server and pool, a client
that goes away is not the server's fault.  Over HTTP/1.1 and HTTP/2."""
import json
import socket
import struct
import threading
import time

import h2.settings

from harness import get, metric, json_status, wait_until, free_port, config_text, Proxy, admin
from h2client import H2Client

BODY_LEN = 100000
SENT = 1000


class FaultServer:
    """A server that fails as the request's path says:
       /cut       200, Content-Length 100000, 1000 bytes, then a reset
       /quiet     the same, then silence
       /badchunk  a chunked body whose second chunk size is not hex
       /hold      200, Content-Length 100000, 1000 bytes, then 100 more every
                  50 ms
       /wait      reads the head only, answers 200 after 3 s
       /drop      resets the connection at once
       /upgrade   101 for a WebSocket-like upgrade, then closes at once
       else       200 "ok" (and keep-alive)"""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.stop_ev = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        c.settimeout(15)
        try:
            while not self.stop_ev.is_set():
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1].decode().split("?")[0]
                if path == "/cut":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY_LEN
                              + b"x" * SENT)
                    time.sleep(0.2)
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                    return
                if path == "/drop":
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                    return
                if path == "/hold":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY_LEN
                              + b"x" * SENT)
                    for i in range(100):
                        if self.stop_ev.wait(0.05):
                            break
                        c.sendall(b"y" * 100)
                    return
                if path == "/wait":
                    self.stop_ev.wait(3)
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                              b"\r\nok")
                    return
                if path == "/quiet":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY_LEN
                              + b"x" * SENT)
                    self.stop_ev.wait(10)
                    return
                if path == "/badchunk":
                    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5\r\nhello\r\n")
                    time.sleep(0.2)
                    c.sendall(b"zz\r\nhello\r\n0\r\n\r\n")
                    self.stop_ev.wait(5)
                    return
                if path == "/upgrade":
                    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\n\r\n")
                    time.sleep(0.2)
                    c.close()
                    return
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stop_ev.set()
        try:
            self.sock.close()
        except OSError:
            pass


def _proxy(env, fs, extra="", timeouts=""):
    green = env.demo("green")
    port = free_port()
    text = config_text(port, [fs.addr], [green.addr], {"candidate_percent": 0},
                       extra + 'timeouts = { upstream_response_ms = 800; client_body_ms = 800; '
                       '%s };\nguard = { min_requests = 1000; };\n' % timeouts)
    text = text.replace('listen = ( { address = "127.0.0.1:%d"; } ' % port,
                        'listen = ( { address = "127.0.0.1:%d"; h2c = true; } ' % port)
    p = Proxy(env.tmp, text, port)
    env.proxies.append(p)
    return p


def _line(p, path, n=1, timeout=10):
    """The access lines for path, once there are n of them."""
    got = []

    def have():
        got[:] = [l for l in p.access_lines() if l.get("path") == path]
        return len(got) >= n
    wait_until(have, timeout=timeout)
    return got


def _errors(p, kind):
    return metric(p.metrics_port, 'bgproxy_upstream_errors_total{pool="blue",kind="%s"}' % kind) or 0


def _setup(env):
    fs = FaultServer()
    env.demos.append(fs)
    mport = free_port()
    p = _proxy(env, fs, extra='metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    p.metrics_port = mport
    return fs, p


def _h1(port, path, read=None, timeout=10):
    """GET path over HTTP/1.1; returns the bytes read until the close (or
    read bytes, then resets the connection)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
    data = b""
    try:
        while read is None or len(data) < read:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except OSError:
        pass
    if read is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return data


def _blue_window(p):
    return json_status(p)["pools"]["blue"]


# ---- HTTP/1.1 -----------------------------------------------------------

def test_h1_server_reset_mid_body_is_counted(env):
    fs, p = _setup(env)
    data = _h1(p.port, "/cut")
    assert data.startswith(b"HTTP/1.1 200") and len(data) < BODY_LEN, len(data)
    (l,) = _line(p, "/cut")
    assert l["term"] == "server_reset" and l["status"] == 200 and l["pool"] == "blue", l
    assert wait_until(lambda: _errors(p, "reset") == 1), _errors(p, "reset")
    w = _blue_window(p)
    assert w["requests"] == 1 and w["error_rate"] == 1.0, w
    assert w["server_list"][0]["errors"] == 1, w


def test_h1_server_quiet_mid_body_is_a_timeout(env):
    fs, p = _setup(env)
    data = _h1(p.port, "/quiet")
    assert data.startswith(b"HTTP/1.1 200") and len(data) < BODY_LEN
    (l,) = _line(p, "/quiet")
    assert l["term"] == "server_timeout" and l["status"] == 200, l
    assert wait_until(lambda: _errors(p, "timeout") == 1)
    assert _blue_window(p)["error_rate"] == 1.0


def test_h1_bad_response_body_is_the_servers_error(env):
    fs, p = _setup(env)
    _h1(p.port, "/badchunk")
    (l,) = _line(p, "/badchunk")
    assert l["term"] == "bad_body" and l["status"] == 200, l
    assert wait_until(lambda: _errors(p, "protocol") == 1)
    assert _blue_window(p)["error_rate"] == 1.0


def test_h1_client_going_away_is_not_the_servers_fault(env):
    fs, p = _setup(env)
    data = _h1(p.port, "/hold", read=500)
    assert data.startswith(b"HTTP/1.1 200")
    (l,) = _line(p, "/hold")
    assert l["term"] == "client_abort" and l["status"] == 200, l
    w = _blue_window(p)
    assert w["requests"] == 0 and w["server_list"][0]["errors"] == 0, w
    for k in ("reset", "timeout", "protocol", "connect"):
        assert _errors(p, k) == 0, k


def test_h1_done_replied_and_bad_request_body(env):
    fs, p = _setup(env)
    assert get(p.port, "/fine")[0] == 200
    (l,) = _line(p, "/fine")
    assert l["term"] == "done", l
    # our own reply: a method we refuse
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 405")
    s.close()
    (l,) = _line(p, "a:443")
    assert l["term"] == "replied" and l["status"] == 405, l
    # a chunked request body that breaks its framing: 400, the client's fault
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"POST /wait?body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\nzz\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400")
    s.close()
    (l,) = _line(p, "/wait?body")
    assert l["term"] == "bad_body" and l["status"] == 400, l
    # a request body that never comes: 408, the client's fault
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"POST /wait?slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
    assert s.recv(100).startswith(b"HTTP/1.1 408")
    s.close()
    (l,) = _line(p, "/wait?slow")
    assert l["term"] == "client_timeout" and l["status"] == 408, l
    w = _blue_window(p)
    assert w["requests"] == 1 and w["error_rate"] == 0.0, w
    assert w["server_list"][0]["errors"] == 0, w


def test_h1_tunnel_has_one_line(env):
    fs, p = _setup(env)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"GET /upgrade HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
              b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 101")
    s.close()
    (l,) = _line(p, "/upgrade")
    assert l["term"] == "tunnel" and l["status"] == 101, l
    time.sleep(0.3)      # nothing more comes for it
    assert len(_line(p, "/upgrade")) == 1


# ---- HTTP/2 -------------------------------------------------------------

def _h2_get(port, path):
    c = H2Client(port)
    st = c.get(path)
    c.close()
    return st


def test_h2_server_reset_mid_body_is_counted(env):
    fs, p = _setup(env)
    st = _h2_get(p.port, "/cut")
    assert st.status == 200 and len(st.data) < BODY_LEN, (st.status, len(st.data))
    assert st.reset is not None, "the stream must be reset, not ended"
    (l,) = _line(p, "/cut")
    assert l["term"] == "server_reset" and l["proto"] == "h2", l
    assert wait_until(lambda: _errors(p, "reset") == 1)
    assert _blue_window(p)["error_rate"] == 1.0


def test_h2_server_quiet_and_bad_body(env):
    fs, p = _setup(env)
    _h2_get(p.port, "/quiet")
    (l,) = _line(p, "/quiet")
    assert l["term"] == "server_timeout", l
    _h2_get(p.port, "/badchunk")
    (l,) = _line(p, "/badchunk")
    assert l["term"] == "bad_body", l
    assert wait_until(lambda: _errors(p, "timeout") == 1 and _errors(p, "protocol") == 1)
    w = _blue_window(p)
    assert w["requests"] == 2 and w["error_rate"] == 1.0, w


def test_h2_client_reset_is_not_the_servers_fault(env):
    fs, p = _setup(env)
    c = H2Client(p.port)
    sid = c.request("/hold")
    end = time.time() + 10
    while time.time() < end and len(c.streams[sid].data) < 500:
        c.pump(timeout=0.5)
    c.conn.reset_stream(sid, 8)
    c.flush()
    (l,) = _line(p, "/hold")
    assert l["term"] == "client_abort" and l["proto"] == "h2", l
    sid2 = c.request("/fine")
    c.wait([sid2])
    c.close()
    (l,) = _line(p, "/fine")
    assert l["term"] == "done", l
    w = _blue_window(p)
    assert w["requests"] == 1 and w["error_rate"] == 0.0, w


def test_h2_connection_closed_mid_stream(env):
    fs, p = _setup(env)
    c = H2Client(p.port)
    sid = c.request("/hold")
    end = time.time() + 10
    while time.time() < end and len(c.streams[sid].data) < 500:
        c.pump(timeout=0.5)
    c.sock.close()
    (l,) = _line(p, "/hold")
    assert l["term"] == "client_abort", l
    assert _blue_window(p)["requests"] == 0


# ---- requests waiting on a pool that is reverted ----------------------------

def test_requests_waiting_on_a_reverted_pool_go_to_stable_at_once(env):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green], {"candidate_percent": 100, "cookie": ""},
                  extra='timeouts = { upstream_response_ms = 20000; };\n'
                  'metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    p.metrics_port = mport
    green.ctl("slow?ms=15000")
    results = []

    def one(i):
        t0 = time.time()
        try:
            st, h, body = get(p.port, "/?i=%d" % i, timeout=15)
            results.append((st, body.decode().strip(), time.time() - t0))
        except Exception as e:      # noqa: BLE001 - the test reports it
            results.append((None, repr(e), time.time() - t0))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    # all six wait on green
    assert wait_until(lambda: sum(s["active"] for s in
                                  json_status(p)["pools"]["green"]["server_list"]) == 6), \
        json_status(p)["pools"]["green"]
    ok, first, rest = admin(p.port, "revert")
    assert ok, first
    t0 = time.time()
    for t in threads:
        t.join(20)
    assert len(results) == 6
    assert all(r[0] == 200 and r[1] == "blue" for r in results), results
    assert time.time() - t0 < 5, results
    got = []

    def logged():
        got[:] = [l for l in p.access_lines() if l["path"].startswith("/?i=")]
        return len(got) == 6
    assert wait_until(logged), got
    assert all(l["pool"] == "blue" and l["term"] == "done" for l in got), got
    # the six attempts on green count as its errors
    assert metric(mport, 'bgproxy_upstream_errors_total{pool="green",kind="timeout"}') == 6


def test_h2_streams_waiting_on_a_reverted_pool_go_to_stable(env):
    green = env.demo("green")
    blue = env.demo("blue")
    port = free_port()
    text = config_text(port, [blue.addr], [green.addr], {"candidate_percent": 100, "cookie": ""},
                       'timeouts = { upstream_response_ms = 20000; };\n')
    text = text.replace('listen = ( { address = "127.0.0.1:%d"; } ' % port,
                        'listen = ( { address = "127.0.0.1:%d"; h2c = true; } ' % port)
    p = Proxy(env.tmp, text, port)
    env.proxies.append(p)
    green.ctl("slow?ms=15000")
    c = H2Client(port)
    sids = [c.request("/?s=%d" % i) for i in range(4)]
    assert wait_until(lambda: sum(s["active"] for s in
                                  json_status(p)["pools"]["green"]["server_list"]) == 4)
    assert admin(p.port, "revert")[0]
    t0 = time.time()
    assert c.wait(sids, timeout=10)
    assert time.time() - t0 < 5
    for sid in sids:
        assert c.streams[sid].status == 200 and bytes(c.streams[sid].data).strip() == b"blue"
    c.close()


def test_show_servers_has_checks_time_in_state_and_errors_by_class(env):
    fs = FaultServer()
    env.demos.append(fs)
    green = env.demo("green")
    health = 'health = { path = "/healthz"; interval_ms = 200; timeout_ms = 150; rise = 1; fall = 2; };'
    port = free_port()
    text = config_text(port, [fs.addr], [green.addr], {"candidate_percent": 0},
                       'timeouts = { upstream_response_ms = 800; };\n')
    text = text.replace('green = { servers = ( { address = "%s"; } ); };' % green.addr,
                        'green = { servers = ( { address = "%s"; } ); %s };' % (green.addr, health))
    p = Proxy(env.tmp, text, port)
    env.proxies.append(p)
    _h1(p.port, "/cut")
    _h1(p.port, "/badchunk")
    get(p.port, "/fine")

    def servers():
        return {s["address"]: s for s in json.loads(admin(p.port, "json show servers")[2])["servers"]}
    assert wait_until(lambda: servers()[green.addr]["check"] is not None)
    # an exchange is counted at its end, which may come just after the
    # client has its last byte: wait for the third
    assert wait_until(lambda: servers()[fs.addr]["requests"] == 3), servers()[fs.addr]
    s = servers()
    b, g = s[fs.addr], s[green.addr]
    assert b["errors_by"]["reset"] == 1 and b["errors_by"]["protocol"] == 1, b
    assert b["errors_by"]["5xx"] == 0 and b["errors"] == 2 and b["requests"] == 3, b
    assert b["check"] is None and b["state_s"] >= 0, b
    assert g["check"]["ok"] is True and g["check"]["age_s"] < 5 and g["check"]["why"] is None, g
    # a failing check says why; the state's clock starts again
    green.ctl("health?ok=0")
    assert wait_until(lambda: servers()[green.addr]["state"] == "down")
    g = servers()[green.addr]
    assert g["check"]["ok"] is False and "503" in g["check"]["why"], g
    assert g["state_s"] < 5, g
    text = admin(p.port, "show servers")[2]
    line = [l for l in text.splitlines() if l.startswith("green ")][0]
    assert " down " in line and "check failed: " in line and " s ago)" in line, line
    line = [l for l in text.splitlines() if l.startswith("blue ")][0]
    assert "(5xx 0 connect 0 timeout 0 reset 1 protocol 1)" in line and " for " in line, line


def test_requests_waiting_on_a_server_marked_down_go_to_another(env):
    b1, b2, green = env.demo("blue"), env.demo("blue"), env.demo("green")
    health = ('health = { path = "/healthz"; interval_ms = 200; timeout_ms = 150; rise = 1; '
              'fall = 2; };')
    port = free_port()
    text = config_text(port, [b1.addr, b2.addr], [green.addr], {"candidate_percent": 0},
                       'timeouts = { upstream_response_ms = 20000; };\n')
    text = text.replace('blue = { servers = ( { address = "%s"; }, { address = "%s"; } ); };'
                        % (b1.addr, b2.addr),
                        'blue = { servers = ( { address = "%s"; }, { address = "%s"; } ); %s };'
                        % (b1.addr, b2.addr, health))
    assert health in text
    p = Proxy(env.tmp, text, port)
    env.proxies.append(p)
    # b1 answers nothing for 15 s; three requests wait on it
    b1.ctl("slow?ms=15000")
    results = []

    def one(i):
        try:
            st, h, body = get(port, "/?w=%d" % i, timeout=15)
            results.append((st, h.get("x-server", "")))
        except Exception as e:      # noqa: BLE001 - the test reports it
            results.append((None, repr(e)))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()

    def waiting_on_b1():
        srv = {x["address"]: x for x in json_status(p)["pools"]["blue"]["server_list"]}
        return srv[b1.addr]["active"] == 3
    assert wait_until(waiting_on_b1), json_status(p)["pools"]["blue"]
    # its health checks fail now: marked down, what waits on it moves
    b1.ctl("health?ok=0")
    t0 = time.time()
    for t in threads:
        t.join(20)
    assert len(results) == 6 and all(r[0] == 200 for r in results), results
    assert all(r[1].endswith(str(b2.port)) for r in results), results
    assert time.time() - t0 < 8, time.time() - t0


def test_errors_by_class_add_up_to_the_errors(env):
    # a POST reset before its head (our 502: it is not sent again) is a
    # reset, not a 5xx too
    fs, p = _setup(env)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"POST /drop HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab")
    assert s.recv(100).startswith(b"HTTP/1.1 502")
    s.close()
    (l,) = _line(p, "/drop")
    assert l["term"] == "replied" and l["status"] == 502, l
    b = json.loads(admin(p.port, "json show servers")[2])["servers"][0]
    by = b["errors_by"]
    assert b["errors"] == sum(by.values()), b


def test_h2_body_beyond_its_content_length_is_a_bad_body(env):
    fs, p = _setup(env)
    c = H2Client(p.port)
    sid = c.request("/wait?long", method="POST", headers=[("content-length", "5")], end=False)
    c.conn.send_data(sid, b"0123456789", end_stream=True)
    c.flush()
    c.wait([sid], timeout=10)
    assert c.streams[sid].reset is not None, vars(c.streams[sid])
    c.close()
    (l,) = _line(p, "/wait?long")
    assert l["term"] == "bad_body" and l["proto"] == "h2", l
    assert _blue_window(p)["server_list"][0]["errors"] == 0


def test_h2_client_that_never_opens_its_window_is_a_client_timeout(env):
    fs = FaultServer()
    env.demos.append(fs)
    p = _proxy(env, fs, timeouts="client_idle_ms = 1000;")
    c = H2Client(p.port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    sid = c.request("/hold")
    c.pump(lambda: c.goaway is not None or c.closed, timeout=15)
    c.close()
    (l,) = _line(p, "/hold", timeout=15)
    assert l["term"] == "client_timeout" and l["proto"] == "h2", l
    assert _blue_window(p)["requests"] == 0


def test_bytes_count_the_body_without_its_chunk_framing(env):
    """The access line's bytes is the response body: a chunked body that
    goes on framed to an HTTP/1.1 client counts its data only."""
    from harness import blue_green_proxy
    _, _, p = blue_green_proxy(env)
    st, h, body = get(p.port, "/big?n=100&chunked")
    assert st == 200 and len(body) == 100, (st, len(body))
    assert wait_until(lambda: len(p.access_lines()) >= 1)
    assert p.access_lines()[-1]["bytes"] == 100, p.access_lines()[-1]
