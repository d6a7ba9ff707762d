"""HTTP/2 to clients (CONTRACT section 11): ALPN and h2c, the split per
stream, bodies both ways, trailers, WebSocket over extended CONNECT, the
strict translation to HTTP/1.1, limits, graceful shutdown, idle close,
metrics and the access log.  Clients: curl --http2, nghttp, python3-h2."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import h2.settings

from harness import config_text, wait_until, Proxy, free_port, admin as admin_line
from h2client import H2Client, RawH2, PROTOCOL_ERROR, NO_ERROR, REFUSED_STREAM, hf
import test_tls as tlsutil
from test_http import _OneShot, _ws_frame


def h2c_conf(port, blue, green, split=None, extra="", h2c="true"):
    text = config_text(port, blue, green, split, extra)
    return text.replace('listen = ( { address = "127.0.0.1:%d"; } ' % port,
                        'listen = ( { address = "127.0.0.1:%d"; h2c = %s; } ' % (port, h2c))


def _h2c(env, split=None, extra="", demos=None):
    blue, green = demos or (env.demo("blue"), env.demo("green"))
    port = free_port()
    p = Proxy(env.tmp, h2c_conf(port, [blue.addr], [green.addr], split, extra), port)
    env.proxies.append(p)
    return blue, green, p


def _curl(*args, timeout=60):
    return subprocess.run(["curl", "-s", "-S"] + list(args), capture_output=True,
                          timeout=timeout)


def _metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def _metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line == name:
            return float(line.split()[-1])
    return None


def _mport():
    return free_port()


def test_h2c_prior_knowledge_and_access_log(env):
    mport = _mport()
    blue, green, p = _h2c(env, extra='metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    r = _curl("--http2-prior-knowledge", "-D", "-", "http://127.0.0.1:%d/" % p.port)
    out = r.stdout.decode()
    assert out.startswith("HTTP/2 200"), out
    assert out.rstrip().endswith("blue")
    # an HTTP/1.1 client on the same listener is served as before
    r = _curl("--http1.1", "-D", "-", "http://127.0.0.1:%d/" % p.port)
    assert r.stdout.decode().startswith("HTTP/1.1 200")
    lines = p.wait_access_lines(2)
    assert [l["proto"] for l in lines[:2]] == ["h2", "http/1.1"], lines
    m = _metrics(mport)
    assert _metric(m, 'bgproxy_requests_total{pool="blue",class="2xx",proto="h2"}') == 1
    assert _metric(m, 'bgproxy_requests_total{pool="blue",class="2xx",proto="http/1.1"}') == 1
    assert _metric(m, "bgproxy_http2_streams_active") == 0
    assert 'bgproxy_http2_goaways_total{reason="rapid_reset"} 0' in m


def test_h2c_off_by_default(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green])
    r = _curl("--http2-prior-knowledge", "http://127.0.0.1:%d/" % p.port)
    assert r.returncode != 0 or b"HTTP/2" not in r.stdout


def _tls_proxy(env, alpn=None, extra=""):
    blue, green = env.demo("blue"), env.demo("green")
    pem, key = tlsutil.make_cert(env.tmp, "h2", ["localhost"])
    port = free_port()
    text = tlsutil.tls_conf(port, blue, green, [(pem, key)], extra=extra)
    if alpn is not None:
        text = text.replace("tls = { certificates", "tls = { alpn = [ %s ]; certificates" %
                            ", ".join('"%s"' % a for a in alpn))
    p = Proxy(env.tmp, text, port)
    env.proxies.append(p)
    return blue, green, p


def test_alpn_offers_h2_then_http11(env):
    blue, green, p = _tls_proxy(env)
    url = "https://127.0.0.1:%d/" % p.port
    r = _curl("-k", "--http2", "-w", "%{http_version}", "-o", "/dev/null", url)
    assert r.stdout == b"2", r
    r = _curl("-k", "--http1.1", "-w", "%{http_version}", "-o", "/dev/null", url)
    assert r.stdout == b"1.1", r
    c = H2Client(p.port, tls=True)
    st = c.get("/")
    assert st.status == 200 and bytes(st.data) == b"blue\n"
    # what bgproxy announces in its SETTINGS: the contract's defaults
    assert c.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS) == 100
    assert c.remote_settings.get(h2.settings.SettingCodes.INITIAL_WINDOW_SIZE) == 65535
    assert c.remote_settings.get(h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE) == 16384
    assert c.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1
    c.close()


def test_alpn_http11_only(env):
    blue, green, p = _tls_proxy(env, alpn=["http/1.1"])
    r = _curl("-k", "--http2", "-w", "%{http_version}", "-o", "/dev/null",
              "https://127.0.0.1:%d/" % p.port)
    assert r.stdout == b"1.1", r


def test_sticky_split_over_100_streams_on_one_connection(env):
    blue, green, p = _h2c(env, split={"candidate_percent": 50})
    c = H2Client(p.port)
    sids = [c.request("/") for _ in range(100)]
    assert c.wait(sids, timeout=30)
    first = {}
    for s in sids:
        st = c.streams[s]
        assert st.status == 200, (s, st.status, st.reset)
        cookie = st.headers["set-cookie"].split(";")[0]
        first[cookie] = bytes(st.data)
    colours = set(first.values())
    assert colours == {b"blue\n", b"green\n"}, colours
    # the same 100 users again, on the same connection: each keeps its colour
    sids = [(c.request("/", headers=[("cookie", ck)]), ck) for ck in first]
    assert c.wait([s for s, _ in sids], timeout=30)
    for s, ck in sids:
        st = c.streams[s]
        assert st.status == 200 and bytes(st.data) == first[ck], (ck, bytes(st.data))
        assert "set-cookie" not in st.headers
    c.close()


def test_3mb_uploads_and_downloads(env):
    blue, green, p = _h2c(env)
    up = os.path.join(env.tmp, "up.bin")
    with open(up, "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024))
    base = "http://127.0.0.1:%d" % p.port
    for url in (base + "/echo", base + "/echo?chunked"):
        out = os.path.join(env.tmp, "out.bin")
        r = _curl("--http2-prior-knowledge", "--data-binary", "@" + up, "-o", out, url)
        assert r.returncode == 0, r.stderr
        assert open(out, "rb").read() == open(up, "rb").read(), url
    # a body of unknown length (no content-length over HTTP/2): chunked up
    out = os.path.join(env.tmp, "out3.bin")
    r = subprocess.run("cat %s | curl -s --http2-prior-knowledge -T - -o %s %s/echo" % (up, out, base),
                       shell=True, timeout=60)
    assert open(out, "rb").read() == open(up, "rb").read()
    for q in ("n=3145728", "n=3145728&chunked", "n=3145728&close"):
        out = os.path.join(env.tmp, "dl.bin")
        r = _curl("--http2-prior-knowledge", "-o", out, "-w", "%{http_code} %{size_download}",
                  base + "/big?" + q)
        assert r.stdout == b"200 3145728", (q, r.stdout, r.stderr)


def test_nghttp_many_streams(env):
    blue, green, p = _h2c(env)
    r = subprocess.run(["nghttp", "-n", "-s", "-m", "50", "http://127.0.0.1:%d/" % p.port],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(" 200 ") >= 50 or r.stdout.count("/") >= 50, r.stdout


def test_response_trailers_and_request_trailers(env):
    green = env.demo("green")
    up = _OneShot(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n"
                  b"5\r\nhello\r\n0\r\nGrpc-Status: 0\r\nGrpc-Message: fine\r\n\r\n")

    class D:
        addr = up.addr
    blue_green = (D, green)
    _, _, p = _h2c(env, demos=blue_green)
    c = H2Client(p.port)
    st = c.get("/")
    assert st.status == 200 and bytes(st.data) == b"hello"
    assert st.trailers == {"grpc-status": "0", "grpc-message": "fine"}, st.trailers
    c.close()
    up.stop()

    # request trailers go up as the chunked body's trailer section
    seen = {}
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)

    def serve():
        s, _ = ls.accept()
        s.settimeout(5)
        data = b""
        while b"0\r\n" not in data or not data.endswith(b"\r\n\r\n") or data.count(b"\r\n\r\n") < 2:
            b = s.recv(4096)
            if not b:
                break
            data += b
        seen["req"] = data
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        s.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()

    class U:
        addr = "127.0.0.1:%d" % ls.getsockname()[1]
    _, _, p2 = _h2c(env, demos=(U, green))
    c = H2Client(p2.port)
    sid = c.request("/up", method="POST", end=False)
    c.send_data(sid, b"abc")
    c.conn.send_headers(sid, [("x-checksum", "123")], end_stream=True)
    c.flush()
    assert c.wait([sid])
    assert c.streams[sid].status == 200
    t.join(5)
    req = seen["req"]
    assert b"transfer-encoding: chunked\r\n" in req.lower()
    assert req.endswith(b"3\r\nabc\r\n0\r\nx-checksum: 123\r\n\r\n"), req
    c.close()
    ls.close()


def test_websocket_over_h2(env):
    blue, green, p = _h2c(env)
    c = H2Client(p.port)
    sid = c.request(pseudo=[(":method", "CONNECT"), (":protocol", "websocket"),
                            (":scheme", "http"), (":path", "/ws"), (":authority", "127.0.0.1")],
                    headers=[("sec-websocket-version", "13")], end=False)
    assert c.pump(lambda: c.streams[sid].status is not None)
    st = c.streams[sid]
    assert st.status == 200, st.headers
    assert "sec-websocket-accept" not in st.headers
    for msg in (b"hello", os.urandom(70000)):
        st.data = bytearray()
        c.send_data(sid, _ws_frame(msg, 2))
        want = len(msg) + (2 if len(msg) < 126 else 4 if len(msg) < 65536 else 10)
        assert c.pump(lambda: len(st.data) >= want, timeout=15), len(st.data)
        assert bytes(st.data).endswith(msg)
    # the client ends its side: the server closes, the stream ends
    c.send_data(sid, b"", end=True)
    assert c.pump(lambda: st.done(), timeout=10)
    c.close()


def _stream_error(c, headers, pseudo=None, body=None):
    sid = c.request("/", headers=headers, pseudo=pseudo, body=body)
    c.wait([sid], timeout=10)
    return c.streams[sid]


def test_forbidden_requests_are_stream_errors_never_forwarded(env):
    blue, green, p = _h2c(env)
    c = H2Client(p.port)
    before = blue.stats()["requests"]
    base = [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", "/")]
    cases = [
        ([("Upper-Case", "x")], None),
        ([("connection", "close")], None),
        ([("keep-alive", "1")], None),
        ([("transfer-encoding", "chunked")], None),
        ([("upgrade", "websocket")], None),
        ([("te", "gzip")], None),
        ([], [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1")]),
        ([], base + [(":path", "/again")]),
        ([], [(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":authority", "a"), (":path", "/")]),
        ([], [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", "")]),
        ([("host", "other.example")], None),
    ]
    for hdrs, pseudo in cases:
        st = _stream_error(c, hdrs, pseudo=pseudo)
        assert st.reset == PROTOCOL_ERROR or (st.status is not None and st.status >= 400), \
            (hdrs, pseudo, st.status, st.reset)
    # a content-length that disagrees with the DATA
    sid = c.request("/echo", method="POST", headers=[("content-length", "10")], body=b"abc")
    c.wait([sid])
    assert c.streams[sid].reset == PROTOCOL_ERROR or c.streams[sid].status is None
    assert not c.closed
    # the connection still serves; te: trailers is allowed; cookie crumbs are joined
    st = c.get("/headers", headers=[("te", "trailers"), ("cookie", "a=1"), ("cookie", "b=2")])
    assert st.status == 200
    assert b"cookie: a=1; b=2\r\n" in bytes(st.data).lower(), bytes(st.data)
    assert blue.stats()["requests"] == before + 1
    c.close()


def test_header_list_over_the_limit_is_431(env):
    blue, green, p = _h2c(env)
    c = H2Client(p.port)
    st = c.get("/", headers=[("x-a", "a" * 7000), ("x-b", "b" * 7000), ("x-c", "c" * 7000)])
    assert st.status == 431, (st.status, st.reset)
    st = c.get("/")
    assert st.status == 200
    c.close()


def test_limits_from_the_config(env):
    blue, green, p = _h2c(env, extra="http2 = { max_concurrent_streams = 7; "
                                       "initial_window_size = 1048576; max_header_list_size = 4096; };\n")
    c = H2Client(p.port)
    c.get("/")
    S = h2.settings.SettingCodes
    assert c.remote_settings[S.MAX_CONCURRENT_STREAMS] == 7
    assert c.remote_settings[S.INITIAL_WINDOW_SIZE] == 1048576
    assert c.remote_settings[S.MAX_HEADER_LIST_SIZE] == 4096
    st = c.get("/", headers=[("x-a", "a" * 5000)])
    assert st.status == 431
    c.close()
    # more streams than allowed at once: the extra ones are refused, the
    # others served
    r = RawH2(p.port)
    time.sleep(0.2)
    data = b"".join(r.headers_frame(2 * i + 1, RawH2.req("/slow?ms=300")) for i in range(9))
    r.send(data)
    wait_until(lambda: len(r.of(hf.RstStreamFrame)) >= 2 and
               len([f for f in r.of(hf.HeadersFrame)]) >= 7, timeout=10)
    assert len([f for f in r.of(hf.HeadersFrame)]) == 7
    assert len(r.of(hf.RstStreamFrame)) == 2
    assert [f.error_code for f in r.of(hf.RstStreamFrame)] == [REFUSED_STREAM] * 2
    r.close()


def test_bad_http2_config_values(env):
    blue, green = env.demo("blue"), env.demo("green")
    bgproxy = os.path.join(os.environ["BGPROXY_BUILD"], "bgproxy")
    for extra, want in (
            ("http2 = { max_concurrent_streams = 0; };", '"http2.max_concurrent_streams" must be 1..10000'),
            ("http2 = { initial_window_size = 10; };", '"http2.initial_window_size" must be'),
            ("http2 = { max_header_list_size = 100; };", '"http2.max_header_list_size" must be'),
            ("http2 = { max_streams = 5; };", 'unknown key "max_streams"')):
        port = free_port()
        path = os.path.join(env.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(config_text(port, [blue.addr], [green.addr], extra=extra + "\n"))
        r = subprocess.run([bgproxy, "-t", "-c", path], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and want in r.stderr, (extra, r.stderr)
        assert path + ":" in r.stderr
    # tls.alpn: only h2 and http/1.1, once each; h2c only on a plain listener
    pem, key = tlsutil.make_cert(env.tmp, "x", ["localhost"])
    for alpn, want in (('[ "spdy/3" ]', '"tls.alpn" entries are "h2" or "http/1.1"'),
                       ('[ "h2", "h2" ]', 'names "h2" twice'), ('[ ]', "at least one")):
        port = free_port()
        text = tlsutil.tls_conf(port, blue, green, [(pem, key)]).replace(
            "tls = { certificates", "tls = { alpn = %s; certificates" % alpn)
        path = os.path.join(env.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([bgproxy, "-t", "-c", path], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and want in r.stderr, (alpn, r.stderr)
    port = free_port()
    text = tlsutil.tls_conf(port, blue, green, [(pem, key)]).replace(
        "tls = { certificates", "h2c = true; tls = { certificates")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([bgproxy, "-t", "-c", path], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and '"h2c" is for a plain listener' in r.stderr, r.stderr


def test_sigterm_sends_goaway_and_open_streams_finish(env):
    blue, green, p = _h2c(env, extra="timeouts = { shutdown_ms = 10000; };\n")
    r = RawH2(p.port)
    sids = [1, 3, 5, 7, 9]
    r.send(b"".join(r.headers_frame(s, RawH2.req("/slow?ms=800")) for s in sids))
    wait_until(lambda: blue.stats()["requests"] >= 5, timeout=10)
    p.signal(signal.SIGTERM)
    assert r.wait_goaway(10) is not None
    code, last = r.goaway
    assert code == NO_ERROR and last >= max(sids), r.goaway
    assert wait_until(lambda: all(r.ended(s) for s in sids), timeout=15)
    for s in sids:
        assert r.ended(s) == (200, b"blue\n"), r.ended(s)
    assert r.wait_closed(10)          # then the connection closes
    assert p.proc.wait(15) == 0


def test_drain_and_reload_send_goaway(env):
    mport = _mport()
    blue, green, p = _h2c(env, extra='metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    r = RawH2(p.port)
    r.send(r.headers_frame(1, RawH2.req("/slow?ms=500")))
    wait_until(lambda: blue.stats()["requests"] >= 1, timeout=10)
    p.signal(signal.SIGHUP)
    assert r.wait_goaway(10) is not None
    assert r.goaway[0] == NO_ERROR and r.goaway[1] >= 1
    assert wait_until(lambda: r.ended(1), timeout=10)
    assert r.ended(1)[0] == 200
    assert r.wait_closed(10)
    assert wait_until(lambda: 'bgproxy_http2_goaways_total{reason="reload"} 1' in _metrics(mport))
    # after the reload a new connection is served
    c2 = H2Client(p.port)
    assert c2.get("/").status == 200
    c2.close()


def test_idle_connection_closes(env):
    mport = _mport()
    blue, green, p = _h2c(env, extra='timeouts = { client_idle_ms = 600; };\n'
                                     'metrics = { address = "127.0.0.1:%d"; };\n' % mport)
    c = H2Client(p.port)
    assert c.get("/").status == 200
    t0 = time.time()
    assert c.pump(timeout=10)
    assert c.goaway is not None and c.goaway[0] == NO_ERROR
    assert time.time() - t0 < 5
    assert 'bgproxy_http2_goaways_total{reason="idle"} 1' in _metrics(mport)


def test_errors_of_our_own_and_retries(env):
    """A dead candidate: the stream is retried on stable; no server at all: 503."""
    blue, green = env.demo("blue"), env.demo("green")
    green.stop()
    port = free_port()
    p = Proxy(env.tmp, h2c_conf(port, [blue.addr], [green.addr], {"candidate_percent": 100}), port)
    env.proxies.append(p)
    c = H2Client(port)
    st = c.get("/")
    assert st.status == 200 and bytes(st.data) == b"blue\n"
    blue.stop()
    st = c.get("/")
    assert st.status in (502, 503), st.status
    assert st.headers["content-type"] == "text/plain"
    c.close()


def _status(port):
    ok, first, rest = admin_line(port, "json status")
    assert ok, first
    return json.loads(rest)


def test_guard_reverts_a_failing_canary_seen_over_h2(env):
    guard = ('guard = { interval_ms = 100; window_s = 5; min_requests = 20; '
             'max_error_rate = 0.05; };\n')
    blue, green, p = _h2c(env, extra=guard)
    green.ctl("fail?rate=1")
    ok, first, _ = admin_line(p.port, "set weight green 50")
    assert ok, first
    c = H2Client(p.port)
    end = time.time() + 15
    while time.time() < end and _status(p.port)["state"] != "reverted":
        sids = [c.request("/") for _ in range(10)]
        c.wait(sids)
    st = _status(p.port)
    assert st["state"] == "reverted" and st["weights"]["green"] == 0, st
    assert st["last_revert"].startswith("error_rate 1.00 > 0.05"), st["last_revert"]
    # after the revert every stream goes to blue
    sids = [c.request("/") for _ in range(20)]
    assert c.wait(sids)
    assert all(bytes(c.streams[s].data) == b"blue\n" for s in sids)
    c.close()


def test_forwarded_headers_override_and_upstream_timeout(env):
    blue, green, p = _h2c(env, extra="timeouts = { upstream_response_ms = 300; };\n")
    c = H2Client(p.port)
    st = c.get("/headers", headers=[("x-bgproxy-pool", "green")])
    head = bytes(st.data).lower()
    assert st.status == 200 and b"x-forwarded-for: 127.0.0.1\r\n" in head, head
    assert b"x-forwarded-proto: http\r\n" in head
    # the override header (from loopback, trusted by default) picks green
    st = c.get("/", headers=[("x-bgproxy-pool", "green")])
    assert bytes(st.data) == b"green\n"
    # a server slower than upstream_response_ms: 504 on that stream only
    slow = c.request("/slow?ms=2000")
    fast = c.request("/")
    assert c.wait([slow, fast])
    assert c.streams[fast].status == 200
    assert c.streams[slow].status == 504, c.streams[slow].status
    c.close()


def test_request_body_waits_for_a_server_that_does_not_read(env):
    """The client's window opens only as the server takes the body: a server
    that stops reading stops the upload, bgproxy's memory stays put."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    held = []

    def serve():
        s, _ = ls.accept()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        held.append(s)      # reads nothing more: the head stays in its buffer
    t = threading.Thread(target=serve, daemon=True)
    t.start()

    class U:
        addr = "127.0.0.1:%d" % ls.getsockname()[1]
    green = env.demo("green")
    _, _, p = _h2c(env, demos=(U, green))
    c = H2Client(p.port)
    sid = c.request("/up", method="POST", headers=[("content-length", str(64 << 20))], end=False)
    sent = 0
    chunk = b"x" * 16384
    try:
        while sent < (64 << 20):
            c.send_data(sid, chunk, timeout=2)
            sent += len(chunk)
    except RuntimeError:
        pass                     # the window stayed shut: what we want
    assert sent < (64 << 20), "the whole upload went through a server that reads nothing"
    # what is in flight: the stream window, bgproxy's 256 KiB toward the
    # server and the kernel's socket buffers; far below the body
    assert sent < 24 << 20, sent
    c.close()
    for s in held:
        s.close()
    ls.close()


