#!/usr/bin/env bash
# Benchmark bgproxy against HAProxy and nginx doing the same job: a 90/10
# weighted split of GET / between two keep-alive upstreams (bgdemo "blue" and
# "green"), one worker/process/thread per proxy, proxy on core 0, wrk and the
# upstreams on core 1.  Scenarios: "http" (plain keep-alive), "https" (TLS
# keep-alive, same ECDSA P-256 certificate everywhere) and "handshake" (TLS,
# a new connection and full handshake per request) with wrk, and "h2" (TLS
# 1.3, ALPN h2, h2load -c 16 -m 10: 16 connections with 10 streams each).
# See bench/README.md.
#
# Env: DURATION (s per measured run, default 5), ROUNDS (default 5),
#      CONNS (wrk connections, default 50), KEEP_TMP=1 (keep configs/logs),
#      PROXIES (default "bgproxy haproxy nginx"),
#      SCENARIOS (default "http,https,handshake,h2,tls_up,h2_up"; commas or spaces),
#      H2_CONNS, H2_STREAMS (h2load -c and -m, default 16 and 10).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
lib="$here/benchlib.py"
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-50}
PROXIES=${PROXIES:-"bgproxy haproxy nginx"}
SCENARIOS=${SCENARIOS:-"http,https,handshake,h2,tls_up,h2_up"}
H2_CONNS=${H2_CONNS:-16}
H2_STREAMS=${H2_STREAMS:-10}
BGPROXY=${BGPROXY:-$root/build/bgproxy}
BGDEMO=${BGDEMO:-$root/build/bgdemo}
results_dir="$here/results"

die() { echo "bench: $*" >&2; exit 1; }

read -r -a slist <<<"${SCENARIOS//,/ }"
[ "${#slist[@]}" -ge 1 ] || die "SCENARIOS is empty"
need_tls=0
need_h2load=0
need_nghttpd=0
for s in "${slist[@]}"; do
	case $s in
	http) ;;
	https | handshake) need_tls=1 ;;
	h2) need_tls=1; need_h2load=1 ;;
	tls_up) need_tls=1 ;;
	h2_up) need_tls=1; need_h2load=1; need_nghttpd=1 ;;
	*) die "unknown scenario $s (http, https, handshake, h2, tls_up, h2_up)" ;;
	esac
done

for bin in "$BGPROXY" "$BGDEMO"; do
	[ -x "$bin" ] || die "$bin missing: run scripts/build.sh first"
done
for tool in wrk taskset python3; do
	command -v "$tool" >/dev/null || die "$tool not found (BGPROXY_BENCH=1 scripts/setup.sh)"
done
[ $need_h2load = 0 ] || command -v h2load >/dev/null || die "h2load not found (Debian nghttp2-client: BGPROXY_BENCH=1 scripts/setup.sh)"
[ $need_nghttpd = 0 ] || command -v nghttpd >/dev/null || [ -x /usr/sbin/nghttpd ] || die "nghttpd not found (Debian nghttp2-server: scripts/setup.sh)"
[ $need_tls = 0 ] || command -v openssl >/dev/null || die "openssl not found (needed for the TLS scenarios)"
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
pids=()          # every process we started and have not stopped yet
declare -A ppid  # proxy name -> main PID (of the current scenario)

# Stop the given PIDs: TERM, up to 5 s, then KILL; reap them.
stop_pids() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 50); do
		local alive=0
		for pid in "$@"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "$@"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ "${#pids[@]}" -gt 0 ] && stop_pids "${pids[@]}"
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

# Log files of proxy $1 in the current scenario.
plog() { echo "$tmp/$scen/$1.log"; }

check_alive() {
	local p=$1
	if ! kill -0 "${ppid[$p]}" 2>/dev/null; then
		[ "$interrupted" = 1 ] && exit 130
		echo "bench: $p (pid ${ppid[$p]}) died in scenario $scen; last log lines:" >&2
		tail -n 20 "$(plog "$p")" >&2
		[ "$p" = nginx ] && tail -n 20 "$tmp/$scen/nginx/error.log" >&2
		exit 1
	fi
}

mapfile -t ports < <(python3 "$lib" ports 10)
blue_port=${ports[0]} green_port=${ports[1]}
declare -A port=([bgproxy]=${ports[2]} [haproxy]=${ports[3]} [nginx]=${ports[4]})
metrics_port=${ports[5]}   # bgproxy's metrics listener (TLS handshake counter)
tls_blue_port=${ports[6]} tls_green_port=${ports[7]}   # tls_up: TLS in front of the upstreams
h2_blue_port=${ports[8]} h2_green_port=${ports[9]}     # h2_up: HTTP/2 upstreams (nghttpd)

