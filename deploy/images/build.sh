#!/usr/bin/env bash
# The one image builder: every container image of Periscope, from a LOCAL Debian base where no registry is
# reachable (periscope/debian-base:bookworm, made by debootstrap) or from a public base (PERISCOPE_IMAGE_BASE).
#
# usage: deploy/images/build.sh [--list] [IMAGE...]        (no IMAGE: all, in the order below)
#   debian-base    Debian bookworm minbase, debootstrapped and imported (skipped when PERISCOPE_IMAGE_BASE is set)
#   postgres       Debian's PostgreSQL 15 (for compose, and the backend's PostgreSQL test)
#   jre            a Java 25 runtime: jlink of the build machine's JDK 25 (JAVA_HOME), only the modules Periscope uses
#   control-plane  the server (backend/target/periscope-server.jar), non-root
#   agent          the agent (agent/target/periscope-agent.jar) with the Xen shim built against Debian's libxen
#   lab-host       the agent + QEMU 10 + the lab's scripts, kernel and initramfs: boots lab VMs, then serves them
#   proxy          HAProxy in front of the control-plane replicas (compose)
#   init           the compose stack's one-shot secrets: mTLS certificates (agent/certs.sh) and passwords
#
# Images are tagged periscope/NAME:VERSION (the project's version; postgres: periscope/postgres:15, the base:
# periscope/debian-base:bookworm) and labelled with a hash of everything that goes into them (their directory here,
# the files staged into their context, their parent image's id, the JDK's release for jre). An image whose label
# matches is not rebuilt; one whose inputs changed is, and so is everything built on it. Staged files get a fixed
# modification time, so a rebuild from the same inputs copies identical layers.
#
# Environment: PERISCOPE_IMAGE_BASE (a public Debian bookworm base, e.g. debian:bookworm-slim, where a registry is
# reachable), DEBIAN_MIRROR (debootstrap's and the builds' Debian mirror), JAVA_HOME (a JDK 25, for jre),
# PERISCOPE_VAR (build contexts and logs under $PERISCOPE_VAR/build/images).
# Needs a running docker daemon, and root for debootstrap. Without a daemon it says so and exits 0 (the container
# tests then skip). Builds use the host network: a dockerd started with --iptables=false gives containers no NAT.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
var=${PERISCOPE_VAR:-$repo/var}
work=$var/build/images
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
version=$(sed -n '/<artifactId>periscope-parent<\/artifactId>/{n;s/.*<version>\(.*\)<\/version>.*/\1/p;}' "$repo/pom.xml")
LOCAL_BASE=periscope/debian-base:bookworm
base=${PERISCOPE_IMAGE_BASE:-$LOCAL_BASE}
ALL=(debian-base postgres jre control-plane agent lab-host proxy init)
# The Java modules of the server and the agent (jdeps over their jars), plus DNS lookups for agent discovery and
# jcmd for operators.
JRE_MODULES=java.base,java.compiler,java.desktop,java.instrument,java.management,java.naming,java.net.http,java.prefs,java.scripting,java.security.jgss,java.sql,java.sql.rowset,jdk.httpserver,jdk.jcmd,jdk.jfr,jdk.management,jdk.naming.dns,jdk.net,jdk.unsupported,jdk.zipfs

die() { echo "images: $*" >&2; exit 1; }
note() { echo "images: $*" >&2; }

tag_of() {
    case $1 in
        debian-base) echo "$LOCAL_BASE" ;;
        postgres) echo periscope/postgres:15 ;;
        *) echo "periscope/$1:$version" ;;
    esac
}

# parent_of IMAGE: the image IMAGE's Dockerfile builds on (its inputs include that image's id)
parent_of() {
    case $1 in
        postgres|jre|proxy|init) echo "$base" ;;
        control-plane|agent) tag_of jre ;;
        lab-host) tag_of agent ;;
    esac
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null; }
image_inputs() { docker image inspect -f '{{index .Config.Labels "dev.periscope.inputs"}}' "$1" 2>/dev/null; }

