#!/usr/bin/env bash
# The job store service (services/jobstore) end to end: runs the cmocka
# binary built from tests/unit/test_jobstore.c, which starts the real
# loom-jobstore per test (ipc:// addresses, its own schema, a free metrics
# port) against the throwaway server that scripts/test.sh started, and
# drives it over the bus. It skips when LOOM_TEST_PG_URL is unset
# (make test-unit) and needs it here.
set -euo pipefail
: "${LOOM_TEST_PG_URL:?run through make test}"
exec "${LOOM_BUILD:-build}/tests/test_jobstore"
