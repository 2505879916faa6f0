#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: install what is missing, build, and run
# ramp's main job. Until the daemons land this is the evaluation engine's
# benchmark: one million distinct users through a targeting rule and a 25%
# rollout, with the share served and the cost per evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
echo
echo "== ramp evaluation engine: country == NL -> on, else a 25% rollout =="
build/tests/bench/bench_eval