# ---- upstreams (load core), shared by all scenarios ----
taskset -c 1 "$BGDEMO" --port "$blue_port" --name blue >"$tmp/blue.log" 2>&1 &
pids+=($!)
taskset -c 1 "$BGDEMO" --port "$green_port" --name green >"$tmp/green.log" 2>&1 &
pids+=($!)
python3 "$lib" wait-port "$blue_port" || die "blue upstream did not start: $(cat "$tmp/blue.log")"
python3 "$lib" wait-port "$green_port" || die "green upstream did not start: $(cat "$tmp/green.log")"

# ---- one ECDSA P-256 certificate per run, used by all three proxies ----
cert="$tmp/site.pem" key="$tmp/site.key" certkey="$tmp/site-haproxy.pem"
if [ $need_tls = 1 ]; then
	openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-subj /CN=bench.test -addext subjectAltName=DNS:bench.test -days 2 \
		-keyout "$key" -out "$cert" >"$tmp/openssl.log" 2>&1 ||
		die "openssl req failed: $(cat "$tmp/openssl.log")"
	cat "$cert" "$key" >"$certkey"   # HAProxy wants cert + key in one file
fi

# ---- h2_up: HTTP/2 upstreams, nghttpd (h2c, prior knowledge) answering
# GET / with "blue" / "green", on the load core ----
if [[ " ${slist[*]} " == *" h2_up "* ]]; then
	for c in blue green; do
		if [ $c = blue ]; then hp=$h2_blue_port; else hp=$h2_green_port; fi
		mkdir -p "$tmp/ngh-$c"
		printf '%s\n' "$c" >"$tmp/ngh-$c/index.html"
		taskset -c 1 nghttpd --no-tls -d "$tmp/ngh-$c" "$hp" >"$tmp/ngh-$c.log" 2>&1 &
		pids+=($!)
		python3 "$lib" wait-port "$hp" || die "nghttpd for $c did not start: $(cat "$tmp/ngh-$c.log")"
	done
fi

# ---- tls_up: the same upstreams behind TLS (a bgproxy per colour on the
# load core terminating TLS with the same certificate), so that the proxy
# under test speaks TLS to its servers ----
if [[ " ${slist[*]} " == *" tls_up "* ]]; then
	for c in blue green; do
		if [ $c = blue ]; then fp=$tls_blue_port bp=$blue_port; else fp=$tls_green_port bp=$green_port; fi
		mkdir -p "$tmp/front-$c"
		cat >"$tmp/front-$c/bgproxy.conf" <<EOF
workers = 1;
listen = ( { address = "127.0.0.1:$fp"; tls = { certificates = ( { cert = "$cert"; key = "$key"; } ); alpn = [ "http/1.1" ]; }; } );
pools = { blue = { servers = ( { address = "127.0.0.1:$bp"; } ); };
          green = { servers = ( { address = "127.0.0.1:$bp"; } ); }; };
split = { stable = "blue"; candidate_percent = 0.0; cookie = ""; };
log = { level = "warn"; access = "off"; };
admin = { socket = "$tmp/front-$c/admin.sock"; audit_log = "$tmp/front-$c/audit.log"; };
EOF
		taskset -c 1 "$BGPROXY" -c "$tmp/front-$c/bgproxy.conf" >"$tmp/front-$c/log" 2>&1 &
		pids+=($!)
		python3 "$lib" wait-port "$fp" || die "TLS front for $c did not start: $(cat "$tmp/front-$c/log")"
	done
fi

