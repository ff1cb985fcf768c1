#!/usr/bin/env bash
# gotest.sh ARGS... runs `go test ARGS...`, keeps its whole output in
# $TEST_LOG (default: artifacts/go-test.log) and, if it fails, ends with a
# digest of the failure: the failed tests and packages, and for a panic or
# a test timeout its "running tests" list and the stacks of the goroutines
# that were in this module's or hashicorp/raft's code. CI shows the end of
# a run's output, where a timeout's goroutine dump would otherwise bury
# which test hung and where.
set -uo pipefail
cd "$(dirname "$0")/.."

log=${TEST_LOG:-artifacts/go-test.log}
mkdir -p "$(dirname "$log")"

${GO:-go} test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
((rc == 0)) && exit 0

{
  echo
  echo "=== failure digest (go test exited $rc; whole output in $log) ==="
  # A goroutine dump is blocks of "goroutine N [state, minutes]:" followed
  # by frame lines, separated by blank lines. Print, one line each, the
  # goroutines that were running a test file's code, innermost call first:
  # where a hung test waits.
  echo "--- goroutines in test code (innermost call first):"
  awk 'BEGIN {RS = ""; FS = "\n"}
       /^goroutine [0-9]+ \[/ && /_test\.go:/ {
         line = $1; sep = " "
         for (i = 2; i <= NF; i++) {
           if ($i ~ /^(FAIL|ok|exit status|---)/) break # the package summary after the dump
           if ($i ~ /^\t/ || $i ~ /^created by /) continue
           f = $i
           sub(/\(0x[^)]*\)$|\(\.\.\.\)$|\(\)$/, "", f)
           n = split(f, parts, "/")
           line = line sep parts[n]; sep = " < "
         }
         print line
       }' "$log" | head -n "${DIGEST_GOROUTINES:-40}"
  grep -E '^(--- FAIL|FAIL|panic:)' "$log"
  # A panic's or timeout's "running tests:" list: tab-indented lines after it.
  awk '/^[[:space:]]*running tests:/ {on = 1; print; next}
       on && /^\t/ {print; next}
       {on = 0}' "$log"
} 2>/dev/null
exit "$rc"
