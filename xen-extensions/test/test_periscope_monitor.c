/*
 * Unit tests of the pure functions the Periscope Xen patches add in
 * xen/include/xen/periscope-monitor.h, compiled from the patched Xen tree
 * (make XEN_SRC=<patched source>): the code under test is the code Xen runs.
 */
#include "xen-stubs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static int checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__,    \
                    __func__, #cond);                                                \
        }                                                                            \
    } while (0)

static void test_dtb_mask(void)
{
    /* PCID (bits 0-11), the KPTI user page-table bit 12 and no-flush bit 63 go. */
    CHECK(periscope_dtb(0x12345000ULL) == 0x12344000ULL);
    CHECK(periscope_dtb(0x12344000ULL | 0x1000 | 0x801) == 0x12344000ULL);
    CHECK(periscope_dtb(0x8000000012344000ULL) == 0x12344000ULL);
    CHECK(periscope_dtb(0) == 0);
    CHECK(XEN_PERISCOPE_DTB_MASK == 0x7FFFFFFFFFFFE000ULL);
}

static void test_dtb_set_normalise(void)
{
    uint64_t v[] = {0x9000, 0x8000000000003001ULL, 0x3000, 0x2000, 0x9801, 0x4000};
    unsigned int nr = periscope_dtb_set_normalise(v, 6);

    /* 0x3001|bit63 -> 0x2000, 0x3000 -> 0x2000, 0x9801 -> 0x8000, 0x9000 -> 0x8000 */
    CHECK(nr == 3);
    CHECK(v[0] == 0x2000 && v[1] == 0x4000 && v[2] == 0x8000);
    CHECK(periscope_dtb_set_normalise(v, 0) == 0);

    uint64_t big[XEN_PERISCOPE_CR3_FILTER_MAX];
    for (unsigned int i = 0; i < XEN_PERISCOPE_CR3_FILTER_MAX; i++)
        big[i] = (uint64_t)(XEN_PERISCOPE_CR3_FILTER_MAX - i) << 13;
    nr = periscope_dtb_set_normalise(big, XEN_PERISCOPE_CR3_FILTER_MAX);
    CHECK(nr == XEN_PERISCOPE_CR3_FILTER_MAX);
    for (unsigned int i = 1; i < nr; i++)
        CHECK(big[i - 1] < big[i]);
}

static void test_dtb_set_contains_and_pass(void)
{
    uint64_t v[] = {0x2000, 0x4000, 0x8000, 0x100000};
    const unsigned int nr = 4;

    CHECK(periscope_dtb_set_contains(v, nr, 0x2000));
    CHECK(periscope_dtb_set_contains(v, nr, 0x3000));                  /* KPTI user half */
    CHECK(periscope_dtb_set_contains(v, nr, 0x8000000000004005ULL));   /* PCID 5, no-flush */
    CHECK(periscope_dtb_set_contains(v, nr, 0x100000));
    CHECK(!periscope_dtb_set_contains(v, nr, 0x6000));
    CHECK(!periscope_dtb_set_contains(v, nr, 0x200000));
    CHECK(!periscope_dtb_set_contains(v, 0, 0x2000));

    /* switching to or from a watched address space passes; between others does not */
    CHECK(periscope_cr3_filter_pass(v, nr, 0x4000, 0x6000));
    CHECK(periscope_cr3_filter_pass(v, nr, 0x6000, 0x4000));
    CHECK(periscope_cr3_filter_pass(v, nr, 0x7001, 0x4000)); /* to another's KPTI user half */
    CHECK(!periscope_cr3_filter_pass(v, nr, 0x6000, 0xa000));

    /* KPTI's flips within one watched address space, and PCID changes, are no switch */
    CHECK(!periscope_cr3_filter_pass(v, nr, 0x5801, 0x4000));
    CHECK(!periscope_cr3_filter_pass(v, nr, 0x4000, 0x5801));
    CHECK(!periscope_cr3_filter_pass(v, nr, 0x8000000000004005ULL, 0x4003));
    CHECK(!periscope_cr3_filter_pass(v, nr, 0x2000, 0x2000));
}

static void test_cr3_filter_bounds(void)
{
    CHECK(periscope_cr3_filter_check_size(0) == 0);
    CHECK(periscope_cr3_filter_check_size(XEN_PERISCOPE_CR3_FILTER_MAX) == 0);
    CHECK(periscope_cr3_filter_check_size(XEN_PERISCOPE_CR3_FILTER_MAX + 1) == -E2BIG);
    CHECK(periscope_cr3_filter_check_size(UINT32_MAX) == -E2BIG);
}

static struct periscope_bp bp(uint64_t gfn, uint16_t offset, uint8_t orig)
{
    struct periscope_bp b = {.gfn = gfn, .offset = offset, .orig = orig};
    return b;
}

