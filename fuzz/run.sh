#!/usr/bin/env bash
# Builds the cargo-fuzz targets, writes their seed corpora (from protocol-tests/fixtures
# and kafka-protocol encodings), and runs each target for SECONDS.
#
#   bash fuzz/run.sh SECONDS [TARGET...]      e.g. bash fuzz/run.sh 600 request
#
# `make test` runs every target for a few seconds with a fixed seed so that they cannot
# rot; `make fuzz` runs them for ten minutes each. A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-5}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request record_batch segment_recovery peer_frames)

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# libFuzzer's sanitizer flags need a nightly compiler; without one, stable (which ships
# the AddressSanitizer runtime too) is told to accept them with RUSTC_BOOTSTRAP.
if rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
"${fuzz[@]}" build
./target/x86_64-unknown-linux-gnu/release/seed
# A fixed seed for short runs keeps `make test` repeatable.
extra=()
[ "$seconds" -le 60 ] && extra=(-seed=1)
for t in "${targets[@]}"; do
    echo "== fuzz target $t, ${seconds}s"
    "${fuzz[@]}" run "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 "${extra[@]}" 2>&1 |
        grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|DONE|ERROR|SUMMARY|panicked|Test unit written' || true
    # libFuzzer leaves crash-*/oom-*/timeout-* files behind on failure.
    if ls "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
        echo "fuzz target $t failed: see fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