# ---- proxy configs for scenario $scen into $tmp/$scen ----
write_configs() {
	local d="$tmp/$scen" tls=0 ub=$blue_port ug=$green_port
	local bg_up="" ha_up="" ng_up="" ng_scheme=http
	[ "$scen" = http ] || [ "$scen" = tls_up ] || tls=1
	mkdir -p "$d/nginx"
	if [ "$scen" = h2_up ]; then
		# the servers speak HTTP/2 (prior knowledge); nginx has no HTTP/2
		# upstream, so it sits this one out
		ub=$h2_blue_port ug=$h2_green_port
		bg_up=' protocol = "h2";'
		ha_up=" proto h2"
	fi
	if [ "$scen" = tls_up ]; then
		# the servers speak TLS, verified (the name bench.test), resumed
		ub=$tls_blue_port ug=$tls_green_port ng_scheme=https
		bg_up=" tls = { ca = \"$cert\"; sni = \"bench.test\"; };"
		ha_up=" ssl verify required ca-file $cert sni str(bench.test) verifyhost bench.test"
		ng_up="            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $cert;
            proxy_ssl_name bench.test;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;"
	fi

	local bg_tls="" ha_global="" ha_bind="" ng_listen="" ng_tls=""
	if [ $tls = 1 ]; then
		# every proxy offers h2 then http/1.1 (bgproxy's default): wrk
		# offers no ALPN and speaks HTTP/1.1, h2load asks for h2
		bg_tls=" tls = { certificates = ( { cert = \"$cert\"; key = \"$key\"; } ); min_version = \"TLSv1.2\"; };"
		ha_global="    ssl-default-bind-options ssl-min-ver TLSv1.2"
		ha_bind=" ssl crt $certkey alpn h2,http/1.1"
		ng_listen=" ssl http2"
		ng_tls="        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;"
	fi

	cat >"$d/bgproxy.conf" <<EOF
workers = 1;
listen = ( { address = "127.0.0.1:${port[bgproxy]}";$bg_tls } );
pools = {
  blue  = { servers = ( { address = "127.0.0.1:$ub"; } );$bg_up };
  green = { servers = ( { address = "127.0.0.1:$ug"; } );$bg_up };
};
split = { stable = "blue"; candidate_percent = 10.0; cookie = ""; };
log = { level = "warn"; access = "off"; };
admin = { socket = "$d/admin.sock"; audit_log = "$d/audit.log"; };
metrics = { address = "127.0.0.1:$metrics_port"; };
EOF

	cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
$ha_global

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
    bind 127.0.0.1:${port[haproxy]}$ha_bind
    default_backend be

backend be
    balance roundrobin
    server blue 127.0.0.1:$ub weight 90$ha_up
    server green 127.0.0.1:$ug weight 10$ha_up
EOF

	cat >"$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log warn;
events { worker_connections 8000; }
http {
    access_log off;
    client_body_temp_path $d/nginx/body;
    proxy_temp_path $d/nginx/proxy;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    upstream demo {
        server 127.0.0.1:$ub weight=9;
        server 127.0.0.1:$ug weight=1;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:${port[nginx]}$ng_listen;
$ng_tls
        location / {
            proxy_pass $ng_scheme://demo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
$ng_up
        }
    }
}
EOF
}

# ---- start / stop the proxies (proxy core) ----
start_proxies() {
	local p d="$tmp/$scen"
	for p in $SPROXIES; do
		case $p in
		bgproxy) taskset -c 0 "$BGPROXY" -c "$d/bgproxy.conf" >"$(plog bgproxy)" 2>&1 & ;;
		haproxy) taskset -c 0 haproxy -f "$d/haproxy.cfg" -db >"$(plog haproxy)" 2>&1 & ;;
		nginx) taskset -c 0 nginx -c "$d/nginx.conf" -p "$d/nginx" -g 'daemon off;' >"$(plog nginx)" 2>&1 & ;;
		esac
		ppid[$p]=$!
		pids+=($!)
		if ! python3 "$lib" wait-port "${port[$p]}"; then
			tail -n 20 "$(plog "$p")" >&2
			[ "$p" = nginx ] && tail -n 20 "$d/nginx/error.log" >&2
			die "$p did not start ($scen)"
		fi
		check_alive "$p"
	done
	if [[ " $SPROXIES " == *" nginx "* ]]; then
		mapfile -t pp < <(proxy_pids nginx)
		[ "${#pp[@]}" -ge 2 ] || die "nginx: no worker process found under master ${ppid[nginx]}"
		echo "bench: [$scen] nginx CPU/RSS = master + worker(s): ${pp[*]}"
	fi
}

stop_proxies() {
	local p main=() keep=() pid
	for p in $SPROXIES; do main+=("${ppid[$p]}"); done
	stop_pids "${main[@]}"
	for pid in "${pids[@]}"; do
		[[ " ${main[*]} " == *" $pid "* ]] || keep+=("$pid")
	done
	pids=("${keep[@]}")
}

# bgproxy's TLS handshake counters (handshakes errors), or "- -".
bg_tls_counts() {
	[[ " $SPROXIES " == *" bgproxy "* ]] || { echo "- -"; return; }
	python3 "$lib" tls-counters "$metrics_port" 2>/dev/null || echo "- -"
}

clk_tck=$(getconf CLK_TCK)
echo "bench: upstreams blue:$blue_port green:$green_port; proxies$(for p in $PROXIES; do printf ' %s:%s' "$p" "${port[$p]}"; done)"
echo "bench: SCENARIOS=${slist[*]} DURATION=${DURATION}s ROUNDS=$ROUNDS CONNS=$CONNS; proxy on core 0, wrk+upstreams on core 1"

mkdir -p "$results_dir"
[ -f "$results_dir/.gitignore" ] || printf '*.json\n' >"$results_dir/.gitignore"
jsonl="$tmp/runs.jsonl"
: >"$jsonl"

