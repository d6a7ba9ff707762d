#!/usr/bin/env python3
"""Run the integration scenarios: every function named test_* in
tests/integration/test_*.py gets a fresh harness.Env.  Prints "ok NAME" or
"FAIL NAME" per test and ends with "N passed, N failed".
Usage: run.py [--build DIR] [-k SUBSTRING]"""
import argparse
import importlib
import os
import shutil
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


TEST_TIMEOUT_S = 180


def _alarm(signum, frame):
    raise TimeoutError("test took longer than %d s" % TEST_TIMEOUT_S)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", default="")
    a = ap.parse_args()
    os.environ["BGPROXY_BUILD"] = os.path.abspath(a.build)
    import harness
    harness.BUILD = os.environ["BGPROXY_BUILD"]
    passed = failed = 0
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        mod = importlib.import_module(fn[:-3])
        for name in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = "%s.%s" % (fn[:-3], name)
            if a.k and a.k not in full:
                continue
            env = harness.Env()
            t0 = time.time()
            err = None
            signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(TEST_TIMEOUT_S)
            try:
                getattr(mod, name)(env)
            except Exception:
                err = traceback.format_exc()
            finally:
                signal.alarm(0)
            # a proxy that crashed or did not stop cleanly fails the test too
            problems = env.close()
            if problems and err is None:
                err = "\n".join(problems) + "\n"
            if err is None:
                passed += 1
                print("ok %s (%.1fs)" % (full, time.time() - t0), flush=True)
                # a passing test's files go (an etcd cluster leaves ~190 MB);
                # a failing one's stay for a look
                shutil.rmtree(env.tmp, ignore_errors=True)
            else:
                failed += 1
                print("FAIL %s (%.1fs)" % (full, time.time() - t0), flush=True)
                sys.stdout.write(err)
                for p in env.proxies:
                    print("--- bgproxy output (last 30 lines):")
                    print("\n".join(p.output().splitlines()[-30:]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
