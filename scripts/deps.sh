#!/usr/bin/env bash
# deps.sh - install exactly the Debian packages rollgate needs that are missing.
# Idempotent. As root it installs them; otherwise it prints the apt-get line to run.
# Usage: scripts/deps.sh [--with-chromium] [--with-clang]
set -euo pipefail

packages=(build-essential cmake pkg-config
          libcurl4-openssl-dev libssl-dev libjansson-dev libgsl-dev libsqlite3-dev
          libmicrohttpd-dev libyaml-dev libcmocka-dev curl python3)
for arg in "$@"; do
    case "$arg" in
    --with-chromium) packages+=(chromium) ;;
    --with-clang) packages+=(clang) ;;
    --with-valgrind) packages+=(valgrind) ;;
    *) echo "deps.sh: unknown option '$arg'" >&2; exit 3 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