need_file() { [[ -s $1 ]] || die "$1 is missing: $2"; }

# ---------------------------------------------------------------- what goes into each image
# inputs_IMAGE prints the paths (files or directories, relative to the repository) staged into IMAGE's context,
# besides its own directory here; stage_IMAGE CONTEXT copies them in.

inputs_control-plane() {
    need_file "$repo/backend/target/periscope-server.jar" "run ./periscope build"
    echo backend/target/periscope-server.jar deploy/images/http-ok
}
stage_control-plane() { cp "$repo/backend/target/periscope-server.jar" "$repo/deploy/images/http-ok" "$1/"; }

inputs_agent() {
    need_file "$repo/agent/target/periscope-agent.jar" "run ./periscope build"
    echo agent/target/periscope-agent.jar deploy/images/http-ok vmi-bridge/native/xen vmi-bridge/native/include \
        xen-extensions/include
}
stage_agent() {
    cp "$repo/agent/target/periscope-agent.jar" "$repo/deploy/images/http-ok" "$1/"
    # a repository-shaped tree, as `make -C vmi-bridge/native/xen` expects it
    mkdir -p "$1/src/vmi-bridge/native" "$1/src/xen-extensions"
    cp -r "$repo/vmi-bridge/native/xen" "$repo/vmi-bridge/native/include" "$1/src/vmi-bridge/native/"
    cp -r "$repo/xen-extensions/include" "$1/src/xen-extensions/"
    rm -rf "$1/src/vmi-bridge/native/xen/build"
}

