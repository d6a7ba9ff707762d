"""bgctl against a scripted fake admin server (fake_admin.py): exit codes,
socket selection, framing, --json, the human status view, refusals."""
import json
import os
import socket
import subprocess
import sys
import time

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_admin.py")


def _fake(env, name="fake", status=None):
    """Starts a fake admin server; returns its socket path once it listens."""
    path = os.path.join(env.tmp, "%s.sock" % name)
    args = [sys.executable, FAKE, path, "--name", name]
    if status is not None:
        sf = os.path.join(env.tmp, "%s.status.json" % name)
        with open(sf, "w") as f:
            f.write(status)
        args += ["--status-file", sf]
    proc = harness._spawn(args, os.path.join(env.tmp, "%s.log" % name))
    end = time.time() + 5
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.close()
            return path
        except OSError:
            s.close()
            if time.time() > end or proc.poll() is not None:
                raise RuntimeError("fake admin server %s did not start" % name)
            time.sleep(0.02)


def _ctl(args, sock=None, env_sock=None, timeout_ms=None, timeout=20):
    """Runs bgctl; returns (exit status, stdout, stderr) as text."""
    e = dict(os.environ)
    e.pop("BGPROXY_SOCKET", None)
    e.pop("BGCTL_TIMEOUT_MS", None)
    if env_sock is not None:
        e["BGPROXY_SOCKET"] = env_sock
    if timeout_ms is not None:
        e["BGCTL_TIMEOUT_MS"] = str(timeout_ms)
    cmd = [os.path.join(harness.BUILD, "bgctl")]
    if sock is not None:
        cmd += ["-s", sock]
    r = subprocess.run(cmd + list(args), env=e, capture_output=True, timeout=timeout)
    return (r.returncode, r.stdout.decode("utf-8", "replace"),
            r.stderr.decode("utf-8", "replace"))


def _received(sock):
    with open(sock + ".log") as f:
        return f.read().splitlines()


def test_ok_answers_print_the_body(env):
    s = _fake(env)
    # the fake keeps the connection open: bgctl must stop at the empty line
    rc, out, err = _ctl(["show", "servers"], sock=s)
    assert rc == 0, (rc, err)
    assert out == ("blue 127.0.0.1:9001 up 3 100 0\n"
                   "green 127.0.0.1:9002 draining 0 61 0\n"), out
    rc, out, err = _ctl(["ping"], sock=s)
    assert (rc, out, err) == (0, "", ""), (rc, out, err)
    rc, out, err = _ctl(["crlf"], sock=s)
    assert rc == 0 and "line one" in out, (rc, out, err)


def test_words_are_joined_with_single_spaces(env):
    s = _fake(env)
    # options end at the first word, so "-5" is an argument, not an option
    rc, out, err = _ctl(["echo", "set", "weight", "green", "-5"], sock=s)
    assert rc == 0, err
    assert out == "fake|echo set weight green -5\n", out
    assert _received(s)[-1] == "echo set weight green -5"


def test_err_goes_to_stderr_with_status_1(env):
    s = _fake(env)
    rc, out, err = _ctl(["bad"], sock=s)
    assert rc == 1 and out == "", (rc, out)
    assert err == 'error: weight must be 0..100, got "101"\n', err
    rc, out, err = _ctl(["errlines"], sock=s)
    assert rc == 1 and out == "", (rc, out)
    assert err == "error: refused\nfirst reason\nsecond reason\n", err
    rc, out, err = _ctl(["no", "such", "thing"], sock=s)
    assert rc == 1 and 'unknown command "no such thing"' in err, (rc, err)


def test_unreachable_socket_exits_2(env):
    missing = os.path.join(env.tmp, "missing.sock")
    rc, out, err = _ctl(["status"], sock=missing)
    assert rc == 2, rc
    assert err.startswith("bgctl: cannot reach %s: " % missing), err
    assert "No such file" in err, err
    plain = os.path.join(env.tmp, "plain-file")
    open(plain, "w").close()
    rc, out, err = _ctl(["ping"], sock=plain)
    assert rc == 2 and "cannot reach" in err, (rc, err)


