"""The operator's live views against the real proxy: bgctl status --watch in a
real terminal (tmux) and without one, bgctl rollout wait's exit statuses, and
bgctl --if-version."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import admin_paths, wait_until, Traffic, admin
from test_guard import GUARD


BGCTL = lambda: os.path.join(harness.BUILD, "bgctl")  # noqa: E731


def _env(env, guard_extra="", extra=""):
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green], extra=(GUARD % guard_extra) + "\n" + extra)
    return blue, green, p


def _status(port):
    return json.loads(admin(port, "json status")[2])


def _wait_cmd(p, *args):
    """Starts bgctl rollout wait in the background; returns the Popen."""
    sock = admin_paths(p.port)[0]
    return subprocess.Popen([BGCTL(), "-s", sock, "rollout", "wait"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _watch(env, sock, interval):
    """bgctl status --watch into a file; returns (Popen, the file's path)."""
    out = os.path.join(env.tmp, "watch.out")
    with open(out, "w") as f:
        proc = subprocess.Popen([BGCTL(), "-s", sock, "status", "--watch", "--interval",
                                 interval], stdout=f, stderr=subprocess.PIPE)
    return proc, out


def test_watch_without_a_terminal_prints_one_frame_per_interval(env):
    blue, green, p = _env(env)
    assert admin(p.port, "rollout start green steps 1,5,100 hold 3600")[0]
    sock = admin_paths(p.port)[0]
    proc, out = _watch(env, sock, "0.2")
    try:
        assert wait_until(lambda: open(out).read().count("bgproxy  stable") >= 3, timeout=10)
        assert admin(p.port, "rollout next")[0]
        assert wait_until(lambda: "[5%]" in open(out).read(), timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(10)
    text = open(out).read()
    assert rc == 0, rc
    assert "\033" not in text, "no ANSI codes without a terminal"
    first = text.split("bgproxy  stable")[1]
    # each frame: head with version and time, the steps with the current one marked,
    # what the step waits for, the guard and its thresholds, pools, servers, events
    assert "state running  version" in text
    assert "rollout green  [1%] 5% 100%  step 1 of 3, hold 3600 s" in first, first
    assert "waits for: " in first and "candidate request" in first, first
    assert "guard: " in first and "errors <= 5.00%" in first, first
    assert blue.addr in first and green.addr in first, first
    assert "events" in first and "rollout of green started" in first, first
    assert "rollout green  1% [5%] 100%  step 2 of 3" in text
    assert text.count("bgproxy  stable") >= 3


def test_watch_ends_when_its_reader_goes(env):
    blue, green, p = _env(env)
    sock = admin_paths(p.port)[0]
    proc = subprocess.Popen([BGCTL(), "-s", sock, "status", "--watch", "--interval", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().startswith(b"bgproxy  stable blue")
        proc.stdout.close()  # like `| head -1`
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watch_interval_longer_than_the_admin_idle_timeout(env):
    # the server closes an idle admin connection; the next frame reconnects quietly
    blue, green, p = _env(env)
    sock = admin_paths(p.port)[0]
    proc, out = _watch(env, sock, "0.2")
    try:
        assert wait_until(lambda: open(out).read().count("bgproxy  stable") >= 1, timeout=10)
        # close bgctl's kept connection from the server side: a reload-free way is
        # to fill the admin slots so the idle one is evicted
        socks = []
        for _ in range(70):
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            socks.append(s)
        n = open(out).read().count("bgproxy  stable")
        assert wait_until(lambda: open(out).read().count("bgproxy  stable") >= n + 3, timeout=10)
        for s in socks:
            s.close()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    assert "cannot send" not in open(out).read() and "closed before" not in open(out).read()


def test_watch_in_a_terminal_redraws_in_place(env):
    if shutil.which("tmux") is None:
        raise AssertionError("tmux is needed for this test (scripts/setup.sh installs it)")
    blue, green, p = _env(env)
    sock = admin_paths(p.port)[0]
    name = "bgp%d" % os.getpid()
    tmux = ["tmux", "-L", name]
    subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "40",
                           "-s", name], check=True)
    try:
        subprocess.run(tmux + ["send-keys", "-t", name, "env LANG=C.UTF-8 %s -s %s status --watch "
                               "--interval 0.2" % (BGCTL(), sock), "Enter"], check=True)

        def screen():
            return subprocess.run(tmux + ["capture-pane", "-p", "-t", name], capture_output=True,
                                  text=True).stdout

        assert wait_until(lambda: "state idle" in screen(), timeout=10), screen()
        assert admin(p.port, "set weight green 25")[0]
        assert wait_until(lambda: "state manual" in screen(), timeout=10), screen()
        s = screen()
        # redrawn in place: one head on the screen, the old state gone, the head at the top
        assert s.count("bgproxy  stable") == 1, s
        assert "state idle" not in s and s.splitlines()[0].startswith("bgproxy  stable blue"), s
        assert "25.00%" in s and "75.00%" in s, s
        assert "\u2588" in s, "a UTF-8 terminal gets block bars: " + s
        subprocess.run(tmux + ["send-keys", "-t", name, "C-c"], check=True)
        # Ctrl-C ends it: the shell is the pane's command again
        assert wait_until(lambda: subprocess.run(
            tmux + ["list-panes", "-t", name, "-F", "#{pane_current_command}"],
            capture_output=True, text=True).stdout.strip() != "bgctl", timeout=10), screen()
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)


def test_watch_rides_out_a_missing_proxy(env):
    sock = os.path.join(env.tmp, "nobody.sock")
    proc, out = _watch(env, sock, "0.1")
    try:
        assert wait_until(lambda: open(out).read().count("trying again") >= 2, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert "cannot reach %s" % sock in open(out).read()


def test_watch_options_are_checked(env):
    for args, want in ((["status", "--watch", "--interval", "0"], "--interval takes a number of seconds"),
                       (["status", "--watch", "--interval", "x"], "--interval takes a number of seconds"),
                       (["show", "servers", "--watch"], "--watch goes with status"),
                       (["status", "--interval", "1"], "--interval goes with status --watch"),
                       (["status", "--timeout", "1"], "--timeout goes with rollout wait"),
                       (["rollout", "wait", "--timeout", "-1"], "--timeout takes a number of seconds"),
                       (["status", "--if-version", "3"], "--if-version goes with a command"),
                       (["set", "weight", "green", "5", "--if-version", "x"], "--if-version takes"),
                       (["rollout", "wait", "--json"], "--json does not go")):
        r = subprocess.run([BGCTL(), "-s", "/nonexistent"] + args, capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 1 and want in r.stderr, (args, r.returncode, r.stderr)


def test_rollout_wait_promoted_exits_0(env):
    blue, green, p = _env(env, guard_extra="bake_s = 1;", extra="rollout = { min_requests = 0; };")
    assert admin(p.port, "rollout start green steps 10,100 hold 1")[0]
    w = _wait_cmd(p, "--timeout", "30")
    out, err = w.communicate(timeout=40)
    assert w.returncode == 0, (w.returncode, out, err)
    lines = out.splitlines()
    assert lines[0].startswith("green step 1 of 2 (10%): waits for"), out
    assert "green has 100%" in out, out
    assert lines[-1] == "green promoted: it is the stable pool", out
    assert _status(p.port)["stable"] == "green"
    # what the timer did is audited like a command
    audit = [json.loads(l) for l in open(admin_paths(p.port)[1]) if l.strip()]
    cmds = [a["command"] for a in audit]
    assert "rollout step (by rollout timer)" in cmds and "promote (by rollout timer)" in cmds, cmds


def test_rollout_wait_until_baking_without_bake_s(env):
    # without guard.bake_s a rollout never promotes itself: --until baking
    # ends (0) once the candidate has 100%
    blue, green, p = _env(env, extra="rollout = { min_requests = 0; };")
    assert admin(p.port, "rollout start green steps 10,100 hold 1")[0]
    w = _wait_cmd(p, "--until", "baking", "--timeout", "30")
    out, err = w.communicate(timeout=40)
    assert w.returncode == 0, (w.returncode, out, err)
    assert out.splitlines()[-1].startswith("green has 100%"), out
    assert _status(p.port)["state"] == "baking"
    # bad values and misplaced use are refused
    r = subprocess.run([BGCTL(), "-s", admin_paths(p.port)[0], "rollout", "wait", "--until",
                        "done"], capture_output=True, text=True)
    assert r.returncode == 1 and "--until takes promoted or baking" in r.stderr, r.stderr
    r = subprocess.run([BGCTL(), "-s", admin_paths(p.port)[0], "status", "--until", "baking"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "--until goes with rollout wait" in r.stderr, r.stderr


def test_rollout_wait_reverted_exits_1(env):
    blue, green, p = _env(env)
    assert admin(p.port, "rollout start green steps 50,100 hold 3600")[0]
    w = _wait_cmd(p)
    assert wait_until(lambda: w.poll() is None and _status(p.port)["state"] == "running")
    green.ctl("fail?rate=1")
    tr = Traffic(env, p.port, max_s=30)
    try:
        out, err = w.communicate(timeout=30)
    finally:
        tr.stop()
    assert w.returncode == 1, (w.returncode, out, err)
    assert out.splitlines()[-1].startswith("reverted: error_rate"), out
    # a rollout that is already over answers at once
    r = subprocess.run([BGCTL(), "-s", admin_paths(p.port)[0], "rollout", "wait"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and r.stdout.startswith("reverted: "), (r.returncode, r.stdout)


def test_rollout_wait_abort_timeout_none_and_unreachable(env):
    blue, green, p = _env(env)
    sock = admin_paths(p.port)[0]
    r = subprocess.run([BGCTL(), "-s", sock, "rollout", "wait"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and "no rollout to wait for (state idle)" in r.stdout, r
    assert admin(p.port, "rollout start green steps 1,100 hold 3600")[0]
    t0 = time.time()
    r = subprocess.run([BGCTL(), "-s", sock, "rollout", "wait", "--timeout", "0.5"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 3 and "timed out after 0.5 s" in r.stderr, r
    assert time.time() - t0 < 5
    w = _wait_cmd(p)
    assert wait_until(lambda: w.poll() is None and admin(p.port, "rollout abort")[0])
    out, err = w.communicate(timeout=10)
    assert w.returncode == 1 and "reverted: " in out, (w.returncode, out, err)
    r = subprocess.run([BGCTL(), "-s", os.path.join(env.tmp, "none.sock"), "rollout", "wait"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "cannot reach" in r.stderr, r


def test_rollout_wait_after_switch_and_manual_promote(env):
    blue, green, p = _env(env)
    assert admin(p.port, "switch green")[0]
    w = _wait_cmd(p)
    first = w.stdout.readline()  # it has seen the bake before the promote
    assert first == "green has 100%: baking: promote\n", first
    assert admin(p.port, "promote")[0]
    out, err = w.communicate(timeout=10)
    assert w.returncode == 0, (w.returncode, out, err)
    assert out == "green promoted: it is the stable pool\n", out


def test_bgctl_if_version(env):
    blue, green, p = _env(env)
    sock = admin_paths(p.port)[0]
    v = _status(p.port)["version"]
    r = subprocess.run([BGCTL(), "-s", sock, "--if-version", str(v + 7), "set", "weight", "green",
                        "5"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "version is %d, not %d" % (v, v + 7) in r.stderr, r
    assert _status(p.port)["weights"]["green"] == 0
    r = subprocess.run([BGCTL(), "-s", sock, "set", "weight", "green", "5", "--if-version",
                        str(v)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r
    st = _status(p.port)
    assert st["weights"]["green"] == 5 and st["version"] == v + 1
    # the version the change was made against is now stale
    r = subprocess.run([BGCTL(), "-s", sock, "--if-version=%d" % v, "revert"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "not %d" % v in r.stderr, r
    assert _status(p.port)["state"] == "manual"
