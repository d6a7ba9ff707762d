"""The known HTTP/2 attacks, each from python3-h2's frame layer: the
offending connection gets GOAWAY (ENHANCE_YOUR_CALM), counted under its
reason in bgproxy_http2_goaways_total, while a second, well-behaved client
on the same worker keeps getting 100% 2xx and bgproxy's memory stays
bounded.  The figures are in docs/http2.md."""
import os
import struct
import threading
import time
import urllib.request

from harness import wait_until, free_port
from h2client import H2Client, RawH2, hf, ENHANCE_YOUR_CALM, CANCEL
import test_http2 as h2t

ASAN = "asan" in os.path.basename(os.environ.get("BGPROXY_BUILD", ""))
RSS_BOUND_KB = 32 * 1024      # what one attack may add to bgproxy's RSS


class Bystander:
    """A normal HTTP/2 client: one request after the other on its own
    connection, every status recorded, until stop()."""

    def __init__(self, port):
        self.port = port
        self.statuses = []
        self.errors = []
        self.flag = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        wait_until(lambda: len(self.statuses) >= 3 or self.errors, timeout=10)

    def _run(self):
        try:
            c = H2Client(self.port)
            while not self.flag:
                st = c.get("/", timeout=10)
                self.statuses.append(st.status)
                if c.closed or c.goaway is not None:
                    c = H2Client(self.port)
            c.close()
        except Exception as e:      # noqa: BLE001 - any failure fails the test
            self.errors.append(repr(e))

    def stop(self):
        n = len(self.statuses)
        wait_until(lambda: len(self.statuses) >= n + 3 or self.errors, timeout=10)
        self.flag = True
        self.t.join(15)
        assert not self.errors, self.errors
        bad = [s for s in self.statuses if s is None or not 200 <= s < 300]
        assert not bad and len(self.statuses) >= 6, (len(self.statuses), bad[:5])


