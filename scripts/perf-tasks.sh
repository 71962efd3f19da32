#!/usr/bin/env bash
# Benchmark (not a test) of the build-out at scale on PostgreSQL: a fresh database, the
# release server, a fixture of 1 000 PONs x 100 tasks created through the gRPC API, then the
# work queue of a crew organization and the task list of a PON at 32 requests in flight — once
# right after loading, then after VACUUM ANALYZE (the steady state autovacuum reaches) for the
# first page and for the whole answer in one page —
# then the SLA scan over all tasks run twice (the first counts the overdue tasks, the second is
# the steady state). Needs a PostgreSQL reachable at PERF_PG (default postgres@127.0.0.1:5432).
# PERF_FIXTURE_DUMP=file: when the file exists the fixture is restored from it (pg_restore)
# instead of being created (minutes); when it does not, the created fixture is dumped there.
# A fixture restored on a later day has more overdue tasks: measure the SLA scan on a fresh one.
# Usage: scripts/perf-tasks.sh [extra loadgen flags the script does not set, e.g. --seconds 20]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
cargo build --release --bin kasi-fiber --bin loadgen
port=${PERF_PORT:-18081}
dump=${PERF_FIXTURE_DUMP:-}
bench_pg_database
if [ -n "$dump" ] && [ -s "$dump" ]; then
  pg_restore --no-owner -d "$DATABASE_URL" "$dump"
  echo "== fixture restored from $dump"
  restored=yes
else
  bench_seed
  restored=
fi
bench_serve "$port"
measure() {
  "$bench_bin"/loadgen --addr "127.0.0.1:$port" --scenarios work-queue-grpc,list-tasks-grpc \
    --concurrency 32 --fixture-pons 1000 --fixture-tasks-per-pon 100 --fixture-queue-pons 10 "$@"
}
if [ -z "$restored" ]; then
  echo "== right after loading the fixture"
  measure "$@"
  if [ -n "$dump" ]; then
    pg_dump -Fc -d "$DATABASE_URL" -f "$dump"
  fi
fi
psql "$DATABASE_URL" -qc "VACUUM ANALYZE"
echo "== after VACUUM ANALYZE, first pages (the default page size, 50)"
measure "$@"
echo "== after VACUUM ANALYZE, whole answers (--page-size 500: the queue's 200 tasks, a PON's 100)"
measure --page-size 500 "$@"
bench_stop_server
psql "$DATABASE_URL" -qAtc "SELECT 'tasks in the database: ' || count(*) FROM tasks"
"$bench_bin"/kasi-fiber sla-scan
"$bench_bin"/kasi-fiber sla-scan
