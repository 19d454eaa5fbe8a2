#!/usr/bin/env bash
# deps.sh - install exactly the Debian packages rollgate needs that are missing.
# Idempotent. As root it installs them; otherwise it prints the apt-get line to run.
# Usage: scripts/deps.sh [--ci] [--with-chromium] [--with-scipy] [--with-clang]
#                        [--with-valgrind] [--optional]
#   --optional: the --with-* extras are nice to have (a test skips without them): failing to
#   install them prints a note instead of failing. The base packages are always required.
#   --ci: what CI needs so that no required test skips (.ci/run): Chromium for the
#   dashboard test, SciPy for the live SciPy comparison (both required), clang-format and
#   clang-tidy for `make lint`.
set -euo pipefail

packages=(build-essential cmake pkg-config
          libcurl4-openssl-dev libssl-dev libjansson-dev libgsl-dev libsqlite3-dev
          libmicrohttpd-dev libyaml-dev libcmocka-dev curl python3
          libpq-dev postgresql)
extras=()
optional=0
for arg in "$@"; do
    case "$arg" in
    --ci) extras+=(chromium python3-scipy clang-format clang-tidy) ;;
    --with-chromium) extras+=(chromium) ;;
    --with-scipy) extras+=(python3-scipy) ;;
    --with-clang) extras+=(clang) ;;
    --with-valgrind) extras+=(valgrind) ;;
    --optional) optional=1 ;;
    *) echo "deps.sh: unknown option '$arg'" >&2; exit 3 ;;
    esac
done

missing_of() {
    local p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s\n' "$p"
    done
}

install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing Debian packages; run as root:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends $*" >&2
        return 1
    fi
    echo "deps.sh: installing $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

mapfile -t missing < <(missing_of "${packages[@]}")
if [ ${#missing[@]} -gt 0 ]; then
    install "${missing[@]}"
fi
if [ ${#extras[@]} -gt 0 ]; then
    mapfile -t missing < <(missing_of "${extras[@]}")
    if [ ${#missing[@]} -gt 0 ] && ! install "${missing[@]}"; then
        if [ "$optional" -eq 1 ]; then
            echo "deps.sh: could not install ${missing[*]}; the tests that need them skip" >&2
        else
            exit 1
        fi
    fi
fi
exit 0
