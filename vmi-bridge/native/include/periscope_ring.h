/*
 * periscope_ring.h: the Periscope event ring ABI.
 *
 * One shared-memory file (/dev/shm/NAME.ring) carries events from a hypervisor extension (the QEMU TCG
 * plugin, later the Xen shim) to the Java ring reader, and control from Java back to the extension.
 * This header is the single source of truth for the layout: the plugin and the C tests include it, the
 * Java bindings in dev.periscope.vmi.nativeapi.ring are generated from it by jextract
 * (native/scripts/jextract-bindings.sh). Fixed-width types only, no enums, no pointers, no bitfields:
 * the layout must be identical for every compiler and for jextract.
 *
 * Who creates the file: the CONSUMER (Java, EventRing.create). It sizes the file, writes the identity
 * line (magic .. total_size) and an empty control block, then starts QEMU with
 *     -plugin libperiscope_qemu.so,ring=/dev/shm/NAME.ring,token=<32 hex digits>
 * The plugin only maps an existing file (MAP_SHARED), validates magic, abi_version, header_size,
 * record_size, lane_size, lane_capacity (power of two), lane_count and total_size against the file size,
 * and refuses to load (QEMU reports the plugin failed to install) if any check fails.
 *
 * File layout:
 *     [0, sizeof(periscope_ring_header))   control block (identity, producer status, control, lanes)
 *     [records_offset, total_size)         lane_count lanes of lane_capacity records each:
 *                                          lane i, slot s at records_offset + (i*lane_capacity + s)*record_size
 *
 * Lanes: one per vCPU (vCPU index == lane index), each single-producer (that vCPU's thread) /
 * single-consumer (the Java ring thread). head and tail are free-running uint64_t counts of records;
 * the slot of record n is n & (lane_capacity - 1). A lane is full when head - tail == lane_capacity.
 *
 * Memory ordering (C11 <stdatomic.h> semantics; Java uses VarHandle getAcquire/setRelease on the same
 * offsets through the generated layouts):
 *   - producer: write the record slot with plain stores, then store head with RELEASE;
 *               read tail with ACQUIRE (it may then reuse the slots the consumer released).
 *   - consumer: read head with ACQUIRE, read the records [tail, head), then store tail with RELEASE.
 *   - response: the consumer stores response_seq (>= the answered seq) with RELEASE; the waiting vCPU
 *               loads it with ACQUIRE. A vCPU whose wait timed out waits again only once the consumer has
 *               answered something since: a stalled or vanished consumer costs it one timeout, not one per
 *               event (the records it did not wait for still count in sync_timeouts).
 *   - counters: written by one producer only (its lane's), relaxed stores (no read-modify-write on the
 *               fast path); readers use ACQUIRE or opaque loads and may see slightly stale values.
 *   - control:  a seqlock. The single writer (Java) stores generation+1 (odd), issues a release fence,
 *               writes the fields, then stores generation+2 with RELEASE. A reader loads generation with
 *               ACQUIRE, skips if odd, copies the fields with relaxed loads, issues an acquire fence and
 *               re-reads generation: if it changed the copy is discarded and retried later. The plugin
 *               adopts a copy only if control.token equals the capability token it was started with;
 *               otherwise it counts control_rejected and falls back to mode 0 (deliver nothing, never
 *               wait): a writer without the token can switch monitoring off (as it could by corrupting
 *               the file) but cannot redirect it or make vCPUs wait. The token is no secret from anyone
 *               who can read the file: file permissions (0600, Periscope's user) are the real boundary.
 *
 * Configuration changes: each record carries the control generation its producer had adopted, so the
 * consumer can tell records written under an older configuration (still in the ring) from newer ones.
 *
 * Sequence numbers: every event a lane's producer decides to deliver gets the next lane sequence number
 * (from 1), whether it is then written or dropped for lack of room, so a gap in seq is always visible.
 * When records were dropped, the producer writes a DROP_MARKER (args[0] = number dropped since the
 * previous marker) before the next record that fits. Per lane, eventually:
 *     seen == filtered + delivered + dropped
 * cr3_seen and cr3_filtered split out the CR3-write share of seen and filtered (the rest are breakpoint hits),
 * so the monitoring-method experiment can report CR3 events and syscall events separately.
 *
 * Syscall results (PERISCOPE_FEATURE_SYSCALL_EXIT). A producer that sets this bit in producer_features reports
 * the return of each syscall whose entry it delivered, as one SYSCALL_EXIT record, so that Java can pair exits
 * with entries per guest thread:
 *   - the thread key: a thread in a syscall is named by the 4 KiB page holding the top of its kernel stack, where
 *     its struct pt_regs lives (the kernel stack top is page aligned; pt_regs is its last 168 bytes). A SYSCALL
 *     record carries it in aux (rsp & PERISCOPE_THREAD_KEY_MASK at a SYSCALL_ENTRY breakpoint placed where rsp is
 *     already the kernel stack: entry_SYSCALL_64_after_hwframe; 0 when rsp is not a kernel address, e.g. at
 *     entry_SYSCALL_64 itself, and such an entry gets no exit); a SYSCALL_EXIT record in aux too
 *     (pt_regs & PERISCOPE_THREAD_KEY_MASK).
 *   - the exit point: a SYSCALL_EXIT breakpoint at syscall_exit_to_user_mode (an out-of-line function in 6.1 and
 *     6.12), whose first argument rdi is the returning thread's struct pt_regs *; the producer reads the
 *     PERISCOPE_PT_REGS_SIZE bytes there
 *     (kernel memory, mapped in the current CR3): pt_regs.ax is the return value as the caller will see it
 *     (before any signal handler runs), pt_regs.orig_ax the syscall number, pt_regs.ip the user return address.
 *     Layout: PERISCOPE_PT_REGS_* below, fixed by the kernel's entry code (the BTF of 6.1 and 6.12 agrees; Java
 *     checks every paired exit's orig_ax against its entry's number and counts mismatches).
 *   - what is delivered: while mode has PERISCOPE_MODE_SYSCALL_EXIT, the producer remembers the key of every
 *     SYSCALL record it wrote (except exit and exit_group, which never return) in a bounded pending set shared by
 *     all vCPUs (periscope_pending_* in periscope_ring_ops.h: a thread may return on another vCPU), and at a
 *     SYSCALL_EXIT breakpoint delivers a record exactly when it takes the thread's key out of that set: not the DTB
 *     filter, so a call that changes the address space (execve) still reports its return, and other threads'
 *     returns never leave the producer. A full set (that call's return is then not reported) and an unreadable
 *     pt_regs are counted in the lane's exits_unreported. Exits follow PERISCOPE_MODE_SYSCALL_SYNC like entries;
 *     PERISCOPE_MODE_SYSCALL arming (M3, M4) does not gate them: a call entered while armed reports its return.
 *   - the record: syscall_nr = pt_regs.orig_ax, args[0] = pt_regs.ax (the return value; -4095..-1 is -errno),
 *     rip = pt_regs.ip, old_cr3 == new_cr3 == CR3, aux = the thread key, args[1..5] = 0. With
 *     PERISCOPE_MODE_PREREAD data may hold up to 64 bytes of the call's output (what read() read, the fds pipe() made, the stat buffer),
 *     read from the address in entry argument PERISCOPE_RECORD_DATA_ARG(flags).
 * A pre-read SYSCALL record names the argument its data was read from the same way, so Java needs no copy of the
 * producer's table of which calls it pre-reads.
 */
