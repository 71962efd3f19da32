#!/usr/bin/env bash
# Benchmark (not a test): the same loadgen scenarios against two server builds, alternating
# A, B, A, B… in one run (each round a fresh SQLite data dir, the server pinned to core 0 with
# one worker, loadgen from build B pinned to core 1; PERF_UNPINNED=1: both unpinned, the server
# with its default workers), to compare a change with the build before. Each run also passes
# the environment (e.g. HTTP2_ADAPTIVE_WINDOW) to both servers.
# Build A first, e.g.: git worktree add /tmp/wt-old <commit> && (cd /tmp/wt-old &&
#   CARGO_TARGET_DIR=/tmp/old-target cargo build --release --bin kasi-fiber)
# Usage: scripts/perf-ab.sh A_BIN_DIR B_BIN_DIR [rounds] [loadgen flags, default
#   --scenarios get-pon-grpc --concurrency 64 --seconds 10]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
a_bin=$1 b_bin=$2 rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--scenarios get-pon-grpc --concurrency 64 --seconds 10)
port=${PERF_PORT:-18084}
data=
trap 'bench_stop_server; [ -z "$data" ] || rm -rf "$data"' EXIT
export LOG_LEVEL=warn DISABLE_SLA_SCAN=true
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    if [ $side = A ]; then bench_bin=$a_bin; else bench_bin=$b_bin; fi
    data=$(mktemp -d)
    DATA_DIR="$data" bench_seed
    echo "== round $round, build $side ($bench_bin)"
    if [ "${PERF_UNPINNED:-0}" = 1 ]; then
      JWT_SECRET=$(bench_secret) DATA_DIR="$data" bench_serve "$port"
      "$b_bin"/loadgen --addr "127.0.0.1:$port" "${flags[@]}"
    else
      JWT_SECRET=$(bench_secret) TOKIO_WORKER_THREADS=1 DATA_DIR="$data" bench_serve "$port" 0
      taskset -c 1 "$b_bin"/loadgen --addr "127.0.0.1:$port" "${flags[@]}"
    fi
    bench_stop_server
    rm -rf "$data"
    data=
  done
done
