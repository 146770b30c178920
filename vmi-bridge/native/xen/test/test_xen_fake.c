/*
 * C tests of the monitor path (monitor_core.h + teardown) through the fake library: control adoption,
 * the hypervisor CR3 filter, SYSCALL records at breakpoints, error statuses and teardown on errors.
 * Usage: test_xen_fake <scratch-dir>
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "periscope_ring_ops.h"
#include "periscope_xen.h"

uint32_t periscope_xen_fake_armed(periscope_xen_domain *d);
uint32_t periscope_xen_fake_breakpoint_writes(periscope_xen_domain *d);
int periscope_xen_fake_owns_breakpoint(periscope_xen_monitor *m, uint64_t gfn, uint64_t rip);
void periscope_xen_fake_switches(periscope_xen_domain *d, uint32_t *on, uint32_t *domctls, uint32_t *responses,
                                 uint32_t *pauses, uint64_t *quiet, uint64_t *untrapped);

static int failures, checks;
#define CHECK(c)                                                                                       \
    do {                                                                                               \
        checks++;                                                                                      \
        if (!(c)) {                                                                                    \
            failures++;                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #c,                  \
                    periscope_xen_last_error());                                                       \
        }                                                                                              \
    } while (0)

static char dir[512];

static void write_file(const char *name, const char *text)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static periscope_ring_header *make_ring(const char *name, size_t *size)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    *size = periscope_ring_total_size(2, 64);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (ftruncate(fd, (off_t)*size) != 0)
        abort();
    void *base = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    periscope_ring_init(base, 2, 64);
    return base;
}

static void control(periscope_ring_header *h, uint32_t mode, const uint64_t *dtbs, uint32_t ndtbs, uint64_t gva)
{
    periscope_control c;
    memset(&c, 0, sizeof c);
    c.token[0] = 1;
    c.token[1] = 2;
    c.mode = mode;
    c.sync_timeout_us = 2000000; /* the test's consumer polls every millisecond */
    c.dtb_count = ndtbs;
    memcpy(c.dtbs, dtbs, ndtbs * sizeof *dtbs);
    if (gva) {
        c.breakpoint_count = 1;
        c.breakpoints[0].gva = gva;
        c.breakpoints[0].kind = PERISCOPE_BP_SYSCALL_ENTRY;
    }
    periscope_control_write(h, &c);
}

static periscope_record records[64];
static uint32_t nrec;
static void collect(const periscope_record *r, void *ctx)
{
    (void)ctx;
    if (nrec < 64)
        records[nrec++] = *r;
}

static void wait_records(periscope_ring_header *h, uint32_t want)
{
    for (int i = 0; i < 2000 && nrec < want; i++) {
        periscope_consume(h, 0, 64, collect, NULL);
        periscope_consume(h, 1, 64, collect, NULL);
        usleep(1000);
    }
}

/* Waits until the monitor adopted the control block last written. */
static void wait_applied(periscope_ring_header *h)
{
    for (int i = 0; i < 2000 && h->control_applied_generation != h->control.generation; i++)
        usleep(1000);
}