def test_a_bad_response_is_our_502_not_a_reset(env):
    green = env.demo("green")
    up = _OneShot(b"HTTP/1.1 2000 Nonsense\r\nContent-Length: 2\r\n\r\nok")

    class D:
        addr = up.addr
    _, _, p = _h2c(env, demos=(D, green))
    c = H2Client(p.port)
    st = c.get("/")
    assert st.status == 502 and st.reset is None, (st.status, st.reset)
    assert bytes(st.data).startswith(b"502 ")
    c.close()
    up.stop()


def test_extended_connect_to_a_server_that_ignores_the_upgrade(env):
    """A server that answers 200 instead of 101 opened no tunnel: 502."""
    blue, green, p = _h2c(env)
    c = H2Client(p.port)
    sid = c.request(pseudo=[(":method", "CONNECT"), (":protocol", "websocket"),
                            (":scheme", "http"), (":path", "/"), (":authority", "127.0.0.1")],
                    headers=[("sec-websocket-version", "13")], end=False)
    assert c.pump(lambda: c.streams[sid].done(), timeout=10)
    assert c.streams[sid].status == 502, c.streams[sid].status
    c.close()


def test_websocket_tail_reaches_the_server_before_the_half_close(env):
    """A big last message and END_STREAM at once: the server gets all of it
    (the half-close waits for the bytes) and its echo comes back."""
    blue, green, p = _h2c(env)
    c = H2Client(p.port)
    sid = c.request(pseudo=[(":method", "CONNECT"), (":protocol", "websocket"),
                            (":scheme", "http"), (":path", "/ws"), (":authority", "127.0.0.1")],
                    headers=[("sec-websocket-version", "13")], end=False)
    assert c.pump(lambda: c.streams[sid].status is not None)
    st = c.streams[sid]
    msg = os.urandom(600000)
    c.send_data(sid, _ws_frame(msg, 2), end=True)
    assert c.pump(lambda: len(st.data) >= len(msg) + 10 or st.done(), timeout=20)
    assert bytes(st.data).endswith(msg), len(st.data)
    c.close()


