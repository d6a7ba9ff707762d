"""Every error response bgproxy writes itself, and the ambiguous requests it
must refuse without forwarding (the smuggling defences, in our own words)."""
import socket
import time

from harness import get, raw, statuses, free_port


def _env(env, extra=""):
    blue, green = env.demo("blue"), env.demo("green")
    return blue, green, env.proxy([blue], [green], {"candidate_percent": 0}, extra=extra)


AMBIGUOUS = [
    ("cl+te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
    ("dup-cl-diff", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    ("dup-cl-same", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
    ("cl-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc"),
    ("cl-plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc"),
    ("cl-hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc"),
    ("cl-space-before-colon", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc"),
    ("te-gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
    ("te-chunked-twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    ("te-quoted", b'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n'),
    ("te-vtab", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n"),
    ("te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("chunk-0x", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
    ("chunk-plus", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"),
    ("chunk-no-crlf", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n"),
    ("bare-cr", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n"),
    ("bare-lf", b"GET / HTTP/1.1\nHost: a\n\n"),
    ("nul-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n"),
    ("ctl-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n"),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n"),
    ("bad-name", b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"),
    ("no-host", b"GET / HTTP/1.1\r\n\r\n"),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("target-space", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("target-ctl", b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("bad-method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("http09", b"GET /\r\n\r\n"),
]


def test_ambiguous_requests_refused_and_not_forwarded(env):
    blue, green, p = _env(env)
    before = blue.stats()["requests"]
    for name, data in AMBIGUOUS:
        out = raw(p.port, data)
        st = statuses(out)
        assert st and 400 <= st[0] < 500 or st == [505], (name, out[:200])
        assert b"Connection: close" in out, name
    assert blue.stats()["requests"] == before, "an ambiguous request reached the server"
    # and the proxy still serves
    assert get(p.port)[0] == 200


def test_smuggled_request_after_bad_chunk_not_forwarded(env):
    blue, green, p = _env(env)
    out = raw(p.port, b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\nzz\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
    assert b"/smuggled" not in out
    st = statuses(out)
    assert 400 in st or st == [], out


def test_431_too_large_headers(env):
    blue, green, p = _env(env)
    out = raw(p.port, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert statuses(out) == [431], out[:100]
    out = raw(p.port, b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(150)) + b"\r\n")
    assert statuses(out) == [431], out[:100]


def test_408_slow_client(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra="timeouts = { client_header_ms = 300; };")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
    t0 = time.time()
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    assert statuses(out) == [408], out
    assert time.time() - t0 < 3
    s.close()



def test_502_server_down(env):
    green = env.demo("green")
    dead = free_port()
    from harness import Proxy, config_text
    port = free_port()
    q = Proxy(env.tmp, config_text(port, ["127.0.0.1:%d" % dead], [green.addr]), port)
    env.proxies.append(q)
    st, h, body = get(port)
    assert st == 502 and b"502" in body
    assert h.get("content-type") == "text/plain"


def test_504_server_too_slow(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra="timeouts = { upstream_response_ms = 300; };")
    t0 = time.time()
    st, h, body = get(p.port, "/slow?ms=2000")
    assert st == 504 and time.time() - t0 < 1.5
    assert get(p.port)[0] == 200


def test_405_connect_and_417_expect(env):
    blue, green, p = _env(env)
    assert statuses(raw(p.port, b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")) == [405]
    assert statuses(raw(p.port, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: bogus\r\nContent-Length: 1\r\n\r\nx")) == [417]


def test_server_closes_mid_response(env):
    blue, green, p = _env(env)
    blue.ctl("close?on=1")
    st, h, body = get(p.port)
    assert st == 502
    blue.ctl("reset")
    assert get(p.port)[0] == 200


def test_failover_when_pool_has_no_server_up(env):
    from harness import Proxy, config_text
    green = env.demo("green")
    dead = free_port()
    port = free_port()
    q = Proxy(env.tmp, config_text(port, ["127.0.0.1:%d" % dead], [green.addr]), port)
    env.proxies.append(q)
    # three connect failures in a row take the blue server out of rotation
    assert [get(port)[0] for _ in range(3)] == [502, 502, 502]
    for _ in range(5):
        st, h, body = get(port)
        assert st == 200 and body == b"green\n"
    assert "out of rotation" in q.output()


def test_503_when_no_server_is_up(env):
    from harness import Proxy, config_text
    port = free_port()
    q = Proxy(env.tmp, config_text(port, ["127.0.0.1:%d" % free_port()],
                                   ["127.0.0.1:%d" % free_port()]), port)
    env.proxies.append(q)
    got = [get(port)[0] for _ in range(6)]
    assert got == [502] * 6, got
    st, h, body = get(port)
    assert st == 503 and body.startswith(b"503 Service Unavailable")
    assert h.get("content-type") == "text/plain"


def test_error_reply_survives_unread_body(env):
    """431 while the client is still sending: the client must still read
    the answer (lingering close, no reset)."""
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green])
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 40000 + b"\r\n")
    try:
        s.sendall(b"b" * 200000)
    except OSError:
        pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    assert out.startswith(b"HTTP/1.1 431"), out[:80]
    s.close()
