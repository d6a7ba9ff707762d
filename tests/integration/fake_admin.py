#!/usr/bin/env python3
"""A scripted stand-in for the bgproxy admin socket, to test bgctl alone.

Usage: fake_admin.py SOCKET_PATH [--name NAME] [--status-file FILE]

Like the real server it keeps the connection open after an answer (so bgctl
must stop at the empty line) and serves one command a line.  Every line
received is appended to SOCKET_PATH + ".log".  Scripted answers:

  ping            OK, no body
  show servers    OK and two lines
  echo WORDS      OK and "NAME|the line as received" (shows which server and
                  how bgctl joined the words)
  json echo ...   OK and a JSON line with the received line
  status          OK and a plain-text status (the real server's shape)
  json status     OK and the JSON of --status-file (re-read on every request),
                  else a built-in sample
  bad, json bad   ERR, with a JSON error line for the json form
  errlines        ERR and two explanation lines
  close           "OK" and one line, then closes without the empty line
  garbage         a first line that is neither OK nor ERR
  crlf            an answer framed with CRLF
  big N           OK and N bytes of body in 100-byte lines
  longline N      OK and one line of N bytes
  slow            waits 15 s, then answers OK
  anything else   ERR unknown command
"""
import json
import os
import socket
import sys
import threading
import time

SAMPLE = {
    "stable": "blue", "state": "running",
    "weights": {"blue": 90.0, "green": 10.0},
    "rollout": {"pool": "green", "steps": [1, 5, 10, 25, 50, 100], "step": 2,
                "hold_s": 60, "paused": True, "step_left_s": 42},
    "last_revert": "error_rate 0.62 > 0.05 over 10s, n=143",
    "window_s": 10,
    "pools": {
        "blue": {"servers_up": 2, "servers": 2, "requests": 1234, "error_rate": 0.001,
                 "p99_ms": 4.2, "server_list": [
                     {"address": "127.0.0.1:9001", "state": "up", "active": 3,
                      "requests": 700, "errors": 1},
                     {"address": "127.0.0.1:9003", "state": "up", "active": 1,
                      "requests": 534, "errors": 0}]},
        "green": {"servers_up": 1, "servers": 1, "requests": 61, "error_rate": 0.0,
                  "p99_ms": 5.0, "server_list": [
                      {"address": "127.0.0.1:9002", "state": "draining", "active": 0,
                       "requests": 61, "errors": 0}]},
    },
}


class Fake:
    def __init__(self, path, name, status_file):
        self.path = path
        self.name = name
        self.status_file = status_file

    def status_json(self):
        if self.status_file:
            with open(self.status_file, "rb") as f:
                return f.read().rstrip(b"\n")
        return json.dumps(SAMPLE).encode()

    def answer(self, line):
        """Bytes to send for one command line, and whether to close after."""
        words = line.split(" ")
        if line == "ping":
            return b"OK\n\n", False
        if line == "show servers":
            return (b"OK\nblue 127.0.0.1:9001 up 3 100 0\n"
                    b"green 127.0.0.1:9002 draining 0 61 0\n\n"), False
        if words[0] == "echo":
            return ("OK\n%s|%s\n\n" % (self.name, line)).encode(), False
        if words[:2] == ["json", "echo"]:
            return b"OK\n" + json.dumps({"name": self.name, "line": line}).encode() + b"\n\n", False
        if line == "status":
            return b"OK\nstable blue\nstate running\n\n", False
        if line == "json status":
            return b"OK\n" + self.status_json() + b"\n\n", False
        if line == "bad":
            return b"ERR weight must be 0..100, got \"101\"\n\n", False
        if line == "json bad":
            return (b'ERR weight must be 0..100\n'
                    b'{"ok":false,"error":"weight must be 0..100"}\n\n'), False
        if line == "errlines":
            return b"ERR refused\nfirst reason\nsecond reason\n\n", False
        if line == "close":
            return b"OK\npartial line\n", True
        if line == "garbage":
            return b"HELLO there\n\n", False
        if line == "crlf":
            return b"OK\r\nline one\r\n\r\n", False
        if words[0] == "big" and len(words) == 2:
            n = int(words[1])
            body = (b"x" * 99 + b"\n") * (n // 100)
            return b"OK\n" + body + b"\n", False
        if words[0] == "longline" and len(words) == 2:
            return b"OK\n" + b"y" * int(words[1]) + b"\n\n", False
        if line == "slow":
            time.sleep(15)
            return b"OK\n\n", False
        return ("ERR unknown command \"%s\"\n\n" % line).encode(), False

    def serve_conn(self, conn):
        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode("utf-8", "replace")
                    with open(self.path + ".log", "a") as f:
                        f.write(line + "\n")
                    out, close = self.answer(line)
                    try:
                        conn.sendall(out)
                    except OSError:
                        return
                    if close:
                        return

    def run(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.path)
        srv.listen(16)
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=self.serve_conn, args=(conn,), daemon=True).start()


def main():
    args = sys.argv[1:]
    if not args:
        sys.stderr.write(__doc__)
        return 1
    path, name, status_file = args[0], "fake", None
    rest = args[1:]
    while rest:
        opt = rest.pop(0)
        if opt == "--name":
            name = rest.pop(0)
        elif opt == "--status-file":
            status_file = rest.pop(0)
        else:
            sys.stderr.write("unknown option %s\n" % opt)
            return 1
    Fake(path, name, status_file).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
