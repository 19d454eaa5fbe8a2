#!/usr/bin/env bash
# tidy.sh - clang-tidy with the repo's .clang-tidy over every C file the build compiles
# (the build directory's compile_commands.json; generated files excluded), two at a time.
# Any finding fails: fix it, or NOLINTNEXTLINE(check) it with the reason on the line above
# (see docs/internals/layers.md, "clang-tidy").
#
#   scripts/tidy.sh BUILD_DIR [FILE...]
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [FILE...]}
shift
cd "$(dirname "$0")/.."
root=$(pwd)
db="$build/compile_commands.json"
[ -f "$db" ] || { echo "tidy: $db missing (configure the build first)" >&2; exit 2; }
if [ $# -eq 0 ]; then
    mapfile -t files < <(python3 -c '
import json, os, sys
root = sys.argv[1]
seen = set()
for e in json.load(open(sys.argv[2])):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    if f.startswith(root + "/") and "/build" not in f[len(root):] and f not in seen:
        seen.add(f)
        print(f)
' "$root" "$db")
else
    files=("$@")
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy not found" >&2; exit 2; }
# xargs exits 123 when a clang-tidy run reported findings; anything else non-zero is a
# clang-tidy that could not run (killed, missing), which must not pass as "no findings".
rc=0
printf '%s\n' "${files[@]}" | xargs -P "${TIDY_JOBS:-2}" -n 4 \
    clang-tidy -p "$build" --quiet --warnings-as-errors='*' >"$out" 2>/dev/null || rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 123 ]; then
    echo "tidy: clang-tidy failed to run (xargs exit $rc)" >&2
    exit 2
fi
# One line per finding (a header's finding is reported once per file that includes it).
findings=$(grep ': \(warning\|error\): ' "$out" | sed -E "s|^$root/||" | sort -u || true)
if [ -n "$findings" ]; then
    n=$(printf '%s\n' "$findings" | wc -l)
    echo "tidy: $n finding(s):"
    while IFS= read -r f; do
        loc=${f%%: warning: *}
        loc=${loc%%: error: *}
        grep -m1 -A3 -F "$root/$loc: " "$out" || echo "$f"
    done <<<"$findings"
    echo "tidy: fix them, or NOLINTNEXTLINE(check) with the reason"
    exit 1
fi
echo "tidy: ${#files[@]} files, no findings"
