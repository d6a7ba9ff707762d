"""HTTP/2 conformance, h2spec style (generic, http2 and hpack sections):
RFC 9113 (HTTP/2) and RFC 7541 (HPACK) against bgproxy's h2c listener
(prior knowledge) and, for the preface, its TLS listener (ALPN h2).

Every frame is written by hand (struct.pack), every header block with
literal representations that never touch the dynamic table, so a broken
block cannot put the test's HPACK state out of step with the server's.

A connection error must be a GOAWAY with the code the RFC names and the
connection closed; a stream error must be a RST_STREAM with that code and
the connection must still serve a request (200).  HTTP semantics cases
(RFC 9113 8.x, malformed requests) also accept a 4xx answer; those print a
"note:" line saying so."""
import socket
import struct
import time

from harness import wait_until
from h2client import RawH2, PREFACE, hf
import test_http2 as h2t

# frame types (RFC 9113 6) and flags
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20

# error codes (RFC 9113 7)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, \
    STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)
ERR = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
       4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
       8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
       12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}

# SETTINGS identifiers (RFC 9113 6.5.2)
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, \
    S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)

MAX_WINDOW = 2 ** 31 - 1


# ---- frames and header blocks ---------------------------------------------

def frame(ftype, flags, sid, payload=b""):
    """One frame, length taken from the payload (24 bits)."""
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def frame_len(ftype, flags, sid, length, payload):
    """A frame whose length field says length, whatever the payload is."""
    return struct.pack(">I", length)[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def settings(*pairs, flags=0, sid=0):
    return frame(SETTINGS, flags, sid, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(sid, inc):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc))


def hpack_int(v, prefix_bits, first=0):
    """RFC 7541 5.1."""
    mx = (1 << prefix_bits) - 1
    if v < mx:
        return bytes([first | v])
    out = [first | mx]
    v -= mx
    while v >= 128:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _b(s):
    return s if isinstance(s, bytes) else s.encode()