#ifndef PERISCOPE_RING_H
#define PERISCOPE_RING_H

#include <stdint.h>

#define PERISCOPE_RING_MAGIC 0x31474E4952435350ULL /* "PSCRING1" read as little-endian bytes */
#define PERISCOPE_RING_ABI_VERSION 1

#define PERISCOPE_RING_MAX_LANES 64
#define PERISCOPE_RING_MAX_DTBS 64
#define PERISCOPE_RING_MAX_BREAKPOINTS 64
#define PERISCOPE_RING_DATA_BYTES 64
#define PERISCOPE_RING_RECORDS_ALIGN 4096
#define PERISCOPE_RING_DEFAULT_SYNC_TIMEOUT_US 1000

/* Mask applied to CR3 values before comparing with the DTB filter set (PCID and the PTI user/kernel
 * 8 KiB pair in bits 0-12, the no-flush bit 63), as LibVMI's pgd matching does. */
#define PERISCOPE_DTB_MASK 0x7FFFFFFFFFFFE000ULL

/* periscope_record.kind */
#define PERISCOPE_KIND_CR3_WRITE 1   /* mov %reg,%cr3: old_cr3, new_cr3, rip */
#define PERISCOPE_KIND_SYSCALL 2     /* syscall entry: syscall_nr, args[0..5], old_cr3 == new_cr3 == CR3 */
#define PERISCOPE_KIND_BREAKPOINT 3  /* other breakpoint: rip, args = rdi, rsi, rdx, rcx, r8, r9, aux = gva */
#define PERISCOPE_KIND_DROP_MARKER 4 /* args[0] = records dropped on this lane since the previous marker */
#define PERISCOPE_KIND_SYSCALL_EXIT 5 /* syscall return: syscall_nr, args[0] = return value, aux = thread key */

