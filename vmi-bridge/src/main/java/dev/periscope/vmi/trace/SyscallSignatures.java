package dev.periscope.vmi.trace;

import static dev.periscope.vmi.trace.SyscallConstants.F_GETFD;
import static dev.periscope.vmi.trace.SyscallConstants.F_GETFL;
import static dev.periscope.vmi.trace.SyscallConstants.F_GETLEASE;
import static dev.periscope.vmi.trace.SyscallConstants.F_GETOWN;
import static dev.periscope.vmi.trace.SyscallConstants.F_GETPIPE_SZ;
import static dev.periscope.vmi.trace.SyscallConstants.F_GETSIG;
import static dev.periscope.vmi.trace.SyscallConstants.F_GET_SEALS;
import static dev.periscope.vmi.trace.SyscallConstants.FUTEX_WAIT;
import static dev.periscope.vmi.trace.SyscallConstants.FUTEX_WAKE;
import static dev.periscope.vmi.trace.SyscallConstants.O_CREAT;
import static dev.periscope.vmi.trace.SyscallConstants.O_TMPFILE_BIT;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * What strace shows of the common x86-64 syscalls: one line per call, {@code name(param:type ...)} with the kernel's
 * parameter names and {@link ArgType}s, how its return value is written, and for the few calls whose shown arguments
 * depend on others (open's mode only with O_CREAT, fcntl's third argument by command, futex by operation) how many
 * are shown. Calls that take no arguments list none. A call missing here is shown with its six raw registers.
 */
final class SyscallSignatures {

    /** How a successful return value is written. */
    enum Returns {
        /** Signed decimal. */
        DEC,
        /** An address: 0x... (mmap, brk). */
        HEX,
        /** A file mode: 022 (umask). */
        OCT,
        /** The call does not return (exit, exit_group). */
        NONE
    }

    record Param(String name, ArgType type) {
    }

    /**
     * @param shown how many of the parameters strace shows for these raw arguments
     */
    record Signature(String name, Returns returns, List<Param> params, ToIntFunction<long[]> shown) {
        int shown(long[] args) {
            return Math.clamp(shown.applyAsInt(args), 0, params.size());
        }
    }

    private static final Map<String, Signature> BY_NAME = new HashMap<>();

