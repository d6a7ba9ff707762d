"""TLS termination: SNI among several certificates, wildcards, protocol
floors, ALPN, resumption, rotation on reload, broken certificates, garbage
handshakes.  Certificates are made at test time with `openssl req`."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import harness
from harness import free_port, config_text, Traffic, admin, wait_until


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, cwd=cwd,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_cert(d, name, sans, kind="ec", cn=None):
    """A self-signed certificate and key in d: name.pem, name.key."""
    key = os.path.join(d, name + ".key")
    pem = os.path.join(d, name + ".pem")
    if kind == "ec":
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        newkey = ["-newkey", "rsa:2048"]
    args = ["req", "-x509", "-nodes", "-days", "2"] + newkey + [
        "-keyout", key, "-out", pem, "-subj", "/CN=%s" % (cn or name)]
    if sans:
        args += ["-addext", "subjectAltName=" + ",".join("DNS:" + s for s in sans)]
    _openssl(*args)
    return pem, key


def der(pem):
    return ssl.PEM_cert_to_DER_cert(open(pem).read())


def tls_conf(port, blue, green, certs, extra="", min_version=None):
    text = config_text(port, [blue.addr], [green.addr], extra=extra)
    tls = "tls = { certificates = ( %s ); %s }" % (
        ", ".join('{ cert = "%s"; key = "%s"; }' % c for c in certs),
        'min_version = "%s";' % min_version if min_version else "")
    return text.replace('listen = ( { address = "127.0.0.1:%d"; } ' % port,
                        'listen = ( { address = "127.0.0.1:%d"; %s; } ' % (port, tls))


def client_ctx(**kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def handshake(port, sni=None, ctx=None):
    ctx = ctx or client_ctx()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t = ctx.wrap_socket(s, server_hostname=sni)
    return t


def https_get(t, path="/"):
    t.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        b = t.recv(65536)
        assert b
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while len(body) < n:
        body += t.recv(65536)
    return int(head[9:12]), head, body


class Site:
    def __init__(self, env):
        self.d = env.tmp
        self.a = make_cert(self.d, "a", ["a.test"])
        self.b = make_cert(self.d, "b", None, kind="rsa", cn="b.test")
        self.w = make_cert(self.d, "w", ["*.wild.test", "c.test"])


def _proxy(env, site, min_version=None, extra=""):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    text = tls_conf(port, blue, green, [site.a, site.b, site.w], extra=extra,
                    min_version=min_version)
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    return p


def test_sni_selection_and_default(env):
    site = Site(env)
    p = _proxy(env, site)
    for sni, pem in (("a.test", site.a[0]), ("b.test", site.b[0]), ("c.test", site.w[0]),
                     ("x.wild.test", site.w[0]), ("A.TEST", site.a[0]),
                     ("unknown.test", site.a[0]), (None, site.a[0]),
                     ("x.y.wild.test", site.a[0]), ("wild.test", site.a[0])):
        t = handshake(p.port, sni)
        assert t.getpeercert(binary_form=True) == der(pem), sni
        st, head, body = https_get(t)
        assert st == 200 and body == b"blue\n"
        t.close()


def test_forwarded_proto_and_access_log(env):
    site = Site(env)
    p = _proxy(env, site)
    t = handshake(p.port, "a.test")
    st, head, body = https_get(t, "/headers")
    assert b"X-Forwarded-Proto: https" in body
    t.close()
    assert p.wait_access_lines(1), p.output()      # flushed every 100 ms
    lines = [l for l in p.access_lines() if l["path"] == "/headers"]
    assert lines and lines[0]["tls"] is True and lines[0]["sni"] == "a.test"
    assert lines[0]["tls_version"] in ("TLSv1.3", "TLSv1.2")


def test_protocol_floor(env):
    site = Site(env)
    p = _proxy(env, site)
    old = client_ctx(minimum_version=ssl.TLSVersion.TLSv1_1, maximum_version=ssl.TLSVersion.TLSv1_1)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        handshake(p.port, "a.test", old)
        assert False, "TLS 1.1 accepted"
    except (ssl.SSLError, OSError):
        pass
    t = handshake(p.port, "a.test", client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2))
    assert t.version() == "TLSv1.2"
    assert t.cipher()[0].startswith("ECDHE-") and "GCM" in t.cipher()[0] or "CHACHA" in t.cipher()[0]
    t.close()
    p.stop()
    q = _proxy(env, site, min_version="TLSv1.3")
    try:
        handshake(q.port, "a.test", client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2))
        assert False, "TLS 1.2 accepted by a 1.3-only listener"
    except (ssl.SSLError, OSError):
        pass
    t = handshake(q.port, "a.test")
    assert t.version() == "TLSv1.3"
    t.close()


def test_alpn(env):
    site = Site(env)
    p = _proxy(env, site)
    # h2 first (test_http2.py speaks it), http/1.1 for the rest
    ctx = client_ctx()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    t = handshake(p.port, "a.test", ctx)
    assert t.selected_alpn_protocol() == "h2"
    t.close()
    ctx = client_ctx()
    ctx.set_alpn_protocols(["http/1.1"])
    t = handshake(p.port, "a.test", ctx)
    assert t.selected_alpn_protocol() == "http/1.1"
    assert https_get(t)[0] == 200
    t.close()
    # nothing in common: no ALPN, and HTTP/1.1 is served
    ctx = client_ctx()
    ctx.set_alpn_protocols(["spdy/3"])
    t = handshake(p.port, "a.test", ctx)
    assert t.selected_alpn_protocol() is None
    assert https_get(t)[0] == 200
    t.close()


def test_resumption(env):
    site = Site(env)
    p = _proxy(env, site)
    sess = os.path.join(env.tmp, "sess.pem")
    for proto in ("-tls1_2", "-tls1_3"):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % p.port,
                            "-servername", "a.test", proto, "-sess_out", sess, "-ign_eof"],
                           input="GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                           capture_output=True, text=True, timeout=20)
        assert "blue" in r.stdout, r.stdout[-500:]
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % p.port,
                            "-servername", "a.test", proto, "-sess_in", sess, "-ign_eof"],
                           input="GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                           capture_output=True, text=True, timeout=20)
        assert "Reused," in r.stdout, (proto, r.stdout[-800:])


def test_tls13_resumed_session_gets_a_new_ticket(env):
    """A client that resumes again and again (browsers; wrk, which keeps its
    SSL object) gets a fresh ticket each time: no full handshake every
    other connection."""
    site = Site(env)
    p = _proxy(env, site)
    prev = None
    for i in range(4):
        out = os.path.join(env.tmp, "chain%d.pem" % i)
        args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % p.port,
                "-servername", "a.test", "-tls1_3", "-sess_out", out, "-ign_eof"]
        if prev:
            args += ["-sess_in", prev]
        r = subprocess.run(args, input="GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                           capture_output=True, text=True, timeout=20)
        assert "blue" in r.stdout, r.stdout[-500:]
        assert ("Reused," if i else "New,") in r.stdout, (i, r.stdout[-800:])
        prev = out


def test_large_bodies_both_ways_and_close(env):
    """TLS records wait in bgproxy's own write buffer until the socket takes
    them: a big download, a slow reader and a Connection: close answer all
    arrive whole, a big upload too."""
    site = Site(env)
    p = _proxy(env, site)
    n = 3 * 1000 * 1000
    want = bytes((ord("a") + i % 26) for i in range(n))
    for close in (False, True):
        t = handshake(p.port, "a.test")
        t.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: a\r\n%s\r\n" %
                  (n, b"Connection: close\r\n" if close else b""))
        data = b""
        if close:
            # a fixed time on purpose: a reader that lags, so that the tail
            # waits in bgproxy's buffer (nothing to wait for)
            time.sleep(0.5)
        while len(data) < n + 100:
            b = t.recv(1 << 20)
            if not b:
                break
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and body[:n] == want, (close, len(body))
        if close:
            assert t.recv(100) == b"", "no close after Connection: close"
        t.close()
    body = os.urandom(2 * 1000 * 1000)
    t = handshake(p.port, "a.test")
    t.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    # the whole body, however the reads split it (the head's length aside)
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < len(body):
        b = t.recv(1 << 20)
        assert b, len(data)
        data += b
    assert data.partition(b"\r\n\r\n")[2][:len(body)] == body
    t.close()


def test_rotation_on_sighup_keeps_connections(env):
    site = Site(env)
    p = _proxy(env, site)
    t = handshake(p.port, "a.test")
    assert https_get(t)[0] == 200
    old = der(site.a[0])
    os.rename(site.a[0], site.a[0] + ".old")
    os.rename(site.a[1], site.a[1] + ".old")
    make_cert(site.d, "a", ["a.test"])
    new = der(site.a[0])
    assert new != old
    p.signal(signal.SIGHUP)
    assert harness.wait_until(lambda: "reloaded " in admin(p.port, "show events")[2],
                              timeout=10), p.output()[-2000:]
    assert https_get(t)[0] == 200          # the open connection carries on
    t.close()
    t2 = handshake(p.port, "a.test")
    assert t2.getpeercert(binary_form=True) == new
    t2.close()


def test_broken_certificate_on_reload_keeps_old(env):
    site = Site(env)
    p = _proxy(env, site)
    tr = Traffic(env, p.port)        # plain requests fail (TLS port): just load
    tr.stop()
    old = der(site.b[0])
    with open(site.b[0], "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    ok, first, rest = admin(p.port, "reload")
    assert not ok and first.startswith("ERR " + p.conf + ":") and "b.pem" in first, first
    t = handshake(p.port, "b.test")
    assert t.getpeercert(binary_form=True) == old
    assert https_get(t)[0] == 200
    t.close()
    # a key that does not match its certificate
    os.remove(site.b[0])
    make_cert(site.d, "b", None, kind="rsa", cn="b.test")
    shutil.copy(site.a[1], site.b[1])
    ok, first, rest = admin(p.port, "reload")
    assert not ok and "does not match" in first, first


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _closed_by_peer(s):
    """True once the other side has closed s (what it sent before is read)."""
    s.setblocking(False)
    try:
        while True:
            if not s.recv(4096):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True                # reset


def test_garbage_handshakes_leave_no_trace(env):
    site = Site(env)
    p = _proxy(env, site, extra="timeouts = { client_header_ms = 500; };")
    t = handshake(p.port, "a.test")
    assert https_get(t)[0] == 200
    with_t = _fds(p.proc.pid)
    t.close()
    # bgproxy has closed its end of t (no admin query here: its own
    # connection would be one more fd for a moment)
    assert harness.wait_until(lambda: _fds(p.proc.pid) < with_t, timeout=10), \
        (with_t, _fds(p.proc.pid))
    before = _fds(p.proc.pid)
    stalled = []
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        if i % 4 == 0:
            s.sendall(os.urandom(300))
            s.close()
        elif i % 4 == 1:
            s.sendall(b"\x16\x03\x01\x00\xff")       # a handshake record that never completes
            stalled.append(s)
        elif i % 4 == 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()                                 # reset
        else:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")   # plain HTTP on a TLS port
            s.close()
    # the stalled ones time out (client_header_ms): bgproxy closes them
    assert harness.wait_until(lambda: all(_closed_by_peer(s) for s in stalled), timeout=15), \
        "%d stalled handshakes still open" % sum(not _closed_by_peer(s) for s in stalled)
    for s in stalled:
        s.close()
    t = handshake(p.port, "a.test")
    assert https_get(t)[0] == 200
    t.close()
    harness.wait_until(lambda: _fds(p.proc.pid) == before, timeout=10)
    assert _fds(p.proc.pid) == before, (before, _fds(p.proc.pid))


def test_tls_metrics(env):
    site = Site(env)
    mport = free_port()
    p = _proxy(env, site, extra='metrics = { address = "127.0.0.1:%d"; };' % mport)
    for _ in range(3):
        t = handshake(p.port, "a.test")
        https_get(t)
        t.close()
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(os.urandom(100))
    s.close()

    def errors_counted():
        # the garbage handshake fails, and is counted, once bgproxy reads it
        body = harness.get(mport, "/metrics")[2].decode()
        return re.search(r"^bgproxy_tls_handshake_errors_total [1-9]", body, re.M)
    harness.wait_until(errors_counted, timeout=10)
    st, h, body = harness.get(mport, "/metrics")
    m = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in body.decode().splitlines()
         if l and not l.startswith("#")}
    assert m["bgproxy_tls_handshakes_total"] == 3
    assert m["bgproxy_tls_handshake_errors_total"] >= 1


def test_tls12_renegotiation_is_refused_at_once(env):
    """A TLS 1.2 client asking for renegotiation gets the no_renegotiation
    alert at once (it waited for ever: the alert sat unsent)."""
    site = Site(env)
    p = _proxy(env, site)
    proc = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % p.port,
                             "-servername", "a.test", "-tls1_2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = []

    def reader():
        for line in proc.stdout:
            out.append(line)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        assert wait_until(lambda: any("Verify return code" in l for l in out), 10), "".join(out)
        proc.stdin.write("R\n")
        proc.stdin.flush()
        assert wait_until(lambda: any("no renegotiation" in l for l in out), 5), \
            "".join(out)[-600:]
        assert proc.wait(5) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the server goes on serving others
    assert https_get(handshake(p.port, "a.test"))[0] == 200
