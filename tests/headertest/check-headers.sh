#!/usr/bin/env bash
# check-headers.sh - every public header compiles on its own, twice (include guard), as
# C11 with -Wall -Wextra -pedantic -Werror: it includes what it uses and nothing leaks.
#
#   tests/headertest/check-headers.sh CC SOURCE_DIR [-I... for dependencies]
#
# Registered as the ctest test_headers (tests/headertest/headertest.cmake); make lint runs it.
set -euo pipefail
cc=$1
src=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bad=0
for h in "$src"/include/rollgate/*.h; do
    name=$(basename "$h")
    printf '#include "rollgate/%s"\n#include "rollgate/%s"\ntypedef int rg_headertest_unit;\n' "$name" "$name" >"$work/t.c"
    if ! "$cc" -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$src/include" "$@" \
        "$work/t.c" 2>"$work/err"; then
        echo "rollgate/$name does not compile alone:"
        cat "$work/err"
        bad=1
    fi
done
[ $bad -eq 0 ] && echo "check-headers: every header of include/rollgate compiles alone"
exit $bad
