#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build the Xen lab's QEMU: Debian's QEMU 10.0.2 (bookworm-backports source) with the nested-SVM fixes in
# patches/, TCG only, x86_64-softmmu, installed under <var>/cache/xen-lab/qemu/<version>-<hash>/ (<var> is
# ${PERISCOPE_VAR:-<repo>/var}, as for the rest of the lab: lab/lib/paths.sh).
# The hash covers the patches' diffs and the configure flags, so changing either builds a new directory; a
# build that already exists is reused at once. Others use the stable path
#   <var>/cache/xen-lab/qemu/current/bin/qemu-system-x86_64
#
# Firmware: the +ds orig tarball carries no firmware blobs, so the binary looks in Debian's directories
# (--firmwarepath, the same list as Debian's qemu-system-x86; -L /usr/share/qemu also works).
#
# Needs the bookworm-backports deb-src line (lab/setup.sh adds it); installs missing build dependencies
# with apt-get. Usage: build.sh        (prints the path of qemu-system-x86_64 on stdout)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../lib/paths.sh
source "$here/../../lib/paths.sh"
LAB_PROG="xen-lab qemu"
# shellcheck source=../../lib/common.sh
source "$here/../../lib/common.sh"
src_cache="$XEN_CACHE/qemu-src"
install_root="$XEN_CACHE/qemu"

as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# As few features as give the lab what it needs: TCG, the PC machines, virtio-9p for dom0's root
# (libattr), pixman for the display devices the PC machines expect, and the user network (libslirp) that forwards
# one host port to the agent in dom0. No KVM, GUI, docs, tools, plugins.
configure_flags=(
    --target-list=x86_64-softmmu
    --python=/usr/bin/python3
    --without-default-features
    --disable-download
    --disable-docs
    --disable-tools
    --disable-install-blobs
    --enable-virtfs
    --enable-attr
    --enable-pixman
    --enable-slirp
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
)

# --- 1. Source: the orig tarball of the backports version, downloaded once -----------------------------
command -v apt-get >/dev/null || die "apt-get not found (Debian needed)"
# The backports version, not bookworm's 7.2; the same choice as vmi-bridge's fetch-qemu-plugin-header.sh.
debian_version="$(apt-cache showsrc qemu 2>/dev/null | awk '/^Version:/ {print $2}' | grep bpo12 \
    | sort -V | tail -1 || true)"
[[ -n "$debian_version" ]] || die "no bookworm-backports qemu source known to apt; needs
  deb-src http://deb.debian.org/debian bookworm-backports main   (then apt-get update)"
upstream_version="${debian_version#*:}"      # 1:10.0.2+ds-2+deb13u1~bpo12+1 -> 10.0.2+ds-2+deb13u1~bpo12+1
upstream_version="${upstream_version%-*}"    #                                -> 10.0.2+ds
mkdir -p "$src_cache"
tarball="$(ls "$src_cache"/qemu_"$upstream_version".orig.tar.* 2>/dev/null | head -1 || true)"
if [[ -z "$tarball" ]]; then
    note "downloading the qemu $debian_version source into $src_cache"
    # The .dsc and debian tarball of the backport may 404 while the orig tarball still arrives: ignore
    # the exit status and look for the tarball (the Debian patches are not needed here).
    (cd "$src_cache" && apt-get source --download-only "qemu=$debian_version" >apt-source.log 2>&1 || true)
    tarball="$(ls "$src_cache"/qemu_"$upstream_version".orig.tar.* 2>/dev/null | head -1 || true)"
    [[ -n "$tarball" ]] || { sed 's/^/  /' "$src_cache/apt-source.log" >&2; die "no orig tarball arrived"; }
fi

