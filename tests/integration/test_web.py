"""The operator views outside the terminal: the Grafana dashboard in
docs/grafana/bgproxy.json names only metrics the proxy exports, and the web
page on metrics.address stays live in a real browser (Debian's chromium,
driven through chromedriver over W3C WebDriver with urllib: standard library
only).  Needs the apt packages chromium and chromium-driver."""
import base64
import collections
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zlib

import harness
from harness import get, free_port, admin_paths

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "docs", "grafana", "bgproxy.json")
PAGE = os.path.join(ROOT, "src", "web", "index.html")
CHROMIUM = os.environ.get("BGPROXY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BGPROXY_CHROMEDRIVER", "/usr/bin/chromedriver")

# what the dashboard must show (CONTRACT sections 7 and 10)
DASHBOARD_METRICS = {
    "bgproxy_pool_weight_percent", "bgproxy_requests_total", "bgproxy_upstream_errors_total",
    "bgproxy_request_duration_seconds", "bgproxy_reverts_total",
    "bgproxy_last_revert_timestamp_seconds", "bgproxy_guard_trips_total", "bgproxy_rollout_step",
    "bgproxy_state", "bgproxy_server_up", "bgproxy_server_requests_total",
    "bgproxy_connections_active", "bgproxy_tls_handshakes_total", "bgproxy_retries_total",
    "bgproxy_build_info",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _metrics_proxy(env):
    blue, green = env.demo("blue"), env.demo("green")
    mport = free_port()
    p = env.proxy([blue], [green], extra='metrics = { address = "127.0.0.1:%d"; };' % mport)
    harness.wait_port(mport, proc=p.proc)
    return blue, green, p, mport


# ---- the Grafana dashboard --------------------------------------------------

def _panels(panels):
    """Every panel, with those nested in collapsed rows."""
    for pnl in panels:
        yield pnl
        for sub in _panels(pnl.get("panels") or []):
            yield sub


def _metric_names(expr):
    return set(re.findall(r"bgproxy_[a-z0-9_]+", expr))


def _metric_families(text):
    """{family name: type} from the # TYPE lines of a Prometheus text answer."""
    fam = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)$", line)
        if m:
            fam[m.group(1)] = m.group(2)
    return fam


def _family_of(name, fam):
    """The family a sample name belongs to: itself, or for NAME_bucket,
    NAME_sum and NAME_count the histogram (or summary) NAME; None if absent."""
    if name in fam:
        return name
    for suf in HISTOGRAM_SUFFIXES:
        base = name[:-len(suf)]
        if name.endswith(suf) and fam.get(base) in ("histogram", "summary") and \
                (suf != "_bucket" or fam[base] == "histogram"):
            return base
    return None


