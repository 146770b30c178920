/*
 * periscope-ring-init: create an event ring file and its capability token before QEMU starts, without a JVM.
 *
 *   periscope-ring-init RING_PATH LANES CAPACITY TOKEN_FILE
 *
 * Does what EventRing.create does in Java: writes RING_PATH (mode 0600, replaced by atomic rename, never
 * truncated under a running QEMU) with LANES lanes of CAPACITY records (a power of two), mode off, and a fresh
 * random token (getrandom via /dev/urandom) in the control block; writes the token as 32 hex digits and a
 * newline to TOKEN_FILE (mode 0600, replaced atomically). The launcher then passes
 *     -plugin libperiscope_qemu.so,ring=RING_PATH,token-file=TOKEN_FILE
 * to QEMU and records both paths for Periscope (lab: meta.json "ringPath", "ringTokenFile").
 * Exit 0 on success, 2 on bad arguments, 1 on I/O errors (message on stderr).
 */
#include <errno.h>
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

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "periscope-ring-init: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !end || *end || v > 0xffffffffUL)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int write_token_file(const char *path, const uint64_t token[2])
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return fail("cannot write token file", path);
    }
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail("cannot create token file", tmp);
    char line[40];
    int n = snprintf(line, sizeof line, "%016" PRIx64 "%016" PRIx64 "\n", token[0], token[1]);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return fail("cannot write token file", tmp);
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return fail("cannot rename token file to", path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t lanes, capacity;
    if (argc != 5 || parse_u32(argv[2], &lanes) || parse_u32(argv[3], &capacity)) {
        fprintf(stderr, "usage: periscope-ring-init RING_PATH LANES CAPACITY TOKEN_FILE\n");
        return 2;
    }
    if (lanes < 1 || lanes > PERISCOPE_RING_MAX_LANES) {
        fprintf(stderr, "periscope-ring-init: LANES must be 1..%d\n", PERISCOPE_RING_MAX_LANES);
        return 2;
    }
    if (capacity < 2 || capacity > (1u << 24) || (capacity & (capacity - 1)) != 0) {
        fprintf(stderr, "periscope-ring-init: CAPACITY must be a power of two in 2..2^24\n");
        return 2;
    }
    const char *path = argv[1];
    const char *token_path = argv[4];
    uint64_t token[2];
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rnd < 0 || read(rnd, token, sizeof token) != (ssize_t)sizeof token)
        return fail("cannot read", "/dev/urandom");
    close(rnd);

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return fail("cannot create ring", path);
    }
    unlink(tmp);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail("cannot create ring", tmp);
    uint64_t size = periscope_ring_total_size(lanes, capacity);
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        unlink(tmp);
        return fail("cannot size ring", tmp);
    }
    void *base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        unlink(tmp);
        return fail("cannot map ring", tmp);
    }
    periscope_ring_header *h = base;
    h->control.token[0] = token[0];
    h->control.token[1] = token[1];
    periscope_ring_init(base, lanes, capacity); /* stores magic last, with release */
    if (msync(base, sizeof(periscope_ring_header), MS_SYNC) != 0) {
        munmap(base, (size_t)size);
        unlink(tmp);
        return fail("cannot sync ring", tmp);
    }
    munmap(base, (size_t)size);
    /* token first: a ring is never visible without the file that names its capability */
    if (write_token_file(token_path, token) != 0) {
        unlink(tmp);
        return 1;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return fail("cannot rename ring to", path);
    }
    return 0;
}
