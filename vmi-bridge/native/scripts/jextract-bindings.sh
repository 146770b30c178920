#!/usr/bin/env bash
# Regenerate the committed Java bindings of one of Periscope's C APIs with an installed jextract ($JEXTRACT,
# else `jextract` on PATH; DEVELOPERS.md says how to build one against Debian's libclang 14):
#   jextract-bindings.sh ring   include/periscope_ring.h -> dev.periscope.vmi.nativeapi.ring
#                               (rerun after every change to the header; bump PERISCOPE_RING_ABI_VERSION when
#                               the layout changes; only dev.periscope.vmi.ring may import the package)
#   jextract-bindings.sh xen    xen/periscope_xen.h -> dev.periscope.vmi.nativeapi.xen
#                               (the bindings name no library: the Xen driver System.loads libperiscope-xen.so,
#                               or the test double named by -Dperiscope.xen.library, before the first call;
#                               only dev.periscope.vmi.driver.xen may import the package)
#   jextract-bindings.sh mman   mman/periscope_mman.h (libc's madvise) -> dev.periscope.vmi.nativeapi.mman
#                               (only dev.periscope.vmi.memory may import the package)
#   jextract-bindings.sh libvirt libvirt/periscope_libvirt.h (libvirt's API from libvirt-dev's headers, plus free,
#                               creat and close) -> dev.periscope.vmi.nativeapi.libvirt
#                               (the bindings load libvirt.so.0 and libvirt-qemu.so.0 by name; the libvirt driver
#                               checks they exist before the first call; only dev.periscope.vmi.driver.libvirt may
#                               import the package)
# The ArchUnit test in vmi-bridge checks who imports the generated packages.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
native="$(cd "$here/.." && pwd)"
module="$(cd "$native/.." && pwd)"
out_root="$module/src/main/java"