def test_grafana_dashboard_names_exported_metrics(env):
    with open(DASHBOARD) as f:
        d = json.load(f)
    # an importable dashboard
    assert isinstance(d.get("title"), str) and d["title"], "no title"
    assert isinstance(d.get("uid"), str) and d["uid"], "no uid"
    assert isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 30, d.get("schemaVersion")
    assert "time" in d and "refresh" in d, "no time or refresh"
    tvars = (d.get("templating") or {}).get("list") or []
    ds_vars = [v["name"] for v in tvars if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    assert ds_vars, "no datasource variable of type datasource, query prometheus"
    panels = list(_panels(d.get("panels") or []))
    assert panels, "no panels"

    exprs = []
    ids = collections.Counter()
    for pnl in panels:
        ids[pnl.get("id")] += 1
        where = "panel %r (%s)" % (pnl.get("id"), pnl.get("title"))
        assert isinstance(pnl.get("id"), int), where + ": no numeric id"
        g = pnl.get("gridPos") or {}
        assert all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")), where + ": gridPos %r" % g
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, where + ": gridPos %r" % g
        if pnl.get("type") == "row":
            continue
        assert pnl.get("title"), where + ": no title"
        targets = pnl.get("targets") or []
        assert targets, where + ": no targets"
        for t in targets:
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), where + ": target without expr"
            exprs.append((where, t["expr"]))
        ds = pnl.get("datasource") or {}
        assert isinstance(ds, dict) and ds.get("uid") in ["${%s}" % v for v in ds_vars] + \
            ["$" + v for v in ds_vars], where + ": datasource %r is not the variable" % ds
    dup = sorted(str(i) for i, n in ids.items() if n > 1)
    assert not dup, "panel ids used twice: " + ", ".join(dup)
    # queries outside the panels must name real metrics too
    for a in (d.get("annotations") or {}).get("list") or []:
        if isinstance(a.get("expr"), str):
            exprs.append(("annotation %r" % a.get("name"), a["expr"]))
    for v in tvars:
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and isinstance(q, str):
            exprs.append(("variable %r" % v.get("name"), q))

    named = {}
    for where, e in exprs:
        for n in _metric_names(e):
            named.setdefault(n, where)
    assert named, "no bgproxy_ metric in any expr"

    blue, green, p, mport = _metrics_proxy(env)
    for _ in range(5):
        assert get(p.port)[0] == 200
    assert get(p.port, headers={"X-Bgproxy-Pool": "green"})[0] == 200
    st, h, body = get(mport, "/metrics")
    assert st == 200, st
    fam = _metric_families(body.decode())
    missing = sorted("%s (%s)" % (n, w) for n, w in named.items() if _family_of(n, fam) is None)
    assert not missing, "the dashboard names metrics /metrics does not export: " + ", ".join(missing)
    shown = {_family_of(n, fam) for n in named}
    lacking = sorted(DASHBOARD_METRICS - shown)
    assert not lacking, "the dashboard shows nothing of: " + ", ".join(lacking)


# ---- a W3C WebDriver client (chromedriver) over urllib ----------------------

class WebDriver:
    """chromedriver started on a free port by PID, one session of headless
    chromium.  close() ends both, whatever state they are in."""

    def __init__(self, tmp, width=1280, height=1000):
        for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not os.access(path, os.X_OK):
                raise AssertionError("%s is missing: install the Debian package %s "
                                     "(apt-get install chromium chromium-driver)" % (path, pkg))
        self.sid = None
        self.profile = tempfile.mkdtemp(prefix="bgp-chromium-", dir=tmp)
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = os.path.join(tmp, "chromedriver.log")
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, "--port=%d" % self.port, "--allowed-ips=127.0.0.1",
             "--log-path=" + self.log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            ready = harness.wait_until(self._ready, timeout=20, step=0.1)
            assert ready, "chromedriver did not become ready on port %d (log %s)" % (self.port, self.log)
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--user-data-dir=" + self.profile,
                             "--window-size=%d,%d" % (width, height), "--no-first-run",
                             "--no-default-browser-check", "--disable-extensions",
                             "--disable-background-networking", "--disable-sync",
                             "--hide-scrollbars", "--force-color-profile=srgb"],
                }}}}
            v = self.call("POST", "/session", caps, timeout=90)
            self.sid = v["sessionId"]
        except BaseException:
            self.close()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("chromedriver exited with %s (log %s)" % (self.proc.returncode, self.log))
        try:
            return self.call("GET", "/status", timeout=2).get("ready")
        except (OSError, ValueError):
            return False

    def call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        if method == "POST" and data is None:
            data = b"{}"
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                answer = json.loads(r.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                v = json.loads(text)["value"]
                text = "%s: %s" % (v.get("error"), v.get("message", "").splitlines()[0])
            except (ValueError, KeyError, AttributeError, IndexError):
                pass
            raise AssertionError("webdriver %s %s: HTTP %d %s" % (method, path, e.code, text))
        return answer.get("value")

    def s(self, method, path, body=None, timeout=30):
        return self.call(method, "/session/%s%s" % (self.sid, path), body, timeout)

    def go(self, url):
        self.s("POST", "/url", {"url": url}, timeout=60)

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self):
        return base64.b64decode(self.s("GET", "/screenshot", timeout=60))

    def close(self):
        if self.sid is not None:
            try:
                self.call("DELETE", "/session/" + self.sid, timeout=20)
            except Exception:  # noqa: the processes are stopped below anyway
                pass
            self.sid = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # chromium processes of our profile that outlived the session: by PID
        for pid in _pids_with(self.profile):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


