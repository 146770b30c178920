#!/usr/bin/env bash
# Cold process lists from memory image files, one process per list, as an operator runs them:
#  1. four 512 MiB raw RAM images of lab guests (Debian's 6.1 and 6.12 kernels, KASLR on and off), made once into
#     $PERISCOPE_VAR/cache/image-bench (the guest paused, its RAM file copied, vCPU 0's CR3 kept beside it);
#  2. `./periscope ps --image` on each: --runs runs of a never-seen kernel (an empty profile store each time) and of
#     a seen one (the store holds the build), both started from the command's AOT cache, and seen runs without it;
#  3. with --libvmi PREFIX (LibVMI built with its file driver, e.g. by bench/libvmi.sh): LibVMI's process-list
#     example (vmi-process-list) on the same images, given the profile a person makes by hand: the kernel's
#     System.map (from Debian's -dbg package), five struct offsets, and either the guest's page table root and KASLR
#     offset read from the paused VM or neither (LibVMI then searches all of memory for them).
# Each run: wall time and peak RSS (GNU time), peak anonymous and file-backed RSS (sampled every 2 ms from
# /proc/PID/status), the processes listed; in the runs that start with the page cache dropped (root only), how much
# of the image the run brought into the page cache (fincore): what it read of the image, read-ahead included.
# File-backed RSS counts whole page-cache folios (up to 2 MiB each on a file system with large folios), so a probe
# of a few bytes can count megabytes. The table holds medians; every run is in runs.tsv.
#
# usage: ./periscope bench image [--runs N] [--libvmi PREFIX]
#    or: bench/image.sh [the same options]
# Results: $PERISCOPE_VAR/bench/image/<timestamp>/ (image.md, runs.tsv), also $PERISCOPE_VAR/bench/image/latest.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$(mkdir -p "${PERISCOPE_VAR:-$REPO/var}" && cd "${PERISCOPE_VAR:-$REPO/var}" && pwd)"
export PERISCOPE_VAR="$VAR"
runs=10 libvmi=""
while (($#)); do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --libvmi) libvmi=$(cd "${2:?--libvmi needs the prefix LibVMI is installed in}" && pwd); shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
source "$REPO/bench/lib.sh"
bench_jdk bench/image.sh
bash "$REPO/lab/setup.sh" time >/dev/null

KERNELS=(linux-image-6.1.0-57-amd64-unsigned linux-image-6.12.95+deb12-amd64-unsigned)
IMAGES="$VAR/cache/image-bench"
out="$VAR/bench/image/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$IMAGES" "$out"
ln -sfn "$out" "$VAR/bench/image/latest"

# The images: a lab guest per kernel and KASLR setting, paused while its RAM file is copied.
qmp() { # qmp SOCKET COMMAND-JSON...: the replies
  { echo '{"execute":"qmp_capabilities"}'; printf '%s\n' "${@:2}"; sleep 0.5; } | socat - "UNIX-CONNECT:$1"
}
make_image() { # make_image PACKAGE KASLR(on|off) FILE
  local name="imgb-$$" socket
  local flags=(--kernel-package "$1"); [[ $2 == off ]] && flags+=(--nokaslr)
  trap "bash '$REPO/lab/lab.sh' stop '$name' >/dev/null 2>&1" EXIT # also when a step fails (bash -e)
  bash "$REPO/lab/lab.sh" start "$name" "${flags[@]}" >/dev/null
  sleep 20 # let boot-time work settle, as on a guest an operator dumps
  socket="$VAR/lab/$name/qmp.sock"
  qmp "$socket" '{"execute":"stop"}' >/dev/null
  qmp "$socket" '{"execute":"human-monitor-command","arguments":{"command-line":"info registers"}}' \
    | grep -o 'CR3=[0-9a-f]*' | head -1 | cut -d= -f2 | sed 's/^0*//' > "$3.cr3"
  cp "$(grep -o '"ramPath": *"[^"]*"' "$VAR/lab/$name/meta.json" | cut -d'"' -f4)" "$3.part"
  mv "$3.part" "$3"
}
images=()
for pkg in "${KERNELS[@]}"; do
  release=${pkg#linux-image-}; release=${release%-unsigned}
  for kaslr in on off; do
    f="$IMAGES/${release//+/_}-kaslr-$kaslr.ram" # LibVMI names a file's entry after it, and allows no +
    if [[ ! -s $f ]]; then
      echo "== making $f"
      flock /tmp/periscope-heavy.lock bash -ec "$(declare -f qmp make_image); REPO='$REPO' VAR='$VAR' make_image '$pkg' $kaslr '$f'"
    fi
    images+=("$f")
  done
done

# The commands measured.
"$REPO/periscope" build >/dev/null
target="$REPO/vmi-bridge/target"
cp_engine="$(ls "$target"/vmi-bridge-*.jar | grep -v -- '-tests.jar$'):$target/lib/*"
aot="$out/image-ps.aot"
# The AOT cache, trained on a never-seen kernel so that it holds the decoding classes too (the command's own cache,
# var/cache/aot, is trained on whatever its first run was).
PERISCOPE_PROFILE_CACHE="$out/training-profiles" "$JAVA_HOME/bin/java" -XX:AOTCacheOutput="$aot" -Xlog:aot=off \
  -Xlog:cds=off --enable-native-access=ALL-UNNAMED -cp "$cp_engine" dev.periscope.vmi.driver.image.ImageCommand \
  --image "${images[0]}" >/dev/null 2>&1
rm -rf "$out/training-profiles"
ps_image=(--enable-native-access=ALL-UNNAMED -cp "$cp_engine" dev.periscope.vmi.driver.image.ImageCommand --image)

# measure LABEL IMAGE COMMAND...: one run; appends to runs.tsv, the listed processes counted from stdout lines
# that start with a pid (Periscope's table) or a pid in brackets (LibVMI's, which lists pid 0 too).
exec {tick}<> <(:)
measure() {
  local label=$1 image=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$out/time.tmp" "$@" > "$out/stdout.tmp" 2> "$out/stderr.tmp" &
  local pid=$! anon=0 file=0 child line key value
  while kill -0 "$pid" 2>/dev/null; do
    child="" # what time runs, read without a fork so that the sampling costs the measured run little
    read -r child _ 2>/dev/null < "/proc/$pid/task/$pid/children" || true
    if [[ -n $child && -r /proc/$child/status ]]; then
      while read -r key value _; do
        case $key in
          RssAnon:) ((value > anon)) && anon=$value ;;
          RssFile:) ((value > file)) && file=$value ;;
        esac
      done < "/proc/$child/status" 2>/dev/null || true
    fi
    read -t 0.002 -u "$tick" line || true
  done
  local status=0; wait "$pid" || status=$?
  read -r seconds peak < <(tail -1 "$out/time.tmp")
  local image_read=-1
  [[ $label == *"page cache dropped"* ]] && image_read=$(($(fincore --bytes --noheadings --output RES "$image") >> 20))
  local listed; listed=$(grep -cE '^ *[0-9]+ +[0-9]+ |^\[ *[0-9]+\] ' "$out/stdout.tmp" || true)
  printf '%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n' "$label" "$(basename "$image")" "$status" \
    "$(awk -v s="$seconds" 'BEGIN{printf "%d", s*1000}')" "$((peak / 1024))" "$((anon / 1024))" "$((file / 1024))" \
    "$image_read" "$listed" >> "$out/runs.tsv"
  if ((status != 0)); then
    echo "bench/image.sh: $label on $(basename "$image") exited $status:" >&2
    tail -3 "$out/stderr.tmp" >&2
  fi
}

can_drop=0; [[ -w /proc/sys/vm/drop_caches ]] && can_drop=1
drop_page_cache() { sync; echo 1 > /proc/sys/vm/drop_caches; }

printf 'what\timage\texit\twall_ms\tpeak_rss_mib\tpeak_anon_mib\tpeak_file_mib\timage_read_mib\tprocesses\n' > "$out/runs.tsv"
for image in "${images[@]}"; do
  echo "== $(basename "$image")"
  store="$out/profiles"
  for ((i = 0; i < runs; i++)); do
    rm -rf "$store"
    measure "periscope, never-seen kernel" "$image" env PERISCOPE_PROFILE_CACHE="$store" \
      "$JAVA_HOME/bin/java" -XX:AOTCache="$aot" "${ps_image[@]}" "$image"
  done
  for ((i = 0; i < runs; i++)); do
    measure "periscope, seen kernel" "$image" env PERISCOPE_PROFILE_CACHE="$store" \
      "$JAVA_HOME/bin/java" -XX:AOTCache="$aot" "${ps_image[@]}" "$image"
    measure "periscope, seen kernel, no AOT cache" "$image" env PERISCOPE_PROFILE_CACHE="$store" \
      "$JAVA_HOME/bin/java" "${ps_image[@]}" "$image"
  done
  for ((i = 0; i < runs && can_drop; i++)); do
    drop_page_cache
    measure "periscope, seen kernel, page cache dropped" "$image" env PERISCOPE_PROFILE_CACHE="$store" \
      "$JAVA_HOME/bin/java" -XX:AOTCache="$aot" "${ps_image[@]}" "$image"
  done
  for ((i = 0; i < runs && can_drop; i++)); do
    rm -rf "$store"
    drop_page_cache
    measure "periscope, never-seen kernel, page cache dropped" "$image" env PERISCOPE_PROFILE_CACHE="$store" \
      "$JAVA_HOME/bin/java" -XX:AOTCache="$aot" "${ps_image[@]}" "$image"
  done
  rm -rf "$store"
  if [[ -n $libvmi ]]; then
    release=$(basename "$image"); release=${release%-kaslr-*}; release=${release//_/+}
    for given in with without; do
      dir="$out/libvmi-$(basename "$image" .ram)-$given"
      bash "$REPO/bench/libvmi.sh" conf "$image" "$release" "$given" "$dir"
      for ((i = 0; i < runs; i++)); do
        measure "LibVMI file driver, $given kpgd and KASLR offset" "$image" \
          bash "$REPO/bench/libvmi.sh" run "$libvmi" "$dir"
      done
      for ((i = 0; i < runs && can_drop; i++)); do
        drop_page_cache
        measure "LibVMI file driver, $given kpgd and KASLR offset, page cache dropped" "$image" \
          bash "$REPO/bench/libvmi.sh" run "$libvmi" "$dir"
      done
    done
  fi
done
rm -f "$out/time.tmp" "$out/stdout.tmp" "$out/stderr.tmp"

{
  echo "# Cold process lists from 512 MiB image files ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo
  echo "$runs runs of each, one process per list; medians (min..max wall time). Machine: $(nproc) x" \
    "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); load before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| what | image | wall time | peak RSS | peak anonymous RSS | peak file RSS | image read | processes | failed runs |"
  echo "|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' 'NR > 1 {
      key = $1 "\t" $2; if (!(key in n)) order[++keys] = key
      n[key]++; fail[key] += ($3 != 0)
      wall[key, n[key]] = $4; rss[key, n[key]] = $5; anon[key, n[key]] = $6; file[key, n[key]] = $7
      io[key, n[key]] = $8; procs[key] = $9
    }
    function median(a, key, count,   v, i, j, t) {
      for (i = 1; i <= count; i++) v[i] = a[key, i]
      for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
    }
    function extreme(a, key, count, sign,   i, m) {
      m = a[key, 1]; for (i = 2; i <= count; i++) if (sign * a[key, i] > sign * m) m = a[key, i]; return m
    }
    END {
      for (k = 1; k <= keys; k++) {
        key = order[k]; c = n[key]; split(key, part, "\t")
        read = median(io, key, c) < 0 ? "-" : median(io, key, c) " MiB"
        printf "| %s | %s | %d ms (%d..%d) | %d MiB | %d MiB | %d MiB | %s | %d | %d of %d |\n", part[1],
          part[2], median(wall, key, c), extreme(wall, key, c, -1), extreme(wall, key, c, 1), median(rss, key, c),
          median(anon, key, c), median(file, key, c), read, procs[key], fail[key], c
      }
    }' "$out/runs.tsv"
} > "$out/image.md"
cat "$out/image.md"
