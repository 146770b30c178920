/*
 * ring_producer: a stand-in for the QEMU plugin, for tests and measurements of the Java consumer.
 * Maps an existing ring file (created by Java) exactly as the plugin does and writes SYSCALL records.
 *
 *   ring_producer FILE COUNT [--lane N] [--sync TIMEOUT_US] [--rate PER_SEC]
 *
 * Record i carries syscall_nr = i, args[k] = i + k, rip = 0x1000 + i. Async: as fast as possible (or paced
 * with --rate); full lanes count drops as the plugin does. --sync: every record waits for the response
 * lane; the round trip (reserve -> answered) is measured, and the lane's total vCPU wait (timeouts included)
 * reported as wait_ns. Prints one line of key=value results.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "periscope_ring.h"
#include "periscope_ring_ops.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FILE COUNT [--lane N] [--sync TIMEOUT_US] [--rate PER_SEC]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    uint64_t count = strtoull(argv[2], NULL, 0);
    uint32_t lane = 0;
    long sync_us = -1;
    double rate = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--lane"))
            lane = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--sync"))
            sync_us = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
    }
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return 1;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    const char *why = periscope_ring_validate(base, (uint64_t)st.st_size);
    if (why) {
        fprintf(stderr, "ring_producer: refusing %s: %s\n", path, why);
        return 1;
    }
    periscope_ring_header *h = base;
    if (lane >= h->lane_count) {
        fprintf(stderr, "ring_producer: lane %u >= %u\n", lane, h->lane_count);
        return 1;
    }
    periscope_producer p;
    periscope_producer_init(&p, h, lane);
    uint64_t *rtt = sync_us >= 0 ? calloc(count, sizeof(uint64_t)) : NULL;
    uint64_t answered = 0, written = 0;
    uint64_t t0 = periscope_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        if (rate > 0) {
            uint64_t due = t0 + (uint64_t)(i * 1e9 / rate);
            while (periscope_now_ns() < due) {
            }
        }
        uint64_t start = periscope_now_ns();
        periscope_count_seen(&p);
        periscope_record *r = periscope_reserve(&p, PERISCOPE_KIND_SYSCALL, lane);
        if (!r)
            continue;
        r->timestamp_ns = start;
        r->syscall_nr = i;
        r->rip = 0x1000 + i;
        r->old_cr3 = r->new_cr3 = 0x1234000;
        for (int k = 0; k < 6; k++)
            r->args[k] = i + (uint64_t)k;
        r->flags = rtt ? PERISCOPE_RECORD_SYNC : 0;
        uint64_t seq = r->seq;
        periscope_publish(&p);
        written++;
        if (rtt) {
            if (periscope_wait_response(&p, seq, (uint64_t)sync_us * 1000u))
                rtt[answered++] = periscope_now_ns() - start;
        }
    }
    double secs = (periscope_now_ns() - t0) / 1e9;
    periscope_lane *l = &h->lanes[lane];
    printf("written=%" PRIu64 " dropped=%" PRIu64 " seconds=%.3f rate=%.0f", written, PR_LOAD_RLX(&l->dropped),
           secs, written / secs);
    if (rtt && answered) {
        qsort(rtt, answered, sizeof rtt[0], cmp_u64);
        printf(" answered=%" PRIu64 " timeouts=%" PRIu64 " p50_ns=%" PRIu64 " p99_ns=%" PRIu64 " max_ns=%" PRIu64,
               answered, PR_LOAD_RLX(&l->sync_timeouts), rtt[answered / 2], rtt[answered * 99 / 100],
               rtt[answered - 1]);
    } else if (rtt) {
        printf(" answered=0 timeouts=%" PRIu64, PR_LOAD_RLX(&l->sync_timeouts));
    }
    if (rtt)
        printf(" wait_ns=%" PRIu64, PR_LOAD_RLX(&l->vcpu_wait_ns));
    printf("\n");
    return 0;
}
