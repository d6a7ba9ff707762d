"""HTTP/2 to servers against scripted python3-h2 servers (docs/upstreams.md):
trailers both ways, a GOAWAY in the middle of a response, a server that
stalls its window under an upload, a connection that goes silent (PING)."""
import hashlib
import os
import socket
import struct
import threading
import time

import harness
from harness import get, wait_until

from test_upstreams_h2 import h2_proxy


class ScriptedServer:
    """An HTTP/2 server (python3-h2, prior knowledge) whose behaviour per
    stream is `mode`:
    - "echo": answers after the request ends: 200, the body it got (its
      sha256 in hex above 16 KiB), a
      header x-got-trailers listing the request's trailers, and trailers
      of its own (grpc-status: 0, x-echo: <the request's x-t trailer>);
    - "goaway_mid": sends the head and half the body, a GOAWAY naming this
      stream as the last, then the rest and the end (a graceful GOAWAY);
      streams above the last one are never answered;
    - "stall": reads the request but never opens a window again and never
      answers;
    - "ws_echo": takes extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL),
      answers 200 and echoes every DATA, ends its side when the client does;
    - "drip": answers a request at once with a head, then a DATA every
      0.3 s for 2 s;
    - "bad_field": answers with a transfer-encoding field (not valid in
      HTTP/2);
    - "refuse": refuses every stream (RST_STREAM REFUSED_STREAM);
    - "rst_mid": 1000 bytes of an answer, then RST_STREAM(NO_ERROR) without
      END_STREAM;
    - "silent_after_one": answers the first request of a connection, then
      reads nothing more (no PING answer) while keeping the socket open."""

    def __init__(self, mode, tls=None, alpn=("h2",)):
        self.mode = mode
        self.ctx = None
        self.resumed = []         # per TLS connection: was its session resumed
        if tls is not None:
            import ssl
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(tls[0], tls[1])
            self.ctx.set_alpn_protocols(list(alpn))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = 0
        self.closed = 0           # connections bgproxy closed
        self.answered = 0
        self.received = {}        # stream id -> bytes of body received (last conn)
        self.trailers = []        # request trailers seen
        self.heads = []           # request header lists seen
        self.socks = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            self.socks.append(c)
            threading.Thread(target=self._start, args=(c,), daemon=True).start()

    def _start(self, c):
        if self.ctx is not None:
            try:
                c = self.ctx.wrap_socket(c, server_side=True)
            except OSError:
                return
            self.resumed.append(c.session_reused)
        try:
            self._handle(c)
        except Exception as e:      # a test's server: say why, for the log
            import traceback
            if not isinstance(e, OSError):
                traceback.print_exc()

    def _handle(self, c):
        import h2.config
        import h2.connection
        import h2.events
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, validate_inbound_headers=False,
            validate_outbound_headers=False, normalize_outbound_headers=False))
        if self.mode == "ws_echo":
            # in the first SETTINGS, as servers that take it say it
            import h2.settings
            conn.local_settings = h2.settings.Settings(client=False, initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
        conn.initiate_connection()
        c.sendall(conn.data_to_send())
        bodies, trailers, answered_here, gone = {}, {}, 0, False
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                self.closed += 1
                return
            for ev in conn.receive_data(data):
                sid = getattr(ev, "stream_id", None)
                if isinstance(ev, h2.events.RequestReceived):
                    bodies[sid] = bytearray()
                    if self.mode == "bad_field":
                        # a connection-specific field HTTP/2 forbids
                        conn.send_headers(sid, [(":status", "200"),
                                                ("transfer-encoding", "chunked")],
                                          end_stream=True)
                        continue
                    if self.mode == "refuse":
                        conn.reset_stream(sid, error_code=7)    # REFUSED_STREAM
                        self.answered += 1
                        continue
                    if self.mode == "rst_mid":
                        # 1000 bytes of an answer of no stated length, then
                        # RST_STREAM(NO_ERROR) without END_STREAM
                        conn.send_headers(sid, [(":status", "200")])
                        conn.send_data(sid, b"r" * 1000)
                        conn.reset_stream(sid, error_code=0)
                        self.answered += 1
                        continue
                    self.heads.append(dict((k.decode() if isinstance(k, bytes) else k,
                                            v.decode() if isinstance(v, bytes) else v)
                                           for k, v in ev.headers))
                    if self.mode == "ws_echo":
                        conn.send_headers(sid, [(":status", "200"),
                                                ("sec-websocket-protocol", "chat")])
                    if self.mode == "drip":
                        # a response that takes 2 s, a DATA every 0.3 s
                        conn.send_headers(sid, [(":status", "200")])
                        for i in range(7):
                            c.sendall(conn.data_to_send())
                            time.sleep(0.3)
                            conn.send_data(sid, b"drop%d;" % i)
                        conn.end_stream(sid)
                        self.answered += 1
                    if self.mode == "goaway_mid" and gone:
                        continue            # above the GOAWAY's last stream
                    if self.mode == "goaway_mid":
                        gone = True
                        body = b"x" * 20000
                        conn.send_headers(sid, [(":status", "200"),
                                                ("content-length", str(len(body)))])
                        conn.send_data(sid, body[:10000])
                        c.sendall(conn.data_to_send())
                        # GOAWAY written by hand: python3-h2 would send
                        # nothing more after its own
                        c.sendall(struct.pack(">I", 8)[1:] + b"\x07\x00" +
                                  struct.pack(">III", 0, sid, 0))
                        time.sleep(0.2)
                        conn.send_data(sid, body[10000:], end_stream=True)
                        self.answered += 1
                elif isinstance(ev, h2.events.DataReceived):
                    bodies.setdefault(sid, bytearray()).extend(ev.data)
                    self.received[sid] = len(bodies[sid])
                    if self.mode == "ws_echo":
                        conn.send_data(sid, ev.data)
                    if self.mode != "stall":
                        conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.TrailersReceived):
                    trailers[sid] = [(k.decode() if isinstance(k, bytes) else k,
                                      v.decode() if isinstance(v, bytes) else v)
                                     for k, v in ev.headers]
                    self.trailers.append(trailers[sid])
                elif isinstance(ev, h2.events.StreamEnded):
                    if self.mode == "ws_echo":
                        conn.end_stream(sid)        # the half-close answered
                        self.answered += 1
                    if self.mode == "echo":
                        got = trailers.get(sid, [])
                        body = bytes(bodies.get(sid, b""))
                        if len(body) > 16384:
                            # within one window: the body's digest
                            body = hashlib.sha256(body).hexdigest().encode()
                        conn.send_headers(sid, [
                            (":status", "200"), ("content-length", str(len(body))),
                            ("x-got-trailers", ",".join("%s=%s" % kv for kv in got))])
                        if body:
                            conn.send_data(sid, body)
                        conn.send_headers(sid, [("grpc-status", "0"),
                                                ("x-echo", dict(got).get("x-t", "-"))],
                                          end_stream=True)
                        self.answered += 1
                    elif self.mode == "silent_after_one":
                        if answered_here == 0:
                            conn.send_headers(sid, [(":status", "200"), ("content-length", "3")])
                            conn.send_data(sid, b"ok\n", end_stream=True)
                            self.answered += 1
                            answered_here += 1
                            c.sendall(conn.data_to_send())
                        # from now on: nothing read, nothing answered
                        while True:
                            time.sleep(1)
            c.sendall(conn.data_to_send())

    def stop(self):
        self.sock.close()
        for c in self.socks:
            try:
                c.close()
            except OSError:
                pass


