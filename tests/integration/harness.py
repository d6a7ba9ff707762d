"""Integration-test harness: start the real bgproxy and bgdemo binaries on
free loopback ports, talk HTTP to them with stdlib clients, stop everything
by PID.  Python standard library only."""
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

BUILD = os.environ.get("BGPROXY_BUILD", "build")
_procs = []


_handed_ports = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A port nothing listens on, below the kernel's ephemeral range and not
    handed out before in this run.  A port the kernel picks (bind to 0) is
    in the ephemeral range: an outgoing connection made between this call
    and the process's bind could take it as its local port, and the process
    then fails to start (seen once in a CI run)."""
    low = min(_ephemeral_low(), 32768)
    for _ in range(500):
        p = random.randint(10000, low - 1)
        if p in _handed_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        _handed_ports.add(p)
        return p
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_until(pred, timeout=10.0, step=0.05):
    """Poll pred until it returns something true or timeout passes; returns
    its last value (so a test asserts on it)."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_port(port, timeout=5.0, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d not listening after %.1fs" % (port, timeout))


def _spawn(args, log):
    f = open(log, "wb")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    _procs.append(p)
    return p


def stop_all():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    del _procs[:]


class Demo:
    """One bgdemo upstream."""

    def __init__(self, name, tmp):
        self.name = name
        pf = os.path.join(tmp, "%s-%d.port" % (name, id(self)))
        self.log = os.path.join(tmp, "%s-%d.log" % (name, id(self)))
        self.proc = _spawn([os.path.join(BUILD, "bgdemo"), "--port", "0", "--name", name,
                            "--port-file", pf], self.log)
        end = time.time() + 5
        while not os.path.exists(pf):
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError("bgdemo %s did not start" % name)
            time.sleep(0.01)
        self.port = int(open(pf).read().strip())
        self.addr = "127.0.0.1:%d" % self.port

    def ctl(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/__ctl/" + path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return body

    def stats(self):
        return json.loads(self.ctl("stats"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def admin_paths(port):
    """Admin socket and audit log of the proxy listening on port."""
    d = os.path.join(tempfile.gettempdir(), "bgp-admin")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, "%d.sock" % port), os.path.join(d, "%d.audit" % port)


def admin(port, line, raw=False, timeout=5, sock=None):
    """Send one line to the proxy's admin socket (or the socket at sock);
    returns (ok, first, rest)."""
    if sock is None:
        sock, _ = admin_paths(port)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall(line if isinstance(line, bytes) else line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n\n"):
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    if raw:
        return data
    text = data.decode()
    first, _, rest = text.partition("\n")
    return first == "OK", first, rest.rstrip("\n")


def bgctl(port, *args, env=None):
    sock, _ = admin_paths(port)
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([os.path.join(BUILD, "bgctl"), "-s", sock] + list(args),
                          capture_output=True, text=True, timeout=15, env=e)


def blue_green_proxy(env, **split):
    """A blue and a green demo upstream and a proxy over them; returns
    (blue, green, proxy)."""
    blue, green = env.demo("blue"), env.demo("green")
    return blue, green, env.proxy([blue], [green], split)


def _guard_method(extra):
    """The tests written for the threshold guard (point figures over the
    window, steps on hold and min_requests) say so: the default is the
    sequential guard (test_sequential.py).  A config that names its method,
    or says "# the default guard", is left as it is."""
    if re.search(r"\bmethod\s*=", extra) or "# the default guard" in extra:
        return extra
    if "guard = {" in extra:
        return extra.replace("guard = {", 'guard = { method = "threshold";', 1)
    return extra + '\nguard = { method = "threshold"; };\n'


def config_text(port, blue, green, split=None, extra="", listen_extra="", admin=True):
    """A bgproxy config: blue/green are lists of 'host:port' strings.  The
    admin socket and audit log go to admin_paths(port)."""
    extra = _guard_method(extra)
    def servers(lst):
        return ", ".join('{ address = "%s"; }' % a for a in lst)
    sp = {"stable": '"blue"', "candidate_percent": "0.0"}
    for k, v in (split or {}).items():
        if isinstance(v, list):
            sp[k] = "[ " + ", ".join(json.dumps(x) for x in v) + " ]"
        elif isinstance(v, str):
            sp[k] = json.dumps(v)
        elif isinstance(v, bool):
            sp[k] = "true" if v else "false"
        else:
            sp[k] = str(v)
    split_s = " ".join("%s = %s;" % kv for kv in sp.items())
    return ("workers = 1;\n"
            'listen = ( { address = "127.0.0.1:%d"; } %s);\n'
            "pools = {\n  blue = { servers = ( %s ); };\n  green = { servers = ( %s ); };\n};\n"
            "split = { %s };\n"
            'log = { level = "%s"; access = "stderr"; };\n%s%s\n') % (
                port, listen_extra, servers(blue), servers(green), split_s,
                # BGPROXY_TEST_LOG_LEVEL=debug: the proxies' logs say more
                os.environ.get("BGPROXY_TEST_LOG_LEVEL", "info"),
                ('admin = { socket = "%s"; audit_log = "%s"; };\n' % admin_paths(port)) if admin else "",
                extra)


# Ports a proxy of the current test (Env) has used.  The admin files live in
# a shared directory keyed by port (socket paths must stay short), and ports
# come round again: the first proxy on a port in a test starts without an
# earlier test's audit log (a restart on the same port keeps it).
_ports_seen = set()


def _fresh_admin(port):
    if port in _ports_seen:
        return
    _ports_seen.add(port)
    for f in admin_paths(port):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass


class Proxy:
    """The real bgproxy binary with a config written to a temp dir."""

    def __init__(self, tmp, text, port, wait=True):
        self.tmp = tmp
        self.port = port
        _fresh_admin(port)
        self.conf = os.path.join(tmp, "bgproxy-%d.conf" % port)
        with open(self.conf, "w") as f:
            f.write(text)
        self.log = os.path.join(tmp, "bgproxy-%d.log" % port)
        self.proc = _spawn([os.path.join(BUILD, "bgproxy"), "-c", self.conf], self.log)
        if wait:
            try:
                wait_port(port, proc=self.proc)
            except RuntimeError as e:
                raise RuntimeError("%s; bgproxy said: %s" % (e, self.output()[-2000:]))
            sock = admin_paths(port)[0]
            end = time.time() + 5
            while sock in text and not os.path.exists(sock) and time.time() < end:
                time.sleep(0.01)

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def access_lines(self):
        out = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def wait_access_lines(self, n, timeout=10.0):
        """Poll until the access log (stderr, flushed every 100 ms) holds at
        least n lines; returns them (fewer after the timeout: the test
        asserts on what it got)."""
        def enough():
            try:
                lines = self.access_lines()
            except ValueError:      # the last line caught half written
                return None
            return lines if len(lines) >= n else None
        return wait_until(enough, timeout=timeout) or self.access_lines()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit status (negative: a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode

    def kill9(self):
        self.killed = True
        self.proc.kill()
        self.proc.wait()


def get(port, path="/", headers=None, method="GET", body=None, conn=None, timeout=10):
    """One request; returns (status, headers dict lower-case, body bytes, conn)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    hdrs = {}
    for k, v in r.getheaders():
        k = k.lower()
        hdrs[k] = hdrs[k] + "\n" + v if k in hdrs else v
    st = r.status
    if own:
        conn.close()
    return st, hdrs, data


def metric(port, name):
    """The value of the sample `name` (with its labels, as written) on the
    metrics listener at port; None when there is none."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def json_status(p):
    """`json status` of the proxy p, parsed."""
    ok, first, rest = admin(p.port, "json status")
    assert ok, first
    return json.loads(rest)


def json_events(p):
    """The events of `json show events` of the proxy p, oldest first."""
    ok, first, rest = admin(p.port, "json show events")
    assert ok, first
    data = json.loads(rest)
    return data["events"] if isinstance(data, dict) else data


def raw(port, data, timeout=3.0, half_close=False):
    """Send raw bytes, read until the peer closes or goes quiet; return bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def ws_open(port, extra_headers=b"", first_bytes=b""):
    """A WebSocket upgrade through the proxy; returns (socket, key, head)
    once the 101 head has arrived.  first_bytes go right behind the request."""
    import base64
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" +
              extra_headers + b"\r\n" + first_bytes)
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        assert b, "closed before the 101"
        head += b
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, key, head


def statuses(resp_bytes):
    """Status codes of the responses in a raw byte stream (heads only)."""
    return [int(m) for m in re.findall(rb"(?:^|\n)HTTP/1\.[01] (\d{3}) ", resp_bytes)]


class Traffic:
    """Requests in a loop on fresh connections until stopped, for at most
    max_s seconds; counts successes and records failures.  The Env stops it
    too, so a failing test never leaves it running."""

    def __init__(self, env, port, path="/", max_s=60):
        import threading
        self.port, self.path = port, path
        self.ok = 0
        self.failed = []
        self.stop_flag = False
        self.deadline = time.time() + max_s
        self.t = threading.Thread(target=self.run, daemon=True)
        env.traffic.append(self)
        self.t.start()

    def run(self):
        while not self.stop_flag and time.time() < self.deadline:
            try:
                st, h, body = get(self.port, self.path, timeout=5)
                if st == 200:
                    self.ok += 1
                else:
                    self.failed.append(st)
            except Exception as e:  # noqa
                if len(self.failed) < 1000:
                    self.failed.append(repr(e))
                time.sleep(0.01)

    def stop(self):
        self.stop_flag = True
        self.t.join(10)


class Env:
    """Per-test environment: temp dir, demo upstreams, a proxy."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="bgp-it-")
        self.demos = []
        self.proxies = []
        self.traffic = []
        _ports_seen.clear()

    def demo(self, name):
        d = Demo(name, self.tmp)
        self.demos.append(d)
        return d

    def proxy(self, blue, green, split=None, extra="", port=None, wait=True, listen_extra=""):
        port = port or free_port()
        p = Proxy(self.tmp, config_text(port, [d.addr for d in blue], [d.addr for d in green],
                                        split, extra, listen_extra), port, wait)
        self.proxies.append(p)
        return p

    def close(self):
        """Stop everything; returns a list of problems (a proxy that died
        by a signal, did not exit 0 on SIGTERM, or logged an invalid state
        change)."""
        problems = []
        for t in self.traffic:
            t.stop()
        for p in self.proxies:
            if getattr(p, "killed", False):
                continue
            already = p.proc.poll()
            rc = p.stop(timeout=5)
            if already is not None and already < 0:
                problems.append("bgproxy on port %d died by signal %d" % (p.port, -already))
            elif already is None and rc != 0:
                problems.append("bgproxy on port %d exited %s on SIGTERM" % (p.port, rc))
            # the data path's validating setters log a move they do not allow
            for line in p.output().splitlines():
                if "invalid state change" in line or "invalid exchange state change" in line:
                    problems.append("bgproxy on port %d: %s" % (p.port, line))
                    break
        for d in self.demos:
            d.stop()
        stop_all()
        return problems
