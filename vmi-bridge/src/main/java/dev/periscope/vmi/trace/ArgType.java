package dev.periscope.vmi.trace;

import static dev.periscope.vmi.trace.SyscallConstants.*;

/**
 * How one syscall argument is shown, the way strace shows it, and whether the kernel fills it in (an output, shown
 * when the call returned successfully, as a pointer before). Renderers see the call through {@link Call}: its raw
 * arguments, its return value, and guest memory behind an argument when the trace has it; a renderer that lacks the
 * memory it needs returns null and the argument shows as a pointer.
 */
enum ArgType {
    /** A signed int: fds, pids ({@code -1}), counts the kernel takes as int. */
    INT((c, i) -> Integer.toString((int) c.arg(i))),
    UINT((c, i) -> Integer.toUnsignedString((int) c.arg(i))),
    LONG((c, i) -> Long.toString(c.arg(i))),
    /** size_t. */
    ULONG((c, i) -> Long.toUnsignedString(c.arg(i))),
    HEX((c, i) -> hex(c.arg(i))),
    PTR((c, i) -> pointer(c.arg(i))),
    FD((c, i) -> Integer.toString((int) c.arg(i))),
    /** A directory fd of the *at calls: {@code AT_FDCWD}. */
    DIRFD((c, i) -> (int) c.arg(i) == -100 ? "AT_FDCWD" : Integer.toString((int) c.arg(i))),
    MODE((c, i) -> octal(c.arg(i) & 07777)),
    /** An mmap offset: 0, else hex. */
    OFFSET((c, i) -> c.arg(i) == 0 ? "0" : hex(c.arg(i))),
    /** A path (NUL-terminated). */
    PATH((c, i) -> {
        byte[] b = c.string(i);
        return b == null ? null : StraceFormat.cString(b);
    }),
    /** An input buffer whose length is the next argument (write). */
    IN_BUF((c, i) -> buffer(c, i, c.arg(i + 1))),
    /** An output buffer of as many bytes as the call returned (read, readlink). */
    OUT_BUF(true, (c, i) -> buffer(c, i, c.ret())),
    /** An output NUL-terminated string (getcwd). */
    OUT_STRING(true, (c, i) -> {
        byte[] b = c.memory(i, (int) Math.min(c.ret(), StraceFormat.STRING_LIMIT));
        return b == null ? null : StraceFormat.cString(b);
    }),
    OPEN_FLAGS((c, i) -> OPEN.render(c.arg(i) & 0xffffffffL)),
    FD_FLAGS((c, i) -> SyscallConstants.FD_FLAGS.render(c.arg(i) & 0xffffffffL)),
    AT_FLAGS((c, i) -> AT.render(c.arg(i) & 0xffffffffL)),
    AT_ACCESS_FLAGS((c, i) -> AT_ACCESS.render(c.arg(i) & 0xffffffffL)),
    ACCESS_MODE((c, i) -> ACCESS.render(c.arg(i) & 0xffffffffL)),
    PROT_FLAGS((c, i) -> PROT.render(c.arg(i) & 0xffffffffL)),
    MAP_FLAGS((c, i) -> MAP.render(c.arg(i) & 0xffffffffL)),
    MREMAP_FLAGS((c, i) -> MREMAP.render(c.arg(i) & 0xffffffffL)),
    MADVICE((c, i) -> MADVISE.render((int) c.arg(i))),
    CLONE_FLAGS((c, i) -> CLONE.render(c.arg(i) & 0xffffffffL)),
    SIGNAL((c, i) -> c.arg(i) == 0 ? "0" : signal((int) c.arg(i))),
    SIG_HOW_ARG((c, i) -> SIG_HOW.render((int) c.arg(i))),
    SIGSET((c, i) -> {
        byte[] b = c.memory(i, 8);
        return b == null ? null : StraceFormat.sigset(b);
    }),
    OUT_SIGSET(true, SIGSET.renderer),
    SIGACTION((c, i) -> {
        byte[] b = c.memory(i, 32);
        return b == null ? null : StraceFormat.sigaction(b);
    }),
    OUT_SIGACTION(true, SIGACTION.renderer),
    WAIT_OPTIONS((c, i) -> WAIT.render(c.arg(i) & 0xffffffffL)),
    /** wait4's status: filled in when a child was reaped (the call returned its pid). */
    OUT_WSTATUS(true, (c, i) -> {
        if (c.ret() <= 0) {
            return pointer(c.arg(i));
        }
        byte[] b = c.memory(i, 4);
        return b == null ? null : StraceFormat.waitStatus(b);
    }),
    WHENCE_ARG((c, i) -> WHENCE.render((int) c.arg(i))),
    FCNTL_CMD((c, i) -> FCNTL.render((int) c.arg(i))),
    /** fcntl's third argument, by command (arg 1). */
    FCNTL_ARG((c, i) -> switch ((int) c.arg(1)) {
        case F_SETFD -> FD_CLOEXEC.render(c.arg(i) & 0xffffffffL);
        case F_SETFL -> OPEN.render(c.arg(i) & 0xffffffffL);
        case F_DUPFD, F_DUPFD_CLOEXEC -> Integer.toString((int) c.arg(i));
        default -> hex(c.arg(i));
    }),
    FLOCK_OP((c, i) -> FLOCK.render((int) c.arg(i))),
    FAMILY((c, i) -> ADDRESS_FAMILY.render((int) c.arg(i))),
    SOCK_TYPE((c, i) -> SOCKET_TYPE.render(c.arg(i) & 0xffffffffL)),
    /** A socket address whose length is the next argument. */
    SOCKADDR((c, i) -> {
        byte[] b = c.memory(i, (int) Math.clamp(c.arg(i + 1), 0, 128));
        return b == null ? null : StraceFormat.sockaddr(b, c.arg(i + 1));
    }),
    /** int[2] filled by pipe, pipe2, socketpair. */
    OUT_FD_PAIR(true, (c, i) -> {
        byte[] b = c.memory(i, 8);
        return b == null ? null : StraceFormat.intPair(b);
    }),
    OUT_STAT(true, (c, i) -> {
        byte[] b = c.memory(i, 64);
        return b == null ? null : StraceFormat.stat(b);
    }),
    OUT_STATX(true, (c, i) -> {
        byte[] b = c.memory(i, 64);
        return b == null ? null : StraceFormat.statx(b);
    }),
    STATX_MASK_ARG((c, i) -> STATX_MASK.render(c.arg(i) & 0xffffffffL)),
    OUT_UTSNAME(true, (c, i) -> {
        byte[] b = c.memory(i, 130);
        return b == null ? null : StraceFormat.utsname(b);
    }),
    TIMESPEC((c, i) -> {
        byte[] b = c.memory(i, 16);
        return b == null ? null : StraceFormat.timespec(b);
    }),
    OUT_TIMESPEC(true, TIMESPEC.renderer),
    RESOURCE((c, i) -> RLIMIT.render((int) c.arg(i))),
    RLIM((c, i) -> {
        byte[] b = c.memory(i, 16);
        return b == null ? null : StraceFormat.rlimit(b);
    }),
    OUT_RLIM(true, RLIM.renderer),
    CLOCK_ID((c, i) -> CLOCK.render((int) c.arg(i))),
    TIMER_FLAGS((c, i) -> TIMER.render(c.arg(i) & 0xffffffffL)),
    FUTEX_OP((c, i) -> futexOp((int) c.arg(i))),
    ARCH_PRCTL_OPTION((c, i) -> ARCH_PRCTL.renderHex((int) c.arg(i))),
    PRCTL_OPTION((c, i) -> PRCTL.render((int) c.arg(i))),
    IOCTL_CMD((c, i) -> IOCTL.renderHex(c.arg(i) & 0xffffffffL)),
    RENAME_FLAGS((c, i) -> RENAME.render(c.arg(i) & 0xffffffffL)),
    GETRANDOM_FLAGS((c, i) -> GETRANDOM.render(c.arg(i) & 0xffffffffL)),
    EPOLL_FLAGS((c, i) -> EPOLL.render(c.arg(i) & 0xffffffffL)),
    CLONE_ARGS((c, i) -> {
        byte[] b = c.memory(i, 64);
        return b == null ? null : StraceFormat.cloneArgs(b);
    }),
    /** execve's argv: {@code ["ls", "-l"]} when the trace can read guest memory now (synchronous methods). */
    ARGV((c, i) -> c.argv(i)),
    /** execve's envp: {@code 0x7ffd... /* 12 vars *\/}. */
    ENVP((c, i) -> {
        int n = c.vectorLength(i);
        return n < 0 ? null : pointer(c.arg(i)) + " /* " + n + (n == 1 ? " var */" : " vars */");
    });

