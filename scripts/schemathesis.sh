#!/usr/bin/env bash
# Schemathesis against meetgate's own OpenAPI document, on a running `meetgate demo` (SQLite and
# the built-in sandbox): generated requests for every operation, with the demo's API key, must
# never get a 5xx and every answer must match the document (status code, content type, body).
# Exits non-zero on any failure. Installs Schemathesis from PyPI if it is missing.
#
# Before the run, two demo users connect their Zoom accounts through the sandbox's consent page
# (the real OAuth flow, scripted) and a few meetings and a webhook endpoint are created, so that
# the generated requests reach the success paths too: their ids and a handful of valid values
# (meeting types, time zones, return URLs) are given to Schemathesis as dictionaries that it
# mixes into the generated data.
#
#   SCHEMATHESIS_MAX_EXAMPLES  examples per operation and phase (default 40)
#   SCHEMATHESIS_SEED          the random seed (default fixed, so CI runs are repeatable)
#   SCHEMATHESIS_REPORT_DIR    where the JUnit report goes (default target/schemathesis)
#   SCHEMATHESIS_DATABASE_URL  an empty database for the demo instead of a fresh SQLite file
#                              (scripts/test.sh passes a new PostgreSQL database)
# Arguments are passed on to `schemathesis run` (e.g. `--report junit,har`, `--max-examples 200`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
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
work_dir=$(mktemp -d)
demo_pid=
cleanup() {
  local status=$?
  if [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null; then
    wait "$demo_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work_dir/demo.log" ]; then
    echo "--- meetgate demo log (last 40 lines) ---" >&2
    tail -n 40 "$work_dir/demo.log" >&2
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT

target/debug/meetgate --data-dir "$work_dir/data" \
  ${SCHEMATHESIS_DATABASE_URL:+--database-url "$SCHEMATHESIS_DATABASE_URL"} demo --listen "127.0.0.1:$port" \
  --sandbox-listen "127.0.0.1:$sandbox_port" >"$work_dir/demo.out" 2>"$work_dir/demo.log" &
demo_pid=$!
ready=
for _ in $(seq 1 120); do
  if [ -f "$work_dir/data/demo.json" ] && python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$demo_pid" 2>/dev/null || { echo "meetgate demo exited" >&2; exit 1; }
  sleep 0.5
done
[ -n "$ready" ] || { echo "meetgate demo not ready after 60 s" >&2; exit 1; }

# Seed the demo through the API and the sandbox's consent page, and write the configuration
# (dictionaries of known-good values and ids) into the work directory.
python3 - "$work_dir/data/demo.json" "$work_dir/schemathesis.toml" "$work_dir/api_key" <<'PY'
import http.cookiejar, json, re, sys, urllib.error, urllib.parse, urllib.request

demo = json.load(open(sys.argv[1]))
base, key = demo["meetgate_url"], demo["api_key"]
jar = http.cookiejar.CookieJar()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def fetch(method, url, body=None, form=None, api=False):
    headers, data = {}, None
    if api:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with browser.open(request, timeout=20) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def api(method, path, body=None, expect=(200, 201)):
    status, _, text = fetch(method, base + path, body=body, api=True)
    if status not in expect:
        sys.exit(f"seeding: {method} {path} answered {status}: {text}")
    return json.loads(text) if text else None


def connect(user, email):
    """The browser's part of connecting: meetgate's link, the consent page, the callback."""
    session = api("POST", "/v1/connect-sessions", {"user": user, "return_url": base + "/"})
    fetch("GET", session["connect_url"])
    status, headers, _ = fetch("GET", session["connect_url"] + "/go")
    authorize = headers.get("Location")
    status, _, page = fetch("GET", authorize)
    txn = re.search(r'name="txn" value="([^"]+)"', page)
    if status != 200 or not txn:
        sys.exit(f"seeding: no consent form at {authorize} ({status})")
    consent = urllib.parse.urljoin(authorize, "authorize")
    form = {"txn": txn.group(1), "email": email, "password": "sandbox", "decision": "allow"}
    status, headers, _ = fetch("POST", consent, form=form)
    callback = headers.get("Location") or ""
    status, headers, text = fetch("GET", callback)
    if "meetgate_status=connected" not in (headers.get("Location") or ""):
        sys.exit(f"seeding: connecting {user} failed at {callback} ({status}): {headers.get('Location')} {text[:300]}")
    if api("GET", f"/v1/users/{user}/connection")["state"] != "connected":
        sys.exit(f"seeding: {user} is not connected")


# `st-ada` stays connected for the whole run; `st-grace` is the one DELETE .../connection may end.
connect("st-ada", "dr.ada@riverside.example")
connect("st-grace", "dr.grace@riverside.example")
meetings = [
    api("POST", "/v1/users/st-ada/meetings", {"type": "instant", "topic": "Schemathesis"}),
    api("POST", "/v1/users/st-ada/meetings",
        {"type": "scheduled", "start_time": "2030-01-07T15:00:00Z", "timezone": "Europe/Berlin", "duration": 45}),
    api("POST", "/v1/users/st-ada/meetings",
        {"type": "recurring", "start_time": "2030-01-07T15:00:00Z", "timezone": "America/New_York",
         "recurrence": {"type": "weekly", "weekly_days": [2, 4], "end_times": 6}}),
    api("POST", "/v1/users/st-grace/meetings", {"type": "instant"}),
]
# DELETE gets meetings and an endpoint of its own, so that the others stay for the other operations.
deletable = [api("POST", "/v1/users/st-ada/meetings", {"type": "instant"}) for _ in range(3)]
occurrences = [o["occurrence_id"] for m in meetings for o in (m.get("occurrences") or [])][:3]
endpoints = [
    api("POST", "/v1/webhook-endpoints", {"url": "https://events.example/meetgate-events", "event_types": ["meeting.created"]}),
    api("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example/meetgate", "description": "deletable"}),
]
# An event, so that the first endpoint has deliveries to list.
api("POST", "/v1/users/st-ada/meetings", {"type": "instant"})
open(sys.argv[3], "w").write(key)


def toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


dictionaries = {
    "users": ["st-ada"],
    "any_users": ["st-ada", "st-grace", "never-connected"],
    "disconnectable_users": ["st-grace", "never-connected"],
    "meetings": [m["id"] for m in meetings],
    "deletable_meetings": [m["id"] for m in deletable],
    "endpoints": [endpoints[0]["id"]],
    "deletable_endpoints": [endpoints[1]["id"]],
    "return_urls": [base + "/", base + "/zoom/done"],
    "meeting_types": ["instant", "scheduled", "recurring"],
    "recurrence_types": ["daily", "weekly", "monthly"],
    "times": ["2030-03-04T15:00:00Z", "2030-03-04T09:30:00+01:00", "2020-01-01T00:00:00Z"],
    "timezones": ["Europe/Berlin", "America/New_York", "UTC"],
    "recordings": ["none", "local", "cloud"],
    "urls": ["http://127.0.0.1:9/meetgate-events", "https://hooks.example/meetgate"],
    "event_types": ["meeting.created", "meeting.started", "connection.revoked"],
    "windows": ["upcoming", "past", "all"],
    "occurrences": occurrences or ["1"],
    "hosts": ["dr.ada@riverside.example", "me"],
}
lines = ["[cache]", "enabled = false", ""]
for name, values in dictionaries.items():
    lines += [f"[dictionaries.{name}]", f"values = {toml_list(values)}", ""]


def binding(name, probability):
    return f'{{ dictionary = "{name}", probability = {probability} }}'


lines += [
    "[parameters]",
    f'"path.user" = {binding("users", 0.6)}',
    f'"body.user" = {binding("any_users", 0.5)}',
    f'"body.return_url" = {binding("return_urls", 0.7)}',
    f'"body.return_urls[*]" = {binding("return_urls", 0.9)}',
    f'"body.type" = {binding("meeting_types", 0.7)}',
    f'"body.recurrence.type" = {binding("recurrence_types", 0.7)}',
    f'"body.start_time" = {binding("times", 0.6)}',
    f'"body.timezone" = {binding("timezones", 0.6)}',
    f'"body.settings.auto_recording" = {binding("recordings", 0.7)}',
    f'"body.host" = {binding("hosts", 0.5)}',
    f'"body.url" = {binding("urls", 0.7)}',
    f'"body.event_types[*]" = {binding("event_types", 0.8)}',
    f'"query.window" = {binding("windows", 0.7)}',
    f'"query.occurrence_id" = {binding("occurrences", 0.3)}',
    f'"query.host" = {binding("hosts", 0.5)}',
    "",
    # Disconnecting: the user who may be disconnected, or one who never connected.
    "[[operations]]",
    'include-name = "DELETE /v1/users/{user}/connection"',
    f'parameters = {{ "path.user" = {binding("disconnectable_users", 0.7)} }}',
    "",
]
for names, dictionary in [
    (["GET /v1/meetings/{id}", "PATCH /v1/meetings/{id}", "GET /v1/meetings/{id}/start"], "meetings"),
    (["DELETE /v1/meetings/{id}"], "deletable_meetings"),
    (["GET /v1/webhook-endpoints/{id}/deliveries"], "endpoints"),
    (["DELETE /v1/webhook-endpoints/{id}"], "deletable_endpoints"),
]:
    lines += [
        "[[operations]]",
        f"include-name = {toml_list(names)}",
        f'parameters = {{ "path.id" = {binding(dictionary, 0.8)} }}',
        "",
    ]
open(sys.argv[2], "w").write("\n".join(lines))
PY

# Run from the work directory: Schemathesis and Hypothesis keep their state (`.schemathesis`,
# `.hypothesis`) in the current directory, which must not be the repository.
report_dir=${SCHEMATHESIS_REPORT_DIR:-target/schemathesis}
case $report_dir in /*) ;; *) report_dir="$root/$report_dir" ;; esac
mkdir -p "$report_dir"
cd "$work_dir"
run() {
  local name=$1
  shift
  echo
  echo "== schemathesis: $name"
  schemathesis --config-file "$work_dir/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $(cat "$work_dir/api_key")" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" \
    --workers 2 \
    --seed "${SCHEMATHESIS_SEED:-20261128}" \
    --request-timeout 20 \
    --generation-database none \
    --report junit --report-dir "$report_dir" --report-junit-path "$report_dir/junit-$name.xml" \
    --no-color \
    "$@"
}
# Two runs: everything but DELETE first, then the DELETEs, so that a generated DELETE cannot end
# the connection or remove the meetings the other operations are tested on (Schemathesis reuses
# ids it has seen in answers).
failed=0
run read-write --exclude-method DELETE "$@" || failed=1
run delete --include-method DELETE "$@" || failed=1
exit "$failed"