def test_socket_from_env_and_s_wins(env):
    a = _fake(env, "alpha")
    b = _fake(env, "beta")
    rc, out, err = _ctl(["echo", "x"], env_sock=a)
    assert rc == 0 and out == "alpha|echo x\n", (rc, out, err)
    rc, out, err = _ctl(["echo", "x"], sock=b, env_sock=a)
    assert rc == 0 and out == "beta|echo x\n", (rc, out, err)
    rc, out, err = _ctl(["--socket", b, "echo", "y"], env_sock=a)
    assert rc == 0 and out == "beta|echo y\n", (rc, out, err)


def test_json_is_passed_through(env):
    s = _fake(env)
    rc, out, err = _ctl(["--json", "echo", "hi"], sock=s)
    assert rc == 0, err
    assert json.loads(out) == {"name": "fake", "line": "json echo hi"}, out
    rc, out, err = _ctl(["--json", "bad"], sock=s)
    assert rc == 1, rc
    assert json.loads(out) == {"ok": False, "error": "weight must be 0..100"}, out
    # --json status is the server's JSON unchanged, not the human view
    rc, out, err = _ctl(["--json", "status"], sock=s)
    assert rc == 0 and json.loads(out)["stable"] == "blue", (rc, out)


def test_status_is_rendered_for_humans(env):
    s = _fake(env)
    rc, out, err = _ctl(["status"], sock=s)
    assert rc == 0 and err == "", (rc, err)
    assert _received(s)[-1] == "json status"
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert "stable blue" in out and "state running" in out, out
    assert "rollout green step 3/6 (10%), 42 s left, paused" in out, out
    assert "last revert: error_rate 0.62 > 0.05 over 10s, n=143" in out, out
    assert "req/10s" in out, out
    blue = [l for l in lines if l.startswith("blue ") and "%" in l]
    green = [l for l in lines if l.startswith("green ") and "%" in l]
    assert len(blue) == 1 and len(green) == 1, out
    # the stable pool is named so in words, not with a sign to decode
    assert blue[0].endswith("  stable") and not green[0].endswith("stable"), out
    # stdout is a pipe, so the bar is plain ASCII
    assert "#" in blue[0] and "." in blue[0] and "90.00%" in blue[0], blue
    assert blue[0].count("#") > green[0].count("#") > 0, out
    assert "2/2 up" in blue[0] and "1234" in blue[0] and "0.10%" in blue[0], blue
    assert "4.2 ms" in blue[0], blue
    assert "10.00%" in green[0] and "1/1 up" in green[0] and "5.0 ms" in green[0], green
    srv = [l.split() for l in lines if "127.0.0.1:" in l]
    assert ["green", "127.0.0.1:9002", "draining", "active", "0", "requests", "61",
            "errors", "0"] in srv, srv
    assert len(srv) == 3, srv


def test_status_tolerates_missing_keys(env):
    s = _fake(env, status=json.dumps({
        "stable": "green", "state": "idle", "rollout": None, "last_revert": None,
        "weights": {"blue": 0, "green": 100.0},
        "pools": {"blue": {"servers": 1}, "green": {}}, "future_key": [1, {"a": "\u00e9"}]}))
    rc, out, err = _ctl(["status"], sock=s)
    assert rc == 0 and err == "", (rc, err)
    assert "rollout -" in out and "last revert: -" in out, out
    assert "requests" in out, out  # no window_s: a generic label
    green = [l for l in out.splitlines() if l.startswith("green ") and "%" in l]
    assert len(green) == 1 and "100.00%" in green[0] and "." not in green[0].split()[1], out
    assert green[0].endswith("  stable"), out
    assert "-/1 up" in out, out


def test_status_no_requests_shows_dash_and_dry_run(env):
    s = _fake(env, status=json.dumps({
        "stable": "blue", "state": "manual", "rollout": None, "last_revert": None,
        "dry_run": True, "dry_run_verdict": "would revert green: healthy 0/1 < 0.5",
        "weights": {"blue": 95.0, "green": 5.0}, "window_s": 10,
        "pools": {"blue": {"servers_up": 1, "servers": 1, "requests": 3, "error_rate": 0.0,
                           "p99_ms": 2.0},
                  "green": {"servers_up": 0, "servers": 1, "requests": 0, "error_rate": 0.0,
                            "p99_ms": 0.0}}}))
    rc, out, err = _ctl(["status"], sock=s)
    assert rc == 0 and err == "", (rc, err)
    assert "dry run: would revert green: healthy 0/1 < 0.5" in out, out
    green = [l for l in out.splitlines() if l.startswith("green ") and "%" in l][0]
    blue = [l for l in out.splitlines() if l.startswith("blue ") and "%" in l][0]
    # no request in the window: no rate and no latency, not "0.00%" and "0.0 ms"
    assert green.split()[-2:] == ["-", "-"] and "ms" not in green, green
    assert "0.00%" in blue and "2.0 ms" in blue, blue


