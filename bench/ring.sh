#!/usr/bin/env bash
# Event-ring figures against the targets in docs/ARCHITECTURE.md, with the native stand-in producer (vmi-bridge/target/native/
# ring_producer: the QEMU plugin's reserve/publish/wait code without a guest):
#   - JMH dev.periscope.bench.RingBenchmark: asynchronous records drained into Java (target >= 5 M records/s)
#   - dev.periscope.bench.RingRoundTrip: synchronous round trip producer -> Java -> producer (p50 <= 20 us,
#     p99 <= 100 us) and asynchronous records end to end
# usage: bench/ring.sh [--quick]      (results also in $PERISCOPE_VAR/bench/ring/)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/bench/lib.sh"
bench_jdk bench/ring.sh
JAR="$REPO/bench/target/benchmarks.jar"
if [[ ! -f $JAR || ! -x $REPO/vmi-bridge/target/native/ring_producer ]]; then
  (cd "$REPO" && ./mvnw -q -B -DskipTests install -pl vmi-bridge && ./mvnw -q -B -f bench/pom.xml package)
fi
OUT="${PERISCOPE_VAR:-$REPO/var}/bench/ring/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$OUT"
jmh=(-rf json -rff "$OUT/jmh.json")
[[ ${1:-} == --quick ]] && jmh+=(-wi 1 -i 2 -w 1 -r 1)
cd "$REPO"
{
  echo "machine: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$JAVA_HOME/bin/java" -jar "$JAR" 'dev.periscope.bench.RingBenchmark' "${jmh[@]}" | grep -A10 '^Benchmark '
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$JAR" dev.periscope.bench.RingRoundTrip
} | tee "$OUT/ring.txt"