/* periscope_record.flags */
#define PERISCOPE_RECORD_SYNC 0x1u       /* the vCPU waits until response_seq >= seq */
#define PERISCOPE_RECORD_DATA_VALID 0x2u /* data[0..data_len) holds pre-read guest memory */
#define PERISCOPE_RECORD_FILTER_HIT 0x4u /* old or new / current CR3 is in the DTB filter set */
/* with DATA_VALID on SYSCALL and SYSCALL_EXIT records: data was read at the address in argument n (0..5) */
#define PERISCOPE_RECORD_DATA_ARG_SHIFT 8
#define PERISCOPE_RECORD_DATA_ARG_MASK 0x700u
#define PERISCOPE_RECORD_DATA_ARG(flags) (((flags) & PERISCOPE_RECORD_DATA_ARG_MASK) >> PERISCOPE_RECORD_DATA_ARG_SHIFT)

/* periscope_control.mode */
#define PERISCOPE_MODE_CR3 0x01u            /* deliver CR3_WRITE records */
#define PERISCOPE_MODE_CR3_FILTER 0x02u     /* ... only switches to/from a DTB in the filter set (old and new
                                             * differ under PERISCOPE_DTB_MASK: PTI user/kernel flips of one
                                             * process are not switches) */
#define PERISCOPE_MODE_CR3_SYNC 0x04u       /* ... and wait for Java on each (M3, M4) */
#define PERISCOPE_MODE_SYSCALL 0x08u        /* deliver SYSCALL records at SYSCALL_ENTRY breakpoints */
#define PERISCOPE_MODE_SYSCALL_FILTER 0x10u /* ... only while the current DTB is in the filter set */
#define PERISCOPE_MODE_SYSCALL_SYNC 0x20u   /* ... and wait for Java on each (M2) */
#define PERISCOPE_MODE_BREAKPOINT 0x40u     /* deliver BREAKPOINT records at PLAIN breakpoints */
#define PERISCOPE_MODE_BREAKPOINT_SYNC 0x80u
#define PERISCOPE_MODE_PREREAD 0x100u       /* pre-read guest memory for SYSCALL and SYSCALL_EXIT records */
#define PERISCOPE_MODE_SYSCALL_EXIT 0x200u  /* deliver SYSCALL_EXIT records of delivered entries (see above) */

/* periscope_breakpoint.kind */
#define PERISCOPE_BP_SYSCALL_ENTRY 1 /* at entry_SYSCALL_64: rax = nr, rdi rsi rdx r10 r8 r9 = args */
#define PERISCOPE_BP_PLAIN 2         /* any address: BREAKPOINT record with rdi rsi rdx rcx r8 r9 */
#define PERISCOPE_BP_SYSCALL_EXIT 3  /* at syscall_exit_to_user_mode: rdi = the returning thread's struct pt_regs * */

/* periscope_ring_header.producer_features */
#define PERISCOPE_FEATURE_SYSCALL_EXIT 0x1u /* SYSCALL_EXIT breakpoints, records and thread keys (see above) */

/* Thread keys (SYSCALL and SYSCALL_EXIT aux): the 4 KiB page of the kernel stack top */
#define PERISCOPE_THREAD_KEY_MASK 0xFFFFFFFFFFFFF000ULL