    /** Renders argument {@code i} of a call; null when the memory it needs is not available. */
    @FunctionalInterface
    interface Renderer {
        String render(Call c, int i);
    }

    /** The call as a renderer sees it. */
    interface Call {
        long arg(int i);

        /** The return value (at the return of a successful call; outputs are rendered only then). */
        long ret();

        /** Up to {@code max} bytes of guest memory at argument {@code i}'s address, or null when not available. */
        byte[] memory(int i, int max);

        /** The NUL-terminated string at argument {@code i}'s address (up to the trace's limit), or null. */
        byte[] string(int i);

        /** A NULL-terminated array of strings at argument {@code i} ({@code ["a", "b"]}), or null. */
        String argv(int i);

        /** The number of pointers before the NULL of the array at argument {@code i}, or -1 when not readable. */
        int vectorLength(int i);
    }

    final boolean output;
    final Renderer renderer;

    ArgType(Renderer renderer) {
        this(false, renderer);
    }

    ArgType(boolean output, Renderer renderer) {
        this.output = output;
        this.renderer = renderer;
    }

    static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }

    static String pointer(long v) {
        return v == 0 ? "NULL" : "0x" + Long.toHexString(v);
    }

    /** {@code count} bytes at argument i, shown up to the string limit ({@code ...} after it when there is more). */
    private static String buffer(Call c, int i, long count) {
        if (count <= 0) {
            return count == 0 ? "\"\"" : null;
        }
        int want = (int) Math.min(count, StraceFormat.STRING_LIMIT);
        byte[] b = c.memory(i, want);
        if (b == null) {
            return null;
        }
        int n = Math.min(b.length, want);
        return StraceFormat.quote(b, n, count > n);
    }
}
