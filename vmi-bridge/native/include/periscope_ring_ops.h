/*
 * periscope_ring_ops.h: C helpers over the ring ABI in periscope_ring.h, shared by the QEMU plugin, the
 * Xen shim and the C tests. Header-only (static inline). Not an ABI: jextract never sees this file.
 * Atomics are GCC/Clang __atomic builtins on the plain uint64_t fields of the ABI structs, with the
 * orderings documented in periscope_ring.h.
 */
#ifndef PERISCOPE_RING_OPS_H
#define PERISCOPE_RING_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sched.h>

#include "periscope_ring.h"

#define PR_LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define PR_LOAD_RLX(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define PR_STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define PR_STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* single-writer counter: no read-modify-write needed */
#define PR_BUMP(p, n) PR_STORE_RLX((p), PR_LOAD_RLX(p) + (n))

static inline uint64_t periscope_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t periscope_ring_total_size(uint32_t lane_count, uint32_t lane_capacity)
{
    return PERISCOPE_RING_RECORDS_OFFSET + (uint64_t)lane_count * lane_capacity * sizeof(periscope_record);
}

/* Initialise a zeroed mapping as the creator does (Java does the same in EventRing.create). */
static inline void periscope_ring_init(void *base, uint32_t lane_count, uint32_t lane_capacity)
{
    periscope_ring_header *h = (periscope_ring_header *)base;
    h->abi_version = PERISCOPE_RING_ABI_VERSION;
    h->header_size = sizeof(periscope_ring_header);
    h->record_size = sizeof(periscope_record);
    h->lane_size = sizeof(periscope_lane);
    h->lane_count = lane_count;
    h->lane_capacity = lane_capacity;
    h->records_offset = PERISCOPE_RING_RECORDS_OFFSET;
    h->total_size = periscope_ring_total_size(lane_count, lane_capacity);
    h->created_ns = periscope_now_ns();
    PR_STORE_REL(&h->magic, PERISCOPE_RING_MAGIC);
}

/* NULL when the mapping of file_size bytes is a ring this code can use, else a reason. */
static inline const char *periscope_ring_validate(const void *base, uint64_t file_size)
{
    const periscope_ring_header *h = (const periscope_ring_header *)base;
    if (file_size < sizeof(periscope_ring_header))
        return "file smaller than the ring header";
    if (PR_LOAD_ACQ(&h->magic) != PERISCOPE_RING_MAGIC)
        return "bad magic (not a Periscope ring, or not initialised yet)";
    if (h->abi_version != PERISCOPE_RING_ABI_VERSION)
        return "ABI version mismatch";
    if (h->header_size != sizeof(periscope_ring_header) || h->record_size != sizeof(periscope_record) ||
        h->lane_size != sizeof(periscope_lane))
        return "header, record or lane size mismatch";
    if (h->lane_count == 0 || h->lane_count > PERISCOPE_RING_MAX_LANES)
        return "lane_count out of range";
    if (h->lane_capacity < 2 || (h->lane_capacity & (h->lane_capacity - 1)) != 0 || h->lane_capacity > (1u << 24))
        return "lane_capacity is not a power of two in [2, 2^24]";
    if (h->records_offset != PERISCOPE_RING_RECORDS_OFFSET)
        return "records_offset mismatch";
    if (h->total_size != periscope_ring_total_size(h->lane_count, h->lane_capacity) || h->total_size > file_size)
        return "total_size does not match the geometry or exceeds the file";
    return NULL;
}

static inline periscope_record *periscope_slot(periscope_ring_header *h, uint32_t lane, uint64_t n)
{
    uint64_t index = (uint64_t)lane * h->lane_capacity + (n & (h->lane_capacity - 1));
    return (periscope_record *)((uint8_t *)h + h->records_offset + index * sizeof(periscope_record));
}

/* Producer-private state of one lane (lives in the producer, not in shared memory). */
typedef struct periscope_producer {
    periscope_ring_header *h;
    periscope_lane *lane;
    uint32_t lane_index;
    uint32_t marker_pending; /* a DROP_MARKER sits in the reserved slots */
    uint64_t cached_tail;
    uint64_t reserved_head;  /* slot index of the record handed out by periscope_reserve */
    uint32_t stalled;        /* the last wait timed out and the consumer has answered nothing since */
    uint64_t stalled_at;     /* response_seq when that wait timed out */
} periscope_producer;

static inline void periscope_producer_init(periscope_producer *p, periscope_ring_header *h, uint32_t lane)
{
    p->h = h;
    p->lane = &h->lanes[lane];
    p->lane_index = lane;
    p->marker_pending = 0;
    p->cached_tail = PR_LOAD_ACQ(&p->lane->tail);
    p->reserved_head = 0;
    p->stalled = 0;
    p->stalled_at = 0;
}

