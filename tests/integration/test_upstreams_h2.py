"""HTTP/2 to servers (pools.X.protocol = "h2", docs/upstreams.md): real
gRPC servers and clients (python3-grpcio, generic handlers on raw bytes),
nghttpd (nghttp2-server) over h2c and over TLS, HTTP/1.1 and HTTP/2 clients
to either, and a server that refuses streams."""
import os
import socket
import subprocess
import threading
import time

import harness
from harness import admin, free_port, get, wait_until

import test_upstreams as tu


def h2_proxy(env, blue_addr, green_addr=None, pool_extra="", extra="", listen_extra="h2c = true; "):
    port, mport = free_port(), free_port()
    sock, audit = harness.admin_paths(port)
    green_addr = green_addr or env.demo("green").addr
    text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; %s} );\n'
            'pools = {\n  blue = { servers = ( { address = "%s"; } ); protocol = "h2"; %s };\n'
            '  green = { servers = ( { address = "%s"; } ); };\n};\n'
            'split = { stable = "blue"; candidate_percent = 0.0; };\n'
            'log = { level = "%s"; access = "stderr"; };\n'
            'admin = { socket = "%s"; audit_log = "%s"; };\n'
            'metrics = { address = "127.0.0.1:%d"; };\n%s\n') % (
                port, listen_extra, blue_addr, pool_extra, green_addr,
                os.environ.get("BGPROXY_TEST_LOG_LEVEL", "info"), sock, audit, mport, extra)
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    harness.wait_port(mport)
    p.mport = mport
    return p


