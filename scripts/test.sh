#!/usr/bin/env bash
# Set up everything, then run the whole test suite (unit, integration, e2e). Integration tests
# need RabbitMQ and fail — never skip — without it. pytest's "no tests collected" (exit 5) fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh || exit $?

# The PostgreSQL journal's tests need a database: start a local cluster that is stopped.
PG_URL="${GATEWAY_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"
pg_up() { .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$PG_URL" >/dev/null 2>&1; }
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || echo "test.sh: PostgreSQL is not reachable at $PG_URL: the PostgreSQL journal's tests will fail (set GATEWAY_TEST_PG_URL, or install postgresql and create that database)" >&2
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests — treating as a failure" >&2
  exit 1
fi
exit "$status"
