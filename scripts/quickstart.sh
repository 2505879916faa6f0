#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: install what is missing, build, and run
# ramp's main job (scripts/cluster.sh demo): a local controller and three
# enrolled agents on 127.0.0.1, application traffic through libramp, and
# two progressive rollouts you watch -- one healthy that reaches 100%,
# one bad that rolls back on its own.
#   scripts/quickstart.sh [--ci]    --ci: no live view, exit 0 only if
#                                   both rollouts ended as they should
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec scripts/cluster.sh demo "$@" build
