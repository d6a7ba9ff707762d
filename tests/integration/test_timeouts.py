"""The four timers of a proxied request (docs/http.md) and what 1xx, 204 and
Set-Cookie responses do to them: a slow client is the client's timeout and
never blames a server; the response timer runs from the request fully sent;
pooled connections have their own idle timer; an idle keep-alive client
connection closes quietly at client_idle_ms."""
import json
import socket
import threading
import time

from harness import get, raw, statuses, wait_until, admin


def _status(port):
    return json.loads(admin(port, "json status")[2])


def _servers(port):
    """show servers as {address: [state, active, requests, errors]}."""
    out = {}
    for line in admin(port, "show servers")[2].splitlines():
        f = line.split()      # pool address state active N requests N errors N
        out[f[1]] = [f[2], f[4], f[6], f[8]]
    return out


_wait = wait_until


def _read_all(s):
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        out += b
    return out


def _slow_post(port, body, gap_s):
    """POST /echo with the body sent a piece every gap_s; returns the raw answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 10):
        time.sleep(gap_s)      # a fixed pace on purpose: the slow client under test
        s.sendall(body[i:i + 10])
    out = _read_all(s)
    s.close()
    return out


def test_slow_upload_is_not_a_server_timeout(env):
    """A body slower than upstream_response_ms in all is served: the response
    timer starts once the request is sent.  No server is marked, no traffic
    moves to the other pool, the guard sees no error."""
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 0},
                  extra="timeouts = { upstream_response_ms = 800; };")
    body = b"0123456789" * 4
    results = [None] * 4

    def one(i):
        results[i] = _slow_post(p.port, body, 0.45)   # ~1.8 s in all, 0.45 s gaps
    ts = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    for r in results:
        assert statuses(r) == [200], r
        assert r.endswith(body), r
    # blue was not blamed: still up, no errors, no passive mark
    srv = _servers(p.port)
    assert srv[blue.addr][0] == "up" and srv[blue.addr][3] == "0", srv
    for _ in range(10):
        st, h, b = get(p.port)
        assert st == 200 and b == b"blue\n", (st, b)
    st = _status(p.port)
    assert st["pools"]["blue"]["error_rate"] == 0, st


def test_slow_upload_on_a_pooled_connection(env):
    """The pool's idle timer does not follow a connection out of the pool: a
    slow body on a reused connection outlasts upstream_idle_ms."""
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 0},
                  extra="timeouts = { upstream_idle_ms = 700; upstream_response_ms = 5000; };")
    c0 = blue.stats()["connections"]
    assert get(p.port)[0] == 200               # pools a connection
    body = b"0123456789" * 5
    r = _slow_post(p.port, body, 0.3)          # 1.5 s in all, > upstream_idle_ms
    assert statuses(r) == [200] and r.endswith(body), r
    # it was the pooled connection (one for the GET, one for each stats query)
    assert blue.stats()["connections"] == c0 + 2, (c0, blue.stats())
    srv = _servers(p.port)
    assert srv[blue.addr][3] == "0", srv


def test_slow_client_body_gets_408_and_blames_nobody(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 0},
                  extra="timeouts = { client_body_ms = 400; upstream_response_ms = 5000; };")
    for _ in range(4):      # more than the passive-marking threshold
        s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        t0 = time.time()
        out = _read_all(s)
        s.close()
        assert statuses(out) == [408], out
        assert time.time() - t0 < 3, time.time() - t0
    srv = _servers(p.port)
    assert srv[blue.addr][0] == "up" and srv[blue.addr][3] == "0", srv
    st = _status(p.port)
    # not in the guard's window: neither a request nor an error of blue
    assert st["pools"]["blue"]["requests"] == 0, st
    assert get(p.port)[2] == b"blue\n"
    posts = lambda: [l["status"] for l in p.access_lines() if l["method"] == "POST"]
    assert _wait(lambda: len(posts()) == 4, timeout=5) and posts() == [408] * 4, posts()
    # a body that keeps coming, however slowly in all, is not cut
    r = _slow_post(p.port, b"x" * 30, 0.25)
    assert statuses(r) == [200], r


def test_reused_connection_gets_the_whole_response_time(env):
    """An idle pooled connection does not eat into the next request's
    response timer."""
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 0},
                  extra="timeouts = { upstream_response_ms = 1500; };")
    assert get(p.port)[0] == 200
    c0 = blue.stats()["connections"]
    # a fixed time on purpose: the connection idles in the pool, and that
    # idle time must not count against the next request's 1.5 s
    time.sleep(1.1)
    t0 = time.time()
    st, h, b = get(p.port, "/slow?ms=1000")
    assert st == 200, (st, b, time.time() - t0)
    # it was the pooled one: the only new connection is this stats query's
    assert blue.stats()["connections"] == c0 + 1, (c0, blue.stats())


def test_pooled_connection_closed_after_upstream_idle_ms(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], {"candidate_percent": 0},
                  extra="timeouts = { upstream_idle_ms = 300; upstream_response_ms = 60000; };")
    assert get(p.port)[0] == 200
    # the only connection left open is this stats query's own
    assert _wait(lambda: blue.stats()["active_connections"] == 1, timeout=5), blue.stats()
    c0 = blue.stats()["connections"]
    assert get(p.port)[0] == 200
    assert blue.stats()["connections"] == c0 + 2, (c0, blue.stats())   # a new one, and ours


class _Scripted:
    """A one-shot upstream: accepts connections and plays fn(sock, head).
    Requests sent with ask() are counted, so that fn can hold() its
    connection open until the client has read the answer."""

    def __init__(self, fn):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.fn = fn
        self.served = 0           # connections that ended
        self.answered = 0         # answers ask() has read
        self.local = threading.local()
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        self.local.answered = self.answered    # a new connection: a new request
        c.settimeout(10)
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                b = c.recv(4096)
                if not b:
                    return
                head += b
            self.fn(c, head)
        except OSError:
            pass
        finally:
            c.close()
            self.served += 1

    def ask(self, port, data, **kw):
        """raw() through the proxy; counts the answer for hold()."""
        out = raw(port, data, **kw)
        self.answered += 1
        return out

    def hold(self):
        """Keep this connection open until the client has read its answer
        (like a keep-alive server): the response ends by its own framing,
        not by the close."""
        wait_until(lambda: self.answered > self.local.answered, timeout=10)

    def close(self):
        self.stop = True
        self.t.join(2)
        self.ls.close()


class _Addr:
    def __init__(self, addr):
        self.addr = addr


def _scripted_env(env, fn, extra=""):
    up = _Scripted(fn)
    env.traffic.append(type("S", (), {"stop": up.close})())
    green = env.demo("green")
    p = env.proxy([_Addr(up.addr)], [green], {"candidate_percent": 0}, extra=extra)
    p.upstream = up
    return p


def test_interim_responses_bounded_and_without_content_length(env):
    def fn(c, head):
        n = 11 if b"/many" in head else 2
        for _ in range(n):
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\nContent-Length: 0\r\n\r\n")
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        p.upstream.hold()
    p = _scripted_env(env, fn)
    out = p.upstream.ask(p.port, b"GET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert statuses(out) == [103, 103, 200], out
    interim = out.split(b"HTTP/1.1 200")[0]
    assert b"Link: </a.css>" in interim and b"content-length" not in interim.lower(), out
    assert out.endswith(b"ok"), out
    out = p.upstream.ask(p.port, b"GET /many HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert statuses(out)[-1] == 502 and statuses(out).count(103) == 10, out


def test_interim_responses_do_not_restart_the_response_timer(env):
    def fn(c, head):
        for _ in range(8):
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
            # a fixed pace on purpose: interim answers that together outlast
            # upstream_response_ms
            time.sleep(0.3)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    p = _scripted_env(env, fn, extra="timeouts = { upstream_response_ms = 1000; };")
    t0 = time.time()
    out = raw(p.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout=5)
    took = time.time() - t0
    assert statuses(out)[-1] == 504, out
    assert took < 2.0, took


def test_204_content_length_dropped_and_one_bgp_cookie(env):
    def fn(c, head):
        if b"/nocontent" in head:
            c.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n")
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: bgp=fromserver; Path=/\r\n"
                      b"Set-Cookie: session=1\r\nContent-Length: 2\r\n\r\nok")
        p.upstream.hold()
    p = _scripted_env(env, fn)
    out = p.upstream.ask(p.port, b"GET /nocontent HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert statuses(out) == [204] and b"X-A: 1" in out, out
    assert b"content-length" not in out.lower(), out
    # no key yet: bgproxy sets its cookie, the server's bgp cookie is dropped
    out = p.upstream.ask(p.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    cookies = [l for l in out.split(b"\r\n") if l.lower().startswith(b"set-cookie:")]
    bgp = [l for l in cookies if b" bgp=" in l]
    assert len(bgp) == 1 and b"fromserver" not in bgp[0], out
    assert b"Set-Cookie: session=1" in cookies, out
    # the client has a key: bgproxy sets nothing, the server's cookie passes
    out = p.upstream.ask(p.port, b"GET / HTTP/1.1\r\nHost: a\r\nCookie: bgp=alice\r\nConnection: close\r\n\r\n")
    assert b"Set-Cookie: bgp=fromserver; Path=/" in out, out


def test_bad_host_port_and_huge_chunk_size_refused(env):
    seen = []

    def fn(c, head):
        data = head
        c.settimeout(1)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            pass
        seen.append(data)
    p = _scripted_env(env, fn)
    assert statuses(raw(p.port, b"GET / HTTP/1.1\r\nHost: a:xx\r\n\r\n")) == [400]
    assert seen == []
    for size in (b"ffffffffffffffff", b"8000000000000000", b"0000000000000001a"):
        out = raw(p.port, b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  size + b"\r\nhello\r\n0\r\n\r\n")
        assert statuses(out) == [400], (size, out)
    # the head may have gone ahead, the size line never does
    assert _wait(lambda: p.upstream.served == 3, timeout=5), p.upstream.served
    for data in seen:
        assert data.endswith(b"\r\n\r\n") and b"hello" not in data, seen
        assert b"ffff" not in data and b"8000" not in data and b"0001a" not in data, seen


def test_idle_keepalive_closed_quietly(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra="timeouts = { client_idle_ms = 300; };")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    out = b""
    t0 = time.time()
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    assert statuses(out) == [200]
    assert time.time() - t0 < 3
    s.close()