# The lab host boots the kernel the host's lab boots (downloaded once into var/cache by the lab's own script).
lab_kernel() { PERISCOPE_VAR=$var bash "$repo/lab/lab.sh" kernel-path; }
inputs_lab-host() {
    local native=$repo/vmi-bridge/target/native
    need_file "$native/libperiscope_qemu.so" "the QEMU plugin is built by ./periscope build"
    need_file "$native/periscope-ring-init" "run ./periscope build"
    local kernel; kernel=$(lab_kernel) || die "the lab's kernel could not be fetched (lab/lab.sh kernel-path)"
    echo vmi-bridge/target/native/libperiscope_qemu.so vmi-bridge/target/native/periscope-ring-init \
        lab/lab.sh lab/lib lab/guest lab/workloads "${kernel#"$repo"/}"
}
stage_lab-host() {
    local kernel kdir; kernel=$(lab_kernel); kdir=$(dirname "$kernel")
    mkdir -p "$1/native" "$1/lab" "$1/cache/kernels/$(basename "$kdir")"
    cp "$repo/vmi-bridge/target/native/libperiscope_qemu.so" "$repo/vmi-bridge/target/native/periscope-ring-init" "$1/native/"
    cp -r "$repo/lab/lab.sh" "$repo/lab/lib" "$repo/lab/guest" "$repo/lab/workloads" "$1/lab/"
    cp "$kdir"/* "$1/cache/kernels/$(basename "$kdir")/"
    basename "$kdir" > "$1/cache/kernels/default-package"
}

inputs_init() { echo agent/certs.sh; }
stage_init() { cp "$repo/agent/certs.sh" "$1/"; }

inputs_proxy() { echo deploy/images/http-ok; }
stage_proxy() { cp "$repo/deploy/images/http-ok" "$1/"; }

jdk() {
    local j=${JAVA_HOME:-}
    [[ -n $j && -x $j/bin/jlink ]] || die "JAVA_HOME must name a JDK 25 (with jlink) to build the Java runtime image"
    grep -q '^JAVA_VERSION="25' "$j/release" || die "JAVA_HOME ($j) is not a JDK 25"
    echo "$j"
}
JLINK_OPTIONS=(--strip-debug --no-man-pages --no-header-files --compress=zip-6 --generate-cds-archive)
key_jre() { cat "$(jdk)/release"; echo "$JRE_MODULES ${JLINK_OPTIONS[*]}"; }
stage_jre() {
    "$(jdk)/bin/jlink" --add-modules "$JRE_MODULES" "${JLINK_OPTIONS[@]}" --output "$1/jre" >&2
    # the class-data archive for heaps over 32 GiB: neither the server nor the agent runs with one
    rm -f "$1/jre/lib/server/classes_nocoops.jsa"
}

# ---------------------------------------------------------------- building
# The hash of everything an image is made of.
inputs_hash() {
    local name=$1 parent files
    parent=$(parent_of "$name")
    files=$(! declare -F "inputs_$name" >/dev/null || "inputs_$name")
    {
        echo "image $name $(tag_of "$name")"
        [[ -n $parent ]] && echo "parent $(image_id "$parent")"
        declare -F "key_$name" >/dev/null && "key_$name"
        cd "$repo" && find "deploy/images/$name" $files -type f | LC_ALL=C sort | xargs sha256sum
    } | sha256sum | cut -c1-32
}

build_base() {
    local tag=$LOCAL_BASE
    if [[ -n $(image_id "$tag") ]]; then return 0; fi
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install -y debootstrap)"
    local rootfs; rootfs=$(mktemp -d /tmp/periscope-rootfs.XXXXXX)
    note "debootstrap bookworm into $rootfs"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$work/debian-base.log" 2>&1; then
        tail -n 20 "$work/debian-base.log" >&2; rm -rf "$rootfs"; die "debootstrap failed (log: $work/debian-base.log)"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
    rm -rf "$rootfs"
    note "$tag imported"
}

build_image() {
    local name=$1 tag parent hash ctx started=$SECONDS
    tag=$(tag_of "$name")
    parent=$(parent_of "$name")
    hash=$(inputs_hash "$name")
    if [[ $(image_inputs "$tag") == "$hash" ]]; then
        note "$tag is up to date"
        return 0
    fi
    ctx=$work/$name
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp -r "$here/$name/." "$ctx/"
    declare -F "stage_$name" >/dev/null && "stage_$name" "$ctx"
    find "$ctx" -exec touch -h -d @0 {} +
    local args=(--network host --label "dev.periscope.inputs=$hash"
        --label "org.opencontainers.image.title=periscope-$name" --label "org.opencontainers.image.version=$version"
        --build-arg "BASE=$base" --build-arg "RUNTIME=$(tag_of jre)" --build-arg "AGENT=$(tag_of agent)"
        --build-arg "DEBIAN_MIRROR=$mirror")
    note "building $tag"
    if ! docker build "${args[@]}" -t "$tag" "$ctx" > "$work/$name.log" 2>&1; then
        tail -n 30 "$work/$name.log" >&2
        die "building $tag failed (log: $work/$name.log)"
    fi
    rm -rf "$ctx"
    note "$tag built in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

main() {
    if [[ ${1:-} == --list ]]; then
        local n; for n in "${ALL[@]}"; do echo "$(tag_of "$n")"; done
        return 0
    fi
    local images=("$@") n
    ((${#images[@]})) || images=("${ALL[@]}")
    for n in "${images[@]}"; do
        [[ " ${ALL[*]} " == *" $n "* ]] || die "unknown image '$n' (images: ${ALL[*]})"
    done
    # with the images they are built on
    local i=0 p
    while ((i < ${#images[@]})); do
        p=$(parent_of "${images[i]}"); p=${p#periscope/}; p=${p%%:*}
        [[ $p == debian-base ]] || [[ " ${ALL[*]} " == *" $p "* ]] || p=""
        [[ -n $p && " ${images[*]} " != *" $p "* ]] && images+=("$p")
        i=$((i + 1))
    done
    if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
        note "no docker daemon: no images built (container tests will be skipped)"
        return 0
    fi
    mkdir -p "$work"
    [[ -n $version ]] || die "cannot read the project's version from $repo/pom.xml"
    for n in "${ALL[@]}"; do
        [[ " ${images[*]} " == *" $n "* ]] || continue
        if [[ $n == debian-base ]]; then
            [[ $base == "$LOCAL_BASE" ]] && build_base
        else
            build_image "$n"
        fi
    done
}
main "$@"