/* x86-64 struct pt_regs (arch/x86/include/asm/ptrace.h): byte offsets of the fields a producer reads */
#define PERISCOPE_PT_REGS_SIZE 168
#define PERISCOPE_PT_REGS_R10 56
#define PERISCOPE_PT_REGS_R9 64
#define PERISCOPE_PT_REGS_R8 72
#define PERISCOPE_PT_REGS_AX 80
#define PERISCOPE_PT_REGS_DX 96
#define PERISCOPE_PT_REGS_SI 104
#define PERISCOPE_PT_REGS_DI 112
#define PERISCOPE_PT_REGS_ORIG_AX 120
#define PERISCOPE_PT_REGS_IP 128
#define PERISCOPE_PT_REGS_SP 152

/* periscope_ring_header.producer_state */
#define PERISCOPE_PRODUCER_NONE 0
#define PERISCOPE_PRODUCER_ATTACHED 1
#define PERISCOPE_PRODUCER_DETACHED 2

/* One event: 192 bytes, three cache lines. */
typedef struct periscope_record {
    uint32_t kind;
    uint32_t vcpu;
    uint64_t seq;
    uint64_t timestamp_ns; /* host CLOCK_MONOTONIC (Java: System.nanoTime() on Linux) */
    uint64_t old_cr3;
    uint64_t new_cr3;
    uint64_t rip;
    uint64_t syscall_nr;
    uint64_t args[6];
    uint32_t flags;
    uint32_t data_len;
    uint64_t aux;
    uint64_t control_generation; /* control generation the producer applied when it wrote this record */
    uint8_t data[PERISCOPE_RING_DATA_BYTES];
} periscope_record;

typedef struct periscope_breakpoint {
    uint64_t gva; /* guest virtual address of the first byte of an instruction */
    uint32_t kind;
    uint32_t flags; /* reserved, 0 */
} periscope_breakpoint;

/* Written by the consumer only, under the generation seqlock. */
typedef struct periscope_control {
    uint64_t generation;
    uint64_t token[2];
    uint32_t mode;
    uint32_t sync_timeout_us; /* 0: PERISCOPE_RING_DEFAULT_SYNC_TIMEOUT_US */
    uint32_t dtb_count;
    uint32_t breakpoint_count;
    uint64_t dtbs[PERISCOPE_RING_MAX_DTBS]; /* ascending, already masked with PERISCOPE_DTB_MASK */
    periscope_breakpoint breakpoints[PERISCOPE_RING_MAX_BREAKPOINTS];
    uint64_t reserved[3];
} periscope_control;

/* Per-lane indices, counters and response slot: four cache lines, each written by one side only. */
typedef struct periscope_lane {
    /* line 0: producer (this lane's vCPU thread) */
    uint64_t head;
    uint64_t next_seq; /* last sequence number handed out */
    uint64_t seen;
    uint64_t filtered;
    uint64_t delivered;
    uint64_t dropped;
    uint64_t vcpu_wait_ns;
    uint64_t sync_timeouts;
    /* line 1: consumer */
    uint64_t tail;
    uint64_t consumer_reserved[7];
    /* line 2: response lane (consumer writes) */
    uint64_t response_seq; /* highest sequence number answered */
    uint64_t response_reserved[7];
    /* line 3: producer bookkeeping */
    uint64_t pending_drops; /* dropped since the last DROP_MARKER */
    uint64_t drop_markers;
    uint64_t sync_waiting_seq; /* seq the vCPU is waiting for, 0 when not waiting */
    uint64_t applied_generation; /* control generation this lane's producer last adopted or rejected */
    uint64_t cr3_seen;     /* CR3 writes observed (included in seen) */
    uint64_t cr3_filtered; /* CR3 writes not delivered by the configuration (included in filtered) */
    uint64_t exits_unreported; /* syscall returns not reported: pending set full, or pt_regs unreadable */
    uint64_t producer_reserved[1];
} periscope_lane;

