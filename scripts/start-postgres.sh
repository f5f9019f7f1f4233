#!/usr/bin/env bash
# Starts the PostgreSQL server that meetgate's tests and benchmarks use: a cluster of its own
# (Debian's PostgreSQL binaries, initdb), in its own directory, on its own port, reachable as
#   postgres://meetgate:meetgate@127.0.0.1:55432/postgres
# It never touches the system's cluster: a cluster left large, or interrupted, by earlier runs on
# the machine cannot slow down or break this one (its crash recovery once outlasted pg_ctl's wait).
#
#   scripts/start-postgres.sh           start it (create it first if needed); reuse what is there
#   scripts/start-postgres.sh --fresh   throw away any earlier cluster first (CI does this)
#
# MEETGATE_PG_PORT and MEETGATE_PG_DATA change the port and the directory. Everything in the
# cluster is test data: databases left behind by earlier runs are dropped at every start.
set -euo pipefail
port=${MEETGATE_PG_PORT:-55432}
data=${MEETGATE_PG_DATA:-/tmp/meetgate-postgres/$port}
fresh=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    *) echo "usage: $0 [--fresh]" >&2; exit 2 ;;
  esac
done

version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
bin=/usr/lib/postgresql/$version/bin
if [ -z "$version" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL's server is not installed: apt-get install postgresql" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner=$(id -un)
  as_owner() { "$@"; }
fi
pg_ctl() { as_owner "$bin/pg_ctl" -D "$data" "$@"; }

log="$data.log"
mkdir -p "$(dirname "$data")"
[ "$(id -u)" = 0 ] && chown "$owner" "$(dirname "$data")"

answering() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; }

# Stops the server of this directory, if one runs. Its postmaster.pid outlives it (a machine
# restarted, a zombie that nobody reaped in a container whose first process does not) and would
# keep a new server from starting; after a restart, its PID may even belong to another process,
# which must not be signalled. So only a live process running on this directory is stopped.
ours_running() {
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
    ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$data"
}

stop_any() {
  [ -f "$data/postmaster.pid" ] || return 0
  local pid
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || pid=
  if ours_running "$pid"; then
    pg_ctl stop -m immediate -t 10 -s >/dev/null 2>&1 || true
  fi
  ours_running "$pid" || rm -f "$data/postmaster.pid"
}

throw_away() {
  stop_any
  rm -rf "$data" "$log"
}

create() {
  local pwfile
  pwfile=$(mktemp)
  echo meetgate >"$pwfile"
  [ "$(id -u)" = 0 ] && chown "$owner" "$pwfile"
  as_owner "$bin/initdb" -D "$data" -U meetgate --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  make_certificates
  cat >>"$data/postgresql.conf" <<CONF
# scripts/start-postgres.sh
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
ssl = on
CONF
}

# TLS as a production server has it: a private CA, and a certificate it signed for 127.0.0.1 and
# localhost. server.crt holds both (the chain); a test reads it over SQL (pg_read_file) to verify
# the server with sslmode=verify-full. Clients that leave sslmode alone get TLS too ("prefer").
make_certificates() {
  local dir
  dir=$(mktemp -d)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=meetgate test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >"$dir/ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/ext" -out "$dir/leaf.crt" 2>/dev/null
  cat "$dir/leaf.crt" "$dir/ca.crt" >"$data/server.crt"
  install -m 600 "$dir/server.key" "$data/server.key"
  [ "$(id -u)" = 0 ] && chown "$owner" "$data/server.crt" "$data/server.key"
  rm -rf "$dir"
}

start() {
  pg_ctl -l "$log" -w -t 120 -s start
}

[ "$fresh" = 1 ] && throw_away
if ! answering; then
  stop_any
  [ -f "$data/PG_VERSION" ] || { throw_away; create; }
  if ! start; then
    # A test cluster holds nothing worth a repair: start over.
    echo "the cluster in $data did not start (log: $log); creating a new one" >&2
    throw_away
    create
    start
  fi
fi

url="postgres://meetgate:meetgate@127.0.0.1:$port/postgres"
# Databases made by earlier test runs, Schemathesis runs and benchmarks (a test that fails
# midway cannot drop its own), so that the cluster does not grow run after run. A database still
# in use (a benchmark running now) refuses to be dropped and stays.
leftovers=$("$bin/psql" "$url" -XAtqc "SELECT datname FROM pg_database WHERE datname ~ '^meetgate_(test|bench|schemathesis)_'")
for db in $leftovers; do
  "$bin/psql" "$url" -Xqc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
done
echo "PostgreSQL $version is running: $url"
