#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# End-to-end check of the Xen lab: up, a guest, the domain list, Periscope's engine inside dom0 (XenProcesses:
# XenDriver over libperiscope-xen, a jlink'd runtime and the bench jar in the share, /periscope/java in dom0), and
# Periscope's server on the host reaching dom0's agent (host xen-lab, mutual TLS) to list the domU with its platform
# and processes over REST and to trace it (M5, through the command-line client), each list against the guest's own ps
# through its console (compared by pid and name), the CR3 pre-filter of patch 0001 on the live guest (XenCr3Filter: what reaches dom0
# unfiltered and filtered, and Xen's suppressed counter), a process list from a copy-on-write snapshot of patch 0003
# (XenProcesses --mode snapshot, with Xen's pause), a process-bound syscall trace on patch 0002's breakpoints
# (XenTrace, method M5), each tenant's monitoring domain against its own tenant's guest and the other's (monitor-probe:
# allowed, and refused by Xen with its AVC denials), the shim in dom0, the FLASK decisions of the running hypervisor on
# Periscope's policy module (lab/xen/dom0/flask-access.c), the DAIS 2020 experiment in short on a second guest
# (OverheadExperiment --paper, one round of a small job under M1, M3 and M4: M3 against M4 and their CR3 events, the
# guest alive and its breakpoints gone), then down. FLASK enforces throughout. Every step is bounded by a timeout, the lab is stopped on exit, timings are printed.
# Usage: bash lab/xen/test.sh        (PERISCOPE_XEN_TEST_GUEST_TYPE=pv|pvh|hvm, default pv; pvh and hvm need the
#                                     fixed QEMU; the CR3 pre-filter, the snapshot and the trace: PVH and HVM only)
#        PERISCOPE_XEN_TEST_PAPER=0  without the paper experiment's short round (PVH and HVM only; default 1: a few
#                                     minutes; the full experiment is ./periscope bench overhead --paper --platform xen)
# Needs the built jars (./mvnw -o package -DskipTests: bench, the agent, the server) and a JDK 25 (JAVA_HOME).
# Refuses to run when the Xen lab is already up (it would stop it at the end).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/paths.sh
source "$here/../lib/paths.sh"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
L=$LAB_DIR/lab.sh
lab() { bash "$L" xen "$@"; }
LAB=(bash "$L" xen)   # for step (timeout runs programs, not functions)
guest=xentest-1
type=${PERISCOPE_XEN_TEST_GUEST_TYPE:-pv}
paper_round=${PERISCOPE_XEN_TEST_PAPER:-1}
jdk=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
jar=$REPO_DIR/bench/target/benchmarks.jar
server_jar=$REPO_DIR/backend/target/periscope-server.jar
agent_jar=$REPO_DIR/agent/target/periscope-agent.jar
out_dir=$LAB_VAR/xen/test
t_start=$EPOCHREALTIME
policy_loaded=false   # the control plane's rendering of the FLASK module is in Xen (PVH and HVM runs)
timings=()
failed=""

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
    timings+=("$(printf '%-44s %7s s  %s' "$label" "$(elapsed "$t0")" "$( ((rc == 0)) && echo ok || echo "exit $rc")")")
    return $rc
}
guest_alive() { "${LAB[@]}" exec -- xl domid "$guest" > /dev/null 2>&1; }
check() { # LABEL: fails the test with LABEL
    failed+="  $1"$'\n'; echo "test.sh: FAILED: $1" >&2
}
# evidence of a failure, read from the files the lab keeps after down: what Xen said (a guest's crash or triple
# fault shows up only there), the guest's console and xl's log of it
evidence() {
    local f
    for f in "$XEN_RUN/console.log" "$XEN_RUN/share/log/xen/console/guest-$guest.log" "$XEN_RUN/share/log/xen/xl-$guest.log"; do
        echo "---- last 40 lines of $f"
        if [[ -s $f ]]; then tail -n 40 "$f" | tr -d '\r'; else echo "(missing or empty)"; fi
    done
}
finish() {
    local rc=$?
    trap - EXIT
    if [[ -n ${srv_pid:-} ]]; then kill "$srv_pid" 2>/dev/null || true; wait "$srv_pid" 2>/dev/null || true; fi
    step "down" 120 "${LAB[@]}" down || true
    [[ -n $failed || $rc -ne 0 ]] && evidence
    echo
    echo "==== Xen lab test: timings"
    printf '%s\n' "${timings[@]}"
    printf '%-44s %7s s\n' "total" "$(elapsed "$t_start")"
    if [[ -n $failed || $rc -ne 0 ]]; then
        echo "==== FAILED"; printf '%s' "$failed"; exit 1
    fi
    echo "==== OK"
}

