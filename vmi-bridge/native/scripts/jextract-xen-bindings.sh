#!/usr/bin/env bash
# Regenerate the Java bindings of libperiscope-xen's C API (native/xen/periscope_xen.h) into
#   vmi-bridge/src/main/java/dev/periscope/vmi/nativeapi/xen/   (package dev.periscope.vmi.nativeapi.xen)
# with an installed jextract: $JEXTRACT, else `jextract` on PATH. The output is committed; rerun after every
# change to periscope_xen.h. Only dev.periscope.vmi.driver.xen may import the generated package (ArchUnit).
# The bindings name no library (SymbolLookup.loaderLookup()): the Xen driver loads libperiscope-xen.so, or
# the test double named by -Dperiscope.xen.library, with System.load before the first call (XenNative).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
native="$(cd "$here/.." && pwd)"
module="$(cd "$native/.." && pwd)"
out_root="$module/src/main/java"
pkg=dev.periscope.vmi.nativeapi.xen
pkg_dir="$out_root/${pkg//.//}"

jextract="${JEXTRACT:-$(command -v jextract || true)}"
if [[ -z "$jextract" || ! -x "$jextract" ]]; then
    echo "jextract-xen-bindings: no jextract found: set JEXTRACT=/path/to/jextract or put jextract on PATH" >&2
    echo "  (see DEVELOPERS.md: how to build jextract against Debian's libclang 14)" >&2
    exit 1
fi

symbols=(
    --include-struct periscope_xen_domain_info
    --include-struct periscope_xen_vcpu_regs
    --include-struct periscope_xen_monitor_stats
    --include-struct periscope_xen_snapshot_info
)
for f in last_errno last_error open close list attach detach info features map mapping_address \
         mapping_page_status unmap vcpu_registers pause resume monitor_start monitor_stats_get monitor_stop \
         snapshot_begin snapshot_read snapshot_info_get snapshot_end; do
    symbols+=(--include-function "periscope_xen_$f")
done
for c in API_VERSION OK E_UNAVAILABLE E_NO_DOMAIN E_NOT_PRESENT E_DENIED E_BUSY E_UNSUPPORTED E_INVALID E_FAILED \
         DOMAIN_HVM DOMAIN_PAUSED DOMAIN_DYING FEATURE_MONITOR FEATURE_CR3_FILTER FEATURE_BREAKPOINTS \
         FEATURE_SNAPSHOT MONITOR_RUNNING MONITOR_STOPPED MONITOR_FAILED; do
    symbols+=(--include-constant "PERISCOPE_XEN_$c")
done

rm -rf "$pkg_dir"
# jextract sees the header only through -I, so the generated files carry no machine-specific paths.
(cd "$native/xen" && "$jextract" \
    --output "$out_root" \
    --target-package "$pkg" \
    --header-class-name PeriscopeXen \
    "${symbols[@]}" \
    periscope_xen.h)
echo "jextract-xen-bindings: generated $(ls "$pkg_dir" | wc -l) files in $pkg_dir" >&2
