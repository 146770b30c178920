/*
 * periscope_plugin.c: the Periscope hypervisor extension for the QEMU TCG lab (x86-64 system emulation).
 *
 *   qemu-system-x86_64 ... -plugin /path/libperiscope_qemu.so,ring=/dev/shm/NAME.ring,token=<32 hex digits>
 *
 * Instead of token=, token-file=PATH reads the 32 hex digits from a file (keeps the capability out of the
 * QEMU command line, /proc/PID/cmdline and lab logs). Optional: debug=on (prints the register list of
 * vCPU 0, control changes and flushes to stderr).
 *
 * The ring file is created and initialised by Periscope (Java, EventRing.create) before QEMU starts; the
 * plugin maps it, validates it and refuses to install (QEMU then exits with "could not load plugin")
 * when anything is off. The token is the capability the launcher handed to Periscope: control blocks
 * carrying another token are ignored and counted in control_rejected.
 *
 * What it does:
 *  - CR3 writes: at translation time every `[REX] 0f 22 /r` with modrm d8..df (mov %reg,%cr3; REX.B
 *    selects r8-r15) gets a QEMU_PLUGIN_CB_R_REGS exec callback that runs before the instruction: old
 *    CR3 = the cr3 register, new CR3 = the source register. The DTB filter (PERISCOPE_DTB_MASK) is
 *    applied here, so an unwanted switch never leaves the plugin.
 *  - Hypervisor breakpoints: the instruction at each address of the breakpoint table gets an exec
 *    callback at translation time (nothing is written to guest memory). When the table changes, the
 *    plugin calls qemu_plugin_reset(): QEMU stops all vCPUs, flushes the translation cache and
 *    unregisters the plugin's callbacks; the reset callback installs the new table and re-registers,
 *    so every block is retranslated against the new table (cost: one TB flush per table change).
 *  - SYSCALL_ENTRY breakpoints (entry_SYSCALL_64_after_hwframe, or entry_SYSCALL_64): rax = number, rdi rsi rdx
 *    r10 r8 r9 = arguments, rcx = user RIP, cr3 = the calling process's DTB (no PTI with the default qemu64 CPU
 *    model), rsp = the kernel stack after _after_hwframe (its page is the thread key, the record's aux).
 *  - SYSCALL_EXIT breakpoints (syscall_exit_to_user_mode, rdi = struct pt_regs *): the return of a call whose entry
 *    this plugin delivered (its thread key is in the pending set) is delivered with the return value and number read
 *    from pt_regs; every other thread's return stays here ("Syscall results" in periscope_ring.h).
 *  - PREREAD: up to 64 bytes of guest memory behind the argument that names a path, an input buffer or struct
 *    (entries), or an output buffer or struct (exits, sized by the return value where it counts bytes); the record
 *    says which argument (PERISCOPE_RECORD_DATA_ARG).
 *  - Synchronous modes: the vCPU waits (spin ~30 us, then 20 us sleeps) for the response lane, at most
 *    control.sync_timeout_us (default 1 ms), then counts a timeout and continues.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <qemu/qemu-plugin.h>

#include "periscope_ring.h"
#include "periscope_ring_ops.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_CR3_SITES 256
#define NREGS 16

/* x86 modrm/REX register numbers 0..15 */
static const char *const reg_names[NREGS] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                             "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RSI = 6, RDI = 7, R8 = 8, R9 = 9, R10 = 10 };

#define NR_EXIT 60
#define NR_EXIT_GROUP 231

typedef struct vcpu_state {
    int active;
    periscope_producer prod;
    struct qemu_plugin_register *reg[NREGS];
    struct qemu_plugin_register *cr3;
    GByteArray *buf;
    GByteArray *mem;
    uint64_t known_generation;
    int bp_check; /* the adopted control may carry a new breakpoint table */
    periscope_control ctl; /* this vCPU's adopted copy of the control block */
} vcpu_state;

typedef struct bp_table {
    uint32_t count;
    periscope_breakpoint bps[PERISCOPE_RING_MAX_BREAKPOINTS]; /* sorted by gva */
} bp_table;

typedef struct cr3_site {
    uint64_t vaddr;
    uint32_t reg;
} cr3_site;

