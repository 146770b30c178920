#!/usr/bin/env bash
# End-to-end check of the Xen lab: up, a PV guest, the domain list, the guest's own ps through its console, the
# shim in dom0, then down. Every step is bounded by a timeout, the lab is stopped on exit, timings are printed.
# Usage: bash lab/xen/test.sh        (PERISCOPE_XEN_TEST_GUEST_TYPE=pvh to test a PVH guest on the fixed QEMU)
# Refuses to run when the Xen lab is already up (it would stop it at the end).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
L=$here/../lab.sh
lab() { bash "$L" xen "$@"; }
LAB=(bash "$L" xen)   # for step (timeout runs programs, not functions)
guest=xentest-1
type=${PERISCOPE_XEN_TEST_GUEST_TYPE:-pv}
t_start=$EPOCHREALTIME
timings=()
failed=""

el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
# step LABEL TIMEOUT CMD...: runs CMD bounded by TIMEOUT seconds, records its time; its stdout is shown and
# kept in OUT
OUT=""
step() {
    local label=$1 to=$2; shift 2
    local t0=$EPOCHREALTIME rc=0 f
    echo "---- $label"
    f=$(mktemp)
    timeout -k 15 "$to" "$@" > "$f" || rc=$?
    OUT=$(cat "$f"); rm -f "$f"
    [[ -n $OUT ]] && printf '%s\n' "$OUT"
    timings+=("$(printf '%-44s %7s s  %s' "$label" "$(el "$t0")" "$( ((rc == 0)) && echo ok || echo "exit $rc")")")
    return $rc
}
check() { # LABEL: fails the test with LABEL
    failed+="  $1"$'\n'; echo "test.sh: FAILED: $1" >&2
}
finish() {
    local rc=$?
    trap - EXIT
    step "down" 120 "${LAB[@]}" down || true
    echo
    echo "==== Xen lab test: timings"
    printf '%s\n' "${timings[@]}"
    printf '%-44s %7s s\n' "total" "$(el "$t_start")"
    if [[ -n $failed || $rc -ne 0 ]]; then
        echo "==== FAILED"; printf '%s' "$failed"; exit 1
    fi
    echo "==== OK"
}

if lab status --json | grep -q '"state": "running"'; then
    echo "test.sh: the Xen lab is already running; stop it first (periscope lab xen down)" >&2
    exit 2
fi
trap finish EXIT

step "up (build or cache, boot, xl info)" 3600 "${LAB[@]}" up
step "guest $guest ($type, workload busy)" 400 "${LAB[@]}" guest "$guest" --type "$type" --workload busy

step "xl list in dom0" 60 "${LAB[@]}" exec -- xl list || true
out=$OUT
grep -qE "^$guest +[0-9]+ " <<< "$out" || check "xl list does not show $guest"
grep -qE "^Domain-0 +0 " <<< "$out" || check "xl list does not show Domain-0"

step "ps in $guest (its console)" 60 "${LAB[@]}" exec --guest "$guest" -- ps || true
out=$OUT
for p in periscope-shelld busy-writer busy-proc idle-sleeper; do
    grep -q "$p" <<< "$out" || check "the guest's ps lacks $p"
done

rc=0
step "guest identity (hostname, kernel, exit 7)" 60 "${LAB[@]}" exec --guest "$guest" -- sh -c 'hostname; uname -r; exit 7' || rc=$?
out=$OUT
[[ $(head -1 <<< "$out") == "$guest" ]] || check "the guest's hostname is not $guest"
((rc == 7)) || check "exit code 7 came back as $rc"

# the shim is built in dom0 at boot, in the background; wait for its status
step "shim libperiscope-xen built in dom0" 240 bash -c '
    for i in $(seq 1 60); do
        s=$(bash "$0" xen exec -- cat /run/periscope/shim.status 2>/dev/null || true)
        [[ -n $s ]] && { echo "$s"; exit 0; }
        sleep 3
    done
    exit 1' "$L" || true
s=$OUT
[[ $s == ok ]] || check "the shim was not built in dom0 (status '$s'; share/log/xen/periscope-shim-build.log)"
step "shim exports in dom0" 60 "${LAB[@]}" exec -- sh -c 'nm -D --defined-only /opt/periscope/lib/libperiscope-xen.so | grep -c " T periscope_xen_"' || check "the shim library is not loadable"

step "guest-stop $guest" 120 "${LAB[@]}" guest-stop "$guest" || check "guest-stop failed"
step "xl list after guest-stop" 60 "${LAB[@]}" exec -- xl list || true
grep -q "^$guest " <<< "$OUT" && check "$guest still listed after guest-stop"
exit 0
