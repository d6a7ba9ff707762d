#!/usr/bin/env bash
# The demo: bgproxy on 127.0.0.1:8080 in front of two demo upstreams
# (blue on 9001, green on 9002) with config/bgproxy.conf.  Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
BGPROXY_FUZZ=0 scripts/setup.sh
scripts/build.sh

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

build/bgdemo --port 9001 --name blue & pids+=($!)
build/bgdemo --port 9002 --name green & pids+=($!)
build/bgproxy -c config/bgproxy.conf & pids+=($!)
sleep 0.5
cat <<EOT

bgproxy demo is running:
  curl -i http://127.0.0.1:8080/                      # blue or green, sets the bgp cookie
  curl -i -b 'bgp=alice' http://127.0.0.1:8080/       # the same user always lands on the same colour
  curl -i -H 'X-Bgproxy-Pool: green' http://127.0.0.1:8080/   # override from loopback
Edit split.candidate_percent in config/bgproxy.conf and restart to ramp green.
Press Ctrl-C to stop.
EOT
wait "${pids[2]}"
