/*
 * libperiscope-xen: Periscope's shim over Xen 4.17's toolstack libraries. See periscope_xen.h.
 * xenctrl.h comes first (it defines __XEN_TOOLS__ and the public headers' environment).
 */
#define XC_WANT_COMPAT_DEVICEMODEL_API 1
#include <xenctrl.h>
#include <xencall.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xen/domctl.h>
#include <xen/hvm/save.h>
#include <xen/vm_event.h>

#include <public/periscope.h> /* xen-extensions/include: the sub-ops, shared with the hypervisor patches */

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "monitor_core.h"
#include "teardown.h"

#define PAGE 4096u
#define LOCK_DIR "/run/periscope"

struct periscope_xen {
    xc_interface *xch;
    xenforeignmemory_handle *fmem;
    xencall_handle *xcall;
    struct xs_handle *xs; /* may be NULL: names unknown */
    pthread_mutex_t m2p_lock;
    xen_pfn_t *m2p;        /* Xen's machine-to-phys table, mapped read-only on first PV translation */
    unsigned long m2p_max_mfn;
};

struct periscope_xen_domain {
    periscope_xen *x;
    uint32_t domid;
    uint32_t hvm;
    uint32_t vcpus;
    uint32_t features;
    struct xc_domain_meminfo pv; /* PV guests: the p2m */
    int pv_mapped;
    periscope_xen_monitor *monitor;
};

struct periscope_xen_mapping {
    periscope_xen_domain *d;
    void *addr;
    uint32_t count;
    int32_t status[];
};

struct periscope_xen_monitor {
    periscope_xen_domain *d;
    pxm_core core;
    void *ring_page;
    vm_event_back_ring_t back;
    xenevtchn_handle *xce;
    xenevtchn_port_or_error_t local_port;
    int sw_bp_enabled;
    pthread_t thread;
    pthread_mutex_t lock; /* stats and state */
    volatile int stop;
    int stopped;
    int released;
    periscope_xen_monitor_stats stats;
};

struct periscope_xen_snapshot {
    periscope_xen_domain *d;
    xenforeignmemory_resource_handle *res;
    uint8_t *base;
    uint32_t nr_pages, index_frames;
};

static int32_t fail_errno(int32_t fallback, const char *what)
{
    int e = errno;
    int32_t s = pxe_status_of(e);
    return pxe_fail(s == PERISCOPE_XEN_E_FAILED ? fallback : s, e, "%s", what);
}

/* ---------------------------------------------------------------- interface */

int32_t periscope_xen_open(const char *options, periscope_xen **out)
{
    *out = NULL;
    if (options && *options)
        return pxe_fail(PERISCOPE_XEN_E_INVALID, 0, "the Xen library takes no options (got \"%s\")", options);
    if (access("/dev/xen", F_OK) != 0)
        return pxe_fail(PERISCOPE_XEN_E_UNAVAILABLE, errno, "no /dev/xen: this host is not a Xen dom0");
    periscope_xen *x = calloc(1, sizeof *x);
    if (!x)
        return pxe_fail(PERISCOPE_XEN_E_FAILED, ENOMEM, "out of memory");
    pthread_mutex_init(&x->m2p_lock, NULL);
    x->xch = xc_interface_open(NULL, NULL, 0);
    x->fmem = xenforeignmemory_open(NULL, 0);
    x->xcall = xencall_open(NULL, 0);
    int e = errno;
    if (!x->xch || !x->fmem || !x->xcall) {
        periscope_xen_close(x);
        return pxe_fail(PERISCOPE_XEN_E_UNAVAILABLE, e,
                        "cannot open the Xen toolstack interfaces (privcmd; are we dom0 with xen-privcmd loaded?)");
    }
    x->xs = xs_open(XS_OPEN_READONLY);
    *out = x;
    return PERISCOPE_XEN_OK;
}

/* the size xc_map_m2p maps: the table rounded up to 2 MiB chunks (libxenguest's M2P_SIZE) */
static size_t m2p_bytes(unsigned long max_mfn)
{
    size_t chunk = (size_t)1 << 21;
    return (max_mfn * sizeof(xen_pfn_t) + chunk - 1) / chunk * chunk;
}

void periscope_xen_close(periscope_xen *x)
{
    if (!x)
        return;
    if (x->xs)
        xs_close(x->xs);
    if (x->m2p)
        munmap(x->m2p, m2p_bytes(x->m2p_max_mfn));
    pthread_mutex_destroy(&x->m2p_lock);
    if (x->xcall)
        xencall_close(x->xcall);
    if (x->fmem)
        xenforeignmemory_close(x->fmem);
    if (x->xch)
        xc_interface_close(x->xch);
    free(x);
}