static void test_events_and_teardown(periscope_xen *x)
{
    periscope_xen_domain *d;
    CHECK(periscope_xen_attach(x, 7, &d) == PERISCOPE_XEN_OK);
    CHECK(periscope_xen_features(d) == 0xf);
    size_t size;
    periscope_ring_header *h = make_ring("r1.ring", &size);
    uint64_t dtb = 0x2000;
    control(h, PERISCOPE_MODE_CR3 | PERISCOPE_MODE_CR3_FILTER | PERISCOPE_MODE_SYSCALL, &dtb, 1, 0xffffffff81000040ULL);
    char p[600];
    snprintf(p, sizeof p, "%s/r1.ring", dir);
    periscope_xen_monitor *m;
    CHECK(periscope_xen_monitor_start(d, p, 1, 2, &m) == PERISCOPE_XEN_OK);
    nrec = 0;
    wait_records(h, 3);
    CHECK(nrec == 3);
    /* lanes are consumed one after the other: find each record by vCPU and kind */
    const periscope_record *cr3_0 = NULL, *cr3_1 = NULL, *sys = NULL;
    for (uint32_t i = 0; i < nrec; i++) {
        if (records[i].kind == PERISCOPE_KIND_SYSCALL)
            sys = &records[i];
        else if (records[i].kind == PERISCOPE_KIND_CR3_WRITE)
            *(records[i].vcpu ? &cr3_1 : &cr3_0) = &records[i];
    }
    CHECK(cr3_0 && cr3_0->new_cr3 == 0x2000 && (cr3_0->flags & PERISCOPE_RECORD_FILTER_HIT));
    CHECK(cr3_1 && cr3_1->old_cr3 == 0x3001); /* the KPTI user half of a watched DTB */
    CHECK(sys && sys->vcpu == 0 && sys->syscall_nr == 59 && sys->args[0] == 0x11 && sys->args[3] == 0x44);
    CHECK(periscope_xen_fake_armed(d) == 0xf);
    periscope_xen_monitor_stats st;
    periscope_xen_monitor_stats_get(m, &st);
    CHECK(st.hypervisor_suppressed == 2);
    CHECK(st.state == PERISCOPE_XEN_MONITOR_RUNNING);
    /* a new filter set keeps the breakpoints as they are (rewriting guest code pauses the domain); a mode that
     * makes them synchronous rewrites them */
    uint32_t writes = periscope_xen_fake_breakpoint_writes(d);
    uint64_t dtbs2[2] = {0x2000, 0x7000};
    control(h, PERISCOPE_MODE_CR3 | PERISCOPE_MODE_CR3_FILTER | PERISCOPE_MODE_SYSCALL, dtbs2, 2, 0xffffffff81000040ULL);
    wait_applied(h);
    CHECK(periscope_xen_fake_breakpoint_writes(d) == writes);
    control(h, PERISCOPE_MODE_CR3 | PERISCOPE_MODE_CR3_FILTER | PERISCOPE_MODE_SYSCALL | PERISCOPE_MODE_SYSCALL_SYNC,
            dtbs2, 2, 0xffffffff81000040ULL);
    wait_applied(h);
    CHECK(periscope_xen_fake_breakpoint_writes(d) == writes + 1);
    /* syscall delivery off (M3 and M4 between the target's turns): the breakpoint stays, switched off */
    uint32_t on, domctls, responses, pauses;
    uint64_t quiet, untrapped;
    control(h, PERISCOPE_MODE_CR3, dtbs2, 2, 0xffffffff81000040ULL);
    wait_applied(h);
    periscope_xen_fake_switches(d, &on, &domctls, &responses, &pauses, &quiet, &untrapped);
    CHECK(on == 0 && (periscope_xen_fake_armed(d) & 0x4));
    CHECK(periscope_xen_fake_breakpoint_writes(d) == writes + 2); /* the sync flag went: one rewrite */
    /* breakpoints removed: a hit Xen reported before that is still the monitor's (never the guest's INT3) */
    control(h, PERISCOPE_MODE_CR3, dtbs2, 2, 0);
    wait_applied(h);
    CHECK(!(periscope_xen_fake_armed(d) & 0x4));
    CHECK(periscope_xen_fake_owns_breakpoint(m, 0x1000, 0xffffffff81000040ULL));
    CHECK(!periscope_xen_fake_owns_breakpoint(m, 0x1000, 0xffffffff81000041ULL));
    /* a second monitor on the same domain is refused */
    periscope_xen_monitor *m2;
    CHECK(periscope_xen_monitor_start(d, p, 1, 2, &m2) == PERISCOPE_XEN_E_BUSY);
    CHECK(periscope_xen_monitor_stop(m) == PERISCOPE_XEN_OK);
    CHECK(periscope_xen_fake_armed(d) == 0);
    CHECK(h->producer_state == PERISCOPE_PRODUCER_DETACHED);
    munmap(h, size);
    periscope_xen_detach(d);
}

