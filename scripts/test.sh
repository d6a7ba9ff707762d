#!/usr/bin/env bash
# Install what is missing, build, run the whole suite: unit tests, the
# integration scenarios against the real binaries, the smuggling replay from
# ../shared/tests when present, and short fuzzing runs under ASan/UBSan.
# Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh || { echo "0 passed, 1 failed"; exit 1; }

# Debian's python3: the integration tests use its python3-h2 (HTTP/2
# clients and hostile frames); a python3 earlier on PATH may lack it
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

passed=0
failed=0
failures=()
logdir=$(mktemp -d /tmp/bgproxy-test.XXXXXX)

# Each suite prints its own "N passed, N failed" last line; add them up.
run_suite() {
	local name=$1; shift
	local log="$logdir/$name.log"
	echo "== $name"
	# no suite may hang CI: each is bounded
	timeout -k 10 "${BGPROXY_SUITE_TIMEOUT:-1800}" "$@" >"$log" 2>&1
	local rc=$?
	grep -E '^(ok|FAIL|PASS|SKIP) ' "$log" | sed 's/^/   /' | grep -E 'FAIL' || true
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "   $name: no summary line (exit $rc); log:"
		tail -n 30 "$log" | sed 's/^/   | /'
		failed=$((failed + 1)); failures+=("$name")
		return
	fi
	local p f
	p=$(echo "$line" | awk '{print $1}')
	f=$(echo "$line" | awk '{print $3}')
	passed=$((passed + p)); failed=$((failed + f))
	echo "   $line"
	if [ "$f" != 0 ] || [ "$rc" != 0 ]; then
		failures+=("$name")
		[ "$f" = 0 ] && failed=$((failed + 1))
		tail -n 40 "$log" | sed 's/^/   | /'
	fi
}

for t in build/tests/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	run_suite "unit-$(basename "$t")" "$t"
done

run_suite integration "$PY" tests/integration/run.py --build build

# The same scenarios against binaries built with AddressSanitizer and UBSan:
# a memory error, a leak at exit or undefined behaviour fails the test.
if [ "${BGPROXY_ASAN:-1}" = 1 ]; then
	if [ ! -f build-asan/build.ninja ]; then
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	fi
	if ninja -C build-asan >"$logdir/asan-build.log" 2>&1; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_suite integration-asan "$PY" tests/integration/run.py --build build-asan
	else
		echo "== integration-asan: build failed"; tail -n 30 "$logdir/asan-build.log"
		failed=$((failed + 1)); failures+=("asan-build")
	fi
fi

# The Debian package: build, lintian, install, run the installed binary,
# purge.  BGPROXY_SKIP_PACKAGE=1 skips it in quick local runs, never in CI.
run_suite package python3 tests/package/test_package.py

if [ -f ../shared/tests/smuggle_replay.py ]; then
	run_suite smuggle "$PY" tests/integration/smuggle.py --build build --shared ../shared/tests
fi

# testssl.sh against a TLS listener: nothing above LOW
if command -v testssl >/dev/null || command -v testssl.sh >/dev/null; then
	run_suite testssl python3 tests/integration/testssl_check.py --build build
fi

if [ "${BGPROXY_FUZZ:-1}" = 1 ] && command -v clang >/dev/null; then
	run_suite fuzz scripts/fuzz.sh "${BGPROXY_FUZZ_SECONDS:-30}"
fi

echo
[ "${#failures[@]}" -gt 0 ] && echo "failed suites: ${failures[*]} (logs in $logdir)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