typedef struct periscope_ring_header {
    /* line 0: identity, written once by the creator (the consumer) before the producer attaches */
    uint64_t magic;
    uint32_t abi_version;
    uint32_t header_size;   /* sizeof(periscope_ring_header) */
    uint32_t record_size;   /* sizeof(periscope_record) */
    uint32_t lane_size;     /* sizeof(periscope_lane) */
    uint32_t lane_count;    /* <= PERISCOPE_RING_MAX_LANES */
    uint32_t lane_capacity; /* records per lane, a power of two */
    uint64_t records_offset;
    uint64_t total_size;
    uint64_t created_ns;
    uint64_t identity_reserved;
    /* line 1: producer status, written by the producer */
    uint32_t producer_state;
    uint32_t producer_pid;
    uint32_t vcpu_count;
    uint32_t producer_features; /* PERISCOPE_FEATURE_*: what this producer can do beyond ABI version 1 */
    uint64_t producer_attach_ns;
    uint64_t control_applied_generation;
    uint64_t control_rejected;
    uint64_t flushes;        /* translation-cache flushes done for breakpoint table changes */
    uint64_t unlaned_events; /* events of vCPUs with index >= lane_count (not delivered) */
    uint64_t producer_reserved1;
    /* lines 2..: control (consumer writes), padded to a cache line */
    periscope_control control;
    uint64_t control_pad[8];
    periscope_lane lanes[PERISCOPE_RING_MAX_LANES];
} periscope_ring_header;

#define PERISCOPE_RING_RECORDS_OFFSET \
    ((sizeof(periscope_ring_header) + PERISCOPE_RING_RECORDS_ALIGN - 1) & ~(uint64_t)(PERISCOPE_RING_RECORDS_ALIGN - 1))

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(PERISCOPE_RING_NO_ASSERTS)
#include <stddef.h>
_Static_assert(sizeof(periscope_record) == 192, "periscope_record is 192 bytes");
_Static_assert(offsetof(periscope_record, seq) == 8, "record.seq");
_Static_assert(offsetof(periscope_record, timestamp_ns) == 16, "record.timestamp_ns");
_Static_assert(offsetof(periscope_record, old_cr3) == 24, "record.old_cr3");
_Static_assert(offsetof(periscope_record, new_cr3) == 32, "record.new_cr3");
_Static_assert(offsetof(periscope_record, rip) == 40, "record.rip");
_Static_assert(offsetof(periscope_record, syscall_nr) == 48, "record.syscall_nr");
_Static_assert(offsetof(periscope_record, args) == 56, "record.args");
_Static_assert(offsetof(periscope_record, flags) == 104, "record.flags");
_Static_assert(offsetof(periscope_record, aux) == 112, "record.aux");
_Static_assert(offsetof(periscope_record, control_generation) == 120, "record.control_generation");
_Static_assert(offsetof(periscope_record, data) == 128, "record.data");
_Static_assert(sizeof(periscope_breakpoint) == 16, "periscope_breakpoint is 16 bytes");
_Static_assert(sizeof(periscope_lane) == 256, "periscope_lane is 4 cache lines");
_Static_assert(offsetof(periscope_lane, tail) == 64, "lane.tail on its own line");
_Static_assert(offsetof(periscope_lane, response_seq) == 128, "lane.response_seq on its own line");
_Static_assert(offsetof(periscope_lane, pending_drops) == 192, "lane bookkeeping line");
_Static_assert(offsetof(periscope_lane, applied_generation) == 216, "lane.applied_generation");
_Static_assert(offsetof(periscope_lane, cr3_seen) == 224, "lane.cr3_seen");
_Static_assert(offsetof(periscope_lane, exits_unreported) == 240, "lane.exits_unreported");
_Static_assert(offsetof(periscope_ring_header, producer_features) == 76, "header.producer_features");
_Static_assert(offsetof(periscope_control, dtbs) == 40, "control.dtbs");
_Static_assert(sizeof(periscope_control) == 1600, "periscope_control size");
_Static_assert(offsetof(periscope_ring_header, producer_state) == 64, "header line 1");
_Static_assert(offsetof(periscope_ring_header, control) == 128, "header.control");
_Static_assert(offsetof(periscope_ring_header, lanes) % 64 == 0, "lanes cache-line aligned");
_Static_assert(offsetof(periscope_ring_header, lanes) == 1792, "header.lanes");
_Static_assert(sizeof(periscope_ring_header) == 1792 + 64 * 256, "header size");
#endif

#endif /* PERISCOPE_RING_H */
