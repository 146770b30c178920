#!/usr/bin/env bash
# The fault suite (dev.periscope.bench.faults.FaultSuite): each fault of the whole path done to the real parts, 100
# times by default: QEMU killed in the middle of a process list, a snapshot and a trace (lab guests); the agent frozen
# and killed during traces (a real periscope-agent over mutual TLS); the control plane killed and restarted; the
# database restarted (PostgreSQL in Docker); the hypervisor ring overflowing; a slow SSE client; the archive's disk full
# (a tmpfs under the server). Per fault: what the user sees, what was lost and how much of it was counted, and the file
# descriptors, mappings, /dev/shm files and threads of the processes that lived through it, before and after.
# usage: bench/faults.sh [--repetitions N] [--only NAME,...] [--seed S]
#   faults: qemu-kill-process-list qemu-kill-snapshot qemu-kill-trace agent-stall agent-restart server-restart
#           ring-overflow slow-sse-client session-end database-restart disk-full
# needs: root (the tmpfs), QEMU and the lab's packages (lab/setup.sh), Docker for database-restart (its image is
# built from a local Debian base by deploy/images/build.sh postgres); a fault that cannot run says why.
# Takes hours at 100 repetitions (each QEMU fault boots a guest per repetition).
# Results: $PERISCOPE_VAR/bench/faults/<timestamp>/ (faults.json, faults.md: the table of docs/RELIABILITY.md, faults.txt)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$(mkdir -p "${PERISCOPE_VAR:-$REPO/var}" && cd "${PERISCOPE_VAR:-$REPO/var}" && pwd)"
source "$REPO/bench/lib.sh"
bench_jdk bench/faults.sh
JAR="$REPO/bench/target/benchmarks.jar"
if [[ ! -f $JAR || ! -f $REPO/backend/target/periscope-server.jar || ! -f $REPO/agent/target/periscope-agent.jar \
      || ! -x $REPO/vmi-bridge/target/native/ring_producer ]]; then
  (cd "$REPO" && JAVA_HOME=$JAVA_HOME ./mvnw -q -B -DskipTests package)
fi
bash "$REPO/deploy/images/build.sh" postgres || echo "bench/faults.sh: no PostgreSQL image: database-restart will be skipped" >&2
OUT="$VAR/bench/faults/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$OUT"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Dperiscope.repo="$REPO" -cp "$JAR" \
    dev.periscope.bench.faults.FaultSuite --out "$OUT" "$@" 2>&1 | grep -v '^\[' | tee "$OUT/faults.txt"
