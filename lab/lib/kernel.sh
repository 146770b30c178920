# shellcheck shell=bash
# Debian's kernels for lab guests and the Xen lab's dom0: resolved, downloaded once with apt-get download and
# cached in CACHE/kernels (only boot/vmlinuz-* and boot/config-* unpacked).
# Provides: default_kernel_package (the package bookworm's linux-image-amd64 points to), ensure_kernel PKG
#   (-> KERNEL_VMLINUZ, KERNEL_VERSION), apt_download PKG DIR (a package's .deb into DIR).
# Needs: paths.sh (CACHE), common.sh (die, note, need).

kernel_lock() { mkdir -p "$CACHE/kernels"; exec {KLOCK}>"$CACHE/kernels/.lock"; flock "$KLOCK"; }
kernel_unlock() { exec {KLOCK}>&-; }

# The package linux-image-amd64 in bookworm (not backports) points to; cached.
default_kernel_package() {
    local f=$CACHE/kernels/default-package
    if [[ -s $f ]]; then cat "$f"; return; fi
    need apt-cache dpkg
    local best="" v dep pkg
    while IFS= read -r v; do
        [[ -z $best ]] && { best=$v; continue; }
        dpkg --compare-versions "$v" gt "$best" && best=$v
    # Binary packages only: with deb-src lines, madison also lists source packages such as linux-signed-amd64.
    done < <(apt-cache madison linux-image-amd64 |
             awk -F'|' '{gsub(/ /, "", $1)} $1 == "linux-image-amd64" && $3 ~ /Packages *$/ && $3 !~ /backports/ {gsub(/ /, "", $2); print $2}')
    [[ -n $best ]] || die "apt-cache knows no linux-image-amd64 outside backports (apt-get update?)"
    dep=$(apt-cache show "linux-image-amd64=$best" | sed -n 's/^Depends: //p' | head -1)
    pkg=${dep%%[ ,]*}
    [[ $pkg == linux-image-* ]] || die "cannot resolve linux-image-amd64=$best (Depends: $dep)"
    if apt-cache show "$pkg-unsigned" >/dev/null 2>&1; then pkg=$pkg-unsigned; fi
    mkdir -p "$CACHE/kernels"
    echo "$pkg" > "$f.tmp" && mv "$f.tmp" "$f"
    echo "$pkg"
}

# apt_download PKG DIR: downloads PKG's .deb into DIR (removed on failure) and prints its path
apt_download() {
    local pkg=$1 dir=$2
    if ! (cd "$dir" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg" >dl.log 2>&1); then
        cat "$dir/dl.log" >&2; rm -rf "$dir"; die "apt-get download $pkg failed"
    fi
    ls "$dir"/*.deb
}

# ensure_kernel PKG -> KERNEL_VMLINUZ, KERNEL_VERSION
ensure_kernel() {
    local pkg=$1
    [[ $pkg =~ ^linux-image-[a-z0-9][a-z0-9.+~-]*$ ]] || die "not a Debian kernel package name: $pkg"
    local dir=$CACHE/kernels/$pkg
    if [[ ! -s $dir/version ]]; then
        kernel_lock
        if [[ ! -s $dir/version ]]; then
            need apt-get dpkg-deb tar
            note "downloading kernel package $pkg ..."
            local tmp; tmp=$(mktemp -d "$CACHE/kernels/.dl.XXXXXX")
            local deb; deb=$(apt_download "$pkg" "$tmp") || exit 1
            # boot/ comes first in the data tarball: with exact member names, tar stops early instead
            # of decompressing ~400 MB of modules (the version is in the package name for Debian kernels)
            local guess=${pkg#linux-image-}; guess=${guess%-unsigned}
            (cd "$tmp" && set +o pipefail &&
                dpkg-deb --fsys-tarfile "$deb" 2>/dev/null |
                tar -x --occurrence "./boot/vmlinuz-$guess" "./boot/config-$guess" 2>/dev/null) || true
            if [[ ! -f $tmp/boot/vmlinuz-$guess ]]; then
                (cd "$tmp" && dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards './boot/*')
            fi
            local vmlinuz=""
            for vmlinuz in "$tmp"/boot/vmlinuz-*; do [[ -f $vmlinuz ]] && break; vmlinuz=""; done
            [[ -n $vmlinuz ]] || { rm -rf "$tmp"; die "$pkg contains no /boot/vmlinuz-*"; }
            local ver=${vmlinuz##*/vmlinuz-}
            rm -rf "$dir"; mkdir -p "$dir"
            mv "$vmlinuz" "$dir/"
            [[ -f $tmp/boot/config-$ver ]] && mv "$tmp/boot/config-$ver" "$dir/"
            basename "$deb" > "$dir/source-deb"
            echo "$ver" > "$dir/version"
            rm -rf "$tmp"
        fi
        kernel_unlock
    fi
    KERNEL_VERSION=$(cat "$dir/version")
    KERNEL_VMLINUZ=$dir/vmlinuz-$KERNEL_VERSION
    [[ -f $KERNEL_VMLINUZ ]] || die "cache corrupt: $KERNEL_VMLINUZ missing (rm -rf $dir)"
}