static void fill_info(periscope_xen *x, const xc_domaininfo_t *di, periscope_xen_domain_info *out)
{
    memset(out, 0, sizeof *out);
    out->domid = di->domain;
    out->flags = ((di->flags & XEN_DOMINF_hvm_guest) ? PERISCOPE_XEN_DOMAIN_HVM : 0) |
                 ((di->flags & XEN_DOMINF_paused) ? PERISCOPE_XEN_DOMAIN_PAUSED : 0) |
                 ((di->flags & XEN_DOMINF_dying) ? PERISCOPE_XEN_DOMAIN_DYING : 0);
    out->vcpus = di->max_vcpu_id + 1;
    out->memory_bytes = (uint64_t)di->tot_pages * PAGE;
    xen_pfn_t gpfns = 0;
    if (xc_domain_maximum_gpfn(x->xch, di->domain, &gpfns) == 0)
        out->max_gfn = gpfns;
    /* the label Xen's FLASK gave the domain (its tenant, in Periscope's policy module); fails without FLASK */
    if (xc_flask_sid_to_context(x->xch, (int)di->ssidref, out->label, sizeof out->label) != 0)
        out->label[0] = '\0';
    out->label[sizeof out->label - 1] = '\0';
    if (x->xs) {
        char path[64];
        unsigned int len = 0;
        snprintf(path, sizeof path, "/local/domain/%u/name", di->domain);
        char *name = xs_read(x->xs, XBT_NULL, path, &len);
        if (name) {
            snprintf(out->name, sizeof out->name, "%s", name);
            free(name);
        }
    }
}

int32_t periscope_xen_list(periscope_xen *x, periscope_xen_domain_info *out, uint32_t capacity, uint32_t *count)
{
    enum { BATCH = 256 };
    xc_domaininfo_t di[BATCH];
    uint32_t n = 0, next = 1; /* dom0 excluded */
    for (;;) {
        int got = xc_domain_getinfolist(x->xch, next, BATCH, di);
        if (got < 0)
            return fail_errno(PERISCOPE_XEN_E_FAILED, "xc_domain_getinfolist");
        for (int i = 0; i < got; i++, n++)
            if (n < capacity)
                fill_info(x, &di[i], &out[n]);
        if (got < BATCH)
            break;
        next = di[got - 1].domain + 1;
    }
    *count = n;
    return PERISCOPE_XEN_OK;
}

/* ---------------------------------------------------------------- Periscope sub-ops (libxencall) */

/* Issues XEN_DOMCTL_monitor_op with a Periscope sub-op; payload is copied in and back out. */
static int periscope_domctl(periscope_xen *x, uint32_t domid, uint32_t op, void *payload, size_t len)
{
    struct xen_domctl *dc = xencall_alloc_buffer(x->xcall, sizeof *dc);
    if (!dc)
        return -1;
    memset(dc, 0, sizeof *dc);
    dc->cmd = XEN_DOMCTL_monitor_op;
    dc->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    dc->domain = (domid_t)domid;
    dc->u.monitor_op.op = op;
    /* The patched union is larger than libxen-dev's; xen_domctl.u has 128 bytes of room. */
    uint8_t *u = (uint8_t *)&dc->u.monitor_op + offsetof(struct xen_domctl_monitor_op, u);
    memcpy(u, payload, len);
    int rc = xencall1(x->xcall, __HYPERVISOR_domctl, (uint64_t)(uintptr_t)dc);
    int e = errno;
    memcpy(payload, u, len);
    xencall_free_buffer(x->xcall, dc);
    errno = e;
    return rc;
}

_Static_assert(offsetof(struct xen_domctl_monitor_op, u) + sizeof(struct xen_domctl_periscope_cr3_filter) <=
                   sizeof(((struct xen_domctl *)0)->u),
               "periscope payloads fit the domctl union");
_Static_assert(offsetof(struct xen_domctl_monitor_op, u) + sizeof(struct xen_domctl_periscope_bp_switch) <=
                   sizeof(((struct xen_domctl *)0)->u),
               "periscope payloads fit the domctl union");

static uint32_t probe_features(periscope_xen_domain *d)
{
    if (!d->hvm)
        return 0; /* vm_event does not exist for PV guests */
    uint32_t f = PERISCOPE_XEN_FEATURE_MONITOR;
    struct xen_domctl_periscope_cr3_filter cf = {0};
    if (periscope_domctl(d->x, d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_CR3_FILTER_GET, &cf, sizeof cf) == 0)
        f |= PERISCOPE_XEN_FEATURE_CR3_FILTER;
    /* Breakpoints as the monitor core uses them: patch 0002's, switched and DTB-filtered by patch 0005 */
    struct xen_domctl_periscope_bp bp = {.gfn = ~0ULL};
    struct xen_domctl_periscope_bp_switch sw = {.action = XEN_PERISCOPE_BP_SWITCH_QUERY};
    if (periscope_domctl(d->x, d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_BP_CLEAR, &bp, sizeof bp) != 0 &&
        errno == ENOENT &&
        periscope_domctl(d->x, d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_BP_SWITCH, &sw, sizeof sw) == 0)
        f |= PERISCOPE_XEN_FEATURE_BREAKPOINTS;
    struct xen_domctl_periscope_snapshot sn = {0};
    if (periscope_domctl(d->x, d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_QUERY, &sn, sizeof sn) != 0 &&
        errno == ENOENT)
        f |= PERISCOPE_XEN_FEATURE_SNAPSHOT;
    return f;
}

/* ---------------------------------------------------------------- domains */

