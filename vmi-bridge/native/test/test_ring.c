/*
 * C unit tests of the ring (periscope_ring.h + periscope_ring_ops.h): wrap-around, overflow accounting,
 * drop markers, synchronous timeout and answer, a dying consumer, the control seqlock and token check,
 * the DTB filter, the pending set of syscall results (bounds, reuse of freed slots, two threads adding and
 * taking at once) and a two-thread SPSC stress run. No framework: each test returns, CHECK aborts.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "periscope_ring.h"
#include "periscope_ring_ops.h"

static int checks;
#define CHECK(c)                                                                                 \
    do {                                                                                         \
        checks++;                                                                                \
        if (!(c)) {                                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

static periscope_ring_header *new_ring(uint32_t lanes, uint32_t cap)
{
    uint64_t size = periscope_ring_total_size(lanes, cap);
    void *p = aligned_alloc(4096, (size + 4095) & ~4095ull);
    memset(p, 0, size);
    periscope_ring_init(p, lanes, cap);
    CHECK(periscope_ring_validate(p, size) == NULL);
    return p;
}

static int produce(periscope_producer *p, uint64_t payload, uint32_t flags)
{
    periscope_count_seen(p);
    periscope_record *r = periscope_reserve(p, PERISCOPE_KIND_SYSCALL, p->lane_index);
    if (!r)
        return 0;
    r->syscall_nr = payload;
    r->flags = flags;
    periscope_publish(p);
    return 1;
}

typedef struct collected {
    uint64_t n, markers, marker_sum, last_seq, payload_next, bad;
} collected;

static void collect(const periscope_record *r, void *ctx)
{
    collected *c = ctx;
    if (r->kind == PERISCOPE_KIND_DROP_MARKER) {
        c->markers++;
        c->marker_sum += r->args[0];
        if (r->seq <= c->last_seq)
            c->bad++;
        c->last_seq = r->seq;
        return;
    }
    if (r->seq <= c->last_seq)
        c->bad++;
    c->last_seq = r->seq;
    c->n++;
}

static void test_validate(void)
{
    periscope_ring_header *h = new_ring(2, 8);
    uint64_t size = h->total_size;
    CHECK(periscope_ring_validate(h, size - 1) != NULL);
    h->abi_version = 99;
    CHECK(periscope_ring_validate(h, size) != NULL);
    h->abi_version = PERISCOPE_RING_ABI_VERSION;
    h->lane_capacity = 6;
    CHECK(periscope_ring_validate(h, size) != NULL);
    h->lane_capacity = 8;
    h->magic = 0;
    CHECK(periscope_ring_validate(h, size) != NULL);
    free(h);
}

static void test_wraparound(void)
{
    periscope_ring_header *h = new_ring(1, 8);
    periscope_producer p;
    periscope_producer_init(&p, h, 0);
    collected c = {0};
    for (uint64_t i = 0; i < 1000; i++) {
        CHECK(produce(&p, i, 0));
        if (i % 3 == 2)
            periscope_consume(h, 0, 64, collect, &c);
    }
    periscope_consume(h, 0, 64, collect, &c);
    CHECK(c.n == 1000 && c.bad == 0 && c.markers == 0);
    CHECK(h->lanes[0].head == 1000 && h->lanes[0].tail == 1000);
    CHECK(h->lanes[0].delivered == 1000 && h->lanes[0].dropped == 0 && h->lanes[0].seen == 1000);
    free(h);
}

static void test_overflow_accounting(void)
{
    periscope_ring_header *h = new_ring(1, 8);
    periscope_producer p;
    periscope_producer_init(&p, h, 0);
    int written = 0;
    for (int i = 0; i < 20; i++)
        written += produce(&p, (uint64_t)i, 0);
    CHECK(written == 8);
    CHECK(h->lanes[0].dropped == 12 && h->lanes[0].pending_drops == 12);
    collected c = {0};
    periscope_consume(h, 0, 64, collect, &c);
    CHECK(c.n == 8 && c.markers == 0);
    /* the next record is preceded by a marker carrying the 12 drops */
    CHECK(produce(&p, 100, 0));
    periscope_consume(h, 0, 64, collect, &c);
    CHECK(c.n == 9 && c.markers == 1 && c.marker_sum == 12 && c.bad == 0);
    CHECK(h->lanes[0].pending_drops == 0 && h->lanes[0].drop_markers == 1);
    /* seen == filtered + delivered + dropped */
    periscope_lane *l = &h->lanes[0];
    CHECK(l->seen == l->filtered + l->delivered + l->dropped);
    /* a marker needs room for itself and the record: with exactly one free slot the event is dropped */
    for (int i = 0; i < 9; i++) /* 8 fit, the 9th is dropped: a marker is pending */
        produce(&p, 0, 0);
    c = (collected){0};
    periscope_consume(h, 0, 1, collect, &c);
    uint64_t dropped = l->dropped;
    CHECK(!produce(&p, 1, 0));
    CHECK(l->dropped == dropped + 1);
    free(h);
}

