#!/usr/bin/env bash
# Periscope lab: Debian Linux guests under QEMU/TCG for VM-introspection tests.
# Usage: lab.sh start|stop|list|exec|console|kernel-path ...   (see lab/README.md)
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$LAB_DIR")
VAR_DIR=${PERISCOPE_VAR:-$REPO_DIR/var}
LAB_VAR=$VAR_DIR/lab
CACHE=$VAR_DIR/cache
BOOT_TIMEOUT=${PERISCOPE_BOOT_TIMEOUT:-120}
INITRAMFS_FORMAT=v1          # bump when the image layout produced by build_initramfs changes
QEMU=${PERISCOPE_QEMU:-qemu-system-x86_64}
# The hypervisor extension (vmi-bridge/native, built by `./periscope build` / the Maven build) and the tool
# that creates its event ring before QEMU starts. PERISCOPE_LAB_EVENTS: auto (default: load the plugin when
# it is built, else start without events and say so), required (fail without it), off (never load it).
NATIVE_DIR=${PERISCOPE_NATIVE_DIR:-$REPO_DIR/vmi-bridge/target/native}
LAB_EVENTS=${PERISCOPE_LAB_EVENTS:-auto}
RING_CAPACITY=${PERISCOPE_RING_CAPACITY:-16384}

die() { echo "lab: $*" >&2; exit 1; }
note() { echo "lab: $*" >&2; }
now_s() { echo "$EPOCHREALTIME"; }
need() {
    local c missing=()
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
    ((${#missing[@]} == 0)) || die "missing host tools: ${missing[*]} (run lab/setup.sh)"
}
valid_name() { [[ $1 =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]]; }
json_str() { # JSON string literal
    local s=$1
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}
sh_quote() { # single-quote for a POSIX shell
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

# ---------------------------------------------------------------- kernel cache
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

# ensure_kernel PKG -> sets KERNEL_VMLINUZ, KERNEL_VERSION
# apt_download PKG DIR: downloads PKG's .deb into DIR (removed on failure) and prints its path
apt_download() {
    local pkg=$1 dir=$2
    if ! (cd "$dir" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg" >dl.log 2>&1); then
        cat "$dir/dl.log" >&2; rm -rf "$dir"; die "apt-get download $pkg failed"
    fi
    ls "$dir"/*.deb
}

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
            local vmlinuz; vmlinuz=$(ls "$tmp"/boot/vmlinuz-* 2>/dev/null | head -1)
            [[ -n $vmlinuz ]] || { rm -rf "$tmp"; die "$pkg contains no /boot/vmlinuz-*"; }
            local ver=${vmlinuz##*/vmlinuz-}
            rm -rf "$dir"; mkdir -p "$dir"
            mv "$vmlinuz" "$dir/"
            [[ -f $tmp/boot/config-$ver ]] && mv "$tmp/boot/config-$ver" "$dir/"
            echo "$(basename "$deb")" > "$dir/source-deb"
            echo "$ver" > "$dir/version"
            rm -rf "$tmp"
        fi
        kernel_unlock
    fi
    KERNEL_VERSION=$(cat "$dir/version")
    KERNEL_VMLINUZ=$dir/vmlinuz-$KERNEL_VERSION
    [[ -f $KERNEL_VMLINUZ ]] || die "cache corrupt: $KERNEL_VMLINUZ missing (rm -rf $dir)"
}

# ---------------------------------------------------------------- initramfs
# ensure_busybox -> sets BUSYBOX (a static busybox binary)
ensure_busybox() {
    if [[ $(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null) == "install ok installed" && -x /bin/busybox ]]; then
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

# ensure_initramfs -> sets BASE_INITRD (cached, keyed by hash of its inputs)
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
            cd "$st"
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

# ---------------------------------------------------------------- VM state
run_dir() { echo "$LAB_VAR/$1"; }
# Shared-memory files are per lab directory, so two checkouts (or CI beside a developer) never collide.
LAB_ID=$(printf '%s' "$LAB_VAR" | cksum | cut -d' ' -f1)
ram_path() { echo "/dev/shm/periscope-$LAB_ID-$1.mem"; }
ring_path() { echo "/dev/shm/periscope-$LAB_ID-$1.ring"; }

# is_vm_pid PID NAME: PID is alive and is this VM's qemu
# is_qemu_pid PID TEXT: PID is alive, a QEMU, and TEXT is in its command line (what makes it ours)
is_qemu_pid() {
    local pid=$1 text=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm ]] || return 1
    local comm; comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == qemu* ]] || return 1
    tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$text"
}
is_vm_pid() { is_qemu_pid "$1" "$(ram_path "$2")"; } # PID NAME

# load_meta NAME -> M_* variables; returns 1 if no meta
load_meta() {
    local f; f=$(run_dir "$1")/meta.env
    [[ -f $f && -f $(run_dir "$1")/meta.json ]] || return 1
    # shellcheck disable=SC1090
    source "$f"
}

vm_running() { # NAME
    load_meta "$1" || return 1
    is_vm_pid "$M_qemuPid" "$1"
}

# write_meta_files BASE PREFIX FIELD... : BASE.json and BASE.env from the variables PREFIX<name>, each FIELD
# "name:str" (a JSON string), "name:num" (a JSON number or literal) or "name:env" (meta.env only), in that order
write_meta_files() {
    local base=$1 prefix=$2 f name var first=true; shift 2
    {
        printf '{\n'
        for f in "$@"; do
            name=${f%:*} var=$prefix${f%:*}
            case ${f##*:} in
                str) $first || printf ',\n'; printf '  "%s": %s' "$name" "$(json_str "${!var}")"; first=false ;;
                num) $first || printf ',\n'; printf '  "%s": %s' "$name" "${!var}"; first=false ;;
            esac
        done
        printf '\n}\n'
    } > "$base.json.tmp"
    for f in "$@"; do
        var=$prefix${f%:*}; printf '%s=%q\n' "$var" "${!var}"
    done > "$base.env.tmp"
    mv "$base.env.tmp" "$base.env"
    mv "$base.json.tmp" "$base.json"
}

