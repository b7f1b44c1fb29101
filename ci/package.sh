#!/usr/bin/env bash
# The four library crates packaged together, as `cargo publish` would: `cargo package` of all
# four in one invocation (members that depend on each other resolve through a local registry
# overlay before any is on crates.io), each .crate unpacked and built on its own (the verify
# step). Then each package's file list: its README, both licenses, and nothing of the demo
# service, the tests crates or the benches.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="${RUSTFLAGS:--D warnings}"
crates=(breaker-core breaker-std breaker-tokio breaker-redis)
args=()
for c in "${crates[@]}"; do args+=(-p "$c"); done
# The verify step unpacks each .crate of the overlay into $CARGO_HOME/registry/src/-<hash>/,
# where the hash names the overlay's path (target/package/tmp-registry), not the contents, and
# cargo reuses a directory it finds there; and a registry package's build is fingerprinted by
# its name and version, not its files. So a CARGO_HOME or a target directory that packaged an
# earlier commit from the same checkout path verifies against that commit's sources (it did:
# breaker-tokio was built against a breaker-core without `call_async`). Those copies go first.
home="${CARGO_HOME:-$HOME/.cargo}"
for c in "${crates[@]}"; do
  rm -rf "$home"/registry/src/-*/"$c"-[0-9]*
done
rm -rf "${CARGO_TARGET_DIR:-target}/package"
for c in "${crates[@]}"; do
  # Removes the build of both copies, the workspace's and the registry's: seconds to rebuild.
  cargo clean --quiet -p "$c"
done
# --allow-dirty: what is packaged is the working tree; a clean clone packages the commit.
cargo package --allow-dirty "${args[@]}"
for c in "${crates[@]}"; do
  list="$(cargo package --allow-dirty --list -p "$c")"
  for f in Cargo.toml README.md LICENSE-MIT LICENSE-APACHE src/lib.rs; do
    grep -qx "$f" <<<"$list" || { echo "package: $c does not ship $f" >&2; exit 1; }
  done
  if bad="$(grep -E '^(examples/service|demo/|tests/e2e|benches/)|breaker-demo' <<<"$list")"; then
    echo "package: $c ships what is not the library's:" >&2; echo "$bad" >&2; exit 1
  fi
  echo "package: $c: $(wc -l <<<"$list") files, $(du -k "${CARGO_TARGET_DIR:-target}/package/$c-"*.crate | cut -f1) KiB"
done
echo "package: the four library crates package and build"
