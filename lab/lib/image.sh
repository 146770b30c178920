# shellcheck shell=bash
# The lab's guest image: a busybox initramfs with lab/guest and lab/workloads, built once per content and cached
# in CACHE/initramfs (lab VMs boot it; the Xen lab's domUs boot it with an overlay, its dom0 initramfs uses the
# busybox); and the workloads a guest runs at boot.
# Provides: ensure_busybox (-> BUSYBOX), ensure_initramfs (-> BASE_INITRD), ensure_tools (-> TOOLS_CPIO: the
#   overlay `start --tools` adds), find_workload WORKLOAD (-> WL_NAME, WL_FILE, WL_OVERLAY), ensure_paper_overlay
#   (-> PAPER_OVERLAY).
# Needs: paths.sh (LAB_DIR, CACHE), common.sh (die, note, need, missing_packages).

INITRAMFS_FORMAT=v1          # bump when the image layout produced by ensure_initramfs changes
PAPER_OVERLAY_FORMAT=v1      # bump when the layout produced by ensure_paper_overlay changes
# What the paper's job needs in the guest: the compiler, the C library it and the compiled code use, the headers
PAPER_PACKAGES=(tcc libc6 libc6-dev linux-libc-dev)

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
# to the image, empty for a built-in workload), WL_OVERLAY (a cached image part the workload needs, appended after
# the base image; empty for most). WORKLOAD is the name of one in lab/workloads, or a file (a path, or a name ending
# in .sh).
# shellcheck disable=SC2034 # WL_NAME, WL_FILE and WL_OVERLAY are for the caller
find_workload() {
    local workload=$1 f builtin=""
    WL_FILE="" WL_OVERLAY=""
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
    # only the paper's job carries a compiler: every other guest boots the small base image
    if [[ $WL_NAME == jansson ]]; then
        ensure_paper_overlay
        WL_OVERLAY=$PAPER_OVERLAY
    fi
}

# ensure_paper_overlay -> PAPER_OVERLAY: what the DAIS 2020 paper's job needs in the guest, as a gzip'd cpio
# appended to the base image (cached in CACHE/paper): tcc (Debian's package) with its runtime files, the C
# library it runs on and the headers it compiles against (libc6, libc6-dev, linux-libc-dev: /usr/include), and
# /periscope/paper/jansson.zip, the sources of Debian's jansson package (apt-get source, bookworm's deb-src that
# lab/setup.sh adds) zipped as the paper's job unpacks them. About 3 MB; built once, no apt call when cached.
ensure_paper_overlay() {
    local dir=$CACHE/paper
    PAPER_OVERLAY=$dir/overlay-$PAPER_OVERLAY_FORMAT.cpio.gz
    [[ -s $PAPER_OVERLAY ]] && return
    need apt-get dpkg-deb cpio gzip zip tar
    mkdir -p "$dir"
    exec {PLOCK}>"$dir/.lock"; flock "$PLOCK"
    if [[ ! -s $PAPER_OVERLAY ]]; then
        note "building the paper image part (tcc, glibc headers, jansson sources) ..."
        local tmp; tmp=$(mktemp -d "$dir/.build.XXXXXX")
        mkdir -p "$tmp/debs" "$dir/src"
        (cd "$tmp/debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "${PAPER_PACKAGES[@]}" >dl.log 2>&1) ||
            { cat "$tmp/debs/dl.log" >&2; rm -rf "$tmp"; die "apt-get download ${PAPER_PACKAGES[*]} failed"; }
        if ! compgen -G "$dir/src/jansson_*.orig.tar.*" > /dev/null; then
            (cd "$dir/src" && apt-get source --download-only -q -o APT::Sandbox::User="$(id -un)" jansson >dl.log 2>&1) ||
                { cat "$dir/src/dl.log" >&2; rm -rf "$tmp"; die "apt-get source jansson failed (deb-src for bookworm: run lab/setup.sh as root)"; }
        fi
        local d x=$tmp/x r=$tmp/root
        for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$x"; done
        mkdir -p "$r/usr/bin" "$r/usr/lib/x86_64-linux-gnu" "$r/lib/x86_64-linux-gnu" "$r/lib64" "$r/periscope/paper"
        cp "$x/usr/bin/tcc" "$r/usr/bin/"
        cp -a "$x/usr/lib/x86_64-linux-gnu/tcc" "$r/usr/lib/x86_64-linux-gnu/"
        cp -a "$x/usr/include" "$r/usr/"
        # the shared objects tcc runs on (its NEEDED entries) and the dynamic loader its ELF names
        for d in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 ld-linux-x86-64.so.2; do
            cp -L "$x/lib/x86_64-linux-gnu/$d" "$r/lib/x86_64-linux-gnu/$d"
        done
        ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
        mkdir "$tmp/zip"
        tar -xf "$dir"/src/jansson_*.orig.tar.* -C "$tmp/zip"
        (cd "$tmp/zip" && find . -exec touch -d 2020-01-01T00:00:00Z {} + && zip -q -X -r "$r/periscope/paper/jansson.zip" jansson-*)
        (cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$PAPER_OVERLAY.tmp"
        mv "$PAPER_OVERLAY.tmp" "$PAPER_OVERLAY"
        rm -rf "$tmp"
    fi
    exec {PLOCK}>&-
}