# --- 2. Reuse the build of this source, patches and flags, if there is one ------------------------------
mkdir -p "$install_root"
exec 9>"$install_root/.lock"
flock 9     # a second build.sh waits here, then finds the first one's build
patches=("$here"/patches/*.patch)
[[ -e "${patches[0]}" ]] || die "no patches in $here/patches"
# Only the diffs count: rewording a commit message does not change the binary.
hash="$({ for p in "${patches[@]}"; do sed -n '/^diff --git /,$p' "$p"; done
          printf '%s\n' "${configure_flags[@]}"; } | sha256sum | cut -c1-12)"
key="${upstream_version}-${hash}"
dest="$install_root/$key"
binary="$dest/bin/qemu-system-x86_64"
if [[ -x "$binary" ]]; then
    ln -sfn "$key" "$install_root/current"
    echo "$install_root/current/bin/qemu-system-x86_64"
    exit 0
fi

# --- 3. Build dependencies ------------------------------------------------------------------------------
# meson >= 1.5 and pycotap only exist in bookworm-backports; the rest is plain bookworm.
backports_deps=(meson python3-pycotap)
deps=(ninja-build pkg-config gcc flex bison python3-venv libglib2.0-dev libpixman-1-dev libattr1-dev
      zlib1g-dev patch bzip2 xz-utils libslirp-dev)
mapfile -t to_install < <(missing_packages "${deps[@]}")
mapfile -t to_install_bpo < <(missing_packages "${backports_deps[@]}")
meson_version="$(meson --version 2>/dev/null || echo 0)"
if [[ "$(printf '%s\n' 1.5.0 "$meson_version" | sort -V | head -1)" != 1.5.0 && ! " ${to_install_bpo[*]} " =~ " meson " ]]
then
    to_install_bpo+=(meson)   # installed, but bookworm's 1.0
fi
if (( ${#to_install[@]} + ${#to_install_bpo[@]} )); then
    note "installing build dependencies: ${to_install[*]} ${to_install_bpo[*]}"
    as_root apt-get update -qq
    if (( ${#to_install[@]} )); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${to_install[@]}" >&2
    fi
    if (( ${#to_install_bpo[@]} )); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports \
            "${to_install_bpo[@]}" >&2
    fi
fi

# --- 4. Extract, patch (no fuzz), configure, build, install -------------------------------------------
work="$install_root/.build-$key"
rm -rf "$work" "$dest.tmp"
mkdir -p "$work"
note "extracting $(basename "$tarball")"
tar -xf "$tarball" -C "$work"
src="$(echo "$work"/qemu-*)"
for p in "${patches[@]}"; do
    note "applying $(basename "$p")"
    patch -d "$src" -p1 --fuzz=0 --no-backup-if-mismatch --quiet <"$p"
done
# pc-bios/meson.build decompresses the edk2 firmware whenever bzip2 is found, even with
# --disable-install-blobs, and the +ds tarball has none: give it empty stand-ins (never installed).
for fd in $(grep -o "'edk2-[^']*\.fd'" "$src/pc-bios/meson.build" | tr -d "'"); do
    [[ -e "$src/pc-bios/$fd.bz2" ]] || bzip2 </dev/null >"$src/pc-bios/$fd.bz2"
done
mkdir -p "$src/build"
cd "$src/build"
note "configuring (log: $src/build/config.log)"
nice -n 15 ../configure --prefix="$dest.tmp" "${configure_flags[@]}" >configure.log 2>&1 \
    || { tail -30 configure.log >&2; die "configure failed"; }
# Build only what gets installed (the emulator and its trace-events file): "make" would also build about
# 900 test and benchmark objects, nearly half the work.
mapfile -t installed_outputs < <(meson introspect --installed | python3 -c '
import json, os, sys
for path in json.load(sys.stdin):
    if path.startswith(os.getcwd() + "/"):    # built here, not copied from the source tree
        print(os.path.relpath(path))')
note "building ${installed_outputs[*]} with $(nproc) jobs (nice 15)"
start=$SECONDS
nice -n 15 ninja -j"$(nproc)" "${installed_outputs[@]}" >build.log 2>&1 \
    || { tail -40 build.log >&2; die "build failed: $src/build/build.log"; }
nice -n 15 meson install --no-rebuild >install.log 2>&1 || { tail -20 install.log >&2; die "install failed"; }
note "built in $((SECONDS - start)) s"
# Installed under a temporary name so an interrupted build never looks finished; QEMU finds its data
# directory relative to the binary (meson's relocatable default), so the rename is harmless.
mv "$dest.tmp" "$dest"
"$binary" --version | head -1 >&2
echo "$debian_version" >"$dest/SOURCE"
cp "${patches[@]}" "$dest/"
ln -sfn "$key" "$install_root/current"
cd "$install_root"
[[ -n "${KEEP_BUILD:-}" ]] || rm -rf "$work"
echo "$install_root/current/bin/qemu-system-x86_64"
