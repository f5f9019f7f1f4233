#!/usr/bin/env bash
# Starts a local PostgreSQL cluster (Debian's packages) and makes sure the role and password that
# the tests use exist: postgres://meetgate:meetgate@127.0.0.1:5432/postgres.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not installed: apt-get install postgresql" >&2
  exit 1
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk '$1=="'"$version"'" && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'meetgate') THEN
    CREATE ROLE meetgate LOGIN SUPERUSER PASSWORD 'meetgate';
  END IF;
END
$$;
SQL
echo "PostgreSQL $version is running on 127.0.0.1:5432"
