#!/usr/bin/env bash
# Set up everything, then run the whole test suite (unit, integration, e2e). Integration tests
# need RabbitMQ and fail — never skip — without it. pytest's "no tests collected" (exit 5) fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh || exit $?
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests — treating as a failure" >&2
  exit 1
fi
exit "$status"