/* Accounting for every event the producer saw, and for those the configuration did not want. */
static inline void periscope_count_seen(periscope_producer *p) { PR_BUMP(&p->lane->seen, 1); }
static inline void periscope_count_filtered(periscope_producer *p) { PR_BUMP(&p->lane->filtered, 1); }

/*
 * Reserve the slot for a wanted event (already counted as seen). Returns the slot with kind, vcpu and seq
 * set and everything before data[] zeroed, or NULL when the lane is full: the event is then counted as
 * dropped and a DROP_MARKER will precede the next record that fits. Fill it, then periscope_publish().
 */
static inline periscope_record *periscope_reserve(periscope_producer *p, uint32_t kind, uint32_t vcpu)
{
    periscope_lane *l = p->lane;
    uint64_t cap = p->h->lane_capacity;
    uint64_t head = PR_LOAD_RLX(&l->head);
    uint64_t pending = PR_LOAD_RLX(&l->pending_drops);
    uint64_t need = pending ? 2 : 1;
    uint64_t seq = PR_LOAD_RLX(&l->next_seq) + 1;
    PR_STORE_RLX(&l->next_seq, seq);
    if (head + need - p->cached_tail > cap) {
        p->cached_tail = PR_LOAD_ACQ(&l->tail);
        if (head + need - p->cached_tail > cap) {
            PR_BUMP(&l->dropped, 1);
            PR_STORE_RLX(&l->pending_drops, pending + 1);
            return NULL;
        }
    }
    p->marker_pending = 0;
    if (pending) {
        periscope_record *m = periscope_slot(p->h, p->lane_index, head);
        memset(m, 0, offsetof(periscope_record, data));
        m->kind = PERISCOPE_KIND_DROP_MARKER;
        m->vcpu = vcpu;
        m->seq = seq - 1; /* the last sequence number that was dropped */
        m->timestamp_ns = periscope_now_ns();
        m->args[0] = pending;
        head++;
        p->marker_pending = 1;
    }
    periscope_record *r = periscope_slot(p->h, p->lane_index, head);
    memset(r, 0, offsetof(periscope_record, data));
    r->kind = kind;
    r->vcpu = vcpu;
    r->seq = seq;
    p->reserved_head = head;
    return r;
}

/* Make the reserved record (and a preceding DROP_MARKER) visible to the consumer. */
static inline void periscope_publish(periscope_producer *p)
{
    periscope_lane *l = p->lane;
    if (p->marker_pending) {
        periscope_slot(p->h, p->lane_index, p->reserved_head - 1)->control_generation =
            periscope_slot(p->h, p->lane_index, p->reserved_head)->control_generation;
        PR_STORE_RLX(&l->pending_drops, 0);
        PR_BUMP(&l->drop_markers, 1);
        p->marker_pending = 0;
    }
    PR_BUMP(&l->delivered, 1);
    PR_STORE_REL(&l->head, p->reserved_head + 1);
}

#ifndef PERISCOPE_SYNC_SPIN_NS
#define PERISCOPE_SYNC_SPIN_NS 30000 /* busy-wait this long before sleeping in 20 us steps */
#endif

/*
 * Wait (bounded) until the consumer answered seq in the response lane: spin first, then sleep, until
 * timeout_ns. Adds the time waited to vcpu_wait_ns; counts a timeout in sync_timeouts. 1 if answered.
 * After a timeout the lane does not wait again until the consumer has answered something since: a consumer
 * that stalls (or died) costs the vCPU one timeout, not one per event; each record it does not wait for is
 * still counted as a timeout.
 */
static inline int periscope_wait_response(periscope_producer *p, uint64_t seq, uint64_t timeout_ns)
{
    periscope_lane *l = p->lane;
    uint64_t answered_up_to = PR_LOAD_ACQ(&l->response_seq);
    if (answered_up_to >= seq)
        return 1;
    if (p->stalled) {
        if (answered_up_to == p->stalled_at) {
            PR_BUMP(&l->sync_timeouts, 1);
            return 0;
        }
        p->stalled = 0;
    }
    PR_STORE_RLX(&l->sync_waiting_seq, seq);
    uint64_t start = periscope_now_ns();
    uint64_t now = start;
    int answered = 0;
    for (uint32_t spins = 0;; spins++) {
        if (PR_LOAD_ACQ(&l->response_seq) >= seq) {
            answered = 1;
            break;
        }
        if ((spins & 63) == 0) {
            now = periscope_now_ns();
            if (now - start >= timeout_ns)
                break;
        }
        if (now - start < PERISCOPE_SYNC_SPIN_NS) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            /* sleep rather than sched_yield: on a busy host the consumer thread needs this CPU */
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            now = periscope_now_ns();
        }
    }
    now = periscope_now_ns();
    PR_BUMP(&l->vcpu_wait_ns, now - start);
    if (!answered) {
        PR_BUMP(&l->sync_timeouts, 1);
        p->stalled = 1;
        p->stalled_at = PR_LOAD_ACQ(&l->response_seq);
    }
    PR_STORE_RLX(&l->sync_waiting_seq, 0);
    return answered;
}

