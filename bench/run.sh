#!/usr/bin/env bash
# Periscope engine benchmarks: JMH (RAM read, translation, process list, profile), the engine end to end
# (snapshot vs pause-and-copy downtime) and process-list latency over REST against a server it starts itself.
#
# usage: bench/run.sh [--quick] [--keep-vm] [--jmh REGEX] [--skip-jmh] [--skip-e2e] [--skip-rest]
#   --quick     short JMH settings and fewer end-to-end samples (a smoke run, ~3 min; not for RESULTS.md)
#   --keep-vm   leave the bench VM running afterwards (it is stopped only if this script started it)
#   --jmh RE    only the JMH benchmarks matching RE (default: all)
# env: PERISCOPE_VAR (default <repo>/var), PERISCOPE_BENCH_VAR (the bench VM's own var directory, default
#      $PERISCOPE_VAR/bench/lab-var), PERISCOPE_BENCH_VM (default bench-1),
#      PERISCOPE_BENCH_PORT (default 18080), JAVA_HOME (a JDK 25; found under /usr/lib/jvm otherwise)
# Results: $PERISCOPE_VAR/bench/<timestamp>/ (jmh.json, jmh.txt, engine-e2e.json, rest-latency.json,
# machine.txt, load.txt, summary.md), also reachable as $PERISCOPE_VAR/bench/latest.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$(mkdir -p "${PERISCOPE_VAR:-$REPO/var}" && cd "${PERISCOPE_VAR:-$REPO/var}" && pwd)"
VM="${PERISCOPE_BENCH_VM:-bench-1}"
PORT="${PERISCOPE_BENCH_PORT:-18080}"
LAB="$REPO/lab/lab.sh"
BENCH_JAR="$REPO/bench/target/benchmarks.jar"
SERVER_JAR="$REPO/backend/target/periscope-server.jar"

quick=false keep_vm=false jmh_filter="" skip_jmh=false skip_e2e=false skip_rest=false
while (($#)); do
  case $1 in
    --quick) quick=true; shift ;;
    --keep-vm) keep_vm=true; shift ;;
    --jmh) jmh_filter=${2:?--jmh needs a regex}; shift 2 ;;
    --skip-jmh) skip_jmh=true; shift ;;
    --skip-e2e) skip_e2e=true; shift ;;
    --skip-rest) skip_rest=true; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $VM == bench-* ]] || { echo "bench/run.sh: the bench VM name must start with bench- (got $VM)" >&2; exit 2; }

