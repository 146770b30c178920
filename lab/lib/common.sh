# shellcheck shell=bash
# Messages, host checks and small formatting shared by the lab scripts (also copied into the Xen lab's dom0).
# Provides: die, note (stderr, prefixed with "$LAB_PROG:", default "lab"), need TOOL... (fails naming the missing
#   host tools), missing_packages PKG... (prints the Debian packages that are not installed), valid_name NAME (a
#   VM or guest name), valid_tenant TENANT, elapsed T0 (seconds since the $EPOCHREALTIME T0, one decimal), fmt_uptime SECONDS,
#   close_inherited_fds (closes every descriptor above 2: in a subshell, right before exec-ing a daemon).
# Needs: nothing.
LAB_PROG=${LAB_PROG:-lab}

die() { echo "$LAB_PROG: $*" >&2; exit 1; }
note() { echo "$LAB_PROG: $*" >&2; }

need() {
    local c missing=()
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
    ((${#missing[@]} == 0)) || die "missing host tools: ${missing[*]} (run lab/setup.sh)"
}

missing_packages() {
    local p
    for p in "$@"; do
        [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || echo "$p"
    done
}

# the names lab.sh and the Xen lab accept (they become file names, host names and xl domain names)
valid_name() { [[ $1 =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]]; }
valid_tenant() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]]; }

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }

fmt_uptime() {
    local s=$1
    if ((s >= 3600)); then printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
    elif ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60))
    else printf '%ds' "$s"; fi
}

# close_inherited_fds: closes every descriptor of this shell above 2. A daemon started by the lab outlives its
# caller, so it must not keep what the caller holds open: a lock taken with flock(1), a test runner's pipes (whose
# reader would wait for an end of file until the daemon stops). Use it in the subshell that execs the daemon,
# ( close_inherited_fds; exec CMD ) [&], so that no shell is left between holding them.
close_inherited_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        ((fd <= 2)) || eval "exec $fd>&-"
    done
}
