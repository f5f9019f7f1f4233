#!/usr/bin/env bash
# Schemathesis against meetgate's own OpenAPI document, on a running `meetgate demo` (SQLite and
# the built-in sandbox): generated requests for every operation, with the demo's API key, must
# never get a 5xx and every answer must match the document (status code, content type, body).
# Exits non-zero on any failure. Installs Schemathesis from PyPI if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SCHEMATHESIS_VERSION=4.32.5

# Run through the interpreter, so that pip's script directory need not be on PATH.
schemathesis() { python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "schemathesis"; sys.exit(schemathesis())' "$@"; }
if ! schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build -p meetgate --locked
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
sandbox_port=$(free_port)
data_dir=$(mktemp -d)
demo_pid=
cleanup() {
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
  rm -rf "$data_dir"
}
trap cleanup EXIT

target/debug/meetgate --data-dir "$data_dir" demo --listen "127.0.0.1:$port" \
  --sandbox-listen "127.0.0.1:$sandbox_port" >"$data_dir/demo.out" 2>"$data_dir/demo.log" &
demo_pid=$!
for _ in $(seq 1 120); do
  [ -f "$data_dir/demo.json" ] && python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$demo_pid" 2>/dev/null || { cat "$data_dir/demo.log" >&2; exit 1; }
  sleep 0.5
done
api_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_key"])' "$data_dir/demo.json")

# `positive` and `negative` data for every operation; a bounded number of examples keeps the run
# to a few minutes on 2 cores. The checks: no 5xx, documented status codes, content types and
# bodies.
schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $api_key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --workers 2 \
  --seed "${SCHEMATHESIS_SEED:-20261128}" \
  --request-timeout 20 \
  --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-target/schemathesis}" \
  --warnings off
