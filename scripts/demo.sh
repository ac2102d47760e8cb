#!/usr/bin/env bash
# Set up everything, then run the gateway's main job: the declaration flow with the stand-in
# partners (`gateway demo`). Exit 0 only if every step did what it should.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec .venv/bin/gateway demo "$@"
