#!/usr/bin/env bash
# Installs everything the test command needs on a fresh Debian machine (run as root).
# Idempotent: tools already present are reused.
set -euo pipefail

command -v rustup >/dev/null || { echo "setup: rustup is required" >&2; exit 1; }

echo "setup: rust targets and components"
rustup toolchain install stable --profile minimal --component clippy,rustfmt,llvm-tools >/dev/null
rustup target add --toolchain stable \
  thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imc-unknown-none-elf thumbv7m-none-eabi >/dev/null
rustup toolchain install nightly --profile minimal --component miri,rust-src,llvm-tools >/dev/null
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup

if ! command -v cargo-fuzz >/dev/null; then
  echo "setup: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
echo "setup: done"
