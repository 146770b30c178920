# shellcheck shell=bash
# The lab's guest image: a busybox initramfs with lab/guest and lab/workloads, built once per content and cached
# in CACHE/initramfs (lab VMs boot it; the Xen lab's domUs boot it with an overlay, its dom0 initramfs uses the
# busybox); and the workloads a guest runs at boot.
# Provides: ensure_busybox (-> BUSYBOX), ensure_initramfs (-> BASE_INITRD), ensure_tools (-> TOOLS_CPIO: the
#   overlay `start --tools` adds), find_workload WORKLOAD (-> WL_NAME, WL_FILE).
# Needs: paths.sh (LAB_DIR, CACHE), common.sh (die, note, need, missing_packages).

INITRAMFS_FORMAT=v1          # bump when the image layout produced by ensure_initramfs changes

# ensure_busybox -> BUSYBOX (a static busybox binary)
ensure_busybox() {
    if [[ -z $(missing_packages busybox-static) && -x /bin/busybox ]]; then
        BUSYBOX=/bin/busybox; return
    fi
    local dir=$CACHE/busybox
    if [[ ! -x $dir/bin/busybox ]]; then
        need apt-get dpkg-deb
        mkdir -p "$dir"
        exec {BLOCK}>"$dir/.lock"; flock "$BLOCK"
        if [[ ! -x $dir/bin/busybox ]]; then
            note "downloading busybox-static ..."
            local tmp; tmp=$(mktemp -d "$dir/.dl.XXXXXX")
            (cd "$tmp" && apt-get download -q -o APT::Sandbox::User="$(id -un)" busybox-static >dl.log 2>&1) \
                || { cat "$tmp/dl.log" >&2; die "apt-get download busybox-static failed"; }
            dpkg-deb -x "$tmp"/*.deb "$tmp/x"
            mkdir -p "$dir/bin"; cp "$tmp/x/bin/busybox" "$dir/bin/busybox.tmp"; mv "$dir/bin/busybox.tmp" "$dir/bin/busybox"
            rm -rf "$tmp"
        fi
        exec {BLOCK}>&-
    fi
    BUSYBOX=$dir/bin/busybox
}

# ensure_initramfs -> BASE_INITRD (cached, keyed by hash of its inputs)
ensure_initramfs() {
    ensure_busybox
    local key
    key=$( { echo "$INITRAMFS_FORMAT"; sha256sum < "$BUSYBOX";
             cd "$LAB_DIR" && find guest workloads -type f -name '*' | LC_ALL=C sort | xargs sha256sum; } \
           | sha256sum | cut -c1-16)
    BASE_INITRD=$CACHE/initramfs/base-$key.cpio.gz
    [[ -s $BASE_INITRD ]] && return
    need cpio gzip
    mkdir -p "$CACHE/initramfs"
    exec {ILOCK}>"$CACHE/initramfs/.lock"; flock "$ILOCK"
    if [[ ! -s $BASE_INITRD ]]; then
        local st; st=$(mktemp -d "$CACHE/initramfs/.build.XXXXXX")
        (
            cd "$st" || exit
            mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp run root periscope/bin periscope/workloads
            cp "$BUSYBOX" bin/busybox; chmod 755 bin/busybox
            local p
            while IFS= read -r p; do
                [[ $p == bin/busybox ]] && continue
                mkdir -p "$(dirname "$p")"; ln -sf /bin/busybox "$p"
            done < <(bin/busybox --list-full)
            cp "$LAB_DIR/guest/init" init
            cp "$LAB_DIR/guest/inittab" etc/inittab
            cp "$LAB_DIR/guest/profile" etc/profile
            cp "$LAB_DIR/guest/lib.sh" periscope/lib.sh
            cp "$LAB_DIR"/guest/bin/* periscope/bin/
            cp "$LAB_DIR"/workloads/*.sh periscope/workloads/
            chmod 755 init periscope/bin/*
            printf 'root:x:0:0:root:/root:/bin/sh\n' > etc/passwd
            printf 'root:x:0:\n' > etc/group
            echo "$key" > periscope/image-key
            find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 > "$BASE_INITRD.tmp"
        )
        mv "$BASE_INITRD.tmp" "$BASE_INITRD"
        rm -rf "$st"
        # older images are stale (QEMU reads the initrd at start, so running VMs do not need them)
        find "$CACHE/initramfs" -maxdepth 1 -name 'base-*.cpio.gz' ! -name "${BASE_INITRD##*/}" -delete
    fi
    exec {ILOCK}>&-
}

