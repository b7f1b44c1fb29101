#!/usr/bin/env bash
# Every test and check, from a fresh Debian machine: the README's test command.
#
# Disk: CI machines can be short of space (one ran out during the MSRV step), so this run keeps
# its build directories small. No incremental caches (CI builds each thing once), line tables
# instead of full debug info in debug builds, and each step's own build directory (loom, miri,
# msrv, docs.rs, firmware, the no_std probe, package, the 32-bit layout) is removed once nothing
# later needs it. Each step's header shows the free space and the build directories' size.
# The scripts under ci/ keep their caches when run one by one.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
export CARGO_PROFILE_TEST_DEBUG=line-tables-only
target="${CARGO_TARGET_DIR:-target}"
disk() {
  local free used
  free=$(df -Pk . | awk 'NR==2 { printf "%.1f GiB", $4 / 1048576 }' || true)
  used=$(du -sck "$target" tests/firmware/target tests/no_std_probe/target fuzz/target python/target \
    2>/dev/null | awk 'END { printf "%.1f GiB", $1 / 1048576 }' || true)
  echo "disk: $free free, build directories $used"
}
step() { echo; echo "==== $* ($(date +%T))"; disk; }
prune() { rm -rf "$@"; }
step setup;   bash ci/setup.sh
step lint;    bash ci/lint.sh
step docs;    bash ci/docs.sh;      prune "$target/docsrs"
step test;    bash ci/test.sh;      prune target/word32
step valgrind; bash ci/valgrind.sh
step instructions; bash ci/instructions.sh
step loom;    bash ci/loom.sh;      prune target/loom  # (with CARGO_TARGET_DIR set, loom builds there: kept)
step miri;    bash ci/miri.sh;      prune target/miri target/miri32
step targets; bash ci/targets.sh;   prune tests/no_std_probe/target
step firmware; bash ci/firmware.sh; prune tests/firmware/target
step e2e;     bash ci/e2e.sh
step redis;   bash ci/redis.sh
step msrv;    bash ci/msrv.sh;      prune "$target/msrv"
step package; bash ci/package.sh;   prune "$target/package"
step python; bash ci/python.sh
step fuzz;    bash ci/fuzz.sh
step "all checks passed"
