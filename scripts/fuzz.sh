#!/usr/bin/env bash
# Build the libFuzzer harnesses (clang, ASan+UBSan) and run each for N seconds
# (default 30).  Prints "N passed, N failed": a harness passes when it ran
# its time without a crash, leak or sanitizer report.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C build-fuzz >/dev/null || { echo "fuzz build failed"; echo "0 passed, 1 failed"; exit 1; }
passed=0; failed=0
for h in build-fuzz/tests/fuzz_*; do
	[ -f "$h" ] && [ -x "$h" ] || continue
	name=$(basename "$h")
	corpus=$(mktemp -d)
	seeds="tests/fuzz/corpus/${name#fuzz_}"
	[ -d "$seeds" ] && cp "$seeds"/* "$corpus"/ 2>/dev/null
	if UBSAN_OPTIONS=halt_on_error=1 "$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    "$corpus" >"$corpus.log" 2>&1; then
		echo "ok $name ($(grep -c . "$corpus.log") log lines)"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		tail -n 40 "$corpus.log"
		failed=$((failed + 1))
	fi
	rm -rf "$corpus" "$corpus.log"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
