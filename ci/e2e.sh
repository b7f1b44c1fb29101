#!/usr/bin/env bash
# End-to-end scenarios of the breaker-tokio demo service against a real PostgreSQL, a real
# Kafka-protocol broker (tansu) and redis-server, on loopback only: tests/e2e/tests/fault.rs (one
# service, its dependencies killed, hung and restarted under load, hostile clients),
# tests/e2e/tests/fleet.rs (three replicas sharing their breakers through Redis against three
# that do not) and tests/e2e/tests/flood.rs (a key flood against the per-tenant breakers). The
# harness they share is tests/e2e/src/.
#
# Run as root on a fresh Debian machine: installs PostgreSQL and redis-server from Debian if
# missing, installs tansu (with its libSQL storage) from crates.io into its own root if it is not
# there yet (about 10 minutes of building; reused afterwards), builds the service, then runs the
# scenarios one after the other, which start, kill and restart every dependency themselves (in
# temporary directories, on free ports).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
  return 0
}
if [ -z "$(pg_bin)" ]; then
  echo "e2e: installing postgresql (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! command -v redis-server >/dev/null; then
  echo "e2e: installing redis-server (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
PG_BIN="$(pg_bin)"
[ -n "$PG_BIN" ] || { echo "e2e: no PostgreSQL server binaries after installing" >&2; exit 1; }
# initdb refuses to run as root: the test runs PostgreSQL as `postgres` (the package's user).
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi

export PATH="$HOME/.cargo/bin:$PATH"
# tansu with its libSQL storage engine (a SQLite file), so the broker the fault test kills keeps
# what it acknowledged. Installed into its own root, so a tansu on PATH built without `libsql`
# is never picked up by mistake; BREAKER_E2E_TANSU overrides.
TANSU_ROOT="${BREAKER_TANSU_ROOT:-$HOME/.cache/breaker-tools/tansu-0.6-libsql}"
TANSU="${BREAKER_E2E_TANSU:-$TANSU_ROOT/bin/tansu}"
if [ ! -x "$TANSU" ]; then
  echo "e2e: installing tansu (features dynostore, libsql) from crates.io into $TANSU_ROOT (cargo install, several minutes)"
  cargo install tansu --version '^0.6' --features dynostore,libsql --locked --root "$TANSU_ROOT"
  TANSU="$TANSU_ROOT/bin/tansu"
fi

# The same flags and feature set as ci/test.sh, so its build artifacts are reused.
export RUSTFLAGS="${RUSTFLAGS:--D warnings}"
cargo build --release --workspace --all-features --bin breaker-demo
SERVICE="$(realpath "${CARGO_TARGET_DIR:-target}/release/breaker-demo")"

echo "e2e: postgres $PG_BIN, $(redis-server --version | cut -d' ' -f1-3), tansu $TANSU ($("$TANSU" --version 2>/dev/null || echo '?')), service $SERVICE"
BREAKER_E2E_PG_BIN="$PG_BIN" BREAKER_E2E_TANSU="$TANSU" BREAKER_E2E_SERVICE="$SERVICE" \
  cargo test --release -p breaker-e2e --all-features --lib --test fault --test fleet --test flood -- --nocapture --test-threads 1
