#!/usr/bin/env bash
# Fuzzes the real breaker against the reference model (fuzz/fuzz_targets/ops.rs) for
# ${FUZZ_SECONDS:-60} seconds. Needs a nightly toolchain and cargo-fuzz.
# Extra arguments go to libFuzzer, e.g. `ci/fuzz.sh -jobs=4`; for the 32-bit word layout run
# `RUSTFLAGS="--cfg breaker_word32" ci/fuzz.sh`.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
cargo +nightly fuzz run --fuzz-dir fuzz ops -- -max_total_time="$seconds" "$@"