if lab status --json | grep -q '"state": "running"'; then
    echo "test.sh: the Xen lab is already running; stop it first (periscope lab xen down)" >&2
    exit 2
fi
for f in "$jar" "$server_jar" "$agent_jar"; do
    [[ -s $f ]] || { echo "test.sh: no $f (./mvnw -o package -DskipTests)" >&2; exit 2; }
done
[[ $paper_round == [01] ]] || { echo "test.sh: PERISCOPE_XEN_TEST_PAPER must be 0 or 1, not '$paper_round'" >&2; exit 2; }
[[ -x $jdk/bin/jlink ]] || { echo "test.sh: no JDK at $jdk (set JAVA_HOME)" >&2; exit 2; }

trap finish EXIT
mkdir -p "$out_dir"

step "up (build or cache, boot, xl info, agent)" 3600 "${LAB[@]}" up
endpoint=$XEN_RUN/agent.endpoint
[[ -s $endpoint ]] || check "no agent in dom0 ($endpoint missing; share/log/agent.log)"
# the guest belongs to tenant acme: FLASK labels it acme_domU_t, which dom0's agent (the operator's view) and acme's
# monitoring domain (below) may introspect, and globex's may not
step "guest $guest ($type, workload busy, tenant acme)" 400 "${LAB[@]}" guest "$guest" --type "$type" --workload busy --tenant acme

step "xl list in dom0" 60 "${LAB[@]}" exec -- xl list || true
out=$OUT
grep -qE "^$guest +[0-9]+ " <<< "$out" || check "xl list does not show $guest"
grep -qE "^Domain-0 +0 " <<< "$out" || check "xl list does not show Domain-0"

cp "$jar" "$XEN_RUN/share/java/" # beside the runtime and the agent `up` put there

java_in_dom0="/periscope/java/jre/bin/java -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto"
java_in_dom0+=" --enable-native-access=ALL-UNNAMED -Djava.library.path=/opt/periscope/lib -cp /periscope/java/benchmarks.jar"
rc=0
# shellcheck disable=SC2086 # java_in_dom0 is a command line
step "engine in dom0: XenProcesses --vm $guest" 900 "${LAB[@]}" exec --timeout 880 -- \
    $java_in_dom0 dev.periscope.bench.XenProcesses --vm "$guest" --runs 3 || rc=$?
engine=$OUT
printf '%s\n' "$engine" > "$out_dir/engine.txt"
((rc == 0)) || check "XenProcesses exited $rc"
guest_alive || check "$guest is gone after the engine's run (see what Xen said below)"

# Periscope's server on the host, reaching dom0's agent (its endpoint file, the lab's certificates): the domU in its
# fleet as xentest-1@xen-lab with the platform named, and its processes over REST
srv=$out_dir/server; rm -rf "$srv"; mkdir -p "$srv"
port=${PERISCOPE_XEN_TEST_PORT:-18091}
vm_id=$guest@xen-lab
"$jdk/bin/java" -jar "$server_jar" --periscope.var-dir="$srv" --periscope.lab-var-dir="$VAR_DIR" \
    --periscope.fleet.tls.ca="$VAR_DIR/pki/ca.pem" --periscope.fleet.tls.certificate="$VAR_DIR/pki/control-plane.pem" \
    --periscope.fleet.tls.private-key="$VAR_DIR/pki/control-plane.key" \
    --periscope.demo-data=false --server.port="$port" > "$srv/server.log" 2>&1 &
srv_pid=$!
step "Periscope's server: /api/v1/vms lists $vm_id" 180 bash -c '
    for i in $(seq 1 170); do
        [[ -s $0/operator.token ]] && out=$(curl -fsS --max-time 20 2>/dev/null -H "Authorization: Bearer $(cat "$0/operator.token")" \
            "http://127.0.0.1:$1/api/v1/vms") && grep -q "\"id\":\"$2\"" <<< "$out" && { echo "$out"; exit 0; }
        sleep 1
    done; echo "$out"; exit 1' "$srv" "$port" "$vm_id" || check "the server did not list $vm_id ($srv/server.log)"