static qemu_plugin_id_t plugin_id;
static periscope_ring_header *ring;
static uint64_t ring_size;
static uint64_t token[2];
static int debug;
static vcpu_state vcpus[PERISCOPE_RING_MAX_LANES];

static bp_table *current_bps; /* what translation uses; swapped only inside the reset callback */
static bp_table *next_bps;    /* installed by the pending reset */
static int reset_pending;

static periscope_pending pending; /* thread keys of delivered entries awaiting their exit */

static GMutex site_lock;
static cr3_site sites[MAX_CR3_SITES];
static uint32_t site_count;

static void register_callbacks(void);

static uint64_t read_reg(vcpu_state *vs, struct qemu_plugin_register *handle)
{
    uint64_t v = 0;
    if (!handle)
        return 0;
    g_byte_array_set_size(vs->buf, 0);
    int n = qemu_plugin_read_register(handle, vs->buf);
    if (n > 0)
        memcpy(&v, vs->buf->data, n < 8 ? (size_t)n : 8); /* target (little-endian) byte order */
    return v;
}

static int bp_find(const bp_table *t, uint64_t gva)
{
    uint32_t lo = 0, hi = t ? t->count : 0;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (t->bps[mid].gva < gva)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (t && lo < t->count && t->bps[lo].gva == gva) ? (int)lo : -1;
}

static bp_table *bp_table_from(const periscope_control *c)
{
    bp_table *t = g_new0(bp_table, 1);
    for (uint32_t i = 0; i < c->breakpoint_count; i++) {
        const periscope_breakpoint *b = &c->breakpoints[i];
        if (b->kind != PERISCOPE_BP_SYSCALL_ENTRY && b->kind != PERISCOPE_BP_SYSCALL_EXIT &&
            b->kind != PERISCOPE_BP_PLAIN)
            continue;
        uint32_t j = t->count;
        while (j > 0 && t->bps[j - 1].gva > b->gva) {
            t->bps[j] = t->bps[j - 1];
            j--;
        }
        if (j > 0 && t->bps[j - 1].gva == b->gva) { /* duplicate: keep the first, undo the shift */
            memmove(&t->bps[j], &t->bps[j + 1], (t->count - j) * sizeof(periscope_breakpoint));
            continue;
        }
        t->bps[j] = *b;
        t->count++;
    }
    return t;
}

static int bp_table_equal(const bp_table *a, const bp_table *b)
{
    uint32_t ca = a ? a->count : 0, cb = b ? b->count : 0;
    if (ca != cb)
        return 0;
    return ca == 0 || memcmp(a->bps, b->bps, ca * sizeof(periscope_breakpoint)) == 0;
}

static void on_reset_done(qemu_plugin_id_t id)
{
    /* Runs with all vCPUs stopped, after the TB flush: nobody can be using current_bps. */
    bp_table *old = current_bps;
    current_bps = __atomic_load_n(&next_bps, __ATOMIC_ACQUIRE);
    next_bps = NULL;
    g_free(old);
    PR_BUMP(&ring->flushes, 1);
    register_callbacks();
    __atomic_store_n(&reset_pending, 0, __ATOMIC_RELEASE);
    if (debug)
        fprintf(stderr, "periscope: breakpoint table installed (%u entries), translation cache flushed\n",
                current_bps ? current_bps->count : 0);
}

