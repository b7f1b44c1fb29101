#!/usr/bin/env bash
# Formatting, clippy (both word layouts) and docs, all with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
(cd fuzz && cargo fmt --check)
(cd tests/no_std_probe && cargo fmt --check)

export RUSTFLAGS="-D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The word layout only changes breaker-core; lint it and its model tests on the 32-bit layout too.
RUSTFLAGS="-D warnings --cfg breaker_word32" CARGO_TARGET_DIR=target/word32 \
  cargo clippy -p breaker-core -p breaker-tests --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