    static {
        // files
        sig("read", "fd:fd buf:out_buf count:ulong");
        sig("write", "fd:fd buf:in_buf count:ulong");
        sig("pread64", "fd:fd buf:out_buf count:ulong pos:long");
        sig("pwrite64", "fd:fd buf:in_buf count:ulong pos:long");
        sig("readv", "fd:fd vec:ptr vlen:ulong");
        sig("writev", "fd:fd vec:ptr vlen:ulong");
        sig("open", "filename:path flags:open_flags mode:mode", a -> creates(a[1]) ? 3 : 2);
        sig("openat", "dfd:dirfd filename:path flags:open_flags mode:mode", a -> creates(a[2]) ? 4 : 3);
        sig("openat2", "dfd:dirfd filename:path how:ptr usize:ulong");
        sig("creat", "pathname:path mode:mode");
        sig("close", "fd:fd");
        sig("close_range", "fd:uint max_fd:uint flags:hex");
        sig("stat", "filename:path statbuf:out_stat");
        sig("lstat", "filename:path statbuf:out_stat");
        sig("fstat", "fd:fd statbuf:out_stat");
        sig("newfstatat", "dfd:dirfd filename:path statbuf:out_stat flag:at_flags");
        sig("statx", "dfd:dirfd filename:path flags:at_flags mask:statx_mask_arg buffer:out_statx");
        sig("statfs", "pathname:path buf:ptr");
        sig("fstatfs", "fd:fd buf:ptr");
        sig("lseek", "fd:fd offset:long whence:whence_arg");
        sig("access", "filename:path mode:access_mode");
        sig("faccessat", "dfd:dirfd filename:path mode:access_mode");
        sig("faccessat2", "dfd:dirfd filename:path mode:access_mode flags:at_access_flags");
        sig("pipe", "fildes:out_fd_pair");
        sig("pipe2", "fildes:out_fd_pair flags:fd_flags");
        sig("dup", "fildes:fd");
        sig("dup2", "oldfd:fd newfd:fd");
        sig("dup3", "oldfd:fd newfd:fd flags:fd_flags");
        sig("fcntl", "fd:fd cmd:fcntl_cmd arg:fcntl_arg", a -> switch ((int) a[1]) {
            case F_GETFD, F_GETFL, F_GETOWN, F_GETSIG, F_GETLEASE, F_GETPIPE_SZ, F_GET_SEALS -> 2;
            default -> 3;
        });
        sig("flock", "fd:fd cmd:flock_op");
        sig("ioctl", "fd:fd cmd:ioctl_cmd arg:ptr");
        sig("fsync", "fd:fd");
        sig("fdatasync", "fd:fd");
        sig("truncate", "path:path length:long");
        sig("ftruncate", "fd:fd length:long");
        sig("getdents64", "fd:fd dirent:ptr count:uint");
        sig("getcwd", "buf:out_string size:ulong");
        sig("chdir", "filename:path");
        sig("fchdir", "fd:fd");
        sig("chroot", "filename:path");
        sig("rename", "oldname:path newname:path");
        sig("renameat", "olddfd:dirfd oldname:path newdfd:dirfd newname:path");
        sig("renameat2", "olddfd:dirfd oldname:path newdfd:dirfd newname:path flags:rename_flags");
        sig("mkdir", "pathname:path mode:mode");
        sig("mkdirat", "dfd:dirfd pathname:path mode:mode");
        sig("rmdir", "pathname:path");
        sig("link", "oldname:path newname:path");
        sig("linkat", "olddfd:dirfd oldname:path newdfd:dirfd newname:path flags:at_flags");
        sig("symlink", "oldname:path newname:path");
        sig("symlinkat", "oldname:path newdfd:dirfd newname:path");
        sig("unlink", "pathname:path");
        sig("unlinkat", "dfd:dirfd pathname:path flag:at_flags");
        sig("readlink", "path:path buf:out_buf bufsiz:int");
        sig("readlinkat", "dfd:dirfd pathname:path buf:out_buf bufsiz:int");
        sig("chmod", "filename:path mode:mode");
        sig("fchmod", "fd:fd mode:mode");
        sig("fchmodat", "dfd:dirfd filename:path mode:mode");
        sig("chown", "filename:path user:int group:int");
        sig("lchown", "filename:path user:int group:int");
        sig("fchown", "fd:fd user:int group:int");
        sig("fchownat", "dfd:dirfd filename:path user:int group:int flag:at_flags");
        sig("utimensat", "dfd:dirfd filename:path utimes:ptr flags:at_flags");
        sig("sendfile", "out_fd:fd in_fd:fd offset:ptr count:ulong");
        sig("umask", Returns.OCT, "mask:mode");
        sig("sync", "");
        // memory
        sig("mmap", Returns.HEX, "addr:ptr len:ulong prot:prot_flags flags:map_flags fd:fd off:offset");
        sig("mprotect", "start:ptr len:ulong prot:prot_flags");
        sig("munmap", "addr:ptr len:ulong");
        sig("mremap", Returns.HEX, "addr:ptr old_len:ulong new_len:ulong flags:mremap_flags new_addr:ptr");
        sig("madvise", "start:ptr len_in:ulong behavior:madvice");
        sig("brk", Returns.HEX, "brk:ptr");
        // processes and signals
        sig("execve", "filename:path argv:argv envp:envp");
        sig("execveat", "fd:dirfd filename:path argv:argv envp:envp flags:at_flags");
        sig("clone", "clone_flags:clone_flags newsp:ptr parent_tidptr:ptr child_tidptr:ptr tls:ptr");
        sig("clone3", "uargs:clone_args size:ulong");
        sig("fork", "");
        sig("vfork", "");
        sig("exit", Returns.NONE, "error_code:int");
        sig("exit_group", Returns.NONE, "error_code:int");
        sig("wait4", "upid:int stat_addr:out_wstatus options:wait_options ru:ptr");
        sig("kill", "pid:int sig:signal");
        sig("tkill", "pid:int sig:signal");
        sig("tgkill", "tgid:int pid:int sig:signal");
        sig("rt_sigaction", "sig:signal act:sigaction oact:out_sigaction sigsetsize:ulong");
        sig("rt_sigprocmask", "how:sig_how_arg nset:sigset oset:out_sigset sigsetsize:ulong");
        sig("rt_sigreturn", "");
        sig("restart_syscall", "");
        sig("pause", "");
        sig("getpid", "");
        sig("getppid", "");
        sig("gettid", "");
        sig("getuid", "");
        sig("geteuid", "");
        sig("getgid", "");
        sig("getegid", "");
        sig("getpgrp", "");
        sig("setsid", "");
        sig("setpgid", "pid:int pgid:int");
        sig("getpgid", "pid:int");
        sig("getsid", "pid:int");
        sig("setuid", "uid:int");
        sig("setgid", "gid:int");
        sig("sched_yield", "");
        sig("set_tid_address", "tidptr:ptr");
        sig("set_robust_list", "head:ptr len:ulong");
        sig("rseq", "rseq:ptr rseq_len:uint flags:int sig:hex");
        sig("arch_prctl", "option:arch_prctl_option arg2:hex");
        sig("prctl", "option:prctl_option arg2:hex arg3:hex arg4:hex arg5:hex");
        sig("prlimit64", "pid:int resource:resource new_rlim:rlim old_rlim:out_rlim");
        sig("getrlimit", "resource:resource rlim:out_rlim");
        sig("setrlimit", "resource:resource rlim:rlim");
        sig("uname", "name:out_utsname");
        sig("getrandom", "buf:out_buf count:ulong flags:getrandom_flags");
        sig("futex", "uaddr:ptr op:futex_op val:int utime:ptr uaddr2:ptr val3:int", a -> switch ((int) a[1] & 127) {
            case FUTEX_WAIT -> 4;
            case FUTEX_WAKE -> 3;
            default -> 6;
        });
        // time
        sig("nanosleep", "rqtp:timespec rmtp:out_timespec");
        sig("clock_nanosleep", "which_clock:clock_id flags:timer_flags rqtp:timespec rmtp:out_timespec");
        sig("clock_gettime", "which_clock:clock_id tp:out_timespec");
        sig("alarm", "seconds:uint");
        // polling and sockets
        sig("poll", "ufds:ptr nfds:uint timeout_msecs:int");
        sig("ppoll", "ufds:ptr nfds:uint tsp:ptr sigmask:ptr sigsetsize:ulong");
        sig("select", "n:int inp:ptr outp:ptr exp:ptr tvp:ptr");
        sig("pselect6", "n:int inp:ptr outp:ptr exp:ptr tsp:ptr sig:ptr");
        sig("epoll_create1", "flags:epoll_flags");
        sig("epoll_wait", "epfd:fd events:ptr maxevents:int timeout:int");
        sig("epoll_pwait", "epfd:fd events:ptr maxevents:int timeout:int sigmask:ptr sigsetsize:ulong");
        sig("socket", "family:family type:sock_type protocol:int");
        sig("socketpair", "family:family type:sock_type protocol:int usockvec:out_fd_pair");
        sig("connect", "fd:fd uservaddr:sockaddr addrlen:int");
        sig("bind", "fd:fd umyaddr:sockaddr addrlen:int");
        sig("listen", "fd:fd backlog:int");
        sig("accept", "fd:fd upeer_sockaddr:ptr upeer_addrlen:ptr");
        sig("accept4", "fd:fd upeer_sockaddr:ptr upeer_addrlen:ptr flags:sock_type");
        sig("sendto", "fd:fd buff:in_buf len:ulong flags:hex addr:ptr addr_len:int");
        sig("recvfrom", "fd:fd ubuf:out_buf size:ulong flags:hex addr:ptr addr_len:ptr");
        sig("shutdown", "fd:fd how:int");
    }

    private static boolean creates(long flags) {
        return (flags & (O_CREAT | O_TMPFILE_BIT)) != 0;
    }

    private static void sig(String name, String params) {
        sig(name, Returns.DEC, params, null);
    }

    private static void sig(String name, Returns returns, String params) {
        sig(name, returns, params, null);
    }

    private static void sig(String name, String params, ToIntFunction<long[]> shown) {
        sig(name, Returns.DEC, params, shown);
    }

    private static void sig(String name, Returns returns, String spec, ToIntFunction<long[]> shown) {
        List<Param> params = spec.isBlank() ? List.of() : Arrays.stream(spec.split(" ")).map(p -> {
            String[] nt = p.split(":");
            return new Param(nt[0], ArgType.valueOf(nt[1].toUpperCase(Locale.ROOT)));
        }).toList();
        int n = params.size();
        if (BY_NAME.put(name, new Signature(name, returns, params, shown != null ? shown : a -> n)) != null) {
            throw new IllegalStateException("two signatures for " + name);
        }
    }

    /** The signature of the call strace knows as {@code name}, or null. */
    static Signature of(String name) {
        return BY_NAME.get(name);
    }

    private SyscallSignatures() {
    }
}