def test_status_of_a_reverted_rollout(env):
    st = json.loads(json.dumps(__import__("fake_admin").SAMPLE))
    st["state"] = "reverted"
    s = _fake(env, name="rev", status=json.dumps(st))
    rc, out, err = _ctl(["status"], sock=s)
    assert rc == 0, (rc, err)
    # no clock runs for a rollout that ended in a revert
    assert "rollout green reverted at step 3/6 (10%)" in out and "s left" not in out, out


def test_status_unreadable_json_is_printed_raw(env):
    s = _fake(env, status='{"stable": "blue", "weights": {"blue": 1e999}')
    rc, out, err = _ctl(["status"], sock=s)
    assert rc == 0, rc
    assert out == '{"stable": "blue", "weights": {"blue": 1e999}\n', out
    assert "warning" in err, err
    # strict on purpose: a lone surrogate is not text (the fake re-reads the file)
    with open(os.path.join(env.tmp, "fake.status.json"), "w") as f:
        f.write('{"stable": "\\ud800"}')
    rc, out, err = _ctl(["status"], sock=s)
    assert rc == 0 and out == '{"stable": "\\ud800"}\n' and "warning" in err, (rc, out, err)


def test_bad_commands_are_refused_locally(env):
    s = _fake(env)
    rc, out, err = _ctl(["echo", "x" * 4091], sock=s)  # exactly 4096 bytes
    assert rc == 0, err
    rc, out, err = _ctl(["echo", "x" * 4092], sock=s)
    assert rc == 1 and "at most 4096" in err, (rc, err)
    rc, out, err = _ctl(["--json", "echo", "x" * 4087], sock=s)  # json prefix counts
    assert rc == 1, (rc, err)
    rc, out, err = _ctl(["echo", "a\nping"], sock=s)
    assert rc == 1 and "line break" in err, (rc, err)
    rc, out, err = _ctl([], sock=s)
    assert rc == 1 and "usage" in err, (rc, err)
    rc, out, err = _ctl(["  "], sock=s)
    assert rc == 1, rc
    rc, out, err = _ctl(["--bogus", "ping"], sock=s)
    assert rc == 1, rc
    assert _received(s) == ["echo " + "x" * 4091], "a refused command reached the server"


def test_help_and_version(env):
    rc, out, err = _ctl(["-h"])
    assert rc == 0 and out.startswith("usage: bgctl") and err == "", (rc, out, err)
    rc, out, err = _ctl(["--version"])
    assert rc == 0 and out.startswith("bgctl ") and len(out.split()) == 2, (rc, out)


def test_broken_answers_exit_2(env):
    s = _fake(env)
    rc, out, err = _ctl(["close"], sock=s)
    assert rc == 2, rc
    assert err == "bgctl: connection closed before the end of the answer\n", err
    assert "partial line" in out, out
    rc, out, err = _ctl(["garbage"], sock=s)
    assert rc == 2 and "neither OK nor ERR" in err, (rc, err)


def test_large_answers(env):
    s = _fake(env)
    rc, out, err = _ctl(["big", "5000000"], sock=s)
    assert rc == 0 and len(out) == 5000000, (rc, len(out), err)
    rc, out, err = _ctl(["longline", "1000000"], sock=s)
    assert rc == 0 and out == "y" * 1000000 + "\n", (rc, len(out))
    rc, out, err = _ctl(["big", "17000000"], sock=s)
    assert rc == 2 and "larger than 16 MB" in err, (rc, err)


def test_read_timeout_exits_2(env):
    s = _fake(env)
    t0 = time.time()
    rc, out, err = _ctl(["slow"], sock=s, timeout_ms=300)
    assert rc == 2 and "no answer" in err, (rc, err)
    assert time.time() - t0 < 3, time.time() - t0
