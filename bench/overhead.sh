#!/usr/bin/env bash
# The five-method monitoring experiment (docs/ARCHITECTURE.md, "Traces and the five methods"): boots (or reuses) a lab VM running the
# paper workload, traces paper-shell and its children with M1..M5 in turn and prints guest slowdown and event
# counts per method (dev.periscope.bench.OverheadExperiment). Results also go to $PERISCOPE_VAR/bench/overhead/.
#
# usage: bench/overhead.sh [--runs N] [--iterations K] [--vm NAME] [--methods M1,M2,...] [--pause S]
#                          [--append "KERNEL PARAMS"] [--keep-vm] [--json]
#   --runs N        rounds over all methods (default 3); methods are interleaved within a round
#   --iterations K  workload iterations measured per method and round (default 1)
#   --vm NAME       the lab VM (default overhead-1; started and stopped here unless it runs already)
#   --append P      extra guest kernel parameters, e.g. "pti=on" (CR3 written on every kernel entry and exit,
#                   as on the Meltdown-era guests of the paper; the default lab CPU runs without PTI)
#   --json          machine-readable output on stdout
# env: PERISCOPE_VAR (default <repo>/var), PERISCOPE_OVERHEAD_VAR (the VM's own var directory, default
#      $PERISCOPE_VAR/bench/overhead-var: a server or `lab.sh stop --all` on the main lab does not touch it),
#      JAVA_HOME (a JDK 25; found under /usr/lib/jvm otherwise)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
if [[ -z ${JAVA_HOME:-} || ! -x ${JAVA_HOME:-}/bin/java ]] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -q '"25'; then
  JAVA_HOME=""
  for d in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25*; do [[ -x $d/bin/java ]] && { JAVA_HOME=$d; break; }; done
  [[ -n $JAVA_HOME ]] || { echo "bench/overhead.sh: no JDK 25 found (set JAVA_HOME)" >&2; exit 1; }
fi
export JAVA_HOME
JAR="$REPO/bench/target/benchmarks.jar"
PLUGIN="$REPO/vmi-bridge/target/native/libperiscope_qemu.so"
stale() { [[ ! -f $JAR ]] || [[ -n "$(find "$REPO/vmi-bridge/src" "$REPO/vmi-bridge/native" "$REPO/bench/src" \
    -newer "$JAR" \( -name '*.java' -o -name '*.c' -o -name '*.h' \) -print -quit 2>/dev/null)" ]]; }
if stale || [[ ! -f $PLUGIN ]]; then
  echo "bench/overhead.sh: building vmi-bridge (with the QEMU plugin) and the benchmarks" >&2
  (cd "$REPO" && ./mvnw -q -B -DskipTests install -pl vmi-bridge && ./mvnw -q -B -f bench/pom.xml package)
fi
json=false; for a in "$@"; do [[ $a == --json ]] && json=true; done
VAR="${PERISCOPE_VAR:-$REPO/var}"
OUT="$VAR/bench/overhead"; mkdir -p "$OUT"
# The experiment's VM lives in a var directory of its own (kernel cache shared), like bench/run.sh's bench VM.
EXP_VAR="${PERISCOPE_OVERHEAD_VAR:-$VAR/bench/overhead-var}"
mkdir -p "$EXP_VAR" "$VAR/cache"
[[ -e $EXP_VAR/cache ]] || ln -s "$VAR/cache" "$EXP_VAR/cache"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
file="$OUT/$stamp.$($json && echo json || echo txt)"
# PERISCOPE_LAB_EVENTS=required: a VM without the extension could only run M1
PERISCOPE_VAR="$EXP_VAR" PERISCOPE_LAB_EVENTS=required "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Dperiscope.repo="$REPO" \
  -cp "$JAR" dev.periscope.bench.OverheadExperiment "$@" | tee "$file"
echo "bench/overhead.sh: saved $file" >&2
