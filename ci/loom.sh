#!/usr/bin/env bash
# Model-checks the breaker's atomic word with loom (core/tests/loom.rs, core/tests/loom_policies.rs,
# core/tests/loom_reconfigure.rs, core/tests/loom_async.rs: a dropped async probe,
# core/tests/loom_abandoned.rs: permits dropped past `count_abandoned_after`, core/tests/loom_remote.rs:
# a fleet's remote restore / reset / force_open racing local trips and probes), once per word layout:
# the default 64-bit layout and the 32-bit layout used on thumbv7em / thumbv6m / riscv32imc
# (forced on the host with `--cfg breaker_word32`).
#
# Loom builds need their own RUSTFLAGS, so they get their own target directory (default
# `target/loom`, or $CARGO_TARGET_DIR if set) and do not invalidate the main build cache.
# LOOM_MAX_PREEMPTIONS defaults to 3 (every model finishes within a minute at 3; the slowest,
# half_open_admits_at_most_the_configured_probes, takes ~35 s); override it in the environment.
set -euo pipefail

cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"

for layout in "" "--cfg breaker_word32"; do
    flags="--cfg breaker_loom${layout:+ $layout}"
    echo "==> loom (${layout:-64-bit layout}): RUSTFLAGS=\"$flags\" LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS"
    RUSTFLAGS="$flags" cargo test -p breaker-core --test loom --test loom_policies --test loom_reconfigure --test loom_async --test loom_abandoned --test loom_remote --release
done
