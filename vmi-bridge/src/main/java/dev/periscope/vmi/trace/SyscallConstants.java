package dev.periscope.vmi.trace;

/**
 * The x86-64 Linux constants strace prints by name (from the kernel's UAPI headers: asm-generic/fcntl.h, mman.h,
 * signal.h, sched.h, wait.h, fcntl.h, socket.h, resource.h, futex.h, prctl.h), in strace's order.
 */
final class SyscallConstants {

    static final int O_CREAT = 0100;
    static final int O_TMPFILE_BIT = 020000000;

    /** open(2) flags: the access mode field first, then the flags. */
    static final Flags OPEN = Flags.of(null,
            "O_CREAT", O_CREAT, "O_EXCL", 0200, "O_NOCTTY", 0400, "O_TRUNC", 01000, "O_APPEND", 02000,
            "O_NONBLOCK", 04000, "O_SYNC", 04010000, "O_DSYNC", 010000, "O_ASYNC", 020000, "O_DIRECT", 040000,
            "O_LARGEFILE", 0100000, "O_TMPFILE", 020200000, "O_DIRECTORY", 0200000, "O_NOFOLLOW", 0400000,
            "O_NOATIME", 01000000, "O_CLOEXEC", 02000000, "O_PATH", 010000000)
            .withField(3, v -> switch ((int) v) {
                case 0 -> "O_RDONLY";
                case 1 -> "O_WRONLY";
                case 2 -> "O_RDWR";
                default -> "O_ACCMODE";
            }, false);

    /** Flags of pipe2, dup3 and the like: the O_* bits without an access mode. */
    static final Flags FD_FLAGS = Flags.of(null, "O_NONBLOCK", 04000, "O_DIRECT", 040000, "O_CLOEXEC", 02000000);

    static final Flags FD_CLOEXEC = Flags.of(null, "FD_CLOEXEC", 1);

    static final Flags AT = Flags.of(null, "AT_SYMLINK_NOFOLLOW", 0x100, "AT_REMOVEDIR", 0x200,
            "AT_SYMLINK_FOLLOW", 0x400, "AT_NO_AUTOMOUNT", 0x800, "AT_EMPTY_PATH", 0x1000,
            "AT_STATX_FORCE_SYNC", 0x2000, "AT_STATX_DONT_SYNC", 0x4000, "AT_RECURSIVE", 0x8000);

    /** faccessat2 reuses 0x200 as AT_EACCESS. */
    static final Flags AT_ACCESS = Flags.of(null, "AT_SYMLINK_NOFOLLOW", 0x100, "AT_EACCESS", 0x200,
            "AT_EMPTY_PATH", 0x1000);

    static final Flags ACCESS = Flags.of("F_OK", "R_OK", 4, "W_OK", 2, "X_OK", 1);

    static final Flags PROT = Flags.of("PROT_NONE", "PROT_READ", 1, "PROT_WRITE", 2, "PROT_EXEC", 4, "PROT_SEM", 8,
            "PROT_GROWSDOWN", 0x01000000, "PROT_GROWSUP", 0x02000000);

    static final Flags MAP = Flags.of(null, "MAP_FIXED", 0x10, "MAP_ANONYMOUS", 0x20, "MAP_32BIT", 0x40,
            "MAP_GROWSDOWN", 0x100, "MAP_DENYWRITE", 0x800, "MAP_EXECUTABLE", 0x1000, "MAP_LOCKED", 0x2000,
            "MAP_NORESERVE", 0x4000, "MAP_POPULATE", 0x8000, "MAP_NONBLOCK", 0x10000, "MAP_STACK", 0x20000,
            "MAP_HUGETLB", 0x40000, "MAP_SYNC", 0x80000, "MAP_FIXED_NOREPLACE", 0x100000)
            .withField(0xf, v -> switch ((int) v) {
                case 1 -> "MAP_SHARED";
                case 2 -> "MAP_PRIVATE";
                case 3 -> "MAP_SHARED_VALIDATE";
                case 0 -> null;
                default -> "0x" + Long.toHexString(v);
            }, false);

