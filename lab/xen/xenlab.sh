#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Periscope Xen lab: Xen 4.17 with xen-extensions/patches, nested under QEMU/TCG, a PV dom0 on a 9p root, and
# domUs created with xl in dom0. Usage: lab.sh xen up|guest|exec|console|status|down|build (lab/xen/README.md);
# lab.sh runs this script for `lab.sh xen ...`.
#
# From the lab's libraries (lab/lib) it takes the kernel cache, the guest image (the domUs boot lab.sh's, dom0's
# initramfs uses its busybox), the QEMU run-dir layout, meta.json and the test-shell client.
set -euo pipefail

LAB_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/paths.sh
source "$LAB_LIB/paths.sh"
# shellcheck source=../lib/common.sh
source "$LAB_LIB/common.sh"
# shellcheck source=../lib/meta.sh
source "$LAB_LIB/meta.sh"
# shellcheck source=../lib/kernel.sh
source "$LAB_LIB/kernel.sh"
# shellcheck source=../lib/image.sh
source "$LAB_LIB/image.sh"
# shellcheck source=../lib/qemu.sh
source "$LAB_LIB/qemu.sh"
# shellcheck source=../lib/shell.sh
source "$LAB_LIB/shell.sh"

XEN_LAB_DIR=$LAB_DIR/xen
# what is in the Xen lab QEMU's command line and no other's (is_qemu_pid)
XEN_QEMU_MARK="unix:$XEN_RUN/qmp.sock,"
XEN_BOOT_TIMEOUT=${PERISCOPE_XEN_BOOT_TIMEOUT:-300}
XEN_GUEST_TIMEOUT=${PERISCOPE_XEN_GUEST_TIMEOUT:-240}
XEN_LIFETIME=${PERISCOPE_XEN_LIFETIME:-28800}     # the watchdog stops the machine after this many s (0: never)
XEN_MEMORY=3072 XEN_SMP=2 DOM0_MEMORY=1024
# Periscope's agent in dom0 (agent/target/periscope-agent.jar on a jlink'd runtime, host name xen-lab, mutual TLS
# with the lab's certificates in $VAR_DIR/pki, which the host's Periscope server uses too): the host reaches it at
# 127.0.0.1:XEN_AGENT_PORT through QEMU's user network, the only port forwarded into dom0
XEN_AGENT_PORT=${PERISCOPE_XEN_AGENT_PORT:-7370}
XEN_AGENT_JAR=$REPO_DIR/agent/target/periscope-agent.jar
XEN_AGENT_HOST=xen-lab
XEN_PKI=$VAR_DIR/pki
XEN_JDK=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
XEN_SUITE=bookworm
XEN_MIRROR=${PERISCOPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOM0_ROOT_FORMAT=1                 # bump when build_dom0_root's result changes
DOM0_INITRD_FORMAT=1               # bump when build_dom0_initrd's layout changes
# dom0's root: the toolstack, the headers and compiler for the shim, socat for the domU console relays,
# qemu-system-xen + seabios as the device model of HVM guests.
DOM0_PACKAGES=(xen-utils-4.17 xenstore-utils libxen-dev gcc libc6-dev make busybox-static kmod socat procps
               qemu-system-xen seabios)
# what the dom0 initramfs loads to reach its root (each with its dependencies, from modules.dep)
DOM0_INITRD_MODULES=(virtio_pci 9pnet_virtio 9p overlay)
# Xen's console (dom0's hvc0 goes there too) is COM1; a failed boot or a dom0 crash shows these lines.
XEN_FATAL_RE='Panic on CPU|Hardware Dom0 (crashed|halted|shutdown)|^\[ *[0-9.]+\] Kernel panic - not syncing|FATAL TRAP|periscope-dom0: FATAL'

xen_usage() {
    cat <<'EOF'
usage: lab.sh xen up [--timeout S]           boot Xen + dom0 (builds and caches what is missing), wait for xl info
       lab.sh xen guest NAME [--type pv|pvh|hvm] [--workload paper|busy|idle|FILE] [--tenant T] [--memory MIB]
                             [--kernel-package PKG] [--append "PARAMS"] [--force]
       lab.sh xen guest NAME --monitor --tenant T [--memory MIB]   T's monitoring domain (PV, periscope_T_t)
       lab.sh xen guest-stop NAME
       lab.sh xen exec [--guest NAME] [--timeout S] -- COMMAND [ARG...]   (in dom0, or in a domU over its console)
       lab.sh xen console                    Xen's serial console (dom0 shell on hvc0; Ctrl-a x3 switches to Xen)
       lab.sh xen status [--json]
       lab.sh xen down
       lab.sh xen build                      build the hypervisor, dom0 root and initramfs only
       lab.sh xen policy MODULE.te           load Xen's policy with this Periscope module (GET /api/v1/policy/flask)
EOF
}

# xen_host_packages PKG...: installs the missing ones (the Xen lab runs as root, as verify.sh does)
xen_host_packages() {
    local missing=()
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]})) || return 0
    note "xen: installing host packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null || die "xen: apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------- hypervisor
