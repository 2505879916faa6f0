#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the libFuzzer targets with clang and run each one.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [target...]
# Default 20 s each (the short form CI runs); for the long form use e.g.
# scripts/fuzz.sh 3600. Findings are left in build-fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
scripts/deps.sh clang libclang-rt-14-dev
CC=clang scripts/build.sh build-fuzz -DRAMP_FUZZ=ON -DRAMP_BENCH=OFF
mkdir -p build-fuzz/findings
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        targets+=("$(basename "$f" .c)")
    done
fi
fail=0
for t in "${targets[@]}"; do
    name=${t#fuzz_}
    work=build-fuzz/corpus/$name
    mkdir -p "$work"
    seeds=()
    [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
    log=build-fuzz/findings/$t.log
    # First corpus dir is writable (new inputs go there); seeds are read.
    if build-fuzz/tests/fuzz/"$t" "$work" "${seeds[@]}" \
        -max_total_time="$secs" -malloc_limit_mb=64 -rss_limit_mb=1024 \
        -artifact_prefix=build-fuzz/findings/"$t"- -print_final_stats=1 \
        >"$log" 2>&1; then
        execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
        cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
        echo "fuzz $t: ok execs=${execs:-?} cov=${cov:-?} seconds=$secs"
    else
        echo "fuzz $t: FAILED (see $log)"
        tail -30 "$log"
        fail=1
    fi
done
exit $fail
