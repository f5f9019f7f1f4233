#!/usr/bin/env bash
# The whole test suite: every crate's tests on SQLite and, when MEETGATE_TEST_POSTGRES_URL names
# a server, on PostgreSQL (CI sets it and fails if the server is missing; locally the PostgreSQL
# tests print why they skip). Without the variable, a PostgreSQL server that is installed is
# started for the tests (scripts/start-postgres.sh). Then Schemathesis, the bench smoke run and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MEETGATE_TEST_POSTGRES_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  bash scripts/start-postgres.sh >/dev/null && export MEETGATE_TEST_POSTGRES_URL="postgres://meetgate:meetgate@127.0.0.1:55432/postgres"
fi
cargo test --workspace --locked

# Schemathesis (PyPI) against /openapi.json on `meetgate demo`: no 5xx, and every answer
# (status, content type, body) as documented. On SQLite, and on a new PostgreSQL database when
# there is a server.
bash scripts/schemathesis.sh
if [ -n "${MEETGATE_TEST_POSTGRES_URL:-}" ]; then
  schemathesis_db="meetgate_schemathesis_$(date +%s)_$$"
  psql "$MEETGATE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $schemathesis_db" >/dev/null
  SCHEMATHESIS_DATABASE_URL="${MEETGATE_TEST_POSTGRES_URL%/*}/$schemathesis_db" \
    SCHEMATHESIS_REPORT_DIR=target/schemathesis-postgres bash scripts/schemathesis.sh
  psql "$MEETGATE_TEST_POSTGRES_URL" -qc "DROP DATABASE $schemathesis_db" >/dev/null
fi

# The benchmark harness, small and on debug builds: it checks counts (one refresh per expired
# grant, no invalid_grant, one meeting at the sandbox per 201), never timings.
cargo build -p meetgate -p meetgate-bench --locked
bench_backends=sqlite
[ -n "${MEETGATE_TEST_POSTGRES_URL:-}" ] && bench_backends=sqlite,postgres
target/debug/meetgate-bench --smoke --backends "$bench_backends" --out target/bench-smoke \
  ${MEETGATE_TEST_POSTGRES_URL:+--postgres-admin-url "$MEETGATE_TEST_POSTGRES_URL"}

# The web app in a real browser: headless Chromium (Debian's package, never a downloaded one)
# driven by Playwright against `meetgate demo`. CI must run them; elsewhere a missing browser or
# node is said and skipped.
browser_tests() {
  local missing=()
  command -v node >/dev/null 2>&1 || missing+=("node (apt-get install nodejs npm)")
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=("chromium (apt-get install chromium)")
  if [ ${#missing[@]} -gt 0 ]; then
    if [ -n "${CI:-}" ]; then
      echo "browser tests cannot run, missing: ${missing[*]}" >&2
      return 1
    fi
    echo "skipping the browser tests, missing: ${missing[*]}"
    return 0
  fi
  cargo build -p meetgate --locked
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    npm ci --prefix tests/browser --no-audit --no-fund
  fi
  (cd tests/browser && node --test --test-concurrency=1)
}
browser_tests
