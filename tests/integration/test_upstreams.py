"""TLS to servers (CONTRACT.md 16, docs/upstreams.md): verification on by
default against pools.X.tls.ca, the name checked (an IP address as an IP,
sni as a name), a client certificate for servers that demand one, session
resumption, health checks over the same TLS, certificates read again on
reload.  The servers are Python `ssl` servers; every certificate is made at
test time with `openssl`, under a CA made at test time."""
import http.server
import os
import socket
import ssl
import subprocess
import threading

import harness
from harness import admin, free_port, get, wait_until


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, cwd=cwd,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_ca(d, name):
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    _openssl("req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-keyout", key, "-out", pem, "-days", "2", "-subj", "/CN=" + name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return pem, key


def make_leaf(d, name, ca, sans, client=False):
    """A certificate for sans signed by ca (pem, key): name.pem, name.key."""
    key, csr, pem = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".pem"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % ",".join(sans))
        f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
    _openssl("req", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
             "-out", pem, "-days", "2", "-extfile", ext)
    return pem, key


class TLSServer:
    """An HTTPS/1.1 server answering every GET with its name and whether the
    TLS session was resumed; with client_ca it demands a client certificate
    and answers with the certificate's CN."""

    def __init__(self, name, cert, client_ca=None, close=False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert[0], cert[1])
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
        self.name, self.requests, self.resumed, self.handshakes = name, 0, 0, 0
        self.sni = []
        srv = self

        def on_sni(sock, server_name, context):
            srv.sni.append(server_name)

        ctx.sni_callback = on_sni

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                srv.requests += 1
                peer = self.connection.getpeercert()
                cn = ""
                if peer:
                    cn = dict(x[0] for x in peer.get("subject", ())).get("commonName", "")
                body = ("%s %s %s\n" % (srv.name, "resumed" if self.connection.session_reused
                                        else "full", cn or "-")).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                sock.settimeout(10)
                try:
                    tls = ctx.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    sock.close()
                    raise
                srv.handshakes += 1
                return tls, addr

            def handle_error(self, request, client_address):
                pass

        self.httpd = S(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.addr = "127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def pki(env):
    """Two CAs, a server certificate from each, a name-only certificate,
    and a client certificate."""
    d = env.tmp
    ca, other = make_ca(d, "ca"), make_ca(d, "other-ca")
    return {
        "ca": ca, "other": other,
        "ip": make_leaf(d, "server-ip", ca, ["IP:127.0.0.1", "DNS:localhost"]),
        "name": make_leaf(d, "server-name", ca, ["DNS:app.internal"]),
        "foreign": make_leaf(d, "server-foreign", other, ["IP:127.0.0.1"]),
        "client": make_leaf(d, "client", ca, ["DNS:bgproxy.client"], client=True),
    }


def tls_proxy(env, green_addr, tls, extra="", blue_addr=None, health=""):
    """All traffic to green, a TLS pool (tls: the group's body); blue a demo."""
    port = free_port()
    blue = blue_addr or env.demo("blue").addr
    sock, audit = harness.admin_paths(port)
    text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; } );\n'
            'pools = {\n  blue = { servers = ( { address = "%s"; } ); };\n'
            '  green = { servers = ( { address = "%s"; } ); tls = { %s }; %s };\n};\n'
            'split = { stable = "green"; candidate_percent = 0.0; };\n'
            'log = { level = "%s"; access = "stderr"; };\n'
            'admin = { socket = "%s"; audit_log = "%s"; };\n%s\n') % (
                port, blue, green_addr, tls, health,
                os.environ.get("BGPROXY_TEST_LOG_LEVEL", "info"), sock, audit, extra)
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    return p


def test_verified_tls_to_a_server_by_ip(env):
    k = pki(env)
    s = TLSServer("green", k["ip"])
    try:
        p = tls_proxy(env, s.addr, 'ca = "%s";' % k["ca"][0])
        st, h, body = get(p.port)
        assert st == 200 and body.startswith(b"green "), (st, body)
        # an IP is checked as an IP and sends no SNI (RFC 6066 3)
        assert s.sni == [None], s.sni
        assert wait_until(lambda: len(p.access_lines()) >= 1)
        assert p.access_lines()[0]["upstream_proto"] == "http/1.1", p.access_lines()
    finally:
        s.stop()


