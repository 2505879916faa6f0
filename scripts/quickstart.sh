#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: install what is missing, build, and run
# ramp's main job: a local controller and three agents on 127.0.0.1
# (scripts/cluster.sh), then the evaluation engine's benchmark over one
# million users.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
scripts/cluster.sh build
echo
echo "== ramp evaluation engine: country == NL -> on, else a 25% rollout =="
build/tests/bench/bench_eval
