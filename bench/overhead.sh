#!/usr/bin/env bash
# The five-method monitoring experiment (docs/ARCHITECTURE.md, "Traces and the five methods";
# dev.periscope.bench.OverheadExperiment): a guest runs a job in paper-shell forever; Periscope traces the shell with
# M1..M5 in interleaved rounds and reports the guest's slowdown, the events that reached the monitor or stayed in the
# hypervisor, per-event costs and the DAIS 2020 paper's Table 1 beside them. Results:
# $PERISCOPE_VAR/bench/overhead/<stamp>-<platform>-<profile>.json and .md (the dashboard's Experiment page shows the
# newest of each platform).
#
# usage: bench/overhead.sh [--paper] [--platform lab|xen] [--runs N] [--iterations K] [--vm NAME]
#                          [--methods M1,M2,...] [--pause S] [--append "KERNEL PARAMS"] [--keep-vm] [--json]
#                          [--iteration-timeout MINUTES]
#   --paper         the paper's configuration: 1 vCPU, 256 MiB, pti=on, the shell itself traced (not its children)
#                   for read, write, open/openat, close, execve; ten rounds of unpacking jansson from a zip and
#                   compiling it with tcc (workload jansson). Default: the paper workload, the shell and its children
#   --platform xen  on the Xen lab (root): starts it if it is down (and stops it afterwards unless --keep-vm), starts
#                   a PVH guest for the profile, runs the experiment in dom0 under enforcing FLASK (dom0's label holds
#                   the operator's introspection rights); default lab: a QEMU lab VM started here
#   --runs N        rounds over all methods (default 3, --paper 10); methods are interleaved within a round
#   --iterations K  workload iterations measured per method and round (default 1)
#   --vm NAME       the guest (default overhead-1, --paper overhead-paper-1; started and stopped here unless it runs)
#   --append P      extra guest kernel parameters
#   --json          JSON on stdout instead of the Markdown table
# env: PERISCOPE_VAR (default <repo>/var), PERISCOPE_OVERHEAD_VAR (a QEMU lab VM's own var directory, default
#      $PERISCOPE_VAR/bench/overhead-var: a server or `lab.sh stop --all` on the main lab does not touch it),
#      JAVA_HOME (a JDK 25; found under /usr/lib/jvm otherwise)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
source "$REPO/bench/lib.sh"
bench_jdk bench/overhead.sh
die() { echo "bench/overhead.sh: $*" >&2; exit 1; }
log() { echo "bench/overhead.sh: $*" >&2; }

platform=lab paper=false vm="" keep=false append="" pass=()
while (($#)); do
  case $1 in
    --platform) platform=${2:?--platform needs lab or xen}; shift 2 ;;
    --paper) paper=true; shift ;;
    --vm) vm=${2:?--vm needs a name}; shift 2 ;;
    --keep-vm) keep=true; shift ;;
    --append) append=${2:?--append needs parameters}; shift 2 ;;
    --runs|--iterations|--methods|--pause|--iteration-timeout) pass+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --json) pass+=("$1"); shift ;;
    *) die "unknown argument $1 (--help)" ;;
  esac
done
[[ $platform == lab || $platform == xen ]] || die "--platform must be lab or xen"
profile=(); $paper && profile=(--paper)
[[ -n $vm ]] || vm=$($paper && echo overhead-paper-1 || echo overhead-1)

JAR="$REPO/bench/target/benchmarks.jar"
PLUGIN="$REPO/vmi-bridge/target/native/libperiscope_qemu.so"
stale() { [[ ! -f $JAR ]] || [[ -n "$(find "$REPO/vmi-bridge/src" "$REPO/vmi-bridge/native" "$REPO/bench/src" \
    -newer "$JAR" \( -name '*.java' -o -name '*.c' -o -name '*.h' \) -print -quit 2>/dev/null)" ]]; }
if stale || [[ ! -f $PLUGIN ]]; then
  log "building vmi-bridge (with the QEMU plugin and the dom0 agent jar) and the benchmarks"
  (cd "$REPO" && ./mvnw -q -B -pl bench -am package -DskipTests)
fi
VAR="${PERISCOPE_VAR:-$REPO/var}"
OUT="$VAR/bench/overhead"; mkdir -p "$OUT"
java_args=(--enable-native-access=ALL-UNNAMED -Dperiscope.repo="$REPO" -cp "$JAR" dev.periscope.bench.OverheadExperiment)

