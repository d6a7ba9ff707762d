"""What ships beside the binaries: the man pages render without a warning and
name what they document; the bash completion of bgctl completes options,
commands, pools and, asked live from a running proxy, server addresses."""
import os
import re
import shlex
import shutil
import subprocess

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN_DIR = os.path.join(ROOT, "docs", "man")
PAGES = ("bgproxy.8", "bgctl.8", "bgproxy.conf.5")
COMPLETION = os.path.join(ROOT, "config", "bgctl.bash-completion")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

# Contract sections 1, 3, 9 and 10: what each page must name.
BGCTL_NAMES = (
    "status", "set weight", "switch", "rollout start", "rollout pause", "rollout resume",
    "rollout next", "rollout abort", "rollout wait", "promote", "revert", "server",
    "drain", "disable", "enable", "show events", "show servers", "show info", "reload",
    "help", "json", "if-version", "ERR version is", "status --watch", "--interval",
    "--timeout", "--json", "--if-version", "-s", "BGPROXY_SOCKET", "/run/bgproxy/admin.sock",
    "admin.readonly_socket", "ERR read-only socket", "EXIT STATUS", "EXAMPLES")
CONF_GROUPS = ("workers", "state_file", "listen", "admin", "metrics", "pools", "split",
               "guard", "rollout", "timeouts", "limits", "http2", "log")
CONF_NAMES = ("readonly_socket", "readonly_mode", "\"0666\"", "/metrics", "/healthz",
              "/status.json", "guard.min_requests", "tls", "certificates", "min_version",
              "h2c", "tls.alpn", "max_concurrent_streams", "initial_window_size",
              "max_header_list_size",
              "health")
BGPROXY_NAMES = (
    "-c", "-t", "-V", "--version", "-h", "--help", "SIGHUP", "SIGTERM", "SIGINT", "SIGUSR1",
    "Type=notify", "READY=1", "RELOADING=1", "bgproxy.service", "/run/bgproxy",
    "/var/lib/bgproxy", "/var/log/bgproxy", "admin.socket", "admin.audit_log", "state_file",
    "log.access", "/etc/bgproxy/bgproxy.conf", "/run/bgproxy/admin.sock",
    "/var/lib/bgproxy/state", "/var/log/bgproxy/access.log", "/var/log/bgproxy/audit.log",
    "EXIT STATUS", "bgctl(8)", "bgproxy.conf(5)")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _version():
    m = re.search(r"version\s*:\s*'([^']+)'", _read(os.path.join(ROOT, "meson.build")))
    assert m, "no project version in meson.build"
    return m.group(1)


def _command_table():
    """The command words of the server's table (include/admin_cmds.def)."""
    words = re.findall(r'(?m)^ADMIN_CMD\(\w+,\s*"([^"]+)"',
                       _read(os.path.join(ROOT, "include", "admin_cmds.def")))
    assert len(words) >= 10, words
    return words


def _config_keys():
    """Every key set or shown (in a comment) in config/bgproxy.conf."""
    keys = set()
    for line in _read(os.path.join(ROOT, "config", "bgproxy.conf")).splitlines():
        keys.update(re.findall(r"\b([a-z_][a-z0-9_]*)\s*=\s*[^=\s]", line))
    assert len(keys) > 40, keys
    return keys


def _render(path):
    """(man's text with whitespace collapsed, man's stderr, groff's stderr)."""
    e = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    e.pop("MANOPT", None)
    e.pop("MAN_KEEP_FORMATTING", None)
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", path], env=e,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, (path, r.returncode, r.stderr)
    g = subprocess.run(["groff", "-man", "-ww", "-z", path], env=e, capture_output=True,
                       timeout=60)
    assert g.returncode == 0, (path, g.returncode, g.stderr)
    text = r.stdout.decode("utf-8")
    # overstrike bold/underline (should man keep it), Unicode hyphens and minus
    text = re.sub(r".\x08", "", text)
    text = text.replace("\u2010", "-").replace("\u2212", "-")
    return re.sub(r"\s+", " ", text), r.stderr.decode("utf-8", "replace"), \
        g.stderr.decode("utf-8", "replace")