# its tenant is the one its FLASK label names (acme_domU_t): dom0's agent reads it from Xen
grep -q "\"id\":\"$vm_id\",\"name\":\"$guest\",\"host\":\"xen-lab\",\"tenant\":\"acme\",\"platform\":\"xen\",\"state\":\"RUNNING\"" <<< "$OUT" ||
    check "the server's fleet does not show $vm_id running on platform xen as tenant acme's"
# a command, not a function: step runs it under timeout
api=(curl -fsS --max-time 170 -H "Authorization: Bearer $(cat "$srv/operator.token" 2>/dev/null)")
step "Periscope's server: /api/v1/hosts shows xen-lab connected" 30 "${api[@]}" "http://127.0.0.1:$port/api/v1/hosts" || true
grep -q '"host":"xen-lab","address":"127.0.0.1:[0-9]*","tenant":null,"state":"CONNECTED"' <<< "$OUT" ||
    check "the server does not show dom0's agent xen-lab connected"
step "Periscope's server: /api/v1/vms/$vm_id/processes?mode=live" 180 "${api[@]}" \
    "http://127.0.0.1:$port/api/v1/vms/$vm_id/processes?mode=live" ||
    check "the server could not list $vm_id's processes ($srv/server.log)"
api_ps=$OUT
printf '%s\n' "$api_ps" > "$out_dir/api-processes.json"
n_api=$(grep -o '"pid":' <<< "$api_ps" | wc -l)
((n_api > 20)) || check "the server listed $n_api processes of $guest"
for p in periscope-shelld busy-writer busy-proc idle-sleeper; do
    grep -q "\"cmdline\":\"[^\"]*$p" <<< "$api_ps" || check "the server's list of $guest lacks $p"