/* Adopt a new control block if there is one; request a retranslation if the breakpoints changed. */
static void refresh_control(vcpu_state *vs)
{
    int r = periscope_control_snapshot(ring, token, &vs->known_generation, &vs->ctl);
    if (r == PERISCOPE_CONTROL_REJECTED) {
        vs->ctl.mode = 0; /* fail safe: nothing delivered, nobody waits, until a valid control block */
        PR_STORE_REL(&vs->prod.lane->applied_generation, vs->known_generation);
        __atomic_fetch_add(&ring->control_rejected, 1, __ATOMIC_RELAXED);
        if (debug)
            fprintf(stderr, "periscope: control generation %" PRIu64 " rejected: wrong token\n", vs->known_generation);
        return;
    }
    if (r == PERISCOPE_CONTROL_ADOPTED) {
        if (!(vs->ctl.mode & PERISCOPE_MODE_SYSCALL_EXIT))
            periscope_pending_clear(&pending); /* nobody wants returns: forget the calls still out */
        __atomic_store_n(&ring->control_applied_generation, vs->known_generation, __ATOMIC_RELAXED);
        PR_STORE_REL(&vs->prod.lane->applied_generation, vs->known_generation);
        vs->bp_check = 1;
        if (debug)
            fprintf(stderr, "periscope: vCPU %u adopted control generation %" PRIu64 ": mode 0x%x, %u DTBs, %u breakpoints\n",
                    vs->prod.lane_index, vs->known_generation, vs->ctl.mode, vs->ctl.dtb_count, vs->ctl.breakpoint_count);
    }
    if (!vs->bp_check || __atomic_load_n(&reset_pending, __ATOMIC_ACQUIRE))
        return; /* nothing new, or a reset is under way: check again after it */
    vs->bp_check = 0;
    bp_table *wanted = bp_table_from(&vs->ctl);
    if (bp_table_equal(wanted, current_bps)) {
        g_free(wanted);
        return;
    }
    if (__atomic_exchange_n(&reset_pending, 1, __ATOMIC_ACQ_REL)) {
        g_free(wanted);
        vs->bp_check = 1;
        return;
    }
    __atomic_store_n(&next_bps, wanted, __ATOMIC_RELEASE);
    qemu_plugin_reset(plugin_id, on_reset_done);
}

