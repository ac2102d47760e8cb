#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine with Python 3.11: virtualenv + dependencies,
# xmlsec1 (the independent signature verifier the tests use), RabbitMQ running, demo/test keys.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"

apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $* (Debian packages)" >&2
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup: please install $* with your system's package manager" >&2
    return 1
  fi
}

# 1. Python virtualenv with the project and its test tools
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv 2>/dev/null || { apt_install python3-venv && "$PYTHON" -m venv .venv; }
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  mkdir -p var
  echo "setup: installing Python dependencies into .venv (log: var/setup-pip.log)" >&2
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e '.[dev,postgres]'; } >var/setup-pip.log 2>&1; then
    tail -30 var/setup-pip.log >&2
    echo "setup: pip install failed (see var/setup-pip.log)" >&2
    exit 1
  fi
  touch .venv/.installed
fi

# 2. xmlsec1, to verify our XML signatures independently
command -v xmlsec1 >/dev/null 2>&1 || apt_install xmlsec1 || true

# 2b. wrk, the benchmark's load generator (scripts/bench.sh --wrk) and its unit test's
command -v wrk >/dev/null 2>&1 || apt_install wrk || true

# 3. RabbitMQ: start it if it is installed but not running
amqp_up() { .venv/bin/python - <<'PY'
import os, socket, urllib.parse
u = urllib.parse.urlparse(os.environ.get("GATEWAY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
try:
    socket.create_connection((u.hostname or "127.0.0.1", u.port or 5672), 2).close()
except OSError:
    raise SystemExit(1)
PY
}
if ! amqp_up; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "setup: starting RabbitMQ (rabbitmq-server -detached)" >&2
    $SUDO rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do amqp_up && break; sleep 1; done
  fi
  if ! amqp_up; then
    cat >&2 <<MSG
setup: RabbitMQ is not reachable at ${GATEWAY_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}.
  Install and start it:   sudo apt-get install -y rabbitmq-server && sudo rabbitmq-server -detached
  or point GATEWAY_AMQP_URL at a running broker.
MSG
    exit 3
  fi
fi

# 4. demo/test keys and partner tokens (generated here, never committed)
.venv/bin/gateway keys init >/dev/null
