#!/usr/bin/env bash
# The whole test suite: every crate's tests on SQLite and, when MEETGATE_TEST_POSTGRES_URL names
# a server, on PostgreSQL (CI sets it and fails if the server is missing; locally the PostgreSQL
# tests print why they skip). Then the browser tests and the bench smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MEETGATE_TEST_POSTGRES_URL:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  bash scripts/start-postgres.sh >/dev/null && export MEETGATE_TEST_POSTGRES_URL="postgres://meetgate:meetgate@127.0.0.1:5432/postgres"
fi
cargo test --workspace --locked
