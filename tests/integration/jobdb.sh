#!/usr/bin/env bash
# The jobstore's PostgreSQL layer (services/jobstore/db.c, jobdb.c) against
# the throwaway server that scripts/test.sh started: runs the cmocka binary
# built from tests/unit/test_jobdb.c, which skips when LOOM_TEST_PG_URL is
# unset (make test-unit) and needs it here. Each test uses its own schema.
set -euo pipefail
: "${LOOM_TEST_PG_URL:?run through make test}"
exec "${LOOM_BUILD:-build}/tests/test_jobdb"