TOOLS_FORMAT=v1              # bump when the layout produced by ensure_tools changes

# ensure_tools -> TOOLS_CPIO: a cpio overlay with the syscall probe (lab/tools/syscall-probe.c, built static with the
# host's gcc) as /periscope/tools/syscall-probe, and the host's strace with the shared libraries it loads (Debian's
# strace is dynamically linked), for tests that compare a trace with what the guest saw. Cached, keyed by its inputs.
ensure_tools() {
    need gcc strace ldd cpio gzip
    local libs; libs=$(ldd /usr/bin/strace | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
    local key
    key=$( { echo "$TOOLS_FORMAT"; gcc --version | head -1; sha256sum "$LAB_DIR/tools/syscall-probe.c";
             sha256sum /usr/bin/strace; for l in $libs; do sha256sum "$l"; done; } | sha256sum | cut -c1-16)
    TOOLS_CPIO=$CACHE/tools/tools-$key.cpio.gz
    [[ -s $TOOLS_CPIO ]] && return
    mkdir -p "$CACHE/tools"
    exec {TLOCK}>"$CACHE/tools/.lock"; flock "$TLOCK"
    if [[ ! -s $TOOLS_CPIO ]]; then
        local st; st=$(mktemp -d "$CACHE/tools/.build.XXXXXX")
        mkdir -p "$st/periscope/tools" "$st/usr/bin"
        gcc -static -Os -Wall -Wextra -o "$st/periscope/tools/syscall-probe" "$LAB_DIR/tools/syscall-probe.c" \
            || die "cannot build the syscall probe: is libc6-dev (static libc) installed? run lab/setup.sh"
        cp /usr/bin/strace "$st/usr/bin/strace"
        local l
        for l in $libs; do
            mkdir -p "$st$(dirname "$l")"
            cp -L "$l" "$st$l"
        done
        (cd "$st" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$TOOLS_CPIO.tmp"
        mv "$TOOLS_CPIO.tmp" "$TOOLS_CPIO"
        rm -rf "$st"
        find "$CACHE/tools" -maxdepth 1 -name 'tools-*.cpio.gz' ! -name "${TOOLS_CPIO##*/}" -delete
    fi
    exec {TLOCK}>&-
}

# find_workload WORKLOAD -> WL_NAME (what the guest runs: /periscope/workloads/WL_NAME.sh), WL_FILE (the file to add
# to the image, empty for a built-in workload). WORKLOAD is the name of one in lab/workloads, or a file (a path, or
# a name ending in .sh).
# shellcheck disable=SC2034 # WL_NAME and WL_FILE are for the caller
find_workload() {
    local workload=$1 f builtin=""
    WL_FILE=""
    if [[ $workload == */* || $workload == *.sh ]]; then
        [[ -f $workload ]] || die "workload file not found: $workload"
        WL_FILE=$(realpath "$workload")
        WL_NAME=$(basename "$workload"); WL_NAME=${WL_NAME%.sh}
        WL_NAME=${WL_NAME//[^A-Za-z0-9_.-]/_}
    else
        if [[ ! -f $LAB_DIR/workloads/$workload.sh ]]; then
            for f in "$LAB_DIR"/workloads/*.sh; do f=${f##*/}; builtin+="${f%.sh} "; done
            die "unknown workload '$workload' (built in: ${builtin% }; or give a file path)"
        fi
        WL_NAME=$workload
    fi
}
