/*
 * libperiscope-xen-fake: a TEST DOUBLE of libperiscope-xen (same API, periscope_xen.h) serving synthetic
 * domains, so the Java Xen driver's code paths run on machines without Xen. Built for tests only; never
 * installed. The monitor uses the real library's monitor_core.h and teardown.h, so ring records, control
 * adoption, filtering and teardown are the production code; only the hypervisor underneath is scripted.
 *
 * periscope_xen_open(options) takes the path of a configuration file, one directive per line:
 *   domain <domid> <name> <hvm 0|1> <vcpus> <memory-file>   guest RAM: file offset = guest physical address
 *   features <domid> <PERISCOPE_XEN_FEATURE_* bits>         default: all for HVM, none for PV
 *   label <domid> <context>                                 its FLASK security context (default "")
 *   regs <domid> <vcpu> <rip> <cr3> <cr4> <efer> <gs_base> <kernel_gs_base>
 *   absent <domid> <gfn>                                    this frame reads as not present
 *   translate <domid> <gva> <gfn>                           page walk result for breakpoints
 *   cr3 <domid> <vcpu> <old> <new> <rip>                    scripted CR3 write (delivered once armed)
 *   bp <domid> <vcpu> <gfn> <rip> <cr3> <rax> <rdi> <rsi> <rdx> <r10> <r8> <r9>   scripted breakpoint hit
 *   fail <op> <status> <errno>                              op: open attach map registers pause monitor
 *   gone_after <domid> <n>                                  the domain disappears after n scripted events
 * A PV domain's page tables hold machine frames: here a PV domain's frame g is machine frame
 * g + PERISCOPE_XEN_FAKE_PV_MACHINE_BASE (periscope_xen_gfn_of_frame translates back; other frames are not its).
 * Numbers are decimal or 0x-prefixed hex. With the CR3_FILTER feature the fake "hypervisor" applies the
 * DTB filter itself (suppressed events never reach the ring), as patch 0001 does, and keeps breakpoints as
 * patches 0002 and 0005 do: a scripted hit on a switched breakpoint while the switch is off runs untrapped, a hit
 * on a DTB-filtered one from another address space stays "in Xen" (counted quiet); the switch flips by domctl
 * (the domain paused) or in the response to a paused vCPU's request (no pause).
 *
 * Test-only symbols (not in periscope_xen.h): periscope_xen_fake_armed() reports what is still armed,
 * periscope_xen_fake_breakpoint_writes() how often the breakpoint table was rewritten,
 * periscope_xen_fake_owns_breakpoint() whether the monitor takes a breakpoint hit as its own,
 * periscope_xen_fake_switches() how the breakpoint switch flipped and how often the domain was paused for it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>

#include "../monitor_core.h"
#include "../teardown.h"

#define PAGE 4096u
#define MAX_DOMS 8
#define MAX_EVENTS 4096
#define MAX_SMALL 64

#define FAKE_ARMED_CR3 0x1u
#define FAKE_ARMED_FILTER 0x2u
#define FAKE_ARMED_BREAKPOINTS 0x4u
#define FAKE_ARMED_RING 0x8u

typedef struct fake_event {
    int bp;
    pxm_event e;
} fake_event;

typedef struct fake_dom {
    uint32_t domid, hvm, vcpus, features, gone_after, gone;
    int has_gone_after;
    char name[64];
    char label[128];
    char memfile[512];
    uint64_t mem_size;
    periscope_xen_vcpu_regs regs[MAX_SMALL];
    uint64_t absent[MAX_SMALL];
    uint32_t nabsent;
    uint64_t tr_gva[MAX_SMALL], tr_gfn[MAX_SMALL];
    uint32_t ntr;
    fake_event events[MAX_EVENTS];
    uint32_t nevents;
    int paused;
    /* the fake hypervisor's state */
    volatile uint32_t armed;
    volatile uint32_t breakpoint_writes; /* calls that rewrote the breakpoint table (guest code) */
    int cr3_sync;
    uint64_t dtbs[PERISCOPE_RING_MAX_DTBS];
    uint32_t ndtbs;
    uint64_t suppressed;
    pxm_bp bps[PERISCOPE_RING_MAX_BREAKPOINTS]; /* the hypervisor's breakpoint table */
    uint32_t nbps;
    int bp_on;                                  /* its switch */
    volatile uint32_t switch_domctls, switch_responses, domain_pauses;
    uint64_t bp_quiet, bp_untrapped;
    pthread_mutex_t lock;
} fake_dom;