def _pids_with(marker):
    """PIDs whose command line holds marker (our unique profile directory)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


# ---- PNG decoding (zlib + struct) -------------------------------------------

def _unfilter_sub(line, bpp):
    out = bytearray(line)
    for x in range(bpp, len(out)):
        out[x] = (out[x] + out[x - bpp]) & 0xFF
    return out


def _add_bytes(a, b):
    """Bytewise (a + b) mod 256 of two equal-length byte strings, SWAR on
    big integers: no Python loop per byte."""
    n = len(a)
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    lo = int.from_bytes(b"\x7f" * n, "big")
    return bytearray((((x & lo) + (y & lo)) ^ ((x ^ y) & ~lo & ((1 << (8 * n)) - 1))).to_bytes(n, "big"))


def png_decode(data):
    """(width, height, bytes per pixel, rows) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    assert ihdr is not None, "PNG without IHDR"
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format %r" % (ihdr,)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    assert len(raw) >= h * (stride + 1), "short PNG data"
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += stride + 1
        if f == 1:
            line = _unfilter_sub(line, bpp)
        elif f == 2:
            line = _add_bytes(line, prev)
        elif f == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 0xFF
        else:
            assert f == 0, "bad PNG filter %d" % f
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def _css_rgb(s):
    m = re.match(r"rgba?\((\d+),\s*(\d+),\s*(\d+)", s or "")
    assert m, "not a CSS colour: %r" % s
    return tuple(int(v) for v in m.groups())


def assert_screenshot_not_blank(png, colours, min_colours=8, min_bar_px=200, tolerance=6):
    """The page was drawn: many distinct colours, no colour covering
    almost everything, and at least min_bar_px pixels of each colour in
    colours ({name: (r, g, b)}, the split bar's)."""
    w, h, bpp, rows = png_decode(png)
    counts = collections.Counter()
    for line in rows:
        counts.update(zip(line[0::bpp], line[1::bpp], line[2::bpp]))
    total = w * h
    assert len(counts) >= min_colours, "screenshot %dx%d has only %d colour(s): blank page" % (
        w, h, len(counts))
    top, n = counts.most_common(1)[0]
    assert n < 0.97 * total, "colour %r covers %.1f%% of the screenshot: blank page" % (top, 100.0 * n / total)
    for name, rgb in colours.items():
        near = sum(c for col, c in counts.items()
                   if all(abs(col[k] - rgb[k]) <= tolerance for k in range(3)))
        assert near >= min_bar_px, "only %d pixel(s) of the %s bar colour %r in the screenshot" % (
            near, name, rgb)


# ---- the web view -------------------------------------------------------------

READ_PAGE = """
var t = function (id) { var e = document.getElementById(id); return e ? e.textContent : null; };
var ev = document.querySelectorAll('#events > li');
return {blue: t('weight-blue'), green: t('weight-green'), state: t('state'), stable: t('stable'),
        rollout: t('rollout'), verdict: t('verdict'), servers: t('servers'), updated: t('updated'),
        conn: t('conn'), events: ev.length, newest: ev.length ? ev[0].textContent : '',
        marker: window.__bgpMarker || null,
        barBlue: getComputedStyle(document.getElementById('bar-blue')).backgroundColor,
        barGreen: getComputedStyle(document.getElementById('bar-green')).backgroundColor};
"""