def literal(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    name, value = _b(name), _b(value)
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def block(headers):
    return b"".join(literal(n, v) for n, v in headers)


def req(path="/", method="GET", authority="127.0.0.1", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", authority),
            (":path", path)] + list(extra)


# :method GET, :scheme http, :path / from the static table, :authority a
# literal without indexing on static name 1 (RFC 7541 appendix A)
STATIC_REQ = b"\x82\x86\x84" + b"\x01\x09127.0.0.1"


# ---- the client -------------------------------------------------------------

class Peer(RawH2):
    """RawH2 that completes the handshake (RFC 9113 3.4): it waits for the
    server's SETTINGS, acknowledges them and waits for the ACK of its own."""

    def __init__(self, port, settings=None, handshake=True, tls=False, preface=True):
        RawH2.__init__(self, port, tls=tls, settings=settings, preface=preface)
        if handshake and preface:
            self.handshake()

    def snapshot(self):
        with self.lock:
            return list(self.frames)

    def handshake(self, timeout=5):
        def server_settings():
            return any(isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags
                       for f in self.snapshot())
        assert wait_until(server_settings, timeout), "no SETTINGS from the server: " + summary(self)
        self.send(frame(SETTINGS, ACK, 0))
        assert wait_until(lambda: self.settings_acks() >= 1, timeout), \
            "our SETTINGS were not acknowledged: " + summary(self)

    def settings_acks(self):
        return len([f for f in self.snapshot() if isinstance(f, hf.SettingsFrame) and
                    "ACK" in f.flags])

    def request(self, sid, headers=None, end_stream=True, raw_block=None, flags=0):
        hb = raw_block if raw_block is not None else block(headers if headers is not None
                                                         else req())
        fl = END_HEADERS | flags | (END_STREAM if end_stream else 0)
        return self.send(frame(HEADERS, fl, sid, hb))

    def rst(self, sid):
        return [f for f in self.snapshot() if isinstance(f, hf.RstStreamFrame) and
                f.stream_id == sid]

    def status(self, sid):
        for f in self.snapshot():
            if isinstance(f, hf.HeadersFrame) and f.stream_id == sid and \
                    ":status" in getattr(f, "decoded", {}):
                return int(f.decoded[":status"])
        return None


def summary(r):
    """What the server sent, the handshake left out; and whether it closed."""
    out = []
    for f in r.snapshot():
        if isinstance(f, hf.GoAwayFrame):
            out.append("GOAWAY(%s, last=%d)" % (ERR.get(f.error_code, f.error_code),
                                                f.last_stream_id))
        elif isinstance(f, hf.RstStreamFrame):
            out.append("RST_STREAM(%d, %s)" % (f.stream_id, ERR.get(f.error_code, f.error_code)))
        elif isinstance(f, hf.HeadersFrame):
            out.append("HEADERS(%d, :status %s)" % (f.stream_id,
                                                    getattr(f, "decoded", {}).get(":status")))
        elif isinstance(f, hf.DataFrame):
            out.append("DATA(%d, %d bytes%s)" % (f.stream_id, len(f.data),
                                                  ", END_STREAM" if "END_STREAM" in f.flags else ""))
        elif isinstance(f, hf.PingFrame):
            out.append("PING(%s%r)" % ("ACK " if "ACK" in f.flags else "", f.opaque_data))
        elif isinstance(f, hf.WindowUpdateFrame):
            out.append("WINDOW_UPDATE(%d, %d)" % (f.stream_id, f.window_increment))
    out.append("closed" if r.closed else "still open")
    return ", ".join(out)


def _proxy(env, extra=""):
    _, _, p = h2t._h2c(env, extra=extra)
    return p


def _peer(env, settings=None, extra=""):
    return Peer(_proxy(env, extra).port, settings=settings)


# ---- what the server must do ------------------------------------------------

def conn_error(r, code, what):
    """A connection error: GOAWAY with code, then the connection closes."""
    r.wait_goaway(5)
    closed = r.wait_closed(5)
    assert r.goaway is not None and r.goaway[0] == code, \
        "%s: want GOAWAY %s, got: %s" % (what, ERR[code], summary(r))
    assert closed, "%s: GOAWAY %s but the connection stayed open" % (what, ERR[code])


def alive(r, sid, what):
    """The connection still serves: GET / on sid gets 200."""
    assert r.goaway is None and not r.closed, "%s: connection ended: %s" % (what, summary(r))
    r.request(sid)
    assert wait_until(lambda: r.ended(sid) or r.closed or r.rst(sid), 10), \
        "%s: no answer to a normal request on stream %d: %s" % (what, sid, summary(r))
    got = r.ended(sid)
    assert got is not None and got[0] == 200, \
        "%s: the request after the error got %s: %s" % (what, got, summary(r))
    assert r.goaway is None, "%s: GOAWAY after all: %s" % (what, summary(r))


def stream_error(r, sid, codes, what, next_sid, allow_4xx=False, or_conn=False):
    """A stream error on sid: RST_STREAM with one of codes (or, allow_4xx,
    a 4xx answer), the connection untouched; then a normal request.
    or_conn: a connection error with the same code passes too (RFC 9113
    5.4.1: an endpoint MAY treat a stream error as a connection error;
    libnghttp2 does for these cases)."""
    if isinstance(codes, int):
        codes = (codes,)
    if or_conn:
        wait_until(lambda: r.closed or r.goaway is not None or r.rst(sid), 5)
        if r.goaway is not None and not r.rst(sid):
            assert r.goaway[0] in codes, "%s: want %s, got: %s" % (
                what, "|".join(ERR[c] for c in codes), summary(r))
            assert r.wait_closed(5), "%s: GOAWAY but the connection stayed open" % what
            print("note: %s: a connection error (RFC 9113 5.4.1)" % what)
            return

    def settled():
        return r.closed or r.goaway is not None or r.rst(sid) or \
            (allow_4xx and r.status(sid) is not None)
    wait_until(settled, 5)
    st, rs = r.status(sid), r.rst(sid)
    if allow_4xx and st is not None and 400 <= st < 500 and r.goaway is None:
        print("note: %s: answered %d (no RST_STREAM)" % (what, st))
    else:
        assert rs and rs[0].error_code in codes and r.goaway is None and not r.closed, \
            "%s: want RST_STREAM(%d, %s)%s, got: %s" % (
                what, sid, "|".join(ERR[c] for c in codes), " or a 4xx" if allow_4xx else "",
                summary(r))
    alive(r, next_sid, what)


def malformed(env, headers=None, raw_block=None, what=""):
    """A malformed request (RFC 9113 8.1.1): stream error PROTOCOL_ERROR or 4xx."""
    r = _peer(env)
    r.request(1, headers, raw_block=raw_block)
    stream_error(r, 1, PROTOCOL_ERROR, what, 3, allow_4xx=True)
    r.close()


def malformed_group(env, cases):
    """Several malformed requests on one connection (a new one after a
    failure that ended it); all failures reported."""
    port = _proxy(env).port
    r = Peer(port)
    sid, bad = 1, []
    for what, headers in cases:
        r.request(sid, headers)
        try:
            stream_error(r, sid, PROTOCOL_ERROR, what, sid + 2, allow_4xx=True)
        except AssertionError as e:
            bad.append(str(e))
            if r.closed or r.goaway is not None:
                r.close()
                r = Peer(port)
                sid = -3
        sid += 4
    r.close()
    assert not bad, "\n".join(bad)


# ---- 3.4 connection preface -------------------------------------------------

def test_invalid_preface_tls(env):
    """RFC 9113 3.4: an invalid preface is a connection error PROTOCOL_ERROR
    (the GOAWAY MAY be omitted): the connection closes, nothing is served."""
    _, _, p = h2t._tls_proxy(env)
    r = Peer(p.port, tls=True, preface=False)
    r.send(b"INVALID CONNECTION PREFACE\r\n\r\n" + frame(SETTINGS, 0, 0))
    assert r.wait_closed(5), "the connection stayed open after an invalid preface: " + summary(r)
    for f in r.snapshot():
        assert isinstance(f, (hf.SettingsFrame, hf.WindowUpdateFrame, hf.GoAwayFrame)), f
        if isinstance(f, hf.GoAwayFrame):
            assert f.error_code == PROTOCOL_ERROR, ERR.get(f.error_code)


def test_invalid_preface_h2c(env):
    """RFC 9113 3.4 on the h2c listener: a preface broken after its first
    line is no HTTP/2 (bgproxy may read it as HTTP/1.1): never served, the
    connection closes."""
    p = _proxy(env)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame(SETTINGS, 0, 0))
    out = b""
    end = time.time() + 5
    closed = False
    while time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not b:
            closed = True
            break
        out += b
    s.close()
    assert closed, "still open after an invalid preface: %r" % out[:200]
    assert not out.startswith(b"HTTP/1.1 2"), out[:200]