int32_t periscope_xen_attach(periscope_xen *x, uint32_t domid, periscope_xen_domain **out)
{
    *out = NULL;
    xc_domaininfo_t di;
    if (xc_domain_getinfolist(x->xch, domid, 1, &di) != 1 || di.domain != domid)
        return pxe_fail(PERISCOPE_XEN_E_NO_DOMAIN, errno, "domain %u does not exist", domid);
    if (di.flags & XEN_DOMINF_dying)
        return pxe_fail(PERISCOPE_XEN_E_NO_DOMAIN, 0, "domain %u is dying", domid);
    periscope_xen_domain *d = calloc(1, sizeof *d);
    if (!d)
        return pxe_fail(PERISCOPE_XEN_E_FAILED, ENOMEM, "out of memory");
    d->x = x;
    d->domid = domid;
    d->hvm = (di.flags & XEN_DOMINF_hvm_guest) != 0;
    d->vcpus = di.max_vcpu_id + 1;
    if (!d->hvm) {
        if (xc_map_domain_meminfo(x->xch, domid, &d->pv) != 0) {
            int32_t s = fail_errno(PERISCOPE_XEN_E_FAILED, "cannot map the PV guest's p2m");
            free(d);
            return s;
        }
        d->pv_mapped = 1;
    }
    d->features = probe_features(d);
    *out = d;
    return PERISCOPE_XEN_OK;
}

void periscope_xen_detach(periscope_xen_domain *d)
{
    if (!d)
        return;
    if (d->monitor)
        periscope_xen_monitor_stop(d->monitor);
    if (d->pv_mapped)
        xc_unmap_domain_meminfo(d->x->xch, &d->pv);
    free(d);
}

int32_t periscope_xen_info(periscope_xen_domain *d, periscope_xen_domain_info *out)
{
    xc_domaininfo_t di;
    if (xc_domain_getinfolist(d->x->xch, d->domid, 1, &di) != 1 || di.domain != d->domid)
        return pxe_fail(PERISCOPE_XEN_E_NO_DOMAIN, errno, "domain %u is gone", d->domid);
    fill_info(d->x, &di, out);
    return PERISCOPE_XEN_OK;
}

uint32_t periscope_xen_features(periscope_xen_domain *d) { return d->features; }

static uint64_t pv_mfn(const periscope_xen_domain *d, uint64_t pfn)
{
    if (pfn >= d->pv.p2m_size)
        return ~0ULL;
    if (d->pv.guest_width == 8) {
        uint64_t m = ((const uint64_t *)d->pv.p2m_table)[pfn];
        return m == ~0ULL ? ~0ULL : m;
    }
    uint32_t m = ((const uint32_t *)d->pv.p2m_table)[pfn];
    return m == ~0U ? ~0ULL : m;
}