/* M3 on one vCPU: the consumer arms syscall delivery on a switch to the target and disarms it on a switch away;
 * each decision reaches the hypervisor in the response to that CR3 write, with no domain pause. */
static uint64_t m3_target = 0x2000;
static periscope_ring_header *m3_ring;
static const uint32_t m3_mode = PERISCOPE_MODE_CR3 | PERISCOPE_MODE_CR3_SYNC | PERISCOPE_MODE_SYSCALL_SYNC;

static void m3_decide(const periscope_record *r, void *ctx)
{
    collect(r, ctx);
    if (r->kind == PERISCOPE_KIND_CR3_WRITE) {
        int target = (r->new_cr3 & PERISCOPE_DTB_MASK) == m3_target;
        control(m3_ring, m3_mode | (target ? PERISCOPE_MODE_SYSCALL : 0), &m3_target, 1, 0xffffffff81000040ULL);
    }
}

static void test_switch_in_response(periscope_xen *x)
{
    periscope_xen_domain *d;
    CHECK(periscope_xen_attach(x, 9, &d) == PERISCOPE_XEN_OK);
    size_t size;
    m3_ring = make_ring("r3.ring", &size);
    control(m3_ring, m3_mode, &m3_target, 1, 0xffffffff81000040ULL);
    char p[600];
    snprintf(p, sizeof p, "%s/r3.ring", dir);
    periscope_xen_monitor *m;
    CHECK(periscope_xen_monitor_start(d, p, 1, 2, &m) == PERISCOPE_XEN_OK);
    nrec = 0;
    for (int i = 0; i < 3000 && nrec < 4; i++) {
        periscope_consume(m3_ring, 0, 64, m3_decide, NULL);
        usleep(1000);
    }
    CHECK(nrec == 4);
    CHECK(records[0].kind == PERISCOPE_KIND_CR3_WRITE && records[0].new_cr3 == 0x2000);
    CHECK(records[1].kind == PERISCOPE_KIND_SYSCALL && records[1].syscall_nr == 0 && records[1].new_cr3 == 0x2000);
    CHECK(records[2].kind == PERISCOPE_KIND_CR3_WRITE && records[2].old_cr3 == 0x2000);
    CHECK(records[3].kind == PERISCOPE_KIND_CR3_WRITE && records[3].new_cr3 == 0x5801); /* M3 sees every write */
    uint32_t on, domctls, responses, pauses;
    uint64_t quiet, untrapped;
    periscope_xen_fake_switches(d, &on, &domctls, &responses, &pauses, &quiet, &untrapped);
    CHECK(responses == 2 && domctls == 0); /* on, then off, each in the response to its CR3 write */
    CHECK(pauses == 1);                    /* the breakpoint table written once, at the start */
    CHECK(untrapped == 1 && on == 0);      /* the other process's syscall never trapped */
    CHECK(periscope_xen_monitor_stop(m) == PERISCOPE_XEN_OK);
    CHECK(periscope_xen_fake_armed(d) == 0);
    munmap(m3_ring, size);
    periscope_xen_detach(d);
}

/* M5: the syscall breakpoint is filtered by the DTB set in the hypervisor; what it kept back is counted in the
 * ring as seen and filtered, as are the CR3 writes its filter suppressed (a KPTI flip of the target among them). */
