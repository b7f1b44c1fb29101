#!/usr/bin/env bash
# Every test and check, from a fresh Debian machine: the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo; echo "==== $* ($(date +%T))"; }
step setup;   bash ci/setup.sh
step lint;    bash ci/lint.sh
step docs;    bash ci/docs.sh
step test;    bash ci/test.sh
step valgrind; bash ci/valgrind.sh
step instructions; bash ci/instructions.sh
step loom;    bash ci/loom.sh
step miri;    bash ci/miri.sh
step targets; bash ci/targets.sh
step firmware; bash ci/firmware.sh
step e2e;     bash ci/e2e.sh
step redis;   bash ci/redis.sh
step msrv;    bash ci/msrv.sh
step package; bash ci/package.sh
step python; bash ci/python.sh
step fuzz;    bash ci/fuzz.sh
step "all checks passed"
