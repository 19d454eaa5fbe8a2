#!/usr/bin/env bash
# tidy.sh - clang-tidy with the repo's .clang-tidy over every C file the build compiles
# (the build directory's compile_commands.json; generated files excluded), two at a time.
# A finding fails unless scripts/tidy-baseline.txt lists it (count per file and check: the
# findings the tree had when the check was wired into `make lint`, to be fixed, never added
# to). Fix a new one, or NOLINT(check) it with the reason. After fixing baseline findings,
# `scripts/tidy.sh --update-baseline BUILD_DIR` shrinks the file.
#
#   scripts/tidy.sh [--update-baseline] BUILD_DIR [FILE...]
set -euo pipefail
update=0
if [ "${1-}" = "--update-baseline" ]; then
    update=1
    shift
fi
build=${1:?usage: $0 [--update-baseline] BUILD_DIR [FILE...]}
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
# "count path check" per file and check, paths relative to the root.
summarise() {
    grep ': \(warning\|error\): ' "$1" | sed -E "s|^$root/||" |
        sed -E 's/^([^:]+):.*\[([A-Za-z0-9.-]+)(,-warnings-as-errors)?\]$/\1 \2/; t; s/^([^:]+):.*/\1 unknown/' |
        sort | uniq -c | awk '{print $1, $2, $3}'
}
baseline=scripts/tidy-baseline.txt
if [ $update -eq 1 ]; then
    summarise "$out" >"$baseline"
    echo "tidy: $baseline: $(awk '{n += $1} END {print n + 0}' "$baseline") findings"
    exit 0
fi
touch "$out.base"
[ -f "$baseline" ] && cp "$baseline" "$out.base"
bad=0
total=0
while read -r n path check; do
    total=$((total + n))
    allowed=$(awk -v p="$path" -v c="$check" '$2 == p && $3 == c {print $1}' "$out.base")
    if [ "$n" -gt "${allowed:-0}" ]; then
        echo "tidy: $path: $n $check finding(s), baseline ${allowed:-0}:"
        grep -A3 "^$root/$path:.*$check" "$out" || grep -A3 "^$root/$path:" "$out"
        bad=1
    fi
done < <(summarise "$out")
rm -f "$out.base"
if [ $bad -ne 0 ]; then
    echo "tidy: new findings (fix them, or NOLINT(check) with the reason)"
    exit 1
fi
echo "tidy: ${#files[@]} files, $total findings, none beyond $baseline"