def rss_kb(p):
    for line in open("/proc/%d/status" % p.proc.pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _metrics(mport):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        return r.read().decode()


def _setup(env, extra=""):
    mport = free_port()
    blue, green, p = h2t._h2c(env, extra='metrics = { address = "127.0.0.1:%d"; };\n' % mport
                              + extra)
    # warm up: the worker's pools and buffers
    c = H2Client(p.port)
    for _ in range(5):
        assert c.get("/").status == 200
    c.close()
    return blue, p, mport


def _check(p, mport, r, reason, rss0, by):
    assert r.wait_goaway(15) is not None, "no GOAWAY"
    assert r.goaway[0] == ENHANCE_YOUR_CALM, r.goaway
    assert r.wait_closed(15), "the connection stayed open"
    assert wait_until(lambda: 'bgproxy_http2_goaways_total{reason="%s"} 1' % reason
                      in _metrics(mport), timeout=5), _metrics(mport)
    by.stop()
    grown = rss_kb(p) - rss0
    if not ASAN:
        assert grown < RSS_BOUND_KB, "RSS grew by %d KiB" % grown
    print("# %s: GOAWAY %s, RSS +%d KiB" % (reason, r.goaway, grown))


def test_rapid_reset(env):
    blue, p, mport = _setup(env)
    before = blue.stats()["requests"]
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    sid = 1
    for _ in range(40):
        batch = b""
        for _ in range(50):
            batch += r.headers_frame(sid, RawH2.req("/slow?ms=200"))
            batch += hf.RstStreamFrame(sid, error_code=CANCEL).serialize()
            sid += 2
        if not r.send(batch):
            break
    _check(p, mport, r, "rapid_reset", rss0, by)
    # HEADERS reset in the same read never reach a server (the bystander's
    # requests are the rest of what the server saw, one may be in flight)
    forwarded = blue.stats()["requests"] - before - len(by.statuses)
    assert forwarded < 50, forwarded
    print("# rapid reset: %d of 2000 streams reached the server" % forwarded)


def test_continuation_flood(env):
    blue, p, mport = _setup(env)
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    r.send(r.headers_frame(1, RawH2.req("/"), end_stream=True, end_headers=False))
    block = r.enc.encode([("x-flood", "a" * 1000)])
    for i in range(2000):
        f = hf.ContinuationFrame(1)
        f.data = block
        if not r.send(f.serialize()):
            break
    _check(p, mport, r, "continuation_flood", rss0, by)


def test_hpack_bomb(env):
    blue, p, mport = _setup(env)
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    # a 4000-byte field into the dynamic table, then a header list of 1-byte
    # references to it: 400 KB once decompressed, 25x the limit
    r.send(r.headers_frame(1, RawH2.req("/") + [("x-bomb", "b" * 4000)]))
    wait_until(lambda: r.ended(1), timeout=10)
    r.send(r.headers_frame(3, RawH2.req("/") + [("x-bomb", "b" * 4000)] * 100))
    _check(p, mport, r, "header_list", rss0, by)


def test_settings_flood(env):
    blue, p, mport = _setup(env)
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    r.send(hf.SettingsFrame(0).serialize() * 2000)
    _check(p, mport, r, "control_flood", rss0, by)


def test_ping_flood(env):
    blue, p, mport = _setup(env)
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    r.send(b"".join(hf.PingFrame(0, opaque_data=struct.pack("!Q", i)).serialize()
                    for i in range(2000)))
    _check(p, mport, r, "control_flood", rss0, by)


def test_empty_data_flood(env):
    blue, p, mport = _setup(env)
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    r.send(r.headers_frame(1, RawH2.req("/echo", method="POST"), end_stream=False))
    r.send(hf.DataFrame(1).serialize() * 1000)
    _check(p, mport, r, "empty_frames", rss0, by)


def test_window_update_flood(env):
    blue, p, mport = _setup(env)
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    r.send(hf.WindowUpdateFrame(0, window_increment=1).serialize() * 5000)
    _check(p, mport, r, "control_flood", rss0, by)


def test_zero_window_stall(env):
    """A client that never opens its window: responses wait, at most
    PROXY_RESP_HIGH per stream in bgproxy, and after client_idle_ms without
    a DATA frame out the connection gets GOAWAY and is closed."""
    blue, p, mport = _setup(env, extra="timeouts = { client_idle_ms = 1500; };\n")
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    t0 = time.time()
    r = RawH2(p.port, settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    r.send(b"".join(r.headers_frame(2 * i + 1, RawH2.req("/big?n=%d" % (64 << 20)))
                    for i in range(20)))
    wait_until(lambda: len(r.of(hf.HeadersFrame)) >= 20, timeout=10)
    _check(p, mport, r, "zero_window", rss0, by)
    assert time.time() - t0 < 10


def test_resets_we_send_for_the_clients_faults_count(env):
    """"MadeYouReset": streams the client makes bgproxy reset (a DATA that
    breaks the content-length) cost the same budget as its own resets, and
    none reaches a server (nghttp2's resets go out before streams start)."""
    blue, p, mport = _setup(env)
    before = blue.stats()["requests"]
    rss0 = rss_kb(p)
    by = Bystander(p.port)
    r = RawH2(p.port)
    sid = 1
    for _ in range(20):
        batch = b""
        for _ in range(50):
            batch += r.headers_frame(sid, RawH2.req("/echo", method="POST") +
                                     [("content-length", "1")], end_stream=False)
            f = hf.DataFrame(sid)
            f.flags.add("END_STREAM")
            batch += f.serialize()
            sid += 2
        if not r.send(batch):
            break
    _check(p, mport, r, "rapid_reset", rss0, by)
    forwarded = blue.stats()["requests"] - before - len(by.statuses)
    assert forwarded < 50, forwarded


def test_header_block_never_finished(env):
    """HEADERS without END_HEADERS and then nothing: the connection cannot
    carry anything else, and is ended after client_header_ms."""
    mport = free_port()
    blue, green, p = h2t._h2c(env, extra='metrics = { address = "127.0.0.1:%d"; };\n'
                              'timeouts = { client_header_ms = 500; };\n' % mport)
    r = RawH2(p.port)
    t0 = time.time()
    r.send(r.headers_frame(1, RawH2.req("/"), end_stream=True, end_headers=False))
    assert r.wait_goaway(10) is not None, "no GOAWAY"
    assert r.goaway[0] == 1, r.goaway          # PROTOCOL_ERROR
    assert r.wait_closed(10)
    assert time.time() - t0 < 5
    assert 'bgproxy_http2_goaways_total{reason="header_timeout"} 1' in _metrics(mport)


def test_a_refused_multi_frame_block_does_not_time_the_connection_out(env):
    """A header block in HEADERS + CONTINUATION that nghttp2 refuses (no
    :path) resets that stream only; the block's timer ends with the block."""
    blue, green, p = h2t._h2c(env, extra='timeouts = { client_header_ms = 400; };\n')
    r = RawH2(p.port)
    block = r.enc.encode([(":method", "GET"), (":scheme", "http"), (":authority", "a")])
    f = hf.HeadersFrame(1)
    f.data = block[:2]
    f.flags.add("END_STREAM")
    c = hf.ContinuationFrame(1)
    c.data = block[2:]
    c.flags.add("END_HEADERS")
    r.send(f.serialize() + c.serialize())
    assert wait_until(lambda: r.of(hf.RstStreamFrame), timeout=5)
    time.sleep(1.0)            # not the check: past client_header_ms
    r.send(r.headers_frame(3, RawH2.req("/")))
    assert wait_until(lambda: r.ended(3), timeout=5), r.frames
    assert r.goaway is None and r.ended(3)[0] == 200
    r.close()