die() { echo "bench/run.sh: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------- JDK 25
source "$REPO/bench/lib.sh"
bench_jdk bench/run.sh
JAVA="$JAVA_HOME/bin/java"

# ---------------------------------------------------------------- build if needed
newer_than() { # $1 jar, rest: dirs; true when the jar is missing or a source under the dirs is newer
  local jar=$1; shift
  [[ ! -f $jar ]] && return 0
  [[ -n "$(find "$@" -newer "$jar" \( -name '*.java' -o -name 'pom.xml' -o -name '*.c' -o -name '*.html' \
      -o -name '*.js' -o -name '*.css' -o -name '*.yml' \) -print -quit 2>/dev/null)" ]]
}
cd "$REPO"
# The server jar is built only when missing (./periscope rebuilds it when stale; rebuilding here could race
# with a server or a build another shell is running).
if [[ ! -f $SERVER_JAR ]] && ! $skip_rest; then
  log "building the engine and the server"
  ./mvnw -q -B -DskipTests install
elif newer_than "$SERVER_JAR" "$REPO/vmi-bridge" "$REPO/frontend" "$REPO/backend"; then
  echo "bench/run.sh: note: $SERVER_JAR is older than its sources (./periscope up or mvnw install rebuilds it)" >&2
fi
if newer_than "$BENCH_JAR" "$REPO/vmi-bridge" "$REPO/bench" "$REPO/pom.xml"; then
  log "building the benchmarks"
  ./mvnw -q -B -DskipTests install -pl vmi-bridge
  ./mvnw -q -B -f bench/pom.xml package
fi

# ---------------------------------------------------------------- run directory, cleanup
OUT="$VAR/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
ln -sfn "$(basename "$OUT")" "$VAR/bench/latest"
started_vm=false server_pid="" sampler_pid=""
cleanup() {
  set +e
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"; for _ in $(seq 1 20); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$server_pid" 2>/dev/null
  fi
  [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null
  if $started_vm && ! $keep_vm; then PERISCOPE_VAR="$VAR" "$LAB" stop "$VM" >/dev/null 2>&1; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the bench VM, in its own var directory
# A server started by ./periscope up attaches to every VM under $VAR/lab it is asked about and then holds the
# VM's QMP socket (QEMU takes one QMP client), which would lock the engine benchmarks out. So the bench VM
# lives under $VAR/bench/lab-var (its kernel cache shared with $VAR), where only this script's server looks.
BENCH_VAR="${PERISCOPE_BENCH_VAR:-$VAR/bench/lab-var}"
mkdir -p "$BENCH_VAR" "$VAR/cache"
[[ -e $BENCH_VAR/cache ]] || ln -s "$VAR/cache" "$BENCH_VAR/cache"
VAR="$BENCH_VAR"
vm_running() { PERISCOPE_VAR="$VAR" "$LAB" list 2>/dev/null | awk -v vm="$VM" '$1 == vm && $3 == "running" {f=1} END {exit !f}'; }
if vm_running; then
  log "using the running lab VM $VM"
else
  log "starting lab VM $VM (busy workload)"
  PERISCOPE_VAR="$VAR" "$LAB" start "$VM" --workload busy
  started_vm=true
  sleep 5 # let the workload's processes start
fi
export PERISCOPE_VAR="$VAR" PERISCOPE_BENCH_VM="$VM"

# ---------------------------------------------------------------- machine and load
{
  echo "date:    $(date -u +%FT%TZ)"
  echo "host:    $(uname -srm)"
  echo "cpus:    $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "memory:  $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "java:    $("$JAVA" -version 2>&1 | head -1)"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
  echo "qemu:    $(pgrep -c qemu-system || echo 0) QEMU processes (TCG guests share the host cores)"
  ps -eo pid,pcpu,rss,args --sort=-pcpu | grep -E '[q]emu-system' | cut -c1-120 | sed 's/^/         /'
  echo "vm:      $VM ($(PERISCOPE_VAR="$VAR" "$LAB" list 2>/dev/null | awk -v vm="$VM" '$1 == vm'))"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
(while :; do echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done) >"$OUT/load.txt" &
sampler_pid=$!

# ---------------------------------------------------------------- JMH
if ! $skip_jmh; then
  log "JMH $( $quick && echo '(quick)')"
  jmh_opts=(-rf json -rff "$OUT/jmh.json" -o "$OUT/jmh.txt")
  $quick && jmh_opts+=(-wi 1 -i 2 -w 1 -r 1)
  echo "$JAVA -jar $BENCH_JAR ${jmh_filter:+'$jmh_filter' }${jmh_opts[*]}" >"$OUT/commands.txt"
  "$JAVA" -jar "$BENCH_JAR" ${jmh_filter:+"$jmh_filter"} "${jmh_opts[@]}"
  grep -A100 '^Benchmark ' "$OUT/jmh.txt" || true
fi

# ---------------------------------------------------------------- engine end to end (before any server attaches)
if ! $skip_e2e; then
  log "engine end to end: snapshot, pause, pause-and-copy"
  if $quick; then e2e=(--runs 5 --pause-runs 10 --copy-runs 2); else e2e=(--runs 20 --pause-runs 50 --copy-runs 5); fi
  cmd=("$JAVA" -Xmx2g --enable-native-access=ALL-UNNAMED -cp "$BENCH_JAR" dev.periscope.bench.EngineEndToEnd
       --vm "$VM" --var "$VAR" "${e2e[@]}" --out "$OUT/engine-e2e.json")
  echo "${cmd[*]}" >>"$OUT/commands.txt"
  "${cmd[@]}" 2>&1 | tee "$OUT/engine-e2e.txt"
fi

# ---------------------------------------------------------------- REST, against a server started here
if ! $skip_rest; then
  log "REST latency: starting a server on :$PORT"
  ! curl -fsS -o /dev/null "http://localhost:$PORT/actuator/health" 2>/dev/null \
    || die "port $PORT is already in use (set PERISCOPE_BENCH_PORT)"
  "$JAVA" --enable-native-access=ALL-UNNAMED -jar "$SERVER_JAR" --server.port="$PORT" \
    --periscope.var-dir="$VAR" >"$OUT/server.log" 2>&1 &
  server_pid=$!
  for i in $(seq 1 120); do
    curl -fsS -o /dev/null "http://localhost:$PORT/actuator/health" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 30 "$OUT/server.log" >&2; die "the server exited during start-up"; }
    [[ $i == 120 ]] && die "the server did not answer on :$PORT within 120 s"
    sleep 1
  done
  if $quick; then rest=(--n 50 --warmup 20 --snapshot-n 5); else rest=(--n 200 --warmup 50 --snapshot-n 20); fi
  cmd=("$JAVA" -cp "$BENCH_JAR" dev.periscope.bench.RestLatency --url "http://localhost:$PORT"
       --token-file "$VAR/operator.token" --vm "$VM" "${rest[@]}" --modes live,pause,snapshot
       --out "$OUT/rest-latency.json")
  echo "${cmd[*]}" >>"$OUT/commands.txt"
  "${cmd[@]}" 2>&1 | tee "$OUT/rest-latency.txt"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
fi

# ---------------------------------------------------------------- summary
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at end)" >>"$OUT/machine.txt"
log "summary ($OUT)"
"$JAVA" -cp "$BENCH_JAR" dev.periscope.bench.Summary "$OUT"
echo
echo "results: $OUT (summary.md, jmh.json, engine-e2e.json, rest-latency.json, machine.txt, load.txt)"