def test_preface_then_non_settings_frame(env):
    """RFC 9113 3.4: the preface MUST be followed by SETTINGS; a PING
    first is a connection error PROTOCOL_ERROR."""
    p = _proxy(env)
    r = Peer(p.port, preface=False)
    r.send(PREFACE + frame(PING, 0, 0, b"\0" * 8))
    conn_error(r, PROTOCOL_ERROR, "PING before SETTINGS")


# ---- 4.1 frame format, 4.2 frame size ------------------------------------------

def test_unknown_frame_type_ignored(env):
    """RFC 9113 4.1, 5.5: a frame of an unknown type is ignored."""
    r = _peer(env)
    r.send(frame(0x16, 0, 0, b"\0" * 8))
    r.send(frame(PING, 0, 0, b"unknown!"))
    assert wait_until(lambda: any(isinstance(f, hf.PingFrame) and "ACK" in f.flags and
                                  f.opaque_data == b"unknown!" for f in r.snapshot()), 5), summary(r)
    alive(r, 1, "unknown frame type")


def test_undefined_flags_and_reserved_bit_ignored(env):
    """RFC 9113 4.1: undefined flags and the reserved bit are ignored."""
    r = _peer(env)
    r.send(frame(PING, 0x16, 0, b"flags!!!"))
    r.send(frame(PING, 0, 0x80000000, b"reserve!"))
    assert wait_until(lambda: len([f for f in r.snapshot() if isinstance(f, hf.PingFrame) and
                                   "ACK" in f.flags]) >= 2, 5), summary(r)
    r.request(1 | 0x80000000)
    assert wait_until(lambda: r.ended(1), 10), summary(r)
    assert r.ended(1)[0] == 200
    alive(r, 3, "reserved bit")


def test_data_larger_than_max_frame_size(env):
    """RFC 9113 4.2: a DATA frame over SETTINGS_MAX_FRAME_SIZE (16384):
    FRAME_SIZE_ERROR (stream or connection error)."""
    r = _peer(env)
    r.request(1, req("/echo", "POST"), end_stream=False)
    r.send(frame(DATA, END_STREAM, 1, b"x" * 16385))
    wait_until(lambda: r.rst(1) or r.goaway is not None or r.closed, 5)
    if r.goaway is not None or r.closed:
        conn_error(r, FRAME_SIZE_ERROR, "DATA of 16385 bytes")
    else:
        stream_error(r, 1, FRAME_SIZE_ERROR, "DATA of 16385 bytes", 3)


def test_headers_larger_than_max_frame_size(env):
    """RFC 9113 4.2: a HEADERS frame over SETTINGS_MAX_FRAME_SIZE: connection
    error FRAME_SIZE_ERROR (a frame that carries a field block)."""
    r = _peer(env)
    r.request(1, req(extra=[("x-dummy%d" % i, "x" * 1000) for i in range(17)]))
    conn_error(r, FRAME_SIZE_ERROR, "HEADERS over 16384 bytes")


# ---- 4.3 / RFC 7541 header compression ------------------------------------------

def _hpack(env, raw, what):
    r = _peer(env)
    r.request(1, raw_block=raw)
    conn_error(r, COMPRESSION_ERROR, what)


def test_hpack_index_zero(env):
    """RFC 7541 6.1: index 0 is a decoding error -> COMPRESSION_ERROR (RFC 9113 4.3)."""
    _hpack(env, STATIC_REQ + b"\x80", "indexed field 0")


def test_hpack_index_past_table(env):
    """RFC 7541 2.3.3: an index past static + dynamic table is a decoding error."""
    _hpack(env, STATIC_REQ + b"\xc6", "indexed field 70, empty dynamic table")


def test_hpack_table_size_update_over_setting(env):
    """RFC 7541 6.3: a size update over SETTINGS_HEADER_TABLE_SIZE (4096)."""
    _hpack(env, hpack_int(8192, 5, 0x20) + STATIC_REQ, "table size update to 8192")


def test_hpack_table_size_update_not_first(env):
    """RFC 7541 4.2: a size update must come first in the block."""
    _hpack(env, STATIC_REQ + b"\x20", "table size update at the end of a block")


def _huff_literal(value_bytes):
    return b"\x00" + hpack_int(6, 7) + b"x-test" + hpack_int(len(value_bytes), 7, 0x80) + value_bytes


