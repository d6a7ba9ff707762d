#!/usr/bin/env bash
# Benchmark bgproxy against HAProxy and nginx doing the same job: a 90/10
# weighted split of GET / between two keep-alive upstreams (bgdemo "blue" and
# "green"), one worker/process/thread per proxy, proxy on core 0, wrk and the
# upstreams on core 1.  See bench/README.md for how to read the output.
#
# Env: DURATION (s per measured run, default 5), ROUNDS (default 5),
#      CONNS (wrk connections, default 50), KEEP_TMP=1 (keep configs/logs),
#      PROXIES (default "bgproxy haproxy nginx").
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
lib="$here/benchlib.py"
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-50}
PROXIES=${PROXIES:-"bgproxy haproxy nginx"}
BGPROXY=${BGPROXY:-$root/build/bgproxy}
BGDEMO=${BGDEMO:-$root/build/bgdemo}
results_dir="$here/results"

die() { echo "bench: $*" >&2; exit 1; }

for bin in "$BGPROXY" "$BGDEMO"; do
	[ -x "$bin" ] || die "$bin missing: run scripts/build.sh first"
done
for tool in wrk taskset python3; do
	command -v "$tool" >/dev/null || die "$tool not found (BGPROXY_BENCH=1 scripts/setup.sh)"
done
for p in $PROXIES; do
	case $p in
	bgproxy) ;;
	haproxy | nginx)
		command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
			die "$p not found (BGPROXY_BENCH=1 scripts/setup.sh)" ;;
	*) die "unknown proxy $p" ;;
	esac
done
export PATH="$PATH:/usr/sbin:/sbin"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 cores (proxy on 0, load on 1)"

tmp=$(mktemp -d /tmp/bgproxy-bench.XXXXXX)
pids=()          # every process we started, killed by PID on exit
declare -A ppid  # proxy name -> main PID

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 50); do
		local alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "bench: configs and logs kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
interrupted=0
trap 'interrupted=1; echo "bench: interrupted" >&2; exit 130' INT TERM

