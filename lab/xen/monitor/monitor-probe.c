/*
 * monitor-probe DOMID...: run inside a tenant's monitoring domain, tries on each domain what introspection needs
 * and prints what Xen answered, one line per operation:
 *   probe DOMID OPERATION ok
 *   probe DOMID OPERATION denied errno=N (TEXT)     Xen refused: EACCES (FLASK) or EPERM
 *   probe DOMID OPERATION failed errno=N (TEXT)     any other failure
 * The operations are the hypercalls behind Periscope's engine and shim, in the order they use them:
 *   getdomaininfo   XEN_DOMCTL_getdomaininfo                               domain getdomaininfo
 *   vcpu-context    XEN_DOMCTL_getvcpucontext (vCPU 0)                     domain getvcpucontext
 *   pause           XEN_DOMCTL_pausedomain, then unpausedomain             domain pause, unpause
 *   map             one guest frame mapped read-only (foreign mmu_update)  mmu map_read
 *   vm-event        the monitor ring enabled, its event channel bound,    domain2 vm_event, hvm getparam,
 *                   both undone                                            mmu map_write, event create/bind
 *   cr3-filter      Periscope's CR3 pre-filter read (patch 0001's sub-op)  domain2 periscope_cr3_filter
 * Exit 0 when every operation was answered (ok, denied or failed), 2 on bad arguments, 1 when Xen's interfaces
 * cannot be opened here (no /dev/xen/privcmd: load xen-privcmd with unrestricted=1 in a domU).
 *
 * Built static against dom0's libxen-dev by lab/xen/xenlab.sh (the monitoring domain has no C library of its own).
 */
#include <xenctrl.h>
#include <xencall.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/domctl.h>

#include <public/periscope.h> /* xen-extensions/include: Periscope's sub-ops */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096u
/* a guest frame every lab domU has as RAM (1 MiB: above the PVH/HVM low holes, below any guest's size) */
#define PROBE_GFN 0x100u

static xc_interface *xch;
static xencall_handle *xcall;
static xenevtchn_handle *xce;
static xenforeignmemory_handle *fmem;

static void report(uint32_t domid, const char *op, int rc, int err)
{
    if (rc == 0)
        printf("probe %u %s ok\n", domid, op);
    else
        printf("probe %u %s %s errno=%d (%s)\n", domid, op, err == EACCES || err == EPERM ? "denied" : "failed", err,
               strerror(err));
    fflush(stdout);
}

static void probe_getdomaininfo(uint32_t domid)
{
    xc_dominfo_t info;
    int n = xc_domain_getinfo(xch, domid, 1, &info);
    int err = errno;
    /* the domctl answers for the next domain up when DOMID is gone: that is not this one */
    if (n == 1 && info.domid != domid) {
        n = -1;
        err = ESRCH;
    }
    report(domid, "getdomaininfo", n == 1 ? 0 : -1, err);
}

static void probe_vcpu_context(uint32_t domid)
{
    vcpu_guest_context_any_t ctx;
    int rc = xc_vcpu_getcontext(xch, domid, 0, &ctx);
    report(domid, "vcpu-context", rc, errno);
}

static void probe_pause(uint32_t domid)
{
    int rc = xc_domain_pause(xch, domid);
    int err = errno;
    if (rc == 0 && xc_domain_unpause(xch, domid) != 0) {
        /* paused and not resumed: say so loudly, the guest is stopped */
        err = errno;
        fprintf(stderr, "monitor-probe: domain %u paused but not unpaused: %s\n", domid, strerror(err));
        rc = -1;
    }
    report(domid, "pause", rc, err);
}

static void probe_map(uint32_t domid)
{
    xen_pfn_t gfn = PROBE_GFN;
    int page_err = 0;
    void *p = xenforeignmemory_map(fmem, domid, PROT_READ, 1, &gfn, &page_err);
    int err = p ? -page_err : errno;
    if (p) {
        volatile const unsigned char *b = p;
        if (page_err == 0)
            (void)b[0]; /* the frame is readable, not only mapped */
        xenforeignmemory_unmap(fmem, p, 1);
    }
    report(domid, "map", p && page_err == 0 ? 0 : -1, err);
}

static void probe_vm_event(uint32_t domid)
{
    uint32_t port = 0;
    void *ring = xc_monitor_enable(xch, domid, &port);
    if (!ring) {
        report(domid, "vm-event", -1, errno);
        return;
    }
    int local = xenevtchn_bind_interdomain(xce, domid, port);
    int err = errno;
    if (local >= 0)
        xenevtchn_unbind(xce, local);
    if (xc_monitor_disable(xch, domid) != 0 && local >= 0) {
        err = errno;
        local = -1;
    }
    munmap(ring, PAGE);
    report(domid, "vm-event", local >= 0 ? 0 : -1, err);
}

/* XEN_DOMCTL_monitor_op with Periscope's CR3_FILTER_GET, as libperiscope-xen issues it */
static void probe_cr3_filter(uint32_t domid)
{
    struct xen_domctl *dc = xencall_alloc_buffer(xcall, sizeof *dc);
    if (!dc) {
        report(domid, "cr3-filter", -1, errno);
        return;
    }
    memset(dc, 0, sizeof *dc);
    dc->cmd = XEN_DOMCTL_monitor_op;
    dc->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    dc->domain = (domid_t)domid;
    dc->u.monitor_op.op = XEN_DOMCTL_MONITOR_OP_PERISCOPE_CR3_FILTER_GET;
    int rc = xencall1(xcall, __HYPERVISOR_domctl, (uint64_t)(uintptr_t)dc);
    int err = errno;
    xencall_free_buffer(xcall, dc);
    report(domid, "cr3-filter", rc, err);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: monitor-probe DOMID...\n");
        return 2;
    }
    uint32_t domids[16];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        char *end;
        unsigned long v = strtoul(argv[i], &end, 10);
        if (*argv[i] == '\0' || *end != '\0' || v >= DOMID_FIRST_RESERVED || n == 16) {
            fprintf(stderr, "monitor-probe: '%s' is not a domain id (at most 16)\n", argv[i]);
            return 2;
        }
        domids[n++] = (uint32_t)v;
    }
    xch = xc_interface_open(NULL, NULL, 0);
    xcall = xencall_open(NULL, 0);
    xce = xenevtchn_open(NULL, 0);
    fmem = xenforeignmemory_open(NULL, 0);
    if (!xch || !xcall || !xce || !fmem) {
        fprintf(stderr, "monitor-probe: cannot open Xen's interfaces: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        probe_getdomaininfo(domids[i]);
        probe_vcpu_context(domids[i]);
        probe_pause(domids[i]);
        probe_map(domids[i]);
        probe_vm_event(domids[i]);
        probe_cr3_filter(domids[i]);
    }
    xenforeignmemory_close(fmem);
    xenevtchn_close(xce);
    xencall_close(xcall);
    xc_interface_close(xch);
    return 0;
}
