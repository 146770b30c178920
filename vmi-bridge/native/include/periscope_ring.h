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

/* periscope_record.flags */
#define PERISCOPE_RECORD_SYNC 0x1u       /* the vCPU waits until response_seq >= seq */
#define PERISCOPE_RECORD_DATA_VALID 0x2u /* data[0..data_len) holds pre-read guest memory */
#define PERISCOPE_RECORD_FILTER_HIT 0x4u /* old or new / current CR3 is in the DTB filter set */

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
#define PERISCOPE_MODE_PREREAD 0x100u       /* pre-read guest memory for SYSCALL records (see plugin) */

/* periscope_breakpoint.kind */
#define PERISCOPE_BP_SYSCALL_ENTRY 1 /* at entry_SYSCALL_64: rax = nr, rdi rsi rdx r10 r8 r9 = args */
#define PERISCOPE_BP_PLAIN 2         /* any address: BREAKPOINT record with rdi rsi rdx rcx r8 r9 */

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
    uint64_t producer_reserved[2];
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
    uint32_t producer_reserved0;
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
_Static_assert(offsetof(periscope_control, dtbs) == 40, "control.dtbs");
_Static_assert(sizeof(periscope_control) == 1600, "periscope_control size");
_Static_assert(offsetof(periscope_ring_header, producer_state) == 64, "header line 1");
_Static_assert(offsetof(periscope_ring_header, control) == 128, "header.control");
_Static_assert(offsetof(periscope_ring_header, lanes) % 64 == 0, "lanes cache-line aligned");
_Static_assert(offsetof(periscope_ring_header, lanes) == 1792, "header.lanes");
_Static_assert(sizeof(periscope_ring_header) == 1792 + 64 * 256, "header size");
#endif

#endif /* PERISCOPE_RING_H */
