#!/usr/bin/env bash
# Each library crate's declared `rust-version`, checked with that toolchain (`cargo +<msrv>
# check`), on the lockfile the MSRV-aware resolver picks: resolved in a copy of the workspace
# whose members are the three library crates, so the committed Cargo.lock is untouched.
# breaker-core is also checked with its firmware features on thumbv7em-none-eabihf (the 32-bit
# word layout). Toolchains are installed (minimal profile) if missing; the build directory is
# reused between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}/msrv"

msrv_of() { sed -n 's/^rust-version = "\(.*\)"/\1/p' "$1/Cargo.toml"; }
core_v="$(msrv_of core)"
std_v="$(msrv_of std-adapter)"
tokio_v="$(msrv_of tokio-adapter)"
redis_v="$(msrv_of redis-adapter)"
for v in "$core_v" "$std_v" "$tokio_v" "$redis_v"; do
  [ -n "$v" ] || { echo "msrv: a library crate has no literal rust-version" >&2; exit 1; }
done
echo "msrv: breaker-core $core_v, breaker-std $std_v, breaker-tokio $tokio_v, breaker-redis $redis_v"

for v in $(printf '%s\n' "$core_v" "$std_v" "$tokio_v" "$redis_v" | sort -u); do
  if ! rustup run "$v" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$v" --profile minimal
  fi
done
rustup target add --toolchain "$core_v" thumbv7em-none-eabihf >/dev/null

# The copy: the library crates and the workspace manifest, nothing built.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp Cargo.toml LICENSE-MIT LICENSE-APACHE "$work/"
for c in core std-adapter tokio-adapter redis-adapter; do
  mkdir -p "$work/$c"
  (cd "$c" && find . -path ./target -prune -o \( -type f -o -type l \) -print | tar -cf - -T -) | tar -C "$work/$c" -xf -
done
cd "$work"
sed -i 's/^members = .*/members = ["core", "std-adapter", "tokio-adapter"]/' Cargo.toml
# Resolved for the lowest rust-version among the members (the core's), newest compatible first.
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile --quiet
echo "msrv: resolved; tokio $(sed -n '/^name = "tokio"$/{n;s/version = //p}' Cargo.lock)," \
  "axum $(sed -n '/^name = "axum"$/{n;s/version = //p}' Cargo.lock)"

export CARGO_TARGET_DIR="$target_dir"
# Whether it compiles, not lint-clean: older compilers' lints differ (ci/lint.sh lints on stable),
# so their warnings are shown, not denied. (No `--cap-lints` in RUSTFLAGS: cargo learns which crate
# types a no_std target lacks from rustc's warnings.)
unset RUSTFLAGS
check() { local v="$1"; shift; echo "msrv: cargo +$v check $*"; cargo "+$v" check --locked --quiet "$@"; }
# Every core feature but `embassy-time`: embassy-time 0.5 is edition 2024 and needs Rust 1.85
# (documented on the feature); it is built, linted and tested on stable.
core_features="$(sed -n '/^\[features\]/,/^\[/s/^\([a-z][a-z0-9-]*\) = .*/\1/p' "$root/core/Cargo.toml" |
  grep -vx 'default\|embassy-time' | paste -sd, -)"
check "$core_v" -p breaker-core --no-default-features
check "$core_v" -p breaker-core --features "$core_features"
check "$core_v" -p breaker-core --target thumbv7em-none-eabihf --no-default-features --features embedded-time,defmt
# `axum` needs std (axum-core does): host only.
check "$core_v" -p breaker-core --target thumbv7em-none-eabihf --features "$(echo "$core_features" | tr , '\n' | grep -vx axum | paste -sd, -)"
check "$std_v" -p breaker-std --no-default-features
check "$std_v" -p breaker-std --all-features
check "$tokio_v" -p breaker-tokio --no-default-features
check "$tokio_v" -p breaker-tokio --all-features

# breaker-redis needs a newer Rust than the three (the `redis` crate's): resolved on its own, in
# a workspace of the four, for its rust-version, so the three above keep their own lockfile.
sed -i 's/^members = .*/members = ["core", "std-adapter", "tokio-adapter", "redis-adapter"]/' Cargo.toml
rm -f Cargo.lock
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo "+$redis_v" generate-lockfile --quiet
check "$redis_v" -p breaker-redis --all-features
echo "msrv: all declared rust-versions hold"