# Built by xen-extensions/verify.sh (Debian's source + the patches, Debian's config + XSM/FLASK, the FLASK
# policy with the Periscope module built in), cached by source version + hash of the patches and policy.
xen_hypervisor_key() {
    local verify=$REPO_DIR/xen-extensions/verify.sh ver h
    ver=$(sed -n 's/^xen_version="\([^"]*\)".*/\1/p' "$verify")
    [[ -n $ver ]] || die "xen: cannot read xen_version from $verify"
    h=$(cd "$REPO_DIR/xen-extensions" && find patches flask include -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
    echo "$ver-$h"
}

# xen_policy_sources SRC DIR: the FLASK policy's sources of the Xen tree SRC (patched: xen.if has periscope_monitor())
# into DIR, shaped as Xen's tree (tools/flask/policy, and the hypervisor's classes in xen/xsm/flask/policy), for
# `xen policy`
xen_policy_sources() {
    mkdir -p "$2/tools/flask" "$2/xen/xsm/flask"
    cp -r "$1/tools/flask/policy" "$2/tools/flask/"
    cp -r "$1/xen/xsm/flask/policy" "$2/xen/xsm/flask/"
}

# ensure_hypervisor -> XEN_HV (the multiboot ELF), XEN_HV_KEY, XEN_HV_FLASK (the build's generated FLASK class and
# permission numbers, flask.h and av_permissions.h, for lab/xen/dom0/flask-access.c)
ensure_hypervisor() {
    if [[ -n ${PERISCOPE_XEN_HYPERVISOR:-} ]]; then
        [[ -s $PERISCOPE_XEN_HYPERVISOR ]] || die "xen: PERISCOPE_XEN_HYPERVISOR=$PERISCOPE_XEN_HYPERVISOR not found"
        XEN_HV=$PERISCOPE_XEN_HYPERVISOR XEN_HV_KEY=override
        XEN_HV_FLASK=$(dirname "$PERISCOPE_XEN_HYPERVISOR")/xsm/flask/include; return
    fi
    XEN_HV_KEY=$(xen_hypervisor_key)
    local dir=$XEN_CACHE/xen/$XEN_HV_KEY
    XEN_HV=$dir/xen XEN_HV_FLASK=$dir/flask
    [[ -s $XEN_HV ]] && return
    mkdir -p "$XEN_CACHE/xen"
    exec {HLOCK}>"$XEN_CACHE/xen/.lock"; flock "$HLOCK"
    if [[ ! -s $XEN_HV ]]; then
        local log=$XEN_CACHE/xen/build-$XEN_HV_KEY.log t0=$EPOCHREALTIME
        note "xen: building the hypervisor $XEN_HV_KEY with xen-extensions/verify.sh (nice 15, 1.5-3 min on 2 cores; log $log)"
        if ! nice -n 15 bash "$REPO_DIR/xen-extensions/verify.sh" > "$log" 2>&1; then
            tail -n 30 "$log" >&2; die "xen: xen-extensions/verify.sh failed (log $log)"
        fi
        local built=$REPO_DIR/var/build/xen-verify/src/xen
        [[ -s $built/xen ]] || die "xen: verify.sh passed but left no $built/xen"
        rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
        cp "$built/xen" "$built/xen-syms" "$built/.config" "$dir.tmp/"
        mkdir "$dir.tmp/flask"; cp "$built"/xsm/flask/include/{flask.h,av_permissions.h} "$dir.tmp/flask/"
        xen_policy_sources "$REPO_DIR/var/build/xen-verify/src" "$dir.tmp/policy-src"
        mv "$dir.tmp/.config" "$dir.tmp/config"
        elapsed "$t0" > "$dir.tmp/build-seconds"
        rm -rf "$dir"; mv "$dir.tmp" "$dir"
        note "xen: hypervisor built in $(cat "$dir/build-seconds") s: $XEN_HV"
    fi
    exec {HLOCK}>&-
}

# ---------------------------------------------------------------- dom0 root and initramfs
# ensure_kernel_modules PKG VERSION -> KMODS (a directory holding lib/modules/VERSION, from the package)
ensure_kernel_modules() {
    local pkg=$1 ver=$2 dir=$XEN_CACHE/modules/$1
    KMODS=$dir
    [[ -f $dir/lib/modules/$ver/modules.order ]] && return
    mkdir -p "$XEN_CACHE/modules"
    exec {MLOCK}>"$XEN_CACHE/modules/.lock"; flock "$MLOCK"
    if [[ ! -f $dir/lib/modules/$ver/modules.order ]]; then
        note "xen: downloading $pkg for its modules ..."
        local tmp deb; tmp=$(mktemp -d "$XEN_CACHE/modules/.dl.XXXXXX")
        deb=$(apt_download "$pkg" "$tmp") || exit 1
        mkdir -p "$tmp/x"
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" "./lib/modules/$ver"
        rm -rf "$dir"; mkdir -p "$dir/lib"
        mv "$tmp/x/lib/modules" "$dir/lib/"
        rm -rf "$tmp"
    fi
    exec {MLOCK}>&-
}

dom0_root_key() { # KERNEL_VERSION
    { echo "$DOM0_ROOT_FORMAT $XEN_SUITE $XEN_MIRROR $1"; printf '%s\n' "${DOM0_PACKAGES[@]}"; } | sha256sum | cut -c1-12
}

# ensure_dom0_root -> DOM0_ROOT (a bookworm minbase tree, served read-only to dom0 over 9p)
ensure_dom0_root() {
    local key; key=$(dom0_root_key "$KERNEL_VERSION")
    local dir=$XEN_CACHE/dom0/root-$key
    DOM0_ROOT=$dir/root
    [[ -f $dir/ready ]] && return
    xen_host_packages debootstrap
    mkdir -p "$XEN_CACHE/dom0" "$XEN_CACHE/debs"
    exec {RLOCK}>"$XEN_CACHE/dom0/.lock"; flock "$RLOCK"
    if [[ ! -f $dir/ready ]]; then
        local log=$XEN_CACHE/dom0/root-$key.log t0=$EPOCHREALTIME
        note "xen: building dom0's root $key (debootstrap $XEN_SUITE minbase + ${#DOM0_PACKAGES[@]} packages, nice 15; log $log)"
        rm -rf "$dir"; mkdir -p "$dir"
        local inc; inc=$(IFS=,; echo "${DOM0_PACKAGES[*]}")
        if ! nice -n 15 debootstrap --variant=minbase --include="$inc" --cache-dir="$XEN_CACHE/debs" \
                "$XEN_SUITE" "$dir/root" "$XEN_MIRROR" > "$log" 2>&1; then
            tail -n 30 "$log" >&2; die "xen: debootstrap failed (log $log)"
        fi
        ensure_kernel_modules "$KERNEL_PACKAGE" "$KERNEL_VERSION"
        mkdir -p "$dir/root/lib/modules"
        cp -a "$KMODS/lib/modules/$KERNEL_VERSION" "$dir/root/lib/modules/"
        chroot "$dir/root" depmod "$KERNEL_VERSION"
        rm -f "$dir"/root/var/cache/apt/archives/*.deb
        mkdir -p "$dir/root/periscope" "$dir/root/opt/periscope"
        echo "$KERNEL_VERSION" > "$dir/kernel-version"
        elapsed "$t0" > "$dir/build-seconds"
        touch "$dir/ready"
        note "xen: dom0 root built in $(cat "$dir/build-seconds") s ($(du -sm "$dir/root" | cut -f1) MiB)"
        # older roots are stale (a running machine keeps its files open: only delete when none runs)
        if ! xen_running; then
            find "$XEN_CACHE/dom0" -mindepth 1 -maxdepth 1 -name 'root-*' ! -name "root-$key*" -exec rm -rf {} +
        fi
    fi
    exec {RLOCK}>&-
}

# dom0_module_closure DIR MODNAME...: the .ko paths (relative to DIR = lib/modules/VER) in load order
dom0_module_closure() {
    local d=$1; shift
    declare -A seen=()
    local -a order=()
    visit() {
        local path=$1 line deps p
        [[ -n ${seen[$path]:-} ]] && return; seen[$path]=1
        line=$(grep -m1 "^$path:" "$d/modules.dep") || die "xen: $path not in modules.dep"
        deps=${line#*:}
        for p in $deps; do visit "$p"; done
        order+=("$path")
    }
    local m path
    for m in "$@"; do
        path=$(awk -F: -v m="$m" '{n=$1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n)} n == m {print $1; exit}' "$d/modules.dep")
        [[ -n $path ]] || { grep -qw "$m" "$d/modules.builtin" 2>/dev/null && continue; die "xen: module $m not found"; }
        visit "$path"
    done
    printf '%s\n' "${order[@]}"
}

# ensure_dom0_initrd -> DOM0_INITRD (busybox, the virtio/9p/overlay modules, lab/xen/dom0/initramfs-init)
ensure_dom0_initrd() {
    ensure_busybox
    local key
    key=$( { echo "$DOM0_INITRD_FORMAT $KERNEL_VERSION ${DOM0_INITRD_MODULES[*]}"; sha256sum < "$BUSYBOX";
             sha256sum < "$XEN_LAB_DIR/dom0/initramfs-init"; } | sha256sum | cut -c1-12)
    DOM0_INITRD=$XEN_CACHE/dom0/initrd-$key.cpio.gz
    [[ -s $DOM0_INITRD ]] && return
    need cpio gzip xz
    mkdir -p "$XEN_CACHE/dom0"
    exec {ILOCK}>"$XEN_CACHE/dom0/.initrd.lock"; flock "$ILOCK"
    if [[ ! -s $DOM0_INITRD ]]; then
        local mods=$DOM0_ROOT/lib/modules/$KERNEL_VERSION st m
        st=$(mktemp -d "$XEN_CACHE/dom0/.initrd.XXXXXX")
        mkdir -p "$st"/{bin,dev,proc,sys,lower,rw,newroot,modules}
        cp "$BUSYBOX" "$st/bin/busybox"; chmod 755 "$st/bin/busybox"
        for m in sh mount umount mkdir insmod switch_root cat echo sleep ls; do ln -s busybox "$st/bin/$m"; done
        cp "$XEN_LAB_DIR/dom0/initramfs-init" "$st/init"; chmod 755 "$st/init"
        local i=0 ko out
        while IFS= read -r ko; do
            i=$((i + 1)); printf -v out '%02d-%s' "$i" "${ko##*/}"
            case $ko in   # busybox insmod takes plain .ko files
                *.ko.xz) xz -dc "$mods/$ko" > "$st/modules/${out%.xz}" ;;
                *.ko.zst) zstd -qdc "$mods/$ko" > "$st/modules/${out%.zst}" ;;
                *.ko.gz) gzip -dc "$mods/$ko" > "$st/modules/${out%.gz}" ;;
                *) cp "$mods/$ko" "$st/modules/$out" ;;
            esac
        done < <(dom0_module_closure "$mods" "${DOM0_INITRD_MODULES[@]}")
        (cd "$st" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$DOM0_INITRD.tmp"
        mv "$DOM0_INITRD.tmp" "$DOM0_INITRD"
        rm -rf "$st"
    fi
    exec {ILOCK}>&-
}

