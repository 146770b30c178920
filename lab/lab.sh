#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Periscope lab: Debian Linux guests under QEMU/TCG for VM-introspection tests.
# Usage: lab.sh start|stop|list|exec|console|kernel-path ...   (see lab/README.md)
set -euo pipefail

LAB_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib
# shellcheck source=lib/paths.sh
source "$LAB_LIB/paths.sh"
# shellcheck source=lib/common.sh
source "$LAB_LIB/common.sh"
# shellcheck source=lib/meta.sh
source "$LAB_LIB/meta.sh"
# shellcheck source=lib/kernel.sh
source "$LAB_LIB/kernel.sh"
# shellcheck source=lib/image.sh
source "$LAB_LIB/image.sh"
# shellcheck source=lib/qemu.sh
source "$LAB_LIB/qemu.sh"
# shellcheck source=lib/shell.sh
source "$LAB_LIB/shell.sh"

BOOT_TIMEOUT=${PERISCOPE_BOOT_TIMEOUT:-120}
QEMU=${PERISCOPE_QEMU:-qemu-system-x86_64}
# The hypervisor extension (vmi-bridge/native, built by `./periscope build` / the Maven build) and the tool
# that creates its event ring before QEMU starts. PERISCOPE_LAB_EVENTS: auto (default: load the plugin when
# it is built, else start without events and say so), required (fail without it), off (never load it).
NATIVE_DIR=${PERISCOPE_NATIVE_DIR:-$REPO_DIR/vmi-bridge/target/native}
LAB_EVENTS=${PERISCOPE_LAB_EVENTS:-auto}
RING_CAPACITY=${PERISCOPE_RING_CAPACITY:-16384}

# ---------------------------------------------------------------- VM state
run_dir() { echo "$LAB_VAR/$1"; }
# Shared-memory files are per lab directory, so two checkouts (or CI beside a developer) never collide.
LAB_ID=$(printf '%s' "$LAB_VAR" | cksum | cut -d' ' -f1)
ram_path() { echo "/dev/shm/periscope-$LAB_ID-$1.mem"; }
ring_path() { echo "/dev/shm/periscope-$LAB_ID-$1.ring"; }

# is_vm_pid PID NAME: PID is alive and is this VM's qemu
is_vm_pid() { is_qemu_pid "$1" "$(ram_path "$2")"; }

# load_meta NAME -> M_* variables; returns 1 if no meta
load_meta() { meta_load "$(run_dir "$1")"; }

vm_running() { # NAME
    load_meta "$1" || return 1
    is_vm_pid "$M_qemuPid" "$1"
}

# ---------------------------------------------------------------- commands
usage() {
    cat <<'EOF'
usage: lab.sh start NAME [--tenant T] [--workload NAME|FILE] [--kernel-package PKG] [--memory MIB]
                         [--nokaslr] [--append "KERNEL PARAMS"] [--tools]
       lab.sh stop NAME | --all
       lab.sh list [--json]
       lab.sh exec NAME [--timeout S] -- COMMAND [ARG...]
       lab.sh console NAME              (detach with Ctrl-])
       lab.sh kernel-path [--kernel-package PKG]
       lab.sh initramfs-path
       lab.sh xen up|guest|exec|console|status|down|build ...   (the Xen lab: lab.sh xen help)
EOF
}

