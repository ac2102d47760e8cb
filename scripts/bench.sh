#!/usr/bin/env bash
# Set up, then run the benchmark: closed loop, open loop, optional wrk load (--wrk), 999-item
# declarations and per-stage costs, each throughput beside the same server's /healthz rate;
# SQLite and/or PostgreSQL journal (--journal sqlite|postgresql|both). --help lists every option.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case " $* " in *" -h "*|*" --help "*) [ -x .venv/bin/python ] || scripts/setup.sh; exec .venv/bin/python bench/run.py --help ;; esac
scripts/setup.sh
command -v wrk >/dev/null 2>&1 || echo "bench.sh: wrk is not installed: sudo apt-get install -y wrk (needed for --wrk and the /healthz yardstick)" >&2
exec .venv/bin/python bench/run.py "$@"