    static final Flags MREMAP = Flags.of(null, "MREMAP_MAYMOVE", 1, "MREMAP_FIXED", 2, "MREMAP_DONTUNMAP", 4);

    static final Flags.Values MADVISE = Flags.Values.of("MADV_NORMAL", 0, "MADV_RANDOM", 1, "MADV_SEQUENTIAL", 2,
            "MADV_WILLNEED", 3, "MADV_DONTNEED", 4, "MADV_FREE", 8, "MADV_REMOVE", 9, "MADV_DONTFORK", 10,
            "MADV_DOFORK", 11, "MADV_MERGEABLE", 12, "MADV_UNMERGEABLE", 13, "MADV_HUGEPAGE", 14,
            "MADV_NOHUGEPAGE", 15, "MADV_DONTDUMP", 16, "MADV_DODUMP", 17, "MADV_WIPEONFORK", 18,
            "MADV_KEEPONFORK", 19, "MADV_COLD", 20, "MADV_PAGEOUT", 21, "MADV_POPULATE_READ", 22,
            "MADV_POPULATE_WRITE", 23);

    /** Signal names as strace prints a signal argument (SIGRTMIN, SIGRT_1, ... above 31). */
    static String signal(long sig) {
        if (sig > 0 && sig < SIGNALS.length) {
            return "SIG" + SIGNALS[(int) sig];
        }
        if (sig >= 32 && sig <= 64) {
            return sig == 32 ? "SIGRTMIN" : "SIGRT_" + (sig - 32);
        }
        return Long.toString(sig);
    }

    /** A signal's name without "SIG", as strace writes members of a signal set. */
    static String signalInSet(int sig) {
        if (sig > 0 && sig < SIGNALS.length) {
            return SIGNALS[sig];
        }
        return sig == 32 ? "RTMIN" : "RT_" + (sig - 32);
    }

    private static final String[] SIGNALS = {null, "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL",
            "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
            "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"};

    static final Flags CLONE = Flags.of(null, "CLONE_VM", 0x100, "CLONE_FS", 0x200, "CLONE_FILES", 0x400,
            "CLONE_SIGHAND", 0x800, "CLONE_PIDFD", 0x1000, "CLONE_PTRACE", 0x2000, "CLONE_VFORK", 0x4000,
            "CLONE_PARENT", 0x8000, "CLONE_THREAD", 0x10000, "CLONE_NEWNS", 0x20000, "CLONE_SYSVSEM", 0x40000,
            "CLONE_SETTLS", 0x80000, "CLONE_PARENT_SETTID", 0x100000, "CLONE_CHILD_CLEARTID", 0x200000,
            "CLONE_DETACHED", 0x400000, "CLONE_UNTRACED", 0x800000, "CLONE_CHILD_SETTID", 0x1000000,
            "CLONE_NEWCGROUP", 0x2000000, "CLONE_NEWUTS", 0x4000000, "CLONE_NEWIPC", 0x8000000,
            "CLONE_NEWUSER", 0x10000000, "CLONE_NEWPID", 0x20000000, "CLONE_NEWNET", 0x40000000,
            "CLONE_IO", 0x80000000L)
            .withField(0xff, v -> v == 0 ? null : signal(v), true);

    static final Flags SA = Flags.of(null, "SA_NOCLDSTOP", 1, "SA_NOCLDWAIT", 2, "SA_SIGINFO", 4,
            "SA_RESTORER", 0x04000000, "SA_ONSTACK", 0x08000000, "SA_RESTART", 0x10000000, "SA_NODEFER", 0x40000000,
            "SA_RESETHAND", 0x80000000L);

