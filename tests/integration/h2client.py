"""HTTP/2 clients for the tests, on Debian's python3-h2 (run the suite with
/usr/bin/python3): H2Client speaks the protocol properly through h2's state
machine; RawH2 writes whatever frames a test wants (hyperframe, hpack) and
reads the server's frames on a thread, for the attacks."""
import select
import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from hyperframe import frame as hf

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 7
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 7, 8, 11


def _connect(port, tls, host="127.0.0.1", timeout=10):
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        if sock.selected_alpn_protocol() != "h2":
            raise RuntimeError("ALPN chose %r" % sock.selected_alpn_protocol())
    return sock


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.headers = None       # dict of the final response head
        self.status = None
        self.interim = []
        self.data = bytearray()
        self.trailers = None
        self.ended = False
        self.reset = None         # error code of a RST_STREAM

    def done(self):
        return self.ended or self.reset is not None


class H2Client:
    """One HTTP/2 connection; requests are sent, then pump() reads until a
    condition holds."""

    def __init__(self, port, tls=False, settings=None, timeout=10):
        self.sock = _connect(port, tls, timeout=timeout)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False,
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.streams = {}
        self.goaway = None        # (error_code, last_stream_id)
        self.closed = False
        self.remote_settings = {}
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path="/", method="GET", headers=(), body=None, end=True,
                authority="127.0.0.1", scheme="http", pseudo=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = pseudo if pseudo is not None else [
            (":method", method), (":scheme", scheme), (":authority", authority), (":path", path)]
        hdrs = list(hdrs) + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=(body is None and end))
        self.streams[sid] = Stream(sid)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    def send_data(self, sid, data, end=False, timeout=15):
        """All of data, as the flow-control windows let it go."""
        data = bytes(data)
        while True:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room >= len(data):
                self.conn.send_data(sid, data, end_stream=end)
                self.flush()
                return
            if room > 0:
                self.conn.send_data(sid, data[:room])
                self.flush()
                data = data[room:]
                continue
            w0 = self.conn.local_flow_control_window(sid)
            if not self.pump(lambda: self.conn.local_flow_control_window(sid) > w0, timeout):
                raise RuntimeError("the window did not open")

    def _event(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            st.headers = dict(ev.headers)
            st.status = int(st.headers[":status"])
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            st.interim.append(dict(ev.headers))
        elif isinstance(ev, h2.events.DataReceived):
            st.data += ev.data
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            st.trailers = dict(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st.reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = (ev.error_code, ev.last_stream_id)
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.remote_settings[int(k)] = v.new_value

    def pump(self, until=None, timeout=10):
        """Read and handle frames until until() is true, the connection
        closes, or timeout; returns until()'s last value (True without one
        once closed)."""
        end = time.time() + timeout
        while not self.closed:
            if until is not None and until():
                return True
            left = end - time.time()
            if left <= 0:
                break
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                break
            for ev in self.conn.receive_data(data):
                self._event(ev)
            self.flush()
        return until() if until is not None else self.closed

    def wait(self, sids, timeout=15):
        return self.pump(lambda: all(self.streams[s].done() for s in sids), timeout)

    def get(self, path="/", headers=(), timeout=10, **kw):
        sid = self.request(path, headers=headers, **kw)
        self.wait([sid], timeout)
        return self.streams[sid]

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()


class RawH2:
    """Frames exactly as a test writes them; the server's frames are read
    on a thread into self.frames (GOAWAY also into self.goaway)."""

    def __init__(self, port, tls=False, settings=None, preface=True):
        self.sock = _connect(port, tls)
        # one SSL object must not be read and written by two threads at
        # once: with TLS both sides take io_lock around non-blocking calls
        self.tls = tls
        self.io_lock = threading.Lock()
        if tls:
            self.sock.setblocking(False)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.frames = []
        self.goaway = None
        self.closed = False
        self.lock = threading.Lock()
        if preface:
            sf = hf.SettingsFrame(0)
            for k, v in (settings or {}).items():
                sf.settings[k] = v
            self.send(PREFACE + sf.serialize())
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()

    def send(self, data, timeout=10):
        """Returns False once the server stopped taking bytes."""
        if not self.tls:
            try:
                self.sock.sendall(data)
                return True
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError,
                    socket.timeout):
                return False
        view = memoryview(data)
        end = time.time() + timeout
        while len(view) > 0:
            with self.io_lock:
                try:
                    n = self.sock.send(view)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    n = 0
                except (ssl.SSLError, OSError):
                    return False
            if n:
                view = view[n:]
                continue
            if time.time() > end or self.closed:
                return False
            select.select([], [self.sock], [], 0.05)
        return True

    def _recv(self):
        """Bytes from the server, b"" at its end."""
        if not self.tls:
            try:
                return self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                return b""
        while True:
            with self.io_lock:
                try:
                    return self.sock.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except (OSError, ssl.SSLError, ValueError):
                    return b""
            try:
                select.select([self.sock], [], [], 0.05)
            except (OSError, ValueError):
                return b""

    def _reader(self):
        buf = b""
        if not self.tls:
            self.sock.settimeout(None)
        while True:
            data = self._recv()
            if not data:
                self.closed = True
                return
            buf += data
            while len(buf) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(buf[:9]))
                if len(buf) < 9 + length:
                    break
                f.parse_body(memoryview(buf[9:9 + length]))
                buf = buf[9 + length:]
                if isinstance(f, hf.HeadersFrame):
                    try:
                        f.decoded = dict((k.decode(), v.decode())
                                         for k, v in self.dec.decode(f.data, raw=True))
                    except Exception:
                        f.decoded = {}
                with self.lock:
                    self.frames.append(f)
                    if isinstance(f, hf.GoAwayFrame):
                        self.goaway = (f.error_code, f.last_stream_id)

    def headers_frame(self, sid, headers, end_stream=True, end_headers=True):
        f = hf.HeadersFrame(sid)
        f.data = self.enc.encode(headers)
        if end_stream:
            f.flags.add("END_STREAM")
        if end_headers:
            f.flags.add("END_HEADERS")
        return f.serialize()

    @staticmethod
    def req(path="/", method="GET", authority="127.0.0.1"):
        return [(":method", method), (":scheme", "http"), (":authority", authority),
                (":path", path)]

    def wait_goaway(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end and self.goaway is None and not self.closed:
            time.sleep(0.02)
        return self.goaway

    def wait_closed(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end and not self.closed:
            time.sleep(0.02)
        return self.closed

    def ended(self, sid):
        """The stream's response is complete: (status, body) or None."""
        with self.lock:
            status, body, end = None, b"", False
            for f in self.frames:
                if f.stream_id != sid:
                    continue
                if isinstance(f, hf.HeadersFrame) and ":status" in f.decoded:
                    status = int(f.decoded[":status"])
                if isinstance(f, hf.DataFrame):
                    body += f.data
                if isinstance(f, (hf.HeadersFrame, hf.DataFrame)) and "END_STREAM" in f.flags:
                    end = True
            return (status, body) if end else None

    def of(self, cls):
        with self.lock:
            return [f for f in self.frames if isinstance(f, cls)]

    def close(self):
        try:
            if self.tls:
                with self.io_lock:
                    self.sock.close()
            else:
                self.sock.close()
        except OSError:
            pass
