# Shared by the benchmark scripts (sourced, from the repository root): the load generator's
# account, random secrets, seeding, starting the release server and waiting until it is ready,
# and — for the PostgreSQL benchmarks — a fresh database that is dropped on exit.

bench_bin=${CARGO_TARGET_DIR:-target}/release
export LOADGEN_EMAIL=bench@perf.kasifiber.test LOADGEN_PASSWORD=Bench-Password-1

# 32 random bytes as hex (token and webhook secrets).
bench_secret() {
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# The benchmark admin, in the database the environment names.
bench_seed() {
  "$bench_bin"/kasi-fiber seed --admin-email "$LOADGEN_EMAIL" --admin-password "$LOADGEN_PASSWORD" >/dev/null
}

# bench_wait_ready PORT: until the server on PORT answers /readyz (10 s at most).
bench_wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server on port $1 is not ready after 10 s" >&2
  return 1
}

bench_server=
# bench_serve PORT [cpu list]: the release server in the background on the environment's
# settings (pinned with taskset when a cpu list is given), once ready.
bench_serve() {
  if [ -n "${2:-}" ]; then
    LISTEN_ADDR="127.0.0.1:$1" taskset -c "$2" "$bench_bin"/kasi-fiber serve &
  else
    LISTEN_ADDR="127.0.0.1:$1" "$bench_bin"/kasi-fiber serve &
  fi
  bench_server=$!
  bench_wait_ready "$1"
}

bench_stop_server() {
  if [ -n "$bench_server" ]; then
    kill "$bench_server" 2>/dev/null || true
    wait "$bench_server" 2>/dev/null || true
  fi
  bench_server=
}

bench_pg=${PERF_PG:-postgres@127.0.0.1:5432}
bench_db= bench_data=
# A fresh PostgreSQL database at PERF_PG (default postgres@127.0.0.1:5432) and data dir, named
# by the exported DATABASE_URL and DATA_DIR, with a fresh JWT_SECRET; on exit the server is
# stopped and both are removed.
bench_pg_database() {
  bench_db="kasi_perf_$(date +%s)_$$"
  bench_data=$(mktemp -d)
  psql "postgres://$bench_pg/postgres" -qc "CREATE DATABASE $bench_db" >/dev/null
  trap bench_pg_cleanup EXIT
  JWT_SECRET=$(bench_secret)
  export DATABASE_URL="postgres://$bench_pg/$bench_db" DATA_DIR="$bench_data" JWT_SECRET
  export LOG_LEVEL=warn DISABLE_SLA_SCAN=true
}

bench_pg_cleanup() {
  bench_stop_server
  psql "postgres://$bench_pg/postgres" -qc "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
  rm -rf "$bench_data"
}