def test_a_certificate_from_another_ca_is_a_connect_error_with_its_reason(env):
    k = pki(env)
    s = TLSServer("green", k["foreign"])
    try:
        p = tls_proxy(env, s.addr, 'ca = "%s";' % k["ca"][0])
        st, h, body = get(p.port)
        assert st == 502, (st, body)
        assert wait_until(lambda: "certificate verify failed" in p.output()), p.output()[-2000:]
        assert s.requests == 0
        # verify = false: the same server is reached
        p.stop()
        p2 = tls_proxy(env, s.addr, 'ca = "%s"; verify = false;' % k["ca"][0])
        st, h, body = get(p2.port)
        assert st == 200 and body.startswith(b"green "), (st, body)
    finally:
        s.stop()


def test_the_name_is_checked_and_sent_as_sni(env):
    k = pki(env)
    s = TLSServer("green", k["name"])
    try:
        # the address is an IP the certificate does not name
        p = tls_proxy(env, s.addr, 'ca = "%s";' % k["ca"][0])
        st, h, body = get(p.port)
        assert st == 502, (st, body)
        assert wait_until(lambda: "IP address mismatch" in p.output()), p.output()[-2000:]
        p.stop()
        # sni names the certificate: sent and checked
        p2 = tls_proxy(env, s.addr, 'ca = "%s"; sni = "app.internal";' % k["ca"][0])
        st, h, body = get(p2.port)
        assert st == 200, (st, body)
        assert "app.internal" in s.sni, s.sni
        p2.stop()
        # a wrong sni: refused
        p3 = tls_proxy(env, s.addr, 'ca = "%s"; sni = "db.internal";' % k["ca"][0])
        st, h, body = get(p3.port)
        assert st == 502, (st, body)
        assert wait_until(lambda: "hostname mismatch" in p3.output()), p3.output()[-2000:]
    finally:
        s.stop()


def test_mutual_tls(env):
    k = pki(env)
    s = TLSServer("green", k["ip"], client_ca=k["ca"][0])
    try:
        p = tls_proxy(env, s.addr, 'ca = "%s";' % k["ca"][0])
        st, h, body = get(p.port)
        assert st == 502, (st, body)
        assert s.requests == 0
        # TLS 1.3 refuses the missing certificate after our side of the
        # handshake ended: still a handshake failure, with its reason
        assert wait_until(lambda: "certificate required" in p.output()), p.output()[-2000:]
        p.stop()
        p2 = tls_proxy(env, s.addr, 'ca = "%s"; cert = "%s"; key = "%s";' % (
            k["ca"][0], k["client"][0], k["client"][1]))
        st, h, body = get(p2.port)
        assert st == 200, (st, body)
        assert body.split()[2] == b"client", body
    finally:
        s.stop()


def test_sessions_resume_on_new_connections(env):
    k = pki(env)
    # the server closes after every answer: each request needs a new connection
    s = TLSServer("green", k["ip"], close=True)
    try:
        p = tls_proxy(env, s.addr, 'ca = "%s";' % k["ca"][0])
        kinds = []
        for _ in range(4):
            st, h, body = get(p.port)
            assert st == 200, (st, body)
            kinds.append(body.split()[1])
        assert kinds[0] == b"full", kinds
        assert kinds[1:].count(b"resumed") >= 2, kinds
    finally:
        s.stop()


def test_health_checks_speak_the_pools_tls(env):
    k = pki(env)
    good, bad = TLSServer("good", k["ip"]), TLSServer("bad", k["foreign"])
    try:
        port = free_port()
        sock, audit = harness.admin_paths(port)
        blue = env.demo("blue")
        text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; } );\n'
                'pools = {\n  blue = { servers = ( { address = "%s"; } ); };\n'
                '  green = { servers = ( { address = "%s"; }, { address = "%s"; } );\n'
                '    tls = { ca = "%s"; };\n'
                '    health = { path = "/healthz"; interval_ms = 100; timeout_ms = 80; rise = 1; '
                'fall = 1; }; };\n};\n'
                'split = { stable = "green"; candidate_percent = 0.0; };\n'
                'log = { level = "info"; access = "stderr"; };\n'
                'admin = { socket = "%s"; audit_log = "%s"; };\n') % (
                    port, blue.addr, good.addr, bad.addr, k["ca"][0], sock, audit)
        p = harness.Proxy(env.tmp, text, port)
        env.proxies.append(p)

        def states():
            ok, first, rest = admin(port, "show servers")
            return first + "\n" + rest

        assert wait_until(lambda: good.requests > 0), states()
        assert wait_until(lambda: "certificate verify failed" in p.output()), p.output()[-2000:]
        # the server that does not verify is down, the other one takes everything
        assert wait_until(lambda: all(get(port)[2].startswith(b"good ") for _ in range(6))), \
            states()
        assert bad.requests == 0
    finally:
        good.stop()
        bad.stop()


