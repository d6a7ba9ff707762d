"""bgproxy as a service: --help/--version, -t checking the directories it
writes to, sd_notify READY/RELOADING/STOPPING on a fake NOTIFY_SOCKET, and
the admin safety of section 10: show info, the read-only socket and
if-version compare-and-set."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time

import harness
from harness import admin_paths, config_text, free_port, get, wait_until, admin


def _bgproxy(*args, env=None):
    return subprocess.run([os.path.join(harness.BUILD, "bgproxy")] + list(args),
                          capture_output=True, text=True, timeout=30, env=env)


def test_help_version_and_bad_options(env):
    for a in ("--help", "-h"):
        r = _bgproxy(a)
        assert r.returncode == 0 and r.stdout.startswith("usage: bgproxy") and r.stderr == "", r
    for a in ("--version", "-V"):
        r = _bgproxy(a)
        assert r.returncode == 0 and r.stdout.startswith("bgproxy 0.1.0"), r
    r = _bgproxy("--bogus")
    assert r.returncode != 0 and "usage: bgproxy" in r.stderr and r.stdout == "", r


def _conf(env, text, name="t.conf"):
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_t_checks_the_directories_it_writes_to(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    base = config_text(port, [blue.addr], [green.addr])
    missing = os.path.join(env.tmp, "no", "such")
    bad = _conf(env, base + 'state_file = "%s/state";\n' % missing)
    line = base.count("\n") + 1
    r = _bgproxy("-t", "-c", bad)
    want = '%s:%d: state_file "%s/state": directory %s: No such file or directory' % (
        bad, line, missing, missing)
    assert r.returncode != 0 and want in r.stderr, (r.returncode, r.stderr)
    # what -t refuses does not start either, with the same words
    r = _bgproxy("-c", bad)
    assert r.returncode != 0 and want in r.stderr, (r.returncode, r.stderr)
    # a file where a directory should be
    f = os.path.join(env.tmp, "plain")
    open(f, "w").close()
    notdir = _conf(env, base.replace('access = "stderr"', 'access = "%s/access.log"' % f),
                   "nd.conf")
    r = _bgproxy("-t", "-c", notdir)
    assert r.returncode != 0 and 'log.access "%s/access.log": %s is not a directory' % (f, f) \
        in r.stderr, r.stderr
    # not writable by the user it runs as
    if os.geteuid() == 0 and shutil.which("setpriv"):
        ro = os.path.join(env.tmp, "ro")
        os.mkdir(ro, 0o755)
        os.chmod(env.tmp, 0o755)
        text = base.replace(admin_paths(port)[1], os.path.join(ro, "audit.log"))
        conf = _conf(env, text, "ro.conf")
        os.chmod(conf, 0o644)
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            os.path.join(harness.BUILD, "bgproxy"), "-t", "-c", conf],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and 'admin.audit_log "%s/audit.log": directory %s is not ' \
            'writable by uid' % (ro, ro) in r.stderr, r.stderr
    # and a config -t accepts starts
    good = _conf(env, base + 'state_file = "%s/state";\n' % env.tmp, "good.conf")
    r = _bgproxy("-t", "-c", good)
    assert r.returncode == 0 and "configuration OK" in r.stdout, r
    p = harness.Proxy(env.tmp, open(good).read(), port)
    env.proxies.append(p)
    assert get(port)[0] == 200


class _Notify:
    """A fake systemd notification socket."""

    def __init__(self, env):
        self.path = os.path.join(env.tmp, "notify.sock")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.s.settimeout(0.1)
        self.got = []

    def wait_for(self, word, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            for i, m in enumerate(self.got):
                if word in m.split("\n"):
                    del self.got[:i + 1]
                    return m
            try:
                self.got.append(self.s.recv(4096).decode())
            except socket.timeout:
                pass
        raise AssertionError("no %s within %d s; got %r" % (word, timeout, self.got))


def test_sd_notify_ready_reloading_stopping(env):
    blue, green = env.demo("blue"), env.demo("green")
    n = _Notify(env)
    port = free_port()
    conf = _conf(env, config_text(port, [blue.addr], [green.addr]))
    e = dict(os.environ, NOTIFY_SOCKET=n.path)
    log = open(os.path.join(env.tmp, "notify-proxy.log"), "wb")
    proc = subprocess.Popen([os.path.join(harness.BUILD, "bgproxy"), "-c", conf], env=e,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = n.wait_for("READY=1")
        # ready means the listener is bound: the first connection is served
        assert get(port)[0] == 200
        assert "MAINPID=%d" % proc.pid in ready.split("\n"), ready
        proc.send_signal(signal.SIGHUP)
        rel = n.wait_for("RELOADING=1")
        assert any(l.startswith("MONOTONIC_USEC=") for l in rel.split("\n")), rel
        again = n.wait_for("READY=1")
        assert "reloaded" in again, again
        # a broken config on reload: still READY, the status says why
        with open(conf, "a") as f:
            f.write("bogus_key = ;\n")
        proc.send_signal(signal.SIGHUP)
        n.wait_for("RELOADING=1")
        assert "reloaded" not in n.wait_for("READY=1")
        assert get(port)[0] == 200
        proc.send_signal(signal.SIGTERM)
        n.wait_for("STOPPING=1")
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_without_notify_socket_nothing_changes(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    conf = _conf(env, config_text(port, [blue.addr], [green.addr]))
    e = dict(os.environ)
    e.pop("NOTIFY_SOCKET", None)
    # a NOTIFY_SOCKET that goes nowhere is no reason to fail either
    e2 = dict(e, NOTIFY_SOCKET=os.path.join(env.tmp, "nobody-listens.sock"))
    for environ in (e, e2):
        proc = subprocess.Popen([os.path.join(harness.BUILD, "bgproxy"), "-c", conf], env=environ,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            harness.wait_port(port, proc=proc)
            assert get(port)[0] == 200
        finally:
            proc.terminate()
            assert proc.wait(20) == 0


def test_show_info(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra='state_file = "%s/state";' % env.tmp)
    ok, first, rest = admin(p.port, "show info")
    assert ok, first
    info = dict(l.split(" ", 1) for l in rest.splitlines())
    assert info["version"] == "0.1.0" and info["pid"] == str(p.proc.pid), info
    assert info["workers"] == "1" and info["config"] == p.conf, info
    assert info["state_file"] == "%s/state" % env.tmp and info["cluster"] == "-", info
    assert int(info["uptime_s"]) >= 0 and int(info["connections"]) >= 0, info
    ok, first, rest = admin(p.port, "json show info")
    j = json.loads(rest)
    for k in ("version", "pid", "uptime_s", "workers", "config", "connections", "state_file",
              "cluster"):
        assert k in j, (k, j)
    assert j["cluster"] is None and j["pid"] == p.proc.pid and j["config"] == p.conf, j


def test_readonly_socket(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    ro = os.path.join(os.path.dirname(admin_paths(port)[0]), "%d.ro.sock" % port)
    text = config_text(port, [blue.addr], [green.addr]).replace(
        'audit_log = ', 'readonly_socket = "%s"; audit_log = ' % ro)
    p = harness.Proxy(env.tmp, text, port)
    env.proxies.append(p)
    assert wait_until(lambda: os.path.exists(ro))
    assert stat.S_IMODE(os.stat(ro).st_mode) == 0o666

    def ask(line):
        ok, first, rest = admin(port, line, sock=ro)
        return first, rest

    for line in ("status", "json status", "show servers", "show events", "json show events 3",
                 "show info", "help", "json help"):
        first, rest = ask(line)
        assert first == "OK", (line, first)
    for line in ("set weight green 5", "switch green", "promote", "revert", "rollout start green",
                 "rollout pause", "server blue %s drain" % blue.addr, "reload",
                 "json set weight green 5"):
        first, rest = ask(line)
        assert first == "ERR read-only socket", (line, first)
    assert json.loads(admin(port, "json status")[2])["weights"]["green"] == 0
    # the audit log names the socket each command came through
    assert admin(port, "set weight green 5")[0]
    audit = [json.loads(l) for l in open(admin_paths(port)[1]) if l.strip()]
    refused = [a for a in audit if a.get("command") == "revert"]
    assert refused and refused[-1]["socket"] == ro and refused[-1]["result"].startswith("ERR"), \
        refused
    done = [a for a in audit if a.get("command") == "set weight green 5" and
            a["result"] == "OK"]
    assert done and done[-1]["socket"] == admin_paths(port)[0], done
    # bgctl's status works on it too
    r = subprocess.run([os.path.join(harness.BUILD, "bgctl"), "-s", ro, "status"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "state manual" in r.stdout, r
    # a reload cannot move it: refused, the socket stays
    with open(p.conf, "w") as f:
        f.write(text.replace(ro, ro + ".new"))
    ok, first, rest = admin(port, "reload")
    assert not ok and "admin.readonly_socket and admin.readonly_mode cannot change" in first, first
    assert os.path.exists(ro) and ask("status")[0] == "OK"


def test_readonly_socket_config_errors(env):
    blue, green = env.demo("blue"), env.demo("green")
    port = free_port()
    sock = admin_paths(port)[0]
    text = config_text(port, [blue.addr], [green.addr])
    for extra, want in (('readonly_socket = "%s";' % sock, "readonly_socket"),
                        ('readonly_socket = "/tmp/x.sock"; readonly_mode = "0999";',
                         "readonly_mode")):
        conf = _conf(env, text.replace("audit_log = ", extra + " audit_log = "), "ro.conf")
        r = _bgproxy("-t", "-c", conf)
        assert r.returncode != 0 and want in r.stderr and conf + ":" in r.stderr, (extra, r.stderr)


def test_if_version_on_every_state_changing_command(env):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green])

    def version():
        return json.loads(admin(p.port, "json status")[2])["version"]

    v = version()
    for cmd in ("set weight green 5", "switch green", "rollout start green", "revert", "promote",
                "server blue %s drain" % blue.addr, "reload", "rollout pause"):
        ok, first, rest = admin(p.port, "%s if-version %d" % (cmd, v + 100))
        assert not ok and first == "ERR version is %d, not %d" % (v, v + 100), (cmd, first)
    assert version() == v
    st = json.loads(admin(p.port, "json status")[2])
    assert st["weights"]["green"] == 0 and st["state"] == "idle"
    assert json.loads(admin(p.port, "json show servers")[2])["servers"][0]["state"] == "up"
    ok, first, rest = admin(p.port, "set weight green 5 if-version %d" % v)
    assert ok, first
    assert version() == v + 1
    # malformed: refused as a usage error, nothing changes
    for bad in ("if-version", "if-version x", "if-version -1", "if-version 1 2"):
        ok, first, rest = admin(p.port, "set weight green 7 " + bad)
        assert not ok, (bad, first)
    assert json.loads(admin(p.port, "json status")[2])["weights"]["green"] == 5
    # read-only commands take no if-version
    ok, first, rest = admin(p.port, "status if-version %d" % (v + 1))
    assert not ok, first


def test_version(env):
    out = subprocess.run([os.path.join(harness.BUILD, "bgproxy"), "-V"], capture_output=True, text=True, timeout=5)
    assert out.returncode == 0
    assert out.stdout.startswith("bgproxy ")
    assert "libevent" in out.stdout and "OpenSSL" in out.stdout and "libconfig" in out.stdout
