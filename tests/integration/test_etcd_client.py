"""The etcd v3 client (src/etcd.c, through tests/tools/etcd_probe) against
a real 3-member etcd cluster: get, compare-and-set and its conflicts, prefix
listing, leases that expire, a watch, and failover between endpoints."""
import os
import signal
import subprocess
import threading
import time

from harness import wait_until
from etcdfix import EtcdCluster


def _probe(eps, *args, timeout=20):
    exe = os.path.join(os.environ["BGPROXY_BUILD"], "tests", "etcd_probe")
    r = subprocess.run([exe, ",".join(eps)] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout.splitlines(), r.stderr


def _cluster(env):
    c = EtcdCluster(env.tmp)
    env.demos.append(_Stopper(c))
    return c


class _Stopper:
    """Env.close stops what is in env.demos: the cluster goes with them."""

    def __init__(self, c):
        self.c = c

    def stop(self):
        self.c.stop()


def test_get_cas_conflict_list(env):
    c = _cluster(env)
    eps = c.endpoints()
    rc, out, err = _probe(eps, "get", "/bgp/t/split")
    assert rc == 0 and out[0] == "absent", (out, err)
    # create only if absent; the second create conflicts and says what is there
    rc, out, err = _probe(eps, "cas", "/bgp/t/split", '{"v":1}', "0")
    assert rc == 0 and out[0].startswith("ok "), (out, err)
    mod = int(out[0].split()[1])
    rc, out, err = _probe(eps, "cas", "/bgp/t/split", '{"v":9}', "0")
    assert out[0] == 'conflict %d {"v":1}' % mod, out
    # a write on the revision read wins once; the same revision again loses
    rc, out, err = _probe(eps, "cas", "/bgp/t/split", '{"v":2}', str(mod))
    assert out[0].startswith("ok "), out
    mod2 = int(out[0].split()[1])
    rc, out, err = _probe(eps, "cas", "/bgp/t/split", '{"v":3}', str(mod))
    assert out[0] == 'conflict %d {"v":2}' % mod2, out
    rc, out, err = _probe(eps, "get", "/bgp/t/split")
    assert out[0] == 'found %d {"v":2}' % mod2
    for n in ("a", "b", "c"):
        assert _probe(eps, "put", "/bgp/t/nodes/" + n, "x" + n)[0] == 0
    rc, out, err = _probe(eps, "list", "/bgp/t/nodes/")
    assert out[:3] == ["/bgp/t/nodes/a xa", "/bgp/t/nodes/b xb", "/bgp/t/nodes/c xc"], out


def test_two_writers_race_one_wins(env):
    c = _cluster(env)
    eps = c.endpoints()
    rc, out, _ = _probe(eps, "cas", "/bgp/t/race", "base", "0")
    mod = out[0].split()[1]
    results = []

    def write(i):
        results.append(_probe([eps[i]], "cas", "/bgp/t/race", "w%d" % i, mod)[1][0])
    ts = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert sum(r.startswith("ok ") for r in results) == 1, results
    assert sum(r.startswith("conflict ") for r in results) == 2, results


def test_lease_expires_and_keepalive(env):
    c = _cluster(env)
    eps = c.endpoints()
    rc, out, err = _probe(eps, "grant", "2")
    assert rc == 0, err
    lease = out[0].split()[1]
    assert _probe(eps, "put", "/bgp/t/nodes/n1", "alive", lease)[0] == 0
    for _ in range(3):
        time.sleep(1)          # not the check: the lease's time passing
        assert _probe(eps, "keepalive", lease)[0] == 0
    assert _probe(eps, "get", "/bgp/t/nodes/n1")[1][0].endswith(" alive")
    assert wait_until(lambda: _probe(eps, "get", "/bgp/t/nodes/n1")[1][0] == "absent",
                      timeout=10)
    rc, out, err = _probe(eps, "keepalive", lease)
    assert rc == 1 and "gone" in err, (out, err)


def test_watch_sees_changes(env):
    c = _cluster(env)
    eps = c.endpoints()
    rc, out, _ = _probe(eps, "cas", "/bgp/t/w", "one", "0")
    rev = int(out[0].split()[1])
    exe = os.path.join(os.environ["BGPROXY_BUILD"], "tests", "etcd_probe")
    w = subprocess.Popen([exe, ",".join(eps), "watch", "/bgp/t/w", str(rev + 1), "2"],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)            # not the check: the watch is created, or it replays
    assert _probe(eps, "put", "/bgp/t/w", "two")[0] == 0
    assert _probe(eps, "put", "/bgp/t/w", "three")[0] == 0
    out, _ = w.communicate(timeout=15)
    lines = out.splitlines()
    assert [l.split()[-1] for l in lines[:2]] == ["two", "three"], lines
    # from an old revision the watch replays what it missed
    rc, out, err = _probe(eps, "watch", "/bgp/t/w", str(rev), "3")
    assert [l.split()[-1] for l in out[:3]] == ["one", "two", "three"], (out, err)


def test_failover_between_endpoints(env):
    c = _cluster(env)
    eps = c.endpoints()
    assert _probe(eps, "put", "/bgp/t/f", "v1")[0] == 0
    # the first endpoint is down (stopped): the next one answers
    c.signal(0, signal.SIGSTOP)
    try:
        rc, out, err = _probe(eps, "get", "/bgp/t/f")
        assert rc == 0 and out[0].endswith(" v1"), (out, err)
        assert out[-1] == "endpoint " + eps[1] or out[-1] == "endpoint " + eps[2], out
    finally:
        c.signal(0, signal.SIGCONT)
    # nothing reachable: an error naming the endpoints' failure, fast
    t0 = time.time()
    rc, out, err = _probe(["http://127.0.0.1:1", "http://127.0.0.1:2"], "get", "/bgp/t/f")
    assert rc == 1 and "etcd http://127.0.0.1:" in err, err
    assert time.time() - t0 < 10
