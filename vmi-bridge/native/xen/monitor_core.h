/*
 * monitor_core.h: the part of a Periscope Xen monitor that does not talk to Xen, shared by the real
 * library and its fake so that the fake's tests exercise the same code: adopting the ring's control
 * block (through platform callbacks that arm events, the CR3 filter and breakpoints), turning decoded
 * vm_event requests into ring records, and waiting (bounded) for the consumer's answer to synchronous
 * ones. Internal: not part of the API, never seen by jextract. Single-threaded: the event thread owns it.
 */
#ifndef PERISCOPE_XEN_MONITOR_CORE_H
#define PERISCOPE_XEN_MONITOR_CORE_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "periscope_ring_ops.h"
#include "periscope_xen.h"

/* ---- thread-local error state (periscope_xen_last_errno / periscope_xen_last_error) ---- */

static __thread int32_t pxe_errno;
static __thread char pxe_message[256];

/* Records a failure: keeps err (an errno value, 0 if none) and the message; returns status. */
static int32_t pxe_fail(int32_t status, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int32_t pxe_fail(int32_t status, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(pxe_message, sizeof pxe_message, fmt, ap);
    va_end(ap);
    if (err && n >= 0 && (size_t)n < sizeof pxe_message)
        snprintf(pxe_message + n, sizeof pxe_message - (size_t)n, ": %s", strerror(err));
    pxe_errno = err;
    return status;
}

/* Status for an errno from a domain-scoped toolstack call. */
static __attribute__((unused)) int32_t pxe_status_of(int err)
{
    switch (err) {
    case ESRCH:
        return PERISCOPE_XEN_E_NO_DOMAIN;
    case EPERM:
    case EACCES:
        return PERISCOPE_XEN_E_DENIED;
    case EBUSY:
        return PERISCOPE_XEN_E_BUSY;
    case EOPNOTSUPP:
    case ENOSYS:
        return PERISCOPE_XEN_E_UNSUPPORTED;
    case EINVAL:
        return PERISCOPE_XEN_E_INVALID;
    case ENOENT:
    case ENXIO:
    case EFAULT:
        return PERISCOPE_XEN_E_NOT_PRESENT;
    default:
        return PERISCOPE_XEN_E_FAILED;
    }
}

int32_t periscope_xen_last_errno(void) { return pxe_errno; }
const char *periscope_xen_last_error(void) { return pxe_message; }

/* ---- decoded events and platform callbacks ---- */

#define PXM_EV_CR3 1
#define PXM_EV_BREAKPOINT 2

typedef struct pxm_event {
    uint32_t kind;
    uint32_t vcpu;
    int paused; /* the vCPU waits for the response (a synchronous request): it may carry a breakpoint switch */
    uint64_t old_cr3;
    uint64_t new_cr3;
    uint64_t cr3; /* current CR3 (breakpoints) */
    uint64_t rip;
    uint64_t gfn; /* frame of rip (breakpoints) */
    uint64_t rax, rdi, rsi, rdx, rcx, r8, r9, r10;
} pxm_event;

/* pxm_bp.flags: how the hypervisor keeps a breakpoint (patches 0002 and 0005) */
#define PXM_BP_SYNC 0x1u       /* a reported hit waits for our response */
#define PXM_BP_SWITCHED 0x2u   /* its INT3 is in guest memory only while the breakpoint switch is on */
#define PXM_BP_DTB_FILTER 0x4u /* reported only while the current DTB is in the hypervisor's DTB set */

/* A breakpoint of the control block, translated to a guest frame. */
typedef struct pxm_bp {
    uint64_t gva;
    uint64_t gfn;
    uint32_t kind;   /* PERISCOPE_BP_* */
    uint32_t offset; /* gva & 0xfff */
    uint32_t flags;  /* PXM_BP_* */
    uint32_t reserved;
} pxm_bp;

/* A breakpoint switch carried in the response to a paused vCPU's request (pxm_core.response_switch). */
#define PXM_SWITCH_NONE (-1)

typedef struct pxm_ops {
    /* Arm (enable != 0) or disarm CR3 write events; sync: the vCPU waits for our response. */
    int32_t (*cr3_events)(void *ctx, int enable, int sync);
    /* Replace the hypervisor's DTB filter (n == 0: remove). PERISCOPE_XEN_E_UNSUPPORTED without patch 1. */
    int32_t (*cr3_filter)(void *ctx, const uint64_t *dtbs, uint32_t n);
    /* Resolve gva to a guest frame for a breakpoint. */
    int32_t (*translate)(void *ctx, uint64_t gva, uint64_t *gfn);
    /* Replace the hypervisor breakpoints (n == 0: remove all, restoring the guest's bytes). */
    int32_t (*breakpoints)(void *ctx, const pxm_bp *bps, uint32_t n);
    /* Turn the switch of PXM_BP_SWITCHED breakpoints on or off outside a response (the domain is paused). */
    int32_t (*bp_switch)(void *ctx, int on);
} pxm_ops;

/*
 * A hit that Xen reported just before a breakpoint went away (its request was still in the vm_event ring, or the
 * vCPU trapped while the monitor removed it) must not go back to the guest as its own INT3: Xen has already run
 * the original instruction (patch 0002), and a #BP injected on top resumes the guest a byte further on (seen:
 * double faults at entry_SYSCALL_64+4). So the core remembers every breakpoint it set.
 */
#define PXM_BP_HISTORY 256

typedef struct pxm_core {
    periscope_ring_header *h;
    uint64_t size;
    uint64_t token[2];
    uint64_t generation;   /* last control generation seen */
    periscope_control ctl; /* the adopted configuration (mode 0 until one is adopted) */
    uint32_t lane_count;
    int hv_filter;         /* the hypervisor applies ctl.dtbs */
    int cr3_armed, cr3_sync, bps_armed;
    int bp_on;             /* the hypervisor's breakpoint switch */
    int responding;        /* applying a control while a paused vCPU waits for our response */
    int response_switch;   /* 0/1: the switch to carry in that response; PXM_SWITCH_NONE */
    pxm_bp bps[PERISCOPE_RING_MAX_BREAKPOINTS];
    uint32_t nbps;
    periscope_breakpoint bp_src[PERISCOPE_RING_MAX_BREAKPOINTS]; /* the control's list bps[] was translated from */
    uint32_t nbp_src;
    uint64_t hv_cr3_suppressed, hv_bp_quiet; /* the hypervisor's counters already added to lane 0 */
    int32_t failure;       /* a control that could not be applied while answering a request: stops the monitor */
    uint64_t bp_history[PXM_BP_HISTORY]; /* gfn << 12 | offset of every breakpoint set, newest overwriting oldest */
    uint32_t bp_history_count;
    uint64_t records, filtered;
    periscope_producer lanes[PERISCOPE_RING_MAX_LANES];
} pxm_core;

static int32_t pxm_core_open(pxm_core *c, const char *path, uint64_t token_high, uint64_t token_low,
                             uint32_t vcpus)
{
    memset(c, 0, sizeof *c);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return pxe_fail(PERISCOPE_XEN_E_INVALID, errno, "cannot open ring %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pxe_fail(PERISCOPE_XEN_E_FAILED, e, "cannot stat ring %s", path);
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (base == MAP_FAILED)
        return pxe_fail(PERISCOPE_XEN_E_FAILED, e, "cannot map ring %s", path);
    const char *bad = periscope_ring_validate(base, (uint64_t)st.st_size);
    if (bad) {
        munmap(base, (size_t)st.st_size);
        return pxe_fail(PERISCOPE_XEN_E_INVALID, 0, "ring %s rejected: %s", path, bad);
    }
    c->h = base;
    c->size = (uint64_t)st.st_size;
    c->token[0] = token_high;
    c->token[1] = token_low;
    c->response_switch = PXM_SWITCH_NONE;
    c->lane_count = c->h->lane_count;
    for (uint32_t i = 0; i < c->lane_count; i++)
        periscope_producer_init(&c->lanes[i], c->h, i);
    c->h->producer_pid = (uint32_t)getpid();
    c->h->vcpu_count = vcpus;
    c->h->producer_attach_ns = periscope_now_ns();
    PR_STORE_REL(&c->h->producer_state, PERISCOPE_PRODUCER_ATTACHED);
    return PERISCOPE_XEN_OK;
}

static void pxm_core_close(pxm_core *c)
{
    if (!c->h)
        return;
    PR_STORE_REL(&c->h->producer_state, PERISCOPE_PRODUCER_DETACHED);
    munmap(c->h, c->size);
    c->h = NULL;
}

/* Disarms everything the core armed (best effort: every step runs; returns the first failure). */
static int32_t pxm_core_disarm(pxm_core *c, const pxm_ops *ops, void *ctx)
{
    int32_t first = PERISCOPE_XEN_OK, s;
    if (c->bps_armed) {
        if (c->bp_on) { /* a later table starts switched off */
            s = ops->bp_switch(ctx, 0);
            first = first ? first : s;
            c->bp_on = 0;
        }
        s = ops->breakpoints(ctx, NULL, 0);
        first = first ? first : s;
        c->bps_armed = 0;
        c->nbps = 0;
        c->nbp_src = 0;
    }
    if (c->hv_filter) {
        s = ops->cr3_filter(ctx, NULL, 0);
        first = first ? first : s;
        c->hv_filter = 0;
    }
    if (c->cr3_armed) {
        s = ops->cr3_events(ctx, 0, 0);
        first = first ? first : s;
        c->cr3_armed = 0;
    }
    return first;
}

static uint64_t pxm_bp_key(uint64_t gfn, uint32_t offset) { return gfn << 12 | offset; }

/* Whether the core ever set a breakpoint at key (pxm_bp_key). */
static int pxm_core_history_has(const pxm_core *c, uint64_t key)
{
    uint32_t known = c->bp_history_count < PXM_BP_HISTORY ? c->bp_history_count : PXM_BP_HISTORY;
    for (uint32_t j = 0; j < known; j++)
        if (c->bp_history[j] == key)
            return 1;
    return 0;
}

/* Applies the adopted configuration c->ctl through the platform. */
static int32_t pxm_core_apply(pxm_core *c, const pxm_ops *ops, void *ctx)
{
    uint32_t mode = c->ctl.mode;
    int32_t s;

    int want_cr3 = (mode & PERISCOPE_MODE_CR3) != 0;
    int want_sync = (mode & PERISCOPE_MODE_CR3_SYNC) != 0;
    if (c->cr3_armed && (!want_cr3 || want_sync != c->cr3_sync)) {
        if ((s = ops->cr3_events(ctx, 0, 0)) != PERISCOPE_XEN_OK)
            return s;
        c->cr3_armed = 0;
    }
    if (want_cr3 && !c->cr3_armed) {
        if ((s = ops->cr3_events(ctx, 1, want_sync)) != PERISCOPE_XEN_OK)
            return s;
        c->cr3_armed = 1;
        c->cr3_sync = want_sync;
    }

    /* The hypervisor's DTB set: for CR3 writes when they are filtered, and for syscall breakpoints when CR3 writes
     * are not wanted at all (installed otherwise, it would filter CR3 writes a session wants). Without patch 0001
     * pxm_core_deliver filters. */
    int want_set = (want_cr3 && (mode & PERISCOPE_MODE_CR3_FILTER)) || (!want_cr3 && (mode & PERISCOPE_MODE_SYSCALL_FILTER));
    if (want_set) {
        s = ops->cr3_filter(ctx, c->ctl.dtbs, c->ctl.dtb_count);
        if (s == PERISCOPE_XEN_OK)
            c->hv_filter = c->ctl.dtb_count > 0;
        else if (s == PERISCOPE_XEN_E_UNSUPPORTED)
            c->hv_filter = 0;
        else
            return s;
    } else if (c->hv_filter) {
        if ((s = ops->cr3_filter(ctx, NULL, 0)) != PERISCOPE_XEN_OK)
            return s;
        c->hv_filter = 0;
    }

    /* Breakpoints: translated once per list (a page walk through foreign mappings is slow), rewritten in the
     * hypervisor only when an address or a flag changes (each rewrite pauses the domain). */
    uint32_t n = 0;
    pxm_bp next[PERISCOPE_RING_MAX_BREAKPOINTS];
    uint32_t nsrc = c->ctl.breakpoint_count;
    if (nsrc == c->nbp_src && !memcmp(c->ctl.breakpoints, c->bp_src, nsrc * sizeof c->bp_src[0])) {
        n = c->nbps;
        memcpy(next, c->bps, n * sizeof next[0]);
    } else {
        for (uint32_t i = 0; i < nsrc; i++) {
            const periscope_breakpoint *b = &c->ctl.breakpoints[i];
            uint64_t gfn = 0;
            if (ops->translate(ctx, b->gva, &gfn) != PERISCOPE_XEN_OK)
                continue; /* not mapped now: left out until the list changes, like the plugin's unresolvables */
            next[n++] = (pxm_bp){.gva = b->gva, .gfn = gfn, .kind = b->kind, .offset = (uint32_t)(b->gva & 0xfff)};
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t f = 0;
        if (next[i].kind == PERISCOPE_BP_SYSCALL_ENTRY) {
            /* armed by the switch: on while SYSCALL records are wanted (always for M2 and M5; for M3 and M4
             * while a traced process runs) */
            f = PXM_BP_SWITCHED;
            f |= (mode & PERISCOPE_MODE_SYSCALL_SYNC) ? PXM_BP_SYNC : 0;
            f |= ((mode & PERISCOPE_MODE_SYSCALL_FILTER) && c->hv_filter) ? PXM_BP_DTB_FILTER : 0;
        } else {
            f = (mode & PERISCOPE_MODE_BREAKPOINT_SYNC) ? PXM_BP_SYNC : 0;
        }
        next[i].flags = f;
    }
    int want_on = (mode & PERISCOPE_MODE_SYSCALL) != 0;
    if (n != c->nbps || memcmp(next, c->bps, n * sizeof next[0])) {
        if (!n && c->bp_on) { /* a later table starts switched off */
            if ((s = ops->bp_switch(ctx, 0)) != PERISCOPE_XEN_OK)
                return s;
            c->bp_on = 0;
        }
        if (n || c->bps_armed) {
            if ((s = ops->breakpoints(ctx, next, n)) != PERISCOPE_XEN_OK)
                return s;
            c->bps_armed = n > 0;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint64_t key = pxm_bp_key(next[i].gfn, next[i].offset);
            if (!pxm_core_history_has(c, key))
                c->bp_history[c->bp_history_count++ % PXM_BP_HISTORY] = key;
        }
        memcpy(c->bps, next, n * sizeof next[0]);
        c->nbps = n;
    }
    memcpy(c->bp_src, c->ctl.breakpoints, nsrc * sizeof c->bp_src[0]);
    c->nbp_src = nsrc;

    /* The switch: in the response to the paused vCPU whose event made Java decide (no domain pause, no hypercall
     * of its own), else with a domctl. */
    if (n && want_on != c->bp_on) {
        if (c->responding) {
            c->response_switch = want_on;
        } else if ((s = ops->bp_switch(ctx, want_on)) != PERISCOPE_XEN_OK) {
            return s;
        }
        c->bp_on = want_on;
    }
    return PERISCOPE_XEN_OK;
}

/* Adopts a new control block if there is one. */
static int32_t pxm_core_poll_control(pxm_core *c, const pxm_ops *ops, void *ctx)
{
    periscope_control next;
    int r = periscope_control_snapshot(c->h, c->token, &c->generation, &next);
    if (r == PERISCOPE_CONTROL_UNCHANGED || r == PERISCOPE_CONTROL_BUSY)
        return PERISCOPE_XEN_OK;
    if (r == PERISCOPE_CONTROL_REJECTED) {
        PR_BUMP(&c->h->control_rejected, 1);
        memset(&next, 0, sizeof next); /* a writer without the token can only switch monitoring off */
        next.generation = c->generation;
    }
    c->ctl = next;
    int32_t s = pxm_core_apply(c, ops, ctx);
    PR_STORE_REL(&c->h->control_applied_generation, c->generation);
    for (uint32_t i = 0; i < c->lane_count; i++)
        PR_STORE_RLX(&c->h->lanes[i].applied_generation, c->generation);
    if (s != PERISCOPE_XEN_OK && !c->failure)
        c->failure = s;
    return s;
}

/*
 * The hypervisor's own counts (CR3 writes its filter suppressed, breakpoint hits it kept back by DTB), totals
 * since the monitor started: what grew since the last call is added to lane 0 as seen and filtered, so the ring
 * counts what the hypervisor decided as the QEMU plugin's counts do.
 */
static void pxm_core_hypervisor_counts(pxm_core *c, uint64_t cr3_suppressed, uint64_t bp_quiet)
{
    if (!c->lane_count)
        return;
    periscope_lane *l = c->lanes[0].lane;
    uint64_t cr3 = cr3_suppressed > c->hv_cr3_suppressed ? cr3_suppressed - c->hv_cr3_suppressed : 0;
    uint64_t bp = bp_quiet > c->hv_bp_quiet ? bp_quiet - c->hv_bp_quiet : 0;
    c->hv_cr3_suppressed = cr3_suppressed;
    c->hv_bp_quiet = bp_quiet;
    PR_BUMP(&l->seen, cr3 + bp);
    PR_BUMP(&l->filtered, cr3 + bp);
    PR_BUMP(&l->cr3_seen, cr3);
    PR_BUMP(&l->cr3_filtered, cr3);
}

static const pxm_bp *pxm_core_find_bp(const pxm_core *c, uint64_t gfn, uint64_t rip)
{
    for (uint32_t i = 0; i < c->nbps; i++)
        if (c->bps[i].gfn == gfn && c->bps[i].offset == (rip & 0xfff))
            return &c->bps[i];
    return NULL;
}

/* Whether a breakpoint hit at gfn:rip is the monitor's (set now or earlier), not the guest's own INT3. */
static int pxm_core_owns_bp(const pxm_core *c, uint64_t gfn, uint64_t rip)
{
    return pxm_core_find_bp(c, gfn, rip) || pxm_core_history_has(c, pxm_bp_key(gfn, (uint32_t)(rip & 0xfff)));
}

/*
 * Turns one event into a record. Returns 1 if the event was one of ours (the request is answered by the
 * caller afterwards; for synchronous records this returns after the consumer answered or timed out; a hit on
 * a breakpoint removed since is dropped), 0 if it was not (the guest's own INT3, to be given back to it).
 * After a synchronous record of a paused vCPU, the control the consumer wrote while deciding it (M3 and M4
 * arm or disarm syscall delivery on a CR3 write) is applied at once; a breakpoint switch it brings is left in
 * c->response_switch for the caller to put into the response, so the vCPU resumes with it applied.
 */
static int pxm_core_deliver(pxm_core *c, const pxm_ops *ops, void *ctx, const pxm_event *e)
{
    const periscope_control *ctl = &c->ctl;
    const pxm_bp *bp = NULL;

    if (e->kind == PXM_EV_BREAKPOINT && !(bp = pxm_core_find_bp(c, e->gfn, e->rip)))
        return pxm_core_owns_bp(c, e->gfn, e->rip);
    if (e->vcpu >= c->lane_count) {
        PR_BUMP(&c->h->unlaned_events, 1);
        return 1;
    }
    periscope_producer *p = &c->lanes[e->vcpu];
    periscope_count_seen(p);

    uint32_t kind, flags = 0;
    int pass;
    if (e->kind == PXM_EV_CR3) {
        int hit = periscope_dtb_contains(ctl, e->new_cr3) || periscope_dtb_contains(ctl, e->old_cr3);
        /* as the hypervisor's filter: a KPTI flip within one address space is no switch */
        int same_space = ((e->old_cr3 ^ e->new_cr3) & PERISCOPE_DTB_MASK) == 0;
        kind = PERISCOPE_KIND_CR3_WRITE;
        pass = (ctl->mode & PERISCOPE_MODE_CR3) &&
               (!(ctl->mode & PERISCOPE_MODE_CR3_FILTER) || (hit && !same_space));
        PR_BUMP(&p->lane->cr3_seen, 1);
        if (!pass)
            PR_BUMP(&p->lane->cr3_filtered, 1);
        flags = (hit ? PERISCOPE_RECORD_FILTER_HIT : 0) | ((ctl->mode & PERISCOPE_MODE_CR3_SYNC) ? PERISCOPE_RECORD_SYNC : 0);
    } else if (bp->kind == PERISCOPE_BP_SYSCALL_ENTRY) {
        int hit = periscope_dtb_contains(ctl, e->cr3);
        kind = PERISCOPE_KIND_SYSCALL;
        pass = (ctl->mode & PERISCOPE_MODE_SYSCALL) && (hit || !(ctl->mode & PERISCOPE_MODE_SYSCALL_FILTER));
        flags = (hit ? PERISCOPE_RECORD_FILTER_HIT : 0) | ((ctl->mode & PERISCOPE_MODE_SYSCALL_SYNC) ? PERISCOPE_RECORD_SYNC : 0);
    } else {
        kind = PERISCOPE_KIND_BREAKPOINT;
        pass = (ctl->mode & PERISCOPE_MODE_BREAKPOINT) != 0;
        flags = (ctl->mode & PERISCOPE_MODE_BREAKPOINT_SYNC) ? PERISCOPE_RECORD_SYNC : 0;
    }
    if (!pass) {
        periscope_count_filtered(p);
        c->filtered++;
        return 1;
    }

    periscope_record *r = periscope_reserve(p, kind, e->vcpu);
    if (!r)
        return 1; /* dropped: counted, a DROP_MARKER follows */
    r->timestamp_ns = periscope_now_ns();
    r->rip = e->rip;
    r->flags = flags;
    r->control_generation = c->generation;
    if (kind == PERISCOPE_KIND_CR3_WRITE) {
        r->old_cr3 = e->old_cr3;
        r->new_cr3 = e->new_cr3;
    } else if (kind == PERISCOPE_KIND_SYSCALL) {
        r->old_cr3 = r->new_cr3 = e->cr3;
        r->syscall_nr = e->rax;
        uint64_t a[6] = {e->rdi, e->rsi, e->rdx, e->r10, e->r8, e->r9};
        memcpy(r->args, a, sizeof a);
    } else {
        r->old_cr3 = r->new_cr3 = e->cr3;
        r->aux = bp->gva;
        uint64_t a[6] = {e->rdi, e->rsi, e->rdx, e->rcx, e->r8, e->r9};
        memcpy(r->args, a, sizeof a);
    }
    uint64_t seq = r->seq;
    periscope_publish(p);
    c->records++;
    if (flags & PERISCOPE_RECORD_SYNC) {
        uint64_t us = ctl->sync_timeout_us ? ctl->sync_timeout_us : PERISCOPE_RING_DEFAULT_SYNC_TIMEOUT_US;
        periscope_wait_response(p, seq, us * 1000);
        if (e->paused) {
            c->responding = 1;
            pxm_core_poll_control(c, ops, ctx);
            c->responding = 0;
        }
    }
    return 1;
}

/* The breakpoint switch to carry in the response now being sent (PXM_SWITCH_NONE: none); clears it. */
static int pxm_core_take_response_switch(pxm_core *c)
{
    int sw = c->response_switch;
    c->response_switch = PXM_SWITCH_NONE;
    return sw;
}

#endif /* PERISCOPE_XEN_MONITOR_CORE_H */
