#!/usr/bin/env bash
# The core on an emulated microcontroller, then its footprint.
#
# tests/firmware runs the seed's scenarios on qemu's LM3S6965 board (Cortex-M3): a `static`
# breaker on the SysTick hardware clock (through the core's embedded-time adapter), shared with
# the PendSV and SysTick interrupt handlers. Two builds run:
#   thumbv7m-none-eabi              native LDREX/STREX
#   thumbv6m-none-eabi --features v6m   no CAS: portable-atomic/critical-section +
#                                   cortex-m/critical-section-single-core (ARMv6-M code runs on
#                                   the same emulated M3)
# Each run boots three times (SCB::sys_reset): the seed's and the async scenarios, then a breaker
# restored from no-init RAM after a reset, then a damaged snapshot refused (src/main.rs).
# A run passes only if qemu exits 0 (semihosting exit status) AND the last line is `PASS`.
# Then ci/footprint.sh measures .text / RAM and checks which targets are lock-free.
set -euo pipefail
cd "$(dirname "$0")/.."
fw=tests/firmware
start=$SECONDS

if ! command -v qemu-system-arm >/dev/null; then
  # Without recommends: the emulator alone (no GTK/SDL front ends, GStreamer or audio, which a
  # headless `-nographic` run never uses), and nothing the machine already has is replaced.
  echo "firmware: installing qemu-system-arm (no recommends)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
installed=$(rustup target list --installed)
for t in thumbv7m-none-eabi thumbv6m-none-eabi thumbv7em-none-eabihf; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

# RUSTFLAGS would replace the `-Tlink.x` of tests/firmware/.cargo/config.toml.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET
export CARGO_TARGET_DIR="$PWD/$fw/target"

echo "firmware: fmt and clippy"
(cd "$fw" && cargo fmt --check)
(cd "$fw" && cargo clippy -q --target thumbv7m-none-eabi --bins -- -D warnings)
(cd "$fw" && cargo clippy -q --target thumbv6m-none-eabi --features v6m --bins -- -D warnings)

passed=0 failed=0
run() { # label, cargo args...
  local label=$1 log rc=0
  shift
  log=$(mktemp)
  echo "firmware: $label: cargo run $*"
  (cd "$fw" && cargo build -q "$@" --bin firmware)
  (cd "$fw" && timeout -k 5 60 cargo run -q "$@" --bin firmware) >"$log" 2>&1 || rc=$?
  cat "$log"
  local last
  last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)
  if [[ $rc -eq 0 && $last == PASS ]]; then
    echo "firmware: $label: pass (exit status 0, last line PASS)"
    passed=$((passed + 1))
  else
    echo "firmware: $label: FAIL (exit status $rc, last line '$last')" >&2
    failed=$((failed + 1))
  fi
  rm -f "$log"
}
run "thumbv7m release" --release --target thumbv7m-none-eabi
run "thumbv6m release (critical-section)" --release --target thumbv6m-none-eabi --features v6m
# Debug build: overflow checks and debug assertions on, in the core too.
run "thumbv7m dev" --target thumbv7m-none-eabi

echo "firmware: qemu runs: $passed passed, $failed failed"
((failed == 0)) || exit 1

bash ci/footprint.sh
echo "firmware: ok in $((SECONDS - start)) s"
