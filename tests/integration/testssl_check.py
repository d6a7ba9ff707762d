#!/usr/bin/env python3
"""Run testssl.sh (Debian package testssl.sh) against a bgproxy TLS listener
and fail on any finding above LOW.

Certificate findings (cert_*: a self-signed test certificate is expected to
fail trust, revocation and naming checks) and checks of the local machine
(engine_problem, DNS CAA) are about the test setup, not bgproxy's TLS
configuration, and are left out.  Prints each finding that counts and ends
with "N passed, N failed" (one per finding).
Usage: testssl_check.py --build build"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

IGNORED_PREFIXES = ("cert_", "DNS_CAArecord", "engine_problem", "scanTime", "service")
BAD = ("MEDIUM", "HIGH", "CRITICAL")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    a = ap.parse_args()
    tool = shutil.which("testssl") or shutil.which("testssl.sh")
    if tool is None:
        print("testssl.sh is not installed: nothing to check")
        print("0 passed, 0 failed")
        return 0
    harness.BUILD = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="bgp-testssl-")
    env = harness.Env()
    try:
        key, pem = os.path.join(tmp, "site.key"), os.path.join(tmp, "site.pem")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-subj", "/CN=site.test", "-addext",
                        "subjectAltName=DNS:site.test", "-days", "365", "-keyout", key,
                        "-out", pem], check=True, capture_output=True, timeout=60)
        blue, green = env.demo("blue"), env.demo("green")
        port = harness.free_port()
        text = harness.config_text(port, [blue.addr], [green.addr]).replace(
            'listen = ( { address = "127.0.0.1:%d"; } ' % port,
            'listen = ( { address = "127.0.0.1:%d"; tls = { certificates = ( { cert = "%s"; '
            'key = "%s"; } ); }; } ' % (port, pem, key)).replace('access = "stderr"', 'access = "off"')
        env.proxies.append(harness.Proxy(env.tmp, text, port))
        out = os.path.join(tmp, "testssl.json")
        # protocols, cipher categories, forward secrecy, server defaults and
        # preferences, vulnerabilities: what the proxy's TLS setup decides
        r = subprocess.run([tool, "--quiet", "--color", "0", "--warnings", "off",
                            "--jsonfile", out, "-p", "-s", "-f", "-S", "-P", "-U",
                            "127.0.0.1:%d" % port], capture_output=True, text=True,
                           timeout=1200)
        if not os.path.exists(out):
            print(r.stdout[-3000:], r.stderr[-2000:])
            print("0 passed, 1 failed")
            return 1
        passed = failed = 0
        for f in json.load(open(out)):
            if f["id"].startswith(IGNORED_PREFIXES):
                continue
            if f["severity"] in BAD:
                failed += 1
                print("FAIL %s %s: %s" % (f["severity"], f["id"], f["finding"]))
            else:
                passed += 1
                print("ok %s %s: %s" % (f["severity"], f["id"], f["finding"][:100]))
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