write_meta() { # writes meta.json + meta.env from M_* variables
    write_meta_files "$(run_dir "$M_name")/meta" M_ name:str tenant:str memoryMib:num kernelVersion:str \
        kernelPackage:str vmlinuz:str workload:str kaslr:num ramPath:str qmpSocket:str shellSocket:str \
        consoleSocket:str consoleLog:str qemuPid:num startedAt:str startedEpoch:env ringPath:str ringTokenFile:str \
        events:str bootSeconds:num
}

# ---------------------------------------------------------------- test shell client
# shell_call SOCK TIMEOUT SCRIPT -> CALL_RC, CALL_OUT_B64, CALL_ERR_B64; returns 0 if a reply arrived,
# 1 on timeout (2 if the connection failed). Guest kills SCRIPT after TIMEOUT s; we wait a little longer.
shell_call() {
    local sock=$1 to=$2 script=$3 wait_s=${4:-}
    [[ -n $wait_s ]] || wait_s=$((to + 5))
    local id; id=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    local b64; b64=$(printf '%s' "$script" | base64 -w0)
    CALL_RC=""; CALL_OUT_B64=""; CALL_ERR_B64=""
    [[ -S $sock ]] || return 2
    local now_us t_end_us rem_us
    now_us=${EPOCHREALTIME//[!0-9]/}
    t_end_us=$(( now_us + $(awk -v b="$wait_s" 'BEGIN{printf "%d", b*1000000}') ))
    coproc SHELLC { exec socat -T "$((${wait_s%.*} + 2))" - "UNIX-CONNECT:$sock" 2>/dev/null; }
    local rfd=${SHELLC[0]} wfd=${SHELLC[1]} cpid=$SHELLC_PID
    local state=wait line rem got=1
    if printf '\nREQ %s %s %s\n' "$id" "$to" "$b64" >&"$wfd" 2>/dev/null; then
        while :; do
            now_us=${EPOCHREALTIME//[!0-9]/}
            rem_us=$(( t_end_us - now_us ))
            ((rem_us > 1000)) || break
            printf -v rem '%d.%06d' $((rem_us / 1000000)) $((rem_us % 1000000))
            IFS= read -r -t "$rem" line <&"$rfd" || break
            line=${line%$'\r'}
            case "$state|$line" in
                *"|OUT $id") state=out ;;
                "out|ERR $id") state=err ;;
                "err|END $id "*) CALL_RC=${line##* }; got=0; break ;;
                out\|*) CALL_OUT_B64+=$line ;;
                err\|*) CALL_ERR_B64+=$line ;;
            esac
        done
    fi
    kill "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    return $got
}

