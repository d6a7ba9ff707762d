"""The metrics listener: counters consistent with the traffic, answers during
an idle connection flood."""
import shutil
import socket
import subprocess
import time

import harness
from harness import get, free_port, admin


def _metrics(port):
    st, h, body = get(port, "/metrics")
    assert st == 200 and h["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return body, out


def test_metrics_consistent_with_traffic(env):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green], {"candidate_percent": 0},
                  extra='metrics = { address = "127.0.0.1:%d"; };' % mport)
    for _ in range(30):
        get(p.port)
    get(p.port, "/status?code=404")
    get(p.port, "/status?code=503")
    get(p.port, headers={"X-Bgproxy-Pool": "green"})

    def counted():
        # a request is counted once its response is out: the client may be first
        m = _metrics(mport)[1]
        return sum(v for k, v in m.items() if k.startswith("bgproxy_requests_total{")) >= 33
    assert harness.wait_until(counted, timeout=10), _metrics(mport)[0]
    body, m = _metrics(mport)
    assert m['bgproxy_requests_total{pool="blue",class="2xx",proto="http/1.1"}'] == 30
    assert m['bgproxy_requests_total{pool="blue",class="4xx",proto="http/1.1"}'] == 1
    assert m['bgproxy_requests_total{pool="blue",class="5xx",proto="http/1.1"}'] == 1
    assert m['bgproxy_requests_total{pool="green",class="2xx",proto="http/1.1"}'] == 1
    assert m['bgproxy_request_duration_seconds_count{pool="blue"}'] == 32
    assert m['bgproxy_request_duration_seconds_bucket{pool="blue",le="+Inf"}'] == 32
    assert m['bgproxy_pool_weight_percent{pool="blue"}'] == 100
    assert m['bgproxy_pool_stable{pool="blue"}'] == 1 and m['bgproxy_pool_stable{pool="green"}'] == 0
    assert m['bgproxy_server_up{pool="blue",server="%s"}' % blue.addr] == 1
    for name in ("bgproxy_reverts_total", "bgproxy_rollout_step", "bgproxy_connections_active",
                 "bgproxy_tls_handshakes_total", "bgproxy_tls_handshake_errors_total",
                 "bgproxy_retries_total"):
        assert name in m, name
    assert 'bgproxy_upstream_errors_total{pool="blue",kind="connect"}' in m
    assert admin(p.port, "set weight green 12.5")[0]
    assert admin(p.port, "revert")[0]
    body, m = _metrics(mport)
    assert m['bgproxy_pool_weight_percent{pool="green"}'] == 0 and m["bgproxy_reverts_total"] == 1
    st, h, b = get(mport, "/healthz")
    assert st == 200
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
        assert r.returncode == 0, r.stderr + r.stdout


def test_metrics_answers_during_idle_connection_flood(env):
    """1,000 idle TCP connections to metrics.address do not lock out the
    health probe or the scraper; a client that sends no full head within
    client_header_ms is closed."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green],
                  extra='metrics = { address = "127.0.0.1:%d"; };\n'
                        'timeouts = { client_header_ms = 1000; };' % mport)
    harness.wait_port(mport)
    # a client that never sends a full head is closed after client_header_ms
    s = socket.create_connection(("127.0.0.1", mport), timeout=5)
    s.sendall(b"GET /metr")
    t0 = time.time()
    assert s.recv(100) == b"" and time.time() - t0 < 4, time.time() - t0
    s.close()
    flood = []
    try:
        for i in range(1000):
            flood.append(socket.create_connection(("127.0.0.1", mport), timeout=5))
            if i % 100 == 99:
                # a probe in the middle of the flood is answered at once
                t0 = time.time()
                st, h, body = get(mport, "/healthz", timeout=3)
                assert st == 200 and body == b"ok\n", (i, st, body)
                assert time.time() - t0 < 2, (i, time.time() - t0)
        st, h, body = get(mport, "/metrics", timeout=3)
        assert st == 200 and b"bgproxy_requests_total" in body
    finally:
        for s in flood:
            s.close()


def test_head_gets_the_head_only(env):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    env.proxy([blue], [green], extra='metrics = { address = "127.0.0.1:%d"; };' % mport)
    for path in ("/metrics", "/", "/status.json", "/events.json", "/healthz"):
        s = socket.create_connection(("127.0.0.1", mport), timeout=5)
        s.sendall(b"HEAD " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), (path, head)
        length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        assert length and int(length[0].split(b":")[1]) > 0, (path, head)
        assert rest == b"", (path, rest[:80])
