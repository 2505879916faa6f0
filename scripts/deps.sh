#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what ramp needs on Debian 12 and nothing that is already there.
# Idempotent; works as root or through sudo. Usage: scripts/deps.sh [extra-pkg...]
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libnng-dev libmsgpack-dev liblmdb-dev lmdb-utils libsodium-dev
      libjansson-dev libcmocka-dev libcurl4-openssl-dev curl openssl iproute2
      prometheus jq nodejs # promtool, tests/integration/ofrep*.sh
      python3-yaml groff-base "$@") # deploy/k8s/check.py, man page checks

# npm comes with NodeSource's nodejs, but is its own package in Debian's.
if ! command -v npm >/dev/null 2>&1; then
    pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
