#!/usr/bin/env bash
# Regenerate the Java bindings of the event ring ABI (include/periscope_ring.h) into
#   vmi-bridge/src/main/java/dev/periscope/vmi/nativeapi/ring/   (package dev.periscope.vmi.nativeapi.ring)
# with an installed jextract: $JEXTRACT, else `jextract` on PATH. The output is committed; rerun after
# every change to periscope_ring.h (and bump PERISCOPE_RING_ABI_VERSION when the layout changes).
# Only dev.periscope.vmi.ring may import the generated package (checked by an ArchUnit test).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
native="$(cd "$here/.." && pwd)"
module="$(cd "$native/.." && pwd)"
out_root="$module/src/main/java"
pkg=dev.periscope.vmi.nativeapi.ring
pkg_dir="$out_root/${pkg//.//}"

jextract="${JEXTRACT:-$(command -v jextract || true)}"
if [[ -z "$jextract" || ! -x "$jextract" ]]; then
    echo "jextract-bindings: no jextract found: set JEXTRACT=/path/to/jextract or put jextract on PATH" >&2
    echo "  (see DEVELOPERS.md: how to build jextract against Debian's libclang 14)" >&2
    exit 1
fi

symbols=(
    --include-struct periscope_ring_header
    --include-struct periscope_control
    --include-struct periscope_lane
    --include-struct periscope_record
    --include-struct periscope_breakpoint
)
for c in RING_MAGIC RING_ABI_VERSION RING_MAX_LANES RING_MAX_DTBS RING_MAX_BREAKPOINTS RING_DATA_BYTES \
         RING_RECORDS_ALIGN RING_DEFAULT_SYNC_TIMEOUT_US DTB_MASK \
         KIND_CR3_WRITE KIND_SYSCALL KIND_BREAKPOINT KIND_DROP_MARKER \
         RECORD_SYNC RECORD_DATA_VALID RECORD_FILTER_HIT \
         MODE_CR3 MODE_CR3_FILTER MODE_CR3_SYNC MODE_SYSCALL MODE_SYSCALL_FILTER MODE_SYSCALL_SYNC \
         MODE_BREAKPOINT MODE_BREAKPOINT_SYNC MODE_PREREAD \
         BP_SYSCALL_ENTRY BP_PLAIN PRODUCER_NONE PRODUCER_ATTACHED PRODUCER_DETACHED; do
    symbols+=(--include-constant "PERISCOPE_$c")
done

rm -rf "$pkg_dir"
# jextract sees the header only through -I, so the generated files carry no machine-specific paths.
(cd "$native/include" && "$jextract" \
    --output "$out_root" \
    --target-package "$pkg" \
    --header-class-name PeriscopeRingAbi \
    "${symbols[@]}" \
    periscope_ring.h)
echo "jextract-bindings: generated $(ls "$pkg_dir" | wc -l) files in $pkg_dir" >&2
