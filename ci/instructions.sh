#!/usr/bin/env bash
# Instructions per call, counted by callgrind (gungraun), against the committed baseline.
#
# Runs benches/benches/instructions.rs (every path of ours and of the peers, CALLS calls per
# benchmark, see the bench's docs), prints the table, and FAILS if any of our rows (`core`,
# `std`, `breaker_layer`, `breaker_layer_static`, and the harness row `baseline/direct_call`)
# counts more than ${INSTRUCTIONS_LIMIT_PCT:-2} % more instructions than its baseline in
# benches/baselines/instructions.json, or if one of our rows has no baseline (or the baseline a
# row the bench no longer has). Peers are reported, never gated. Instruction counts are exact:
# the same source, toolchain and build settings give the same counts on any x86_64 machine
# (see "What the counts depend on" below), so 2 % is a real change, not noise.
#
# Updating the baseline on purpose (a change that costs instructions and is worth them, a new
# row, a new toolchain):
#
#     UPDATE_BASELINE=1 bash ci/instructions.sh
#
# rewrites benches/baselines/instructions.json from this run (every row, the toolchain, the
# valgrind and gungraun versions); commit it with the change and say why in the commit message.
# The README's table of instructions per call is printed by every run ("README table" below);
# paste it into the README's Benchmarks section when the baseline changes.
#
# What the counts depend on, and how they are pinned:
# - the compiler: the baseline records `rustc -V`; a run on another toolchain prints the
#   comparison but does not fail (codegen changes between releases; re-baseline with
#   UPDATE_BASELINE=1), unless INSTRUCTIONS_STRICT=1. CI uses the machine's stable toolchain.
# - build settings: set here, whatever the environment says: the bench profile at opt-level 3,
#   no LTO, 16 codegen units, no debug assertions, `RUSTFLAGS=-D warnings` only (no
#   `-C target-cpu`: the x86-64 baseline ISA, never `native`), no other target.
# - the CPU: none of our rows calls into libc (no memcpy, malloc or clock read through glibc,
#   whose CPU-dependent ifunc variants would change the count); under valgrind there is no vDSO,
#   so a clock read is rustix's syscall wrapper (a fixed count; the kernel's work is not
#   counted). Peers that allocate or copy through glibc (recloser, tower-resilience) can differ
#   by CPU model; they are not gated.
# - valgrind: the baseline records its version; callgrind counts guest instructions, which do
#   not depend on it (a different version is reported, and gated all the same).
# - gungraun: the library and its runner at the same version (Cargo.lock's); the runner is
#   installed here if missing. It disables ASLR and clears the environment for each benchmark.
#
# Installs valgrind and jq from Debian if missing, and gungraun-runner from crates.io (about
# 5 CPU-minutes of building, reused afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=benches/baselines/instructions.json
bench=benches/benches/instructions.rs
limit=${INSTRUCTIONS_LIMIT_PCT:-2}

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
  echo "instructions: installing ${missing[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
