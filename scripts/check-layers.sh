#!/usr/bin/env bash
# check-layers.sh - every call between rollgate's libraries follows the layer graph.
#
#   scripts/check-layers.sh NAME=FILE[;FILE...] ...
#
# Each argument names a library (or executable) of cmake/layers.cmake and its archive or
# object files. For each one, every undefined symbol that another of the named libraries
# defines must come from a library it may use (the table below, which matches
# cmake/layers.cmake and the README's layout); anything else is printed as
#   layer violation: NAME (object) calls SYMBOL from OTHER
# and the script exits 1. Symbols from outside the project (libc, curl, ...) are not checked.
# Registered as the ctest test_layers; test_layers_catches feeds it a deliberate wrong call.
set -euo pipefail

declare -A uses=(
    [rg_util]=""
    [rg_stats]="rg_util"
    [rg_store]="rg_util"
    [rg_platform]="rg_util"
    [rg_config]="rg_util rg_stats"
    [rg_engine]="rg_util rg_config rg_stats rg_store rg_platform"
    [rollgate_server]="rg_util rg_config rg_engine"
    [rollgate]="rg_util rg_config rg_stats rg_engine rollgate_server"
    [rollgate-sim]="rg_util"
)
# The one HTTP layer (platform/http.c) is the server's for webhooks: symbols rg_http_*.
declare -A uses_prefix=([rollgate_server]="rg_platform:rg_http_")

[ $# -gt 0 ] || { echo "usage: $0 NAME=FILE[;FILE...] ..." >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

names=()
for arg in "$@"; do
    name=${arg%%=*}
    files=${arg#*=}
    [ -n "${uses[$name]+set}" ] || { echo "check-layers: unknown library $name" >&2; exit 2; }
    names+=("$name")
    IFS=';' read -r -a list <<<"$files"
    for f in "${list[@]}"; do
        [ -n "$f" ] || continue
        [ -e "$f" ] || { echo "check-layers: $name: no such file $f" >&2; exit 2; }
        nm -A -g --defined-only "$f" | awk -v n="$name" '{print $NF, n}' >>"$work/defined"
        nm -A -u "$f" | awk -v n="$name" '{o=$1; sub(/:$/, "", o); print $NF, n, o}' \
            >>"$work/undefined"
    done
done
touch "$work/defined" "$work/undefined"
sort -u -k1,1 "$work/defined" >"$work/defined.sorted"
sort -k1,1 "$work/undefined" >"$work/undefined.sorted"

# symbol user object definer
join -j1 "$work/undefined.sorted" "$work/defined.sorted" >"$work/calls" || true
bad=0
while read -r sym user obj definer; do
    [ "$user" = "$definer" ] && continue
    ok=0
    for allowed in ${uses[$user]}; do
        [ "$allowed" = "$definer" ] && ok=1
    done
    prefix=${uses_prefix[$user]-}
    if [ $ok -eq 0 ] && [ -n "$prefix" ] && [ "${prefix%%:*}" = "$definer" ] &&
        [[ "$sym" == "${prefix#*:}"* ]]; then
        ok=1
    fi
    if [ $ok -eq 0 ]; then
        echo "layer violation: $user ($(basename "$obj")) calls $sym from $definer"
        bad=1
    fi
done <"$work/calls"
if [ $bad -ne 0 ]; then
    echo "check-layers: calls outside the layer graph (cmake/layers.cmake, README layout)"
    exit 1
fi
echo "check-layers: ${names[*]}: every call follows the layer graph"
