#!/usr/bin/env bash
# Fetch include/qemu/qemu-plugin.h (the QEMU TCG plugin API, not packaged by Debian) from the QEMU orig
# source tarball of bookworm-backports and cache it under <repo>/var/cache/qemu-plugin/include/qemu/.
# No download when the header is already cached.
#
# Needs the bookworm-backports deb-src line (the project's setup adds it):
#   deb-src http://deb.debian.org/debian bookworm-backports main
# Usage: fetch-qemu-plugin-header.sh [dest-include-dir]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
dest="${1:-$repo/var/cache/qemu-plugin/include}"
header="$dest/qemu/qemu-plugin.h"

if [[ -s "$header" ]]; then
    exit 0
fi

command -v apt-get >/dev/null || { echo "fetch-qemu-plugin-header: apt-get not found (Debian needed)" >&2; exit 1; }
hint() {
    echo "  needs a bookworm-backports deb-src source (lab/setup.sh adds it), e.g. in /etc/apt/sources.list.d/:" >&2
    echo "    deb-src http://deb.debian.org/debian bookworm-backports main      then: apt-get update" >&2
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# The .dsc of the backport may 404 while the orig tarball still arrives: ignore the exit status and look
# for the tarball. Restrict to the backports version so a newer/older main-archive qemu is not picked.
ver="$(apt-cache showsrc qemu 2>/dev/null | awk '/^Version:/ {print $2}' | grep bpo12 | sort -V | tail -1 || true)"
if [[ -n "$ver" ]]; then
    apt-get source --download-only "qemu=$ver" >apt-source.log 2>&1 || true
else
    apt-get source --download-only -t bookworm-backports qemu >apt-source.log 2>&1 || true
fi
tarball="$(ls qemu_*.orig.tar.* 2>/dev/null | head -1 || true)"
if [[ -z "$tarball" ]]; then
    echo "fetch-qemu-plugin-header: apt-get source did not deliver a qemu orig tarball:" >&2
    sed 's/^/  /' apt-source.log >&2
    hint
    exit 1
fi
member="$(tar -tf "$tarball" | grep -E '^[^/]+/include/qemu/qemu-plugin\.h$' | head -1)"
[[ -n "$member" ]] || { echo "fetch-qemu-plugin-header: $tarball has no include/qemu/qemu-plugin.h" >&2; exit 1; }
tar -xf "$tarball" "$member"
grep -q 'QEMU_PLUGIN_VERSION' "$member" || { echo "fetch-qemu-plugin-header: unexpected header" >&2; exit 1; }
mkdir -p "$dest/qemu"
cp "$member" "$header.tmp" && mv "$header.tmp" "$header"
echo "$tarball" >"$dest/qemu/SOURCE"
echo "fetch-qemu-plugin-header: cached $header (from $tarball)" >&2
