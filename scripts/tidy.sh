#!/usr/bin/env bash
# tidy.sh - clang-tidy with the repo's .clang-tidy over every C file the build compiles
# (the build directory's compile_commands.json; generated files excluded), two at a time.
# Any warning fails: the tree is kept at zero (fix it, or NOLINT(check) with the reason).
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
printf '%s\n' "${files[@]}" | xargs -P "${TIDY_JOBS:-2}" -n 4 \
    clang-tidy -p "$build" --quiet --warnings-as-errors='*' >"$out" 2>/dev/null || true
count=$(grep -c ': \(warning\|error\): ' "$out" || true)
if [ "$count" -ne 0 ]; then
    grep -A3 ': \(warning\|error\): ' "$out"
    echo "tidy: $count finding(s) in ${#files[@]} files"
    exit 1
fi
echo "tidy: ${#files[@]} files, no findings"