symbols=()
libraries=()
case "${1:-}" in
  ring)
    pkg=dev.periscope.vmi.nativeapi.ring header_dir="$native/include" header=periscope_ring.h class=PeriscopeRingAbi
    for s in periscope_ring_header periscope_control periscope_lane periscope_record periscope_breakpoint; do
        symbols+=(--include-struct "$s")
    done
    for c in RING_MAGIC RING_ABI_VERSION RING_MAX_LANES RING_MAX_DTBS RING_MAX_BREAKPOINTS RING_DATA_BYTES \
             RING_RECORDS_ALIGN RING_DEFAULT_SYNC_TIMEOUT_US DTB_MASK \
             KIND_CR3_WRITE KIND_SYSCALL KIND_BREAKPOINT KIND_DROP_MARKER KIND_SYSCALL_EXIT \
             RECORD_SYNC RECORD_DATA_VALID RECORD_FILTER_HIT RECORD_DATA_ARG_SHIFT RECORD_DATA_ARG_MASK \
             MODE_CR3 MODE_CR3_FILTER MODE_CR3_SYNC MODE_SYSCALL MODE_SYSCALL_FILTER MODE_SYSCALL_SYNC \
             MODE_BREAKPOINT MODE_BREAKPOINT_SYNC MODE_PREREAD MODE_SYSCALL_EXIT \
             BP_SYSCALL_ENTRY BP_PLAIN BP_SYSCALL_EXIT FEATURE_SYSCALL_EXIT THREAD_KEY_MASK \
             PRODUCER_NONE PRODUCER_ATTACHED PRODUCER_DETACHED; do
        symbols+=(--include-constant "PERISCOPE_$c")
    done ;;
  xen)
    pkg=dev.periscope.vmi.nativeapi.xen header_dir="$native/xen" header=periscope_xen.h class=PeriscopeXen
    for s in periscope_xen_domain_info periscope_xen_vcpu_regs periscope_xen_monitor_stats periscope_xen_snapshot_info; do
        symbols+=(--include-struct "$s")
    done
    for f in last_errno last_error open close list attach detach info features map mapping_address \
             mapping_page_status unmap gfn_of_frame vcpu_registers pause resume monitor_start monitor_stats_get monitor_stop \
             snapshot_begin snapshot_read snapshot_info_get snapshot_end; do
        symbols+=(--include-function "periscope_xen_$f")
    done
    for c in API_VERSION OK E_UNAVAILABLE E_NO_DOMAIN E_NOT_PRESENT E_DENIED E_BUSY E_UNSUPPORTED E_INVALID E_FAILED \
             DOMAIN_HVM DOMAIN_PAUSED DOMAIN_DYING FEATURE_MONITOR FEATURE_CR3_FILTER FEATURE_BREAKPOINTS \
             FEATURE_SNAPSHOT MONITOR_RUNNING MONITOR_STOPPED MONITOR_FAILED; do
        symbols+=(--include-constant "PERISCOPE_XEN_$c")
    done ;;
  libvirt)
    pkg=dev.periscope.vmi.nativeapi.libvirt header_dir="$native/libvirt" header=periscope_libvirt.h class=Libvirt
    libraries=(--library :libvirt.so.0 --library :libvirt-qemu.so.0)
    for s in _virDomainInfo _virError; do
        symbols+=(--include-struct "$s")
    done
    for t in virErrorFunc; do
        symbols+=(--include-typedef "$t")
    done
    for f in virConnectOpen virConnectClose virConnectIsAlive virConnectListAllDomains \
             virDomainLookupByName virDomainFree virDomainGetName virDomainGetUUIDString virDomainGetInfo \
             virDomainIsActive virDomainGetMetadata virDomainSuspend virDomainResume \
             virDomainQemuMonitorCommand virDomainQemuMonitorCommandWithFiles \
             virGetLastError virResetLastError virSetErrorFunc free creat close; do
        symbols+=(--include-function "$f")
    done
    for c in VIR_DOMAIN_NOSTATE VIR_DOMAIN_RUNNING VIR_DOMAIN_BLOCKED VIR_DOMAIN_PAUSED VIR_DOMAIN_SHUTDOWN \
             VIR_DOMAIN_SHUTOFF VIR_DOMAIN_CRASHED VIR_DOMAIN_PMSUSPENDED \
             VIR_DOMAIN_METADATA_ELEMENT VIR_DOMAIN_AFFECT_CURRENT VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP \
             VIR_UUID_STRING_BUFLEN \
             VIR_ERR_OK VIR_ERR_INTERNAL_ERROR VIR_ERR_NO_SUPPORT VIR_ERR_NO_CONNECT VIR_ERR_SYSTEM_ERROR \
             VIR_ERR_OPERATION_FAILED VIR_ERR_NO_DOMAIN VIR_ERR_OPERATION_DENIED VIR_ERR_OPERATION_INVALID \
             VIR_ERR_RPC VIR_ERR_AUTH_FAILED VIR_ERR_AUTH_CANCELLED VIR_ERR_AUTH_UNAVAILABLE \
             VIR_ERR_NO_DOMAIN_METADATA VIR_ERR_OPERATION_TIMEOUT VIR_ERR_OPERATION_UNSUPPORTED \
             VIR_ERR_ARGUMENT_UNSUPPORTED; do
        symbols+=(--include-constant "$c")
    done ;;
  mman)
    pkg=dev.periscope.vmi.nativeapi.mman header_dir="$native/mman" header=periscope_mman.h class=Mman
    symbols+=(--include-function madvise)
    for c in MADV_NORMAL MADV_RANDOM MADV_WILLNEED; do
        symbols+=(--include-constant "$c")
    done ;;
  *)
    echo "usage: jextract-bindings.sh ring|xen|mman|libvirt" >&2
    exit 2 ;;
esac
pkg_dir="$out_root/${pkg//.//}"

jextract="${JEXTRACT:-$(command -v jextract || true)}"
if [[ -z "$jextract" || ! -x "$jextract" ]]; then
    echo "jextract-bindings: no jextract found: set JEXTRACT=/path/to/jextract or put jextract on PATH" >&2
    echo "  (see DEVELOPERS.md: how to build jextract against Debian's libclang 14)" >&2
    exit 1
fi

rm -rf "$pkg_dir"
# jextract sees the header only through -I, so the generated files carry no machine-specific paths.
(cd "$header_dir" && "$jextract" \
    --output "$out_root" \
    --target-package "$pkg" \
    --header-class-name "$class" \
    "${libraries[@]}" \
    "${symbols[@]}" \
    "$header")
echo "jextract-bindings: generated $(ls "$pkg_dir" | wc -l) files in $pkg_dir" >&2
