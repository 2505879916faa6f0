#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's second command: install what is missing, build, and run the
# whole test suite with ctest. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