/* Control snapshot (seqlock reader). */
#define PERISCOPE_CONTROL_UNCHANGED 0
#define PERISCOPE_CONTROL_ADOPTED 1
#define PERISCOPE_CONTROL_BUSY 2     /* writer active: try again later */
#define PERISCOPE_CONTROL_REJECTED 3 /* token mismatch: keep the old configuration */

/*
 * Copy the control block into *out if its generation differs from *known_generation and the token
 * matches. *known_generation is updated on ADOPTED and on REJECTED (so a bad write is counted once).
 */
static inline int periscope_control_snapshot(periscope_ring_header *h, const uint64_t token[2],
                                             uint64_t *known_generation, periscope_control *out)
{
    periscope_control *c = &h->control;
    uint64_t g1 = PR_LOAD_ACQ(&c->generation);
    if (g1 == *known_generation)
        return PERISCOPE_CONTROL_UNCHANGED;
    if (g1 & 1)
        return PERISCOPE_CONTROL_BUSY;
    uint64_t words[sizeof(periscope_control) / 8];
    const uint64_t *src = (const uint64_t *)c;
    for (size_t i = 0; i < sizeof(periscope_control) / 8; i++)
        words[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    periscope_control tmp;
    memcpy(&tmp, words, sizeof tmp);
    if (PR_LOAD_RLX(&c->generation) != g1)
        return PERISCOPE_CONTROL_BUSY;
    *known_generation = g1;
    if (tmp.token[0] != token[0] || tmp.token[1] != token[1])
        return PERISCOPE_CONTROL_REJECTED;
    if (tmp.dtb_count > PERISCOPE_RING_MAX_DTBS)
        tmp.dtb_count = PERISCOPE_RING_MAX_DTBS;
    if (tmp.breakpoint_count > PERISCOPE_RING_MAX_BREAKPOINTS)
        tmp.breakpoint_count = PERISCOPE_RING_MAX_BREAKPOINTS;
    /* never trust the writer's ordering: mask and insertion-sort (n <= 64) */
    for (uint32_t i = 0; i < tmp.dtb_count; i++) {
        uint64_t v = tmp.dtbs[i] & PERISCOPE_DTB_MASK;
        uint32_t j = i;
        while (j > 0 && tmp.dtbs[j - 1] > v) {
            tmp.dtbs[j] = tmp.dtbs[j - 1];
            j--;
        }
        tmp.dtbs[j] = v;
    }
    *out = tmp;
    return PERISCOPE_CONTROL_ADOPTED;
}

/* Consumer side write of the control block (used by C tests; Java does the same with VarHandles). */
static inline void periscope_control_write(periscope_ring_header *h, const periscope_control *in)
{
    periscope_control *c = &h->control;
    uint64_t g = PR_LOAD_RLX(&c->generation);
    PR_STORE_RLX(&c->generation, g + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    uint64_t *dst = (uint64_t *)c;
    const uint64_t *src = (const uint64_t *)in;
    for (size_t i = 1; i < sizeof(periscope_control) / 8; i++)
        __atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
    PR_STORE_REL(&c->generation, g + 2);
}

static inline int periscope_dtb_contains(const periscope_control *c, uint64_t cr3)
{
    uint64_t v = cr3 & PERISCOPE_DTB_MASK;
    uint32_t lo = 0, hi = c->dtb_count;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (c->dtbs[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->dtb_count && c->dtbs[lo] == v;
}

/*
 * The pending set of syscall results (see "Syscall results" in periscope_ring.h): the thread keys of delivered
 * SYSCALL records whose SYSCALL_EXIT has not been seen. Shared by all vCPUs of a producer (a thread may return on
 * another vCPU than it entered on), lock-free: open addressing over PERISCOPE_PENDING_SLOTS words, a key lives in the
 * first free or freed slot of its window of PERISCOPE_PENDING_PROBE slots, CAS to claim a slot, CAS to free it. A
 * slot never becomes empty again (only freed), so a lookup stops at the first empty slot: a thread that is not
 * pending (nearly every returning thread of an untraced process) costs one or two loads. Keys are page addresses
 * (low 12 bits clear), never 0 or 1. The same key is never added from two vCPUs at once (a thread runs on one).
 */
#define PERISCOPE_PENDING_SLOTS 4096
#define PERISCOPE_PENDING_PROBE 32
#define PERISCOPE_PENDING_EMPTY 0ULL
#define PERISCOPE_PENDING_FREED 1ULL

typedef struct periscope_pending {
    uint64_t slots[PERISCOPE_PENDING_SLOTS];
    uint64_t count; /* keys in the set (approximate under races; used to skip lookups when 0) */
} periscope_pending;

static inline uint32_t periscope_pending_home(uint64_t key)
{
    return (uint32_t)(((key >> 12) * 0x9E3779B97F4A7C15ULL) >> 52) & (PERISCOPE_PENDING_SLOTS - 1);
}

/* Remembers key; 1 if it is in the set now (added, or there already: an exit that was lost), 0 if the window is full. */
static inline int periscope_pending_add(periscope_pending *p, uint64_t key)
{
    if (key <= PERISCOPE_PENDING_FREED)
        return 0;
    uint32_t home = periscope_pending_home(key);
    for (uint32_t i = 0; i < PERISCOPE_PENDING_PROBE; i++) {
        uint64_t v = PR_LOAD_ACQ(&p->slots[(home + i) & (PERISCOPE_PENDING_SLOTS - 1)]);
        if (v == key)
            return 1;
        if (v == PERISCOPE_PENDING_EMPTY)
            break;
    }
    for (uint32_t i = 0; i < PERISCOPE_PENDING_PROBE; i++) {
        uint64_t *slot = &p->slots[(home + i) & (PERISCOPE_PENDING_SLOTS - 1)];
        uint64_t v = PR_LOAD_ACQ(slot);
        if ((v == PERISCOPE_PENDING_EMPTY || v == PERISCOPE_PENDING_FREED) &&
            __atomic_compare_exchange_n(slot, &v, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            __atomic_fetch_add(&p->count, 1, __ATOMIC_RELAXED);
            return 1;
        }
    }
    return 0;
}

/* Takes key out of the set; 1 if it was there. */
static inline int periscope_pending_take(periscope_pending *p, uint64_t key)
{
    if (key <= PERISCOPE_PENDING_FREED || PR_LOAD_RLX(&p->count) == 0)
        return 0;
    uint32_t home = periscope_pending_home(key);
    for (uint32_t i = 0; i < PERISCOPE_PENDING_PROBE; i++) {
        uint64_t *slot = &p->slots[(home + i) & (PERISCOPE_PENDING_SLOTS - 1)];
        uint64_t v = PR_LOAD_ACQ(slot);
        if (v == PERISCOPE_PENDING_EMPTY)
            return 0;
        if (v == key && __atomic_compare_exchange_n(slot, &v, PERISCOPE_PENDING_FREED, 0, __ATOMIC_ACQ_REL,
                                                    __ATOMIC_ACQUIRE)) {
            __atomic_fetch_sub(&p->count, 1, __ATOMIC_RELAXED);
            return 1;
        }
    }
    return 0;
}

/* Forgets every key (monitoring switched off); racing adds may survive or be lost, both harmless. */
static inline void periscope_pending_clear(periscope_pending *p)
{
    for (uint32_t i = 0; i < PERISCOPE_PENDING_SLOTS; i++)
        PR_STORE_RLX(&p->slots[i], PERISCOPE_PENDING_EMPTY);
    PR_STORE_REL(&p->count, 0);
}

/* Consumer (C tests and tools): hand up to max records of one lane to fn, then release them. */
typedef void (*periscope_record_fn)(const periscope_record *r, void *ctx);

static inline uint32_t periscope_consume(periscope_ring_header *h, uint32_t lane, uint32_t max,
                                         periscope_record_fn fn, void *ctx)
{
    periscope_lane *l = &h->lanes[lane];
    uint64_t tail = PR_LOAD_RLX(&l->tail);
    uint64_t head = PR_LOAD_ACQ(&l->head);
    uint32_t n = 0;
    while (tail != head && n < max) {
        const periscope_record *r = periscope_slot(h, lane, tail);
        fn(r, ctx);
        if (r->flags & PERISCOPE_RECORD_SYNC)
            PR_STORE_REL(&l->response_seq, r->seq);
        tail++;
        n++;
    }
    if (n)
        PR_STORE_REL(&l->tail, tail);
    return n;
}

#endif /* PERISCOPE_RING_OPS_H */
