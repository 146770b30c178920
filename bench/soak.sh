#!/usr/bin/env bash
# The soak (dev.periscope.bench.SoakBench): the control plane's real jar for minutes under load, with a fake agent over
# mutual TLS (the agent's real trace machinery on a synthetic guest) whose host runs 20 VMs:
#   - 50 SSE clients (5 of them reading at most 500 events/s) on one trace session fed 10,000 syscalls/s for 10 min:
#     per client what arrived, the drops its stream reported and any loss no drop marker explains;
#   - a REST process list 10 times a second, before the load (the baseline) and under it: p50/p99;
#   - the dashboard's fleet page refreshing every 5 s for 30 min (the active sessions, each VM's overhead, the VM list);
#   - the server's heap and resident memory sampled all along, its live heap after a full GC once warm, at the end of
#     the stream load and at the end (flat: no more than 25 % + 16 MiB over the warm one).
# usage: bench/soak.sh [--quick] [--check] [--clients N] [--rate N] [--sse-seconds S] [--dashboard-seconds S]
#   --quick   the short form that ./periscope test runs: 40 s of streams, 60 s of dashboard (about 1.5 min in all)
#   --check   exit 1 when the server died, a client or a call failed, a loss went unreported or the live heap grew
# env: PERISCOPE_VAR (default <repo>/var), JAVA_HOME (a JDK 25; found under /usr/lib/jvm otherwise)
# Results: $PERISCOPE_VAR/bench/soak/<timestamp>/ (soak.json, soak.txt, machine.txt)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$(mkdir -p "${PERISCOPE_VAR:-$REPO/var}" && cd "${PERISCOPE_VAR:-$REPO/var}" && pwd)"
clients=50 rate=10000 sse=600 dashboard=1800 baseline=30 sample=5 check=false
while (($#)); do
  case $1 in
    --quick) sse=40; dashboard=60; baseline=5; sample=2; shift ;;
    --check) check=true; shift ;;
    --clients) clients=${2:?--clients needs a number}; shift 2 ;;
    --rate) rate=${2:?--rate needs a number}; shift 2 ;;
    --sse-seconds) sse=${2:?--sse-seconds needs a number}; shift 2 ;;
    --dashboard-seconds) dashboard=${2:?--dashboard-seconds needs a number}; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
source "$REPO/bench/lib.sh"
bench_jdk bench/soak.sh
JAVA="$JAVA_HOME/bin/java"
JAR="$REPO/bench/target/benchmarks.jar"
SERVER_JAR="$REPO/backend/target/periscope-server.jar"
if [[ ! -f $JAR || ! -f $SERVER_JAR ]]; then
  (cd "$REPO" && JAVA_HOME=$JAVA_HOME ./mvnw -q -B -DskipTests package)
fi
OUT="$VAR/bench/soak/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$OUT"
PKI="$VAR/bench/fleet-pki"
bash "$REPO/agent/certs.sh" "$PKI" --agent bench --agent bench-host >/dev/null
echo "machine: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); load $(cut -d' ' -f1-3 /proc/loadavg)" \
  | tee "$OUT/machine.txt"
status=0
"$JAVA" -Xmx1g --enable-native-access=ALL-UNNAMED -cp "$JAR" dev.periscope.bench.SoakBench --server-jar "$SERVER_JAR" \
    --pki "$PKI" --clients "$clients" --rate "$rate" --sse-seconds "$sse" --dashboard-seconds "$dashboard" \
    --baseline-seconds "$baseline" --sample-seconds "$sample" --out "$OUT/soak.json" --check "$check" 2>&1 \
  | grep --line-buffered -v '^\[' | tee "$OUT/soak.txt" || status=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
echo "bench/soak.sh: results in $OUT"
exit "$status"