def test_request_trailers_reach_an_h2_server_from_both_client_protocols(env):
    from h2client import H2Client
    s = ScriptedServer("echo")
    try:
        p = h2_proxy(env, s.addr)
        # HTTP/1.1, chunked with trailers
        body = (b"5\r\nhello\r\n0\r\nX-T: one\r\nX-Other: two\r\n\r\n")
        raw = (b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
               b"TE: trailers\r\nConnection: close\r\n\r\n" + body)
        resp = harness.raw(p.port, raw, timeout=5)
        assert b" 200 " in resp.split(b"\r\n", 1)[0], resp[:300]
        assert b"x-got-trailers: x-t=one,x-other=two" in resp.lower(), resp[:500]
        # the client said TE: trailers: the answer comes chunked, the
        # server's trailers in its last chunk
        low = resp.lower()
        assert b"transfer-encoding: chunked" in low and b"content-length" not in low, resp
        assert b"5\r\nhello\r\n0\r\n" in low and b"x-echo: one\r\n" in low, resp
        # without TE: trailers the length stays and the trailers drop
        resp = harness.raw(p.port, raw.replace(b"TE: trailers\r\n", b""), timeout=5)
        assert resp.lower().split(b"\r\n\r\n")[0].count(b"content-length: 5") == 1, resp
        assert resp.endswith(b"\r\n\r\nhello"), resp
        # HTTP/2, DATA then trailers
        c = H2Client(p.port)
        sid = c.request("/up", method="POST", body=b"abc", end=False,
                        headers=[("te", "trailers")])
        c.conn.send_headers(sid, [("x-t", "h2")], end_stream=True)
        c.flush()
        assert c.wait([sid], 10)
        st = c.streams[sid]
        assert st.status == 200 and bytes(st.data) == b"abc", (st.status, st.data)
        assert st.headers["x-got-trailers"] == "x-t=h2", st.headers
        assert st.trailers == {"grpc-status": "0", "x-echo": "h2"}, st.trailers
        c.close()
        assert s.trailers == [[("x-t", "one"), ("x-other", "two")]] * 2 + [[("x-t", "h2")]], \
            s.trailers
    finally:
        s.stop()