def test_reload_reads_the_certificates_again(env):
    k = pki(env)
    s = TLSServer("green", k["foreign"])
    try:
        ca_file = os.path.join(env.tmp, "trusted.pem")
        with open(ca_file, "w") as f:
            f.write(open(k["ca"][0]).read())
        p = tls_proxy(env, s.addr, 'ca = "trusted.pem";')
        assert get(p.port)[0] == 502
        # the operator trusts the other CA now: the same path, new contents
        with open(ca_file, "w") as f:
            f.write(open(k["other"][0]).read())
        ok, first, rest = admin(p.port, "reload")
        assert ok, (first, rest)
        assert "CA files read again" in first + rest, (first, rest)
        st, h, body = get(p.port)
        assert st == 200 and body.startswith(b"green "), (st, body)
        # a CA file that no longer parses: the reload is refused, TLS goes on
        with open(ca_file, "w") as f:
            f.write("not a certificate\n")
        ok, first, rest = admin(p.port, "reload")
        assert not ok and "trusted.pem" in first + rest, (first, rest)
        assert get(p.port)[0] == 200
    finally:
        s.stop()


def test_bad_tls_settings_are_refused_at_start(env):
    k = pki(env)
    cases = [
        ('ca = "%s"; cert = "%s";' % (k["ca"][0], k["client"][0]), "needs both"),
        ('ca = "%s/nope.pem";' % env.tmp, "cannot be read"),
        ('sni = "bad name!";', "must be a host name"),
        ('cert = "%s"; key = "%s";' % (k["client"][0], k["ip"][1]), "does not match"),
        ('min_version = "SSLv3";', "min_version"),
    ]
    for tls, words in cases:
        port = free_port()
        conf = os.path.join(env.tmp, "bad-%d.conf" % port)
        with open(conf, "w") as f:
            f.write('listen = ( { address = "127.0.0.1:%d"; } );\n'
                    'pools = { blue = { servers = ( { address = "127.0.0.1:1"; } ); };\n'
                    '  green = { servers = ( { address = "127.0.0.1:2"; } ); tls = { %s }; };\n'
                    '};\n' % (port, tls))
        r = subprocess.run([os.path.join(harness.BUILD, "bgproxy"), "-t", "-c", conf],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and words in r.stderr, (tls, r.stderr)


# ---- servers[].max_connections and timeouts.queue_ms ----------------------


class CountingServer:
    """An HTTP/1.1 server that answers after `delay_s` and counts how many
    requests it holds at once (the most ever, and now)."""

    def __init__(self, delay_s):
        self.lock = threading.Lock()
        self.now = self.most = self.requests = 0
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with srv.lock:
                    srv.now += 1
                    srv.requests += 1
                    srv.most = max(srv.most, srv.now)
                try:
                    import time
                    time.sleep(delay_s)
                    body = b"counted\n"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with srv.lock:
                        srv.now -= 1

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = S(("127.0.0.1", 0), H)
        self.addr = "127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def limited_proxy(env, addr, maxconn, queue_ms, listen_extra=""):
    port, mport = free_port(), free_port()
    sock, audit = harness.admin_paths(port)
    text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; %s} );\n'
            'pools = {\n  blue = { servers = ( { address = "%s"; max_connections = %d; } ); };\n'
            '  green = { servers = ( { address = "%s"; } ); };\n};\n'
            'split = { stable = "blue"; candidate_percent = 0.0; };\n'
            'timeouts = { queue_ms = %d; };\n'
            'log = { level = "info"; access = "stderr"; };\n'
            'admin = { socket = "%s"; audit_log = "%s"; };\n'
            'metrics = { address = "127.0.0.1:%d"; };\n') % (
                port, listen_extra, addr, maxconn, env.demo("green").addr, queue_ms, sock,
                audit, mport)
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    harness.wait_port(mport)
    p.mport = mport
    return p


