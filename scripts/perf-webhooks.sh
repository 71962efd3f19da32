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
cargo build --release --bin kasi-fiber --bin loadgen
pg=${PERF_PG:-postgres@127.0.0.1:5432}
db="kasi_perf_$(date +%s)_$$"
port=${PERF_PORT:-18083}
data=$(mktemp -d)
psql "postgres://$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  psql "postgres://$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -rf "$data"
}
trap cleanup EXIT
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export DATABASE_URL="postgres://$pg/$db" REDIS_URL=${PERF_REDIS:-redis://127.0.0.1:6379/3}
export DATA_DIR="$data" LOG_LEVEL=warn DISABLE_SLA_SCAN=true
export NMS_HMAC_SECRET="$secret" LOADGEN_WEBHOOK_SECRET="$secret" WEBHOOK_IP_LIMIT=1000000000
export LOADGEN_EMAIL=bench@perf.kasifiber.test LOADGEN_PASSWORD=Bench-Password-1
export JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
target/release/kasi-fiber seed --admin-email "$LOADGEN_EMAIL" --admin-password "$LOADGEN_PASSWORD" >/dev/null
LISTEN_ADDR="127.0.0.1:$port" target/release/kasi-fiber serve &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
alerts() {
  target/release/loadgen --addr "127.0.0.1:$port" --scenarios webhook-zabbix --concurrency 32 \
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
