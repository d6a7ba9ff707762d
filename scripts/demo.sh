#!/usr/bin/env bash
# The demo: bgproxy on 127.0.0.1:8080 (HTTP/1.1 and h2c) and 127.0.0.1:8443
# (TLS with a generated self-signed certificate: h2 and HTTP/1.1) in front of
# two services (docs/services.md): "shop", every host, its demo upstreams
# blue on 9001 and green on 9002; "api", Host api.localhost, blue on 9003
# and green on 9004.  config/bgproxy.conf with those two listeners and its
# pools made the two services.  Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
BGPROXY_FUZZ=0 scripts/setup.sh
scripts/build.sh

sock=/tmp/bgproxy-demo.sock
# the daemon's log (what the guard says) on this terminal and in $log; the
# access lines, one per request, in $alog only (they would bury the rest)
log=$(mktemp /tmp/bgproxy-demo.XXXXXX.log)
alog=/tmp/bgproxy-demo-access.log
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Start a demo upstream on port $1 named $2; it writes its port file once it
# listens (a port that another program holds must not pass for it).
start_demo() {
	local pf i
	pf=$(mktemp -u /tmp/bgproxy-demo-port.XXXXXX)
	build/bgdemo --port "$1" --name "$2" --port-file "$pf" & pids+=($!)
	for i in $(seq 100); do
		[ -s "$pf" ] && { rm -f "$pf"; return 0; }
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "demo: the $2 demo upstream did not start on port $1 (port taken?)" >&2
	exit 1
}

# A certificate for the TLS listener (made once, kept in /tmp), and the
# example configuration with the demo's two listeners in place of its one
cert=/tmp/bgproxy-demo.pem key=/tmp/bgproxy-demo.key conf=/tmp/bgproxy-demo.conf
if [ ! -s "$cert" ] || [ ! -s "$key" ]; then
	openssl req -x509 -nodes -days 30 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout "$key" -out "$cert" >/dev/null 2>&1 || { echo "demo: openssl req failed" >&2; exit 1; }
fi
sed -e 's|{ address = "127.0.0.1:8080"; h2c = false; }    # plain HTTP|{ address = "127.0.0.1:8080"; h2c = true; },\n\t{ address = "127.0.0.1:8443"; tls = { certificates = ( { cert = "'"$cert"'"; key = "'"$key"'"; } ); }; }|' \
	-e 's|access = "stderr";|access = "'"$alog"'";|' \
	config/bgproxy.conf >"$conf"
grep -q "access = \"$alog\"" "$conf" || { echo "demo: config/bgproxy.conf has no access = \"stderr\" line" >&2; exit 1; }
grep -q '127.0.0.1:8443' "$conf" || { echo "demo: config/bgproxy.conf has no plain listener line to extend" >&2; exit 1; }
# the example's pools become the service "shop"; "api" beside it (both take
# the top-level split, guard and rollout: 10% green)
awk '/^pools = \{/ { skip = 1 } skip && /^\};/ { skip = 0; next } !skip' "$conf" >"$conf.tmp"
cat >>"$conf.tmp" <<'EOC'

# Two services behind one bgproxy (docs/services.md): each its own pools,
# split, cookie, guard, rollout and state.
services = (
	{ name = "shop";               # every host but api.localhost
	  pools = {
		blue = { servers = ( { address = "127.0.0.1:9001"; } );
			 health = { path = "/healthz"; interval_ms = 1000; timeout_ms = 500; }; };
		green = { servers = ( { address = "127.0.0.1:9002"; } );
			  health = { path = "/healthz"; interval_ms = 1000; timeout_ms = 500; }; };
	  }; },
	{ name = "api";
	  match = { hosts = [ "api.localhost" ]; path_prefix = "/"; };
	  pools = {
		blue = { servers = ( { address = "127.0.0.1:9003"; } ); };
		green = { servers = ( { address = "127.0.0.1:9004"; } ); };
	  };
	  split = { cookie = "bgp_api"; }; }
);
EOC
mv "$conf.tmp" "$conf"
grep -q '^pools = {' "$conf" && { echo "demo: could not take the pools out of config/bgproxy.conf" >&2; exit 1; }

start_demo 9001 blue
start_demo 9002 green
start_demo 9003 api-blue
start_demo 9004 api-green
# (not 2> >(tee ...): $! would then be tee's PID, and a TERM to this script
# would stop tee and leave bgproxy running)
build/bgproxy -c "$conf" 2>"$log" & pids+=($!)
tail -n +1 -f --pid="${pids[4]}" "$log" >&2 & pids+=($!)
# bgproxy logs "started" once every listener is bound and the admin socket
# answers; a port that another program holds must not pass for ours
started=0
for i in $(seq 100); do
	kill -0 "${pids[4]}" 2>/dev/null || break
	grep -q ' started: ' "$log" && { started=1; break; }
	sleep 0.05
done
if [ "$started" = 0 ]; then
	echo >&2
	echo "demo: bgproxy did not start; its last words:" >&2
	sleep 0.2
	grep -v '^{' "$log" | tail -n 5 | sed 's/^/  /' >&2
	exit 1
fi
cat <<EOT

bgproxy demo is running: two services, each 10% of its users on green
(shop: every host; api: Host api.localhost):
  daemon log (events, the guard):  $log (also here)
  access log (one line a request): $alog   (tail -f it in another terminal)
  curl -i http://127.0.0.1:8080/                      # blue or green, sets the bgp cookie
  curl -i -b 'bgp=alice' http://127.0.0.1:8080/       # the same user always lands on the same colour
  curl -i -H 'X-Bgproxy-Pool: green' http://127.0.0.1:8080/   # override from loopback
  curl -ik --http2 https://127.0.0.1:8443/            # TLS (self-signed $cert), HTTP/2 via ALPN
  curl -i --http2-prior-knowledge http://127.0.0.1:8080/   # HTTP/2 without TLS (h2c)
  curl -i -H 'Host: api.localhost' http://127.0.0.1:8080/  # the other service: api-blue or api-green
Shift traffic through the admin socket (-S: which service):
  build/bgctl -s $sock status                  # every service, one line each
  build/bgctl -s $sock -S shop status
  build/bgctl -s $sock -S shop set weight green 25
  build/bgctl -s $sock -S shop set weight green 0   # a rollout begins at the first step at or above the share
  build/bgctl -s $sock -S shop rollout start green steps 10,50,100 hold 10
  # a step moves once the evidence shows green within every limit: send traffic
  for i in \$(seq 2000); do curl -s -o /dev/null http://127.0.0.1:8080/; done
  build/bgctl -s $sock -S shop explain         # the guard's evidence, check by check
  build/bgctl -s $sock -S api status           # api did not move
Make shop's green fail and watch the guard revert it, api untouched (build/bgdemo --help):
  curl 'http://127.0.0.1:9002/__ctl/fail?rate=0.5'
  build/bgctl -s $sock -S shop show events
Metrics: curl -s http://127.0.0.1:9100/metrics
Press Ctrl-C to stop.
EOT
wait "${pids[4]}"
