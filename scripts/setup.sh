#!/usr/bin/env bash
# Install what bgproxy needs to build, test and benchmark on Debian 12.
# Only packages that are missing are installed; safe to run again.
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc clang libevent-dev libssl-dev libconfig-dev
      python3 curl openssl socat prometheus testssl.sh
      libjansson-dev libsystemd-dev libnghttp2-dev nghttp2-client python3-h2 python3-grpcio nghttp2-server
      libcurl4-openssl-dev etcd-server etcd-client chromium chromium-driver tmux groff-base man-db bash-completion
      debhelper dpkg-dev lintian systemd)
if [ "${BGPROXY_FUZZ:-1}" = 1 ]; then
	pkgs+=(libclang-rt-14-dev libfuzzer-14-dev)
fi
if [ "${BGPROXY_BENCH:-0}" = 1 ]; then
	pkgs+=(haproxy nginx-light wrk)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
