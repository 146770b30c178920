#!/usr/bin/env bash
# Builds the lab's test kernel modules (lab/modules/*.c) for a lab guest kernel, against Debian's linux-headers
# package of exactly that kernel build. The headers, their common part and kbuild are fetched with
# `apt-get download` into var/cache/lab-modules/<release>/ and unpacked there (nothing is installed); built
# modules are cached by a hash of the sources.
#
# usage: lab/modules/build.sh [--kernel-package PKG]    (default: the lab's default kernel)
# prints the directory holding periscope_dkom.ko and periscope_names.ko
set -euo pipefail

MOD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$MOD_DIR/../.." && pwd)
VAR_DIR=${PERISCOPE_VAR:-$REPO_DIR/var}
CACHE=$VAR_DIR/cache/lab-modules

die() { echo "lab/modules/build.sh: $*" >&2; exit 1; }

kernel_args=()
while (($#)); do
    case $1 in
        --kernel-package) kernel_args=(--kernel-package "${2:?--kernel-package needs a value}"); shift 2 ;;
        *) die "unknown argument $1" ;;
    esac
done
for tool in apt-get apt-cache dpkg-deb make gcc-12 sha256sum flock; do
    command -v "$tool" >/dev/null || die "missing host tool $tool (lab/setup.sh installs gcc and make)"
done

# The kernel the lab boots, and the exact Debian version of its package (from the cached .deb's name).
vmlinuz=$("$REPO_DIR/lab/lab.sh" kernel-path "${kernel_args[@]}")
kdir=$(dirname "$vmlinuz")
release=$(cat "$kdir/version")
pkg_version=$(cut -d_ -f2 < "$kdir/source-deb")
[[ -n $release && -n $pkg_version ]] || die "cannot tell the kernel release and package version from $kdir"

dir=$CACHE/$release
headers=$dir/headers
mkdir -p "$dir"
exec {LOCK}>"$dir/.lock"
flock "$LOCK"

if [[ ! -f $headers/.complete ]]; then
    echo "lab/modules/build.sh: downloading linux-headers-$release ($pkg_version) ..." >&2
    rm -rf "$headers" "$dir/debs"
    mkdir -p "$dir/debs"
    main=linux-headers-$release
    # Its dependencies that hold the build tree: the -common headers and kbuild (not the compiler or linux-base).
    deps=$(apt-cache show "$main=$pkg_version" | sed -n 's/^Depends: //p' | head -1 | tr ',' '\n' |
           sed 's/|.*//; s/^ *//; s/ *$//' | grep -E '^linux-(headers|kbuild)-' || true)
    wanted=("$main=$pkg_version")
    while IFS= read -r dep; do
        [[ -z $dep ]] && continue
        name=${dep%% *}
        if [[ $dep =~ \(=\ ([^\)]*)\) ]]; then wanted+=("$name=${BASH_REMATCH[1]}"); else wanted+=("$name"); fi
    done <<< "$deps"
    (cd "$dir/debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "${wanted[@]}" >download.log 2>&1) ||
        { cat "$dir/debs/download.log" >&2
          die "apt-get download ${wanted[*]} failed (apt-get update? A kernel cached long ago may be gone from the archive: delete var/cache/kernels/default-package and the kernel's directory there to fetch the current one)"; }
    for deb in "$dir"/debs/*.deb; do
        dpkg-deb -x "$deb" "$headers"
    done
    rm -rf "$dir/debs"
    # The arch tree's Makefile includes the common tree by its installed path: point it at the unpacked one.
    sed -i "s|/usr/src/|$headers/usr/src/|g" "$headers/usr/src/linux-headers-$release/Makefile"
    touch "$headers/.complete"
fi

key=$( (echo "$release"; cd "$MOD_DIR" && cat Kbuild ./*.c) | sha256sum | cut -c1-16)
out=$dir/build-$key
if [[ ! -f $out/periscope_dkom.ko || ! -f $out/periscope_names.ko ]]; then
    work=$(mktemp -d "$dir/.build.XXXXXX")
    cp "$MOD_DIR"/Kbuild "$MOD_DIR"/*.c "$work/"
    # No BTF for these modules (it only serves BPF): generating it needs pahole, which the lab does not install.
    if ! make -s -C "$headers/usr/src/linux-headers-$release" M="$work" modules \
            CONFIG_DEBUG_INFO_BTF_MODULES= >"$work/build.log" 2>&1; then
        cat "$work/build.log" >&2
        rm -rf "$work"
        die "building the modules for $release failed"
    fi
    mkdir -p "$out"
    cp "$work"/*.ko "$out/"
    rm -rf "$work"
    # older builds of the same kernel are stale
    find "$dir" -maxdepth 1 -name 'build-*' ! -name "build-$key" -exec rm -rf {} +
fi
echo "$out"