# Summed utime+stime (clock ticks) of the given PIDs, read in-process so the
# sample is taken right next to the wall-clock stamp.
ticks() {
	local sum=0 pid line
	local -a f
	for pid in "$@"; do
		read -r line <"/proc/$pid/stat" || return 1
		f=(${line##*) })   # fields after comm; f[0] is field 3 (state)
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# The PIDs whose CPU and RSS count for a proxy: nginx = master + workers.
proxy_pids() {
	local main=${ppid[$1]}
	echo "$main"
	if [ "$1" = nginx ]; then
		python3 "$lib" children "$main"
	fi
}

check_alive() {
	local p=$1
	if ! kill -0 "${ppid[$p]}" 2>/dev/null; then
		[ "$interrupted" = 1 ] && exit 130
		echo "bench: $p (pid ${ppid[$p]}) died; last log lines:" >&2
		tail -n 20 "$tmp/$p.log" >&2
		exit 1
	fi
}

mapfile -t ports < <(python3 "$lib" ports 5)
blue_port=${ports[0]} green_port=${ports[1]}
declare -A port=([bgproxy]=${ports[2]} [haproxy]=${ports[3]} [nginx]=${ports[4]})

# ---- upstreams (load core) ----
taskset -c 1 "$BGDEMO" --port "$blue_port" --name blue >"$tmp/blue.log" 2>&1 &
pids+=($!)
taskset -c 1 "$BGDEMO" --port "$green_port" --name green >"$tmp/green.log" 2>&1 &
pids+=($!)
python3 "$lib" wait-port "$blue_port" || die "blue upstream did not start: $(cat "$tmp/blue.log")"
python3 "$lib" wait-port "$green_port" || die "green upstream did not start: $(cat "$tmp/green.log")"

# ---- proxy configs ----
cat >"$tmp/bgproxy.conf" <<EOF
workers = 1;
listen = ( { address = "127.0.0.1:${port[bgproxy]}"; } );
pools = {
  blue  = { servers = ( { address = "127.0.0.1:$blue_port"; } ); };
  green = { servers = ( { address = "127.0.0.1:$green_port"; } ); };
};
split = { stable = "blue"; candidate_percent = 10.0; cookie = ""; };
log = { level = "warn"; access = "off"; };
admin = { socket = "$tmp/admin.sock"; audit_log = "$tmp/audit.log"; };
EOF

cat >"$tmp/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 60s
    maxconn 8000

frontend fe
    bind 127.0.0.1:${port[haproxy]}
    default_backend be

backend be
    balance roundrobin
    server blue 127.0.0.1:$blue_port weight 90
    server green 127.0.0.1:$green_port weight 10
EOF

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 8000; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    upstream demo {
        server 127.0.0.1:$blue_port weight=9;
        server 127.0.0.1:$green_port weight=1;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:${port[nginx]};
        location / {
            proxy_pass http://demo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

# ---- start the proxies (proxy core) ----
for p in $PROXIES; do
	case $p in
	bgproxy) taskset -c 0 "$BGPROXY" -c "$tmp/bgproxy.conf" >"$tmp/bgproxy.log" 2>&1 & ;;
	haproxy) taskset -c 0 haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 & ;;
	nginx) taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" -g 'daemon off;' >"$tmp/nginx.log" 2>&1 & ;;
	esac
	ppid[$p]=$!
	pids+=($!)
	if ! python3 "$lib" wait-port "${port[$p]}"; then
		tail -n 20 "$tmp/$p.log" >&2
		[ "$p" = nginx ] && tail -n 20 "$tmp/nginx/error.log" >&2
		die "$p did not start"
	fi
	check_alive "$p"
done

clk_tck=$(getconf CLK_TCK)
if [[ " $PROXIES " == *" nginx "* ]]; then
	mapfile -t pp < <(proxy_pids nginx)
	[ "${#pp[@]}" -ge 2 ] || die "nginx: no worker process found under master ${ppid[nginx]}"
	echo "bench: nginx CPU/RSS = master + worker(s): ${pp[*]}"
fi
echo "bench: upstreams blue:$blue_port green:$green_port; proxies$(for p in $PROXIES; do printf ' %s:%s(pid %s)' "$p" "${port[$p]}" "${ppid[$p]}"; done)"
echo "bench: DURATION=${DURATION}s ROUNDS=$ROUNDS CONNS=$CONNS; proxy on core 0, wrk+upstreams on core 1"

# ---- sanity: every proxy answers 200 and splits about 90/10 ----
for p in $PROXIES; do
	printf 'bench: split check %-8s %s\n' "$p" "$(python3 "$lib" split "${port[$p]}" 1000)"
done

mkdir -p "$results_dir"
[ -f "$results_dir/.gitignore" ] || printf '*.json\n' >"$results_dir/.gitignore"
jsonl="$tmp/runs.jsonl"
: >"$jsonl"

read -r -a plist <<<"$PROXIES"
n=${#plist[@]}
wrk_bound=$((DURATION + 30))
for ((r = 1; r <= ROUNDS; r++)); do
	echo "bench: round $r/$ROUNDS"
	for ((i = 0; i < n; i++)); do
		p=${plist[$(((i + r - 1) % n))]}
		url="http://127.0.0.1:${port[$p]}/"
		check_alive "$p"
		timeout 20 taskset -c 1 wrk -t1 -c"$CONNS" -d1s "$url" >"$tmp/warm-$p-$r.txt" 2>&1
		mapfile -t pp < <(proxy_pids "$p")
		t0=$(ticks "${pp[@]}") || die "cannot read /proc for $p"
		s0=$(date +%s.%N)
		timeout "$wrk_bound" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" \
			>"$tmp/wrk-$p-$r.txt" 2>&1
		wrc=$?
		s1=$(date +%s.%N)
		t1=$(ticks "${pp[@]}") || die "$p exited during the run"
		check_alive "$p"
		[ $wrc = 0 ] || { cat "$tmp/wrk-$p-$r.txt" >&2; die "wrk against $p failed (rc $wrc)"; }
		rss=$(python3 "$lib" rss "${pp[@]}")
		python3 "$lib" record "$jsonl" "$r" "$p" "$tmp/wrk-$p-$r.txt" \
			"$t0" "$t1" "$s0" "$s1" "$clk_tck" "$rss" || die "cannot parse wrk output for $p"
		grep -E 'Non-2xx|Socket errors' "$tmp/wrk-$p-$r.txt" | sed "s/^/    $p: /"
	done
done

export BENCH_META
BENCH_META=$(printf '{"duration_s": %s, "rounds": %s, "connections": %s, "cpus": %s, "kernel": "%s", "haproxy": "%s", "nginx": "%s"}' \
	"$DURATION" "$ROUNDS" "$CONNS" "$(nproc)" "$(uname -r)" \
	"$(haproxy -v 2>/dev/null | head -n1 | awk '{print $3}')" \
	"$(nginx -v 2>&1 | sed 's|.*nginx/||')")
python3 "$lib" report "$jsonl" "$results_dir/latest.json"

for p in $PROXIES; do
	if [ -s "$tmp/$p.log" ]; then
		echo "bench: $p wrote $(wc -l <"$tmp/$p.log") log line(s); last ones:"
		tail -n 5 "$tmp/$p.log" | sed 's/^/    /'
	fi
done