export BENCH_META
BENCH_META=$(printf '{"duration_s": %s, "rounds": %s, "connections": %s, "cpus": %s, "kernel": "%s", "haproxy": "%s", "nginx": "%s", "openssl": "%s", "scenarios": "%s"}' \
	"$DURATION" "$ROUNDS" "$CONNS" "$(nproc)" "$(uname -r)" \
	"$(haproxy -v 2>/dev/null | head -n1 | awk '{print $3}')" \
	"$(nginx -v 2>&1 | sed 's|.*nginx/||')" \
	"$(openssl version 2>/dev/null | awk '{print $2}')" "${slist[*]}")

wrk_bound=$((DURATION + 30))
for scen in "${slist[@]}"; do
	case $scen in
	http) scheme=http wrk_extra=() split_mode=http ;;
	tls_up) scheme=http wrk_extra=() split_mode=http ;;
	https) scheme=https wrk_extra=() split_mode=https ;;
	handshake) scheme=https wrk_extra=(-H "Connection: close") split_mode=close ;;
	h2) scheme=https wrk_extra=() split_mode=https ;;
	h2_up) scheme=https wrk_extra=() split_mode=https ;;
	esac
	SPROXIES=$PROXIES
	[ "$scen" = h2_up ] && SPROXIES=$(echo " $PROXIES " | sed 's/ nginx / /g')
	read -r -a plist <<<"$SPROXIES"
	n=${#plist[@]}
	echo "bench: ==== scenario $scen ===="
	write_configs
	start_proxies
	# sanity: every proxy answers 200 and splits about 90/10
	for p in $SPROXIES; do
		printf 'bench: [%s] split check %-8s %s\n' "$scen" "$p" \
			"$(python3 "$lib" split "${port[$p]}" 1000 "$split_mode")"
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		echo "bench: [$scen] round $r/$ROUNDS"
		for ((i = 0; i < n; i++)); do
			p=${plist[$(((i + r - 1) % n))]}
			url="$scheme://127.0.0.1:${port[$p]}/"
			out="$tmp/$scen/wrk-$p-$r.txt"
			check_alive "$p"
			if [ "$scen" = h2 ] || [ "$scen" = h2_up ]; then
				timeout 20 taskset -c 1 h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D1 "$url" \
					>"$tmp/$scen/warm-$p-$r.txt" 2>&1
			else
				timeout 20 taskset -c 1 wrk -t1 -c"$CONNS" -d1s "${wrk_extra[@]}" "$url" \
					>"$tmp/$scen/warm-$p-$r.txt" 2>&1
			fi
			[ "$p" = bgproxy ] && read -r hs0 hse0 < <(bg_tls_counts)
			mapfile -t pp < <(proxy_pids "$p")
			t0=$(ticks "${pp[@]}") || die "cannot read /proc for $p"
			s0=$(date +%s.%N)
			if [ "$scen" = h2 ] || [ "$scen" = h2_up ]; then
				# per-request times go to a log: the p99 comes from it
				timeout "$wrk_bound" taskset -c 1 h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" \
					-D"$DURATION" --log-file="$out.reqlog" "$url" >"$out" 2>&1
			else
				timeout "$wrk_bound" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
					"${wrk_extra[@]}" "$url" >"$out" 2>&1
			fi
			wrc=$?
			s1=$(date +%s.%N)
			t1=$(ticks "${pp[@]}") || die "$p exited during the run"
			check_alive "$p"
			[ $wrc = 0 ] || { cat "$out" >&2; die "wrk against $p failed (rc $wrc, $scen)"; }
			rss=$(python3 "$lib" rss "${pp[@]}")
			hs="- -"
			if [ "$p" = bgproxy ] && [ "$scen" != http ] && [ "$scen" != h2 ] &&
			    [ "$scen" != h2_up ] && [ "$scen" != tls_up ]; then
				read -r hs1 hse1 < <(bg_tls_counts)
				[ "$hs0" != - ] && [ "$hs1" != - ] && hs="$((hs1 - hs0)) $((hse1 - hse0))"
			fi
			python3 "$lib" record "$jsonl" "$r" "$p" "$out" \
				"$t0" "$t1" "$s0" "$s1" "$clk_tck" "$rss" "$scen" $hs ||
				die "cannot parse wrk output for $p"
			grep -E 'Non-2xx|Socket errors' "$out" | sed "s/^/    $p: /"
		done
	done
	stop_proxies
	for p in $SPROXIES; do
		f=$(plog "$p")
		if [ -s "$f" ]; then
			echo "bench: [$scen] $p wrote $(wc -l <"$f") log line(s); last ones:"
			tail -n 5 "$f" | sed 's/^/    /'
		fi
	done
	# write what we have so far (a later failure keeps earlier scenarios)
	python3 "$lib" report "$jsonl" "$results_dir/latest.json" "$scen"
done

echo
echo "bench: ==== summary ===="
python3 "$lib" report "$jsonl" "$results_dir/latest.json"