    static final Flags.Values SIG_HOW = Flags.Values.of("SIG_BLOCK", 0, "SIG_UNBLOCK", 1, "SIG_SETMASK", 2);

    static final Flags WAIT = Flags.of(null, "WNOHANG", 1, "WUNTRACED", 2, "WEXITED", 4, "WCONTINUED", 8,
            "WNOWAIT", 0x01000000, "__WNOTHREAD", 0x20000000, "__WALL", 0x40000000, "__WCLONE", 0x80000000L);

    static final Flags.Values WHENCE = Flags.Values.of("SEEK_SET", 0, "SEEK_CUR", 1, "SEEK_END", 2,
            "SEEK_DATA", 3, "SEEK_HOLE", 4);

    static final int F_DUPFD = 0, F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, F_GETOWN = 9, F_GETSIG = 11,
            F_DUPFD_CLOEXEC = 1030, F_GETPIPE_SZ = 1032, F_GET_SEALS = 1034, F_GETLEASE = 1025;

    static final Flags.Values FCNTL = Flags.Values.of("F_DUPFD", F_DUPFD, "F_GETFD", F_GETFD, "F_SETFD", F_SETFD,
            "F_GETFL", F_GETFL, "F_SETFL", F_SETFL, "F_GETLK", 5, "F_SETLK", 6, "F_SETLKW", 7, "F_SETOWN", 8,
            "F_GETOWN", F_GETOWN, "F_SETSIG", 10, "F_GETSIG", F_GETSIG, "F_SETOWN_EX", 15, "F_GETOWN_EX", 16,
            "F_OFD_GETLK", 36, "F_OFD_SETLK", 37, "F_OFD_SETLKW", 38, "F_SETLEASE", 1024, "F_GETLEASE", F_GETLEASE,
            "F_NOTIFY", 1026, "F_DUPFD_CLOEXEC", F_DUPFD_CLOEXEC, "F_SETPIPE_SZ", 1031, "F_GETPIPE_SZ",
            F_GETPIPE_SZ, "F_ADD_SEALS", 1033, "F_GET_SEALS", F_GET_SEALS);

    static final Flags.Values FLOCK = Flags.Values.of("LOCK_SH", 1, "LOCK_EX", 2, "LOCK_UN", 8,
            "LOCK_SH|LOCK_NB", 5, "LOCK_EX|LOCK_NB", 6, "LOCK_UN|LOCK_NB", 12);

    static final Flags.Values ADDRESS_FAMILY = Flags.Values.of("AF_UNSPEC", 0, "AF_UNIX", 1, "AF_INET", 2,
            "AF_INET6", 10, "AF_NETLINK", 16, "AF_PACKET", 17, "AF_VSOCK", 40, "AF_ALG", 38);

    static final Flags SOCKET_TYPE = Flags.of(null, "SOCK_NONBLOCK", 04000, "SOCK_CLOEXEC", 02000000)
            .withField(0xf, v -> switch ((int) v) {
                case 1 -> "SOCK_STREAM";
                case 2 -> "SOCK_DGRAM";
                case 3 -> "SOCK_RAW";
                case 4 -> "SOCK_RDM";
                case 5 -> "SOCK_SEQPACKET";
                case 6 -> "SOCK_DCCP";
                case 10 -> "SOCK_PACKET";
                default -> v == 0 ? null : Long.toString(v);
            }, false);

    static final Flags.Values RLIMIT = Flags.Values.of("RLIMIT_CPU", 0, "RLIMIT_FSIZE", 1, "RLIMIT_DATA", 2,
            "RLIMIT_STACK", 3, "RLIMIT_CORE", 4, "RLIMIT_RSS", 5, "RLIMIT_NPROC", 6, "RLIMIT_NOFILE", 7,
            "RLIMIT_MEMLOCK", 8, "RLIMIT_AS", 9, "RLIMIT_LOCKS", 10, "RLIMIT_SIGPENDING", 11, "RLIMIT_MSGQUEUE", 12,
            "RLIMIT_NICE", 13, "RLIMIT_RTPRIO", 14, "RLIMIT_RTTIME", 15);