def _parallel_gets(port, n):
    out = [None] * n

    def one(i):
        try:
            out[i] = get(port, timeout=20)[0]
        except OSError as e:
            out[i] = repr(e)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_max_connections_queues_then_serves_in_order(env):
    s = CountingServer(0.2)
    try:
        p = limited_proxy(env, s.addr, 2, 5000)
        codes = _parallel_gets(p.port, 8)
        assert codes == [200] * 8, codes
        assert s.most == 2, s.most
        assert s.requests == 8
        ok, first, rest = admin(p.port, "show servers")
        assert "of 2 queued 0" in first + rest, (first, rest)
        # 8 at once on 2 places: at least 6 waited, none in vain
        lab = '{pool="blue",server="%s"}' % s.addr
        assert harness.metric(p.mport, "bgproxy_server_queued_total" + lab) >= 6
        assert harness.metric(p.mport, "bgproxy_server_queue_timeouts_total" + lab) == 0
        assert harness.metric(p.mport, "bgproxy_server_queue" + lab) == 0
    finally:
        s.stop()


def test_a_full_server_answers_503_after_queue_ms(env):
    s = CountingServer(1.5)
    try:
        p = limited_proxy(env, s.addr, 1, 200)
        codes = _parallel_gets(p.port, 4)
        assert sorted(codes) == [200, 503, 503, 503], codes
        assert s.most == 1 and s.requests == 1, (s.most, s.requests)
        assert wait_until(lambda: len(p.access_lines()) >= 4)
        busy = [l for l in p.access_lines() if l["status"] == 503]
        assert len(busy) == 3, p.access_lines()
        # they never reached the server: no upstream_proto
        assert all("upstream_proto" not in l for l in busy), busy
        lab = '{pool="blue",server="%s"}' % s.addr
        assert harness.metric(p.mport, "bgproxy_server_queue_timeouts_total" + lab) == 3
    finally:
        s.stop()


def test_one_http2_burst_holds_to_max_connections(env):
    from h2client import H2Client
    s = CountingServer(0.1)
    try:
        p = limited_proxy(env, s.addr, 3, 5000, listen_extra="h2c = true; ")
        c = H2Client(p.port)
        sids = [c.request("/") for _ in range(20)]
        assert c.wait(sids, timeout=20)
        assert [c.streams[i].status for i in sids] == [200] * 20, \
            [c.streams[i].status for i in sids]
        assert s.most <= 3, s.most
        c.close()
    finally:
        s.stop()


# ---- health.type = "grpc" --------------------------------------------------


class GrpcHealthServer:
    """A real gRPC server (python3-grpcio) answering grpc.health.v1.Health/
    Check with raw bytes: SERVING (b"\\x08\\x01"), NOT_SERVING, or NOT_FOUND
    for a service it does not know."""

    def __init__(self, cert=None):
        import grpc
        from concurrent import futures
        self.grpc = grpc
        self.status = 1
        self.asked = []
        srv = self

        def check(request, context):
            srv.asked.append(request)
            if request not in (b"", b"\x0a\x04shop"):
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            return bytes([0x08, srv.status])

        handler = grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        if cert is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            creds = grpc.ssl_server_credentials(
                [(open(cert[1], "rb").read(), open(cert[0], "rb").read())])
            self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.addr = "127.0.0.1:%d" % self.port
        self.server.start()

    def stop(self):
        self.server.stop(0)


def grpc_health_proxy(env, addr, service, tls=""):
    port = free_port()
    sock, audit = harness.admin_paths(port)
    text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; } );\n'
            'pools = {\n  blue = { servers = ( { address = "%s"; } ); };\n'
            '  green = { servers = ( { address = "%s"; } );\n'
            '    health = { type = "grpc"; grpc_service = "%s"; interval_ms = 100; '
            'timeout_ms = 80; rise = 1; fall = 1; }; %s };\n};\n'
            'split = { stable = "blue"; candidate_percent = 0.0; };\n'
            'log = { level = "info"; access = "stderr"; };\n'
            'admin = { socket = "%s"; audit_log = "%s"; };\n') % (
                port, env.demo("blue").addr, addr, service, tls, sock, audit)
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    return p