int32_t periscope_xen_gfn_of_frame(periscope_xen_domain *d, uint64_t frame, uint64_t *gfn)
{
    *gfn = frame;
    if (d->hvm)
        return PERISCOPE_XEN_OK;
    periscope_xen *x = d->x;
    pthread_mutex_lock(&x->m2p_lock);
    if (!x->m2p) {
        unsigned long max_mfn = 0;
        if (xc_maximum_ram_page(x->xch, &max_mfn) == 0)
            x->m2p = xc_map_m2p(x->xch, max_mfn, PROT_READ, NULL);
        if (x->m2p)
            x->m2p_max_mfn = max_mfn;
    }
    pthread_mutex_unlock(&x->m2p_lock);
    if (!x->m2p)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "cannot map Xen's machine-to-phys table");
    /* a frame outside the table, or one the guest's p2m does not map back to it, is not this guest's */
    if (frame >= x->m2p_max_mfn || pv_mfn(d, x->m2p[frame]) != frame)
        return pxe_fail(PERISCOPE_XEN_E_NOT_PRESENT, 0, "machine frame 0x%llx is not domain %u's",
                        (unsigned long long)frame, d->domid);
    *gfn = x->m2p[frame];
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_map(periscope_xen_domain *d, uint64_t gfn, uint32_t count, periscope_xen_mapping **out)
{
    *out = NULL;
    if (count == 0 || count > (1u << 20))
        return pxe_fail(PERISCOPE_XEN_E_INVALID, 0, "cannot map %u frames", count);
    periscope_xen_mapping *m = calloc(1, sizeof *m + count * sizeof(int32_t));
    xen_pfn_t *frames = calloc(count, sizeof *frames);
    int *err = calloc(count, sizeof *err);
    if (!m || !frames || !err) {
        free(m);
        free(frames);
        free(err);
        return pxe_fail(PERISCOPE_XEN_E_FAILED, ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < count; i++) {
        uint64_t f = d->hvm ? gfn + i : pv_mfn(d, gfn + i);
        frames[i] = f == ~0ULL ? (xen_pfn_t)~0UL : (xen_pfn_t)f; /* an invalid frame fails alone */
    }
    m->addr = xenforeignmemory_map(d->x->fmem, d->domid, PROT_READ, count, frames, err);
    int e = errno;
    free(frames);
    if (!m->addr) {
        free(err);
        free(m);
        errno = e;
        return fail_errno(PERISCOPE_XEN_E_FAILED, "xenforeignmemory_map");
    }
    m->d = d;
    m->count = count;
    for (uint32_t i = 0; i < count; i++)
        m->status[i] = err[i] ? PERISCOPE_XEN_E_NOT_PRESENT : PERISCOPE_XEN_OK;
    free(err);
    *out = m;
    return PERISCOPE_XEN_OK;
}

const uint8_t *periscope_xen_mapping_address(const periscope_xen_mapping *m) { return m->addr; }

int32_t periscope_xen_mapping_page_status(const periscope_xen_mapping *m, uint32_t index)
{
    return index < m->count ? m->status[index] : PERISCOPE_XEN_E_INVALID;
}

void periscope_xen_unmap(periscope_xen_mapping *m)
{
    if (!m)
        return;
    xenforeignmemory_unmap(m->d->x->fmem, m->addr, m->count);
    free(m);
}

int32_t periscope_xen_vcpu_registers(periscope_xen_domain *d, uint32_t vcpu, periscope_xen_vcpu_regs *out)
{
    memset(out, 0, sizeof *out);
    out->vcpu = vcpu;
    if (vcpu >= d->vcpus)
        return pxe_fail(PERISCOPE_XEN_E_INVALID, 0, "domain %u has no vCPU %u", d->domid, vcpu);
    if (d->hvm) {
        struct hvm_hw_cpu c;
        if (xc_domain_hvm_getcontext_partial(d->x->xch, d->domid, HVM_SAVE_CODE(CPU), (uint16_t)vcpu, &c,
                                             sizeof c) != 0)
            return fail_errno(PERISCOPE_XEN_E_FAILED, "xc_domain_hvm_getcontext_partial");
        out->rip = c.rip;
        out->rsp = c.rsp;
        out->rflags = c.rflags;
        out->cr0 = c.cr0;
        out->cr2 = c.cr2; /* may be stale for HVM (XEN-NOTES): events carry their own */
        out->cr3 = c.cr3;
        out->cr4 = c.cr4;
        out->efer = c.msr_efer;
        out->fs_base = c.fs_base;
        out->gs_base = c.gs_base;
        out->kernel_gs_base = c.shadow_gs;
        return PERISCOPE_XEN_OK;
    }
    vcpu_guest_context_any_t ctx;
    if (xc_vcpu_getcontext(d->x->xch, d->domid, vcpu, &ctx) != 0)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "xc_vcpu_getcontext");
    out->rip = ctx.x64.user_regs.rip;
    out->rsp = ctx.x64.user_regs.rsp;
    out->rflags = ctx.x64.user_regs.rflags;
    out->cr0 = ctx.x64.ctrlreg[0];
    out->cr2 = ctx.x64.ctrlreg[2];
    /* PV: CR3 holds a machine frame; reported as the guest's own frame, as its memory is read */
    uint64_t cr3_gfn;
    int32_t st = periscope_xen_gfn_of_frame(d, xen_cr3_to_pfn_x86_64(ctx.x64.ctrlreg[3]), &cr3_gfn);
    if (st != PERISCOPE_XEN_OK)
        return st;
    out->cr3 = cr3_gfn << 12;
    out->cr4 = ctx.x64.ctrlreg[4];
    out->fs_base = ctx.x64.fs_base;
    out->gs_base = ctx.x64.gs_base_kernel;
    out->kernel_gs_base = ctx.x64.gs_base_user;
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_pause(periscope_xen_domain *d)
{
    return xc_domain_pause(d->x->xch, d->domid) == 0 ? PERISCOPE_XEN_OK : fail_errno(PERISCOPE_XEN_E_FAILED, "xc_domain_pause");
}

int32_t periscope_xen_resume(periscope_xen_domain *d)
{
    return xc_domain_unpause(d->x->xch, d->domid) == 0 ? PERISCOPE_XEN_OK
                                                      : fail_errno(PERISCOPE_XEN_E_FAILED, "xc_domain_unpause");
}

/* ---------------------------------------------------------------- monitor: platform callbacks */

static int32_t op_cr3_events(void *ctx, int enable, int sync)
{
    periscope_xen_monitor *m = ctx;
    if (xc_monitor_write_ctrlreg(m->d->x->xch, m->d->domid, VM_EVENT_X86_CR3, enable, sync, 0, true) != 0)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "xc_monitor_write_ctrlreg(CR3)");
    return PERISCOPE_XEN_OK;
}

static int32_t op_cr3_filter(void *ctx, const uint64_t *dtbs, uint32_t n)
{
    periscope_xen_monitor *m = ctx;
    periscope_xen *x = m->d->x;
    if (!(m->d->features & PERISCOPE_XEN_FEATURE_CR3_FILTER))
        return PERISCOPE_XEN_E_UNSUPPORTED;
    uint64_t *buf = n ? xencall_alloc_buffer(x->xcall, n * sizeof *buf) : NULL;
    if (n && !buf)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "xencall_alloc_buffer");
    if (n)
        memcpy(buf, dtbs, n * sizeof *buf);
    struct xen_domctl_periscope_cr3_filter f = {.nr = n};
    set_xen_guest_handle_raw(f.dtbs, buf); /* a xencall buffer, not an xc hypercall buffer */
    int rc = periscope_domctl(x, m->d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_CR3_FILTER_SET, &f, sizeof f);
    int e = errno;
    if (buf)
        xencall_free_buffer(x->xcall, buf);
    errno = e;
    if (rc != 0)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "PERISCOPE_CR3_FILTER_SET");
    pthread_mutex_lock(&m->lock);
    m->stats.hypervisor_suppressed = f.suppressed;
    pthread_mutex_unlock(&m->lock);
    return PERISCOPE_XEN_OK;
}