def test_a_graceful_goaway_mid_response_finishes_it_and_moves_on(env):
    from h2client import H2Client
    s = ScriptedServer("goaway_mid")
    try:
        p = h2_proxy(env, s.addr)
        c = H2Client(p.port)
        first = c.request("/a")
        assert c.pump(lambda: c.streams[first].status is not None, 10)
        second = c.request("/b")
        assert c.wait([first, second], 15)
        # the stream the GOAWAY named came whole; the next went elsewhere
        assert c.streams[first].status == 200 and len(c.streams[first].data) == 20000
        assert c.streams[second].status == 200 and len(c.streams[second].data) == 20000, \
            (c.streams[second].status, c.streams[second].reset)
        assert s.conns == 2 and s.answered == 2, (s.conns, s.answered)
        c.close()
    finally:
        s.stop()


def test_a_server_stalling_its_window_times_out_and_bounds_what_is_held(env):
    from h2client import H2Client
    s = ScriptedServer("stall")
    try:
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_response_ms = 1500; };")
        c = H2Client(p.port)
        sid = c.request("/upload", method="POST", end=False)
        t0 = time.time()
        sent = 0
        # the client sends while windows let it: bgproxy must stop taking
        # bytes it cannot pass on (the server took 64 KiB)
        try:
            for _ in range(256):
                c.send_data(sid, b"z" * 65536, timeout=1)
                sent += 65536
        except RuntimeError:
            pass
        print("sent before the window closed:", sent)
        assert sent < 4 << 20, sent
        assert c.wait([sid], 15), "no answer"
        st = c.streams[sid]
        assert st.status == 504 or st.reset is not None, (st.status, st.reset)
        assert time.time() - t0 < 12, time.time() - t0
        assert max(s.received.values() or [0]) <= 65535, s.received
        c.close()
        assert wait_until(lambda: any(l.get("status") == 504 for l in p.access_lines()))
    finally:
        s.stop()


def test_a_connection_that_goes_silent_is_found_by_ping_and_replaced(env):
    s = ScriptedServer("silent_after_one")
    try:
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_response_ms = 1000; "
                     "upstream_connect_ms = 300; upstream_idle_ms = 60000; };")
        st, h, body = get(p.port, "/")
        assert st == 200 and body == b"ok\n", (st, body)
        # idle, silent: a PING at 0.5 s, no answer by 0.8 s: closed
        assert wait_until(lambda: "no answer to a PING" in p.output(), 10), p.output()[-2000:]
        st, h, body = get(p.port, "/")
        assert st == 200 and s.conns == 2, (st, s.conns)
    finally:
        s.stop()


def test_disabling_a_server_closes_its_http2_connections(env):
    s = ScriptedServer("echo")
    try:
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_idle_ms = 60000; };")
        st, h, body = get(p.port, "/", method="POST", body=b"x")
        assert st == 200 and body == b"x", (st, body)
        assert s.conns == 1 and s.closed == 0, (s.conns, s.closed)
        ok, first, _ = harness.admin(p.port, "server blue %s disable" % s.addr)
        assert ok, first
        # the idle connection goes at the worker's next tick, not after
        # upstream_idle_ms
        assert wait_until(lambda: s.closed == 1, 5), (s.conns, s.closed)
    finally:
        s.stop()


