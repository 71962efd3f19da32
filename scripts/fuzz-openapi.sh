#!/usr/bin/env bash
# REST fuzzing from our own OpenAPI document: schemathesis (PyPI) against the debug server on the
# embedded backends (a fresh DATA_DIR, the demo tenant seeded, the demo admin's token on every
# request), checking `not_a_server_error` and `response_schema_conformance`. Exits non-zero on
# any finding. .ci/run calls it after `cargo test`; it runs by hand the same way.
#
# Usage:   scripts/fuzz-openapi.sh             install the tools if needed, start a server, fuzz
#          scripts/fuzz-openapi.sh --install   only install the tools (prints the venv path)
#
# Environment:
#   KASI_FUZZ_VENV      venv with schemathesis and openapi-spec-validator
#                       (default: ${KASI_CI_CACHE:-$HOME/.cache/kasi-ci}/fuzz-venv)
#   KASI_FUZZ_BIN       server binary (default: target/debug/kasi-fiber, built when missing)
#   KASI_FUZZ_EXAMPLES  test cases per operation and phase (default 50)
#   KASI_FUZZ_SEED      random seed, so a finding can be replayed (default 20261205)
#   KASI_FUZZ_TIMEOUT   bound in seconds on the schemathesis run (default 600)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Pinned tool versions (bump deliberately).
SCHEMATHESIS_VERSION=4.32.5
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0

VENV="${KASI_FUZZ_VENV:-${KASI_CI_CACHE:-${HOME:-/root}/.cache/kasi-ci}/fuzz-venv}"
BIN="${KASI_FUZZ_BIN:-target/debug/kasi-fiber}"
EXAMPLES="${KASI_FUZZ_EXAMPLES:-50}"
SEED="${KASI_FUZZ_SEED:-20261205}"
TIMEOUT="${KASI_FUZZ_TIMEOUT:-600}"
JWT_SECRET_FOR_FUZZ="kasi-fuzz-$(date +%s)-$$"
ADMIN_EMAIL=admin@demo.kasifiber.test
ADMIN_PASSWORD=Kasi-Demo-2026

log() { printf '[fuzz %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
    printf '[fuzz] ERROR: %s\n' "$*" >&2
    exit 1
}

tools_ok() {
    [ -x "$VENV/bin/schemathesis" ] && [ -x "$VENV/bin/openapi-spec-validator" ] &&
        [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" = "schemathesis, version $SCHEMATHESIS_VERSION" ] &&
        "$VENV/bin/python" -c "import sys, importlib.metadata as m; sys.exit(m.version('openapi-spec-validator') != '$OPENAPI_SPEC_VALIDATOR_VERSION')" 2>/dev/null
}

install_tools() {
    if tools_ok; then
        log "schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION already in $VENV"
        return
    fi
    log "installing schemathesis==$SCHEMATHESIS_VERSION and openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION into $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" || /usr/bin/python3 -m venv "$VENV" ||
        die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install --disable-pip-version-check -q \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
    tools_ok || die "the fuzzing tools did not install correctly into $VENV"
}

install_tools
if [ "${1:-}" = "--install" ]; then
    echo "$VENV"
    exit 0
fi

if [ ! -x "$BIN" ]; then
    log "$BIN missing; cargo build"
    cargo build --bin kasi-fiber
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kasi-fuzz.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export DATA_DIR="$WORK/data" JWT_SECRET="$JWT_SECRET_FOR_FUZZ" DISABLE_SLA_SCAN=true LOG_LEVEL=warn
"$BIN" seed >"$WORK/seed.log" 2>&1 || {
    cat "$WORK/seed.log" >&2
    die "kasi-fiber seed failed"
}

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
LISTEN_ADDR="127.0.0.1:$PORT" "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + 60))
until curl -sf -o /dev/null --max-time 2 "$BASE/readyz"; do
    kill -0 "$SERVER_PID" 2>/dev/null || {
        tail -n 30 "$WORK/server.log" >&2
        die "the server exited while starting"
    }
    [ "$SECONDS" -lt "$deadline" ] || die "the server did not become ready on $BASE in 60 s"
    sleep 0.5
done
log "server ready on $BASE (pid $SERVER_PID, DATA_DIR $DATA_DIR)"

TOKEN=$(curl -sf --max-time 10 -X POST "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') ||
    die "could not log in as $ADMIN_EMAIL"

curl -sf --max-time 10 -o "$WORK/openapi.json" "$BASE/openapi.json" || die "GET /openapi.json failed"
"$VENV/bin/openapi-spec-validator" "$WORK/openapi.json" || die "/openapi.json is not a valid OpenAPI document"

log "schemathesis run $BASE/openapi.json (seed $SEED, $EXAMPLES examples per operation, 1 worker)"
set +e
(cd "$WORK" && timeout "$TIMEOUT" "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 \
    --request-timeout 10 --no-color)
status=$?
set -e
if [ "$status" -ne 0 ]; then
    if [ "$status" -eq 124 ]; then
        printf '[fuzz] ERROR: schemathesis did not finish within %ss\n' "$TIMEOUT" >&2
    fi
    log "last lines of the server log:"
    tail -n 40 "$WORK/server.log" >&2 || true
    die "schemathesis reported findings (exit $status); replay with KASI_FUZZ_SEED=$SEED"
fi
log "schemathesis: no findings"