def test_hpack_huffman_eos(env):
    """RFC 7541 5.2: a Huffman string holding the EOS symbol is a decoding error."""
    _hpack(env, STATIC_REQ + _huff_literal(b"\xff\xff\xff\xff"), "Huffman EOS in a value")


def test_hpack_huffman_padding_too_long(env):
    """RFC 7541 5.2: Huffman padding longer than 7 bits."""
    # 'a' is 00011 (5 bits), then 11 bits of 1s
    _hpack(env, STATIC_REQ + _huff_literal(b"\x1f\xff"), "Huffman padding of 11 bits")


def test_hpack_huffman_padding_not_eos(env):
    """RFC 7541 5.2: Huffman padding that is not the EOS prefix (zeros)."""
    _hpack(env, STATIC_REQ + _huff_literal(b"\x18"), "Huffman padding of 0 bits")


# ---- 5.1 stream states, 5.1.1 identifiers, 5.1.2 concurrency ----------------------

def test_data_on_idle_stream(env):
    """RFC 9113 5.1 idle: DATA is a connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(frame(DATA, END_STREAM, 1, b"test"))
    conn_error(r, PROTOCOL_ERROR, "DATA on idle stream 1")


def test_window_update_on_idle_stream(env):
    """RFC 9113 5.1 idle: WINDOW_UPDATE is a connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(window_update(1, 100))
    conn_error(r, PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream 1")


def test_data_on_half_closed_remote_stream(env):
    """RFC 9113 5.1 half-closed (remote): DATA is a stream error STREAM_CLOSED."""
    r = _peer(env)
    r.request(1, req("/slow?ms=1500"))
    r.send(frame(DATA, END_STREAM, 1, b"test"))
    stream_error(r, 1, STREAM_CLOSED, "DATA on half-closed(remote) stream 1", 3, or_conn=True)


def _closed_by_client_reset(env):
    """A stream the client opened (its body still to come) and then reset."""
    r = _peer(env)
    r.request(1, req("/slow?ms=1500", method="POST"), end_stream=False)
    r.send(frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)))
    return r


def test_data_after_the_clients_rst_stream(env):
    """RFC 9113 5.1 closed (after RST_STREAM from the client): DATA is a
    stream error STREAM_CLOSED (or a connection error)."""
    r = _closed_by_client_reset(env)
    r.send(frame(DATA, END_STREAM, 1, b"test"))
    stream_error(r, 1, STREAM_CLOSED, "DATA after RST_STREAM on stream 1", 3, or_conn=True)


def test_headers_after_the_clients_rst_stream(env):
    """RFC 9113 5.1 closed (after RST_STREAM from the client): HEADERS is a
    stream error STREAM_CLOSED (or a connection error)."""
    r = _closed_by_client_reset(env)
    r.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block([("x-trailer", "1")])))
    stream_error(r, 1, STREAM_CLOSED, "HEADERS after RST_STREAM on stream 1", 3, or_conn=True)


def _closed_both_ways(env):
    """A stream whose request and response both ended."""
    r = _peer(env)
    r.request(1, req("/"))
    assert wait_until(lambda: r.ended(1), 10), summary(r)
    return r


def test_data_on_a_closed_stream(env):
    """RFC 9113 5.1 closed: DATA is an error STREAM_CLOSED (a connection
    error here: nothing is kept of a stream that ended both ways)."""
    r = _closed_both_ways(env)
    r.send(frame(DATA, END_STREAM, 1, b"test"))
    stream_error(r, 1, STREAM_CLOSED, "DATA on closed stream 1", 3, or_conn=True)


def test_headers_on_a_closed_stream(env):
    """RFC 9113 5.1 closed: HEADERS is an error STREAM_CLOSED."""
    r = _closed_both_ways(env)
    r.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block(req())))
    stream_error(r, 1, STREAM_CLOSED, "HEADERS on closed stream 1", 3, or_conn=True)


def test_even_stream_id(env):
    """RFC 9113 5.1.1: a client stream id must be odd: PROTOCOL_ERROR."""
    r = _peer(env)
    r.request(2)
    conn_error(r, PROTOCOL_ERROR, "HEADERS on stream 2")


def test_stream_id_going_down(env):
    """RFC 9113 5.1.1: a new stream id below one already used: PROTOCOL_ERROR."""
    r = _peer(env)
    r.request(5)
    assert wait_until(lambda: r.ended(5), 10), summary(r)
    r.request(3)
    conn_error(r, PROTOCOL_ERROR, "HEADERS on stream 3 after stream 5")