struct periscope_xen {
    fake_dom doms[MAX_DOMS];
    uint32_t ndoms;
    char fail_op[16];
    int32_t fail_status, fail_errno;
};

struct periscope_xen_domain {
    periscope_xen *x;
    fake_dom *f;
    int fd;
    periscope_xen_monitor *monitor;
};

struct periscope_xen_mapping {
    void *addr;
    uint32_t count;
    int32_t status[];
};

struct periscope_xen_monitor {
    periscope_xen_domain *d;
    pxm_core core;
    pthread_t thread;
    pthread_mutex_t lock;
    volatile int stop;
    int stopped;
    int released;
    uint32_t next_event;
    periscope_xen_monitor_stats stats;
};

struct periscope_xen_snapshot {
    periscope_xen_domain *d;
};

static int32_t injected(periscope_xen *x, const char *op)
{
    if (strcmp(x->fail_op, op) != 0)
        return PERISCOPE_XEN_OK;
    return pxe_fail(x->fail_status, x->fail_errno, "fake: injected failure of %s", op);
}

static fake_dom *find(periscope_xen *x, uint32_t domid)
{
    for (uint32_t i = 0; i < x->ndoms; i++)
        if (x->doms[i].domid == domid)
            return &x->doms[i];
    return NULL;
}

static uint64_t num(const char *s) { return strtoull(s, NULL, 0); }

int32_t periscope_xen_open(const char *options, periscope_xen **out)
{
    *out = NULL;
    FILE *cfg = options ? fopen(options, "r") : NULL;
    if (!cfg)
        return pxe_fail(PERISCOPE_XEN_E_UNAVAILABLE, errno, "fake: no configuration file \"%s\"", options ? options : "");
    periscope_xen *x = calloc(1, sizeof *x);
    char line[1024];
    int32_t status = PERISCOPE_XEN_OK;
    while (fgets(line, sizeof line, cfg)) {
        char *t[16];
        int n = 0;
        for (char *p = strtok(line, " \t\r\n"); p && n < 16; p = strtok(NULL, " \t\r\n"))
            t[n++] = p;
        if (n == 0 || t[0][0] == '#')
            continue;
        fake_dom *f = n > 1 ? find(x, (uint32_t)num(t[1])) : NULL;
        if (!strcmp(t[0], "domain") && n == 6 && x->ndoms < MAX_DOMS) {
            f = &x->doms[x->ndoms++];
            f->domid = (uint32_t)num(t[1]);
            snprintf(f->name, sizeof f->name, "%s", t[2]);
            f->hvm = (uint32_t)num(t[3]);
            f->vcpus = (uint32_t)num(t[4]);
            snprintf(f->memfile, sizeof f->memfile, "%s", t[5]);
            f->features = f->hvm ? 0xf : 0;
            struct stat st;
            f->mem_size = stat(f->memfile, &st) == 0 ? (uint64_t)st.st_size : 0;
            pthread_mutex_init(&f->lock, NULL);
            for (uint32_t v = 0; v < MAX_SMALL; v++)
                f->regs[v].vcpu = v;
        } else if (!strcmp(t[0], "label") && f && n == 3) {
            snprintf(f->label, sizeof f->label, "%s", t[2]);
        } else if (!strcmp(t[0], "features") && f && n == 3) {
            f->features = (uint32_t)num(t[2]);
        } else if (!strcmp(t[0], "regs") && f && n == 9 && num(t[2]) < MAX_SMALL) {
            periscope_xen_vcpu_regs *r = &f->regs[num(t[2])];
            r->rip = num(t[3]);
            r->cr3 = num(t[4]);
            r->cr4 = num(t[5]);
            r->efer = num(t[6]);
            r->gs_base = num(t[7]);
            r->kernel_gs_base = num(t[8]);
        } else if (!strcmp(t[0], "absent") && f && n == 3 && f->nabsent < MAX_SMALL) {
            f->absent[f->nabsent++] = num(t[2]);
        } else if (!strcmp(t[0], "translate") && f && n == 4 && f->ntr < MAX_SMALL) {
            f->tr_gva[f->ntr] = num(t[2]);
            f->tr_gfn[f->ntr++] = num(t[3]);
        } else if (!strcmp(t[0], "cr3") && f && n == 6 && f->nevents < MAX_EVENTS) {
            f->events[f->nevents++] = (fake_event){0, {.kind = PXM_EV_CR3, .vcpu = (uint32_t)num(t[2]),
                                                       .old_cr3 = num(t[3]), .new_cr3 = num(t[4]), .rip = num(t[5])}};
        } else if (!strcmp(t[0], "bp") && f && n == 13 && f->nevents < MAX_EVENTS) {
            f->events[f->nevents++] = (fake_event){1, {.kind = PXM_EV_BREAKPOINT, .vcpu = (uint32_t)num(t[2]),
                                                       .gfn = num(t[3]), .rip = num(t[4]), .cr3 = num(t[5]),
                                                       .rax = num(t[6]), .rdi = num(t[7]), .rsi = num(t[8]),
                                                       .rdx = num(t[9]), .r10 = num(t[10]), .r8 = num(t[11]),
                                                       .r9 = num(t[12])}};
        } else if (!strcmp(t[0], "fail") && n == 4) {
            snprintf(x->fail_op, sizeof x->fail_op, "%s", t[1]);
            x->fail_status = (int32_t)num(t[2]);
            x->fail_errno = (int32_t)num(t[3]);
        } else if (!strcmp(t[0], "gone_after") && f && n == 3) {
            f->gone_after = (uint32_t)num(t[2]);
            f->has_gone_after = 1;
        } else {
            status = pxe_fail(PERISCOPE_XEN_E_INVALID, 0, "fake: bad configuration line starting \"%s\"", t[0]);
            break;
        }
    }
    fclose(cfg);
    if (status == PERISCOPE_XEN_OK)
        status = injected(x, "open");
    if (status != PERISCOPE_XEN_OK) {
        free(x);
        return status;
    }
    *out = x;
    return PERISCOPE_XEN_OK;
}