static void test_sync_timeout_and_answer(void)
{
    periscope_ring_header *h = new_ring(1, 8);
    periscope_producer p;
    periscope_producer_init(&p, h, 0);
    CHECK(produce(&p, 1, PERISCOPE_RECORD_SYNC));
    uint64_t t0 = periscope_now_ns();
    CHECK(periscope_wait_response(&p, h->lanes[0].next_seq, 2000000) == 0);
    uint64_t waited = periscope_now_ns() - t0;
    /* at least the timeout, and not unbounded: a loaded host may keep the thread off a core for a while */
    CHECK(waited >= 2000000 && waited < 10000000000ull);
    CHECK(h->lanes[0].sync_timeouts == 1 && h->lanes[0].vcpu_wait_ns >= 2000000);
    collected c = {0};
    periscope_consume(h, 0, 64, collect, &c); /* answers the stale record */
    CHECK(h->lanes[0].response_seq == h->lanes[0].next_seq);
    CHECK(produce(&p, 2, PERISCOPE_RECORD_SYNC));
    CHECK(periscope_wait_response(&p, h->lanes[0].next_seq, 1000) == 0); /* not answered yet */
    periscope_consume(h, 0, 64, collect, &c);
    CHECK(periscope_wait_response(&p, h->lanes[0].next_seq, 1000) == 1);
    CHECK(h->lanes[0].sync_timeouts == 2);
    free(h);
}

static void test_stalled_consumer_costs_one_timeout(void)
{
    /* nobody answers: the first synchronous record waits its timeout, the next ones do not wait at all (each is
     * still counted as a timeout) until the consumer answers something; from then on waits are bounded as before */
    periscope_ring_header *h = new_ring(1, 64);
    periscope_producer p;
    periscope_producer_init(&p, h, 0);
    CHECK(produce(&p, 1, PERISCOPE_RECORD_SYNC));
    CHECK(periscope_wait_response(&p, h->lanes[0].next_seq, 2000000) == 0);
    uint64_t waited = h->lanes[0].vcpu_wait_ns;
    CHECK(waited >= 2000000);
    for (int i = 0; i < 20; i++) {
        CHECK(produce(&p, 2 + (uint64_t)i, PERISCOPE_RECORD_SYNC));
        CHECK(periscope_wait_response(&p, h->lanes[0].next_seq, 2000000) == 0);
    }
    CHECK(h->lanes[0].sync_timeouts == 21 && h->lanes[0].vcpu_wait_ns == waited);
    collected c = {0};
    periscope_consume(h, 0, 64, collect, &c); /* the consumer is back and answers what it finds */
    CHECK(c.n == 21);
    CHECK(produce(&p, 30, PERISCOPE_RECORD_SYNC));
    CHECK(periscope_wait_response(&p, h->lanes[0].next_seq, 1000000) == 0); /* it waits again */
    CHECK(h->lanes[0].vcpu_wait_ns >= waited + 1000000 && h->lanes[0].sync_timeouts == 22);
    free(h);
}

