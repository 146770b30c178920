/*
 * syscall-probe: a guest program that makes a fixed set of syscalls and logs what each one returned, so that a
 * trace taken from the hypervisor can be checked against what the guest itself saw (lab `start --tools` puts it in
 * the guest as /periscope/tools/syscall-probe; vmi-bridge's SyscallProbeLabTest runs it).
 *
 *   syscall-probe GO_FIFO
 *
 * It first waits for a byte on GO_FIFO (so that a trace can be armed while it waits), then makes its calls through
 * syscall(2) (the numbers it names are the numbers the kernel sees), each failure as the kernel returned it
 * (-errno), and at the end writes its log in one write(2) to stdout: one line per call, "NUMBER RESULT", in order.
 * Files it touches: /etc/passwd (read), /tmp/syscall-probe.out and /tmp/syscall-probe.d (made and removed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char log_text[8192];
static size_t log_len;

static long logged(long nr, long ret)
{
    if (ret == -1)
        ret = -errno;
    log_len += (size_t)snprintf(log_text + log_len, sizeof log_text - log_len, "%ld %ld\n", nr, ret);
    return ret;
}

#define CALL(name, ...) logged(SYS_##name, syscall(SYS_##name, __VA_ARGS__))
#define CALL0(name) logged(SYS_##name, syscall(SYS_##name))

/* struct kernel_sigaction on x86-64 */
struct ksigaction {
    uint64_t handler, flags, restorer, mask;
};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: syscall-probe GO_FIFO\n");
        return 2;
    }
    int go = open(argv[1], O_RDONLY);
    char c;
    if (go < 0 || read(go, &c, 1) != 1)
        return 3;
    close(go);

    static char buf[4096];
    struct stat st;
    long fd = CALL(openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC);
    CALL(read, fd, buf, sizeof buf);
    CALL(lseek, fd, 0, SEEK_SET);
    CALL(fstat, fd, &st);
    CALL(close, fd);
    CALL(close, fd);
    CALL(openat, AT_FDCWD, "/nonexistent/periscope", O_RDONLY);
    long out = CALL(openat, AT_FDCWD, "/tmp/syscall-probe.out", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CALL(write, out, "periscope probe\n", 16);
    int fds[2];
    CALL(pipe2, fds, O_CLOEXEC);
    CALL(dup2, fds[0], 10);
    long pid = CALL0(getpid);
    CALL0(getppid);
    CALL(wait4, -1, NULL, WNOHANG, NULL);
    CALL(kill, pid, 0);
    long addr = CALL(mmap, NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CALL(mprotect, addr, 4096, PROT_READ);
    CALL(munmap, addr, 8192);
    CALL(newfstatat, AT_FDCWD, "/tmp", &st, 0);
    CALL(access, "/etc/passwd", R_OK);
    CALL(unlinkat, AT_FDCWD, "/tmp/syscall-probe.out", 0);
    CALL(mkdir, "/tmp/syscall-probe.d", 0755);
    CALL(rmdir, "/tmp/syscall-probe.d");
    CALL(getcwd, buf, sizeof buf);
    uint64_t chld = 1ull << (SIGCHLD - 1), old = 0;
    CALL(rt_sigprocmask, SIG_BLOCK, &chld, &old, 8);
    struct ksigaction act = {(uint64_t)(uintptr_t)SIG_IGN, 0x04000000 /* SA_RESTORER */, 0x401000, 0}, oact;
    CALL(rt_sigaction, SIGUSR1, &act, &oact, 8);
    struct timespec ts = {0, 1000000};
    CALL(nanosleep, &ts, NULL);
    CALL(readlink, "/proc/self/exe", buf, sizeof buf);
    CALL(close, out);
    CALL(close, 10);
    if (write(1, log_text, log_len) != (ssize_t)log_len)
        return 4;
    return 0;
}
