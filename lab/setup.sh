#!/usr/bin/env bash
# Installs the host packages the Periscope lab needs (Debian bookworm), plus any package names given as
# arguments (./periscope test adds what the tests need). Idempotent; silent when all is present.
# QEMU >= 10 comes from bookworm-backports; the source (deb + deb-src) is added if missing.
set -euo pipefail

# gcc with libc6-dev's static libc builds the guest's syscall probe; strace (and its libraries) goes into the
# guest next to it (lab.sh start --tools).
PKGS=(busybox-static cpio gzip socat curl xz-utils zstd util-linux coreutils gcc libc6-dev make pkg-config
      libglib2.0-dev strace "$@")
# The libvirt platform's tests run a real libvirtd (libvirt-daemon-system); libvirt-dev holds the headers the
# committed bindings are generated from (nothing at run time needs it). Without recommends: no dnsmasq, firewall
# or storage tools, which the tests' domains do not use.
LIBVIRT_PKGS=(libvirt-daemon-system libvirt-clients libvirt-dev)
QEMU_PKG=qemu-system-x86
BPO_LIST=/etc/apt/sources.list.d/periscope-bookworm-backports.list
BPO_URI=http://deb.debian.org/debian

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
missing=()
for p in "${PKGS[@]}"; do
    installed "$p" || missing+=("$p")
done
missing_libvirt=()
for p in "${LIBVIRT_PKGS[@]}"; do
    installed "$p" || missing_libvirt+=("$p")
done
qemu_ok=false
if command -v qemu-system-x86_64 >/dev/null 2>&1; then
    v=$(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
    [[ -n $v ]] && ((v >= 10)) && qemu_ok=true
fi

has_line() { # TYPE (deb|deb-src): is a bookworm-backports source of that type configured?
    local t=$1 f
    grep -qsE "^[[:space:]]*$t[[:space:]].*bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && grep -qs 'bookworm-backports' "$f" && grep -qsE "^Types:.*(^|[[:space:]])$t([[:space:]]|$)" "$f" && return 0
    done
    return 1
}
bpo_lines=""
if [[ $codename == bookworm ]]; then
    has_line deb || bpo_lines+="deb $BPO_URI bookworm-backports main"$'\n'
    has_line deb-src || bpo_lines+="deb-src $BPO_URI bookworm-backports main"$'\n'
fi
need_bpo=false; [[ -n $bpo_lines ]] && need_bpo=true

if ((${#missing[@]} == 0 && ${#missing_libvirt[@]} == 0)) && $qemu_ok && ! $need_bpo; then
    exit 0
fi

if [[ $codename == bookworm ]]; then
    qemu_cmd="apt-get install -y -t bookworm-backports $QEMU_PKG"
else
    qemu_cmd="apt-get install -y $QEMU_PKG"
fi

if (( EUID != 0 )); then
    echo "lab/setup.sh: root is needed to install host packages. Run as root:" >&2
    $need_bpo && printf "  printf '%s' >> %s\n" "${bpo_lines//$'\n'/\\n}" "$BPO_LIST" >&2
    line="apt-get update"
    ((${#missing[@]})) && line+=" && apt-get install -y ${missing[*]}"
    ((${#missing_libvirt[@]})) && line+=" && apt-get install -y --no-install-recommends ${missing_libvirt[*]}"
    $qemu_ok || line+=" && $qemu_cmd"
    echo "  $line" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if $need_bpo; then
    echo "lab/setup.sh: adding bookworm-backports source ($BPO_LIST)"
    printf '%s' "$bpo_lines" >> "$BPO_LIST"
fi
echo "lab/setup.sh: apt-get update"
apt-get update -qq
if ((${#missing[@]})); then
    echo "lab/setup.sh: installing ${missing[*]}"
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! $qemu_ok; then
    echo "lab/setup.sh: $qemu_cmd"
    $qemu_cmd -qq >/dev/null
fi
# After QEMU: libvirt's QEMU driver is satisfied by the QEMU 10 installed above, not pulled in again.
if ((${#missing_libvirt[@]})); then
    echo "lab/setup.sh: installing ${missing_libvirt[*]}"
    apt-get install -y -qq --no-install-recommends "${missing_libvirt[@]}" >/dev/null
fi
qemu-system-x86_64 --version | head -1