def _green_line(port):
    ok, first, rest = admin(port, "show servers")
    return [l for l in (first + "\n" + rest).splitlines() if l.startswith("green ")][0]


def test_grpc_health_checks_follow_serving(env):
    g = GrpcHealthServer()
    try:
        p = grpc_health_proxy(env, g.addr, "shop")
        assert wait_until(lambda: "check ok" in _green_line(p.port)), _green_line(p.port)
        assert g.asked and g.asked[-1] == b"\x0a\x04shop", g.asked
        assert " up " in _green_line(p.port), _green_line(p.port)
        g.status = 2        # NOT_SERVING
        assert wait_until(lambda: " down " in _green_line(p.port)), _green_line(p.port)
        assert "NOT_SERVING" in _green_line(p.port), _green_line(p.port)
        g.status = 1
        assert wait_until(lambda: " up " in _green_line(p.port)), _green_line(p.port)
    finally:
        g.stop()


def test_grpc_health_of_an_unknown_service_fails_with_its_status(env):
    g = GrpcHealthServer()
    try:
        p = grpc_health_proxy(env, g.addr, "billing")
        assert wait_until(lambda: "grpc-status 5" in _green_line(p.port)), _green_line(p.port)
        assert " down " in _green_line(p.port), _green_line(p.port)
        # an HTTP/1.1 server answers no gRPC: down, and the line says why
        p.stop()
        p2 = grpc_health_proxy(env, env.demo("plain").addr, "")
        assert wait_until(lambda: "check failed" in _green_line(p2.port)), _green_line(p2.port)
    finally:
        g.stop()


def test_grpc_health_over_the_pools_tls(env):
    k = pki(env)
    g = GrpcHealthServer(cert=k["ip"])
    try:
        p = grpc_health_proxy(env, g.addr, "", tls='tls = { ca = "%s"; };' % k["ca"][0])
        assert wait_until(lambda: "check ok" in _green_line(p.port)), _green_line(p.port)
        p.stop()
        # the same server under a CA bgproxy does not trust: down, and why
        p2 = grpc_health_proxy(env, g.addr, "", tls='tls = { ca = "%s"; };' % k["other"][0])
        assert wait_until(lambda: "certificate verify failed" in _green_line(p2.port)), \
            _green_line(p2.port)
    finally:
        g.stop()


class SilentTLSPeer:
    """Accepts TCP and then sends nothing of a TLS handshake (drip: one
    byte of a ServerHello every 100 ms, for ever)."""

    def __init__(self, drip=False):
        import time
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []
        self.stop_ = False

        def serve():
            self.sock.settimeout(0.2)
            while not self.stop_:
                try:
                    c, _ = self.sock.accept()
                except OSError:
                    continue
                self.conns.append(c)
                if drip:
                    threading.Thread(target=self._drip, args=(c,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def _drip(self, c):
        import time
        hello = b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03" + b"\x00" * 200
        for b in hello:
            if self.stop_:
                return
            try:
                c.sendall(bytes([b]))
            except OSError:
                return
            time.sleep(0.1)

    def stop(self):
        self.stop_ = True
        for c in self.conns:
            c.close()
        self.sock.close()


def test_a_stalled_or_dripping_handshake_is_a_connect_timeout(env):
    import time
    for drip in (False, True):
        s = SilentTLSPeer(drip=drip)
        try:
            p = tls_proxy(env, s.addr, "verify = false;",
                          extra="timeouts = { upstream_connect_ms = 300; "
                                "upstream_response_ms = 20000; };")
            t0 = time.time()
            st, h, body = get(p.port, timeout=15)
            took = time.time() - t0
            assert st in (502, 504), (st, body)
            # bounded by the connect time, not by the response's 20 s
            assert took < 5, took
            assert wait_until(lambda: "TLS handshake timed out" in p.output()), \
                p.output()[-2000:]
            p.stop()
        finally:
            s.stop()



# ---- gRPC-aware accounting (guard.grpc_error_codes) ------------------------


class GrpcLikeServer:
    """An HTTP/1.1 server answering the way a gRPC server's answers reach
    bgproxy: /only-14 a trailers-only answer (grpc-status 14 in the head),
    /trailer-0 and /trailer-13 a chunked body with grpc-status in its
    trailers."""

    def __init__(self):
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:         # the chunks, then the trailer section
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        self.rfile.read(size + 2)
                else:
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/only-14":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\n"
                                     b"grpc-status: 14\r\ngrpc-message: down\r\n"
                                     b"content-length: 0\r\n\r\n")
                    return
                code = self.path.rsplit("-", 1)[1].encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\n"
                                 b"transfer-encoding: chunked\r\ntrailer: grpc-status\r\n\r\n"
                                 b"5\r\n\x00\x00\x00\x00\x00\r\n0\r\ngrpc-status: " + code +
                                 b"\r\n\r\n")

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = S(("127.0.0.1", 0), H)
        self.addr = "127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