static inline vcpu_state *vcpu_get(unsigned int idx)
{
    if (idx >= PERISCOPE_RING_MAX_LANES || !vcpus[idx].active) {
        __atomic_fetch_add(&ring->unlaned_events, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return &vcpus[idx];
}

static uint64_t sync_timeout_ns(const vcpu_state *vs)
{
    uint32_t us = vs->ctl.sync_timeout_us ? vs->ctl.sync_timeout_us : PERISCOPE_RING_DEFAULT_SYNC_TIMEOUT_US;
    return (uint64_t)us * 1000u;
}

static void on_cr3_write(unsigned int vcpu_index, void *udata)
{
    vcpu_state *vs = vcpu_get(vcpu_index);
    if (!vs)
        return;
    refresh_control(vs);
    uint32_t mode = vs->ctl.mode;
    periscope_count_seen(&vs->prod);
    PR_BUMP(&vs->prod.lane->cr3_seen, 1);
    if (!(mode & PERISCOPE_MODE_CR3)) {
        periscope_count_filtered(&vs->prod);
        PR_BUMP(&vs->prod.lane->cr3_filtered, 1);
        return;
    }
    cr3_site site = sites[(uintptr_t)udata - 1];
    uint64_t old_cr3 = read_reg(vs, vs->cr3);
    uint64_t new_cr3 = read_reg(vs, vs->reg[site.reg]);
    int hit = periscope_dtb_contains(&vs->ctl, old_cr3) || periscope_dtb_contains(&vs->ctl, new_cr3);
    /* The filter passes only address-space switches: with PTI every kernel entry and exit writes CR3 (the
     * user/kernel pair of ONE process, equal under the mask), which is no switch to or from anybody. */
    int same_space = ((old_cr3 ^ new_cr3) & PERISCOPE_DTB_MASK) == 0;
    if ((mode & PERISCOPE_MODE_CR3_FILTER) && (!hit || same_space)) {
        periscope_count_filtered(&vs->prod);
        PR_BUMP(&vs->prod.lane->cr3_filtered, 1);
        return;
    }
    periscope_record *r = periscope_reserve(&vs->prod, PERISCOPE_KIND_CR3_WRITE, vcpu_index);
    if (!r)
        return;
    int sync = (mode & PERISCOPE_MODE_CR3_SYNC) != 0;
    r->timestamp_ns = periscope_now_ns();
    r->control_generation = vs->known_generation;
    r->old_cr3 = old_cr3;
    r->new_cr3 = new_cr3;
    r->rip = site.vaddr;
    r->flags = (sync ? PERISCOPE_RECORD_SYNC : 0) | (hit ? PERISCOPE_RECORD_FILTER_HIT : 0);
    uint64_t seq = r->seq;
    periscope_publish(&vs->prod);
    if (sync)
        periscope_wait_response(&vs->prod, seq, sync_timeout_ns(vs));
}

/* Which argument of an entry points at a path, an input buffer or an input struct worth pre-reading (x86-64
 * numbers), -1: none. Java decodes whatever the record says was read (PERISCOPE_RECORD_DATA_ARG). */
static int preread_entry_arg(uint64_t nr)
{
    switch (nr) {
    case 2: case 4: case 6: case 21: case 35: case 59: case 76: case 80: case 82: case 83: case 84: case 85:
    case 86: case 87: case 88: case 89: case 90: case 92: case 94: case 133: case 137: case 161: case 435:
        /* open stat lstat access nanosleep execve truncate chdir rename mkdir rmdir creat link unlink symlink
         * readlink chmod chown lchown mknod statfs chroot clone3 */
        return 0;
    case 1: case 13: case 14: case 18: case 42: case 44: case 49: case 257: case 258: case 259: case 260: case 262:
    case 263: case 264: case 265: case 267: case 268: case 269: case 280: case 322: case 332: case 437: case 439:
    case 452:
        /* write rt_sigaction(act) rt_sigprocmask(set) pwrite64 connect sendto bind openat mkdirat mknodat fchownat
         * newfstatat unlinkat renameat linkat readlinkat fchmodat faccessat utimensat execveat statx openat2
         * faccessat2 fchmodat2 */
        return 1;
    case 230: case 302: /* clock_nanosleep(rqtp) prlimit64(new) */
        return 2;
    default:
        return -1;
    }
}

/* Which argument of a returning call points at what it wrote (-1: none), and how many bytes are worth reading. */
static int preread_exit_arg(uint64_t nr, int64_t ret, const uint64_t args[6], size_t *len)
{
    *len = PERISCOPE_RING_DATA_BYTES;
    switch (nr) {
    case 0: case 17: case 45: /* read pread64 recvfrom: ret bytes at buf */
    case 89: /* readlink */
        *len = ret > 0 && ret < PERISCOPE_RING_DATA_BYTES ? (size_t)ret : PERISCOPE_RING_DATA_BYTES;
        return ret > 0 ? 1 : -1;
    case 267: /* readlinkat */
        *len = ret > 0 && ret < PERISCOPE_RING_DATA_BYTES ? (size_t)ret : PERISCOPE_RING_DATA_BYTES;
        return ret > 0 ? 2 : -1;
    case 79: /* getcwd: ret bytes including the NUL */
        *len = ret > 0 && ret < PERISCOPE_RING_DATA_BYTES ? (size_t)ret : PERISCOPE_RING_DATA_BYTES;
        return ret > 0 ? 0 : -1;
    case 22: case 293: /* pipe pipe2: int[2] */
        *len = 8;
        return ret == 0 ? 0 : -1;
    case 53: /* socketpair: int[2] */
        *len = 8;
        return ret == 0 ? 3 : -1;
    case 61: /* wait4: the status word, when there was a child */
        *len = 4;
        return ret > 0 && args[1] ? 1 : -1;
    case 4: case 5: case 6: case 97: /* stat fstat lstat: struct stat; getrlimit: struct rlimit */
    case 228: /* clock_gettime: struct timespec */
        return ret == 0 ? 1 : -1;
    case 63: /* uname */
        return ret == 0 ? 0 : -1;
    case 13: case 14: case 262: case 302: /* rt_sigaction(oact) rt_sigprocmask(oset) newfstatat prlimit64(old) */
        return ret == 0 && args[nr == 302 ? 3 : 2] ? (nr == 302 ? 3 : 2) : -1;
    case 332: /* statx */
        return ret == 0 ? 4 : -1;
    default:
        return -1;
    }
}

/* Reads up to len bytes at addr into the record's data (less up to the page end if the next page is not mapped). */
static void preread(vcpu_state *vs, periscope_record *r, int arg, uint64_t addr, size_t len)
{
    if (addr == 0 || len == 0)
        return;
    if (len > PERISCOPE_RING_DATA_BYTES)
        len = PERISCOPE_RING_DATA_BYTES;
    uint64_t to_page_end = 4096 - (addr & 4095);
    for (int attempt = 0; attempt < 2; attempt++) {
        g_byte_array_set_size(vs->mem, 0);
        if (qemu_plugin_read_memory_vaddr(addr, vs->mem, len)) {
            memcpy(r->data, vs->mem->data, len);
            r->data_len = (uint32_t)len;
            r->flags |= PERISCOPE_RECORD_DATA_VALID | ((uint32_t)arg << PERISCOPE_RECORD_DATA_ARG_SHIFT);
            return;
        }
        if (to_page_end >= len)
            return;
        len = to_page_end; /* the next page may not be mapped: read up to the page end */
    }
}

static int read_guest(vcpu_state *vs, uint64_t addr, void *out, size_t len)
{
    g_byte_array_set_size(vs->mem, 0);
    if (!qemu_plugin_read_memory_vaddr(addr, vs->mem, len))
        return 0;
    memcpy(out, vs->mem->data, len);
    return 1;
}

/* A SYSCALL_EXIT breakpoint: report the return of a call whose entry was delivered, and nothing else. */
static void on_syscall_exit(vcpu_state *vs, unsigned int vcpu_index, uint32_t mode)
{
    periscope_count_seen(&vs->prod);
    uint64_t regs = read_reg(vs, vs->reg[RDI]);
    if (!periscope_pending_take(&pending, regs & PERISCOPE_THREAD_KEY_MASK) || !(mode & PERISCOPE_MODE_SYSCALL_EXIT)) {
        periscope_count_filtered(&vs->prod);
        return;
    }
    uint64_t pt[PERISCOPE_PT_REGS_SIZE / 8];
    if (!read_guest(vs, regs, pt, sizeof pt)) {
        periscope_count_filtered(&vs->prod);
        PR_BUMP(&vs->prod.lane->exits_unreported, 1);
        return;
    }
    uint64_t cr3 = read_reg(vs, vs->cr3);
    periscope_record *r = periscope_reserve(&vs->prod, PERISCOPE_KIND_SYSCALL_EXIT, vcpu_index);
    if (!r)
        return;
    int sync = (mode & PERISCOPE_MODE_SYSCALL_SYNC) != 0;
    r->timestamp_ns = periscope_now_ns();
    r->control_generation = vs->known_generation;
    r->old_cr3 = cr3;
    r->new_cr3 = cr3;
    r->aux = regs & PERISCOPE_THREAD_KEY_MASK;
    r->syscall_nr = pt[PERISCOPE_PT_REGS_ORIG_AX / 8];
    r->args[0] = pt[PERISCOPE_PT_REGS_AX / 8];
    r->rip = pt[PERISCOPE_PT_REGS_IP / 8];
    r->flags = (sync ? PERISCOPE_RECORD_SYNC : 0) | (periscope_dtb_contains(&vs->ctl, cr3) ? PERISCOPE_RECORD_FILTER_HIT : 0);
    if (mode & PERISCOPE_MODE_PREREAD) {
        uint64_t args[6] = {pt[PERISCOPE_PT_REGS_DI / 8], pt[PERISCOPE_PT_REGS_SI / 8], pt[PERISCOPE_PT_REGS_DX / 8],
                            pt[PERISCOPE_PT_REGS_R10 / 8], pt[PERISCOPE_PT_REGS_R8 / 8], pt[PERISCOPE_PT_REGS_R9 / 8]};
        size_t len;
        int a = preread_exit_arg(r->syscall_nr, (int64_t)r->args[0], args, &len);
        if (a >= 0)
            preread(vs, r, a, args[a], len);
    }
    uint64_t seq = r->seq;
    periscope_publish(&vs->prod);
    if (sync)
        periscope_wait_response(&vs->prod, seq, sync_timeout_ns(vs));
}

static void on_breakpoint(unsigned int vcpu_index, void *udata)
{
    vcpu_state *vs = vcpu_get(vcpu_index);
    if (!vs)
        return;
    refresh_control(vs);
    uint64_t gva = (uint64_t)(uintptr_t)udata;
    const bp_table *t = current_bps;
    int i = bp_find(t, gva);
    if (i < 0)
        return; /* a stale block: the table changed and a flush is pending */
    uint32_t kind = t->bps[i].kind;
    uint32_t mode = vs->ctl.mode;
    if (kind == PERISCOPE_BP_SYSCALL_EXIT) {
        on_syscall_exit(vs, vcpu_index, mode);
        return;
    }
    periscope_count_seen(&vs->prod);
    int is_syscall = kind == PERISCOPE_BP_SYSCALL_ENTRY;
    if (!(mode & (is_syscall ? PERISCOPE_MODE_SYSCALL : PERISCOPE_MODE_BREAKPOINT))) {
        periscope_count_filtered(&vs->prod);
        return;
    }
    uint64_t cr3 = read_reg(vs, vs->cr3);
    int hit = periscope_dtb_contains(&vs->ctl, cr3);
    if (is_syscall && (mode & PERISCOPE_MODE_SYSCALL_FILTER) && !hit) {
        periscope_count_filtered(&vs->prod);
        return;
    }
    periscope_record *r =
        periscope_reserve(&vs->prod, is_syscall ? PERISCOPE_KIND_SYSCALL : PERISCOPE_KIND_BREAKPOINT, vcpu_index);
    if (!r)
        return;
    int sync = (mode & (is_syscall ? PERISCOPE_MODE_SYSCALL_SYNC : PERISCOPE_MODE_BREAKPOINT_SYNC)) != 0;
    r->timestamp_ns = periscope_now_ns();
    r->control_generation = vs->known_generation;
    r->old_cr3 = cr3;
    r->new_cr3 = cr3;
    r->flags = (sync ? PERISCOPE_RECORD_SYNC : 0) | (hit ? PERISCOPE_RECORD_FILTER_HIT : 0);
    if (is_syscall) {
        r->syscall_nr = read_reg(vs, vs->reg[RAX]);
        r->rip = read_reg(vs, vs->reg[RCX]);
        r->args[0] = read_reg(vs, vs->reg[RDI]);
        r->args[1] = read_reg(vs, vs->reg[RSI]);
        r->args[2] = read_reg(vs, vs->reg[RDX]);
        r->args[3] = read_reg(vs, vs->reg[R10]);
        r->args[4] = read_reg(vs, vs->reg[R8]);
        r->args[5] = read_reg(vs, vs->reg[R9]);
        uint64_t rsp = read_reg(vs, vs->reg[RSP]);
        r->aux = (rsp >> 63) ? rsp & PERISCOPE_THREAD_KEY_MASK : 0; /* a kernel stack: the thread key */
        if (mode & PERISCOPE_MODE_PREREAD) {
            int a = preread_entry_arg(r->syscall_nr);
            if (a >= 0)
                preread(vs, r, a, r->args[a], PERISCOPE_RING_DATA_BYTES);
        }
        if ((mode & PERISCOPE_MODE_SYSCALL_EXIT) && r->aux && r->syscall_nr != NR_EXIT && r->syscall_nr != NR_EXIT_GROUP &&
            !periscope_pending_add(&pending, r->aux))
            PR_BUMP(&vs->prod.lane->exits_unreported, 1);
    } else {
        r->aux = gva;
        r->rip = gva;
        r->args[0] = read_reg(vs, vs->reg[RDI]);
        r->args[1] = read_reg(vs, vs->reg[RSI]);
        r->args[2] = read_reg(vs, vs->reg[RDX]);
        r->args[3] = read_reg(vs, vs->reg[RCX]);
        r->args[4] = read_reg(vs, vs->reg[R8]);
        r->args[5] = read_reg(vs, vs->reg[R9]);
    }
    uint64_t seq = r->seq;
    periscope_publish(&vs->prod);
    if (sync)
        periscope_wait_response(&vs->prod, seq, sync_timeout_ns(vs));
}

static uint32_t cr3_site_index(uint64_t vaddr, uint32_t reg)
{
    uint32_t found = 0;
    g_mutex_lock(&site_lock);
    for (uint32_t i = 0; i < site_count; i++) {
        if (sites[i].vaddr == vaddr && sites[i].reg == reg) {
            found = i + 1;
            break;
        }
    }
    if (!found && site_count < MAX_CR3_SITES) {
        sites[site_count].vaddr = vaddr;
        sites[site_count].reg = reg;
        found = ++site_count;
    }
    g_mutex_unlock(&site_lock);
    return found;
}

/* mov %reg,%cr3: [REX] 0f 22 (11 011 rrr). Returns the source register 0..15, or -1. */
static int decode_mov_to_cr3(const uint8_t *b, size_t n)
{
    size_t off = 0;
    uint8_t rex = 0;
    if (n == 4 && (b[0] & 0xf0) == 0x40) {
        rex = b[0];
        off = 1;
    } else if (n != 3) {
        return -1;
    }
    if (b[off] != 0x0f || b[off + 1] != 0x22 || (b[off + 2] & 0xf8) != 0xd8)
        return -1;
    if (rex & 0x4) /* REX.R would name cr11 */
        return -1;
    return (b[off + 2] & 7) | ((rex & 1) << 3);
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    const bp_table *t = current_bps;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        if (t && t->count && bp_find(t, vaddr) >= 0)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_breakpoint, QEMU_PLUGIN_CB_R_REGS,
                                                   (void *)(uintptr_t)vaddr);
        size_t size = qemu_plugin_insn_size(insn);
        if (size != 3 && size != 4)
            continue;
        uint8_t bytes[4];
        if (qemu_plugin_insn_data(insn, bytes, size) != size)
            continue;
        int reg = decode_mov_to_cr3(bytes, size);
        if (reg < 0)
            continue;
        uint32_t site = cr3_site_index(vaddr, (uint32_t)reg);
        if (site)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_cr3_write, QEMU_PLUGIN_CB_R_REGS,
                                                   (void *)(uintptr_t)site);
    }
}

