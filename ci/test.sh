#!/usr/bin/env bash
# Unit, integration, property and doc tests of the whole workspace, on both word layouts,
# and the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="-D warnings"
# The demo's fleet test needs redis-server (ci/setup.sh installs it): fail, not skip, without it.
export BREAKER_REQUIRE_REDIS=1
# The end-to-end fault test needs PostgreSQL and a broker: ci/e2e.sh installs them and runs it.
# breaker-redis's tests need redis-server: ci/redis.sh installs it and runs them.
cargo test --workspace --exclude breaker-e2e --exclude breaker-redis --all-features --release
# The one-dependency proofs, each built on its own: in the run above, feature unification (other
# members enable breaker-core's features directly) hides a feature of breaker-std or
# breaker-tokio that does not reach the core. Their features are in their own Cargo.toml.
cargo test -p breaker-one-dep-std --release
cargo test -p breaker-one-dep-tokio --release
# The word layout only changes breaker-core: run its tests and the model/policy suites again on
# the 32-bit layout (the one thumbv7em, thumbv6m and riscv32imc use).
RUSTFLAGS="-D warnings --cfg breaker_word32" CARGO_TARGET_DIR=target/word32 \
  cargo test -p breaker-core -p breaker-tests --all-features --release
# The core without its default `policies` feature: the seed's consecutive breaker alone.
cargo test -p breaker-core --no-default-features --release --lib --tests
cargo test -p breaker-core --no-default-features --release --doc
cargo run --release -p breaker-core --example demo
