#!/usr/bin/env bash
# The libvirt platform end to end (dev.periscope.bench.LibvirtEndToEnd): boots two libvirt domains that differ only
# in where their RAM is (anonymous, read through the QEMU process; a shared memory-backend file, mapped directly),
# then measures RAM read throughput and process-list latency through each path and what each acquisition mode
# costs the guest, in one run. Needs root and a running libvirtd (lab/setup.sh installs it).
#
# usage: bench/libvirt.sh [--memory MIB] [--passes N] [--lists N] [--pause-runs N] [--snapshot-runs N]
# env: PERISCOPE_VAR (default <repo>/var), JAVA_HOME (a JDK 25; found under /usr/lib/jvm otherwise)
# Results: $PERISCOPE_VAR/bench/libvirt/<timestamp>.json and .txt
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
(( EUID == 0 )) || { echo "bench/libvirt.sh: needs root (defines libvirt domains, reads their QEMU processes)" >&2; exit 1; }
source "$REPO/bench/lib.sh"
bench_jdk bench/libvirt.sh
JAR="$REPO/bench/target/benchmarks.jar"
if [[ ! -f $JAR ]] || [[ -n "$(find "$REPO/vmi-bridge/src" "$REPO/bench/src" -newer "$JAR" -name '*.java' -print -quit)" ]]; then
  echo "bench/libvirt.sh: building the engine and the benchmarks" >&2
  (cd "$REPO" && ./mvnw -q -B -DskipTests package -pl bench -am)
fi
virsh -c qemu:///system version >/dev/null 2>&1 || { echo "bench/libvirt.sh: no libvirtd answers on qemu:///system" >&2; exit 1; }
VAR="${PERISCOPE_VAR:-$REPO/var}"
OUT="$VAR/bench/libvirt"; mkdir -p "$OUT"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
"$JAVA_HOME/bin/java" -Xmx1g --enable-native-access=ALL-UNNAMED -Dperiscope.repo="$REPO" -cp "$JAR" \
  dev.periscope.bench.LibvirtEndToEnd --out "$OUT/$stamp.json" "$@" 2>&1 | tee "$OUT/$stamp.txt"