    static final Flags.Values CLOCK = Flags.Values.of("CLOCK_REALTIME", 0, "CLOCK_MONOTONIC", 1,
            "CLOCK_PROCESS_CPUTIME_ID", 2, "CLOCK_THREAD_CPUTIME_ID", 3, "CLOCK_MONOTONIC_RAW", 4,
            "CLOCK_REALTIME_COARSE", 5, "CLOCK_MONOTONIC_COARSE", 6, "CLOCK_BOOTTIME", 7, "CLOCK_REALTIME_ALARM", 8,
            "CLOCK_BOOTTIME_ALARM", 9, "CLOCK_TAI", 11);

    static final Flags TIMER = Flags.of(null, "TIMER_ABSTIME", 1);

    static final int FUTEX_WAIT = 0, FUTEX_WAKE = 1, FUTEX_PRIVATE_FLAG = 128, FUTEX_CLOCK_REALTIME = 256;

    private static final Flags.Values FUTEX_CMD = Flags.Values.of("FUTEX_WAIT", FUTEX_WAIT, "FUTEX_WAKE", FUTEX_WAKE,
            "FUTEX_FD", 2, "FUTEX_REQUEUE", 3, "FUTEX_CMP_REQUEUE", 4, "FUTEX_WAKE_OP", 5, "FUTEX_LOCK_PI", 6,
            "FUTEX_UNLOCK_PI", 7, "FUTEX_TRYLOCK_PI", 8, "FUTEX_WAIT_BITSET", 9, "FUTEX_WAKE_BITSET", 10,
            "FUTEX_WAIT_REQUEUE_PI", 11, "FUTEX_CMP_REQUEUE_PI", 12, "FUTEX_LOCK_PI2", 13);

    /** A futex op as strace prints it: {@code FUTEX_WAIT_PRIVATE}, {@code FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME}. */
    static String futexOp(long op) {
        String cmd = FUTEX_CMD.render(op & 127);
        String s = cmd + ((op & FUTEX_PRIVATE_FLAG) != 0 ? "_PRIVATE" : "");
        return (op & FUTEX_CLOCK_REALTIME) != 0 ? s + "|FUTEX_CLOCK_REALTIME" : s;
    }

    static final Flags.Values ARCH_PRCTL = Flags.Values.of("ARCH_SET_GS", 0x1001, "ARCH_SET_FS", 0x1002,
            "ARCH_GET_FS", 0x1003, "ARCH_GET_GS", 0x1004, "ARCH_GET_CPUID", 0x1011, "ARCH_SET_CPUID", 0x1012,
            "ARCH_GET_XCOMP_SUPP", 0x1021, "ARCH_GET_XCOMP_PERM", 0x1022, "ARCH_REQ_XCOMP_PERM", 0x1023,
            "ARCH_MAP_VDSO_X32", 0x2001, "ARCH_MAP_VDSO_32", 0x2002, "ARCH_MAP_VDSO_64", 0x2003,
            "ARCH_SHSTK_ENABLE", 0x5001, "ARCH_SHSTK_DISABLE", 0x5002, "ARCH_SHSTK_STATUS", 0x5005);

    static final Flags.Values PRCTL = Flags.Values.of("PR_SET_PDEATHSIG", 1, "PR_GET_PDEATHSIG", 2,
            "PR_GET_DUMPABLE", 3, "PR_SET_DUMPABLE", 4, "PR_SET_KEEPCAPS", 8, "PR_SET_NAME", 15, "PR_GET_NAME", 16,
            "PR_CAPBSET_READ", 23, "PR_SET_SECCOMP", 22, "PR_GET_SECCOMP", 21, "PR_SET_CHILD_SUBREAPER", 36,
            "PR_SET_NO_NEW_PRIVS", 38, "PR_GET_NO_NEW_PRIVS", 39, "PR_SET_THP_DISABLE", 41, "PR_SET_VMA", 0x53564d41);

