#!/usr/bin/env bash
# The fleet's costs beside today's in-process path, in one run (dev.periscope.bench.FleetBench):
#   - a warm LIVE process list of a lab VM through the agent API (in-process and over mutual TLS on loopback) and
#     the engine's own call (target through the API: p50 <= 5 ms, p99 <= 20 ms);
#   - trace events agent -> control plane -> SSE at a set rate (the agent over mutual TLS on loopback, the server
#     jar as its own process, an SSE client), its resident memory sampled every second, beside the engine's own
#     session at the same rate (target: >= 100,000 events/s per agent, memory flat).
# usage: bench/fleet.sh [--quick] [--rate N] [--seconds S]
# env: PERISCOPE_VAR (default <repo>/var), JAVA_HOME (a JDK 25; found under /usr/lib/jvm otherwise)
# Results: $PERISCOPE_VAR/bench/fleet/<timestamp>/ (processes.json, trace.json, fleet.txt, machine.txt)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$(mkdir -p "${PERISCOPE_VAR:-$REPO/var}" && cd "${PERISCOPE_VAR:-$REPO/var}" && pwd)"
rate=100000 seconds=20 n=300
while (($#)); do
  case $1 in
    --quick) seconds=8; n=60; shift ;;
    --rate) rate=${2:?--rate needs a number}; shift 2 ;;
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    *) echo "bench/fleet.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
source "$REPO/bench/lib.sh"
bench_jdk bench/fleet.sh
JAVA="$JAVA_HOME/bin/java"
JAR="$REPO/bench/target/benchmarks.jar"
SERVER_JAR="$REPO/backend/target/periscope-server.jar"
if [[ ! -f $JAR || ! -f $SERVER_JAR ]]; then
  (cd "$REPO" && JAVA_HOME=$JAVA_HOME ./mvnw -q -B -DskipTests package)
fi
OUT="$VAR/bench/fleet/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$OUT"
PKI="$VAR/bench/fleet-pki"
bash "$REPO/agent/certs.sh" "$PKI" --agent bench --agent bench-host >/dev/null
# the bench VM lives in a lab of its own, so that no server of ./periscope up attaches to it meanwhile
LABVAR="$VAR/bench/fleet-lab"; mkdir -p "$LABVAR"
[[ -e $LABVAR/cache ]] || ln -s "$VAR/cache" "$LABVAR/cache"
VM=bench-fleet-1
PERISCOPE_VAR=$LABVAR bash "$REPO/lab/lab.sh" start "$VM" --workload busy
trap 'PERISCOPE_VAR=$LABVAR bash "$REPO/lab/lab.sh" stop "$VM" >/dev/null 2>&1 || true' EXIT
{
  echo "machine: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$JAR" dev.periscope.bench.FleetBench processes --vm "$VM" \
      --var "$LABVAR" --pki "$PKI" --n "$n" --out "$OUT/processes.json"
  "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$JAR" dev.periscope.bench.FleetBench trace --server-jar "$SERVER_JAR" \
      --pki "$PKI" --rate "$rate" --seconds "$seconds" --out "$OUT/trace.json"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | grep -v '^\[' | tee "$OUT/fleet.txt"
echo "bench/fleet.sh: results in $OUT"