static void on_vcpu_init(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    if (vcpu_index >= ring->lane_count || vcpu_index >= PERISCOPE_RING_MAX_LANES) {
        fprintf(stderr, "periscope: vCPU %u has no lane (ring has %u lanes): its events are not delivered\n",
                vcpu_index, ring->lane_count);
        return;
    }
    vcpu_state *vs = &vcpus[vcpu_index];
    /* runs on the vCPU's thread: its bounded synchronous waits sleep in 20 us steps, which the default 50 us
     * timer slack would stretch to ~70 us each */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    vs->buf = g_byte_array_sized_new(16);
    vs->mem = g_byte_array_sized_new(PERISCOPE_RING_DATA_BYTES);
    GArray *regs = qemu_plugin_get_registers();
    for (guint i = 0; regs && i < regs->len; i++) {
        qemu_plugin_reg_descriptor *d = &g_array_index(regs, qemu_plugin_reg_descriptor, i);
        if (debug && vcpu_index == 0)
            fprintf(stderr, "periscope: register %s (%s)\n", d->name, d->feature ? d->feature : "-");
        if (strcmp(d->name, "cr3") == 0)
            vs->cr3 = d->handle;
        for (int r = 0; r < NREGS; r++)
            if (strcmp(d->name, reg_names[r]) == 0)
                vs->reg[r] = d->handle;
    }
    if (regs)
        g_array_free(regs, TRUE);
    if (!vs->cr3 || !vs->reg[RAX]) {
        fprintf(stderr, "periscope: vCPU %u: no cr3/rax register handles: events disabled\n", vcpu_index);
        return;
    }
    periscope_producer_init(&vs->prod, ring, vcpu_index);
    refresh_control(vs);
    uint32_t count = vcpu_index + 1;
    uint32_t prev = __atomic_load_n(&ring->vcpu_count, __ATOMIC_RELAXED);
    while (prev < count && !__atomic_compare_exchange_n(&ring->vcpu_count, &prev, count, 0, __ATOMIC_RELAXED,
                                                        __ATOMIC_RELAXED)) {
    }
    __atomic_store_n(&vs->active, 1, __ATOMIC_RELEASE);
}