GRPC_HEADERS = [("content-type", "application/grpc"), ("te", "trailers")]


def grpc_proxy(env, blue_addr, extra=""):
    port, mport = free_port(), free_port()
    sock, audit = harness.admin_paths(port)
    text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; h2c = true; } );\n'
            'pools = {\n  blue = { servers = ( { address = "%s"; } ); };\n'
            '  green = { servers = ( { address = "%s"; } ); };\n};\n'
            'split = { stable = "blue"; candidate_percent = 0.0; };\n'
            'log = { level = "info"; access = "stderr"; };\n'
            'admin = { socket = "%s"; audit_log = "%s"; };\n'
            'metrics = { address = "127.0.0.1:%d"; };\n%s\n') % (
                port, blue_addr, env.demo("green").addr, sock, audit, mport, extra)
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    harness.wait_port(mport)
    p.mport = mport
    return p


def test_grpc_status_is_counted_and_errors_are_the_servers(env):
    from h2client import H2Client
    s = GrpcLikeServer()
    try:
        p = grpc_proxy(env, s.addr)
        c = H2Client(p.port)
        for path in ("/only-14", "/trailer-0", "/trailer-13", "/trailer-5"):
            sid = c.request(path, method="POST", headers=GRPC_HEADERS, body=b"\x00" * 5)
            assert c.wait([sid])
            st = c.streams[sid]
            assert st.status == 200, (path, st.status)
            want = path.rsplit("-", 1)[1]
            got = (st.trailers or st.headers).get("grpc-status")
            assert got == want, (path, st.headers, st.trailers)
        c.close()
        assert wait_until(lambda: len(p.access_lines()) >= 4)
        codes = sorted(l.get("grpc_status") for l in p.access_lines())
        assert codes == [0, 5, 13, 14], p.access_lines()

        def m(name):
            return harness.metric(p.mport, name)
        assert m('bgproxy_grpc_responses_total{pool="blue",code="14"}') == 1
        assert m('bgproxy_grpc_responses_total{pool="blue",code="0"}') == 1
        # 13 and 14 are in the default grpc_error_codes, 5 (NOT_FOUND) is not
        assert m('bgproxy_upstream_errors_total{pool="blue",kind="grpc"}') == 2
        ok, first, rest = admin(p.port, "show servers")
        assert " grpc 2)" in first + rest, (first, rest)
    finally:
        s.stop()