def _names(text, names, page):
    missing = [n for n in names
               if not re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", text)]
    assert not missing, "%s does not name %s" % (page, ", ".join(missing))


def test_man_pages_render_without_warnings(env):
    if shutil.which("man") is None:
        print("SKIP man is not installed")
        return
    assert shutil.which("groff"), "man is installed but groff is not"
    version = _version()
    for page in PAGES:
        path = os.path.join(MAN_DIR, page)
        text, man_err, groff_err = _render(path)
        assert man_err == "", "%s: man warns:\n%s" % (page, man_err)
        assert groff_err == "", "%s: groff warns:\n%s" % (page, groff_err)
        assert len(text) > 2000, "%s renders to almost nothing: %r" % (page, text[:200])
        for sect in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
            assert " %s " % sect in text, "%s has no %s section" % (page, sect)
        assert "bgproxy %s" % version in text, "%s does not say bgproxy %s" % (page, version)
        if page == "bgctl.8":
            _names(text, BGCTL_NAMES, page)
            _names(text, _command_table(), page)
        elif page == "bgproxy.conf.5":
            _names(text, CONF_GROUPS, page)
            for g in CONF_GROUPS:
                assert re.search(r"(?m)^\.SH .*\b%s\b" % g.upper(), _read(path)) or \
                    g in ("workers", "state_file"), "%s has no section for %s" % (page, g)
            _names(text, CONF_NAMES, page)
            _names(text, sorted(_config_keys()), page)
        else:
            _names(text, BGPROXY_NAMES, page)


# ------------------------------------------------------------ bash completion

def _comp_words(line):
    """COMP_WORDS as bash builds them with the default COMP_WORDBREAKS: split
    at blanks, and a run of ':' or '=' is a word of its own; a line ending in
    a blank has an empty last word."""
    words = []
    for chunk in line.split():
        words += re.findall(r"[:=]+|[^:=]+", chunk)
    if not line or line[-1].isspace():
        words.append("")
    return words


def _complete(line, bash_completion=False, extra_env=None):
    """COMPREPLY of the function `complete -p bgctl` names, for the cursor at
    the end of line, in a fresh bash; asserts the completion printed nothing
    else.  With bash_completion, bash-completion's helpers are loaded first."""
    words = _comp_words(line)
    script = ""
    if bash_completion:
        script += "source %s || exit 9\n" % shlex.quote(BASH_COMPLETION)
    script += (
        "source %s || exit 8\n"
        "spec=$(complete -p bgctl) || exit 7\n"
        "fn=$(sed -n 's/.*-F \\([^ ]*\\).*/\\1/p' <<<\"$spec\")\n"
        "[ -n \"$fn\" ] || exit 6\n"
        "COMP_LINE=%s\nCOMP_POINT=${#COMP_LINE}\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n"
        "COMP_TYPE=9\nCOMP_KEY=9\nCOMPREPLY=()\n"
        "\"$fn\" bgctl \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        "printf '<%%s>\\n' \"${COMPREPLY[@]}\"\n") % (
            shlex.quote(COMPLETION), shlex.quote(line),
            " ".join(shlex.quote(w) for w in words), len(words) - 1)
    e = dict(os.environ)
    e.pop("BGPROXY_SOCKET", None)
    e.pop("BASH_ENV", None)
    e["PATH"] = os.path.dirname(os.path.abspath(os.path.join(harness.BUILD, "bgctl"))) + \
        os.pathsep + e.get("PATH", "/usr/bin:/bin")
    e.update(extra_env or {})
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=e,
                       capture_output=True, timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, (line, r.returncode, out, err)
    assert err == "", "completing %r wrote on stderr: %s" % (line, err)
    reply = re.findall(r"(?m)^<(.*)>$", out)
    return [w for w in reply if w != ""]


def test_bash_completion_commands_pools_servers(env):
    subprocess.run(["bash", "-n", COMPLETION], check=True, timeout=30)
    blue, green = env.demo("blue"), env.demo("green")
    p = env.proxy([blue], [green])
    sock = harness.admin_paths(p.port)[0]
    bgctl = os.path.join(harness.BUILD, "bgctl")
    shown = harness.wait_until(lambda: subprocess.run(
        [bgctl, "-s", sock, "show", "servers"], capture_output=True,
        timeout=15).stdout.decode(), timeout=10)
    assert blue.addr in shown and green.addr in shown, shown
    b_host, b_port = blue.addr.rsplit(":", 1)

    modes = [False]
    if os.path.exists(BASH_COMPLETION):
        modes.append(True)
    for bc in modes:
        def c(line, **kw):
            return _complete(line, bash_completion=bc, **kw)
        tag = "with bash-completion" if bc else "without bash-completion"

        got = c("bgctl ")
        for w in ("status", "set", "switch", "rollout", "promote", "revert", "server",
                  "show", "reload", "help"):
            assert w in got, (tag, w, got)
        assert c("bgctl ro") == ["rollout"], tag
        got = c("bgctl rollout ")
        assert {"start", "pause", "resume", "next", "abort", "wait"} <= set(got), (tag, got)
        assert {"shadow", "steps", "hold"} <= set(c("bgctl rollout start green ")), tag
        assert sorted(c("bgctl set weight ")) == ["blue", "green"], (tag, c("bgctl set weight "))
        assert sorted(c("bgctl switch ")) == ["blue", "green"], tag
        assert sorted(c("bgctl rollout start ")) == ["blue", "green"], tag
        assert sorted(c("bgctl show ")) == ["events", "info", "nodes", "servers"], tag
        assert {"--watch", "--interval"} <= set(c("bgctl status --")), tag
        assert "--timeout" in c("bgctl rollout wait --"), tag
        assert "--timeout" not in c("bgctl status --"), tag
        assert {"-s", "--json", "--if-version"} <= set(c("bgctl -")), tag

        # server addresses, live from the proxy; only the pool asked for
        assert c("bgctl -s %s server blue " % sock) == [blue.addr], (tag, blue.addr)
        assert c("bgctl -s %s server green " % sock) == [green.addr], (tag, green.addr)
        assert c("bgctl server blue -s %s " % sock) == [blue.addr], tag
        assert c("bgctl --socket=%s server blue " % sock) == [blue.addr], tag
        # a partly typed address: bash replaces what follows the last ':'
        assert c("bgctl -s %s server blue %s:%s" % (sock, b_host, b_port[0])) == [b_port], tag
        assert c("bgctl server green ", extra_env={"BGPROXY_SOCKET": sock}) == [green.addr], tag
        # unreachable: nothing, and silent (_complete checks stderr)
        assert c("bgctl -s %s server blue " % os.path.join(env.tmp, "none.sock")) == [], tag

        got = c("bgctl -s %s server blue %s " % (sock, blue.addr))
        assert sorted(got) == ["disable", "drain", "enable"], (tag, got)

        # the grammar is bgctl's table (admin_cmds.def): every command's words
        # are offered, a change takes if-version last, a read takes none
        grammar = subprocess.run([bgctl, "--commands"], capture_output=True, text=True,
                                 timeout=15, check=True).stdout.splitlines()
        rows = [line.split("\t") for line in grammar]
        assert all(len(r) == 3 for r in rows), grammar
        firsts = {r[0].split()[0] for r in rows}
        assert firsts <= set(c("bgctl ")), (tag, firsts)
        assert "explain" in firsts and "rollout" in firsts, firsts
        assert c("bgctl set weight green 5 ") == ["if-version"], tag
        assert c("bgctl switch blue ") == ["if-version"], tag
        assert c("bgctl show events ") == [], tag
        assert c("bgctl status ") == [], tag
        assert c("bgctl set weight green 5 if-version ") == [], tag
        assert sorted(c("bgctl rollout start green steps 1,5 ")) == ["hold", "if-version",
                                                                     "shadow"], tag
        assert c("bgctl rollout start green shadow ") == [], tag