# the guest image (built once, cached): what other platforms' test domains boot, e.g. under libvirt
cmd_initramfs_path() {
    (($# == 0)) || die "initramfs-path: no arguments"
    ensure_initramfs
    echo "$BASE_INITRD"
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
    local tenant=default workload=idle pkg="" mem=512 kaslr=true append="" tools=false
    while (($#)); do
        case $1 in
            --tenant) tenant=${2:?--tenant needs a value}; shift 2 ;;
            --workload) workload=${2:?--workload needs a value}; shift 2 ;;
            --kernel-package) pkg=${2:?--kernel-package needs a value}; shift 2 ;;
            --memory) mem=${2:?--memory needs a value}; shift 2 ;;
            --nokaslr) kaslr=false; shift ;;
            --append) append=${2:?--append needs a value}; shift 2 ;;
            --tools) tools=true; shift ;;
            *) die "start: unknown argument $1" ;;
        esac
    done
    valid_tenant "$tenant" || die "invalid tenant '$tenant'"
    [[ $mem =~ ^[0-9]+$ ]] && ((mem >= 64 && mem <= 16384)) || die "invalid --memory '$mem' (MiB, 64..16384)"
    need "$QEMU" socat flock base64 od awk

    find_workload "$workload"

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
    local initrd=$BASE_INITRD parts=()
    if [[ -n $WL_FILE ]]; then
        local ov; ov=$(mktemp -d "$d/.overlay.XXXXXX")
        mkdir -p "$ov/periscope/workloads"
        cp "$WL_FILE" "$ov/periscope/workloads/$WL_NAME.sh"
        (cd "$ov" && echo "periscope/workloads/$WL_NAME.sh" | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$d/overlay.cpio.gz"
        rm -rf "$ov"
        parts+=("$d/overlay.cpio.gz")
    fi
    if $tools; then
        ensure_tools
        parts+=("$TOOLS_CPIO")
    fi
    if ((${#parts[@]})); then
        cat "$BASE_INITRD" "${parts[@]}" > "$d/initrd.img"
        initrd=$d/initrd.img
    fi

    local cmdline="console=ttyS0 panic=-1 periscope.name=$name periscope.tenant=$tenant periscope.workload=$WL_NAME"
    [[ ${PERISCOPE_LAB_QUIET:-1} == 1 ]] && cmdline+=" quiet"
    [[ $kaslr == false ]] && cmdline+=" nokaslr"
    [[ -n $append ]] && cmdline+=" $append"
    # Events: the ring and its 0600 capability token exist before QEMU starts; the plugin refuses anything else.
    local ring="" ring_token="" events plugin=()
    events=$(setup_events "$name" "$d") || exit 1
    if [[ $events == on ]]; then
        ring=$(ring_path "$name"); ring_token=$d/ring.token
        plugin=(-plugin "$NATIVE_DIR/libperiscope_qemu.so,ring=$ring,token-file=$ring_token")
    fi
    qemu_run_args "$d"
    local qargs=(
        -name "$name" -accel tcg,tb-size=256
        -machine q35,memory-backend=mem
        -object "memory-backend-file,id=mem,size=${mem}M,mem-path=$ram,share=on"
        -m "${mem}M" -smp 1
        -nodefaults -display none -no-reboot
        -kernel "$KERNEL_VMLINUZ" -initrd "$initrd" -append "$cmdline"
        "${QEMU_RUN_ARGS[@]}"
        "${plugin[@]}"
    )
    local boot_fail="" pid=""
    if qemu_daemonize "$QEMU" "$d" "${qargs[@]}"; then
        pid=$QEMU_PID
        local deadline; deadline=$(awk -v a="$t0" -v b="$BOOT_TIMEOUT" 'BEGIN{printf "%d", a+b}')
        while :; do
            if ! is_vm_pid "$pid" "$name"; then boot_fail="qemu exited during boot"; break; fi
            if (( ${EPOCHREALTIME%.*} >= deadline )); then boot_fail="no readiness within $BOOT_TIMEOUT s"; break; fi
            local rc=0
            shell_says "$d/shell.sock" 5 "echo periscope-ready" 1 periscope-ready || rc=$?
            ((rc == 0)) && break
            ((rc == 2)) && sleep 0.2
        done
    else
        boot_fail=$QEMU_FAIL
    fi
    if [[ -n $boot_fail ]]; then
        if [[ -n $pid ]]; then qemu_stop "$pid" "$ram" "$d" || true; fi
        cleanup_vm_files "$name"
        qemu_boot_report "$d" "lab: VM $name failed to boot: $boot_fail" 40 "the console"
        exit 1
    fi
    local boot; boot=$(elapsed "$t0")
    # shellcheck disable=SC2034 # vm_meta_write reads the M_* variables
    {
        M_name=$name M_tenant=$tenant M_memoryMib=$mem M_kernelVersion=$KERNEL_VERSION M_kernelPackage=$pkg
        M_vmlinuz=$KERNEL_VMLINUZ M_workload=$WL_NAME M_kaslr=$kaslr M_ramPath=$ram
        M_qmpSocket=$d/qmp.sock M_shellSocket=$d/shell.sock M_consoleSocket=$d/console.sock
        M_consoleLog=$d/console.log M_qemuPid=$pid M_startedAt=$(date -u -d "@${t0%.*}" +%Y-%m-%dT%H:%M:%SZ)
        M_startedEpoch=${t0%.*} M_bootSeconds=$boot
        M_ringPath=$ring M_ringTokenFile=$ring_token M_events=$events
    }
    vm_meta_write "$d"
    local ev=""; [[ $events == on ]] || ev=", events $events"
    echo "$name ready in $boot s (kernel $KERNEL_VERSION, workload $WL_NAME$ev)"
}

stop_one() { # NAME -> 0 stopped, 1 not running
    local name=$1 d; d=$(run_dir "$1")
    exec {SLOCK}>"$LAB_VAR/.$name.lock"
    flock -w 10 "$SLOCK" || die "VM $name is being started by another command"
    if ! load_meta "$name"; then exec {SLOCK}>&-; return 1; fi
    local pid=$M_qemuPid
    if is_vm_pid "$pid" "$name"; then
        qemu_stop "$pid" "$(ram_path "$name")" "$d" || die "could not kill qemu pid $pid of $name"
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
              printf '%s' "$(meta_json_open "$m")"
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
    shell_exec "$name" "$d/shell.sock" "$d/exec.lock" "$to" "$(shell_script "$@")"
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
        initramfs-path) cmd_initramfs_path "$@" ;;
        xen) exec bash "$LAB_DIR/xen/xenlab.sh" "$@" ;;
        -h|--help|help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}
main "$@"