static int32_t op_translate(void *ctx, uint64_t gva, uint64_t *gfn)
{
    periscope_xen_monitor *m = ctx;
    unsigned long f = xc_translate_foreign_address(m->d->x->xch, m->d->domid, 0, gva);
    if (!f)
        return pxe_fail(PERISCOPE_XEN_E_NOT_PRESENT, errno, "gva %#llx not mapped", (unsigned long long)gva);
    *gfn = f;
    return PERISCOPE_XEN_OK;
}

static int32_t op_breakpoints(void *ctx, const pxm_bp *bps, uint32_t n)
{
    periscope_xen_monitor *m = ctx;
    periscope_xen *x = m->d->x;
    if (!(m->d->features & PERISCOPE_XEN_FEATURE_BREAKPOINTS))
        return n ? pxe_fail(PERISCOPE_XEN_E_UNSUPPORTED, 0, "this hypervisor has no Periscope breakpoints")
                 : PERISCOPE_XEN_OK;
    /* Disabling software breakpoint events removes all Periscope breakpoints in Xen. */
    if (m->sw_bp_enabled) {
        if (xc_monitor_software_breakpoint(x->xch, m->d->domid, false) != 0)
            return fail_errno(PERISCOPE_XEN_E_FAILED, "xc_monitor_software_breakpoint(off)");
        m->sw_bp_enabled = 0;
    }
    if (!n)
        return PERISCOPE_XEN_OK;
    if (xc_monitor_software_breakpoint(x->xch, m->d->domid, true) != 0)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "xc_monitor_software_breakpoint(on)");
    m->sw_bp_enabled = 1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t f = bps[i].flags;
        struct xen_domctl_periscope_bp b = {
            .gfn = bps[i].gfn, .offset = (uint16_t)bps[i].offset,
            .flags = (uint8_t)(((f & PXM_BP_SYNC) ? XEN_PERISCOPE_BP_SYNC : 0) |
                               ((f & PXM_BP_SWITCHED) ? XEN_PERISCOPE_BP_SWITCHED : 0) |
                               ((f & PXM_BP_DTB_FILTER) ? XEN_PERISCOPE_BP_DTB_FILTER : 0))};
        if (periscope_domctl(x, m->d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_BP_SET, &b, sizeof b) != 0 &&
            errno != EEXIST)
            return fail_errno(PERISCOPE_XEN_E_FAILED, "PERISCOPE_BP_SET");
    }
    return PERISCOPE_XEN_OK;
}

/* The breakpoint switch and the table's counters (patch 0005); action XEN_PERISCOPE_BP_SWITCH_*. */
static int bp_switch_domctl(periscope_xen_monitor *m, uint8_t action, struct xen_domctl_periscope_bp_switch *out)
{
    *out = (struct xen_domctl_periscope_bp_switch){.action = action};
    return periscope_domctl(m->d->x, m->d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_BP_SWITCH, out, sizeof *out);
}

static int32_t op_bp_switch(void *ctx, int on)
{
    struct xen_domctl_periscope_bp_switch w;
    if (bp_switch_domctl(ctx, on ? XEN_PERISCOPE_BP_SWITCH_ON : XEN_PERISCOPE_BP_SWITCH_OFF, &w) != 0)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "PERISCOPE_BP_SWITCH");
    return PERISCOPE_XEN_OK;
}

static const pxm_ops xen_ops = {op_cr3_events, op_cr3_filter, op_translate, op_breakpoints, op_bp_switch};

/* ---------------------------------------------------------------- monitor: the event thread */

/* Answers a request; a paused vCPU's answer may switch the breakpoints before it resumes (patch 0005). */
static void respond(periscope_xen_monitor *m, const vm_event_request_t *req, int bp_switch)
{
    vm_event_response_t rsp;
    memset(&rsp, 0, sizeof rsp);
    rsp.version = VM_EVENT_INTERFACE_VERSION;
    rsp.vcpu_id = req->vcpu_id;
    rsp.flags = req->flags & VM_EVENT_FLAG_VCPU_PAUSED;
    if (bp_switch != PXM_SWITCH_NONE)
        rsp.flags |= bp_switch ? XEN_PERISCOPE_VM_EVENT_FLAG_BP_ON : XEN_PERISCOPE_VM_EVENT_FLAG_BP_OFF;
    rsp.reason = req->reason;
    RING_IDX prod = m->back.rsp_prod_pvt;
    memcpy(RING_GET_RESPONSE(&m->back, prod), &rsp, sizeof rsp);
    m->back.rsp_prod_pvt = prod + 1;
    RING_PUSH_RESPONSES(&m->back);
}