static void test_bp_table(void)
{
    static struct periscope_bp_table t;
    struct periscope_bp b;

    memset(&t, 0, sizeof(t));
    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 7, .offset = 0x10}) == 0);
    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 3, .offset = 0xff0}) == 0);
    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 7, .offset = 0x8}) == 1);
    CHECK(t.nr == 3);
    CHECK(t.bp[0].gfn == 3 && t.bp[1].offset == 0x8 && t.bp[2].offset == 0x10);

    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 7, .offset = 0x8}) == -EEXIST);
    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 7, .offset = 4096}) == -EINVAL);
    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 7, .offset = 1, .flags = 0x80}) == -EINVAL);
    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 9, .flags = XEN_PERISCOPE_BP_SYNC}) == 3);

    CHECK(periscope_bp_find(&t, 7, 0x10) == 2);
    CHECK(periscope_bp_find(&t, 7, 0x11) == -ENOENT);
    CHECK(periscope_bp_find(&t, 8, 0x10) == -ENOENT);

    periscope_bp_remove(&t, 1);
    CHECK(t.nr == 3 && periscope_bp_find(&t, 7, 0x8) == -ENOENT && periscope_bp_find(&t, 7, 0x10) == 1);

    memset(&t, 0, sizeof(t));
    for (unsigned int i = 0; i < XEN_PERISCOPE_BP_MAX; i++) {
        b = bp(i, 0, 0);
        CHECK(periscope_bp_insert(&t, &b) == (int)i);
    }
    b = bp(1000, 0, 0);
    CHECK(periscope_bp_insert(&t, &b) == -ENOSPC);
}

static void test_bp_restore_insn(void)
{
    static struct periscope_bp_table t;
    struct periscope_bp b;
    /* the guest's bytes with INT3 at 0x100 (orig 0x0f) and 0x103 (orig 0x48) */
    uint8_t buf[8] = {0xcc, 0x01, 0xf8, 0xcc, 0x89, 0x24, 0x25, 0xcc};

    memset(&t, 0, sizeof(t));
    b = bp(5, 0x100, 0x0f);
    periscope_bp_insert(&t, &b);
    b = bp(5, 0x103, 0x48);
    periscope_bp_insert(&t, &b);
    b = bp(6, 0x107, 0x90); /* other frame: must not be applied */
    periscope_bp_insert(&t, &b);
    b = bp(5, 0x108, 0x55); /* just past the buffer */
    periscope_bp_insert(&t, &b);

    periscope_bp_restore_insn(&t, 5, 0x100, buf, sizeof(buf));
    CHECK(buf[0] == 0x0f && buf[1] == 0x01 && buf[2] == 0xf8 && buf[3] == 0x48);
    CHECK(buf[7] == 0xcc);

    /* a buffer starting inside the frame, after the first breakpoint */
    uint8_t tail[2] = {0xcc, 0x89};
    periscope_bp_restore_insn(&t, 5, 0x103, tail, 2);
    CHECK(tail[0] == 0x48 && tail[1] == 0x89);
}

static void test_bp_switch_and_hit_action(void)
{
    static struct periscope_bp_table t;
    const uint64_t dtbs[] = {0x2000, 0x8000};
    struct periscope_bp plain = {.gfn = 1, .flags = XEN_PERISCOPE_BP_SYNC};
    struct periscope_bp switched = {.gfn = 2, .flags = XEN_PERISCOPE_BP_SWITCHED};
    struct periscope_bp filtered = {.gfn = 3, .flags = XEN_PERISCOPE_BP_DTB_FILTER};
    struct periscope_bp both = {.gfn = 4, .flags = XEN_PERISCOPE_BP_SWITCHED | XEN_PERISCOPE_BP_DTB_FILTER};

    memset(&t, 0, sizeof(t));
    CHECK(periscope_bp_insert(&t, &plain) == 0);
    CHECK(periscope_bp_insert(&t, &switched) == 1);
    CHECK(periscope_bp_insert(&t, &filtered) == 2);
    CHECK(periscope_bp_insert(&t, &both) == 3);

    /* a new table's switch is off: only unswitched INT3s are in memory */
    CHECK(!t.on);
    CHECK(periscope_bp_present(&t, &plain) && !periscope_bp_present(&t, &switched));
    CHECK(periscope_bp_hit_action(&t, &plain, dtbs, 2, 0x6000) == PERISCOPE_BP_REPORT);
    CHECK(periscope_bp_hit_action(&t, &switched, dtbs, 2, 0x2000) == PERISCOPE_BP_RETRY);

    CHECK(periscope_bp_switch(&t, true));
    CHECK(!periscope_bp_switch(&t, true)); /* no flip, nothing to write */
    CHECK(periscope_bp_present(&t, &switched));
    CHECK(periscope_bp_hit_action(&t, &switched, dtbs, 2, 0x6000) == PERISCOPE_BP_REPORT);

    /* the DTB filter: the traced address spaces (KPTI halves and PCIDs alike) report, others stay in Xen */
    CHECK(periscope_bp_hit_action(&t, &filtered, dtbs, 2, 0x2000) == PERISCOPE_BP_REPORT);
    CHECK(periscope_bp_hit_action(&t, &filtered, dtbs, 2, 0x9805) == PERISCOPE_BP_REPORT);
    CHECK(periscope_bp_hit_action(&t, &filtered, dtbs, 2, 0x6000) == PERISCOPE_BP_QUIET);
    CHECK(periscope_bp_hit_action(&t, &filtered, NULL, 0, 0x2000) == PERISCOPE_BP_QUIET); /* no set: none */
    CHECK(periscope_bp_hit_action(&t, &both, dtbs, 2, 0x8000) == PERISCOPE_BP_REPORT);

    CHECK(periscope_bp_switch(&t, false));
    CHECK(periscope_bp_hit_action(&t, &both, dtbs, 2, 0x8000) == PERISCOPE_BP_RETRY);
    CHECK(periscope_bp_hit_action(&t, &filtered, dtbs, 2, 0x8000) == PERISCOPE_BP_REPORT);

    /* unknown flags are refused */
    CHECK(periscope_bp_insert(&t, &(struct periscope_bp){.gfn = 5, .flags = 1U << 3}) == -EINVAL);
}

