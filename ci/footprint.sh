#!/usr/bin/env bash
# What the core costs on a microcontroller, measured on linked release images.
#
# Builds tests/firmware's footprint images for thumbv7em-none-eabihf (native CAS) and
# thumbv6m-none-eabi (no CAS: the application's critical section) at opt-level 3, "s" and "z":
#   fp_call  consecutive-failure mode through `Breaker::call`
#   fp_full  the whole API (permits, manual control, health views)
#   fp_none  the same program without the breaker (baseline)
# and the same images with the core's `policies` feature (thumbv7em only; reported, not gated),
# and prints a markdown table:
#   breaker fns   .text of functions whose demangled name contains `breaker_core`, plus the
#                 image's own `api::` wrappers (breaker code inlined into them)
#   marginal      .text(image) - .text(fp_none): what the breaker adds, runtime helpers included
#   RAM           size of the `static BREAKER` symbol (llvm-nm -S)
#   LDREX/STREX, cpsid, critical-section calls: counted in the disassembly, with the functions
#                 that contain them
# Fails if consecutive-failure mode (fp_call) on thumbv7em needs more breaker .text than 1536 B
# (1.5 KiB; $BREAKER_TEXT_LIMIT) at any of opt-level 3, "s" and "z", if thumbv7em has any
# interrupt masking or critical-section call, or if thumbv6m's CAS does not go through the
# critical section.
set -euo pipefail
cd "$(dirname "$0")/.."
fw=tests/firmware
limit=${BREAKER_TEXT_LIMIT:-1536} # bytes, at opt-level 3, "s" and "z"

# RUSTFLAGS would replace the `-Tlink.x` of tests/firmware/.cargo/config.toml.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET
export CARGO_TARGET_DIR="$PWD/$fw/target"
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
nm="$bin/llvm-nm" size="$bin/llvm-size" objdump="$bin/llvm-objdump"
for tool in "$nm" "$size" "$objdump"; do
  [[ -x $tool ]] || { echo "footprint: $tool missing (rustup component add llvm-tools)" >&2; exit 1; }
done

targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)
profiles=(release release-s release-z)
declare -A opt=([release]=3 [release-s]='"s"' [release-z]='"z"')

for t in "${targets[@]}"; do
  feat=()
  [[ $t == thumbv6m-none-eabi ]] && feat=(--features v6m)
  for p in "${profiles[@]}"; do
    echo "footprint: building $t --profile $p ${feat[*]}" >&2
    (cd "$fw" && cargo build -q --profile "$p" --target "$t" "${feat[@]}" \
      --bin fp_call --bin fp_full --bin fp_none)
  done
done

# The full-policy build: its own target directory, so the gated images above stay as built.
for p in "${profiles[@]}"; do
  echo "footprint: building thumbv7em-none-eabihf --profile $p --features policies" >&2
  (cd "$fw" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/policies" cargo build -q --profile "$p" \
    --target thumbv7em-none-eabihf --features policies --bin fp_call --bin fp_full)
done

text_of() { "$size" -A "$1" | awk '$1 == ".text" { print $2 }'; }

# Sum of .text symbol sizes belonging to the breaker.
breaker_text() {
  "$nm" -S -C --defined-only --radix=d "$1" | awk '
    NF >= 4 && ($3 == "t" || $3 == "T") {
      name = $4; for (i = 5; i <= NF; i++) name = name " " $i
      if (name ~ /breaker_core/ || name ~ /::api::/) s += $2
    }
    END { print s + 0 }'
}

# RAM of the static BREAKER: the sum of its symbols. With LTO the optimiser may split a static
# into its fields (symbols suffixed `(.N)`) and fold the constant ones (config, name) into code,
# leaving only the mutable atomics in RAM. `d` = .data (RAM + a flash copy), `b` = .bss.
ram_of() {
  "$nm" -S -C --defined-only --radix=d "$1" | awk '
    $4 ~ /::BREAKER::/ { s += $2; n++; kinds[$3] = 1 }
    END {
      k = ""; for (t in kinds) k = k t
      if (n > 1) printf "%d (%d parts, %s)", s, n, k; else printf "%d (%s)", s, k
    }'
}

fallback_syms() { # portable-atomic lock-based fallback in the image
  "$nm" -C --defined-only "$1" | grep -c 'portable_atomic.*fallback' || true
}

# "<count> (<functions>)" for instructions matching $2 (a regex on the mnemonic).
insns() {
  "$objdump" -d --no-show-raw-insn -C "$1" | awk -v re="$2" '
    /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); sub(/::h[0-9a-f]+$/, "", fn); next }
    $2 ~ re {
      n++
      if (!(fn in seen)) { seen[fn] = 1; k++; if (k <= 4) fns = fns (fns ? ", " : "") fn }
    }
    END {
      if (k > 4) fns = fns ", +" (k - 4) " more"
      if (n) printf "%d in %d fn (%s)", n, k, fns; else printf "0"
    }' | pretty
}

