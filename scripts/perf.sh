#!/usr/bin/env bash
# Benchmark (not a test): release build, the server pinned to core 0 on its embedded
# backends (SQLite), the load generator pinned to core 1, loopback only. Prints idle RSS
# and, per scenario, req/s with p50/p99/p999, then the ratios measured in the same run.
# Usage: scripts/perf.sh [loadgen flags, e.g. --seconds 20 --concurrency 64]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
cargo build --release --bin kasi-fiber --bin loadgen
port=${PERF_PORT:-18080}
data=$(mktemp -d)
trap 'bench_stop_server; rm -rf "$data"' EXIT
DATA_DIR="$data" LOG_LEVEL=warn bench_seed
JWT_SECRET=$(bench_secret) TOKIO_WORKER_THREADS=${SERVER_THREADS:-1} LOG_LEVEL=warn DATA_DIR="$data" \
  bench_serve "$port" 0
sleep 2
echo "server idle RSS: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$bench_server/status)"
taskset -c 1 "$bench_bin"/loadgen --addr "127.0.0.1:$port" "$@"
echo "server RSS after load: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$bench_server/status)"
