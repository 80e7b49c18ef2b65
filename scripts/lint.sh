#!/usr/bin/env bash
# lint.sh -- house rules that a compiler does not check (STYLE.md).
#  1. clang-format: every C file matches .clang-format.
#  2. banned calls: sprintf strcpy strcat strtok atoi (use snprintf, buf, strtol).
#  3. SQL built by string concatenation: queries go through PQexecParams or
#     prepared statements only.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files '*.c' '*.h')
if command -v clang-format >/dev/null; then
  bad=$(for f in $files; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
  [ -n "$bad" ] && { echo "lint: not clang-formatted (run clang-format -i):"; echo "$bad"; rc=1; }
fi
hits=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi)\s*\(' $files | grep -vE '^\S+:[0-9]+:\s*(\*|/\*|//)')
[ -n "$hits" ] && { echo "lint: banned functions:"; echo "$hits"; rc=1; }
sql=$(grep -nE '(PQexec|PQprepare|PQsendQuery)\s*\(' $files | grep -E 'PQexec\s*\(' | grep -vE '"(BEGIN|COMMIT|ROLLBACK)' )
[ -n "$sql" ] && { echo "lint: PQexec with non-constant SQL (use PQexecParams):"; echo "$sql"; rc=1; }
grep -nE 'snprintf\s*\([^;]*(SELECT|INSERT|UPDATE|DELETE) ' $files && { echo "lint: SQL built with snprintf"; rc=1; }
[ $rc = 0 ] && echo "lint: clean"
exit $rc