cs_calls() { # calls to critical_section's acquire
  "$objdump" -d --no-show-raw-insn -C "$1" | grep -cE 'bl\s.*<_critical_section_1_0_acquire>' || true
}

pretty() { # legacy-mangled leftovers, for reading
  sed -e 's/_\$LT\$/</g; s/\$LT\$/</g; s/\$GT\$/>/g; s/\$u20\$/ /g; s/\$C\$/,/g; s/\.\./::/g'
}

fail=0
echo
echo "toolchain: $(rustc -V)"
echo
echo "| target | opt-level | image | breaker fns .text (B) | image .text (B) | marginal vs fp_none (B) | RAM: static BREAKER (B) | LDREX/STREX | cpsid (interrupt masking) | critical-section calls | fallback-lock symbols |"
echo "|---|---|---|---:|---:|---:|---|---|---|---:|---:|"
for t in "${targets[@]}"; do
  for p in "${profiles[@]}"; do
    dir="$CARGO_TARGET_DIR/$t/$p"
    base=$(text_of "$dir/fp_none")
    for img in fp_call fp_full fp_none; do
      f="$dir/$img"
      text=$(text_of "$f")
      if [[ $img == fp_none ]]; then
        bt="-" marg="-" ram="-"
      else
        bt=$(breaker_text "$f") marg=$((text - base)) ram=$(ram_of "$f")
      fi
      ex=$(insns "$f" '^(ldrex|strex)')
      ci=$(insns "$f" '^cpsid')
      cs=$(cs_calls "$f")
      fb=$(fallback_syms "$f")
      echo "| $t | ${opt[$p]} | $img | $bt | $text | $marg | $ram | $ex | $ci | $cs | $fb |"
      if [[ $fb != 0 ]]; then
        echo "footprint: FAIL $t $p $img: portable-atomic's lock-based fallback is linked" >&2; fail=1
      fi

      [[ $img == fp_none ]] && continue
      case $t in
        thumbv7em-none-eabihf)
          # The same limit at every opt-level.
          if [[ $img == fp_call && $bt -gt $limit ]]; then
            echo "footprint: FAIL $t $p fp_call: breaker .text $bt B > $limit B" >&2; fail=1
          fi
          if [[ $ex == 0 || $ci != 0 || $cs != 0 ]]; then
            echo "footprint: FAIL $t $p $img: expected LDREX/STREX and no interrupt masking" >&2; fail=1
          fi
          ;;
        thumbv6m-none-eabi)
          if [[ $ex != 0 ]] || [[ $ci == 0 && $cs == 0 ]]; then
            echo "footprint: FAIL $t $p $img: expected no LDREX/STREX and a critical section" >&2; fail=1
          fi
          ;;
      esac
    done
  done
done

# The full-policy build, for the record.
echo
echo "with the \`policies\` feature (thumbv7em-none-eabihf; reported, not gated):"
echo
echo "| target | opt-level | image | breaker fns .text (B) | image .text (B) | marginal vs fp_none (B) | RAM: static BREAKER (B) |"
echo "|---|---|---|---:|---:|---:|---|"
t=thumbv7em-none-eabihf
for p in "${profiles[@]}"; do
  base=$(text_of "$CARGO_TARGET_DIR/$t/$p/fp_none")
  for img in fp_call fp_full; do
    f="$CARGO_TARGET_DIR/policies/$t/$p/$img"
    text=$(text_of "$f")
    echo "| $t | ${opt[$p]} | $img +policies | $(breaker_text "$f") | $text | $((text - base)) | $(ram_of "$f") |"
  done
done

# The images the emulator runs (ci/firmware.sh builds them): where the atomics and the interrupt
# masking are, for the record. The firmware itself masks interrupts in `Peripherals::take`.
shown=0
for t in thumbv7m-none-eabi thumbv6m-none-eabi; do
  f="$CARGO_TARGET_DIR/$t/release/firmware"
  [[ -f $f ]] || continue
  if ((!shown)); then
    echo
    echo "qemu firmware images (release, opt-level 3):"
    echo
    echo "| target | image .text (B) | LDREX/STREX | cpsid (interrupt masking) |"
    echo "|---|---:|---|---|"
    shown=1
  fi
  echo "| $t | $(text_of "$f") | $(insns "$f" '^(ldrex|strex)') | $(insns "$f" '^cpsid') |"
done
echo
if ((fail)); then
  echo "footprint: FAIL" >&2
  exit 1
fi
echo "footprint: ok (consecutive-failure mode on thumbv7em-none-eabihf within $limit B of .text at opt-level 3, \"s\" and \"z\")"