# ---------------------------------------------------------------- commands
usage() {
    cat <<'EOF'
usage: lab.sh start NAME [--tenant T] [--workload NAME|FILE] [--kernel-package PKG] [--memory MIB]
                         [--nokaslr] [--append "KERNEL PARAMS"]
       lab.sh stop NAME | --all
       lab.sh list [--json]
       lab.sh exec NAME [--timeout S] -- COMMAND [ARG...]
       lab.sh console NAME              (detach with Ctrl-])
       lab.sh kernel-path [--kernel-package PKG]
       lab.sh xen up|guest|exec|console|status|down|build ...   (the Xen lab: lab.sh xen help)
EOF
}

cmd_kernel_path() {
    local pkg=""
    while (($#)); do
        case $1 in
            --kernel-package) pkg=${2:?--kernel-package needs a value}; shift 2 ;;
            *) die "kernel-path: unknown argument $1" ;;
        esac
    done
    [[ -n $pkg ]] || pkg=$(default_kernel_package)
    ensure_kernel "$pkg"
    echo "$KERNEL_VMLINUZ"
}

cleanup_vm_files() { # NAME: remove runtime files of a non-running VM (keeps logs)
    local d; d=$(run_dir "$1")
    rm -f "$(ram_path "$1")" "$(ring_path "$1")" "$d/ring.token" "$d/qmp.sock" "$d/control.sock" "$d/shell.sock" "$d/console.sock" "$d/qemu.pid" "$d/initrd.img" "$d/overlay.cpio.gz"
    [[ -f $d/meta.json ]] && mv -f "$d/meta.json" "$d/meta.last.json"
    rm -f "$d/meta.env"
}

kill_pid() { # PID NAME: TERM, then KILL
    local pid=$1 name=$2 i
    is_vm_pid "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do is_vm_pid "$pid" "$name" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do is_vm_pid "$pid" "$name" || return 0; sleep 0.1; done
}

# setup_events NAME RUN_DIR -> prints "on" (ring + token created for -smp 1), or "off: REASON" when the plugin is
# not built (PERISCOPE_LAB_EVENTS=auto) or switched off; fails (exit 1) when required but unavailable.
setup_events() {
    local name=$1 d=$2 lib=$NATIVE_DIR/libperiscope_qemu.so init=$NATIVE_DIR/periscope-ring-init
    case $LAB_EVENTS in
        off) echo "off: PERISCOPE_LAB_EVENTS=off"; return 0 ;;
        auto|required) ;;
        *) note "PERISCOPE_LAB_EVENTS must be auto, required or off (got '$LAB_EVENTS')"; return 1 ;;
    esac
    if [[ ! -f $lib || ! -x $init ]]; then
        local why="hypervisor extension not built ($lib); run ./periscope build"
        if [[ $LAB_EVENTS == required ]]; then note "$why"; return 1; fi
        note "starting $name without events: $why"
        echo "off: $why"; return 0
    fi
    if ! "$init" "$(ring_path "$name")" 1 "$RING_CAPACITY" "$d/ring.token" >&2; then
        note "cannot create the event ring of $name"; return 1
    fi
    echo on
}

