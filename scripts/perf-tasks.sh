#!/usr/bin/env bash
# Benchmark (not a test) of the build-out at scale on PostgreSQL: a fresh database, the
# release server, a fixture of 1 000 PONs x 100 tasks created through the gRPC API, then the
# work queue of a crew organization and the task list of a PON at 32 requests in flight — once
# right after loading, then after VACUUM ANALYZE (the steady state autovacuum reaches) for the
# first page and for the whole answer in one page —
# then the SLA scan over all tasks run twice (the first counts the overdue tasks, the second is
# the steady state). Needs a PostgreSQL reachable at PERF_PG (default postgres@127.0.0.1:5432).
# Usage: scripts/perf-tasks.sh [extra loadgen flags the script does not set, e.g. --seconds 20]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin kasi-fiber --bin loadgen
pg=${PERF_PG:-postgres@127.0.0.1:5432}
db="kasi_perf_$(date +%s)_$$"
port=${PERF_PORT:-18081}
data=$(mktemp -d)
psql "postgres://$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  psql "postgres://$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -rf "$data"
}
trap cleanup EXIT
export DATABASE_URL="postgres://$pg/$db" DATA_DIR="$data" LOG_LEVEL=warn DISABLE_SLA_SCAN=true
export LOADGEN_EMAIL=bench@perf.kasifiber.test LOADGEN_PASSWORD=Bench-Password-1
export JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
target/release/kasi-fiber seed --admin-email "$LOADGEN_EMAIL" --admin-password "$LOADGEN_PASSWORD" >/dev/null
LISTEN_ADDR="127.0.0.1:$port" target/release/kasi-fiber serve &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
measure() {
  target/release/loadgen --addr "127.0.0.1:$port" --scenarios work-queue-grpc,list-tasks-grpc \
    --concurrency 32 --fixture-pons 1000 --fixture-tasks-per-pon 100 --fixture-queue-pons 10 "$@"
}
echo "== right after loading the fixture"
measure "$@"
psql "$DATABASE_URL" -qc "VACUUM ANALYZE"
echo "== after VACUUM ANALYZE, first pages (the default page size, 50)"
measure "$@"
echo "== after VACUUM ANALYZE, whole answers (--page-size 500: the queue's 200 tasks, a PON's 100)"
measure --page-size 500 "$@"
kill "$server" && wait "$server" 2>/dev/null || true
server=
psql "$DATABASE_URL" -qAtc "SELECT 'tasks in the database: ' || count(*) FROM tasks"
target/release/kasi-fiber sla-scan
target/release/kasi-fiber sla-scan