static void handle(periscope_xen_monitor *m, const vm_event_request_t *req, int deliver)
{
    const struct vm_event_regs_x86 *r = &req->data.regs.x86;
    pxm_event e = {.vcpu = req->vcpu_id, .paused = (req->flags & VM_EVENT_FLAG_VCPU_PAUSED) != 0, .rip = r->rip,
                   .cr3 = r->cr3, .rax = r->rax, .rdi = r->rdi, .rsi = r->rsi, .rdx = r->rdx, .rcx = r->rcx,
                   .r8 = r->r8, .r9 = r->r9, .r10 = r->r10};
    int ours = 1;
    if (deliver && req->reason == VM_EVENT_REASON_WRITE_CTRLREG &&
        req->u.write_ctrlreg.index == VM_EVENT_X86_CR3) {
        e.kind = PXM_EV_CR3;
        e.old_cr3 = req->u.write_ctrlreg.old_value;
        e.new_cr3 = req->u.write_ctrlreg.new_value;
        pxm_core_deliver(&m->core, &xen_ops, m, &e);
    } else if (req->reason == VM_EVENT_REASON_SOFTWARE_BREAKPOINT) {
        e.kind = PXM_EV_BREAKPOINT;
        e.gfn = req->u.software_breakpoint.gfn;
        ours = deliver ? pxm_core_deliver(&m->core, &xen_ops, m, &e) : pxm_core_owns_bp(&m->core, e.gfn, e.rip);
        if (!ours) /* the guest's own INT3: give it back */
            xc_hvm_inject_trap(m->d->x->xch, m->d->domid, (int)req->vcpu_id, 3, XEN_DMOP_EVENT_sw_exc, -1,
                               req->u.software_breakpoint.insn_length, 0);
    }
    respond(m, req, pxm_core_take_response_switch(&m->core));
}

/* Takes every request in the ring; returns the number taken. */
static int drain(periscope_xen_monitor *m, int deliver)
{
    int n = 0;
    while (RING_HAS_UNCONSUMED_REQUESTS(&m->back)) {
        vm_event_request_t req;
        RING_IDX cons = m->back.req_cons;
        memcpy(&req, RING_GET_REQUEST(&m->back, cons), sizeof req);
        m->back.req_cons = cons + 1;
        m->back.sring->req_event = cons + 2;
        if (req.version == VM_EVENT_INTERFACE_VERSION)
            handle(m, &req, deliver);
        else
            respond(m, &req, PXM_SWITCH_NONE);
        n++;
    }
    if (n)
        xenevtchn_notify(m->xce, m->local_port);
    return n;
}

static void monitor_failed(periscope_xen_monitor *m, int32_t status)
{
    pthread_mutex_lock(&m->lock);
    m->stats.state = PERISCOPE_XEN_MONITOR_FAILED;
    m->stats.last_status = status;
    m->stats.last_errno = pxe_errno;
    pthread_mutex_unlock(&m->lock);
}

static void monitor_release(periscope_xen_monitor *m);

/*
 * Xen counts the CR3 writes its filter suppressed and the breakpoint hits its DTB filter kept back (neither
 * reaches the ring); read back at most every 100 ms into the stats and the ring's counters.
 */
static void refresh_suppressed(periscope_xen_monitor *m, uint64_t *next_ns)
{
    uint64_t now = periscope_now_ns();
    if (!(m->d->features & PERISCOPE_XEN_FEATURE_CR3_FILTER) || now < *next_ns)
        return;
    *next_ns = now + 100000000ULL;
    struct xen_domctl_periscope_cr3_filter f = {0};
    if (periscope_domctl(m->d->x, m->d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_CR3_FILTER_GET, &f, sizeof f) != 0)
        return; /* a vanished domain is noticed by the idle check */
    struct xen_domctl_periscope_bp_switch w = {0};
    if ((m->d->features & PERISCOPE_XEN_FEATURE_BREAKPOINTS) &&
        bp_switch_domctl(m, XEN_PERISCOPE_BP_SWITCH_QUERY, &w) != 0)
        return;
    pxm_core_hypervisor_counts(&m->core, f.suppressed, w.quiet);
    pthread_mutex_lock(&m->lock);
    m->stats.hypervisor_suppressed = f.suppressed;
    pthread_mutex_unlock(&m->lock);
}

static void *event_thread(void *arg)
{
    periscope_xen_monitor *m = arg;
    int32_t failure = PERISCOPE_XEN_OK;
    int failure_errno = 0;
    int fd = xenevtchn_fd(m->xce);
    uint64_t next_suppressed_ns = 0;
    while (!m->stop) {
        int32_t s = pxm_core_poll_control(&m->core, &xen_ops, m);
        if (s != PERISCOPE_XEN_OK) {
            failure = s;
            failure_errno = pxe_errno;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 10);
        if (r < 0 && errno != EINTR) {
            failure = fail_errno(PERISCOPE_XEN_E_FAILED, "poll(evtchn)");
            failure_errno = pxe_errno;
            break;
        }
        if (r > 0) {
            xenevtchn_port_or_error_t port = xenevtchn_pending(m->xce);
            if (port >= 0)
                xenevtchn_unmask(m->xce, port);
        }
        int n = drain(m, 1);
        if (m->core.failure != PERISCOPE_XEN_OK) { /* a control applied while answering a request failed */
            failure = m->core.failure;
            failure_errno = pxe_errno;
            break;
        }
        pthread_mutex_lock(&m->lock);
        m->stats.requests += (uint64_t)n;
        m->stats.records = m->core.records;
        m->stats.filtered = m->core.filtered;
        pthread_mutex_unlock(&m->lock);
        refresh_suppressed(m, &next_suppressed_ns);
        if (r == 0) { /* idle: is the domain still there? */
            xc_domaininfo_t di;
            if (xc_domain_getinfolist(m->d->x->xch, m->d->domid, 1, &di) != 1 || di.domain != m->d->domid ||
                (di.flags & XEN_DOMINF_dying)) {
                failure = pxe_fail(PERISCOPE_XEN_E_NO_DOMAIN, 0, "domain %u is gone", m->d->domid);
                failure_errno = pxe_errno;
                break;
            }
        }
    }
    if (!m->stop)
        monitor_release(m); /* stopped on an error: nothing stays armed until someone calls stop */
    if (failure) {
        pxe_errno = failure_errno;
        monitor_failed(m, failure);
    }
    return NULL;
}

