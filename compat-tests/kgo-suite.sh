#!/usr/bin/env bash
# Runs franz-go's own kgo test suite (its _test.go files, shipped in the
# module zip) against a real potok process: `make compat-full`.
#
# The module cache is read-only, so the module source is copied to a
# temporary directory and the test binary built there once. Each top-level
# test then runs on its own with a time limit (PER_TEST_TIMEOUT), so a test
# that waits forever for something Potok does not serve yet (groups,
# transactions) fails alone instead of ending the whole run. The suite
# reads KGO_SEEDS (the broker), KGO_TEST_RF (replication factor of the
# topics it creates; 1 on a single node) and KGO_TEST_RECORDS (records per
# produce/consume test; franz-go's default is 500000).
#
# Output: one line per test (PASS/FAIL/SKIP and seconds), the failures'
# last lines under $OUT/logs, and a summary line "N passed, N failed,
# N skipped". Exits 0 when the suite ran, whatever its results: the
# failures are the report (groups and transactions are not implemented).
#
# Environment: POTOK_BIN (default: build ../cmd/potok), FRANZ_VERSION,
# PER_TEST_TIMEOUT (default 90s), KGO_TEST_RECORDS (default franz-go's),
# RUN (a regexp of tests to run; default all), OUT (default a temp dir).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
FRANZ_VERSION="${FRANZ_VERSION:-v1.22.3}"
PER_TEST_TIMEOUT="${PER_TEST_TIMEOUT:-90s}"
if [ -n "${KGO_TEST_RECORDS:-}" ]; then export KGO_TEST_RECORDS; fi
export KGO_TEST_RF=1
export KGO_LOG_LEVEL="${KGO_LOG_LEVEL:-none}"
RUN="${RUN:-.}"

work="$(mktemp -d /tmp/potok-kgo-suite.XXXXXX)"
OUT="${OUT:-$work/out}"
mkdir -p "$OUT/logs"
potok_pid=""
cleanup() {
	if [ -n "$potok_pid" ]; then
		kill -TERM "$potok_pid" 2>/dev/null || true
		wait "$potok_pid" 2>/dev/null || true
	fi
	rm -rf "$work/franz-go" "$work/data"
}
trap cleanup EXIT

bin="${POTOK_BIN:-}"
if [ -z "$bin" ]; then
	bin="$work/potok"
	(cd "$root" && go build -o "$bin" ./cmd/potok)
fi

echo "== franz-go $FRANZ_VERSION: copying the module source and building its kgo tests"
src="$(cd "$here" && go mod download -json "github.com/twmb/franz-go@$FRANZ_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ] || [ ! -d "$src/pkg/kgo" ]; then
	echo "cannot find the franz-go $FRANZ_VERSION module source" >&2
	exit 1
fi
cp -r "$src" "$work/franz-go"
chmod -R u+w "$work/franz-go"
(cd "$work/franz-go/pkg/kgo" && GOFLAGS=-mod=mod go test -c -o "$work/kgo.test" .)

echo "== starting potok"
# Topics the suite creates name their partition counts; auto-creation stays
# on as in Kafka's defaults, since some tests produce to new topics.
# POTOK_* variables are broker settings to potok (POTOK_BIN would be "bin").
env -u POTOK_BIN "$bin" serve --listeners PLAINTEXT://127.0.0.1:0 --log-dirs "$work/data" \
	--set auto.create.topics.enable=true >"$OUT/potok.log" 2>&1 &
potok_pid=$!
port=""
for _ in $(seq 1 300); do
	port="$(sed -n 's/.*potok is ready.*listeners=PLAINTEXT:\/\/[^ ,]*:\([0-9]*\).*/\1/p' "$OUT/potok.log")"
	[ -n "$port" ] && break
	kill -0 "$potok_pid" 2>/dev/null || { cat "$OUT/potok.log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$port" ] || { echo "potok did not become ready" >&2; exit 1; }
export KGO_SEEDS="127.0.0.1:$port"
echo "   potok at $KGO_SEEDS, log $OUT/potok.log"

passed=0 failed=0 skipped=0
: >"$OUT/results.txt"
for t in $("$work/kgo.test" -test.list "$RUN" | grep '^Test'); do
	start=$(date +%s)
	set +e
	(cd "$work/franz-go/pkg/kgo" && timeout -k 10s "$(( ${PER_TEST_TIMEOUT%s} + 30 ))s" \
		"$work/kgo.test" -test.run "^${t}\$" -test.v -test.count=1 -test.timeout "$PER_TEST_TIMEOUT") >"$OUT/logs/$t.log" 2>&1
	rc=$?
	set -e
	secs=$(( $(date +%s) - start ))
	if grep -q "^--- SKIP: $t " "$OUT/logs/$t.log" && [ $rc -eq 0 ]; then
		status=SKIP; skipped=$((skipped + 1))
	elif [ $rc -eq 0 ]; then
		status=PASS; passed=$((passed + 1))
	else
		status=FAIL; failed=$((failed + 1))
	fi
	printf '%-4s %4ss %s\n' "$status" "$secs" "$t" | tee -a "$OUT/results.txt"
	if ! kill -0 "$potok_pid" 2>/dev/null; then
		echo "potok exited during $t; its log:" >&2
		tail -50 "$OUT/potok.log" >&2
		exit 1
	fi
done

summary="kgo suite: $passed passed, $failed failed, $skipped skipped"
echo
echo "failures (full logs in $OUT/logs):"
grep '^FAIL' "$OUT/results.txt" | while read -r _ _ t; do
	echo "--- $t"
	{ grep -E 'panic:|_test.go:[0-9]+:|timed out' "$OUT/logs/$t.log" | grep -v -E 'FAILED TESTING|does not support|completed in' | head -3 | sed 's/^/    /'; } || true
done || true
echo
echo "$summary"