static void test_dtb_filtered_breakpoint(periscope_xen *x)
{
    periscope_xen_domain *d;
    CHECK(periscope_xen_attach(x, 10, &d) == PERISCOPE_XEN_OK);
    size_t size;
    periscope_ring_header *h = make_ring("r4.ring", &size);
    uint64_t dtb = 0x2000;
    control(h, PERISCOPE_MODE_CR3 | PERISCOPE_MODE_CR3_FILTER | PERISCOPE_MODE_SYSCALL | PERISCOPE_MODE_SYSCALL_FILTER,
            &dtb, 1, 0xffffffff81000040ULL);
    char p[600];
    snprintf(p, sizeof p, "%s/r4.ring", dir);
    periscope_xen_monitor *m;
    CHECK(periscope_xen_monitor_start(d, p, 1, 2, &m) == PERISCOPE_XEN_OK);
    nrec = 0;
    wait_records(h, 3);
    CHECK(nrec == 3); /* the switch in and out, one syscall of the target */
    int syscalls = 0;
    for (uint32_t i = 0; i < nrec; i++)
        syscalls += records[i].kind == PERISCOPE_KIND_SYSCALL && records[i].new_cr3 == 0x3000;
    CHECK(syscalls == 1);
    uint32_t on, domctls, responses, pauses;
    uint64_t quiet, untrapped;
    for (int i = 0; i < 2000; i++) {
        periscope_xen_fake_switches(d, &on, &domctls, &responses, &pauses, &quiet, &untrapped);
        if (quiet == 2 && h->lanes[0].filtered >= 4)
            break;
        usleep(1000);
    }
    CHECK(quiet == 2 && untrapped == 0 && on == 1 && domctls == 1);
    CHECK(h->lanes[0].cr3_seen == 2 + 2 && h->lanes[0].cr3_filtered == 2); /* 2 delivered, 2 suppressed in Xen */
    CHECK(h->lanes[0].filtered == 2 + 2 && h->lanes[0].seen == 4 + 2 + 1);
    CHECK(periscope_xen_monitor_stop(m) == PERISCOPE_XEN_OK);
    munmap(h, size);
    periscope_xen_detach(d);
}

static void test_domain_gone(periscope_xen *x)
{
    periscope_xen_domain *d;
    CHECK(periscope_xen_attach(x, 8, &d) == PERISCOPE_XEN_OK);
    size_t size;
    periscope_ring_header *h = make_ring("r2.ring", &size);
    control(h, PERISCOPE_MODE_CR3, NULL, 0, 0);
    char p[600];
    snprintf(p, sizeof p, "%s/r2.ring", dir);
    periscope_xen_monitor *m;
    CHECK(periscope_xen_monitor_start(d, p, 1, 2, &m) == PERISCOPE_XEN_OK);
    periscope_xen_monitor_stats st = {0};
    for (int i = 0; i < 2000 && st.state != PERISCOPE_XEN_MONITOR_FAILED; i++) {
        usleep(1000);
        periscope_xen_monitor_stats_get(m, &st);
    }
    CHECK(st.state == PERISCOPE_XEN_MONITOR_FAILED && st.last_status == PERISCOPE_XEN_E_NO_DOMAIN);
    CHECK(periscope_xen_monitor_stop(m) == PERISCOPE_XEN_E_NO_DOMAIN);
    CHECK(periscope_xen_fake_armed(d) == 0); /* disarmed although the thread died */
    periscope_xen_domain_info info;
    CHECK(periscope_xen_info(d, &info) == PERISCOPE_XEN_E_NO_DOMAIN);
    CHECK(periscope_xen_last_errno() == ESRCH);
    munmap(h, size);
    periscope_xen_detach(d);
}

static void test_memory_and_errors(periscope_xen *x)
{
    periscope_xen_domain *d;
    CHECK(periscope_xen_attach(x, 99, &d) == PERISCOPE_XEN_E_NO_DOMAIN);
    CHECK(periscope_xen_attach(x, 7, &d) == PERISCOPE_XEN_OK);
    periscope_xen_mapping *m;
    CHECK(periscope_xen_map(d, 0, 3, &m) == PERISCOPE_XEN_OK);
    CHECK(periscope_xen_mapping_page_status(m, 0) == PERISCOPE_XEN_OK);
    CHECK(memcmp(periscope_xen_mapping_address(m), "PAGE0", 5) == 0);
    CHECK(periscope_xen_mapping_page_status(m, 1) == PERISCOPE_XEN_E_NOT_PRESENT);
    CHECK(periscope_xen_mapping_page_status(m, 2) == PERISCOPE_XEN_E_NOT_PRESENT); /* past RAM */
    periscope_xen_unmap(m);
    periscope_xen_vcpu_regs r;
    CHECK(periscope_xen_vcpu_registers(d, 1, &r) == PERISCOPE_XEN_OK && r.cr3 == 0x2000 && r.rip == 0xffffffff81000040ULL);
    CHECK(periscope_xen_vcpu_registers(d, 5, &r) == PERISCOPE_XEN_E_INVALID);
    uint32_t n = 0;
    periscope_xen_domain_info info[4];
    CHECK(periscope_xen_list(x, info, 4, &n) == PERISCOPE_XEN_OK && n == 4 && strcmp(info[0].name, "web") == 0);
    periscope_xen_detach(d);
}