if [[ $platform == lab ]]; then
  # The experiment's VM lives in a var directory of its own (kernel and image cache shared), like bench/run.sh's.
  EXP_VAR="${PERISCOPE_OVERHEAD_VAR:-$VAR/bench/overhead-var}"
  mkdir -p "$EXP_VAR" "$VAR/cache"
  [[ -e $EXP_VAR/cache ]] || ln -s "$VAR/cache" "$EXP_VAR/cache"
  keep_arg=(); $keep && keep_arg=(--keep-vm)
  append_arg=(); [[ -n $append ]] && append_arg=(--append "$append")
  # PERISCOPE_LAB_EVENTS=required: a VM without the extension could only run M1
  PERISCOPE_VAR="$EXP_VAR" PERISCOPE_LAB_EVENTS=required "$JAVA_HOME/bin/java" "${java_args[@]}" "${profile[@]}" \
    --vm "$vm" --out "$OUT" "${keep_arg[@]}" "${append_arg[@]}" "${pass[@]}"
  exit
fi

# ---- the Xen lab: the experiment runs in dom0, next to the vm_event ring; the host keeps the lab and the guest
((EUID == 0)) || die "the Xen lab needs root"
xen() { bash "$REPO/lab/lab.sh" xen "$@"; }
read -r workload memory params < <("$JAVA_HOME/bin/java" "${java_args[@]}" "${profile[@]}" --guest-spec)
started_lab=false started_guest=false loadpid=""
share="$VAR/lab/xen/machine/share"
cleanup() {
  local rc=$?
  [[ -n $loadpid ]] && kill "$loadpid" 2>/dev/null
  if ! $keep; then
    $started_guest && { xen guest-stop "$vm" || true; }
    $started_lab && { xen down || true; }
  fi
  exit "$rc"
}
trap cleanup EXIT
status=$(xen status --json)
if ! grep -q '"state": "running"' <<< "$status"; then
  log "starting the Xen lab"
  xen up
  started_lab=true
fi
[[ -x $share/java/jre/bin/java ]] || die "dom0 has no Java runtime ($share/java/jre): stop the Xen lab and run this again after ./periscope build"
if ! xen exec -- xl domid "$vm" > /dev/null 2>&1; then
  log "starting the PVH guest $vm (workload $workload, $memory MiB, $params)"
  xen guest "$vm" --type pvh --workload "$workload" --memory "$memory" \
    --append "$(echo "$params periscope.paper_iterations=0 periscope.paper_pause=1 $append" | xargs)"
  started_guest=true
fi
cp "$JAR" "$share/java/"
mkdir -p "$share/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
# dom0 cannot see the host's load: the host writes it into the share, the experiment reads it at start and end
( while :; do
    echo "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(pgrep -c qemu-system || true) QEMU processes" > "$share/results/host-load"
    sleep 10
  done ) &
loadpid=$!
# detached in dom0 (it may run for hours): the host follows its log in the share and waits for its exit code
run="/periscope/java/jre/bin/java -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto --enable-native-access=ALL-UNNAMED"
run+=" -Djava.library.path=/opt/periscope/lib -cp /periscope/java/benchmarks.jar dev.periscope.bench.OverheadExperiment"
run+=" ${profile[*]} --platform xen --vm $vm --out /periscope/results --host-load /periscope/results/host-load ${pass[*]}"
xen exec -- sh -c "cd /tmp && setsid sh -c '$run > /periscope/results/$stamp.log 2>&1; echo \$? > /periscope/results/$stamp.exit' < /dev/null > /dev/null 2>&1 &"
log "running in dom0; its log: $share/results/$stamp.log"
shown=0
while [[ ! -s $share/results/$stamp.exit ]]; do
  sleep 15
  if [[ -f $share/results/$stamp.log ]]; then
    n=$(wc -l < "$share/results/$stamp.log")
    ((n > shown)) && { sed -n "$((shown + 1)),${n}p" "$share/results/$stamp.log" | grep '^overhead: ' >&2 || true; shown=$n; }
  fi
done
rc=$(cat "$share/results/$stamp.exit")
sed -n "$((shown + 1)),\$p" "$share/results/$stamp.log" | grep '^overhead: ' >&2 || true
grep -v '^overhead: ' "$share/results/$stamp.log" || true
for f in "$share"/results/*-xen-*.json "$share"/results/*-xen-*.md; do
  [[ -f $f && ! -e $OUT/$(basename "$f") ]] && cp "$f" "$OUT/" && log "saved $OUT/$(basename "$f")"
done
exit "$rc"
