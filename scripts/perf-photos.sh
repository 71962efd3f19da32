#!/usr/bin/env bash
# Benchmark (not a test) of photo uploads: one 4 MiB JPEG through the three upload paths (gRPC
# stream, REST multipart, presigned PUT + register), bounded by request count, first on the
# embedded defaults (SQLite and the local object store in a fresh data dir), then — when S3
# settings are given — on SQLite and that S3 server with a fresh bucket (removed afterwards when
# the aws CLI is at hand). Release build; server and loadgen unpinned on loopback.
# S3 settings: S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY as the server reads them, or
# else CI's KASI_TEST_S3_* (`source ~/.cache/kasi-ci/test-env.sh`).
# Usage: [PERF_REQUESTS=300] [PERF_CONCURRENCY=4] scripts/perf-photos.sh [other loadgen flags,
# e.g. --warmup-seconds 5 --connections 2; not those set below, which clap refuses twice]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
cargo build --release --bin kasi-fiber --bin loadgen
s3_endpoint=${S3_ENDPOINT:-${KASI_TEST_S3_ENDPOINT:-}}
s3_region=${S3_REGION:-${KASI_TEST_S3_REGION:-us-east-1}}
s3_access_key=${S3_ACCESS_KEY:-${KASI_TEST_S3_ACCESS_KEY:-}}
s3_secret_key=${S3_SECRET_KEY:-${KASI_TEST_S3_SECRET_KEY:-}}
# The server reads these itself; each run below sets only what it means to use.
unset S3_ENDPOINT S3_REGION S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_CREATE_BUCKET DATABASE_URL REDIS_URL
port=${PERF_PORT:-18082}
# RegisterPhoto is a heavy write (240 a minute per organization by default), which the presigned
# scenario exceeds; a limit this high keeps the check on the path without refusing.
export LOG_LEVEL=warn DISABLE_SLA_SCAN=true HEAVY_ORG_LIMIT=1000000000
JWT_SECRET=$(bench_secret)
export JWT_SECRET
data= bucket=
stop_server() {
  bench_stop_server
  if [ -n "$data" ]; then rm -rf "$data"; fi
  data=
}
remove_bucket() {
  if command -v aws >/dev/null; then
    AWS_ACCESS_KEY_ID=$s3_access_key AWS_SECRET_ACCESS_KEY=$s3_secret_key \
      aws --endpoint-url "$s3_endpoint" --region "$s3_region" s3 rb "s3://$bucket" --force >/dev/null
  else
    echo "no aws CLI: bucket $bucket is left on $s3_endpoint" >&2
  fi
  bucket=
}
trap 'stop_server; [ -z "$bucket" ] || remove_bucket' EXIT
# The three scenarios against a fresh data dir, with the server's settings from the environment.
measure() {
  data=$(mktemp -d)
  DATA_DIR="$data" bench_seed
  DATA_DIR="$data" bench_serve "$port"
  "$bench_bin"/loadgen --addr "127.0.0.1:$port" \
    --scenarios upload-grpc,upload-multipart,upload-presigned \
    --concurrency "${PERF_CONCURRENCY:-4}" --requests "${PERF_REQUESTS:-300}" --seconds 600 "$@"
  if [ -d "$data/objects/photos" ]; then
    echo "local object store after the run: $(du -sh "$data/objects/photos" | cut -f1)"
  fi
  stop_server
}
echo "== embedded: SQLite, local object store"
measure "$@"
if [ -z "$s3_endpoint" ]; then
  echo "== S3: skipped (no S3_ENDPOINT or KASI_TEST_S3_ENDPOINT)"
  exit 0
fi
bucket="kasi-perf-$(date +%s)-$$"
echo "== S3: SQLite, bucket $bucket at $s3_endpoint"
S3_ENDPOINT=$s3_endpoint S3_REGION=$s3_region S3_ACCESS_KEY=$s3_access_key \
  S3_SECRET_KEY=$s3_secret_key S3_BUCKET=$bucket S3_CREATE_BUCKET=true measure "$@"
