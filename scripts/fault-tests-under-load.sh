#!/usr/bin/env bash
# Runs the fault tests N times in a row (default 5) while `npm run bench -- --quick` loads the
# machine beside them, and stops at the first failure. Needs Kafka and ClickHouse up
# (`npm run infra:up`). Every loop is bounded: N runs, and at most N+1 bench runs of 10 min.
#
#   bash scripts/fault-tests-under-load.sh [N]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-5}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}" CLICKHOUSE_URL="${CLICKHOUSE_URL:-http://127.0.0.1:8123}" REQUIRE_INFRA=1
FAULT_TESTS=(test/batch-layer/batch-kill.test.ts test/integration/speed-layer-kafka-faults.test.ts test/serving-layer/degraded-clickhouse.test.ts)

done_flag="$(mktemp -u)"
bench_pid="$(mktemp)"
# timeout runs each bench in a process group of its own; a TERM to timeout reaches all of it.
(
  for _ in $(seq 1 $((runs + 1))); do
    [ -f "$done_flag" ] && break
    timeout 600 npm run bench -- --quick --no-report > /dev/null 2>&1 &
    echo $! > "$bench_pid"
    wait $!
  done
) &
load=$!

failed=0
for i in $(seq 1 "$runs"); do
  echo "=== run $i of $runs ($(date +%T))"
  if ! npx vitest run "${FAULT_TESTS[@]}"; then
    failed=1
    echo "=== run $i FAILED"
    break
  fi
done
touch "$done_flag"
kill -TERM "$(cat "$bench_pid")" 2> /dev/null
wait "$load" 2> /dev/null
rm -f "$done_flag" "$bench_pid"
[ "$failed" -eq 0 ] && echo "=== $runs runs in a row passed under load"
exit "$failed"