def test_tls_sessions_resume_on_http2_connections(env):
    import test_upstreams as tu
    k = tu.pki(env)
    s = ScriptedServer("echo", tls=k["ip"])
    try:
        p = h2_proxy(env, s.addr, pool_extra='tls = { ca = "%s"; };' % k["ca"][0],
                     extra="timeouts = { upstream_idle_ms = 100; };")
        for i in range(3):
            st, h, body = get(p.port, "/", method="POST", body=b"r%d" % i)
            assert st == 200 and body == b"r%d" % i, (st, body)
            # the idle connection closes: the next request makes a new one
            assert wait_until(lambda: s.closed == i + 1, 5), (s.conns, s.closed)
        assert s.resumed == [False, True, True], s.resumed
    finally:
        s.stop()


def test_websocket_to_an_h2_server_is_an_extended_connect(env):
    import base64
    import hashlib
    from h2client import H2Client
    s = ScriptedServer("ws_echo")
    try:
        p = h2_proxy(env, s.addr)
        # HTTP/1.1 client: a 101 with the accept of its own key, then bytes
        # both ways through DATA frames
        sock, key, head = harness.ws_open(p.port, b"Sec-WebSocket-Protocol: chat\r\n")
        want = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                .digest())
        assert b"Sec-WebSocket-Accept: " + want + b"\r\n" in head, head
        assert b"sec-websocket-protocol: chat" in head.lower(), head
        h = s.heads[-1]
        assert h[":method"] == "CONNECT" and h[":protocol"] == "websocket", h
        assert "sec-websocket-key" not in h and h.get("sec-websocket-version") == "13", h
        big = os.urandom(600000)        # above a stream window: flow control both ways
        sock.sendall(b"ping-1")
        got = b""
        while len(got) < 6:
            got += sock.recv(65536)
        assert got == b"ping-1", got
        sock.sendall(big)
        got = b""
        while len(got) < len(big):
            b = sock.recv(65536)
            assert b, len(got)
            got += b
        assert got == big
        # the client's half-close ends the stream; the server's end closes
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""
        sock.close()
        assert wait_until(lambda: s.answered == 1), s.answered
        # an HTTP/2 client's extended CONNECT goes through the same way
        c = H2Client(p.port)
        sid = c.request("/ws", method="CONNECT", end=False, pseudo=[
            (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
            (":path", "/ws"), (":authority", "a")], headers=[("sec-websocket-version", "13")])
        assert c.pump(lambda: c.streams[sid].status is not None, 10)
        assert c.streams[sid].status == 200, c.streams[sid].status
        c.send_data(sid, b"hello-h2")
        assert c.pump(lambda: bytes(c.streams[sid].data) == b"hello-h2", 10), c.streams[sid].data
        c.close()
        # the access line names the HTTP/2 client's method, not its GET view
        assert wait_until(lambda: any(l.get("term") == "tunnel" and l["method"] == "CONNECT"
                                      and l["proto"] == "h2" for l in p.access_lines())), \
            p.access_lines()
    finally:
        s.stop()


def test_websocket_to_an_h2_server_without_extended_connect_is_a_502(env):
    s = ScriptedServer("echo")
    try:
        p = h2_proxy(env, s.addr)
        sock = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        resp = sock.recv(4096)
        sock.close()
        assert resp.startswith(b"HTTP/1.1 502"), resp
        assert wait_until(lambda: "SETTINGS_ENABLE_CONNECT_PROTOCOL" in p.output()), \
            p.output()[-2000:]
        # plain requests on the same server are fine
        st, h, body = get(p.port, "/", method="POST", body=b"ok")
        assert st == 200 and body == b"ok", (st, body)
    finally:
        s.stop()


def test_a_large_upload_to_an_h2_server_flows_at_the_servers_pace(env):
    from h2client import H2Client
    s = ScriptedServer("echo")
    try:
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_response_ms = 5000; };")
        # far above what bgproxy holds for a stream: it must read the client
        # on as the server's window lets the bytes go
        big = os.urandom(6 << 20)
        digest = hashlib.sha256(big).hexdigest().encode()
        st, h, body = get(p.port, "/up", method="POST", body=big, timeout=30)
        assert st == 200 and body == digest, (st, body[:100])
        c = H2Client(p.port)
        sid = c.request("/up", method="POST", end=False)
        c.send_data(sid, big, end=True, timeout=30)
        assert c.wait([sid], 30)
        assert c.streams[sid].status == 200 and bytes(c.streams[sid].data) == digest, \
            (c.streams[sid].status, c.streams[sid].data[:100])
        c.close()
    finally:
        s.stop()