def test_web_view_in_headless_chromium(env):
    blue, green, p, mport = _metrics_proxy(env)
    # the page: self-contained, the file the build embedded
    st, h, body = get(mport, "/")
    assert st == 200, st
    assert h.get("content-type", "").lower().replace(" ", "") == "text/html;charset=utf-8", h
    assert "no-store" in h.get("cache-control", ""), h
    with open(PAGE, "rb") as f:
        assert body == f.read(), "GET / is not src/web/index.html (a stale build?)"
    assert len(body) <= 32 * 1024, "the page is %d bytes" % len(body)
    html = body.decode("utf-8")
    for pat, what in ((r"(?i)https?://", "an absolute http(s) URL"),
                      (r"(?i)<script[^>]*\bsrc\s*=", "an external script"),
                      (r"(?i)<link\b[^>]*\bhref\s*=", "a linked resource"),
                      (r"(?i)<(?:img|iframe|object|embed|source)\b[^>]*\bsrc\s*=\s*[\"']?(?!data:)",
                       "an external image or frame"),
                      (r"(?i)@import", "a CSS @import"),
                      (r"(?i)url\(\s*[\"']?(?!data:)", "a CSS url()"),
                      (r"(?i)[\"'(=]\s*//[a-z0-9]", "a protocol-relative URL")):
        m = re.search(pat, html)
        assert m is None, "the page has %s: %r" % (what, html[max(0, m.start() - 40):m.end() + 40])
    assert "innerHTML" not in html and "document.write" not in html, "the page inserts markup"
    st, h, data = get(mport, "/status.json")
    assert st == 200 and "json" in h.get("content-type", ""), (st, h)
    status = json.loads(data)
    assert all(k in status for k in ("stable", "state", "weights", "pools")), status
    st, h, data = get(mport, "/events.json")
    assert st == 200 and "json" in h.get("content-type", ""), (st, h)
    events = json.loads(data)
    assert isinstance(events, list) and events and "kind" in events[0], \
        "/events.json is not a list of event objects: %.200s" % data

    wd = WebDriver(env.tmp)
    try:
        wd.go("http://127.0.0.1:%d/" % mport)
        page = harness.wait_until(lambda: (lambda v: v if v["green"] == "0.00%" else None)(
            wd.js(READ_PAGE)), timeout=20, step=0.2) or wd.js(READ_PAGE)
        assert page["green"] == "0.00%" and page["blue"] == "100.00%", page
        assert page["stable"] == "blue" and page["state"] == "idle", page
        assert page["conn"] == "live" and page["updated"], page
        assert "no rollout" in page["rollout"] and page["verdict"], page
        assert blue.addr in page["servers"] and green.addr in page["servers"], page
        before = page["events"]
        assert before >= 1, page
        wd.js("window.__bgpMarker = 'same page';")

        r = subprocess.run([os.path.join(harness.BUILD, "bgctl"), "-s", admin_paths(p.port)[0],
                            "set", "weight", "green", "30"], capture_output=True, text=True, timeout=15)
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        page = harness.wait_until(lambda: (lambda v: v if v["green"] == "30.00%" and
                                           v["blue"] == "70.00%" and "30.00%" in v["newest"] else None)(
            wd.js(READ_PAGE)), timeout=10, step=0.2) or wd.js(READ_PAGE)
        assert page["green"] == "30.00%" and page["blue"] == "70.00%", page
        assert page["marker"] == "same page", "the page was reloaded: %r" % page
        assert page["state"] == "manual", page
        assert page["events"] == min(before + 1, 10) and "30.00%" in page["newest"], (before, page)

        colours = {"blue": _css_rgb(page["barBlue"]), "green": _css_rgb(page["barGreen"])}
        assert colours["blue"] != colours["green"], colours
        # let the bar's width transition end: both segments at their width
        harness.wait_until(lambda: wd.js(
            "var b = document.getElementById('bar'), g = document.getElementById('bar-green');"
            "return Math.abs(g.getBoundingClientRect().width / b.clientWidth - 0.3) < 0.01;"),
            timeout=5, step=0.1)
        assert_screenshot_not_blank(wd.screenshot(), colours)

        # the proxy goes away: the page says so
        assert p.stop() == 0
        page = harness.wait_until(lambda: (lambda v: v if v["conn"] == "disconnected" else None)(
            wd.js(READ_PAGE)), timeout=10, step=0.2) or wd.js(READ_PAGE)
        assert page["conn"] == "disconnected" and page["green"] == "30.00%", page

        # the screenshot check itself: a blank page fails it
        wd.go("data:text/html;charset=utf-8,<html><body></body></html>")
        blank = wd.screenshot()
        try:
            assert_screenshot_not_blank(blank, colours)
        except AssertionError:
            pass
        else:
            raise AssertionError("the screenshot check passed a blank page")
    finally:
        wd.close()
