#!/usr/bin/env python3
"""Second opinion: run ../shared/tests/smuggle_replay.py (about 230 smuggling
and desync payloads) through bgproxy into two strict oracle backends.
Passes its output through; its last line is "N passed, N failed".
Usage: smuggle.py --build build --shared ../shared/tests"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--shared", default="../shared/tests")
    a = ap.parse_args()
    harness.BUILD = os.path.abspath(a.build)
    shared = os.path.abspath(a.shared)
    tmp = tempfile.mkdtemp(prefix="bgp-smuggle-")
    ports = [harness.free_port() for _ in range(4)]
    logs = [os.path.join(tmp, "blue.jsonl"), os.path.join(tmp, "green.jsonl")]
    oracles = []
    try:
        for i, name in enumerate(("blue", "green")):
            oracles.append(harness._spawn(
                [sys.executable, os.path.join(shared, "oracle_backend.py"), "--port", str(ports[i]),
                 "--name", name, "--ctl-port", str(ports[2 + i]), "--log", logs[i]],
                os.path.join(tmp, name + ".out")))
        for p in ports:
            harness.wait_port(p, timeout=10)
        pport = harness.free_port()
        text = harness.config_text(pport, ["127.0.0.1:%d" % ports[0]], ["127.0.0.1:%d" % ports[1]],
                                   {"candidate_percent": 10})
        text = text.replace('access = "stderr"', 'access = "off"').replace('level = "info"', 'level = "warn"')
        proxy = harness.Proxy(tmp, text, pport)
        r = subprocess.run([sys.executable, os.path.join(shared, "smuggle_replay.py"),
                            "--proxy", "127.0.0.1:%d" % pport,
                            "--ctl-ports", "%d,%d" % (ports[2], ports[3]),
                            "--logs", ",".join(logs)], timeout=1200)
        rc = proxy.stop()
        if rc != 0:
            print("bgproxy exited with %s after the replay" % rc)
            print("0 passed, 1 failed")
            return 1
        return r.returncode
    finally:
        harness.stop_all()


if __name__ == "__main__":
    sys.exit(main())