typedef struct sync_consumer {
    periscope_ring_header *h;
    volatile int started;
    volatile int stop;
    uint64_t answered;
} sync_consumer;

static void *sync_consumer_main(void *arg)
{
    sync_consumer *s = arg;
    collected c = {0};
    s->started = 1;
    while (!s->stop)
        s->answered += periscope_consume(s->h, 0, 64, collect, &c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_sync_round_trip(void)
{
    periscope_ring_header *h = new_ring(1, 64);
    periscope_producer p;
    periscope_producer_init(&p, h, 0);
    sync_consumer s = {.h = h};
    pthread_t t;
    pthread_create(&t, NULL, sync_consumer_main, &s);
    while (!s.started)
        sched_yield();
    enum { N = 20000 };
    static uint64_t rtt[N];
    int timeouts = 0, full = 0, answered = 0;
    for (int i = 0; i < N; i++) {
        uint64_t t0 = periscope_now_ns();
        /* after a timeout (a loaded machine) the producer does not wait until the consumer answers again, so
         * it may find the lane full: those events are dropped and counted, as a vCPU's would be */
        if (!produce(&p, (uint64_t)i, PERISCOPE_RECORD_SYNC)) {
            full++;
            sched_yield(); /* on a loaded machine, let the consumer run: without it the loop ends unanswered */
        }
        else if (periscope_wait_response(&p, h->lanes[0].next_seq, 1000000))
            rtt[answered++] = periscope_now_ns() - t0;
        else
            timeouts++;
    }
    s.stop = 1;
    pthread_join(t, NULL);
    CHECK(answered > 0);
    qsort(rtt, answered, sizeof rtt[0], cmp_u64);
    printf("  C sync round trip (2 threads): p50 %.2f us, p99 %.2f us over %d answered; timeouts %d, lane full %d\n",
           rtt[answered / 2] / 1e3, rtt[answered * 99 / 100] / 1e3, answered, timeouts, full);
    CHECK(h->lanes[0].delivered + h->lanes[0].dropped == N && h->lanes[0].dropped == (uint64_t)full);
    CHECK(full == 0 || timeouts > 0); /* a full lane only after a consumer that did not answer in time */
    free(h);
}

static void test_dead_consumer(void)
{
    /* nobody consumes: the producer keeps going, every event beyond capacity is counted as dropped */
    periscope_ring_header *h = new_ring(2, 16);
    periscope_producer p;
    periscope_producer_init(&p, h, 1);
    for (int i = 0; i < 100000; i++)
        produce(&p, (uint64_t)i, 0);
    periscope_lane *l = &h->lanes[1];
    CHECK(l->delivered == 16 && l->dropped == 100000 - 16 && l->seen == 100000);
    CHECK(l->next_seq == 100000);
    CHECK(h->lanes[0].head == 0); /* other lanes untouched */
    /* the consumer comes back: it sees 16 records, then a marker with everything that was lost */
    collected c = {0};
    periscope_consume(h, 1, 1000, collect, &c);
    CHECK(produce(&p, 1, 0));
    periscope_consume(h, 1, 1000, collect, &c);
    CHECK(c.n == 17 && c.markers == 1 && c.marker_sum == 100000 - 16);
    free(h);
}

static void test_control_seqlock_and_token(void)
{
    periscope_ring_header *h = new_ring(1, 8);
    uint64_t tok[2] = {0x1122334455667788ull, 0x99aabbccddeeff00ull};
    uint64_t known = 0;
    periscope_control mine;
    memset(&mine, 0, sizeof mine);
    CHECK(periscope_control_snapshot(h, tok, &known, &mine) == PERISCOPE_CONTROL_UNCHANGED);

    periscope_control c;
    memset(&c, 0, sizeof c);
    c.token[0] = tok[0];
    c.token[1] = 42; /* wrong */
    c.mode = PERISCOPE_MODE_CR3;
    periscope_control_write(h, &c);
    CHECK(periscope_control_snapshot(h, tok, &known, &mine) == PERISCOPE_CONTROL_REJECTED);
    CHECK(mine.mode == 0);
    CHECK(periscope_control_snapshot(h, tok, &known, &mine) == PERISCOPE_CONTROL_UNCHANGED);

    c.token[1] = tok[1];
    c.mode = PERISCOPE_MODE_CR3 | PERISCOPE_MODE_CR3_FILTER;
    c.dtb_count = 3;
    c.dtbs[0] = 0x5000;
    c.dtbs[1] = 0x1000 | 0x3;                  /* PCID bits: masked */
    c.dtbs[2] = 0x3000 | (1ull << 63);         /* no-flush bit: masked */
    periscope_control_write(h, &c);
    CHECK(h->control.generation == 4);
    CHECK(periscope_control_snapshot(h, tok, &known, &mine) == PERISCOPE_CONTROL_ADOPTED);
    CHECK(mine.dtbs[0] == 0x0 && mine.dtbs[1] == 0x2000 && mine.dtbs[2] == 0x4000);
    CHECK(periscope_dtb_contains(&mine, 0x4000 | 0x1000 | (1ull << 63)));
    CHECK(periscope_dtb_contains(&mine, 0x2fff));
    CHECK(!periscope_dtb_contains(&mine, 0x6000));
    /* writer in progress (odd generation): the reader must not adopt */
    h->control.generation++;
    CHECK(periscope_control_snapshot(h, tok, &known, &mine) == PERISCOPE_CONTROL_BUSY);
    h->control.generation++;
    CHECK(periscope_control_snapshot(h, tok, &known, &mine) == PERISCOPE_CONTROL_ADOPTED);
    free(h);
}

typedef struct stress {
    periscope_ring_header *h;
    uint64_t n;
    volatile int done;
} stress;

static void *stress_producer(void *arg)
{
    stress *s = arg;
    periscope_producer p;
    periscope_producer_init(&p, s->h, 0);
    for (uint64_t i = 0; i < s->n; i++)
        while (!produce(&p, i, 0)) {
            sched_yield(); /* the drop is accounted; retrying makes the payload check below exact */
        }
    s->done = 1;
    return NULL;
}

static void check_payload(const periscope_record *r, void *ctx)
{
    collected *c = ctx;
    if (r->kind == PERISCOPE_KIND_DROP_MARKER) {
        c->markers++;
        c->marker_sum += r->args[0];
        return;
    }
    if (r->syscall_nr != c->payload_next)
        c->bad++;
    c->payload_next++;
    c->n++;
}

static void test_spsc_stress(void)
{
    periscope_ring_header *h = new_ring(1, 1024);
    stress s = {.h = h, .n = 5000000};
    pthread_t t;
    uint64_t t0 = periscope_now_ns();
    pthread_create(&t, NULL, stress_producer, &s);
    collected c = {0};
    while (c.n < s.n)
        periscope_consume(h, 0, 256, check_payload, &c);
    pthread_join(t, NULL);
    double secs = (periscope_now_ns() - t0) / 1e9;
    printf("  C SPSC stress: %.1f M records/s, %" PRIu64 " drops retried\n", s.n / secs / 1e6, c.marker_sum);
    CHECK(c.bad == 0);
    periscope_lane *l = &h->lanes[0];
    CHECK(l->delivered == s.n && l->seen == l->delivered + l->dropped && c.marker_sum == l->dropped);
    free(h);
}

static void test_pending_set(void)
{
    static periscope_pending p;
    periscope_pending_clear(&p);
    uint64_t a = 0xffffc90000a13000ULL, b = 0xffffc90000a17000ULL;
    CHECK(!periscope_pending_take(&p, a)); /* empty: nothing to take */
    CHECK(periscope_pending_add(&p, a) && periscope_pending_add(&p, b));
    CHECK(periscope_pending_add(&p, a)); /* a lost exit: the thread's next entry finds its key there */
    CHECK(p.count == 2);
    CHECK(periscope_pending_take(&p, a) && !periscope_pending_take(&p, a));
    CHECK(periscope_pending_take(&p, b) && p.count == 0);
    CHECK(!periscope_pending_add(&p, 0) && !periscope_pending_add(&p, PERISCOPE_PENDING_FREED));

    /* keys with one home slot: the window holds PERISCOPE_PENDING_PROBE of them, the next is refused */
    uint64_t same[PERISCOPE_PENDING_PROBE + 1];
    uint32_t home = periscope_pending_home(0x1000), n = 0;
    for (uint64_t k = 0x1000; n < PERISCOPE_PENDING_PROBE + 1; k += 0x1000)
        if (periscope_pending_home(k) == home)
            same[n++] = k;
    for (uint32_t i = 0; i < PERISCOPE_PENDING_PROBE; i++)
        CHECK(periscope_pending_add(&p, same[i]));
    CHECK(!periscope_pending_add(&p, same[PERISCOPE_PENDING_PROBE])); /* full: counted by the producer */
    CHECK(periscope_pending_take(&p, same[PERISCOPE_PENDING_PROBE - 1]));
    CHECK(periscope_pending_take(&p, same[3]));                       /* a freed slot in the middle ... */
    CHECK(periscope_pending_add(&p, same[PERISCOPE_PENDING_PROBE]));  /* ... is reused */
    CHECK(periscope_pending_take(&p, same[PERISCOPE_PENDING_PROBE]));
    CHECK(periscope_pending_take(&p, same[4])); /* found past freed slots */
    periscope_pending_clear(&p);
    CHECK(p.count == 0 && !periscope_pending_take(&p, same[0]));
}

typedef struct pending_worker {
    periscope_pending *p;
    uint64_t base, rounds, lost;
} pending_worker;

static void *pending_worker_main(void *arg)
{
    pending_worker *w = arg;
    for (uint64_t i = 0; i < w->rounds; i++) {
        uint64_t key = w->base + ((i % 512) << 12); /* 512 threads of this worker, each in one call at a time */
        if (!periscope_pending_add(w->p, key) || !periscope_pending_take(w->p, key))
            w->lost++;
    }
    return NULL;
}

static void test_pending_set_two_threads(void)
{
    static periscope_pending p;
    periscope_pending_clear(&p);
    pending_worker w[2] = {{&p, 0xffffc90000000000ULL, 2000000, 0}, {&p, 0xffffc90040000000ULL, 2000000, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, pending_worker_main, &w[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(w[0].lost == 0 && w[1].lost == 0);
    CHECK(p.count == 0);
    for (uint32_t i = 0; i < PERISCOPE_PENDING_SLOTS; i++)
        CHECK(p.slots[i] == PERISCOPE_PENDING_EMPTY || p.slots[i] == PERISCOPE_PENDING_FREED);
}

int main(void)
{
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"validate", test_validate},
        {"wraparound", test_wraparound},
        {"overflow_accounting", test_overflow_accounting},
        {"sync_timeout_and_answer", test_sync_timeout_and_answer},
        {"sync_round_trip", test_sync_round_trip},
        {"dead_consumer", test_dead_consumer},
        {"stalled_consumer_costs_one_timeout", test_stalled_consumer_costs_one_timeout},
        {"control_seqlock_and_token", test_control_seqlock_and_token},
        {"pending_set", test_pending_set},
        {"pending_set_two_threads", test_pending_set_two_threads},
        {"spsc_stress", test_spsc_stress},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        printf("%s\n", tests[i].name);
        tests[i].fn();
    }
    printf("ok: %zu tests, %d checks\n", sizeof tests / sizeof tests[0], checks);
    return 0;
}
