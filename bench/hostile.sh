#!/usr/bin/env bash
# Hostile guests, the long form of what every build checks briefly (docs/RELIABILITY.md, "Hostile guests"):
#  1. lab guests on 6.1 and 6.12 with the lab's test modules: names against /proc/PID/comm, a process hidden by
#     DKOM, and a fresh RAM dump of each into var/cache/hostile (HostileLabTest; --no-lab uses the dumps there);
#  2. every hostile case on every base (synthetic, both kernel images, the lab dumps): the reliability table;
#  3. the jqwik properties of the parsers with --tries tries each (default 100000);
#  4. Jazzer, coverage-guided, on each parser target for --fuzz-seconds (default 600).
#
# usage: ./periscope bench hostile [--no-lab] [--tries N] [--fuzz-seconds S] [--only corpus|properties|fuzz]
#    or: bench/hostile.sh [the same options]
# Results: $PERISCOPE_VAR/bench/hostile-<timestamp>/ (corpus.md, hostile-corpus-runs.md, lab.log, corpus.log,
# properties.log, fuzz-<target>.log, summary.md), also reachable as $PERISCOPE_VAR/bench/hostile-latest.
# Runs the lab part under flock /tmp/periscope-heavy.lock (one heavy job per machine).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$(mkdir -p "${PERISCOPE_VAR:-$REPO/var}" && cd "${PERISCOPE_VAR:-$REPO/var}" && pwd)"
lab=true tries=100000 fuzz_seconds=600 only=""
while (($#)); do
  case $1 in
    --no-lab) lab=false; shift ;;
    --tries) tries=${2:?--tries needs a number}; shift 2 ;;
    --fuzz-seconds) fuzz_seconds=${2:?--fuzz-seconds needs a number}; shift 2 ;;
    --only) only=${2:?--only needs corpus, properties or fuzz}; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/hostile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

source "$REPO/bench/lib.sh"
bench_jdk bench/hostile.sh

out="$VAR/bench/hostile-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
ln -sfn "$out" "$VAR/bench/hostile-latest"
MVN_TEST=("$REPO/mvnw" -B -f "$REPO/pom.xml" -pl vmi-bridge test -Dsurefire.failIfNoSpecifiedTests=false)
mvn_test() { "${MVN_TEST[@]}" "$@"; }
want() { [[ -z $only || $only == "$1" ]]; }
status=0
summary="$out/summary.md"
echo "# Hostile guests: long run $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$summary"

# the build once, so that every later step only runs tests
"$REPO/mvnw" -q -B -f "$REPO/pom.xml" -pl vmi-bridge -am test-compile >/dev/null

if want corpus; then
  if $lab; then
    echo "== lab guests (names, DKOM, RAM dumps)"
    flock /tmp/periscope-heavy.lock "${MVN_TEST[@]}" -Dtest=HostileLabTest > "$out/lab.log" 2>&1 || { status=1; echo "lab part failed: $out/lab.log" >&2; }
    grep -E '^\[lxhostile' "$out/lab.log" >> "$summary" || true
  fi
  echo "== the corpus on every base"
  mvn_test -Dtest='HostileCorpusTest#everyBaseHereWithTheTable' -Dperiscope.hostile.all=true > "$out/corpus.log" 2>&1 \
    || { status=1; echo "corpus failed: $out/corpus.log" >&2; }
  cp "$REPO/vmi-bridge/target/hostile-corpus.md" "$out/corpus.md" 2>/dev/null || true
  cp "$REPO/vmi-bridge/target/hostile-corpus-runs.md" "$out/hostile-corpus-runs.md" 2>/dev/null || true
  grep -E '^hostile corpus:' "$out/corpus.log" >> "$summary" || true
fi

if want properties; then
  echo "== jqwik properties, $tries tries each"
  mvn_test -Dtest=ParserPropertyTest -Djqwik.tries.default="$tries" > "$out/properties.log" 2>&1 \
    || { status=1; echo "properties failed: $out/properties.log" >&2; }
  grep -E 'Tests run:.*ParserPropertyTest' "$out/properties.log" | tail -1 | sed "s/^/properties ($tries tries each): /" \
    >> "$summary" || true
fi

if want fuzz; then
  for target in btf kallsyms taskWalk pageWalk; do
    echo "== Jazzer: $target for $fuzz_seconds s"
    JAZZER_FUZZ=1 mvn_test -Dtest="ParserFuzzTest#$target" -Djazzer.max_duration="${fuzz_seconds}s" \
      > "$out/fuzz-$target.log" 2>&1 || { status=1; echo "fuzzing $target found something: $out/fuzz-$target.log" >&2; }
    { printf 'fuzz %s: ' "$target"; grep -E '^Done [0-9]+ runs' "$out/fuzz-$target.log" | tail -1 || echo "no summary";
      grep -E '#[0-9]+.*DONE +cov:' "$out/fuzz-$target.log" | tail -1 || true; } >> "$summary"
  done
fi

cat "$summary"
echo "results: $out"
exit $status
