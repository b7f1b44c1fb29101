#!/usr/bin/env bash
# The core's unit tests and doctests under Miri, on both word layouts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${MIRI_PROPTEST_CASES:-16}"
# proptest looks up the working directory for its regressions file.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
CARGO_TARGET_DIR=target/miri cargo +nightly miri test -p breaker-core
RUSTFLAGS="--cfg breaker_word32" CARGO_TARGET_DIR=target/miri32 cargo +nightly miri test -p breaker-core