def test_grpc_error_codes_are_the_operators_choice(env):
    from h2client import H2Client
    s = GrpcLikeServer()
    try:
        p = grpc_proxy(env, s.addr, "guard = { grpc_error_codes = [ 5 ]; };")
        c = H2Client(p.port)
        for path in ("/trailer-5", "/only-14"):
            sid = c.request(path, method="POST", headers=GRPC_HEADERS, body=b"\x00" * 5)
            assert c.wait([sid])
        c.close()
        assert wait_until(lambda: len(p.access_lines()) >= 2)
        assert harness.metric(p.mport,
                              'bgproxy_upstream_errors_total{pool="blue",kind="grpc"}') == 1
    finally:
        s.stop()
    # codes outside 0..16 or twice: refused
    for bad in ("[ 17 ]", "[ 2, 2 ]", "[ \"x\" ]"):
        port = free_port()
        conf = os.path.join(env.tmp, "g-%d.conf" % port)
        with open(conf, "w") as f:
            f.write('listen = ( { address = "127.0.0.1:%d"; } );\n'
                    'pools = { blue = { servers = ( { address = "127.0.0.1:1"; } ); };\n'
                    '  green = { servers = ( { address = "127.0.0.1:2"; } ); }; };\n'
                    'guard = { grpc_error_codes = %s; };\n' % (port, bad))
        r = subprocess.run([os.path.join(harness.BUILD, "bgproxy"), "-t", "-c", conf],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "grpc_error_codes" in r.stderr, (bad, r.stderr)


def test_a_grpc_client_gets_grpc_shaped_errors(env):
    from h2client import H2Client
    # nothing listens there: no server can be reached
    dead = "127.0.0.1:%d" % free_port()
    p = grpc_proxy(env, dead)
    c = H2Client(p.port)
    sid = c.request("/pkg.Svc/Call", method="POST", headers=GRPC_HEADERS, body=b"\x00" * 5)
    assert c.wait([sid])
    st = c.streams[sid]
    assert st.status == 200, st.headers
    assert st.headers.get("content-type") == "application/grpc", st.headers
    assert st.headers.get("grpc-status") == "14", st.headers
    assert st.headers.get("grpc-message"), st.headers
    # a client that did not ask for gRPC gets HTTP's answer
    sid = c.request("/plain", method="GET")
    assert c.wait([sid])
    assert c.streams[sid].status == 502, c.streams[sid].headers
    c.close()
    assert wait_until(lambda: len(p.access_lines()) >= 2)
    lines = p.access_lines()
    assert lines[0]["status"] == 200 and lines[0]["grpc_status"] == 14, lines
    assert "grpc_status" not in lines[1], lines


def test_a_grpc_candidate_failing_unavailable_is_reverted(env):
    """HTTP says 200 every time; grpc-status 14 says the candidate is down:
    the guard sees it and reverts."""
    from h2client import H2Client
    s = GrpcLikeServer()
    try:
        port = free_port()
        sock, audit = harness.admin_paths(port)
        text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; h2c = true; } );\n'
                'pools = {\n  blue = { servers = ( { address = "%s"; } ); };\n'
                '  green = { servers = ( { address = "%s"; } ); };\n};\n'
                'split = { stable = "blue"; candidate_percent = 0.0; cookie = ""; };\n'
                'guard = { min_requests = 10; window_s = 5; interval_ms = 100; };\n'
                'log = { level = "info"; access = "stderr"; };\n'
                'admin = { socket = "%s"; audit_log = "%s"; };\n') % (
                    port, env.demo("blue").addr, s.addr, sock, audit)
        p = harness.Proxy(env.tmp, text, port)
        env.proxies.append(p)
        assert admin(port, "set weight green 50")[0]
        c = H2Client(port)

        def state():
            return harness.json_status(p)["state"]

        sent = 0
        while state() != "reverted" and sent < 400:
            sids = [c.request("/only-14", method="POST", headers=GRPC_HEADERS,
                              body=b"\x00" * 5) for _ in range(10)]
            assert c.wait(sids)
            sent += 10
        assert wait_until(lambda: state() == "reverted"), state()
        c.close()
        assert "guard reverted green" in p.output(), p.output()[-2000:]
        assert "error" in harness.json_status(p)["last_revert"], harness.json_status(p)
    finally:
        s.stop()


def test_a_health_check_refused_for_its_client_certificate_says_why(env):
    k = pki(env)
    s = TLSServer("green", k["ip"], client_ca=k["ca"][0])
    try:
        port = free_port()
        sock, audit = harness.admin_paths(port)
        text = ('workers = 1;\nlisten = ( { address = "127.0.0.1:%d"; } );\n'
                'pools = {\n  blue = { servers = ( { address = "%s"; } ); };\n'
                '  green = { servers = ( { address = "%s"; } ); tls = { ca = "%s"; };\n'
                '    health = { interval_ms = 100; timeout_ms = 80; rise = 1; fall = 1; }; };\n'
                '};\nsplit = { stable = "blue"; candidate_percent = 0.0; };\n'
                'log = { level = "info"; access = "stderr"; };\n'
                'admin = { socket = "%s"; audit_log = "%s"; };\n') % (
                    port, env.demo("blue").addr, s.addr, k["ca"][0], sock, audit)
        p = harness.Proxy(env.tmp, text, port)
        env.proxies.append(p)
        assert wait_until(lambda: "certificate required" in _green_line(port) or
                          "handshake failure" in _green_line(port)), _green_line(port)
    finally:
        s.stop()
