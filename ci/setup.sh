#!/usr/bin/env bash
# Installs everything the test command needs on a fresh Debian machine (run as root).
# Idempotent: tools already present are reused. The machine's toolchains (stable and nightly,
# via rustup) are used as they are: components and targets are added, the toolchains are not
# updated.
set -euo pipefail

command -v rustup >/dev/null || { echo "setup: rustup is required" >&2; exit 1; }

echo "setup: rust components and targets"
rustup component add clippy rustfmt llvm-tools
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imc-unknown-none-elf thumbv7m-none-eabi
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
rustup component add --toolchain nightly miri rust-src llvm-tools
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup

# redis-server: the demo's fleet test (ci/test.sh, which runs before ci/redis.sh) starts its
# own on a loopback port; ci/redis.sh and the end-to-end fleet test use it too.
if ! command -v redis-server >/dev/null; then
  echo "setup: installing redis-server"
  apt-get update -qq -o DPkg::Lock::Timeout=900
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
    --no-install-recommends redis-server >/dev/null
fi

if ! command -v cargo-fuzz >/dev/null; then
  echo "setup: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
echo "setup: done"
