#!/usr/bin/env bash
# The core, breaker-std (default CoarseClock) and breaker-tokio (runtime, call_async, tower
# layer) under valgrind's memcheck: tests/valgrind (package breaker-valgrind) is a small program
# that uses all three and asserts what it sees; memcheck must report no error and no leak
# (`--error-exitcode=1 --leak-check=full`). Suppressions: tests/valgrind/std.supp (Rust
# standard-library false positives, each with its upstream issue; none in this workspace).
#
# Installs valgrind from Debian if it is missing. Builds in release (the profile services
# ship) and in debug (no inlining: every frame of ours visible to memcheck).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
  echo "valgrind: installing valgrind (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
echo "valgrind: $(valgrind --version)"

export RUSTFLAGS="${RUSTFLAGS:--D warnings}"
target="${CARGO_TARGET_DIR:-target}"
for profile in release dev; do
  cargo build --profile "$profile" -p breaker-valgrind
  dir=$([[ $profile == dev ]] && echo debug || echo "$profile")
  echo "valgrind: memcheck, $profile build"
  valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,possible \
    --errors-for-leak-kinds=definite,possible --suppressions=tests/valgrind/std.supp \
    --quiet "$target/$dir/breaker-valgrind"
done
echo "valgrind: ok (memcheck: no errors, no leaks)"
