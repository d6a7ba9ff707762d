"""A real etcd cluster on loopback for the tests: N members with their own
data directories and free ports, started and stopped by PID (Debian's
etcd-server)."""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import harness
from harness import free_port, wait_until

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class EtcdCluster:
    def __init__(self, tmp, n=3):
        self.tmp = tmp
        self.members = []
        peers = [(("m%d" % i), free_port(), free_port()) for i in range(n)]
        initial = ",".join("%s=http://127.0.0.1:%d" % (name, pp) for name, cp, pp in peers)
        for name, cp, pp in peers:
            d = os.path.join(tmp, "etcd-" + name)
            log = open(os.path.join(tmp, "etcd-%s.log" % name), "wb")
            proc = subprocess.Popen(
                [ETCD, "--name", name, "--data-dir", d,
                 "--listen-client-urls", "http://127.0.0.1:%d" % cp,
                 "--advertise-client-urls", "http://127.0.0.1:%d" % cp,
                 "--listen-peer-urls", "http://127.0.0.1:%d" % pp,
                 "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pp,
                 "--initial-cluster", initial, "--initial-cluster-state", "new",
                 "--initial-cluster-token", "bgp-%d" % os.getpid(),
                 "--heartbeat-interval", "50", "--election-timeout", "500",
                 "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT)
            harness._procs.append(proc)      # stopped by PID at the test's end whatever happens
            self.members.append({"name": name, "client": cp, "peer": pp, "proc": proc,
                                 "url": "http://127.0.0.1:%d" % cp})
        if not wait_until(lambda: all(self.healthy(m) for m in self.members), timeout=30):
            logs = self.logs()
            self.stop()
            raise AssertionError("etcd did not become healthy: " + logs)

    def healthy(self, m):
        try:
            with urllib.request.urlopen(m["url"] + "/health", timeout=1) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def endpoints(self):
        return [m["url"] for m in self.members]

    def logs(self):
        out = []
        for m in self.members:
            try:
                out.append(open(os.path.join(self.tmp, "etcd-%s.log" % m["name"])).read()[-2000:])
            except OSError:
                pass
        return "\n".join(out)

    def signal(self, i, sig):
        self.members[i]["proc"].send_signal(sig)

    def stop(self):
        for m in self.members:
            p = m["proc"]
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for m in self.members:
            try:
                m["proc"].wait(10)
            except subprocess.TimeoutExpired:
                m["proc"].kill()
                m["proc"].wait()