    /** The terminal and file ioctls common in shells (asm-generic/ioctls.h). */
    static final Flags.Values IOCTL = Flags.Values.of("TCGETS", 0x5401, "TCSETS", 0x5402, "TCSETSW", 0x5403,
            "TCSETSF", 0x5404, "TCGETA", 0x5405, "TCSETA", 0x5406, "TCSBRK", 0x5409, "TCXONC", 0x540A,
            "TCFLSH", 0x540B, "TIOCSCTTY", 0x540E, "TIOCGPGRP", 0x540F, "TIOCSPGRP", 0x5410, "TIOCOUTQ", 0x5411,
            "TIOCGWINSZ", 0x5413, "TIOCSWINSZ", 0x5414, "FIONREAD", 0x541B, "TIOCLINUX", 0x541C,
            "TIOCNOTTY", 0x5422, "FIONBIO", 0x5421, "TIOCGPTN", 0x80045430L, "TIOCSPTLCK", 0x40045431,
            "FIONCLEX", 0x5450, "FIOCLEX", 0x5451, "FIOASYNC", 0x5452, "TCGETS2", 0x802c542aL);

    static final Flags RENAME = Flags.of(null, "RENAME_NOREPLACE", 1, "RENAME_EXCHANGE", 2, "RENAME_WHITEOUT", 4);

    static final Flags GETRANDOM = Flags.of(null, "GRND_NONBLOCK", 1, "GRND_RANDOM", 2, "GRND_INSECURE", 4);

    static final Flags EPOLL = Flags.of(null, "EPOLL_CLOEXEC", 02000000);

    static final Flags STATX_MASK = Flags.of(null, "STATX_ALL", 0xfff, "STATX_BASIC_STATS", 0x7ff,
            "STATX_TYPE", 1, "STATX_MODE", 2, "STATX_NLINK", 4, "STATX_UID", 8, "STATX_GID", 0x10, "STATX_ATIME",
            0x20, "STATX_MTIME", 0x40, "STATX_CTIME", 0x80, "STATX_INO", 0x100, "STATX_SIZE", 0x200,
            "STATX_BLOCKS", 0x400, "STATX_BTIME", 0x800, "STATX_MNT_ID", 0x1000, "STATX_DIOALIGN", 0x2000);

    /**
     * A file mode as strace prints st_mode: the type, S_ISUID/S_ISGID/S_ISVTX by name, the permissions in octal
     * ({@code S_IFDIR|S_ISVTX|0777}).
     */
    static String fileMode(long mode) {
        StringBuilder b = new StringBuilder();
        String type = switch ((int) (mode & 0170000)) {
            case 0140000 -> "S_IFSOCK";
            case 0120000 -> "S_IFLNK";
            case 0100000 -> "S_IFREG";
            case 060000 -> "S_IFBLK";
            case 040000 -> "S_IFDIR";
            case 020000 -> "S_IFCHR";
            case 010000 -> "S_IFIFO";
            default -> null;
        };
        if (type != null) {
            b.append(type).append('|');
        }
        if ((mode & 04000) != 0) {
            b.append("S_ISUID|");
        }
        if ((mode & 02000) != 0) {
            b.append("S_ISGID|");
        }
        if ((mode & 01000) != 0) {
            b.append("S_ISVTX|");
        }
        return b.append(octal(mode & 0777)).toString();
    }

    /** C's {@code %#03o}: {@code 000}, {@code 022}, {@code 0644}. */
    static String octal(long v) {
        String o = Long.toOctalString(v);
        o = v == 0 ? o : "0" + o;
        return o.length() >= 3 ? o : "0".repeat(3 - o.length()) + o;
    }

    private SyscallConstants() {
    }
}