def test_max_concurrent_streams_exceeded(env):
    """RFC 9113 5.1.2: a stream over SETTINGS_MAX_CONCURRENT_STREAMS is a
    stream error PROTOCOL_ERROR or REFUSED_STREAM; the others are served."""
    r = _peer(env, extra="http2 = { max_concurrent_streams = 3; };\n")
    r.send(b"".join(frame(HEADERS, END_HEADERS | END_STREAM, sid, block(req("/slow?ms=1000")))
                    for sid in (1, 3, 5, 7)))
    wait_until(lambda: r.rst(7) or r.closed, 5)
    rs = r.rst(7)
    if not rs and r.goaway is not None:
        # RFC 9113 5.4.1: libnghttp2 makes a stream over the acknowledged
        # limit a connection error (the connection ends)
        assert r.goaway[0] == PROTOCOL_ERROR and r.goaway[1] == 5, summary(r)
        assert r.wait_closed(5), summary(r)
        print("note: max_concurrent_streams: a connection error (RFC 9113 5.4.1)")
        return
    assert rs and rs[0].error_code in (PROTOCOL_ERROR, REFUSED_STREAM) and r.goaway is None, \
        summary(r)
    assert wait_until(lambda: all(r.ended(s) for s in (1, 3, 5)), 10), summary(r)
    assert all(r.ended(s)[0] == 200 for s in (1, 3, 5)), summary(r)
    alive(r, 9, "max_concurrent_streams")


# ---- 5.3.1 priority -----------------------------------------------------------

def test_priority_depends_on_itself(env):
    """RFC 9113 5.3.1: a stream depending on itself: stream error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 15)))
    stream_error(r, 1, PROTOCOL_ERROR, "PRIORITY of stream 1 on stream 1", 3, or_conn=True)


def test_headers_priority_depends_on_itself(env):
    """RFC 9113 5.3.1: HEADERS whose priority names the stream itself."""
    r = _peer(env)
    r.send(frame(HEADERS, END_HEADERS | END_STREAM | PRIO, 1,
                 struct.pack(">IB", 1, 15) + block(req())))
    stream_error(r, 1, PROTOCOL_ERROR, "HEADERS of stream 1 depending on itself", 3,
                 or_conn=True)


# ---- 6.1 DATA ---------------------------------------------------------------

def test_data_on_stream_0(env):
    """RFC 9113 6.1: DATA on stream 0: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(frame(DATA, END_STREAM, 0, b"test"))
    conn_error(r, PROTOCOL_ERROR, "DATA on stream 0")


def test_data_padding_longer_than_frame(env):
    """RFC 9113 6.1: pad length >= the payload: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.request(1, req("/echo", "POST"), end_stream=False)
    r.send(frame(DATA, PADDED | END_STREAM, 1, bytes([6]) + b"test"))
    conn_error(r, PROTOCOL_ERROR, "DATA with pad length 6 in 5 bytes")


# ---- 6.2 HEADERS --------------------------------------------------------------

def test_headers_on_stream_0(env):
    """RFC 9113 6.2: HEADERS on stream 0: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.request(0)
    conn_error(r, PROTOCOL_ERROR, "HEADERS on stream 0")


def test_headers_padding_longer_than_frame(env):
    """RFC 9113 6.2: pad length past the payload: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    hb = block(req())
    r.send(frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, bytes([len(hb) + 1]) + hb))
    conn_error(r, PROTOCOL_ERROR, "HEADERS with pad length past the payload")


# ---- 6.3 PRIORITY -------------------------------------------------------------

def test_priority_wrong_length(env):
    """RFC 9113 6.3: PRIORITY of 4 octets: stream error FRAME_SIZE_ERROR."""
    r = _peer(env)
    r.request(1, req("/slow?ms=500"))
    r.send(frame(PRIORITY, 0, 1, b"\0\0\0\x03"))
    stream_error(r, 1, FRAME_SIZE_ERROR, "PRIORITY of 4 octets on stream 1", 3, or_conn=True)


# ---- 6.4 RST_STREAM -----------------------------------------------------------

def test_rst_stream_on_stream_0(env):
    """RFC 9113 6.4: RST_STREAM on stream 0: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(frame(RST_STREAM, 0, 0, struct.pack(">I", CANCEL)))
    conn_error(r, PROTOCOL_ERROR, "RST_STREAM on stream 0")


def test_rst_stream_on_idle_stream(env):
    """RFC 9113 6.4: RST_STREAM on an idle stream: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)))
    conn_error(r, PROTOCOL_ERROR, "RST_STREAM on idle stream 1")


def test_rst_stream_wrong_length(env):
    """RFC 9113 6.4: RST_STREAM not 4 octets: connection error FRAME_SIZE_ERROR."""
    r = _peer(env)
    r.request(1, req("/slow?ms=1000"))
    r.send(frame(RST_STREAM, 0, 1, b"\0\0\x08"))
    conn_error(r, FRAME_SIZE_ERROR, "RST_STREAM of 3 octets")


# ---- 6.5 SETTINGS -------------------------------------------------------------

def test_settings_ack_with_payload(env):
    """RFC 9113 6.5: SETTINGS with ACK and a payload: FRAME_SIZE_ERROR."""
    r = _peer(env)
    r.send(settings((S_INITIAL_WINDOW_SIZE, 100), flags=ACK))
    conn_error(r, FRAME_SIZE_ERROR, "SETTINGS ACK with 6 octets")


def test_settings_length_not_multiple_of_6(env):
    """RFC 9113 6.5: SETTINGS length not a multiple of 6: FRAME_SIZE_ERROR."""
    r = _peer(env)
    r.send(frame(SETTINGS, 0, 0, b"\0\x03\0"))
    conn_error(r, FRAME_SIZE_ERROR, "SETTINGS of 3 octets")


def test_settings_on_stream(env):
    """RFC 9113 6.5: SETTINGS on a stream: PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(settings((S_INITIAL_WINDOW_SIZE, 100), sid=1))
    conn_error(r, PROTOCOL_ERROR, "SETTINGS on stream 1")


