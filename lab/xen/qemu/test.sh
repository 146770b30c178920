#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Show the three nested-SVM bugs of QEMU 10.0.2's TCG, and that patches/ fix them.
#
#   test.sh               run under Debian's stock QEMU and under the patched build (build.sh) and check
#                         that every bug case FAILs on the first and everything PASSes on the second
#   test.sh QEMU-BINARY   run under that binary only; exit 0 if every case PASSes
#
# The guest is svm-test/: a bare-metal L1 hypervisor (multiboot ELF, 32-bit) that runs one L2 snippet per
# case and prints one PASS/FAIL line per case on the serial port (see svm-test/l1.c for the cases).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../lib/paths.sh
source "$here/../../lib/paths.sh"
stock_qemu=/usr/bin/qemu-system-x86_64
patched_qemu="$XEN_CACHE/qemu/current/bin/qemu-system-x86_64"
out="$XEN_CACHE/svm-test"
guest="$out/l1.elf"

build_guest() {
    mkdir -p "$out"
    gcc -m32 -march=i686 -ffreestanding -fno-pic -no-pie -fno-stack-protector \
        -fno-asynchronous-unwind-tables -mgeneral-regs-only -O2 -Wall -Wextra -Werror \
        -nostdlib -static -Wl,-T,"$here/svm-test/link.ld" -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 \
        -o "$guest" "$here/svm-test/boot.S" "$here/svm-test/l1.c"
}

# Prints the guest's result lines (QEMU's own messages go to $out/qemu.log). The guest ends with
# isa-debug-exit; the timeout only catches a hang. An L1 triple fault ends QEMU (-no-reboot) with no
# DONE line.
run_guest() {
    local qemu="$1"
    timeout 60 "$qemu" -accel tcg -cpu EPYC,-monitor -nographic -no-reboot -net none -m 64 \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$guest" 2>"$out/qemu.log" \
        | tr -d '\r' | grep -E '^(PASS|FAIL|DONE|ERROR)' || true
}

build_guest

if [[ $# -eq 1 ]]; then
    output="$(run_guest "$1")"
    echo "$output"
    grep -q '^DONE 0 failed$' <<<"$output"
    exit
fi

[[ -x "$patched_qemu" ]] || { echo "no patched QEMU at $patched_qemu: run $here/build.sh first" >&2; exit 1; }
ok=true

echo "== stock: $("$stock_qemu" --version | head -1)"
stock="$(run_guest "$stock_qemu")"
echo "$stock"
# The bug cases must fail (the bugs are there) and the control cases pass (the guest itself is right).
if ! grep -q '^DONE' <<<"$stock"; then
    echo "CHECK stock: no DONE line"; ok=false
fi
if grep -Eq '^PASS bug' <<<"$stock" || ! grep -Eq '^FAIL bug1' <<<"$stock" \
    || ! grep -Eq '^FAIL bug2' <<<"$stock" || ! grep -Eq '^FAIL bug3' <<<"$stock"; then
    echo "CHECK stock: expected every bug1/bug2/bug3 case to FAIL"; ok=false
fi
if grep -Eq '^FAIL control' <<<"$stock"; then
    echo "CHECK stock: a control case failed"; ok=false
fi

echo "== patched: $("$patched_qemu" --version | head -1) ($(readlink -f "$patched_qemu"))"
patched="$(run_guest "$patched_qemu")"
echo "$patched"
if ! grep -q '^DONE 0 failed$' <<<"$patched"; then
    echo "CHECK patched: expected every case to PASS"; ok=false
fi

if $ok; then
    echo "OK: stock QEMU shows bugs 1-3, the patched build does not"
else
    echo "NOT OK"
    exit 1
fi