void periscope_xen_close(periscope_xen *x) { free(x); }

static void fill_info(const fake_dom *f, periscope_xen_domain_info *o)
{
    memset(o, 0, sizeof *o);
    o->domid = f->domid;
    o->flags = (f->hvm ? PERISCOPE_XEN_DOMAIN_HVM : 0) | (f->paused ? PERISCOPE_XEN_DOMAIN_PAUSED : 0);
    o->vcpus = f->vcpus;
    o->memory_bytes = f->mem_size;
    o->max_gfn = f->mem_size ? f->mem_size / PAGE - 1 : 0;
    snprintf(o->name, sizeof o->name, "%s", f->name);
    snprintf(o->label, sizeof o->label, "%s", f->label);
}

int32_t periscope_xen_list(periscope_xen *x, periscope_xen_domain_info *out, uint32_t capacity, uint32_t *count)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < x->ndoms; i++)
        if (!x->doms[i].gone) {
            if (n < capacity)
                fill_info(&x->doms[i], &out[n]);
            n++;
        }
    *count = n;
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_attach(periscope_xen *x, uint32_t domid, periscope_xen_domain **out)
{
    *out = NULL;
    int32_t s = injected(x, "attach");
    if (s != PERISCOPE_XEN_OK)
        return s;
    fake_dom *f = find(x, domid);
    if (!f || f->gone)
        return pxe_fail(PERISCOPE_XEN_E_NO_DOMAIN, ESRCH, "domain %u does not exist", domid);
    int fd = open(f->memfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pxe_fail(PERISCOPE_XEN_E_FAILED, errno, "fake: cannot open %s", f->memfile);
    periscope_xen_domain *d = calloc(1, sizeof *d);
    d->x = x;
    d->f = f;
    d->fd = fd;
    *out = d;
    return PERISCOPE_XEN_OK;
}

void periscope_xen_detach(periscope_xen_domain *d)
{
    if (!d)
        return;
    if (d->monitor)
        periscope_xen_monitor_stop(d->monitor);
    close(d->fd);
    free(d);
}

static int32_t gone(periscope_xen_domain *d)
{
    return d->f->gone ? pxe_fail(PERISCOPE_XEN_E_NO_DOMAIN, ESRCH, "domain %u is gone", d->f->domid) : PERISCOPE_XEN_OK;
}

int32_t periscope_xen_info(periscope_xen_domain *d, periscope_xen_domain_info *out)
{
    int32_t s = gone(d);
    if (s == PERISCOPE_XEN_OK)
        fill_info(d->f, out);
    return s;
}

uint32_t periscope_xen_features(periscope_xen_domain *d) { return d->f->features; }

int32_t periscope_xen_map(periscope_xen_domain *d, uint64_t gfn, uint32_t count, periscope_xen_mapping **out)
{
    *out = NULL;
    int32_t s = gone(d);
    if (s == PERISCOPE_XEN_OK)
        s = injected(d->x, "map");
    if (s != PERISCOPE_XEN_OK)
        return s;
    if (count == 0 || count > (1u << 20))
        return pxe_fail(PERISCOPE_XEN_E_INVALID, 0, "cannot map %u frames", count);
    periscope_xen_mapping *m = calloc(1, sizeof *m + count * sizeof(int32_t));
    m->addr = mmap(NULL, (size_t)count * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m->count = count;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t g = gfn + i;
        int present = (g + 1) * PAGE <= d->f->mem_size;
        for (uint32_t a = 0; a < d->f->nabsent; a++)
            present &= d->f->absent[a] != g;
        if (present && pread(d->fd, (uint8_t *)m->addr + (size_t)i * PAGE, PAGE, (off_t)(g * PAGE)) != PAGE)
            present = 0;
        m->status[i] = present ? PERISCOPE_XEN_OK : PERISCOPE_XEN_E_NOT_PRESENT;
    }
    mprotect(m->addr, (size_t)count * PAGE, PROT_READ);
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
    munmap(m->addr, (size_t)m->count * PAGE);
    free(m);
}

#define PERISCOPE_XEN_FAKE_PV_MACHINE_BASE 0x100000ULL

int32_t periscope_xen_gfn_of_frame(periscope_xen_domain *d, uint64_t frame, uint64_t *gfn)
{
    *gfn = frame;
    int32_t s = gone(d);
    if (s != PERISCOPE_XEN_OK || d->f->hvm)
        return s;
    uint64_t g = frame - PERISCOPE_XEN_FAKE_PV_MACHINE_BASE;
    if (frame < PERISCOPE_XEN_FAKE_PV_MACHINE_BASE || (g + 1) * PAGE > d->f->mem_size)
        return pxe_fail(PERISCOPE_XEN_E_NOT_PRESENT, 0, "machine frame 0x%llx is not domain %u's",
                        (unsigned long long)frame, d->f->domid);
    *gfn = g;
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_vcpu_registers(periscope_xen_domain *d, uint32_t vcpu, periscope_xen_vcpu_regs *out)
{
    int32_t s = gone(d);
    if (s == PERISCOPE_XEN_OK)
        s = injected(d->x, "registers");
    if (s != PERISCOPE_XEN_OK)
        return s;
    if (vcpu >= d->f->vcpus || vcpu >= MAX_SMALL)
        return pxe_fail(PERISCOPE_XEN_E_INVALID, 0, "domain %u has no vCPU %u", d->f->domid, vcpu);
    *out = d->f->regs[vcpu];
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_pause(periscope_xen_domain *d)
{
    int32_t s = gone(d);
    if (s == PERISCOPE_XEN_OK)
        s = injected(d->x, "pause");
    if (s == PERISCOPE_XEN_OK)
        d->f->paused = 1;
    return s;
}

int32_t periscope_xen_resume(periscope_xen_domain *d)
{
    int32_t s = gone(d);
    if (s == PERISCOPE_XEN_OK)
        d->f->paused = 0;
    return s;
}

/* ---- the fake hypervisor under the shared monitor core ---- */

static void set_armed(fake_dom *f, uint32_t bit, int on)
{
    pthread_mutex_lock(&f->lock);
    f->armed = on ? (f->armed | bit) : (f->armed & ~bit);
    pthread_mutex_unlock(&f->lock);
}

static int32_t op_cr3_events(void *ctx, int enable, int sync)
{
    periscope_xen_monitor *m = ctx;
    int32_t s = gone(m->d);
    if (s != PERISCOPE_XEN_OK && enable)
        return s;
    m->d->f->cr3_sync = sync;
    set_armed(m->d->f, FAKE_ARMED_CR3, enable);
    return PERISCOPE_XEN_OK;
}

static int32_t op_cr3_filter(void *ctx, const uint64_t *dtbs, uint32_t n)
{
    periscope_xen_monitor *m = ctx;
    fake_dom *f = m->d->f;
    if (!(f->features & PERISCOPE_XEN_FEATURE_CR3_FILTER))
        return PERISCOPE_XEN_E_UNSUPPORTED;
    if (n > PERISCOPE_RING_MAX_DTBS)
        return pxe_fail(PERISCOPE_XEN_E_INVALID, E2BIG, "too many DTBs");
    memcpy(f->dtbs, dtbs, n * sizeof *dtbs);
    f->ndtbs = n;
    set_armed(f, FAKE_ARMED_FILTER, n > 0);
    return PERISCOPE_XEN_OK;
}

static int32_t op_translate(void *ctx, uint64_t gva, uint64_t *gfn)
{
    periscope_xen_monitor *m = ctx;
    for (uint32_t i = 0; i < m->d->f->ntr; i++)
        if (m->d->f->tr_gva[i] == (gva & ~0xfffULL)) {
            *gfn = m->d->f->tr_gfn[i];
            return PERISCOPE_XEN_OK;
        }
    return pxe_fail(PERISCOPE_XEN_E_NOT_PRESENT, EFAULT, "fake: gva %#llx not mapped", (unsigned long long)gva);
}

static int32_t op_breakpoints(void *ctx, const pxm_bp *bps, uint32_t n)
{
    periscope_xen_monitor *m = ctx;
    fake_dom *f = m->d->f;
    if (n && !(f->features & PERISCOPE_XEN_FEATURE_BREAKPOINTS))
        return pxe_fail(PERISCOPE_XEN_E_UNSUPPORTED, 0, "this hypervisor has no Periscope breakpoints");
    pthread_mutex_lock(&f->lock);
    memcpy(f->bps, bps, n * sizeof *bps);
    f->nbps = n;
    pthread_mutex_unlock(&f->lock);
    set_armed(f, FAKE_ARMED_BREAKPOINTS, n > 0);
    __atomic_add_fetch(&f->breakpoint_writes, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&f->domain_pauses, 1, __ATOMIC_RELAXED);
    return PERISCOPE_XEN_OK;
}

static int32_t op_bp_switch(void *ctx, int on)
{
    periscope_xen_monitor *m = ctx;
    fake_dom *f = m->d->f;
    f->bp_on = on;
    __atomic_add_fetch(&f->switch_domctls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&f->domain_pauses, 1, __ATOMIC_RELAXED);
    return PERISCOPE_XEN_OK;
}

static const pxm_ops fake_ops = {op_cr3_events, op_cr3_filter, op_translate, op_breakpoints, op_bp_switch};

static int fake_dtb_in_set(const fake_dom *f, uint64_t cr3)
{
    for (uint32_t i = 0; i < f->ndtbs; i++)
        if (f->dtbs[i] == (cr3 & PERISCOPE_DTB_MASK))
            return 1;
    return 0;
}

/* Patch 0001: only switches to or from the set pass (a KPTI flip within one address space is none). */
static int fake_filter_pass(const fake_dom *f, const pxm_event *e)
{
    if (!(f->armed & FAKE_ARMED_FILTER))
        return 1;
    if (((e->old_cr3 ^ e->new_cr3) & PERISCOPE_DTB_MASK) == 0)
        return 0;
    return fake_dtb_in_set(f, e->new_cr3) || fake_dtb_in_set(f, e->old_cr3);
}

/* Patch 0005: where a scripted breakpoint hit ends (NULL: it is not trapped at all; *quiet: kept in Xen). */
static const pxm_bp *fake_bp_hit(fake_dom *f, const pxm_event *e, int *quiet)
{
    *quiet = 0;
    for (uint32_t i = 0; i < f->nbps; i++) {
        const pxm_bp *b = &f->bps[i];
        if (b->gfn != e->gfn || b->offset != (e->rip & 0xfff))
            continue;
        if ((b->flags & PXM_BP_SWITCHED) && !f->bp_on)
            return NULL; /* the guest's own byte is in memory: no trap */
        *quiet = (b->flags & PXM_BP_DTB_FILTER) && !((f->armed & FAKE_ARMED_FILTER) && fake_dtb_in_set(f, e->cr3));
        return b;
    }
    return NULL;
}

static void fake_failed(periscope_xen_monitor *m, int32_t status)
{
    pthread_mutex_lock(&m->lock);
    m->stats.state = PERISCOPE_XEN_MONITOR_FAILED;
    m->stats.last_status = status;
    m->stats.last_errno = pxe_errno;
    pthread_mutex_unlock(&m->lock);
}

static void monitor_release(periscope_xen_monitor *m);

static void *fake_thread(void *arg)
{
    periscope_xen_monitor *m = arg;
    int32_t failure = PERISCOPE_XEN_OK;
    int failure_errno = 0;
    fake_dom *f = m->d->f;
    while (!m->stop) {
        int32_t s = pxm_core_poll_control(&m->core, &fake_ops, m);
        if (s != PERISCOPE_XEN_OK) {
            failure = s;
            failure_errno = pxe_errno;
            break;
        }
        int delivered = 0;
        while (m->next_event < f->nevents && !m->stop) {
            const fake_event *fe = &f->events[m->next_event];
            int armed = fe->bp ? (f->armed & FAKE_ARMED_BREAKPOINTS) : (f->armed & FAKE_ARMED_CR3);
            if (!armed)
                break; /* the scripted guest waits until the monitor arms this event */
            if (f->has_gone_after && m->next_event >= f->gone_after) {
                f->gone = 1;
                break;
            }
            m->next_event++;
            pxm_event e = fe->e;
            if (!fe->bp && !fake_filter_pass(f, &e)) {
                f->suppressed++;
                continue;
            }
            if (fe->bp) {
                int quiet;
                const pxm_bp *b = fake_bp_hit(f, &e, &quiet);
                if (!b || quiet) {
                    *(b ? &f->bp_quiet : &f->bp_untrapped) += 1;
                    continue;
                }
                e.paused = (b->flags & PXM_BP_SYNC) != 0;
            } else {
                e.paused = f->cr3_sync;
            }
            pxm_core_deliver(&m->core, &fake_ops, m, &e);
            int sw = pxm_core_take_response_switch(&m->core);
            if (sw != PXM_SWITCH_NONE) { /* Xen applies it while the vCPU still waits: no domain pause */
                f->bp_on = sw;
                __atomic_add_fetch(&f->switch_responses, 1, __ATOMIC_RELAXED);
            }
            delivered++;
            pthread_mutex_lock(&m->lock);
            m->stats.requests++;
            pthread_mutex_unlock(&m->lock);
        }
        pxm_core_hypervisor_counts(&m->core, f->suppressed, f->bp_quiet);
        pthread_mutex_lock(&m->lock);
        m->stats.records = m->core.records;
        m->stats.filtered = m->core.filtered;
        m->stats.hypervisor_suppressed = f->suppressed;
        pthread_mutex_unlock(&m->lock);
        if (m->core.failure != PERISCOPE_XEN_OK) {
            failure = m->core.failure;
            failure_errno = pxe_errno;
            break;
        }
        if (f->gone) {
            failure = pxe_fail(PERISCOPE_XEN_E_NO_DOMAIN, ESRCH, "domain %u is gone", f->domid);
            failure_errno = pxe_errno;
            break;
        }
        if (!delivered) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!m->stop)
        monitor_release(m); /* stopped on an error: nothing stays armed until someone calls stop */
    if (failure) {
        pxe_errno = failure_errno;
        fake_failed(m, failure);
    }
    return NULL;
}

/* Disarms everything and detaches from the ring; once, from the event thread on an error or from stop. */
static void monitor_release(periscope_xen_monitor *m)
{
    if (__atomic_exchange_n(&m->released, 1, __ATOMIC_ACQ_REL))
        return;
    pxm_core_disarm(&m->core, &fake_ops, m);
    set_armed(m->d->f, FAKE_ARMED_CR3 | FAKE_ARMED_FILTER | FAKE_ARMED_BREAKPOINTS | FAKE_ARMED_RING, 0);
    pxm_core_close(&m->core);
}

#include "../monitor_life.h" /* monitor_teardown, emergency_stop, periscope_xen_monitor_stats_get/_stop */

int32_t periscope_xen_monitor_start(periscope_xen_domain *d, const char *ring_path, uint64_t token_high,
                                    uint64_t token_low, periscope_xen_monitor **out)
{
    *out = NULL;
    int32_t s = gone(d);
    if (s == PERISCOPE_XEN_OK)
        s = injected(d->x, "monitor");
    if (s != PERISCOPE_XEN_OK)
        return s;
    if (!(d->f->features & PERISCOPE_XEN_FEATURE_MONITOR))
        return pxe_fail(PERISCOPE_XEN_E_UNSUPPORTED, 0, "domain %u is PV: Xen has no vm_event for PV guests", d->f->domid);
    if (d->monitor || (d->f->armed & FAKE_ARMED_RING))
        return pxe_fail(PERISCOPE_XEN_E_BUSY, EBUSY, "domain %u already has a vm_event monitor", d->f->domid);
    periscope_xen_monitor *m = calloc(1, sizeof *m);
    m->d = d;
    pthread_mutex_init(&m->lock, NULL);
    s = pxm_core_open(&m->core, ring_path, token_high, token_low, d->f->vcpus);
    if (s != PERISCOPE_XEN_OK) {
        free(m);
        return s;
    }
    set_armed(d->f, FAKE_ARMED_RING, 1);
    m->stats.state = PERISCOPE_XEN_MONITOR_RUNNING;
    pxt_register(m, emergency_stop);
    pthread_create(&m->thread, NULL, fake_thread, m);
    d->monitor = m;
    *out = m;
    return PERISCOPE_XEN_OK;
}

/* Snapshots: the fake's guest never writes, so the live frame is the snapshot's view. */
int32_t periscope_xen_snapshot_begin(periscope_xen_domain *d, uint32_t nr_pages, periscope_xen_snapshot **out)
{
    *out = NULL;
    if (!(d->f->features & PERISCOPE_XEN_FEATURE_SNAPSHOT))
        return pxe_fail(PERISCOPE_XEN_E_UNSUPPORTED, 0, "this hypervisor has no Periscope snapshots");
    if (nr_pages == 0 || nr_pages > 65536)
        return pxe_fail(PERISCOPE_XEN_E_INVALID, EINVAL, "bad pool size %u", nr_pages);
    periscope_xen_snapshot *s = calloc(1, sizeof *s);
    s->d = d;
    *out = s;
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_snapshot_read(periscope_xen_snapshot *s, uint64_t gfn, uint8_t *page)
{
    periscope_xen_mapping *m;
    int32_t st = periscope_xen_map(s->d, gfn, 1, &m);
    if (st != PERISCOPE_XEN_OK)
        return st;
    st = m->status[0];
    if (st == PERISCOPE_XEN_OK)
        memcpy(page, m->addr, PAGE);
    else
        pxe_fail(st, 0, "gfn %#llx not present", (unsigned long long)gfn);
    periscope_xen_unmap(m);
    return st;
}

int32_t periscope_xen_snapshot_info_get(periscope_xen_snapshot *s, periscope_xen_snapshot_info *out)
{
    *out = (periscope_xen_snapshot_info){.nr_pages = 1};
    return gone(s->d);
}

int32_t periscope_xen_snapshot_end(periscope_xen_snapshot *s)
{
    free(s);
    return PERISCOPE_XEN_OK;
}

/* Test-only: FAKE_ARMED_* bits of what the fake hypervisor still has armed for the domain. */
uint32_t periscope_xen_fake_armed(periscope_xen_domain *d) { return d->f->armed; }

/* Test-only: whether the monitor takes a breakpoint hit at gfn:rip as its own (set now or earlier). */
int periscope_xen_fake_owns_breakpoint(periscope_xen_monitor *m, uint64_t gfn, uint64_t rip)
{
    return pxm_core_owns_bp(&m->core, gfn, rip);
}

/* Test-only: how often the breakpoint table (guest code, in Xen) was rewritten. */
uint32_t periscope_xen_fake_breakpoint_writes(periscope_xen_domain *d)
{
    return __atomic_load_n(&d->f->breakpoint_writes, __ATOMIC_RELAXED);
}

/*
 * Test-only: the breakpoint switch (on), how often it flipped by domctl and in responses, how often the domain was
 * paused for breakpoints (rewrites and domctl switches), and scripted hits kept in Xen (quiet) or not trapped.
 */
void periscope_xen_fake_switches(periscope_xen_domain *d, uint32_t *on, uint32_t *domctls, uint32_t *responses,
                                 uint32_t *pauses, uint64_t *quiet, uint64_t *untrapped)
{
    fake_dom *f = d->f;
    *on = (uint32_t)f->bp_on;
    *domctls = __atomic_load_n(&f->switch_domctls, __ATOMIC_RELAXED);
    *responses = __atomic_load_n(&f->switch_responses, __ATOMIC_RELAXED);
    *pauses = __atomic_load_n(&f->domain_pauses, __ATOMIC_RELAXED);
    *quiet = f->bp_quiet;
    *untrapped = f->bp_untrapped;
}
