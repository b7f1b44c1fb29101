#!/usr/bin/env bash
# breaker-redis: unit, doc and integration tests. The integration tests start their own
# redis-server on free loopback ports in temporary directories (no persistence) and stop it by
# PID; no system instance is used. Installs Debian's redis-server if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
  echo "redis: installing redis-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
echo "redis: $(redis-server --version)"
export RUSTFLAGS="-D warnings"
cargo test -p breaker-redis --all-features --release
# Without the default `tls` feature: a `rediss://` URL is a typed error at start
# (tests/tls.rs has that test for this build), and the crate builds without it.
cargo test -p breaker-redis --no-default-features --release --test tls
