# Sourced by the benchmarks' scripts for what they share.
# Provides: bench_jdk SCRIPT: exports JAVA_HOME as a JDK 25 (JAVA_HOME's own when it is one, else the first under
#   /usr/lib/jvm), or exits naming SCRIPT when there is none.
bench_jdk() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]] && "$JAVA_HOME/bin/java" -version 2>&1 | grep -q '"25'; then
    export JAVA_HOME
    return 0
  fi
  local d
  for d in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25*; do
    if [[ -x $d/bin/java ]]; then
      export JAVA_HOME=$d
      return 0
    fi
  done
  echo "$1: no JDK 25 found (set JAVA_HOME)" >&2
  exit 1
}
