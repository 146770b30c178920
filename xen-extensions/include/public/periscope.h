/* SPDX-License-Identifier: MIT */
/*
 * periscope.h
 *
 * Periscope VMI extensions to XEN_DOMCTL_monitor_op: the sub-op numbers and
 * their payloads.  The same file is used by the hypervisor and, verbatim, by
 * the monitor's library (libperiscope-xen), which issues the domctl itself.
 *
 * Included by domctl.h (tools and hypervisor only).  The payload structs are
 * members of xen_domctl_monitor_op.u.
 */

#ifndef __XEN_PUBLIC_PERISCOPE_H__
#define __XEN_PUBLIC_PERISCOPE_H__

#if defined(__XEN__) || defined(__XEN_TOOLS__)

/*
 * Sub-ops of XEN_DOMCTL_monitor_op (xen_domctl_monitor_op.op), numbered well
 * above upstream's so that upstream additions cannot collide with them.
 */
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_CR3_FILTER_SET  0x50
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_CR3_FILTER_GET  0x51
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_BP_SET          0x52
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_BP_CLEAR        0x53
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_BEGIN  0x54
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_QUERY  0x55
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_END    0x56
#define XEN_DOMCTL_MONITOR_OP_PERISCOPE_BP_SWITCH       0x57

/*
 * CR3 pre-filter.  While a filter is set, a CR3 write event is only sent if
 * it switches address spaces to or from one of the filter's values: the old
 * and the new CR3 value, masked with XEN_PERISCOPE_DTB_MASK (PCID, the KPTI
 * user/kernel page-table pair bit 12 and the no-flush bit 63), differ and one
 * of them is in the set.  A write that keeps the address space (KPTI's flip
 * on every kernel entry and exit, a PCID change) is no switch.  Other CR3
 * write events are counted in 'suppressed' and never reach the ring.
 *
 * SET: nr values (at most XEN_PERISCOPE_CR3_FILTER_MAX) are read from dtbs;
 *      nr == 0 removes the filter.  The suppressed counter survives.
 * GET: IN nr is the capacity of dtbs (may be 0), OUT nr is the size of the
 *      set (0: no filter); min(IN nr, OUT nr) masked values, ascending, are
 *      written to dtbs.  suppressed is returned by both.
 */
#define XEN_PERISCOPE_CR3_FILTER_MAX 64
#define XEN_PERISCOPE_DTB_MASK xen_mk_ullong(0x7FFFFFFFFFFFE000)

struct xen_domctl_periscope_cr3_filter {
    uint32_t nr;
    uint32_t pad;
    uint64_aligned_t suppressed;
    XEN_GUEST_HANDLE_64(uint64) dtbs;
};

/*
 * Hypervisor breakpoints.  BP_SET saves the byte at gfn:offset and writes an
 * INT3 there.  A hit sends the usual VM_EVENT_REASON_SOFTWARE_BREAKPOINT
 * request (the monitor recognises its own breakpoints by gfn and rip), then
 * Xen emulates the guest's original instruction from the saved byte and
 * moves on: the INT3 stays in place, the monitor does not re-arm anything
 * and no single-step is involved.  The vCPU waits for the monitor's
 * response only with XEN_PERISCOPE_BP_SYNC; by then the instruction has
 * already been executed, so register changes in the response are not
 * supported.  Requires XEN_DOMCTL_MONITOR_EVENT_SOFTWARE_BREAKPOINT to be
 * enabled (it routes #BP to Xen); disabling it, or the ring, removes all
 * Periscope breakpoints and restores the guest's bytes.
 *
 * BP_CLEAR restores the byte, removes the breakpoint and returns its hits.
 * Guest reads of the breakpoint byte see 0xCC.
 */
#define XEN_PERISCOPE_BP_MAX 64
#define XEN_PERISCOPE_BP_SYNC (1U << 0)

struct xen_domctl_periscope_bp {
    uint64_aligned_t gfn;
    uint16_t offset;            /* IN: byte within the frame */
    uint8_t flags;              /* IN: XEN_PERISCOPE_BP_* */
    uint8_t pad[5];
    uint64_aligned_t hits;      /* OUT (BP_CLEAR) */
};