class GrpcServer:
    """python3-grpcio with generic handlers: Echo (unary; b"fail" aborts
    UNAVAILABLE), Stream (server streaming), Sum (client streaming: the
    total length of what came)."""

    def __init__(self):
        import grpc
        from concurrent import futures

        def echo(req, ctx):
            if req == b"fail":
                ctx.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
            return b"echo:" + req

        def stream(req, ctx):
            for i in range(int(req or b"3")):
                yield b"part%d" % i

        def total(it, ctx):
            return b"%d" % sum(len(x) for x in it)

        h = grpc.method_handlers_generic_handler("pkg.Svc", {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "Sum": grpc.stream_unary_rpc_method_handler(total),
        })
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                  options=[("grpc.max_receive_message_length", 16 << 20),
                                           ("grpc.max_send_message_length", 16 << 20)])
        self.server.add_generic_rpc_handlers((h,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.addr = "127.0.0.1:%d" % self.port
        self.server.start()

    def stop(self):
        self.server.stop(0)


def test_grpc_end_to_end(env):
    import grpc
    g = GrpcServer()
    try:
        p = h2_proxy(env, g.addr)
        ch = grpc.insecure_channel("127.0.0.1:%d" % p.port, options=[
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20)])
        echo = ch.unary_unary("/pkg.Svc/Echo")
        assert echo(b"hi", timeout=10) == b"echo:hi"
        # a big message both ways: flow control on both sides
        big = os.urandom(3 << 20)
        assert echo(big, timeout=20) == b"echo:" + big
        try:
            echo(b"fail", timeout=10)
            assert False, "no error"
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
            assert e.details() == "down for the test", e.details()
        assert list(ch.unary_stream("/pkg.Svc/Stream")(b"5", timeout=10)) == \
            [b"part%d" % i for i in range(5)]
        parts = [os.urandom(1000) for _ in range(200)]
        assert ch.stream_unary("/pkg.Svc/Sum")(iter(parts), timeout=10) == b"200000"
        ch.close()
        assert wait_until(lambda: len(p.access_lines()) >= 5)
        lines = p.access_lines()
        assert all(l["upstream_proto"] == "h2" and l["proto"] == "h2" for l in lines), lines
        assert sorted(l["grpc_status"] for l in lines) == [0, 0, 0, 0, 14], lines
        assert harness.metric(p.mport, 'bgproxy_grpc_responses_total{pool="blue",code="14"}') == 1
    finally:
        g.stop()


def _nghttpd(env, tls=None):
    """nghttpd serving a small and a 5 MB file; over TLS with tls = (cert, key)."""
    www = os.path.join(env.tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("hello from nghttpd\n")
    with open(os.path.join(www, "big"), "wb") as f:
        f.write(os.urandom(5 << 20))
    port = free_port()
    args = ["nghttpd", "-d", www]
    if tls is None:
        args += ["--no-tls", str(port)]
    else:
        args += [str(port), tls[1], tls[0]]
    log = open(os.path.join(env.tmp, "nghttpd-%d.log" % port), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    harness.wait_port(port, proc=proc)
    return proc, "127.0.0.1:%d" % port, www


def test_http1_and_http2_clients_to_an_h2_server(env):
    from h2client import H2Client
    proc, addr, www = _nghttpd(env)
    try:
        p = h2_proxy(env, addr)
        st, h, body = get(p.port, "/index.html")
        assert st == 200 and body == b"hello from nghttpd\n", (st, body)
        st, h, body = get(p.port, "/big")
        assert st == 200 and body == open(os.path.join(www, "big"), "rb").read(), (st, len(body))
        st, h, body = get(p.port, "/nope")
        assert st == 404, st
        st, h, body = get(p.port, "/index.html", method="HEAD")
        assert st == 200 and body == b"", (st, body)
        c = H2Client(p.port)
        sids = [c.request("/index.html") for _ in range(30)]
        assert c.wait(sids, timeout=20)
        assert all(c.streams[s].status == 200 and bytes(c.streams[s].data) ==
                   b"hello from nghttpd\n" for s in sids)
        c.close()
    finally:
        proc.terminate()
        proc.wait(5)


def test_h2_over_tls_with_alpn(env):
    k = tu.pki(env)
    proc, addr, www = _nghttpd(env, tls=k["ip"])
    try:
        p = h2_proxy(env, addr, pool_extra='tls = { ca = "%s"; };' % k["ca"][0])
        st, h, body = get(p.port, "/index.html")
        assert st == 200 and body == b"hello from nghttpd\n", (st, body)
        assert wait_until(lambda: len(p.access_lines()) >= 1)
        assert p.access_lines()[-1]["upstream_proto"] == "h2"
    finally:
        proc.terminate()
        proc.wait(5)


class RefusingServer:
    """An HTTP/2 server (python3-h2) that refuses the first stream of its
    first connection with REFUSED_STREAM, and answers every other one."""

    def __init__(self, goaway=False):
        import h2.config
        import h2.connection
        import h2.events
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = 0
        self.refused = 0
        self.answered = 0
        srv = self

        def handle(c, first):
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
            conn.initiate_connection()
            c.sendall(conn.data_to_send())
            refused_here = False
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        if first and not refused_here:
                            refused_here = True
                            srv.refused += 1
                            if goaway:
                                # going away: nothing above stream 0 processed
                                conn.close_connection(error_code=0, last_stream_id=0)
                            else:
                                conn.reset_stream(ev.stream_id, error_code=7)
                        else:
                            srv.answered += 1
                            conn.send_headers(ev.stream_id, [(":status", "200"),
                                                             ("content-length", "3")])
                            conn.send_data(ev.stream_id, b"ok\n", end_stream=True)
                c.sendall(conn.data_to_send())

        def serve():
            while True:
                try:
                    c, _ = self.sock.accept()
                except OSError:
                    return
                srv.conns += 1
                threading.Thread(target=handle, args=(c, srv.conns == 1), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def stop(self):
        self.sock.close()


def test_a_refused_stream_goes_again_on_a_new_connection(env):
    s = RefusingServer()
    try:
        p = h2_proxy(env, s.addr)
        st, h, body = get(p.port, "/")
        assert st == 200 and body == b"ok\n", (st, body)
        assert s.refused == 1 and s.answered == 1 and s.conns == 2, \
            (s.refused, s.answered, s.conns)
    finally:
        s.stop()


def test_config_names_the_protocol(env):
    port = free_port()
    conf = os.path.join(env.tmp, "p-%d.conf" % port)
    with open(conf, "w") as f:
        f.write('listen = ( { address = "127.0.0.1:%d"; } );\n'
                'pools = { blue = { servers = ( { address = "127.0.0.1:1"; } ); protocol = "h3"; };\n'
                '  green = { servers = ( { address = "127.0.0.1:2"; } ); }; };\n' % port)
    r = subprocess.run([os.path.join(harness.BUILD, "bgproxy"), "-t", "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "protocol" in r.stderr and "h2" in r.stderr, r.stderr


def test_a_goaway_before_the_stream_sends_it_again_elsewhere(env):
    s = RefusingServer(goaway=True)
    try:
        p = h2_proxy(env, s.addr)
        st, h, body = get(p.port, "/")
        assert st == 200 and body == b"ok\n", (st, body)
        assert s.conns == 2 and s.answered == 1, (s.conns, s.answered)
        # the next request does not take the connection that went away
        st, h, body = get(p.port, "/")
        assert st == 200 and s.answered == 2 and s.conns == 2, (st, s.answered, s.conns)
    finally:
        s.stop()


def test_a_stalled_handshake_to_an_h2_server_is_a_connect_timeout(env):
    s = tu.SilentTLSPeer(drip=True)
    try:
        p = h2_proxy(env, s.addr, pool_extra="tls = { verify = false; };",
                     extra="timeouts = { upstream_connect_ms = 300; upstream_response_ms = 20000; };")
        t0 = time.time()
        st, h, body = get(p.port, "/", timeout=15)
        assert st in (502, 504) and time.time() - t0 < 5, (st, time.time() - t0)
        assert wait_until(lambda: "TLS handshake timed out" in p.output()), p.output()[-2000:]
    finally:
        s.stop()


def _blue_line(port):
    ok, first, rest = admin(port, "show servers")
    return next((l for l in rest.splitlines() if l.startswith("blue ")), "")


def test_http_health_checks_speak_http2_to_an_h2_pool(env):
    proc, addr, www = _nghttpd(env)
    try:
        health = ('health = { path = "%s"; interval_ms = 200; timeout_ms = 150; rise = 1; '
                  'fall = 1; };')
        p = h2_proxy(env, addr, pool_extra=health % "/index.html")
        assert wait_until(lambda: "check ok" in _blue_line(p.port)), _blue_line(p.port)
        assert " up " in _blue_line(p.port), _blue_line(p.port)
        p.stop()
        # a path the server does not have: down, and the line says why
        p2 = h2_proxy(env, addr, pool_extra=health % "/nope")
        assert wait_until(lambda: "status 404" in _blue_line(p2.port)), _blue_line(p2.port)
        assert " down " in _blue_line(p2.port), _blue_line(p2.port)
    finally:
        proc.terminate()
        proc.wait(5)


def test_http_health_checks_over_http2_and_tls_hold_steady(env):
    k = tu.pki(env)
    proc, addr, www = _nghttpd(env, tls=k["ip"])
    try:
        health = ('health = { path = "/index.html"; interval_ms = 200; timeout_ms = 150; '
                  'rise = 1; fall = 1; };')
        p = h2_proxy(env, addr, pool_extra='tls = { ca = "%s"; }; %s' % (k["ca"][0], health))
        assert wait_until(lambda: "check ok" in _blue_line(p.port)), _blue_line(p.port)
        # a dozen checks or more: every one passes (an answer left unread
        # by OpenSSL's socket bufferevent once made this flap)
        time.sleep(3)
        assert "up -> down" not in p.output(), p.output()[-2000:]
        assert " up " in _blue_line(p.port), _blue_line(p.port)
    finally:
        proc.terminate()
        proc.wait(5)
