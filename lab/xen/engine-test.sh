#!/usr/bin/env bash
# The Java engine inside dom0 against a real domU: up, a guest (PVH by default), a jlink'd JDK runtime and the
# bench jar copied into the share (/periscope/java in dom0), XenProcesses (XenDriver over libperiscope-xen,
# VmiEngine's profile and process list), the guest's own ps, both lists compared by pid and name, then down.
# Usage: bash lab/xen/engine-test.sh     (PERISCOPE_XEN_TEST_GUEST_TYPE=pv|pvh|hvm, default pvh)
# Needs the bench jar (./mvnw -o -pl bench -am package -DskipTests) and a JDK 25 (JAVA_HOME).
# Refuses to run when the Xen lab is already up (it would stop it at the end).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
L=$here/../lab.sh
LAB=(bash "$L" xen)
guest=${PERISCOPE_XEN_TEST_GUEST:-enginetest-1}
type=${PERISCOPE_XEN_TEST_GUEST_TYPE:-pvh}
jdk=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
jar=$repo/bench/target/benchmarks.jar
var=${PERISCOPE_VAR:-$repo/var}
out_dir=$var/lab/xen/engine-test
t_start=$EPOCHREALTIME
timings=()
failed=""

el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
OUT=""
step() { # LABEL TIMEOUT CMD...: bounded, timed; stdout shown and kept in OUT
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
check() { failed+="  $1"$'\n'; echo "engine-test.sh: FAILED: $1" >&2; }
finish() {
    local rc=$?
    trap - EXIT
    step "down" 120 "${LAB[@]}" down || true
    echo
    echo "==== Xen engine test: timings"
    printf '%s\n' "${timings[@]}"
    printf '%-44s %7s s\n' "total" "$(el "$t_start")"
    if [[ -n $failed || $rc -ne 0 ]]; then
        echo "==== FAILED"; printf '%s' "$failed"; exit 1
    fi
    echo "==== OK"
}

[[ -s $jar ]] || { echo "engine-test.sh: no $jar (./mvnw -o -pl bench -am package -DskipTests)" >&2; exit 2; }
[[ -x $jdk/bin/jlink ]] || { echo "engine-test.sh: no JDK at $jdk (set JAVA_HOME)" >&2; exit 2; }
if "${LAB[@]}" status --json | grep -q '"state": "running"'; then
    echo "engine-test.sh: the Xen lab is already running; stop it first (periscope lab xen down)" >&2
    exit 2
fi

# A minimal runtime, cached per JDK release: what vmi-bridge and the bench jar use (FFM is in java.base).
jre=$var/cache/xen-lab/jre/$("$jdk/bin/java" -XshowSettings:properties -version 2>&1 | awk '/java.runtime.version/{print $3}')
if [[ ! -x $jre/bin/java ]]; then
    rm -rf "$jre"; mkdir -p "$(dirname "$jre")"
    "$jdk/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,java.sql,java.desktop,jdk.unsupported \
        --strip-debug --no-man-pages --no-header-files --output "$jre"
fi

trap finish EXIT
mkdir -p "$out_dir"
step "up (build or cache, boot, xl info)" 3600 "${LAB[@]}" up
step "guest $guest ($type, workload busy)" 400 "${LAB[@]}" guest "$guest" --type "$type" --workload busy

share=$var/lab/xen/machine/share
rm -rf "$share/java"; mkdir -p "$share/java"
cp -a "$jre" "$share/java/jre"; cp "$jar" "$share/java/"

rc=0
step "engine in dom0: XenProcesses --vm $guest" 900 "${LAB[@]}" exec --timeout 880 -- \
    /periscope/java/jre/bin/java -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto --enable-native-access=ALL-UNNAMED \
    -Djava.library.path=/opt/periscope/lib -cp /periscope/java/benchmarks.jar dev.periscope.bench.XenProcesses \
    --vm "$guest" --runs 3 || rc=$?
engine=$OUT
printf '%s\n' "$engine" > "$out_dir/engine.txt"
((rc == 0)) || check "XenProcesses exited $rc"

step "ps in $guest (its console)" 60 "${LAB[@]}" exec --guest "$guest" -- ps || true
ps_out=$OUT
printf '%s\n' "$ps_out" > "$out_dir/ps.txt"

# compare by pid: busybox ps prints PID USER COMMAND, COMMAND as "{comm} argv" when they differ and kworkers with
# their workqueue ("[kworker/0:0-eve]"); the engine prints comm for kernel threads, argv otherwise
sed -n '/^BEGIN PROCESSES/,/^END PROCESSES/p' <<< "$engine" | awk 'NR>2 && !/^END/{pid=$1; $1=""; $2=""; sub(/^ +/,""); print pid "\t" $0}' | sort -n > "$out_dir/engine.tsv"
awk 'NR>1{pid=$1; $1=""; $2=""; sub(/^ +/,""); sub(/^\{[^}]*\} /,""); print pid "\t" $0}' <<< "$ps_out" | sort -n > "$out_dir/ps.tsv"
echo "---- compare ($out_dir/engine.tsv, ps.tsv)"
n_engine=$(wc -l < "$out_dir/engine.tsv"); n_ps=$(wc -l < "$out_dir/ps.tsv")
max_engine=$(cut -f1 "$out_dir/engine.tsv" | sort -n | tail -n 1)
only_ps=$(join -t $'\t' -v2 <(sort -k1,1 "$out_dir/engine.tsv") <(sort -k1,1 "$out_dir/ps.tsv") | sort -n)
only_engine=$(join -t $'\t' -v1 <(sort -k1,1 "$out_dir/engine.tsv") <(sort -k1,1 "$out_dir/ps.tsv") | sort -n)
names=$(join -t $'\t' <(sort -k1,1 "$out_dir/engine.tsv") <(sort -k1,1 "$out_dir/ps.tsv") |
    awk -F'\t' '{e=$2; sub(/\]$/,"",e); if (index($3, e) != 1) print}')
echo "engine $n_engine processes, ps $n_ps"
echo "only in the engine's list (exited before ps ran):"; printf '%s\n' "${only_engine:-  none}"
echo "only in ps:"; printf '%s\n' "${only_ps:-  none}"
((n_engine > 20)) || check "the engine listed $n_engine processes"
for p in periscope-shelld busy-writer busy-proc idle-sleeper; do
    grep -q "$p" "$out_dir/engine.tsv" || check "the engine's list lacks $p"
done
# a pid that ps shows and the engine does not must have started after the walk (pids grow: none wrap here)
while IFS=$'\t' read -r pid _; do
    [[ -n $pid ]] && ((pid <= max_engine)) && check "pid $pid (up to the engine's highest, $max_engine) is missing in its list"
done <<< "$only_ps"
[[ -z $names ]] || check "names differ: $names"
exit 0
