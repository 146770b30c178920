#!/usr/bin/env bash
# LibVMI as bench/image.sh's baseline: its file driver and Linux support, built from a source tree, and the
# profile a person gives it.
#
# usage: bench/libvmi.sh build SRC_DIR OUT_DIR
#          builds LibVMI (file driver and Linux only) from SRC_DIR (a checkout of github.com/libvmi/libvmi) into
#          OUT_DIR/build, installed in OUT_DIR/prefix: the PREFIX to give `./periscope bench image --libvmi`
#        bench/libvmi.sh conf IMAGE RELEASE with|without DIR
#          DIR/libvmi.conf for a raw image (named as its file) and a link to the image: the kernel's System.map
#          from Debian's linux-image-RELEASE-dbg (kept in var/cache/libvmi), the struct offsets LibVMI asks for, and
#          with "with" the page table root and KASLR offset (dev.periscope.bench.LibvmiProfile)
#        bench/libvmi.sh run PREFIX DIR
#          LibVMI's vmi-process-list on DIR's image (it reads ./libvmi.conf only, and names the entry after the file)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="${PERISCOPE_VAR:-$REPO/var}"

case ${1:-} in
  build)
    src=$(cd "${2:?build needs SRC_DIR}" && pwd); out=$(mkdir -p "${3:?build needs OUT_DIR}" && cd "$3" && pwd)
    [[ -f $src/CMakeLists.txt ]] || { echo "bench/libvmi.sh: no CMakeLists.txt in $src" >&2; exit 2; }
    # flex and bison: without them LibVMI's build drops libvmi.conf support with only a warning; json-c: its
    # Linux examples include json-c/json.h.
    bash "$REPO/lab/setup.sh" build-essential cmake pkg-config libglib2.0-dev zlib1g-dev flex bison libjson-c-dev
    cmake -S "$src" -B "$out/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$out/prefix" \
      -DENABLE_FILE=ON -DENABLE_LINUX=ON -DENABLE_XEN=OFF -DENABLE_XENSTORE=OFF -DENABLE_KVM=OFF \
      -DENABLE_KVM_LEGACY=OFF -DENABLE_BAREFLANK=OFF -DENABLE_WINDOWS=OFF -DENABLE_FREEBSD=OFF -DENABLE_OSX=OFF \
      -DENABLE_VMIFS=OFF -DENABLE_CONFIGFILE=ON -DENABLE_JSON_PROFILES=ON -DREKALL_PROFILES=ON -DVOLATILITY_IST=ON \
      -DENABLE_TESTING=OFF -DBUILD_EXAMPLES=ON -DVMI_DEBUG=OFF >/dev/null
    cmake --build "$out/build" -j"$(nproc)" >/dev/null
    cmake --install "$out/build" >/dev/null
    echo "$out/prefix"
    ;;
  conf)
    image=$(realpath "${2:?conf needs IMAGE}"); release=${3:?conf needs RELEASE}; given=${4:?conf needs with|without}
    dir=${5:?conf needs DIR}
    map="$VAR/cache/libvmi/System.map-${release//+/_}" # the conf allows no + in a path
    if [[ ! -s $map ]]; then
      # Debian's kernel package holds a placeholder System.map; the real one is in the -dbg package (about 1 GB,
      # of which only this member is unpacked).
      mkdir -p "$VAR/cache/libvmi"
      tmp=$(mktemp -d "$VAR/cache/libvmi/dbg.XXXXXX")
      (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "linux-image-$release-dbg" >/dev/null)
      dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -xO --occurrence=1 "./usr/lib/debug/boot/System.map-$release" \
        > "$map.part" || true
      rm -rf "$tmp"
      [[ -s $map.part ]] || { echo "bench/libvmi.sh: no System.map in linux-image-$release-dbg" >&2; exit 1; }
      mv "$map.part" "$map"
    fi
    mkdir -p "$dir"
    ln -sfn "$image" "$dir/$(basename "$image")"
    source "$REPO/bench/lib.sh"
    bench_jdk bench/libvmi.sh
    "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$REPO/bench/target/benchmarks.jar" dev.periscope.bench.LibvmiProfile \
      "$image" "$map" "$given" > "$dir/libvmi.conf"
    ;;
  run)
    prefix=$(cd "${2:?run needs PREFIX}" && pwd); dir=$(cd "${3:?run needs DIR}" && pwd)
    image=$(sed -nE '1s/^([^ {]+) *\{.*/\1/p' "$dir/libvmi.conf")
    cd "$dir"
    LD_LIBRARY_PATH="$prefix/lib" exec "$prefix/bin/vmi-process-list" -n "$dir/$image"
    ;;
  *)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
    ;;
esac