int main(int argc, char **argv)
{
    snprintf(dir, sizeof dir, "%s/xen-fake-test", argc > 1 ? argv[1] : "/tmp");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0)
        return 2;
    static char ram[8192];
    memcpy(ram, "PAGE0", 5);
    char p[600];
    snprintf(p, sizeof p, "%s/ram.bin", dir);
    FILE *f = fopen(p, "w");
    fwrite(ram, 1, sizeof ram, f);
    fclose(f);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "domain 7 web 1 2 %s\n"
             "absent 7 1\n"
             "regs 7 1 0xffffffff81000040 0x2000 0x20 0xd01 0 0\n"
             "translate 7 0xffffffff81000000 0x1000\n"
             "cr3 7 0 0x5000 0x2000 0x1\n"
             "cr3 7 0 0x5000 0x7000 0x2\n"
             "cr3 7 1 0x3001 0x9000 0x3\n"
             "cr3 7 1 0x9000 0x5000 0x4\n"
             "bp 7 0 0x1000 0xffffffff81000040 0x2000 59 0x11 0x22 0x33 0x44 0x55 0x66\n"
             "domain 8 db 1 1 %s\n"
             "cr3 8 0 1 2 3\ncr3 8 0 2 3 4\n"
             "gone_after 8 1\n"
             "domain 9 m3 1 1 %s\n"
             "translate 9 0xffffffff81000000 0x1000\n"
             "cr3 9 0 0x5000 0x2000 0x1\n"
             "bp 9 0 0x1000 0xffffffff81000040 0x2000 0 3 0 0 0 0 0\n"
             "cr3 9 0 0x2000 0x5000 0x2\n"
             "bp 9 0 0x1000 0xffffffff81000040 0x5000 1 3 0 0 0 0 0\n"
             "cr3 9 0 0x5000 0x5801 0x3\n"
             "domain 10 m5 1 1 %s\n"
             "translate 10 0xffffffff81000000 0x1000\n"
             "cr3 10 0 0x5000 0x2000 0x1\n"
             "bp 10 0 0x1000 0xffffffff81000040 0x3000 1 3 0 0 0 0 0\n"
             "cr3 10 0 0x2000 0x3001 0x2\n"
             "bp 10 0 0x1000 0xffffffff81000040 0x5000 1 3 0 0 0 0 0\n"
             "cr3 10 0 0x2000 0x9000 0x3\n"
             "cr3 10 0 0x9000 0x5000 0x4\n"
             "bp 10 0 0x1000 0xffffffff81000040 0x9000 1 3 0 0 0 0 0\n",
             p, p, p, p);
    write_file("fake.conf", cfg);
    snprintf(p, sizeof p, "%s/fake.conf", dir);

    periscope_xen *x;
    CHECK(periscope_xen_open("/nonexistent/fake.conf", &x) == PERISCOPE_XEN_E_UNAVAILABLE);
    CHECK(periscope_xen_last_errno() == ENOENT);
    CHECK(periscope_xen_open(p, &x) == PERISCOPE_XEN_OK);
    test_memory_and_errors(x);
    test_events_and_teardown(x);
    test_switch_in_response(x);
    test_dtb_filtered_breakpoint(x);
    test_domain_gone(x);
    periscope_xen_close(x);
    printf("libperiscope-xen-fake: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
