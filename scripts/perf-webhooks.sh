#!/usr/bin/env bash
# Benchmark (not a test) of NMS webhook ingest on PostgreSQL + Redis: a fresh database, the
# release server with an HMAC secret, then signed Zabbix alerts from `loadgen` at 32 in flight:
# first a storm of 10 000 alerts over 50 devices (the script then counts the open incidents it
# left: it must be exactly 50), then sustained ingest for a fixed time (almost all repeats: the
# dedup path). Needs PostgreSQL at PERF_PG (default postgres@127.0.0.1:5432) and Redis at
# PERF_REDIS (default redis://127.0.0.1:6379/3).
# Usage: scripts/perf-webhooks.sh [loadgen flags for the sustained run, e.g. --seconds 20]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
cargo build --release --bin kasi-fiber --bin loadgen
port=${PERF_PORT:-18083}
bench_pg_database
secret=$(bench_secret)
export REDIS_URL=${PERF_REDIS:-redis://127.0.0.1:6379/3}
export NMS_HMAC_SECRET="$secret" LOADGEN_WEBHOOK_SECRET="$secret" WEBHOOK_IP_LIMIT=1000000000
bench_seed
bench_serve "$port"
alerts() {
  "$bench_bin"/loadgen --addr "127.0.0.1:$port" --scenarios webhook-zabbix --concurrency 32 \
    --alert-devices 50 "$@"
}
open_incidents() {
  psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM incidents WHERE nms_source = 'Zabbix' AND status = 'open'"
}
echo "== storm: 10 000 alerts for 50 devices"
alerts --requests 10000 --seconds 600 --warmup-seconds 0
echo "open incidents after the storm: $(open_incidents) (must be 50)"
echo "== sustained ingest"
alerts "$@"
echo "open incidents after both runs: $(open_incidents) (100: a new run id per loadgen run)"
