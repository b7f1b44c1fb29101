#!/usr/bin/env bash
# The Python package (python/, distribution `lockfree-breaker`): rustfmt and clippy on its
# crate (its own cargo workspace), then the abi3 wheel built by maturin from PyPI in a virtual
# environment this script creates, installed there, and its pytest suite.
# From a fresh Debian machine as root; the benchmark (python/bench/compare.py) is not run here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=${BREAKER_PY_VENV:-$target/python-venv}

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "python: installing python3-venv"
  apt-get update -qq && apt-get install -y -qq python3-venv python3-pip
fi

(cd python && cargo fmt --check)
(cd python && RUSTFLAGS="-D warnings" cargo clippy --all-targets -- -D warnings)

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "maturin>=1.5,<2" pytest pytest-asyncio prometheus_client

rm -rf "$target/python-wheels"
(cd python && "$venv/bin/maturin" build --release --quiet --out "$target/python-wheels" \
  --interpreter "$venv/bin/python")
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$target"/python-wheels/lockfree_breaker-*.whl
# The tests import the installed wheel, never the source folder.
(cd python/tests && "$venv/bin/python" -m pytest -q -p no:cacheprovider .)
