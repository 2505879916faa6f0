#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configure and build into a build directory. Usage:
#   scripts/build.sh [BUILD_DIR] [cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
