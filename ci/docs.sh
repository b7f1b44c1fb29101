#!/usr/bin/env bash
# The library crates' docs as docs.rs builds them: nightly rustdoc with `--cfg docsrs` (the
# `doc_cfg` badges) and every feature, warnings (broken intra-doc links, ...) as errors.
# Installs a minimal nightly if the machine has none (ci/setup.sh does the same).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
RUSTDOCFLAGS="--cfg docsrs -D warnings" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/docsrs" \
  cargo +nightly doc --no-deps --all-features -p breaker-core -p breaker-std -p breaker-tokio -p breaker-redis