def test_settings_enable_push_2(env):
    """RFC 9113 6.5.2: SETTINGS_ENABLE_PUSH other than 0 or 1: PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(settings((S_ENABLE_PUSH, 2)))
    conn_error(r, PROTOCOL_ERROR, "ENABLE_PUSH=2")


def test_settings_initial_window_size_too_large(env):
    """RFC 9113 6.5.2: INITIAL_WINDOW_SIZE over 2^31-1: FLOW_CONTROL_ERROR."""
    r = _peer(env)
    r.send(settings((S_INITIAL_WINDOW_SIZE, 2 ** 31)))
    conn_error(r, FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE=2^31")


def test_settings_max_frame_size_too_small(env):
    """RFC 9113 6.5.2: MAX_FRAME_SIZE below 2^14: PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(settings((S_MAX_FRAME_SIZE, 16383)))
    conn_error(r, PROTOCOL_ERROR, "MAX_FRAME_SIZE=16383")


def test_settings_max_frame_size_too_large(env):
    """RFC 9113 6.5.2: MAX_FRAME_SIZE over 2^24-1: PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(settings((S_MAX_FRAME_SIZE, 2 ** 24)))
    conn_error(r, PROTOCOL_ERROR, "MAX_FRAME_SIZE=2^24")


def test_settings_unknown_id_ignored(env):
    """RFC 9113 6.5.2: an unknown setting is ignored; the frame is acknowledged."""
    r = _peer(env)
    n = r.settings_acks()
    r.send(settings((0xff, 1), (0x4242, 0xffffffff)))
    assert wait_until(lambda: r.settings_acks() > n, 5), summary(r)
    alive(r, 1, "unknown SETTINGS id")


# ---- 6.7 PING -----------------------------------------------------------------

def test_ping_acknowledged_with_same_payload(env):
    """RFC 9113 6.7: PING is answered by PING ACK with the same payload; a
    PING with ACK is not answered."""
    r = _peer(env)
    r.send(frame(PING, ACK, 0, b"noanswer"))
    r.send(frame(PING, 0, 0, b"h2spec\x01\x02"))
    assert wait_until(lambda: any(isinstance(f, hf.PingFrame) and "ACK" in f.flags
                                  for f in r.snapshot()), 5), summary(r)
    pings = [f for f in r.snapshot() if isinstance(f, hf.PingFrame)]
    assert [(f.opaque_data, "ACK" in f.flags) for f in pings] == [(b"h2spec\x01\x02", True)], \
        summary(r)


def test_ping_wrong_length(env):
    """RFC 9113 6.7: PING not 8 octets: connection error FRAME_SIZE_ERROR."""
    r = _peer(env)
    r.send(frame(PING, 0, 0, b"\0" * 6))
    conn_error(r, FRAME_SIZE_ERROR, "PING of 6 octets")


def test_ping_on_stream(env):
    """RFC 9113 6.7: PING on a stream: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(frame(PING, 0, 1, b"\0" * 8))
    conn_error(r, PROTOCOL_ERROR, "PING on stream 1")


# ---- 6.8 GOAWAY ---------------------------------------------------------------

def test_client_goaway_then_graceful_close(env):
    """RFC 9113 6.8: the client's GOAWAY: the open stream is answered, then
    the server closes the connection (any GOAWAY of its own is NO_ERROR)."""
    r = _peer(env)
    r.request(1, req("/slow?ms=300"))
    r.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, NO_ERROR)))
    assert wait_until(lambda: r.ended(1), 10), summary(r)
    assert r.ended(1) == (200, b"blue\n"), summary(r)
    assert r.wait_closed(10), "the server kept the connection open: " + summary(r)
    assert r.goaway is None or r.goaway[0] == NO_ERROR, summary(r)


# ---- 6.9 WINDOW_UPDATE, flow control ---------------------------------------------

