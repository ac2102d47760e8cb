#!/usr/bin/env bash
# Set up, then run the benchmark (throughput, latency percentiles, per-stage costs, 999 items).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec .venv/bin/python bench/run.py "$@"