version=$(awk '$0 == "name = \"gungraun\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[[ -n $version ]] || { echo "instructions: gungraun not in Cargo.lock" >&2; exit 1; }
if [[ "$(gungraun-runner --version 2>/dev/null || true)" != "gungraun-runner $version" ]]; then
  echo "instructions: installing gungraun-runner $version (cargo install, a few minutes)"
  cargo install --locked gungraun-runner --version "$version"
fi

# The build the baseline was recorded with.
unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET
export RUSTFLAGS="-D warnings"
export CARGO_PROFILE_BENCH_OPT_LEVEL=3 CARGO_PROFILE_BENCH_LTO=false \
  CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 CARGO_PROFILE_BENCH_DEBUG_ASSERTIONS=false \
  CARGO_PROFILE_BENCH_OVERFLOW_CHECKS=false

calls=$(sed -n 's/^const CALLS: u32 = \([0-9_]*\);.*/\1/p' "$bench" | tr -d _)
[[ -n $calls ]] || { echo "instructions: no CALLS in $bench" >&2; exit 1; }
toolchain=$(rustc -V)
valgrind_version=$(valgrind --version)
echo "instructions: $toolchain, $valgrind_version, gungraun $version, $calls calls per row"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! cargo bench -p breaker-benches --bench instructions -- --output-format=json \
  >"$work/summary.jsonl" 2>"$work/bench.log"; then
  cat "$work/bench.log" >&2
  echo "instructions: FAIL: the benchmark run failed" >&2
  exit 1
fi
# row <TAB> instructions, in the bench's order
jq -r '"\(.function_name)/\(.id)\t\(.profiles[] | select(.tool == "Callgrind") | .data.total.metrics.Ir.values.new)"' \
  "$work/summary.jsonl" >"$work/new.tsv"
[[ -s $work/new.tsv ]] || { cat "$work/bench.log" >&2; echo "instructions: no results" >&2; exit 1; }

ours='^(baseline/direct_call|[^/]+/(core|std|breaker_layer|breaker_layer_static))$'

if [[ ${UPDATE_BASELINE:-0} == 1 ]]; then
  mkdir -p "$(dirname "$baseline")"
  jq -R -n --arg toolchain "$toolchain" --arg valgrind "$valgrind_version" --arg gungraun "$version" \
    --argjson calls "$calls" '
    {
      about: "Instructions counted by callgrind for benches/benches/instructions.rs (calls per row: `calls`). Written by `UPDATE_BASELINE=1 bash ci/instructions.sh`; compared by `bash ci/instructions.sh`.",
      toolchain: $toolchain, valgrind: $valgrind, gungraun: $gungraun, calls: $calls,
      rows: ([inputs | split("\t") | {key: .[0], value: (.[1] | tonumber)}] | from_entries)
    }' <"$work/new.tsv" >"$baseline"
  echo "instructions: baseline written to $baseline"
fi

[[ -f $baseline ]] || { echo "instructions: FAIL: no baseline $baseline (UPDATE_BASELINE=1 writes it)" >&2; exit 1; }
jq -r '.rows | to_entries[] | "\(.key)\t\(.value)"' "$baseline" >"$work/base.tsv"
base_toolchain=$(jq -r .toolchain "$baseline")
base_valgrind=$(jq -r .valgrind "$baseline")
base_calls=$(jq -r .calls "$baseline")

gate=1
if [[ $base_toolchain != "$toolchain" ]]; then
  echo "instructions: WARNING: the baseline was recorded with '$base_toolchain', this is '$toolchain'."
  if [[ ${INSTRUCTIONS_STRICT:-0} == 1 ]]; then
    echo "instructions: FAIL (INSTRUCTIONS_STRICT=1): another toolchain" >&2
    exit 1
  fi
  echo "instructions: comparing, not gating (re-baseline with UPDATE_BASELINE=1 on the new toolchain)."
  gate=0
fi
if [[ $base_valgrind != "$valgrind_version" ]]; then
  echo "instructions: note: baseline recorded under $base_valgrind, this run under $valgrind_version"
fi
if [[ $base_calls != "$calls" ]]; then
  echo "instructions: FAIL: the baseline has $base_calls calls per row, the bench $calls (UPDATE_BASELINE=1)" >&2
  exit 1
fi

echo
echo "| row | ours | instructions per call | baseline | change |"
echo "|---|---|---:|---:|---:|"
set +e
awk -F'\t' -v calls="$calls" -v limit="$limit" -v ours="$ours" -v gate="$gate" '
  NR == FNR { base[$1] = $2; border[++nb] = $1; next }
  {
    row = $1; n = $2; seen[row] = 1; our = row ~ ours
    if (row in base) {
      pct = (n - base[row]) * 100 / base[row]
      mark = ""
      if (our && pct > limit) { mark = " **REGRESSION**"; bad++ }
      else if (our && pct < -limit) mark = " (faster: update the baseline)"
      printf "| `%s` | %s | %.1f | %.1f | %+.2f %%%s |\n", row, our ? "yes" : "peer", n / calls, base[row] / calls, pct, mark
    } else {
      printf "| `%s` | %s | %.1f | — | new%s |\n", row, our ? "yes" : "peer", n / calls, our ? " **NO BASELINE**" : ""
      if (our) bad++
    }
  }
  END {
    for (i = 1; i <= nb; i++) {
      row = border[i]
      if (!(row in seen)) {
        printf "| `%s` | %s | — | %.1f | gone%s |\n", row, row ~ ours ? "yes" : "peer", base[row] / calls, row ~ ours ? " **NOT MEASURED**" : ""
        if (row ~ ours) bad++
      }
    }
    exit (gate && bad) ? 1 : 0
  }' "$work/base.tsv" "$work/new.tsv"
failed=$?
set -e

# The README's table: instructions per call (this run), one column per subject.
echo
echo "README table (instructions per call, $calls calls per row, $toolchain, $valgrind_version, gungraun $version):"
echo
awk -F'\t' -v calls="$calls" '
  { split($1, p, "/"); v[p[1], p[2]] = sprintf("%.1f", $2 / calls) }
  END {
    np = split("closed_success closed_failure open_reject half_open_probe half_open_reject permit_success permit_timed_success rate_success rate_failure", paths, " ")
    ns = split("core std failsafe recloser circuitbreaker_rs", subj, " ")
    printf "| path | breaker-core | breaker-std | failsafe | recloser | circuitbreaker-rs |\n|---|---:|---:|---:|---:|---:|\n"
    for (i = 1; i <= np; i++) {
      line = "| `" paths[i] "`"
      for (j = 1; j <= ns; j++) line = line " | " (((paths[i], subj[j]) in v) ? v[paths[i], subj[j]] : "—")
      print line " |"
    }
    printf "| direct call (the loop alone) | %s | | | | |\n", v["baseline", "direct_call"]
    printf "\n| `tower_request` | bare `service_fn` | breaker layer (`Arc`) | breaker layer (`&'"'"'static`) | tower-resilience |\n|---|---:|---:|---:|---:|\n"
    printf "| per request | %s | %s | %s | %s |\n", v["tower_request", "bare"], v["tower_request", "breaker_layer"], v["tower_request", "breaker_layer_static"], v["tower_request", "tower_resilience"]
  }' "$work/new.tsv"
echo

if ((failed)); then
  echo "instructions: FAIL: a row of ours grew by more than $limit % over $baseline, or has no baseline." >&2
  echo "instructions: if the cost is intended, UPDATE_BASELINE=1 bash ci/instructions.sh and commit the baseline." >&2
  exit 1
fi
if ((gate)); then
  echo "instructions: ok (no row of ours more than $limit % over its baseline)"
else
  echo "instructions: compared, not gated (another toolchain than the baseline's)"
fi