static void lock_path(uint32_t domid, char *buf, size_t len)
{
    snprintf(buf, len, LOCK_DIR "/xen-monitor-%u.pid", domid);
}

/* A ring left enabled by a Periscope monitor that died (its lock file names a dead process). */
static int ring_owner_dead(uint32_t domid)
{
    char path[96];
    lock_path(domid, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    int ok = fscanf(f, "%ld", &pid) == 1;
    fclose(f);
    return ok && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/*
 * Everything the monitor armed, taken down: events, filter and breakpoints disarmed, pending requests
 * answered (no vCPU left waiting), ring disabled. Runs once, on the event thread when it stops on an error
 * (the domain vanished) or on the stopping thread after the event thread ended.
 */
static void monitor_release(periscope_xen_monitor *m)
{
    if (__atomic_exchange_n(&m->released, 1, __ATOMIC_ACQ_REL))
        return;
    pxm_core_disarm(&m->core, &xen_ops, m);
    if (m->sw_bp_enabled)
        op_breakpoints(m, NULL, 0);
    drain(m, 0);
    xc_monitor_disable(m->d->x->xch, m->d->domid);
    drain(m, 0);
    xenevtchn_unbind(m->xce, (evtchn_port_t)m->local_port);
    xenevtchn_close(m->xce);
    munmap(m->ring_page, XC_PAGE_SIZE);
    pxm_core_close(&m->core);
    char path[96];
    lock_path(m->d->domid, path, sizeof path);
    unlink(path);
}

#include "monitor_life.h" /* monitor_teardown, emergency_stop, periscope_xen_monitor_stats_get/_stop */

int32_t periscope_xen_monitor_start(periscope_xen_domain *d, const char *ring_path, uint64_t token_high,
                                    uint64_t token_low, periscope_xen_monitor **out)
{
    *out = NULL;
    if (d->monitor)
        return pxe_fail(PERISCOPE_XEN_E_BUSY, 0, "domain %u already has a monitor in this process", d->domid);
    /* probed again: FLASK may have refused a sub-op at attach that it allows now (setenforce, a new policy; the
     * agent keeps a domain attached for long), and a monitor with stale features stops on its first filter or
     * breakpoint */
    d->features = probe_features(d);
    if (!(d->features & PERISCOPE_XEN_FEATURE_MONITOR))
        return pxe_fail(PERISCOPE_XEN_E_UNSUPPORTED, 0, "domain %u is PV: Xen has no vm_event for PV guests", d->domid);
    periscope_xen_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return pxe_fail(PERISCOPE_XEN_E_FAILED, ENOMEM, "out of memory");
    m->d = d;
    pthread_mutex_init(&m->lock, NULL);
    int32_t s = pxm_core_open(&m->core, ring_path, token_high, token_low, d->vcpus);
    if (s != PERISCOPE_XEN_OK)
        goto fail_free;

    uint32_t port;
    m->ring_page = xc_monitor_enable(d->x->xch, d->domid, &port);
    if (!m->ring_page && errno == EBUSY && ring_owner_dead(d->domid)) {
        xc_monitor_disable(d->x->xch, d->domid); /* left behind by a monitor that was killed */
        m->ring_page = xc_monitor_enable(d->x->xch, d->domid, &port);
    }
    if (!m->ring_page) {
        s = errno == EBUSY ? pxe_fail(PERISCOPE_XEN_E_BUSY, EBUSY, "domain %u already has a vm_event monitor", d->domid)
                           : fail_errno(PERISCOPE_XEN_E_FAILED, "xc_monitor_enable");
        goto fail_core;
    }
    m->xce = xenevtchn_open(NULL, 0);
    if (!m->xce) {
        s = fail_errno(PERISCOPE_XEN_E_FAILED, "xenevtchn_open");
        goto fail_ring;
    }
    m->local_port = xenevtchn_bind_interdomain(m->xce, d->domid, port);
    if (m->local_port < 0) {
        s = fail_errno(PERISCOPE_XEN_E_FAILED, "xenevtchn_bind_interdomain");
        goto fail_evtchn;
    }
    SHARED_RING_INIT((vm_event_sring_t *)m->ring_page);
    BACK_RING_INIT(&m->back, (vm_event_sring_t *)m->ring_page, XC_PAGE_SIZE);

    mkdir(LOCK_DIR, 0700);
    char path[96];
    lock_path(d->domid, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }

    m->stats.state = PERISCOPE_XEN_MONITOR_RUNNING;
    if (pxt_register(m, emergency_stop) != 0) {
        s = pxe_fail(PERISCOPE_XEN_E_BUSY, 0, "too many monitors in this process");
        goto fail_bound;
    }
    if (pthread_create(&m->thread, NULL, event_thread, m) != 0) {
        pxt_unregister(m);
        s = fail_errno(PERISCOPE_XEN_E_FAILED, "pthread_create");
        goto fail_bound;
    }
    d->monitor = m;
    *out = m;
    return PERISCOPE_XEN_OK;

fail_bound:
    unlink(path);
    xenevtchn_unbind(m->xce, (evtchn_port_t)m->local_port);
fail_evtchn:
    xenevtchn_close(m->xce);
fail_ring:
    xc_monitor_disable(d->x->xch, d->domid);
    munmap(m->ring_page, XC_PAGE_SIZE);
fail_core:
    pxm_core_close(&m->core);
fail_free:
    pthread_mutex_destroy(&m->lock);
    free(m);
    return s;
}

/* ---------------------------------------------------------------- snapshots (patch 3) */

int32_t periscope_xen_snapshot_begin(periscope_xen_domain *d, uint32_t nr_pages, periscope_xen_snapshot **out)
{
    *out = NULL;
    if (!(d->features & PERISCOPE_XEN_FEATURE_SNAPSHOT))
        return pxe_fail(PERISCOPE_XEN_E_UNSUPPORTED, 0, "this hypervisor has no Periscope snapshots");
    struct xen_domctl_periscope_snapshot r = {.nr_pages = nr_pages};
    if (periscope_domctl(d->x, d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_BEGIN, &r, sizeof r) != 0)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "PERISCOPE_SNAPSHOT_BEGIN");
    periscope_xen_snapshot *s = calloc(1, sizeof *s);
    if (s) {
        void *addr = NULL;
        s->res = xenforeignmemory_map_resource(d->x->fmem, d->domid, XENMEM_resource_periscope_snapshot, 0, 0,
                                               r.index_frames + r.nr_pages, &addr, PROT_READ, 0);
        s->base = addr;
    }
    if (!s || !s->res) {
        int32_t st = fail_errno(PERISCOPE_XEN_E_FAILED, "cannot map the snapshot pool");
        periscope_domctl(d->x, d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_END, &r, sizeof r);
        free(s);
        return st;
    }
    s->d = d;
    s->nr_pages = r.nr_pages;
    s->index_frames = r.index_frames;
    *out = s;
    return PERISCOPE_XEN_OK;
}

static int64_t snapshot_slot(const periscope_xen_snapshot *s, uint64_t gfn)
{
    const volatile uint64_t *index = (const volatile uint64_t *)s->base;
    for (uint32_t i = 0; i < s->nr_pages; i++) {
        uint64_t g = index[i];
        if (g == ~0ULL)
            return -1; /* slots fill in order: the rest are free */
        if (g == gfn)
            return i;
    }
    return -1;
}

int32_t periscope_xen_snapshot_read(periscope_xen_snapshot *s, uint64_t gfn, uint8_t *page)
{
    int64_t slot = snapshot_slot(s, gfn);
    if (slot < 0) {
        periscope_xen_mapping *m;
        int32_t st = periscope_xen_map(s->d, gfn, 1, &m);
        if (st != PERISCOPE_XEN_OK)
            return st;
        st = m->status[0];
        if (st == PERISCOPE_XEN_OK)
            memcpy(page, m->addr, PAGE);
        periscope_xen_unmap(m);
        if (st != PERISCOPE_XEN_OK)
            return pxe_fail(st, 0, "gfn %#llx not present", (unsigned long long)gfn);
        /* Copied while we read the live frame? The copy was taken before the write: use it. */
        slot = snapshot_slot(s, gfn);
        if (slot < 0)
            return PERISCOPE_XEN_OK;
    }
    memcpy(page, s->base + (uint64_t)(s->index_frames + (uint64_t)slot) * PAGE, PAGE);
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_snapshot_info_get(periscope_xen_snapshot *s, periscope_xen_snapshot_info *out)
{
    struct xen_domctl_periscope_snapshot r = {0};
    if (periscope_domctl(s->d->x, s->d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_QUERY, &r, sizeof r) != 0)
        return fail_errno(PERISCOPE_XEN_E_FAILED, "PERISCOPE_SNAPSHOT_QUERY");
    *out = (periscope_xen_snapshot_info){.nr_pages = r.nr_pages, .used = r.used, .overflowed = r.overflowed};
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_snapshot_end(periscope_xen_snapshot *s)
{
    if (!s)
        return PERISCOPE_XEN_E_INVALID;
    xenforeignmemory_unmap_resource(s->d->x->fmem, s->res);
    struct xen_domctl_periscope_snapshot r = {0};
    int rc = periscope_domctl(s->d->x, s->d->domid, XEN_DOMCTL_MONITOR_OP_PERISCOPE_SNAPSHOT_END, &r, sizeof r);
    int32_t st = rc == 0 ? PERISCOPE_XEN_OK : fail_errno(PERISCOPE_XEN_E_FAILED, "PERISCOPE_SNAPSHOT_END");
    free(s);
    return st;
}