/*
 * Breakpoints armed while a process runs, and filtered by address space.
 *
 * XEN_PERISCOPE_BP_SWITCHED: the INT3 is in guest memory only while the
 * domain's breakpoint switch is on (the guest's own byte otherwise); BP_SET
 * saves the byte either way.  A monitor that traps syscalls only while a
 * traced process runs (it learns of every switch from a synchronous CR3
 * write event) flips the switch in its response to that event, with
 * XEN_PERISCOPE_VM_EVENT_FLAG_BP_ON or _BP_OFF in vm_event_response.flags:
 * Xen writes or restores the bytes before the vCPU resumes.  That vCPU is
 * stopped on its event already, so no domain pause is needed; the other
 * vCPUs of a domain with several are paused for the writes.  The flags are
 * ignored in a response for a vCPU the event did not pause, and when both
 * are set.  BP_SWITCH flips it outside a response (domain paused) and
 * reports the switch and the table's counters (action QUERY only reports).
 *
 * XEN_PERISCOPE_BP_DTB_FILTER: a hit is reported only if the vCPU's CR3,
 * masked with XEN_PERISCOPE_DTB_MASK, is in the CR3 filter set
 * (PERISCOPE_CR3_FILTER_SET; no set: none is); other hits run the guest's
 * instruction without an event and count in 'quiet'.  So only the traced
 * processes' hits leave the hypervisor.
 *
 * A vCPU that trapped on an INT3 the switch has just removed resumes at the
 * same rip and runs the guest's restored instruction.
 */
#define XEN_PERISCOPE_BP_SWITCHED   (1U << 1)
#define XEN_PERISCOPE_BP_DTB_FILTER (1U << 2)

/* vm_event_response.flags, above upstream's VM_EVENT_FLAG_* */
#define XEN_PERISCOPE_VM_EVENT_FLAG_BP_ON   (1U << 24)
#define XEN_PERISCOPE_VM_EVENT_FLAG_BP_OFF  (1U << 25)

#define XEN_PERISCOPE_BP_SWITCH_QUERY 0
#define XEN_PERISCOPE_BP_SWITCH_ON    1
#define XEN_PERISCOPE_BP_SWITCH_OFF   2

struct xen_domctl_periscope_bp_switch {
    uint8_t action;             /* IN: XEN_PERISCOPE_BP_SWITCH_* */
    uint8_t on;                 /* OUT: the switch after the call */
    uint16_t nr;                /* OUT: breakpoints in the table */
    uint32_t pad;
    uint64_aligned_t switches;  /* OUT: times the switch flipped */
    uint64_aligned_t hits;      /* OUT: hits on Periscope breakpoints */
    uint64_aligned_t quiet;     /* OUT: of those, run without an event */
};

/*
 * Copy-on-write snapshots of a running HVM domain (HAP only).
 *
 * SNAPSHOT_BEGIN allocates a pool of nr_pages frames and, with the domain
 * paused, turns its RAM read-only (p2m_ram_logdirty; refused with EBUSY
 * while log-dirty tracking, e.g. live migration, is active).  The first
 * write to each frame, by a vCPU or by Xen's emulator, copies the frame
 * into the next pool slot before the write happens and makes the frame
 * writable again; the guest keeps running.  The snapshot's view of a gfn is
 * its pool copy if it has one, else the live frame.
 *
 * The pool is mapped by the monitor with XENMEM_acquire_resource (type
 * XENMEM_resource_periscope_snapshot, id 0): frames [0, index_frames) hold
 * one uint64_t gfn per slot (~0 while free), frames [index_frames,
 * index_frames + nr_pages) the copies, slot i in frame index_frames + i.
 *
 * If a first write finds the pool full, overflowed is set and the write
 * proceeds without a copy: the snapshot is no longer consistent.
 * SNAPSHOT_QUERY and SNAPSHOT_END report used and overflowed; END makes the
 * RAM writable again and frees the pool (frames still mapped by the
 * monitor are freed when it unmaps them).
 */
#define XEN_PERISCOPE_SNAPSHOT_MAX_PAGES 65536
#define XENMEM_resource_periscope_snapshot 0x50

struct xen_domctl_periscope_snapshot {
    uint32_t nr_pages;          /* IN (BEGIN), OUT (QUERY, END) */
    uint32_t index_frames;      /* OUT */
    uint32_t used;              /* OUT (QUERY, END): slots filled */
    uint32_t overflowed;        /* OUT (QUERY, END) */
};

#endif /* __XEN__ || __XEN_TOOLS__ */

#endif /* __XEN_PUBLIC_PERISCOPE_H__ */

/*
 * Local variables:
 * mode: C
 * c-file-style: "BSD"
 * c-basic-offset: 4
 * tab-width: 4
 * indent-tabs-mode: nil
 * End:
 */
