#!/usr/bin/env bash
# Benchmark (not a test): release build, the server pinned to core 0 on its embedded
# backends (SQLite), the load generator pinned to core 1, loopback only. Prints idle RSS
# and, per scenario, req/s with p50/p99/p999, then the ratios measured in the same run.
# Usage: scripts/perf.sh [loadgen flags, e.g. --seconds 20 --concurrency 64]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin kasi-fiber --bin loadgen
port=${PERF_PORT:-18080}
data=$(mktemp -d)
export LOADGEN_EMAIL=bench@perf.kasifiber.test LOADGEN_PASSWORD=Bench-Password-1
DATA_DIR="$data" LOG_LEVEL=warn target/release/kasi-fiber seed \
  --admin-email "$LOADGEN_EMAIL" --admin-password "$LOADGEN_PASSWORD" >/dev/null
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
TOKIO_WORKER_THREADS=${SERVER_THREADS:-1} LOG_LEVEL=warn DATA_DIR="$data" LISTEN_ADDR="127.0.0.1:$port" \
  taskset -c 0 target/release/kasi-fiber serve &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 2
echo "server idle RSS: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$server/status)"
taskset -c 1 target/release/loadgen --addr "127.0.0.1:$port" "$@"
echo "server RSS after load: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$server/status)"