def test_upload_with_a_large_window(env):
    blue, green, p = _h2c(env, extra="http2 = { initial_window_size = 4194304; };\n")
    up = os.path.join(env.tmp, "up.bin")
    with open(up, "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024))
    out = os.path.join(env.tmp, "out.bin")
    r = _curl("--http2-prior-knowledge", "--data-binary", "@" + up, "-o", out,
              "http://127.0.0.1:%d/echo" % p.port)
    assert r.returncode == 0, r.stderr
    assert open(out, "rb").read() == open(up, "rb").read()


def test_reload_turns_h2c_on_and_streams_are_counted(env):
    mport = _mport()
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    extra = 'metrics = { address = "127.0.0.1:%d"; };\n' % mport
    p = Proxy(env.tmp, h2c_conf(port, [blue.addr], [green.addr], extra=extra, h2c="false"), port)
    env.proxies.append(p)
    r = _curl("--http2-prior-knowledge", "http://127.0.0.1:%d/" % port)
    assert b"blue" not in r.stdout
    with open(p.conf, "w") as f:
        f.write(h2c_conf(port, [blue.addr], [green.addr], extra=extra, h2c="true"))
    ok, first, _ = admin_line(port, "reload")
    assert ok, first
    c = H2Client(port)
    assert c.get("/").status == 200
    sids = [c.request("/slow?ms=1500") for _ in range(5)]
    assert wait_until(lambda: _metric(_metrics(mport), "bgproxy_http2_streams_active") == 5,
                      timeout=10), _metrics(mport)
    assert c.wait(sids)
    assert wait_until(lambda: _metric(_metrics(mport), "bgproxy_http2_streams_active") == 0,
                      timeout=10)
    c.close()