def test_h2_response_time_counts_from_the_last_frame(env):
    s = ScriptedServer("drip")
    try:
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_response_ms = 1000; };")
        t0 = time.time()
        st, h, body = get(p.port, "/", timeout=15)
        # longer than upstream_response_ms in all, never that long silent
        assert st == 200 and body == b"".join(b"drop%d;" % i for i in range(7)), (st, body)
        assert time.time() - t0 >= 2.0, time.time() - t0
    finally:
        s.stop()
    s = ScriptedServer("stall")
    try:
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_response_ms = 1000; };")
        t0 = time.time()
        st, h, body = get(p.port, "/", timeout=15)
        took = time.time() - t0
        assert st == 504 and 0.9 <= took < 5, (st, took)
    finally:
        s.stop()


def test_a_tls_server_that_chooses_no_h2_is_a_502_and_bgproxy_stays(env):
    import test_upstreams as tu
    k = tu.pki(env)
    s = ScriptedServer("echo", tls=k["ip"], alpn=("http/1.1",))
    try:
        p = h2_proxy(env, s.addr, pool_extra='tls = { ca = "%s"; };' % k["ca"][0])
        for _ in range(3):
            st, h, body = get(p.port, "/", timeout=10)
            assert st == 502, (st, body)
        assert p.proc.poll() is None, "bgproxy died"
        assert wait_until(lambda: "chose no h2 (ALPN none)" in p.output()), p.output()[-2000:]
    finally:
        s.stop()


def test_an_idle_connection_closes_though_pings_are_answered(env):
    s = ScriptedServer("echo")
    try:
        # a PING every 0.5 s of silence, answered; idle 1.5 s: it still closes
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_response_ms = 1000; "
                     "upstream_idle_ms = 1500; };")
        st, h, body = get(p.port, "/", method="POST", body=b"x")
        assert st == 200 and s.closed == 0, (st, s.closed)
        assert wait_until(lambda: s.closed == 1, 8), (s.conns, s.closed)
    finally:
        s.stop()


def test_a_server_refusing_every_stream_leaves_no_connections(env):
    s = ScriptedServer("refuse")
    try:
        p = h2_proxy(env, s.addr, extra="timeouts = { upstream_idle_ms = 60000; };")
        for _ in range(10):
            st, h, body = get(p.port, "/")
            assert st == 502, (st, body)
        # each refused try's connection went (not kept for upstream_idle_ms)
        assert wait_until(lambda: s.closed == s.conns, 5), (s.conns, s.closed)
    finally:
        s.stop()


def test_a_reset_before_the_end_of_a_response_is_a_cut_not_an_end(env):
    s = ScriptedServer("rst_mid")
    try:
        p = h2_proxy(env, s.addr)
        resp = harness.raw(p.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", timeout=5)
        head, _, body = resp.partition(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0] and b"chunked" in head.lower(), resp[:300]
        # the 1000 bytes came, the last chunk did not: the client sees a cut
        assert b"r" * 1000 in body and not body.endswith(b"0\r\n\r\n"), body[-50:]
        assert wait_until(lambda: any(l.get("term") == "server_reset" for l in p.access_lines()))
    finally:
        s.stop()


def test_an_http1_server_behind_an_h2_pool_fails_fast(env):
    p = h2_proxy(env, env.demo("blue").addr, extra="timeouts = { upstream_response_ms = 20000; };")
    t0 = time.time()
    st, h, body = get(p.port, "/", timeout=30)
    assert st in (502, 503) and time.time() - t0 < 5, (st, time.time() - t0)
    assert wait_until(lambda: "does it speak HTTP/2?" in p.output()), p.output()[-2000:]


def test_a_response_field_http2_forbids_is_a_502_that_names_it(env):
    s = ScriptedServer("bad_field")
    try:
        p = h2_proxy(env, s.addr)
        st, h, body = get(p.port, "/")
        assert st == 502, (st, body)
        assert wait_until(lambda: "response head broke HTTP/2" in p.output()), \
            p.output()[-2000:]
        assert wait_until(lambda: harness.metric(
            p.mport, 'bgproxy_upstream_errors_total{pool="blue",kind="protocol"}') == 1), \
            p.output()[-1500:]
    finally:
        s.stop()
