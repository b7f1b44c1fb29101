#!/usr/bin/env bash
# Builds the core for the microcontroller targets and proves, from the generated code, which
# are lock-free and which pay for a critical section.
#
#   thumbv7em-none-eabihf  32-bit CAS (LDREX/STREX): must build WITHOUT portable-atomic's
#                          `fallback` / `critical-section`, and contain no critical-section call.
#   thumbv6m-none-eabi     no CAS: builds when the application enables
#   riscv32imc-unknown-none-elf  `portable-atomic/critical-section` (+ a single-core impl).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="-D warnings"

echo "targets: core library builds"
cargo build -p breaker-core --target thumbv7em-none-eabihf --features embedded-time,defmt
cargo build -p breaker-core --target thumbv7em-none-eabihf --no-default-features
for t in thumbv6m-none-eabi riscv32imc-unknown-none-elf; do
  cargo build -p breaker-core --target "$t" --features embedded-time,portable-atomic/critical-section
done

# The library must never turn on the lock-based features itself.
if cargo tree -p breaker-core --target thumbv7em-none-eabihf -e features --all-features \
  | grep -E 'portable-atomic feature "(fallback|critical-section)"'; then
  echo "targets: breaker-core enables a lock-based portable-atomic feature" >&2
  exit 1
fi

objdump="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-objdump"
probe=tests/no_std_probe
(cd "$probe" && export CARGO_TARGET_DIR=target && cargo build --release --target thumbv7em-none-eabihf \
  && cargo build --release --target thumbv6m-none-eabi --features cs-cortex-m \
  && cargo build --release --target riscv32imc-unknown-none-elf --features cs-riscv)

check() { # target, expect_cas(yes/no), expect_cs(yes/no)
  local t=$1 cas cs
  local dis
  dis=$("$objdump" -dr "$probe/target/$t/release/libbreaker_no_std_probe.a")
  cas=$(grep -ciE '\b(ldrex|strex|lr\.w|sc\.w)\b' <<<"$dis" || true)
  cs=$(grep -c '_critical_section_1_0_acquire' <<<"$dis" || true)
  echo "targets: $t: CAS instructions=$cas, critical-section calls=$cs"
  if [[ $2 == yes && $cas -eq 0 ]] || [[ $2 == no && $cas -ne 0 ]]; then
    echo "targets: $t: unexpected CAS instruction count" >&2; exit 1
  fi
  if [[ $3 == yes && $cs -eq 0 ]] || [[ $3 == no && $cs -ne 0 ]]; then
    echo "targets: $t: unexpected critical-section usage" >&2; exit 1
  fi
}
check thumbv7em-none-eabihf yes no
check thumbv6m-none-eabi no yes
check riscv32imc-unknown-none-elf no yes
echo "targets: ok"