cmd_start() {
    local name=${1:-}; [[ -n $name ]] || { usage >&2; exit 2; }; shift
    valid_name "$name" || die "invalid VM name '$name' (must match ^[a-z0-9][a-z0-9-]{0,31}\$)"
    local tenant=default workload=idle pkg="" mem=512 kaslr=true append=""
    while (($#)); do
        case $1 in
            --tenant) tenant=${2:?--tenant needs a value}; shift 2 ;;
            --workload) workload=${2:?--workload needs a value}; shift 2 ;;
            --kernel-package) pkg=${2:?--kernel-package needs a value}; shift 2 ;;
            --memory) mem=${2:?--memory needs a value}; shift 2 ;;
            --nokaslr) kaslr=false; shift ;;
            --append) append=${2:?--append needs a value}; shift 2 ;;
            *) die "start: unknown argument $1" ;;
        esac
    done
    [[ $tenant =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || die "invalid tenant '$tenant'"
    [[ $mem =~ ^[0-9]+$ ]] && ((mem >= 64 && mem <= 16384)) || die "invalid --memory '$mem' (MiB, 64..16384)"
    need "$QEMU" socat flock base64 od awk

    local wl_name wl_file=""
    if [[ $workload == */* || $workload == *.sh ]]; then
        [[ -f $workload ]] || die "workload file not found: $workload"
        wl_file=$(realpath "$workload")
        wl_name=$(basename "$workload"); wl_name=${wl_name%.sh}
        wl_name=${wl_name//[^A-Za-z0-9_.-]/_}
    else
        [[ -f $LAB_DIR/workloads/$workload.sh ]] ||
            die "unknown workload '$workload' (built in: $(cd "$LAB_DIR/workloads" && ls *.sh | sed 's/\.sh$//' | tr '\n' ' '); or give a file path)"
        wl_name=$workload
    fi

    mkdir -p "$LAB_VAR"
    local d; d=$(run_dir "$name")
    exec {SLOCK}>"$LAB_VAR/.$name.lock"
    flock -n "$SLOCK" || die "VM $name is being started or stopped by another command"
    if vm_running "$name"; then
        die "VM $name is already running (qemu pid $M_qemuPid); stop it first: periscope lab stop $name"
    fi
    [[ -d $d ]] && cleanup_vm_files "$name"
    mkdir -p "$d"
    local ram; ram=$(ram_path "$name")
    if [[ -e $ram ]]; then
        if command -v fuser >/dev/null && fuser "$ram" >/dev/null 2>&1; then die "$ram is in use by another process"; fi
        rm -f "$ram"
    fi

    local t0=$EPOCHREALTIME
    [[ -n $pkg ]] || pkg=$(default_kernel_package)
    ensure_kernel "$pkg"
    ensure_initramfs
    local initrd=$BASE_INITRD
    if [[ -n $wl_file ]]; then
        local ov; ov=$(mktemp -d "$d/.overlay.XXXXXX")
        mkdir -p "$ov/periscope/workloads"
        cp "$wl_file" "$ov/periscope/workloads/$wl_name.sh"
        (cd "$ov" && echo "periscope/workloads/$wl_name.sh" | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$d/overlay.cpio.gz"
        rm -rf "$ov"
        cat "$BASE_INITRD" "$d/overlay.cpio.gz" > "$d/initrd.img"
        initrd=$d/initrd.img
    fi

    local cmdline="console=ttyS0 panic=-1 periscope.name=$name periscope.tenant=$tenant periscope.workload=$wl_name"
    [[ ${PERISCOPE_LAB_QUIET:-1} == 1 ]] && cmdline+=" quiet"
    [[ $kaslr == false ]] && cmdline+=" nokaslr"
    [[ -n $append ]] && cmdline+=" $append"
    rm -f "$d/console.log" "$d/qemu.log" "$d/qemu.pid"
    # Events: the ring and its 0600 capability token exist before QEMU starts; the plugin refuses anything else.
    local ring="" ring_token="" events plugin=()
    events=$(setup_events "$name" "$d") || exit 1
    if [[ $events == on ]]; then
        ring=$(ring_path "$name"); ring_token=$d/ring.token
        plugin=(-plugin "$NATIVE_DIR/libperiscope_qemu.so,ring=$ring,token-file=$ring_token")
    fi
    local qargs=(
        -name "$name" -accel tcg,tb-size=256
        -machine q35,memory-backend=mem
        -object "memory-backend-file,id=mem,size=${mem}M,mem-path=$ram,share=on"
        -m "${mem}M" -smp 1
        -nodefaults -display none -no-reboot
        -kernel "$KERNEL_VMLINUZ" -initrd "$initrd" -append "$cmdline"
        -chardev "socket,id=con,path=$d/console.sock,server=on,wait=off,logfile=$d/console.log"
        -serial chardev:con
        -chardev "socket,id=tsh,path=$d/shell.sock,server=on,wait=off"
        -serial chardev:tsh
        -qmp "unix:$d/qmp.sock,server=on,wait=off"
        -qmp "unix:$d/control.sock,server=on,wait=off"
        -pidfile "$d/qemu.pid" -daemonize
        "${plugin[@]}"
    )
    printf '%q ' "$QEMU" "${qargs[@]}" > "$d/qemu.cmdline"; echo >> "$d/qemu.cmdline"
    local boot_fail=""
    if ! "$QEMU" "${qargs[@]}" > "$d/qemu.log" 2>&1 {SLOCK}>&-; then
        boot_fail="qemu failed to start"
    fi
    local pid=""
    [[ -z $boot_fail ]] && pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
    [[ -z $boot_fail && -z $pid ]] && boot_fail="qemu wrote no pid file"
    if [[ -z $boot_fail ]]; then
        local deadline; deadline=$(awk -v a="$t0" -v b="$BOOT_TIMEOUT" 'BEGIN{printf "%d", a+b}')
        while :; do
            if ! is_vm_pid "$pid" "$name"; then boot_fail="qemu exited during boot"; break; fi
            if (( ${EPOCHREALTIME%.*} >= deadline )); then boot_fail="no readiness within $BOOT_TIMEOUT s"; break; fi
            local rc=0
            shell_call "$d/shell.sock" 5 "echo periscope-ready" 1 || rc=$?
            if ((rc == 0)) && [[ $CALL_RC == 0 ]] && [[ $(printf '%s' "$CALL_OUT_B64" | base64 -d) == periscope-ready ]]; then
                break
            fi
            ((rc == 2)) && sleep 0.2
        done
    fi
    if [[ -n $boot_fail ]]; then
        [[ -n $pid ]] && kill_pid "$pid" "$name"
        cleanup_vm_files "$name"
        {
            echo "lab: VM $name failed to boot: $boot_fail"
            if [[ -s $d/qemu.log ]]; then echo "---- qemu output ($d/qemu.log)"; tail -n 20 "$d/qemu.log"; fi
            echo "---- last 40 lines of $d/console.log"
            if [[ -s $d/console.log ]]; then tail -n 40 "$d/console.log"; else echo "(no console output yet)"; fi
        } >&2
        exit 1
    fi
    local t1=$EPOCHREALTIME
    local boot; boot=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    M_name=$name M_tenant=$tenant M_memoryMib=$mem M_kernelVersion=$KERNEL_VERSION M_kernelPackage=$pkg
    M_vmlinuz=$KERNEL_VMLINUZ M_workload=$wl_name M_kaslr=$kaslr M_ramPath=$ram
    M_qmpSocket=$d/qmp.sock M_shellSocket=$d/shell.sock M_consoleSocket=$d/console.sock
    M_consoleLog=$d/console.log M_qemuPid=$pid M_startedAt=$(date -u -d "@${t0%.*}" +%Y-%m-%dT%H:%M:%SZ)
    M_startedEpoch=${t0%.*} M_bootSeconds=$boot
    M_ringPath=$ring M_ringTokenFile=$ring_token M_events=$events
    write_meta
    local ev=""; [[ $events == on ]] || ev=", events $events"
    echo "$name ready in $boot s (kernel $KERNEL_VERSION, workload $wl_name$ev)"
}

stop_one() { # NAME -> 0 stopped, 1 not running
    local name=$1 d; d=$(run_dir "$1")
    exec {SLOCK}>"$LAB_VAR/.$name.lock"
    flock -w 10 "$SLOCK" || die "VM $name is being started by another command"
    if ! load_meta "$name"; then exec {SLOCK}>&-; return 1; fi
    local pid=$M_qemuPid
    if is_vm_pid "$pid" "$name"; then
        printf '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n' |
            timeout 5 socat -t 2 -T 3 - "UNIX-CONNECT:$d/control.sock" >/dev/null 2>&1 || true
        local i
        for i in $(seq 1 40); do is_vm_pid "$pid" "$name" || break; sleep 0.1; done
        kill_pid "$pid" "$name"
        is_vm_pid "$pid" "$name" && die "could not kill qemu pid $pid of $name"
        cleanup_vm_files "$name"
        echo "$name stopped"
    else
        cleanup_vm_files "$name"
        echo "$name was not running (cleaned up)"
    fi
    exec {SLOCK}>&-
}

cmd_stop() {
    [[ $# -eq 1 ]] || { usage >&2; exit 2; }
    if [[ $1 == --all ]]; then
        local m n
        for m in "$LAB_VAR"/*/meta.json; do
            [[ -f $m ]] || continue
            n=$(basename "$(dirname "$m")")
            stop_one "$n" || true
        done
        return 0
    fi
    valid_name "$1" || die "invalid VM name '$1'"
    stop_one "$1" || die "VM $1 is not running"
}

fmt_uptime() {
    local s=$1
    if ((s >= 3600)); then printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
    elif ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60))
    else printf '%ds' "$s"; fi
}

cmd_list() {
    local json=false
    [[ ${1:-} == --json ]] && json=true
    local m n state up first=true now=${EPOCHREALTIME%.*}
    $json && printf '['
    $json || printf '%-20s %-12s %-8s %-7s %-26s %-10s %s\n' NAME TENANT STATE MEMORY KERNEL WORKLOAD UPTIME
    for m in "$LAB_VAR"/*/meta.json; do
        [[ -f $m ]] || continue
        n=$(basename "$(dirname "$m")")
        ( load_meta "$n" || exit 0
          if is_vm_pid "$M_qemuPid" "$n"; then state=running; up=$((now - M_startedEpoch)); else state=dead; up=0; fi
          if $json; then
              $first || printf ','
              printf '%s' "$(sed '$d' "$m" | sed '$s/$/,/')"
              printf '\n  "state": %s,\n  "uptimeSeconds": %d\n}' "$(json_str "$state")" "$up"
          else
              printf '%-20s %-12s %-8s %-7s %-26s %-10s %s\n' "$M_name" "$M_tenant" "$state" "${M_memoryMib}M" \
                  "$M_kernelVersion" "$M_workload" "$([[ $state == running ]] && fmt_uptime "$up" || echo -)"
          fi )
        first=false
    done
    $json && printf ']\n'
    return 0
}

cmd_exec() {
    local name="" to=60
    while (($#)); do
        case $1 in
            --timeout) to=${2:?--timeout needs a value}; shift 2 ;;
            --) shift; break ;;
            -*) die "exec: unknown option $1" ;;
            *) [[ -z $name ]] || die "exec: expected -- before the command (got '$1')"; name=$1; shift ;;
        esac
    done
    [[ -n $name ]] || { usage >&2; exit 2; }
    (($#)) || die "exec: no command given"
    [[ $to =~ ^[0-9]+$ ]] && ((to > 0)) || die "exec: --timeout must be a positive integer (seconds)"
    valid_name "$name" || die "invalid VM name '$name'"
    vm_running "$name" || die "VM $name is not running"
    local d; d=$(run_dir "$name")
    local script="" a
    for a in "$@"; do script+="$(sh_quote "$a") "; done
    exec {ELOCK}>"$d/exec.lock"
    flock -w "$to" "$ELOCK" || die "exec: timed out after $to s waiting for another exec on $name"
    local t0=$EPOCHREALTIME rc=0
    shell_call "$d/shell.sock" "$to" "$script" || rc=$?
    exec {ELOCK}>&-
    if ((rc == 2)); then die "exec: cannot connect to the test shell of $name"; fi
    if ((rc != 0)); then note "exec: timed out after $to s waiting for $name (no reply from the guest test shell)"; exit 124; fi
    printf '%s' "$CALL_OUT_B64" | base64 -d
    printf '%s' "$CALL_ERR_B64" | base64 -d >&2
    local el; el=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", b-a}')
    if [[ $CALL_RC == 137 ]] && ((el >= to)); then
        note "exec: command timed out after $to s (killed in the guest)"; exit 124
    fi
    return "$CALL_RC"
}

cmd_console() {
    local name=${1:-}; [[ -n $name ]] || { usage >&2; exit 2; }
    valid_name "$name" || die "invalid VM name '$name'"
    local d; d=$(run_dir "$name")
    # also works while the VM is still booting (no meta.json yet): fall back to qemu.pid
    local pid; pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
    vm_running "$name" || is_vm_pid "$pid" "$name" || die "VM $name is not running"
    attach_console "$d/console.sock" "the serial console (ttyS0) of $name. Press Enter for a prompt"
    echo "Detached from $name." >&2
}

# attach_console SOCKET WHAT: a terminal gets WHAT raw (detach with Ctrl-]), a pipe the plain stream.
attach_console() {
    local sock=$1 what=$2
    if [[ -t 0 ]]; then
        echo "Attached to $what; detach with Ctrl-] ." >&2
        socat "-,raw,echo=0,escape=0x1d" "UNIX-CONNECT:$sock" || true
        echo >&2
    else
        exec socat - "UNIX-CONNECT:$sock"
    fi
}

main() {
    local sub=${1:-}
    (($#)) && shift
    case $sub in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        list) cmd_list "$@" ;;
        exec) cmd_exec "$@" ;;
        console) cmd_console "$@" ;;
        kernel-path) cmd_kernel_path "$@" ;;
        xen) source "$LAB_DIR/xen/xenlab.sh"; xen_main "$@" ;;
        -h|--help|help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}
main "$@"