def test_window_update_zero_on_connection(env):
    """RFC 9113 6.9: increment 0 on stream 0: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(window_update(0, 0))
    conn_error(r, PROTOCOL_ERROR, "WINDOW_UPDATE 0 on the connection")


def test_window_update_zero_on_stream(env):
    """RFC 9113 6.9: increment 0 on a stream: stream error PROTOCOL_ERROR."""
    r = _peer(env)
    r.request(1, req("/slow?ms=1000"))
    r.send(window_update(1, 0))
    stream_error(r, 1, PROTOCOL_ERROR, "WINDOW_UPDATE 0 on stream 1", 3, or_conn=True)


def test_window_update_wrong_length(env):
    """RFC 9113 6.9: WINDOW_UPDATE not 4 octets: connection error FRAME_SIZE_ERROR."""
    r = _peer(env)
    r.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\x01"))
    conn_error(r, FRAME_SIZE_ERROR, "WINDOW_UPDATE of 3 octets")


def test_window_update_overflow_connection(env):
    """RFC 9113 6.9.1: the connection window past 2^31-1: FLOW_CONTROL_ERROR."""
    r = _peer(env)
    r.send(window_update(0, MAX_WINDOW))
    conn_error(r, FLOW_CONTROL_ERROR, "connection window 65535 + 2^31-1")


def test_window_update_overflow_stream(env):
    """RFC 9113 6.9.1: a stream window past 2^31-1: stream error FLOW_CONTROL_ERROR."""
    r = _peer(env)
    r.request(1, req("/slow?ms=1000"))
    r.send(window_update(1, MAX_WINDOW))
    stream_error(r, 1, FLOW_CONTROL_ERROR, "stream window 65535 + 2^31-1", 3)


def test_initial_window_size_1_respected(env):
    """RFC 9113 6.9.1, 6.9.2: with INITIAL_WINDOW_SIZE 1 the server sends one
    byte of DATA, the rest when the window opens."""
    r = _peer(env, settings={S_INITIAL_WINDOW_SIZE: 1})
    r.request(1)
    assert wait_until(lambda: any(isinstance(f, hf.DataFrame) and f.stream_id == 1
                                  for f in r.snapshot()), 5), summary(r)
    time.sleep(0.2)   # not the check: room for a frame that must not come
    data = [f for f in r.snapshot() if isinstance(f, hf.DataFrame) and f.stream_id == 1]
    assert sum(len(f.data) for f in data) == 1, summary(r)
    r.send(window_update(1, 100))
    assert wait_until(lambda: r.ended(1), 5), summary(r)
    assert r.ended(1) == (200, b"blue\n")


def test_initial_window_size_change_overflows_stream(env):
    """RFC 9113 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes a
    stream window past 2^31-1: connection error FLOW_CONTROL_ERROR."""
    r = _peer(env, settings={S_INITIAL_WINDOW_SIZE: 1})
    r.request(1, req("/slow?ms=3000"))
    r.send(window_update(1, MAX_WINDOW - 1))       # the stream's window: 2^31-1
    r.send(settings((S_INITIAL_WINDOW_SIZE, 2)))    # +1
    conn_error(r, FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE 1 -> 2 on a 2^31-1 window")


# ---- 6.10 CONTINUATION --------------------------------------------------------

def _split():
    hb = block(req())
    return hb[:10], hb[10:]


def test_continuation_without_headers(env):
    """RFC 9113 6.10: CONTINUATION not after HEADERS: PROTOCOL_ERROR."""
    r = _peer(env)
    r.send(frame(CONTINUATION, END_HEADERS, 1, block(req())))
    conn_error(r, PROTOCOL_ERROR, "CONTINUATION on idle stream 1")


def test_continuation_after_end_headers(env):
    """RFC 9113 6.10: CONTINUATION after HEADERS with END_HEADERS: PROTOCOL_ERROR."""
    r = _peer(env)
    r.request(1, req("/slow?ms=1000"))
    r.send(frame(CONTINUATION, END_HEADERS, 1, block([("x-more", "1")])))
    conn_error(r, PROTOCOL_ERROR, "CONTINUATION after END_HEADERS")


def test_continuation_on_other_stream(env):
    """RFC 9113 6.10: CONTINUATION on another stream: PROTOCOL_ERROR."""
    r = _peer(env)
    a, b = _split()
    r.send(frame(HEADERS, END_STREAM, 1, a) + frame(CONTINUATION, END_HEADERS, 3, b))
    conn_error(r, PROTOCOL_ERROR, "CONTINUATION on stream 3 after HEADERS on 1")


def test_continuation_on_stream_0(env):
    """RFC 9113 6.10: CONTINUATION on stream 0: PROTOCOL_ERROR."""
    r = _peer(env)
    a, b = _split()
    r.send(frame(HEADERS, END_STREAM, 1, a) + frame(CONTINUATION, END_HEADERS, 0, b))
    conn_error(r, PROTOCOL_ERROR, "CONTINUATION on stream 0")


def test_unknown_frame_between_headers_and_continuation(env):
    """RFC 9113 6.10 (and 4.1): any other frame, an unknown type too, in a
    field block: connection error PROTOCOL_ERROR."""
    r = _peer(env)
    a, b = _split()
    r.send(frame(HEADERS, END_STREAM, 1, a) + frame(0x16, 0, 1, b"\0" * 8) +
           frame(CONTINUATION, END_HEADERS, 1, b))
    conn_error(r, PROTOCOL_ERROR, "unknown frame type inside a field block")


def test_headers_and_continuation_served(env):
    """RFC 9113 6.10: a field block in HEADERS + CONTINUATION is served."""
    r = _peer(env)
    a, b = _split()
    r.send(frame(HEADERS, END_STREAM, 1, a) + frame(CONTINUATION, END_HEADERS, 1, b))
    assert wait_until(lambda: r.ended(1), 10), summary(r)
    assert r.ended(1)[0] == 200


# ---- 8.1, 8.2, 8.3 HTTP semantics: malformed requests ------------------------------

def test_uppercase_header_name(env):
    """RFC 9113 8.2.1: an uppercase field name: malformed."""
    malformed(env, req(extra=[("X-Upper", "1")]), what="uppercase header name")


def test_connection_specific_headers(env):
    """RFC 9113 8.2.2: connection-specific fields: malformed."""
    malformed_group(env, [("%s header" % n, req(extra=[(n, v)])) for n, v in (
        ("connection", "keep-alive"), ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"), ("transfer-encoding", "chunked"),
        ("upgrade", "h2c"))])


def test_te_other_than_trailers(env):
    """RFC 9113 8.2.2: te with a value other than trailers: malformed."""
    malformed(env, req(extra=[("te", "trailers, deflate")]), what="te: trailers, deflate")


def test_te_trailers_allowed(env):
    """RFC 9113 8.2.2: te: trailers is allowed."""
    r = _peer(env)
    r.request(1, req(extra=[("te", "trailers")]))
    assert wait_until(lambda: r.ended(1), 10), summary(r)
    assert r.ended(1)[0] == 200


def test_pseudo_header_after_regular(env):
    """RFC 9113 8.3: a pseudo-header after a regular field: malformed."""
    malformed(env, [(":method", "GET"), (":scheme", "http"), ("x-a", "1"),
                    (":authority", "127.0.0.1"), (":path", "/")],
              what="pseudo-header after a regular header")


def test_unknown_pseudo_header(env):
    """RFC 9113 8.3: an undefined pseudo-header: malformed."""
    malformed(env, [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"),
               (":foo", "bar"), (":path", "/")],
              what="unknown pseudo-header :foo")


def test_response_pseudo_header_in_request(env):
    """RFC 9113 8.3: a response pseudo-header (:status) in a request: malformed."""
    malformed(env, req() + [(":status", "200")],
              what=":status in a request")


def test_duplicated_pseudo_headers(env):
    """RFC 9113 8.3.1: :method, :scheme, :path each at most once: malformed."""
    base = req()
    malformed_group(env, [
        ("duplicated :method", base[:1] + [(":method", "POST")] + base[1:]),
        ("duplicated :scheme", base[:2] + [(":scheme", "https")] + base[2:]),
        ("duplicated :path", base + [(":path", "/again")]),
        ("duplicated :authority", base + [(":authority", "127.0.0.1")])])


def test_missing_pseudo_headers(env):
    """RFC 9113 8.3.1: :method, :scheme and :path are required: malformed."""
    base = req()
    malformed_group(env, [
        ("missing :method", [h for h in base if h[0] != ":method"]),
        ("missing :scheme", [h for h in base if h[0] != ":scheme"]),
        ("missing :path", [h for h in base if h[0] != ":path"])])


def test_empty_path(env):
    """RFC 9113 8.3.1: an empty :path: malformed."""
    malformed(env, req(path=""), what="empty :path")


def test_authority_and_host_disagree(env):
    """RFC 9113 8.3.1: a host that differs from :authority: malformed (refused)."""
    malformed(env, req(extra=[("host", "other.example")]), what=":authority vs host")


def test_content_length_mismatch_single_data(env):
    """RFC 9113 8.1.1: content-length not the sum of DATA: malformed."""
    r = _peer(env)
    r.request(1, req("/echo", "POST", extra=[("content-length", "1")]), end_stream=False)
    r.send(frame(DATA, END_STREAM, 1, b"test"))
    stream_error(r, 1, PROTOCOL_ERROR, "content-length 1, DATA 4", 3, allow_4xx=True)


def test_content_length_mismatch_multiple_data(env):
    """RFC 9113 8.1.1: content-length 10, DATA 4 + 4 then END_STREAM: malformed."""
    r = _peer(env)
    r.request(1, req("/echo", "POST", extra=[("content-length", "10")]), end_stream=False)
    r.send(frame(DATA, 0, 1, b"test") + frame(DATA, END_STREAM, 1, b"test"))
    stream_error(r, 1, PROTOCOL_ERROR, "content-length 10, DATA 8", 3, allow_4xx=True)


def test_trailers_with_pseudo_header(env):
    """RFC 9113 8.1: trailers MUST NOT hold pseudo-headers: malformed."""
    r = _peer(env)
    r.request(1, req("/echo", "POST"), end_stream=False)
    r.send(frame(DATA, 0, 1, b"test"))
    r.request(1, [(":method", "POST"), ("x-trailer", "a")], end_stream=True)
    stream_error(r, 1, PROTOCOL_ERROR, "trailers with :method", 3, allow_4xx=True)


def test_trailers_without_end_stream(env):
    """RFC 9113 8.1: a second HEADERS without END_STREAM: malformed."""
    r = _peer(env)
    r.request(1, req("/echo", "POST"), end_stream=False)
    r.send(frame(DATA, 0, 1, b"test"))
    r.request(1, [("x-trailer", "a")], end_stream=False)
    stream_error(r, 1, PROTOCOL_ERROR, "trailers without END_STREAM", 3, allow_4xx=True)