# ensure_shim -> XEN_SHIM: libperiscope-xen.so built by dom0's own gcc against dom0's libxen-dev (in a chroot
# of the cached root: 2 s here, about a minute under TCG at boot), cached by its sources + the root
xen_shim_sources() { # DIR: copies what `make -C vmi-bridge/native/xen` needs into DIR (a repo-shaped tree)
    mkdir -p "$1/vmi-bridge/native" "$1/xen-extensions"
    cp -r "$REPO_DIR/vmi-bridge/native/xen" "$REPO_DIR/vmi-bridge/native/include" "$1/vmi-bridge/native/"
    cp -r "$REPO_DIR/xen-extensions/include" "$1/xen-extensions/"
    rm -rf "$1/vmi-bridge/native/xen/build"
}
ensure_shim() {
    local key
    key=$( { echo "${DOM0_ROOT%/root}"; cd "$REPO_DIR" && find vmi-bridge/native/xen vmi-bridge/native/include xen-extensions/include \
             -type f ! -path '*/build/*' | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-12)
    local dir=$XEN_CACHE/shim/$key
    XEN_SHIM=$dir/libperiscope-xen.so
    [[ -s $XEN_SHIM ]] && return
    mkdir -p "$XEN_CACHE/shim"
    exec {SLOCK}>"$XEN_CACHE/shim/.lock"; flock "$SLOCK"
    if [[ ! -s $XEN_SHIM ]]; then
        local b; b=$(mktemp -d "$DOM0_ROOT/tmp/periscope-shim.XXXXXX")
        xen_shim_sources "$b/src"
        if ! chroot "$DOM0_ROOT" make -C "/tmp/${b##*/}/src/vmi-bridge/native/xen" OUT="/tmp/${b##*/}/out" > "$b/build.log" 2>&1; then
            cat "$b/build.log" >&2; rm -rf "$b"; die "xen: building libperiscope-xen in dom0's root failed"
        fi
        rm -rf "$dir"; mkdir -p "$dir"
        cp "$b/out/libperiscope-xen.so" "$b/build.log" "$dir/"
        rm -rf "$b"
    fi
    exec {SLOCK}>&-
}

# ensure_monitor_overlay ROOT KMODS KVER -> MONITOR_OVERLAY: what a tenant's monitoring domain adds to the guest
# image (a cpio.gz): monitor-probe built static by dom0's root's gcc against its libxen-dev (the domain has no C
# library) and the domU kernel's xen-privcmd and xen-evtchn modules, which the domain's workload (monitor/monitor.sh)
# loads. Cached by its sources, the root and the kernel.
ensure_monitor_overlay() {
    local root=$1 kmods=$2 kver=$3 mod m key
    local mods=(kernel/drivers/xen/xen-privcmd.ko kernel/drivers/xen/xen-evtchn.ko)
    key=$( { echo "${root%/root} $kver"; sha256sum "$XEN_LAB_DIR"/monitor/*; cd "$REPO_DIR" && find xen-extensions/include -type f |
             LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-12)
    MONITOR_OVERLAY=$XEN_CACHE/monitor/overlay-$key.cpio.gz
    [[ -s $MONITOR_OVERLAY ]] && return
    mkdir -p "$XEN_CACHE/monitor"
    exec {MOLOCK}>"$XEN_CACHE/monitor/.lock"; flock "$MOLOCK"
    if [[ ! -s $MONITOR_OVERLAY ]]; then
        local b; b=$(mktemp -d "$root/tmp/periscope-monitor.XXXXXX")
        mkdir -p "$b/src" "$b/ov/periscope/monitor"
        cp "$XEN_LAB_DIR/monitor/monitor-probe.c" "$b/src/"
        cp -r "$REPO_DIR/xen-extensions/include" "$b/src/"
        if ! chroot "$root" gcc -std=gnu11 -O2 -Wall -Wextra -Werror -Wno-deprecated-declarations -static \
                -I"/tmp/${b##*/}/src/include" -o "/tmp/${b##*/}/ov/periscope/monitor/monitor-probe" "/tmp/${b##*/}/src/monitor-probe.c" \
                -lxenctrl -lxenforeignmemory -lxenevtchn -lxencall -lxendevicemodel -lxengnttab -lxentoollog -lxentoolcore \
                -lpthread > "$b/build.log" 2>&1; then
            cat "$b/build.log" >&2; rm -rf "$b"; die "xen: building monitor-probe in dom0's root failed"
        fi
        for mod in "${mods[@]}"; do
            m=$kmods/lib/modules/$kver/$mod
            [[ -f $m ]] || { rm -rf "$b"; die "xen: the domU kernel $kver has no $mod"; }
            cp "$m" "$b/ov/periscope/monitor/"
        done
        (cd "$b/ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$MONITOR_OVERLAY.tmp"
        mv "$MONITOR_OVERLAY.tmp" "$MONITOR_OVERLAY"
        rm -rf "$b"
    fi
    exec {MOLOCK}>&-
}

# ---------------------------------------------------------------- QEMU
# xen_pick_qemu -> XEN_QEMU, XEN_QEMU_KIND (fixed: the nested-SVM fixed build, stock: Debian's), XEN_QEMU_ARGS.
# The fixed build is made here when it is missing (qemu/build.sh: once, cached, about 3 to 5 minutes); if that
# fails, Debian's QEMU runs the lab, for PV guests only.
xen_pick_qemu() {
    local fixed=$XEN_CACHE/qemu/current/bin/qemu-system-x86_64
    XEN_QEMU_ARGS=()
    if [[ -z ${PERISCOPE_XEN_QEMU:-} && ! -x $fixed ]]; then
        note "xen: building QEMU with the nested-SVM fixes (once; log $XEN_CACHE/qemu-build.log) ..."
        mkdir -p "$XEN_CACHE"
        nice -n 15 bash "$XEN_LAB_DIR/qemu/build.sh" > "$XEN_CACHE/qemu-build.log" 2>&1 ||
            note "xen: the QEMU build failed (last lines of $XEN_CACHE/qemu-build.log below): Debian's QEMU runs PV guests only"$'\n'"$(tail -n 15 "$XEN_CACHE/qemu-build.log")"
    fi
    if [[ -n ${PERISCOPE_XEN_QEMU:-} ]]; then
        XEN_QEMU=$PERISCOPE_XEN_QEMU XEN_QEMU_KIND=${PERISCOPE_XEN_QEMU_KIND:-stock}
    elif [[ -x $fixed ]]; then
        XEN_QEMU=$fixed XEN_QEMU_KIND=fixed
    else
        XEN_QEMU=/usr/bin/qemu-system-x86_64 XEN_QEMU_KIND=stock
    fi
    [[ -x $XEN_QEMU ]] || die "xen: no QEMU at $XEN_QEMU (run lab/setup.sh)"
    # the fixed build is a +ds tarball without firmware blobs: Debian's seabios/qemu packages supply them
    [[ $XEN_QEMU_KIND == fixed ]] && XEN_QEMU_ARGS+=(-L /usr/share/qemu)
    # -monitor: Xen's mwait_idle would trust MONITOR/MWAIT that TCG does not honour; -rdtscp: stock QEMU checks
    # an L2 RDTSCP against the RDTSC intercept, so a nested guest spins in pvclock (harmless on the fixed build)
    XEN_CPU=${PERISCOPE_XEN_CPU:-EPYC,-monitor,-rdtscp}
}

# is_xen_pid PID: PID is alive and is the Xen lab's QEMU (its command line names this run dir's QMP socket)
is_xen_pid() { is_qemu_pid "$1" "$XEN_QEMU_MARK"; }

xen_running() { meta_load "$XEN_RUN" && is_xen_pid "$X_qemuPid"; }

xen_kill_qemu() { # PID
    qemu_stop "$1" "$XEN_QEMU_MARK" "$XEN_RUN" || die "xen: could not kill qemu pid $1"
}

xen_cleanup_run() { # removes runtime files of a stopped machine (keeps logs)
    local d=$XEN_RUN
    rm -f "$d"/{qmp,control,shell,console}.sock "$d/qemu.pid" "$d/watchdog.pid" "$d/meta.env" "$d/agent.endpoint"
    rm -rf "$d/share/guests" "$d/guests"
    [[ -f $d/meta.json ]] && mv -f "$d/meta.json" "$d/meta.last.json"
    return 0
}

# The watchdog: Xen boots with noreboot, so a dom0 crash or a panic leaves QEMU spinning forever. It stops the
# machine on a fatal console line or after PERISCOPE_XEN_LIFETIME seconds, and says why in watchdog.log.
xen_watchdog() {
    local pid=$1 lifetime=$2 start=${EPOCHREALTIME%.*} reason=""
    echo "$(date -u +%FT%TZ) watching qemu $pid (lifetime ${lifetime}s)"
    while is_xen_pid "$pid"; do
        sleep 5
        if grep -qE "$XEN_FATAL_RE" "$XEN_RUN/console.log" 2>/dev/null; then
            reason="fatal console line: $(grep -m1 -E "$XEN_FATAL_RE" "$XEN_RUN/console.log")"
            sleep 3   # let the rest of the oops reach the log
        elif ((lifetime > 0 && ${EPOCHREALTIME%.*} - start > lifetime)); then
            reason="lifetime of ${lifetime}s exceeded (PERISCOPE_XEN_LIFETIME)"
        fi
        if [[ -n $reason ]]; then
            echo "$(date -u +%FT%TZ) stopping qemu $pid: $reason"
            echo "$reason" > "$XEN_RUN/watchdog.reason"
            xen_kill_qemu "$pid"
            break
        fi
    done
    echo "$(date -u +%FT%TZ) qemu $pid is gone"
}

# ---------------------------------------------------------------- the share (9p tag "periscope", /periscope in dom0)
# What dom0 runs comes from the checkout at each `up`: its init scripts, the test-shell service, the lab's
# test-shell client and what it needs (lib/common.sh, lib/shell.sh: for the domU consoles), the shim (lib/) and its
# sources (src/, to rebuild it in dom0).
xen_fill_share() {
    local s=$XEN_RUN/share
    rm -rf "$s"; mkdir -p "$s"/{bin,lib,dom0,guests,log/xen,src}
    cp "$XEN_LAB_DIR"/dom0/init "$XEN_LAB_DIR"/dom0/toolstack "$s/dom0/"
    cp "$XEN_LAB_DIR/dom0/periscope-xen" "$LAB_DIR/guest/bin/periscope-shelld" "$s/bin/"
    chmod 755 "$s"/dom0/* "$s"/bin/*
    cp "$LAB_LIB/common.sh" "$LAB_LIB/shell.sh" "$s/lib/"
    cp "$XEN_SHIM" "$s/lib/"
    xen_shim_sources "$s/src"
    mkdir "$s/flask"; cp "$XEN_LAB_DIR/dom0/flask-access.c" "$s/flask/"
    cp "$XEN_HV_FLASK"/{flask.h,av_permissions.h} "$s/flask/" 2>/dev/null || note "xen: no FLASK headers in $XEN_HV_FLASK"
    xen_agent_share "$s"
}

# ensure_jre -> XEN_JRE: a minimal Java runtime for dom0 (what vmi-bridge and the bench jar use; FFM is in java.base),
# cached per JDK release
ensure_jre() {
    [[ -x $XEN_JDK/bin/jlink ]] || { XEN_JRE=""; return; }
    XEN_JRE=$XEN_CACHE/jre/$("$XEN_JDK/bin/java" -XshowSettings:properties -version 2>&1 | awk '/java.runtime.version/{print $3}')
    [[ -x $XEN_JRE/bin/java ]] && return
    rm -rf "$XEN_JRE"; mkdir -p "$(dirname "$XEN_JRE")"
    "$XEN_JDK/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,java.sql,java.desktop,jdk.unsupported,jdk.crypto.ec,jdk.httpserver \
        --strip-debug --no-man-pages --no-header-files --output "$XEN_JRE.tmp" && mv "$XEN_JRE.tmp" "$XEN_JRE"
}

# xen_agent_share SHARE: the runtime, the agent jar and its certificates (the lab's PKI, made once by agent/certs.sh)
# for dom0's toolstack, which starts the agent when they are there; without the jar (./periscope build makes it) the
# host's Periscope does not see the lab
xen_agent_share() {
    local s=$1
    rm -f "$XEN_RUN/agent.endpoint"
    ensure_jre
    if [[ ! -s $XEN_AGENT_JAR || -z $XEN_JRE ]]; then
        note "xen: no $XEN_AGENT_JAR or no JDK at $XEN_JDK (./periscope build): dom0 runs no agent, Periscope will not list Xen domains"
        return
    fi
    bash "$REPO_DIR/agent/certs.sh" "$XEN_PKI" --agent "$XEN_AGENT_HOST" >/dev/null
    mkdir -p "$s/java" "$s/agent"
    cp -a "$XEN_JRE" "$s/java/jre"
    cp "$XEN_AGENT_JAR" "$s/java/"
    (umask 077; cp "$XEN_PKI/ca.pem" "$s/agent/ca.pem"; cp "$XEN_PKI/agent-$XEN_AGENT_HOST.pem" "$s/agent/agent.pem"
        cp "$XEN_PKI/agent-$XEN_AGENT_HOST.key" "$s/agent/agent.key")
}

# xen_agent_wait SECONDS: waits for the agent's ready line in its log, then writes the endpoint file the host's
# Periscope discovers it by (HOST:PORT); returns 1 when it did not start
xen_agent_wait() {
    local to=$1 s=$XEN_RUN/share i
    [[ -s $s/agent/agent.key ]] || return 0
    for ((i = 0; i < to; i++)); do
        if grep -q '^periscope-agent: ready' "$s/log/agent.log" 2>/dev/null; then
            echo "127.0.0.1:$XEN_AGENT_PORT" > "$XEN_RUN/agent.endpoint.tmp"
            mv "$XEN_RUN/agent.endpoint.tmp" "$XEN_RUN/agent.endpoint"
            return 0
        fi
        sleep 1
    done
    return 1
}

# ---------------------------------------------------------------- commands
xen_prepare() { # builds or finds everything `up` needs; sets the globals
    local pkg
    pkg=$(default_kernel_package)
    ensure_kernel "$pkg"
    KERNEL_PACKAGE=$pkg
    ensure_hypervisor
    ensure_dom0_root
    ensure_dom0_initrd
    ensure_shim
}

xen_cmd_build() {
    local t0=$EPOCHREALTIME
    xen_prepare
    echo "hypervisor:  $XEN_HV"
    echo "dom0 kernel: $KERNEL_VMLINUZ"
    echo "dom0 root:   $DOM0_ROOT"
    echo "dom0 initrd: $DOM0_INITRD"
    echo "shim:        $XEN_SHIM"
    xen_pick_qemu
    echo "qemu:        $XEN_QEMU ($XEN_QEMU_KIND)"
    echo "ready in $(elapsed "$t0") s"
}

xen_cmd_up() {
    local timeout=$XEN_BOOT_TIMEOUT
    while (($#)); do
        case $1 in
            --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
            *) die "xen up: unknown argument $1" ;;
        esac
    done
    [[ $timeout =~ ^[0-9]+$ ]] || die "xen up: --timeout must be seconds"
    need socat flock base64 od awk
    ((EUID == 0)) || die "xen: the Xen lab needs root (debootstrap, and QEMU's 9p passthrough of a root-owned tree)"
    mkdir -p "$XEN_RUN"
    exec {XLOCK}>"$LAB_VAR/xen/.lock"
    flock -n "$XLOCK" || die "xen: another command is starting or stopping the Xen lab"
    if xen_running; then die "xen: the Xen lab is already running (qemu pid $X_qemuPid); stop it with: periscope lab xen down"; fi
    xen_cleanup_run

    local t_all=$EPOCHREALTIME
    xen_prepare
    xen_pick_qemu
    local t0=$EPOCHREALTIME d=$XEN_RUN
    echo "xen: built or cached in $(elapsed "$t_all") s (hypervisor $XEN_HV_KEY, dom0 kernel $KERNEL_VERSION, QEMU $XEN_QEMU_KIND)"
    [[ $XEN_QEMU_KIND == stock ]] &&
        echo "xen: Debian's QEMU: PV guests only (PVH/HVM need the fixed QEMU in $XEN_CACHE/qemu/current)"
    xen_fill_share
    local p
    for p in "$XEN_HV" "$KERNEL_VMLINUZ" "$DOM0_INITRD" "$DOM0_ROOT" "$d"; do
        [[ $p != *[,\ ]* ]] || die "xen: QEMU's multiboot and -virtfs options cannot take a path with a comma or space: $p"
    done
    local quiet=""; [[ ${PERISCOPE_LAB_QUIET:-1} == 1 ]] && quiet=" quiet"
    # spec-ctrl=eager-fpu: with Xen's lazy FPU switching (its default on AMD) PV processes under TCG see other
    # vCPUs' vector registers (segfaults, corrupted strings and heaps in dom0 and domUs); eager switching does not
    local xen_cmdline="console=com1 com1=115200,8n1 dom0_mem=${DOM0_MEMORY}M,max:${DOM0_MEMORY}M loglvl=all guest_loglvl=all noreboot spec-ctrl=eager-fpu"
    [[ -n ${PERISCOPE_XEN_APPEND:-} ]] && xen_cmdline+=" $PERISCOPE_XEN_APPEND"
    local dom0_cmdline="console=hvc0 earlyprintk=xen$quiet"
    rm -f "$d"/{watchdog.log,watchdog.reason}
    qemu_run_args "$d"
    local qargs=(
        -name periscope-xen -accel tcg,tb-size=512
        -machine q35 -cpu "$XEN_CPU" -m "$XEN_MEMORY" -smp "$XEN_SMP"
        -nodefaults -display none -no-reboot
        "${XEN_QEMU_ARGS[@]}"
        -kernel "$XEN_HV" -append "$xen_cmdline"
        -initrd "$KERNEL_VMLINUZ ${dom0_cmdline//,/,,},$DOM0_INITRD"
        -virtfs "local,path=$DOM0_ROOT,mount_tag=root,security_model=passthrough,readonly=on"
        -virtfs "local,path=$d/share,mount_tag=periscope,security_model=passthrough"
        -netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$XEN_AGENT_PORT-10.0.2.15:7370"
        -device virtio-net-pci,netdev=net0
        "${QEMU_RUN_ARGS[@]}"
    )
    local fail="" pid="" wpid=0
    if qemu_daemonize "$XEN_QEMU" "$d" "${qargs[@]}"; then
        pid=$QEMU_PID
        (close_inherited_fds; exec setsid bash "$XEN_LAB_DIR/xenlab.sh" _watchdog "$pid" "$XEN_LIFETIME") >> "$d/watchdog.log" 2>&1 < /dev/null &
        wpid=$!
        echo "$wpid" > "$d/watchdog.pid"
        echo "xen: [$(elapsed "$t0") s] QEMU started (pid $pid, run dir $d)"
    else
        fail=$QEMU_FAIL
    fi
    # stages as they appear on Xen's serial console, then the toolstack through dom0's test shell
    local stages=(
        '^\(XEN\) Xen version|hypervisor running'
        '^\(XEN\) \*\*\* Building a PV Dom0|building dom0'
        '^\[ *0\.0+\] Linux version|dom0 kernel started'
        'periscope-dom0: initramfs|dom0 initramfs'
        'periscope-dom0: root mounted|dom0 root mounted over 9p'
        'periscope-dom0: userspace|dom0 init'
        'periscope-dom0: toolstack started|xenstored, xen-init-dom0, xenconsoled started'
    )
    local seen=() i deadline shell_up=false
    deadline=$(awk -v a="$t0" -v b="$timeout" 'BEGIN{printf "%d", a+b}')
    scan_stages() {
        for i in "${!stages[@]}"; do
            [[ -z ${seen[i]:-} ]] && grep -qE "${stages[i]%%|*}" "$d/console.log" 2>/dev/null || continue
            seen[i]=1; echo "xen: [$(elapsed "$t0") s] ${stages[i]##*|}"
        done
    }
    while [[ -z $fail ]]; do
        scan_stages
        if ! is_xen_pid "$pid"; then
            fail="qemu exited during boot"
            [[ -s $d/watchdog.reason ]] && fail+=" (watchdog: $(cat "$d/watchdog.reason"))"
            break
        fi
        if grep -qE "$XEN_FATAL_RE" "$d/console.log" 2>/dev/null; then fail="fatal line on the console"; sleep 2; break; fi
        if (( ${EPOCHREALTIME%.*} >= deadline )); then fail="toolstack not ready within $timeout s"; break; fi
        local rc=0
        if [[ -n ${seen[5]:-} ]] && ! $shell_up; then
            # dom0's init runs: poll its test shell briefly (requests sent before it listens are lost)
            shell_says "$d/shell.sock" 5 'echo periscope-shell' 1 periscope-shell || rc=$?
            ((rc == 0)) && shell_up=true
            ((rc == 2)) && sleep 0.5
        elif $shell_up; then
            # `xl info` alone takes 3-5 s under TCG: wait long enough for its reply
            shell_says "$d/shell.sock" 30 'xl info >/dev/null && echo periscope-xen-ready' 20 periscope-xen-ready && break
            sleep 0.5
        else
            sleep 0.5
        fi
    done
    if [[ -n $fail ]]; then
        if [[ -n $pid ]]; then xen_kill_qemu "$pid"; fi
        ((wpid > 0)) && { kill "$wpid" 2>/dev/null || true; }
        xen_cleanup_run
        qemu_boot_report "$d" "xen: the Xen lab failed to boot after $(elapsed "$t0") s: $fail" 60 "the Xen console"
        exit 1
    fi
    local boot; boot=$(elapsed "$t0")
    scan_stages
    echo "xen: [$boot s] toolstack ready (xl info answers)"
    # shellcheck disable=SC2034 # xen_meta_write reads the X_* variables
    {
        X_qemu=$XEN_QEMU X_qemuKind=$XEN_QEMU_KIND X_cpu=$XEN_CPU X_memoryMib=$XEN_MEMORY X_dom0MemoryMib=$DOM0_MEMORY
        X_hypervisor=$XEN_HV X_hypervisorKey=$XEN_HV_KEY X_xenCmdline=$xen_cmdline X_kernelVersion=$KERNEL_VERSION
        X_kernelPackage=$KERNEL_PACKAGE X_vmlinuz=$KERNEL_VMLINUZ X_dom0Root=$DOM0_ROOT X_dom0Initrd=$DOM0_INITRD
        X_shareDir=$d/share X_qmpSocket=$d/qmp.sock X_shellSocket=$d/shell.sock X_consoleSocket=$d/console.sock
        X_consoleLog=$d/console.log X_qemuPid=$pid X_watchdogPid=$wpid
        X_startedAt=$(date -u -d "@${t0%.*}" +%Y-%m-%dT%H:%M:%SZ) X_startedEpoch=${t0%.*} X_bootSeconds=$boot
        X_name=xen X_kind=xen-lab
    }
    xen_meta_write "$d"
    if [[ -s $d/share/agent/agent.key ]]; then
        if xen_agent_wait 180; then
            echo "xen: [$(elapsed "$t0") s] agent $XEN_AGENT_HOST answering in dom0 (127.0.0.1:$XEN_AGENT_PORT, $d/agent.endpoint)"
        else
            note "xen: the agent in dom0 did not start within 180 s (share/log/agent.log): Periscope will not list Xen domains"
            tail -n 20 "$d/share/log/agent.log" >&2 2>/dev/null || true
        fi
    fi
    local info=""
    shell_call "$d/shell.sock" 20 "xl info | grep -E '^(xen_version|virt_caps|total_memory|free_memory|xen_commandline) '" && \
        info=$(printf '%s' "$CALL_OUT_B64" | base64 -d | awk -F' *: ' '{printf "%s%s=%s", (NR>1?", ":""), $1, $2}')
    echo "xen: ready in $boot s ($info)"
}

# xen_dom0 TIMEOUT SCRIPT: runs SCRIPT in dom0 through its test shell (shell_exec: output and exit code passed on,
# 124 on a timeout)
xen_dom0() { shell_exec dom0 "$XEN_RUN/shell.sock" "$XEN_RUN/exec.lock" "$1" "$2"; }

# flask_type TENANT: the tenant as a policy identifier, as the control plane renders it (lower case; every character
# but a-z, 0-9 and _ becomes _)
flask_type() { local t=${1,,}; echo "${t//[^a-z0-9_]/_}"; }

xen_require_running() { xen_running || die "xen: the Xen lab is not running (periscope lab xen up)"; }

xen_cmd_exec() {
    local to=60 guest=""
    while (($#)); do
        case $1 in
            --timeout) to=${2:?--timeout needs a value}; shift 2 ;;
            --guest) guest=${2:?--guest needs a value}; shift 2 ;;
            --) shift; break ;;
            *) die "xen exec: unknown argument $1 (the command goes after --)" ;;
        esac
    done
    (($#)) || die "xen exec: no command given"
    [[ $to =~ ^[0-9]+$ ]] && ((to > 0)) || die "xen exec: --timeout must be a positive integer (seconds)"
    xen_require_running
    local script; script=$(shell_script "$@")
    local rc=0
    if [[ -z $guest ]]; then
        xen_dom0 "$to" "$script" || rc=$?
    else
        valid_name "$guest" || die "invalid guest name '$guest'"
        local b64; b64=$(printf '%s' "$script" | base64 -w0)
        xen_dom0 $((to + 15)) "periscope-xen guest-exec $guest $to $b64" || rc=$?
    fi
    return "$rc"
}

xen_cmd_guest() {
    local name=${1:-}; [[ -n $name ]] || { xen_usage >&2; exit 2; }; shift
    valid_name "$name" || die "invalid guest name '$name' (must match ^[a-z0-9][a-z0-9-]{0,31}\$)"
    local type=pv workload=idle tenant=default mem=256 pkg="" append="" force=false monitor=false
    while (($#)); do
        case $1 in
            --monitor) monitor=true; shift ;;
            --type) type=${2:?--type needs a value}; shift 2 ;;
            --workload) workload=${2:?--workload needs a value}; shift 2 ;;
            --tenant) tenant=${2:?--tenant needs a value}; shift 2 ;;
            --memory) mem=${2:?--memory needs a value}; shift 2 ;;
            --kernel-package) pkg=${2:?--kernel-package needs a value}; shift 2 ;;
            --append) append=${2:?--append needs a value}; shift 2 ;;
            --force) force=true; shift ;;
            *) die "xen guest: unknown argument $1" ;;
        esac
    done
    [[ $type == pv || $type == pvh || $type == hvm ]] || die "xen guest: --type must be pv, pvh or hvm"
    valid_tenant "$tenant" || die "invalid tenant '$tenant'"
    [[ $mem =~ ^[0-9]+$ ]] && ((mem >= 64 && mem <= 1536)) || die "invalid --memory '$mem' (MiB, 64..1536)"
    # The FLASK label (the policy module's types, rendered per tenant): a tenant's guests run as <tenant>_domU_t,
    # its monitoring domain as periscope_<tenant>_t; guests of no tenant stay domU_t (Xen's default)
    local label=""
    if $monitor; then
        [[ $tenant != default ]] || die "xen guest: --monitor needs --tenant (whose monitoring domain it is)"
        [[ $type == pv ]] || die "xen guest: a monitoring domain is a PV domain (--type pv)"
        workload=$XEN_LAB_DIR/monitor/monitor.sh
        label=periscope_$(flask_type "$tenant")_t
    elif [[ $tenant != default ]]; then
        label=$(flask_type "$tenant")_domU_t
    fi
    xen_require_running
    if [[ $type != pv && $X_qemuKind != fixed ]] && ! $force; then
        die "xen guest: a $type guest needs the QEMU with the nested-SVM fixes ($XEN_CACHE/qemu/current/bin/qemu-system-x86_64), but this Xen lab runs Debian's QEMU ($X_qemu): its TCG decoder checks every L2 'mov %crN' as a CR0 read, so Xen answers CR2 reads with 0 and the guest halts at its first page fault (lab/xen/README.md). Use --type pv, or --force to try anyway."
    fi
    find_workload "$workload"
    [[ -n $pkg ]] || pkg=$(default_kernel_package)
    ensure_kernel "$pkg"
    ensure_initramfs
    MONITOR_OVERLAY=""
    if $monitor; then
        ensure_kernel_modules "$pkg" "$KERNEL_VERSION"
        ensure_monitor_overlay "$X_dom0Root" "$KMODS" "$KERNEL_VERSION"
    fi

    local gd=$XEN_RUN/share/guests/$name hd=$XEN_RUN/guests/$name
    if [[ -f $hd/meta.json ]]; then die "xen guest: $name exists (periscope lab xen guest-stop $name)"; fi
    rm -rf "$gd" "$hd"; mkdir -p "$gd" "$hd"
    # The test shell owns the domU's console (hvc0, or ttyS0 for HVM); kernel and workload output share it, so
    # the dom0 relay passes on only the protocol's lines. The guest image is lab.sh's, plus an overlay.
    local tty=hvc0; [[ $type == hvm ]] && tty=ttyS0
    local ov; ov=$(mktemp -d "$gd/.overlay.XXXXXX")
    mkdir -p "$ov/etc" "$ov/periscope/bin" "$ov/periscope/workloads"
    cp "$XEN_LAB_DIR/guest/inittab" "$ov/etc/inittab"
    sed "s#/dev/ttyS1#/dev/$tty#g" "$LAB_DIR/guest/bin/periscope-shelld" > "$ov/periscope/bin/periscope-shelld"
    chmod 755 "$ov/periscope/bin/periscope-shelld"
    [[ -n $WL_FILE ]] && cp "$WL_FILE" "$ov/periscope/workloads/$WL_NAME.sh"
    # one gzip stream: libxc gunzips a PV ramdisk itself and fails on concatenated members (Linux would not)
    { gzip -dc "$BASE_INITRD"; [[ -z $WL_OVERLAY ]] || gzip -dc "$WL_OVERLAY"
      [[ -z $MONITOR_OVERLAY ]] || gzip -dc "$MONITOR_OVERLAY"
      (cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet); } |
        gzip -6 > "$gd/initrd.img"
    rm -rf "$ov"
    ln -f "$KERNEL_VMLINUZ" "$gd/vmlinuz" 2>/dev/null || cp "$KERNEL_VMLINUZ" "$gd/vmlinuz"
    local cmdline="console=$tty panic=-1 periscope.name=$name periscope.tenant=$tenant periscope.workload=$WL_NAME"
    [[ ${PERISCOPE_LAB_QUIET:-1} == 1 ]] && cmdline+=" quiet"
    [[ -n $append ]] && cmdline+=" $append"
    local g=/periscope/guests/$name
    {
        echo "# written by lab/xen/xenlab.sh"
        echo "name = \"$name\""
        echo "type = \"$type\""
        echo "memory = $mem"
        echo "vcpus = 1"
        echo "cpus = \"1-$((XEN_SMP - 1))\""   # not pCPU 0, dom0's (dom0/toolstack says why)
        echo "kernel = \"$g/vmlinuz\""
        [[ -z $label ]] || echo "seclabel = \"system_u:system_r:$label\""
        echo "ramdisk = \"$g/initrd.img\""
        if [[ $type == hvm ]]; then
            echo "cmdline = \"$cmdline\""
            echo 'serial = "pty"'
            echo 'vga = "none"'
            echo 'vnc = 0'
            echo 'device_model_version = "qemu-xen"'
            echo 'device_model_override = "/usr/libexec/xen-qemu-system-i386"'
        else
            echo "extra = \"$cmdline\""
        fi
        echo 'on_poweroff = "destroy"'
        echo 'on_reboot = "destroy"'
        echo 'on_crash = "destroy"'
    } > "$gd/$name.cfg"
    echo "xen: creating $type guest $name (workload $WL_NAME, ${mem} MiB) ..."
    local out rc=0
    out=$(xen_dom0 $((XEN_GUEST_TIMEOUT + 60)) "periscope-xen guest-up $name $g/$name.cfg $XEN_GUEST_TIMEOUT") || rc=$?
    printf '%s\n' "$out" | grep -v '^result ' || true
    if ((rc != 0)); then
        rm -rf "$gd" "$hd"
        die "xen guest: $name did not come up (exit $rc)"
    fi
    local res domid create boot
    res=$(printf '%s\n' "$out" | sed -n 's/^result //p' | tail -1)
    domid=$(sed -n 's/.*domid=\([0-9]*\).*/\1/p' <<< "$res")
    create=$(sed -n 's/.*create=\([0-9.]*\).*/\1/p' <<< "$res")
    boot=$(sed -n 's/.*boot=\([0-9.]*\).*/\1/p' <<< "$res")
    # shellcheck disable=SC2034 # xen_guest_meta_write reads the G_* variables
    {
        G_name=$name G_type=$type G_domid=${domid:-0} G_tenant=$tenant G_workload=$WL_NAME G_memoryMib=$mem
        G_kernelVersion=$KERNEL_VERSION G_kernelPackage=$pkg G_config=$gd/$name.cfg
        G_consoleLog=$XEN_RUN/share/log/xen/console/guest-$name.log G_startedAt=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        G_createSeconds=${create:-0} G_bootSeconds=${boot:-0}
    }
    xen_guest_meta_write "$hd"
    echo "xen: $name (domid $domid) ready: xl create ${create} s, guest init ${boot} s more"
}

xen_cmd_guest_stop() {
    local name=${1:-}; [[ -n $name ]] || { xen_usage >&2; exit 2; }
    valid_name "$name" || die "invalid guest name '$name'"
    xen_require_running
    xen_dom0 60 "periscope-xen guest-down $name" || die "xen: could not stop $name"
    rm -rf "$XEN_RUN/share/guests/$name" "$XEN_RUN/guests/$name"
}

xen_cmd_status() {
    local json=false; [[ ${1:-} == --json ]] && json=true
    if ! xen_running; then
        if $json; then echo '{"state": "stopped"}'; else echo "xen: not running (run dir $XEN_RUN)"; fi
        [[ -s $XEN_RUN/watchdog.reason ]] && ! $json && echo "xen: the watchdog stopped the last run: $(cat "$XEN_RUN/watchdog.reason")"
        return 0
    fi
    local up=$(( ${EPOCHREALTIME%.*} - X_startedEpoch ))
    if $json; then
        meta_json_open "$XEN_RUN/meta.json"
        printf '  "state": "running",\n  "uptimeSeconds": %d,\n  "guests": [' "$up"
        local f first=true
        for f in "$XEN_RUN"/guests/*/meta.json; do
            [[ -f $f ]] || continue
            $first || printf ','; first=false
            printf '\n'; sed 's/^/    /' "$f"
        done
        printf ']\n}\n'
        return 0
    fi
    echo "xen: running for $(fmt_uptime "$up"), booted in $X_bootSeconds s"
    echo "  run dir:     $XEN_RUN"
    echo "  qemu:        pid $X_qemuPid, $X_qemu ($X_qemuKind), -cpu $X_cpu, ${X_memoryMib} MiB"
    echo "  hypervisor:  $X_hypervisor"
    echo "  dom0:        $X_kernelVersion, ${X_dom0MemoryMib} MiB, root $X_dom0Root"
    echo "  sockets:     qmp $X_qmpSocket, dom0 shell $X_shellSocket, console $X_consoleSocket"
    echo "  console log: $X_consoleLog (guest consoles: $X_shareDir/log/xen/console/)"
    echo
    xen_dom0 20 "xl list" || true
}

xen_cmd_down() {
    mkdir -p "$LAB_VAR/xen"
    exec {XLOCK}>"$LAB_VAR/xen/.lock"
    flock -w 30 "$XLOCK" || die "xen: another command is starting or stopping the Xen lab"
    if ! meta_load "$XEN_RUN"; then
        local pid; pid=$(cat "$XEN_RUN/qemu.pid" 2>/dev/null || true)
        if [[ -n $pid ]] && is_xen_pid "$pid"; then xen_kill_qemu "$pid"; fi
        xen_cleanup_run; echo "xen: not running"; return 0
    fi
    if is_xen_pid "$X_qemuPid"; then
        shell_call "$XEN_RUN/shell.sock" 5 "sync" 7 || true   # flush dom0's logs on the share
        xen_kill_qemu "$X_qemuPid"
        echo "xen: stopped (qemu pid $X_qemuPid)"
    else
        echo "xen: was not running (cleaned up)"
    fi
    [[ $X_watchdogPid -gt 0 ]] && { kill "$X_watchdogPid" 2>/dev/null || true; }
    xen_cleanup_run
    return 0
}

# xen policy MODULE: compiles Xen's FLASK policy with MODULE as its Periscope module (the control plane's rendering,
# GET /api/v1/policy/flask) and loads it into the running hypervisor (xl loadpolicy; FLASK stays enforcing). The
# policy's other sources are those of the running hypervisor's build.
xen_cmd_policy() {
    local module=${1:-}
    [[ -n $module && $# -eq 1 ]] || die "usage: lab.sh xen policy MODULE.te   (e.g. the control plane's GET /api/v1/policy/flask)"
    [[ -s $module ]] || die "xen policy: no $module"
    xen_require_running
    local hv src; hv=$(dirname "$X_hypervisor")
    # a cached build keeps its policy sources beside it; PERISCOPE_XEN_HYPERVISOR points into a built Xen tree
    for src in "$hv/policy-src" "$hv/.."; do [[ -d $src/tools/flask/policy/modules ]] && break; done
    [[ -d $src/tools/flask/policy/modules ]] || die "xen policy: no FLASK policy sources beside $X_hypervisor (rebuild: lab.sh xen build)"
    xen_host_packages checkpolicy m4
    local b; b=$(mktemp -d)
    mkdir "$b/out"
    xen_policy_sources "$src" "$b/src"
    cp "$module" "$b/src/tools/flask/policy/modules/periscope.te"
    grep -qx 'periscope = on' "$b/src/tools/flask/policy/modules/modules.conf" ||
        printf 'periscope = on\n' >> "$b/src/tools/flask/policy/modules/modules.conf"
    if ! make -s -f Makefile.common -C "$b/src/tools/flask/policy" FLASK_BUILD_DIR="$b/out" \
            POLICY_FILENAME="$b/out/xenpolicy" > "$b/build.log" 2>&1; then
        cat "$b/build.log" >&2; rm -rf "$b"; die "xen policy: $module does not compile into Xen's policy"
    fi
    mkdir -p "$XEN_RUN/share/flask"
    cp "$b/out/xenpolicy" "$XEN_RUN/share/flask/xenpolicy"
    rm -rf "$b"
    # `xl getenforce` exits 1 when it prints Enforcing
    xen_dom0 60 "xl loadpolicy /periscope/flask/xenpolicy || exit 1; xl getenforce; exit 0" ||
        die "xen policy: xl loadpolicy failed"
    echo "xen: policy loaded ($(stat -c %s "$XEN_RUN/share/flask/xenpolicy") bytes, module $module)"
}

xen_cmd_console() {
    xen_require_running
    attach_console "$X_consoleSocket" "Xen's serial console (dom0 root shell on hvc0; Ctrl-a three times switches to Xen)"
}

xen_main() {
    local sub=${1:-}
    (($#)) && shift
    case $sub in
        up) xen_cmd_up "$@" ;;
        guest) xen_cmd_guest "$@" ;;
        guest-stop) xen_cmd_guest_stop "$@" ;;
        exec) xen_cmd_exec "$@" ;;
        console) xen_cmd_console "$@" ;;
        status) xen_cmd_status "$@" ;;
        down) xen_cmd_down "$@" ;;
        build) xen_cmd_build "$@" ;;
        policy) xen_cmd_policy "$@" ;;
        _watchdog) xen_watchdog "$@" ;;
        -h|--help|help) xen_usage ;;
        *) xen_usage >&2; exit 2 ;;
    esac
}
xen_main "$@"