done
# the REST list as the engine's table (PID PPID NAME; the API's cmdline names a kernel thread "[comm]", as ps does),
# for the comparison with ps below
api_table=$(python3 -c '
import json, sys
print("BEGIN PROCESSES"); print("PID PPID NAME")
for p in json.load(sys.stdin)["processes"]:
    print(p["pid"], p["ppid"], p["cmdline"] or "[" + p["name"] + "]")
print("END PROCESSES")' <<< "$api_ps" || true)
# a snapshot through the server: dom0's label holds the Periscope sub-ops over every tenant's guests (the operator's
# view); a PV guest has none, which must be a clear error, not a hang
step "Periscope's server: /api/v1/vms/$vm_id/processes?mode=snapshot" 180 curl -sS --max-time 170 \
    -w '\nHTTP %{http_code}\n' -H "Authorization: Bearer $(cat "$srv/operator.token" 2>/dev/null)" \
    "http://127.0.0.1:$port/api/v1/vms/$vm_id/processes?mode=snapshot" || true
snap_api=$OUT
if [[ $type == pv ]]; then
    grep -qx 'HTTP 503' <<< "$snap_api" && grep -q "platform xen cannot take copy-on-write snapshots" <<< "$snap_api" ||
        check "the server's refusal of a snapshot of the PV guest $guest does not say why"
else
    grep -qx 'HTTP 200' <<< "$snap_api" && (($(grep -o '"pid":' <<< "$snap_api" | wc -l) > 20)) ||
        check "the server did not list $guest's processes from a snapshot under enforcing FLASK"
fi

# KASLR: the slide both engines derived is the guest's own (_text - 0xffffffff81000000; 0 for PV and PVH, which boot
# without the decompressor that randomizes)
step "_text in $guest's /proc/kallsyms" 60 "${LAB[@]}" exec --guest "$guest" -- grep -m1 ' _text$' /proc/kallsyms || true
text=$(awk '{print $1}' <<< "$OUT")
if [[ $text =~ ^[0-9a-f]{16}$ ]]; then
    slide=$(printf '0x%x' $((16#$text - 0xffffffff81000000)))
    got=$(sed -n 's/^profile .* slide=\(0x[0-9a-f]*\) .*/\1/p' <<< "$engine")
    [[ $got == "$slide" ]] || check "the engine's KASLR slide ${got:-(none)} is not the guest's $slide"
else
    check "no _text in $guest's /proc/kallsyms"
fi

# vm_event (CR3 writes, breakpoints) and the snapshot sub-op exist for PVH and HVM guests only
if [[ $type != pv ]]; then
    # The Periscope patches on the live guest, under enforcing FLASK (dom0's label holds vm_event and the Periscope
    # sub-ops over every tenant's guests): the CR3 pre-filter (0001), a process list from a copy-on-write snapshot
    # (0003) and a process-bound syscall trace on breakpoints kept in Xen (0002)
    in_dom0() { # LABEL CLASS ARGS...: a bench class in dom0; OUT holds its output
        local label=$1 class=$2 rc=0; shift 2
        # shellcheck disable=SC2086 # java_in_dom0 is a command line
        step "$label" 400 "${LAB[@]}" exec --timeout 380 -- $java_in_dom0 dev.periscope.bench.$class "$@" || rc=$?
        ((rc == 0)) || check "$class exited $rc"
        guest_alive || check "$guest is gone after $class (see what Xen and the guest said below)"
    }
    # NAME: a number from the line that starts with LINE (words: LINE... NAME VALUE NAME VALUE ...), -1 when missing
    field() { awk -v l="$1" -v f="$2" 'BEGIN {v = -1} index($0, l " ") == 1 {for (i = 1; i < NF; i++) if ($i == f) v = $(i + 1)}
        END {print v}' <<< "$3"; }

    # unfiltered, then filtered in Xen by busy-writer's CR3
    in_dom0 "CR3 pre-filter: XenCr3Filter" XenCr3Filter --vm "$guest" --process busy-writer --seconds 10
    cr3=$OUT
    (($(field "phase unfiltered" other "$cr3") > 0)) || check "unfiltered, no CR3 writes of other processes reached dom0"
    (($(field "phase filtered" suppressed "$cr3") > 0)) || check "filtered, Xen suppressed no CR3 write"
    (($(field "phase filtered" other "$cr3") == 0)) || check "filtered, $(field "phase filtered" other "$cr3") CR3 writes not to or from busy-writer reached dom0"
    (($(field "phase filtered" target "$cr3") > 0)) || check "filtered, no switch to or from busy-writer reached dom0"

    # the snapshot's list while the guest runs, with how long Xen paused it to write-protect its RAM
    in_dom0 "COW snapshot: XenProcesses --mode snapshot" XenProcesses --vm "$guest" --mode snapshot --runs 2
    snap=$OUT
    printf '%s\n' "$snap" > "$out_dir/snapshot.txt"
    n_snap=$(sed -n 's/^processes run 2 (SNAPSHOT): \([0-9]*\) processes.*/\1/p' <<< "$snap")
    ((${n_snap:-0} > 20)) || check "the snapshot's list has ${n_snap:-no} processes"
    for p in periscope-shelld busy-writer busy-proc idle-sleeper; do
        grep -q "$p" <<< "$snap" || check "the snapshot's list lacks $p"
    done

    # the engine's own trace (VmiEngine.trace, method M5) on XenDomain.eventChannel(): syscalls of busy-writer and its
    # children only, the syscall entry a breakpoint kept in Xen, CR3 writes filtered in Xen
    in_dom0 "process-bound trace: XenTrace --method M5" XenTrace --vm "$guest" --process busy-writer --seconds 10
    trace=$OUT
    printf '%s\n' "$trace" > "$out_dir/trace.txt"
    (($(field "trace method" syscalls "$trace") > 0)) || check "the trace saw no syscall of busy-writer"
    (($(field "trace method" foreign_pids "$trace") == 0)) || check "the trace attributed syscalls to processes outside busy-writer's family"
    (($(field "trace method" hypervisor_suppressed "$trace") > 0)) || check "during the trace, Xen suppressed no CR3 write"
    (($(field "trace method" dropped "$trace") == 0)) || check "the trace dropped events"

    # The policy the control plane renders from its tenant model (GET /api/v1/policy/flask), compiled and loaded into
    # the running hypervisor by `lab xen policy`: tenants acme and globex (the monitoring domains' below) and initech,
    # which the hypervisor's built-in policy lacks (the FLASK step below asks Xen about initech's types)
    for t in acme globex initech; do
        curl -sS --max-time 30 -o /dev/null -w "tenant $t: HTTP %{http_code}\n" -X POST -H "Content-Type: application/json" \
            -H "Authorization: Bearer $(cat "$srv/operator.token" 2>/dev/null)" "http://127.0.0.1:$port/api/v1/tenants" \
            -d "{\"id\":\"$t\",\"displayName\":\"$t\",\"policy\":{\"approvalRequired\":false,\"maxConcurrentSessions\":4,\"maxTraceMinutesPerDay\":600}}" || true
    done
    step "the control plane's FLASK module: GET /api/v1/policy/flask" 60 "${api[@]}" "http://127.0.0.1:$port/api/v1/policy/flask" ||
        check "the server did not render the FLASK policy module"
    printf '%s\n' "$OUT" > "$out_dir/periscope.te"
    grep -q 'periscope_monitor(periscope_initech_t, initech_domU_t)' "$out_dir/periscope.te" ||
        check "the server's FLASK module lacks tenant initech"
    grep -qx "# ---- tenant acme: VMs $guest" "$out_dir/periscope.te" || check "the server's FLASK module does not list $guest as acme's"
    if step "lab xen policy (the control plane's rendering, loaded into Xen)" 300 "${LAB[@]}" policy "$out_dir/periscope.te"; then
        grep -qx Enforcing <<< "$OUT" && policy_loaded=true || check "FLASK is not enforcing after the policy was loaded"
    else
        check "the control plane's FLASK module could not be loaded into Xen"
    fi

    # Tenants' monitoring domains under enforcing FLASK: a globex guest beside acme's, and a PV monitoring domain per
    # tenant (periscope_<tenant>_t). In each, monitor-probe tries what introspection needs (domain info, vCPU context,
    # pause, a frame mapped, the vm_event ring and its event channel, the CR3 pre-filter sub-op) on its own tenant's guest
    # and on the other tenant's: Xen must allow the first and refuse the second, and say so in its log (AVC denials).
    # Before the trace through the server: Xen gives a domain one vm_event ring, which dom0's agent holds from a
    # trace's start until 30 s after its end (below); meanwhile a tenant's monitor finds it busy (EBUSY).
    other=xentest-globex
    step "guest $other (pvh, idle, tenant globex)" 400 "${LAB[@]}" guest "$other" --type pvh --workload idle \
        --tenant globex --memory 128 || check "the globex guest did not come up"
    for t in acme globex; do
        step "monitoring domain mon-$t (pv, periscope_${t}_t)" 400 "${LAB[@]}" guest "mon-$t" --monitor --tenant "$t" \
            --memory 128 || check "$t's monitoring domain did not come up"
    done
    step "labels: xl list -Z" 60 "${LAB[@]}" exec -- xl list -Z || true
    labels=$OUT
    printf '%s\n' "$labels" > "$out_dir/labels.txt"
    for pair in "$guest:acme_domU_t" "$other:globex_domU_t" "mon-acme:periscope_acme_t" "mon-globex:periscope_globex_t"; do
        grep -qE "^${pair%%:*} .*system_u:system_r:${pair#*:}\$" <<< "$labels" || check "${pair%%:*} is not labelled ${pair#*:}"
    done
    domid_of() { awk -v n="$1" '$1 == n {print $2}' <<< "$labels"; }
    d_acme=$(domid_of "$guest") d_globex=$(domid_of "$other") d_mon_acme=$(domid_of mon-acme) d_mon_globex=$(domid_of mon-globex)
    # probe T OWN OTHER: in T's monitoring domain, OWN must answer ok to all six, OTHER denied to all six
    probe() {
        local t=$1 own=$2 foreign=$3 out rc=0 op
        step "mon-$t: monitor-probe $own (own) $foreign (other tenant's)" 120 "${LAB[@]}" exec --guest "mon-$t" --timeout 110 -- \
            /periscope/monitor/monitor-probe "$own" "$foreign" || rc=$?
        out=$OUT
        printf '%s\n' "$out" > "$out_dir/probe-$t.txt"
        ((rc == 0)) || check "monitor-probe in mon-$t exited $rc"
        for op in getdomaininfo vcpu-context pause map vm-event cr3-filter; do
            grep -qx "probe $own $op ok" <<< "$out" || check "mon-$t: $op on its own tenant's domain $own was not allowed"
            grep -qE "^probe $foreign $op denied errno=(13|1) " <<< "$out" || check "mon-$t: $op on the other tenant's domain $foreign was not refused by Xen"
        done
    }
    if [[ -n $d_acme && -n $d_globex && -n $d_mon_acme && -n $d_mon_globex ]]; then
        probe acme "$d_acme" "$d_globex"
        probe globex "$d_globex" "$d_acme"
        # Xen's own record of the refusals (and of nothing refused on a monitor's own tenant)
        step "Xen's AVC denials for the monitoring domains" 60 "${LAB[@]}" exec -- sh -c "xl dmesg | grep 'avc:  denied'" || true
        avc=$OUT
        printf '%s\n' "$avc" > "$out_dir/avc-denials.txt"
        grep -q "source=d$d_mon_acme target=d$d_globex .*scontext=system_u:system_r:periscope_acme_t tcontext=system_u:system_r:globex_domU_t" <<< "$avc" ||
            check "Xen's log has no AVC denial of mon-acme on $other"
        grep -q "source=d$d_mon_globex target=d$d_acme .*scontext=system_u:system_r:periscope_globex_t tcontext=system_u:system_r:acme_domU_t" <<< "$avc" ||
            check "Xen's log has no AVC denial of mon-globex on $guest"
        own_denied=$(grep -E "source=d($d_mon_acme target=d$d_acme|$d_mon_globex target=d$d_globex) " <<< "$avc" || true)
        [[ -z $own_denied ]] || check "Xen denied a monitoring domain something on its own tenant's guest: $own_denied"
        guest_alive || check "$guest is gone after the monitoring domains' probes"
    else
        check "no domain ids for the tenants' domains (xl list -Z above)"
    fi
    for g in mon-globex "$other"; do # acme's monitor stays for the trace through the server
        step "guest-stop $g" 120 "${LAB[@]}" guest-stop "$g" || check "guest-stop $g failed"
    done

    # the same trace through the dashboard's API: the server asks dom0's agent over mutual TLS, the syscalls come back
    # as the session's NDJSON stream, here through the command-line client
    rc=0
    step "trace through the server: periscope trace $vm_id --process busy-writer" 240 \
        env PERISCOPE_URL="http://127.0.0.1:$port" PERISCOPE_TOKEN_FILE="$srv/operator.token" "$jdk/bin/java" -jar "$server_jar" \
        trace "$vm_id" --process busy-writer --method M5 --seconds 15 --json || rc=$?
    rest_trace=$OUT
    printf '%s\n' "$rest_trace" > "$out_dir/rest-trace.ndjson"
    ((rc == 0)) || check "the trace through the server exited $rc ($srv/server.log)"
    n_rest=$(grep -c '"syscall":' <<< "$rest_trace" || true)
    ((n_rest > 0)) || check "the trace through the server streamed no syscall of busy-writer"
    n_foreign=$(grep '"syscall":' <<< "$rest_trace" | grep -vcE '"name":"(busy-writer|cp|cat|sleep|rm|mkdir|sh)"' || true)
    ((n_foreign == 0)) || check "the trace through the server streamed $n_foreign syscalls of other processes"
    guest_alive || check "$guest is gone after the trace through the server"

    # dom0's agent lets go of the domain's vm_event ring once no trace has used it for 30 s: acme's monitor can then
    # take it (the operator's view and the tenant's take turns)
    if [[ -n ${d_acme:-} ]]; then
        step "mon-acme: xentest-1's vm_event ring free again after the trace through the server" 200 bash -c '
            for i in $(seq 1 15); do
                out=$(bash "$0" xen exec --guest mon-acme --timeout 60 -- /periscope/monitor/monitor-probe "$1" 2>&1)
                grep -qx "probe $1 vm-event ok" <<< "$out" && { echo "after $((i * 10)) s: $out"; exit 0; }
                sleep 10
            done
            echo "$out"; exit 1' "$L" "$d_acme" ||
            check "acme's monitor could not take $guest's vm_event ring after dom0's agent traced it"
    fi
    step "guest-stop mon-acme" 120 "${LAB[@]}" guest-stop mon-acme || check "guest-stop mon-acme failed"

fi

step "ps in $guest (its console)" 60 "${LAB[@]}" exec --guest "$guest" -- ps || true
ps_out=$OUT
printf '%s\n' "$ps_out" > "$out_dir/ps.txt"

# compare by pid: busybox ps prints PID USER COMMAND, COMMAND as "{comm} argv" when they differ and kworkers with
# their workqueue ("[kworker/0:0-eve]"); the engine prints comm for kernel threads, argv otherwise
awk 'NR>1{pid=$1; $1=""; $2=""; sub(/^ +/,""); sub(/^\{[^}]*\} /,""); print pid "\t" $0}' <<< "$ps_out" | sort -n > "$out_dir/ps.tsv"
compare_to_ps() { # NAME OUTPUT: an engine's process table (XenProcesses) against the guest's ps
    local name=$1 tsv=$out_dir/$1.tsv
    sed -n '/^BEGIN PROCESSES/,/^END PROCESSES/p' <<< "$2" | awk 'NR>2 && !/^END/{pid=$1; $1=""; $2=""; sub(/^ +/,""); print pid "\t" $0}' | sort -n > "$tsv"
    echo "---- compare ($tsv, ps.tsv)"
    local n_engine n_ps max_engine only_ps only_engine names pid
    n_engine=$(wc -l < "$tsv"); n_ps=$(wc -l < "$out_dir/ps.tsv")
    max_engine=$(cut -f1 "$tsv" | sort -n | tail -n 1)
    only_ps=$(join -t $'\t' -v2 <(sort -k1,1 "$tsv") <(sort -k1,1 "$out_dir/ps.tsv") | sort -n)
    only_engine=$(join -t $'\t' -v1 <(sort -k1,1 "$tsv") <(sort -k1,1 "$out_dir/ps.tsv") | sort -n)
    # the engine's name starts what ps shows (argv, or a kernel thread's [name]); ps cuts a kernel thread's name at
    # 15 characters, and a kernel worker's current workqueue may change between the two readings
    names=$(join -t $'\t' <(sort -k1,1 "$tsv") <(sort -k1,1 "$out_dir/ps.tsv") | awk -F'\t' '
        function bare(s) { sub(/\]$/, "", s); return s }
        function worker(s) { sub(/-.*/, "", s); return s }
        { e = bare($2); p = bare($3) }
        index($3, e) == 1 { next }
        p ~ /^\[/ && index(e, p) == 1 { next }
        p ~ /^\[kworker\// && worker(e) == worker(p) { next }
        { print }')
    echo "$name: $n_engine processes, ps $n_ps"
    echo "only in the $name list (exited before ps ran):"; printf '%s\n' "${only_engine:-  none}"
    echo "only in ps:"; printf '%s\n' "${only_ps:-  none}"
    ((n_engine > 20)) || check "$name listed $n_engine processes"
    for p in periscope-shelld busy-writer busy-proc idle-sleeper; do
        grep -q "$p" "$tsv" || check "the $name list lacks $p"
    done
    # a pid that ps shows and the engine does not must have started after the walk (pids grow: none wrap here)
    while IFS=$'\t' read -r pid _; do
        [[ -n $pid ]] && ((pid <= max_engine)) && check "pid $pid (up to the $name list's highest, $max_engine) is missing in it"
    done <<< "$only_ps"
    [[ -z $names ]] || check "$name: names differ: $names"
}
compare_to_ps engine "$engine"
compare_to_ps api "$api_table"

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

# FLASK: the running hypervisor's security server, asked about the policy module built into it (verify.sh renders the
# tenant template for acme and globex): a tenant's monitoring label gets the introspection permissions on its own
# tenant's domUs and none on another tenant's
step "FLASK: getenforce and access decisions" 120 "${LAB[@]}" exec --timeout 110 -- sh -c '
    xl getenforce
    gcc -O2 -Wall -Werror -I/periscope/flask -o /tmp/flask-access /periscope/flask/flask-access.c -lxenctrl || exit 1
    for pair in periscope_acme_t:acme_domU_t periscope_acme_t:globex_domU_t periscope_globex_t:acme_domU_t \
                dom0_t:acme_domU_t dom0_t:domU_t $1; do
        s=${pair%:*} t=${pair#*:}
        /tmp/flask-access system_u:system_r:$s system_u:system_r:$t | sed "s/^/$s $t /" || exit 1
    done' flask-access "$($policy_loaded && echo periscope_initech_t:initech_domU_t)" || check "the FLASK access decisions could not be asked"
flask=$OUT
[[ $(head -1 <<< "$flask") == Enforcing ]] || check "FLASK is not enforcing"
n_own=$(grep -c '^periscope_acme_t acme_domU_t .* allowed$' <<< "$flask" || true)
n_cross=$(grep -cE '^(periscope_acme_t globex_domU_t|periscope_globex_t acme_domU_t) .* denied$' <<< "$flask" || true)
((n_own == 8)) || check "periscope_acme_t has $n_own of 8 introspection permissions on acme_domU_t"
((n_cross == 16)) || check "only $n_cross of 16 cross-tenant introspection permissions are denied"
n_operator=$(grep -cE '^dom0_t (acme_domU_t|domU_t) .* allowed$' <<< "$flask" || true)
((n_operator == 16)) || check "dom0_t (the operator's view) has $n_operator of 16 introspection permissions on acme_domU_t and domU_t"
if $policy_loaded; then
    n_new=$(grep -c '^periscope_initech_t initech_domU_t .* allowed$' <<< "$flask" || true)
    ((n_new == 8)) || check "the loaded policy gives periscope_initech_t $n_new of 8 introspection permissions on initech_domU_t"
fi

step "guest-stop $guest" 120 "${LAB[@]}" guest-stop "$guest" || check "guest-stop failed"
step "xl list after guest-stop" 60 "${LAB[@]}" exec -- xl list || true
grep -q "^$guest " <<< "$OUT" && check "$guest still listed after guest-stop"

# The DAIS 2020 experiment in short (bench overhead --paper --platform xen runs it in full): the paper's guest (1 vCPU,
# 256 MiB, pti=on) compiling one of jansson's files with tcc per iteration, its shell traced under M1, M3 and M4 for one
# iteration each (M2 and M5 only in the full experiment; each synchronous event is a trip through a nested dom0, so
# the step's bound is generous for a loaded host). M3's synchronous CR3 writes must cost more than M4's, whose filter
# in Xen lets fewer than 1 % of them through; the guest must survive every method with no breakpoint byte left in its
# code (the runner checks both).
if [[ $type != pv && $paper_round == 1 ]]; then
    paper=xentest-paper
    step "guest $paper (pvh, workload jansson: 1 file, pti=on)" 400 "${LAB[@]}" guest "$paper" --type pvh \
        --workload jansson --memory 256 \
        --append "pti=on periscope.paper_iterations=0 periscope.paper_pause=1 periscope.paper_files=1" ||
        check "the paper guest did not come up"
    rc=0
    # shellcheck disable=SC2086 # java_in_dom0 is a command line
    step "paper experiment, one round: OverheadExperiment --paper --runs 1, M1/M3/M4" 1800 "${LAB[@]}" exec \
        --timeout 1780 -- $java_in_dom0 dev.periscope.bench.OverheadExperiment \
        --paper --platform xen --vm "$paper" --runs 1 --methods M1,M3,M4 --iteration-timeout 15 || rc=$?
    exp=$OUT
    printf '%s\n' "$exp" > "$out_dir/paper-experiment.md"
    ((rc == 0)) || check "OverheadExperiment --paper exited $rc (a guest died or a breakpoint byte was left behind)"
    grep -qx 'checks passed' <<< "$exp" || check "the paper experiment's checks did not pass"
    m3_ms=$(field "result M3" mean_ms "$exp") m4_ms=$(field "result M4" mean_ms "$exp")
    m3_cr3=$(field "result M3" cr3_to_monitor "$exp") m4_cr3=$(field "result M4" cr3_to_monitor "$exp")
    ((m3_ms > m4_ms)) || check "M3 ($m3_ms ms) was not slower than M4 ($m4_ms ms)"
    ((m3_cr3 > 0)) || check "no CR3 write reached the monitor under M3"
    ((m4_cr3 > 0)) || check "no switch to or from the shell reached the monitor under M4"
    ((m4_cr3 * 100 < m3_cr3)) || check "M4's CR3 events ($m4_cr3) are not fewer than 1 % of M3's ($m3_cr3)"
    step "guest-stop $paper" 120 "${LAB[@]}" guest-stop "$paper" || check "guest-stop $paper failed"
fi
exit 0