static void on_vcpu_idle(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    /* an idle guest writes CR3 rarely: notice control changes (breakpoint flushes) here too */
    if (vcpu_index < PERISCOPE_RING_MAX_LANES && vcpus[vcpu_index].active)
        refresh_control(&vcpus[vcpu_index]);
}

static void on_qemu_exit(qemu_plugin_id_t id, void *p)
{
    __atomic_store_n(&ring->producer_state, PERISCOPE_PRODUCER_DETACHED, __ATOMIC_RELEASE);
}

static void register_callbacks(void)
{
    qemu_plugin_register_vcpu_tb_trans_cb(plugin_id, on_tb_trans);
    qemu_plugin_register_vcpu_idle_cb(plugin_id, on_vcpu_idle);
    qemu_plugin_register_atexit_cb(plugin_id, on_qemu_exit, NULL);
}

static int parse_token(const char *hex, uint64_t out[2])
{
    if (strlen(hex) != 32)
        return -1;
    for (int w = 0; w < 2; w++) {
        uint64_t v = 0;
        for (int i = 0; i < 16; i++) {
            char c = hex[w * 16 + i];
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0)
                return -1;
            v = (v << 4) | (uint64_t)d;
        }
        out[w] = v;
    }
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *path = NULL;
    const char *tok = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (g_str_has_prefix(a, "ring=")) {
            path = a + 5;
        } else if (g_str_has_prefix(a, "token=")) {
            tok = a + 6;
        } else if (g_str_has_prefix(a, "token-file=")) {
            gchar *contents = NULL;
            GError *err = NULL;
            if (!g_file_get_contents(a + 11, &contents, NULL, &err)) {
                fprintf(stderr, "periscope: cannot read token file: %s\n", err->message);
                g_error_free(err);
                return -1;
            }
            g_strstrip(contents);
            static char token_buf[40];
            g_strlcpy(token_buf, contents, sizeof token_buf);
            g_free(contents);
            tok = token_buf;
        } else if (g_str_has_prefix(a, "debug=")) {
            bool on = false;
            if (!qemu_plugin_bool_parse("debug", a + 6, &on)) {
                fprintf(stderr, "periscope: bad value in '%s'\n", a);
                return -1;
            }
            debug = on;
        } else {
            fprintf(stderr, "periscope: unknown argument '%s' (expected ring=PATH,token=HEX32|token-file=PATH[,debug=on])\n", a);
            return -1;
        }
    }
    if (!info->system_emulation || strcmp(info->target_name, "x86_64") != 0) {
        fprintf(stderr, "periscope: needs qemu-system-x86_64 (got %s%s)\n", info->target_name,
                info->system_emulation ? "" : ", user mode");
        return -1;
    }
    if (!path || !tok) {
        fprintf(stderr, "periscope: usage: -plugin libperiscope_qemu.so,ring=/dev/shm/NAME.ring,"
                        "token=HEX32|token-file=PATH[,debug=on]\n");
        return -1;
    }
    if (parse_token(tok, token) != 0) {
        fprintf(stderr, "periscope: token must be 32 hex digits\n");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "periscope: cannot open ring %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(periscope_ring_header)) {
        fprintf(stderr, "periscope: ring %s is not a regular file of at least %zu bytes\n", path,
                sizeof(periscope_ring_header));
        close(fd);
        return -1;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        fprintf(stderr, "periscope: cannot map ring %s: %s\n", path, strerror(errno));
        return -1;
    }
    const char *why = periscope_ring_validate(base, (uint64_t)st.st_size);
    if (why) {
        fprintf(stderr, "periscope: refusing ring %s: %s (plugin ABI %d, record %zu bytes, header %zu bytes)\n",
                path, why, PERISCOPE_RING_ABI_VERSION, sizeof(periscope_record), sizeof(periscope_ring_header));
        munmap(base, (size_t)st.st_size);
        return -1;
    }
    uint32_t prev_state = __atomic_load_n(&((periscope_ring_header *)base)->producer_state, __ATOMIC_ACQUIRE);
    if (prev_state == PERISCOPE_PRODUCER_ATTACHED) {
        fprintf(stderr, "periscope: warning: ring %s says a producer is attached already (stale?)\n", path);
    }
    ring = base;
    ring_size = (uint64_t)st.st_size;
    plugin_id = id;
    ring->producer_pid = (uint32_t)getpid();
    ring->producer_features = PERISCOPE_FEATURE_SYSCALL_EXIT;
    ring->producer_attach_ns = periscope_now_ns();
    __atomic_store_n(&ring->producer_state, PERISCOPE_PRODUCER_ATTACHED, __ATOMIC_RELEASE);
    qemu_plugin_register_vcpu_init_cb(id, on_vcpu_init);
    register_callbacks();
    if (debug)
        fprintf(stderr, "periscope: attached to %s (%u lanes x %u records)\n", path, ring->lane_count,
                ring->lane_capacity);
    return 0;
}