static void test_response_switch(void)
{
    CHECK(periscope_response_switch(0) == -1);
    CHECK(periscope_response_switch(1U << 0) == -1); /* VM_EVENT_FLAG_VCPU_PAUSED alone */
    CHECK(periscope_response_switch(XEN_PERISCOPE_VM_EVENT_FLAG_BP_ON | 1) == 1);
    CHECK(periscope_response_switch(XEN_PERISCOPE_VM_EVENT_FLAG_BP_OFF | 1) == 0);
    CHECK(periscope_response_switch(XEN_PERISCOPE_VM_EVENT_FLAG_BP_ON | XEN_PERISCOPE_VM_EVENT_FLAG_BP_OFF) == -1);
    /* above every upstream VM_EVENT_FLAG_* of interface 7 (the highest is bit 15) */
    CHECK(XEN_PERISCOPE_VM_EVENT_FLAG_BP_ON > (1U << 15) && XEN_PERISCOPE_VM_EVENT_FLAG_BP_OFF > (1U << 15));
}

static void test_snapshot_book(void)
{
    uint64_t bits[2] = {0, 0};
    struct periscope_snap_book b = {.copied = bits, .nr_gfns = 100, .nr_slots = 3};

    CHECK(periscope_snap_claim(&b, 5) == 0);
    CHECK(periscope_snap_claim(&b, 5) == -EEXIST);
    CHECK(periscope_snap_claim(&b, 99) == 1);
    CHECK(periscope_snap_claim(&b, 100) == -ERANGE);
    CHECK(periscope_snap_claim(&b, 64) == 2);
    CHECK(!b.overflowed);
    CHECK(periscope_snap_claim(&b, 6) == -ENOSPC);
    CHECK(b.overflowed && b.used == 3);
    CHECK(periscope_snap_claim(&b, 5) == -EEXIST); /* copied ones stay copied */
    CHECK(periscope_snap_claim(&b, 6) == -ENOSPC); /* and 6 stays uncopied */

    CHECK(periscope_snap_bitmap_words(100) == 2);
    CHECK(periscope_snap_bitmap_words(128) == 2);
    CHECK(periscope_snap_bitmap_words(129) == 3);
    CHECK(periscope_snap_index_frames(1) == 1);
    CHECK(periscope_snap_index_frames(512) == 1);
    CHECK(periscope_snap_index_frames(513) == 2);
    CHECK(periscope_snap_index_frames(XEN_PERISCOPE_SNAPSHOT_MAX_PAGES) == 128);
    CHECK(periscope_snap_check_size(0) == -EINVAL);
    CHECK(periscope_snap_check_size(1) == 0);
    CHECK(periscope_snap_check_size(XEN_PERISCOPE_SNAPSHOT_MAX_PAGES) == 0);
    CHECK(periscope_snap_check_size(XEN_PERISCOPE_SNAPSHOT_MAX_PAGES + 1) == -E2BIG);
}

int main(void)
{
    test_dtb_mask();
    test_dtb_set_normalise();
    test_dtb_set_contains_and_pass();
    test_cr3_filter_bounds();
    test_bp_table();
    test_bp_restore_insn();
    test_bp_switch_and_hit_action();
    test_response_switch();
    test_snapshot_book();

    printf("periscope-monitor: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
