package dev.periscope.vmi.trace;

import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.paging.Dtb;
import dev.periscope.vmi.paging.X86AddressSpace;
import dev.periscope.vmi.ring.RingRecord;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Names and decodes x86-64 syscall arguments: fds (AT_FDCWD), flags and modes as numbers, path and buffer
 * arguments as text from the hypervisor's pre-read copy, or read from guest memory through the calling process's
 * page tables (only while its vCPU waits for Java, so the memory cannot change underneath). Used by the ring
 * thread only.
 */
final class SyscallDecoder {

    private enum Type { FD, DFD, INT, HEX, OCT, PATH, BUF, PTR }

    private record Param(String name, Type type) {
    }

    static final int MAX_STRING = 256;
    private static final int MAX_BUFFER = 64;
    private static final Map<String, Param[]> SIGNATURES = new HashMap<>();

    static {
        sig("read", "fd:fd buf:ptr count:int");
        sig("write", "fd:fd buf:buf count:int");
        sig("pread64", "fd:fd buf:ptr count:int pos:int");
        sig("pwrite64", "fd:fd buf:buf count:int pos:int");
        sig("readv", "fd:fd vec:ptr vlen:int");
        sig("writev", "fd:fd vec:ptr vlen:int");
        sig("open", "filename:path flags:hex mode:oct");
        sig("openat", "dfd:dfd filename:path flags:hex mode:oct");
        sig("close", "fd:fd");
        sig("stat", "filename:path statbuf:ptr");
        sig("lstat", "filename:path statbuf:ptr");
        sig("fstat", "fd:fd statbuf:ptr");
        sig("newfstatat", "dfd:dfd filename:path statbuf:ptr flag:hex");
        sig("statx", "dfd:dfd filename:path flags:hex mask:hex buffer:ptr");
        sig("lseek", "fd:fd offset:int whence:int");
        sig("mmap", "addr:ptr len:int prot:hex flags:hex fd:fd off:int");
        sig("mprotect", "start:ptr len:int prot:hex");
        sig("munmap", "addr:ptr len:int");
        sig("brk", "brk:ptr");
        sig("ioctl", "fd:fd cmd:hex arg:ptr");
        sig("access", "filename:path mode:oct");
        sig("faccessat", "dfd:dfd filename:path mode:oct");
        sig("faccessat2", "dfd:dfd filename:path mode:oct flags:hex");
        sig("pipe", "fildes:ptr");
        sig("pipe2", "fildes:ptr flags:hex");
        sig("dup", "fildes:fd");
        sig("dup2", "oldfd:fd newfd:fd");
        sig("dup3", "oldfd:fd newfd:fd flags:hex");
        sig("fcntl", "fd:fd cmd:int arg:hex");
        sig("getdents64", "fd:fd dirent:ptr count:int");
        sig("chdir", "filename:path");
        sig("fchdir", "fd:fd");
        sig("mkdir", "pathname:path mode:oct");
        sig("mkdirat", "dfd:dfd pathname:path mode:oct");
        sig("rmdir", "pathname:path");
        sig("unlink", "pathname:path");
        sig("unlinkat", "dfd:dfd pathname:path flag:hex");
        sig("rename", "oldname:path newname:path");
        sig("renameat2", "olddfd:dfd oldname:path newdfd:dfd newname:path flags:hex");
        sig("readlink", "path:path buf:ptr bufsiz:int");
        sig("readlinkat", "dfd:dfd pathname:path buf:ptr bufsiz:int");
        sig("chmod", "filename:path mode:oct");
        sig("fchmod", "fd:fd mode:oct");
        sig("fchmodat", "dfd:dfd filename:path mode:oct");
        sig("utimensat", "dfd:dfd filename:path utimes:ptr flags:hex");
        sig("execve", "filename:path argv:ptr envp:ptr");
        sig("execveat", "fd:dfd filename:path argv:ptr envp:ptr flags:hex");
        sig("clone", "clone_flags:hex newsp:ptr parent_tidptr:ptr child_tidptr:ptr tls:ptr");
        sig("clone3", "uargs:ptr size:int");
        sig("wait4", "upid:int stat_addr:ptr options:hex ru:ptr");
        sig("kill", "pid:int sig:int");
        sig("exit", "error_code:int");
        sig("exit_group", "error_code:int");
        sig("rt_sigaction", "sig:int act:ptr oact:ptr sigsetsize:int");
        sig("rt_sigprocmask", "how:int nset:ptr oset:ptr sigsetsize:int");
        sig("nanosleep", "rqtp:ptr rmtp:ptr");
        sig("clock_nanosleep", "which_clock:int flags:hex rqtp:ptr rmtp:ptr");
        sig("poll", "ufds:ptr nfds:int timeout_msecs:int");
        sig("ppoll", "ufds:ptr nfds:int tsp:ptr sigmask:ptr sigsetsize:int");
        sig("select", "n:int inp:ptr outp:ptr exp:ptr tvp:ptr");
        sig("pselect6", "n:int inp:ptr outp:ptr exp:ptr tsp:ptr sig:ptr");
        sig("socket", "family:int type:hex protocol:int");
        sig("connect", "fd:fd uservaddr:ptr addrlen:int");
        sig("sendfile", "out_fd:fd in_fd:fd offset:ptr count:int");
        sig("ftruncate", "fd:fd length:int");
        sig("fsync", "fd:fd");
        sig("umask", "mask:oct");
        sig("getcwd", "buf:ptr size:int");
        sig("set_tid_address", "tidptr:ptr");
        sig("prlimit64", "pid:int resource:int new_rlim:ptr old_rlim:ptr");
        sig("getrandom", "buf:ptr count:int flags:hex");
        sig("uname", "name:ptr");
        sig("arch_prctl", "option:hex arg2:ptr");
        sig("futex", "uaddr:ptr op:int val:int utime:ptr uaddr2:ptr val3:int");
    }

    private static void sig(String name, String spec) {
        String[] parts = spec.split(" ");
        Param[] params = new Param[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String[] nt = parts[i].split(":");
            params[i] = new Param(nt[0], Type.valueOf(nt[1].toUpperCase()));
        }
        SIGNATURES.put(name, params);
    }

    /** Which argument the QEMU plugin pre-reads for {@code nr} (mirror of preread_arg() in periscope_plugin.c). */
    static int prereadArg(long nr) {
        return switch ((int) nr) {
            case 1, 257, 262, 263, 322 -> 1;
            case 2, 4, 6, 21, 59, 80, 83, 84, 87, 90 -> 0;
            default -> -1;
        };
    }

    private final SyscallTable table;
    private final PhysicalMemory memory;
    private final byte[] data = new byte[64];
    private final byte[] text = new byte[MAX_STRING];

    SyscallDecoder(SyscallTable table, PhysicalMemory memory) {
        this.table = table;
        this.memory = memory;
    }

    SyscallTable table() {
        return table;
    }

    /**
     * The event for a SYSCALL record (valid only during the handler call). {@code readGuest}: the vCPU waits,
     * so string arguments may be read from guest memory through {@code cr3}.
     */
    TraceEvent.Syscall decode(RingRecord r, int pid, String comm, boolean strings, boolean readGuest) {
        long nr = r.syscallNumber();
        String name = table.name(nr);
        Param[] params = SIGNATURES.get(name);
        int pre = prereadArg(nr);
        int preLen = strings && pre >= 0 ? r.copyData(data) : 0;
        List<TraceEvent.Arg> args = new ArrayList<>(6);
        int n = params == null ? 6 : params.length;
        for (int i = 0; i < n; i++) {
            long v = r.arg(i);
            if (params == null) {
                args.add(new TraceEvent.Arg("arg" + i, v, null));
                continue;
            }
            Param p = params[i];
            String t = switch (p.type) {
                case DFD -> (int) v == -100 ? "AT_FDCWD" : Integer.toString((int) v);
                case FD, INT -> null;
                case HEX -> "0x" + Long.toHexString(v);
                case OCT -> "0" + Long.toOctalString(v & 0xFFFF);
                case PTR -> v == 0 ? "NULL" : "0x" + Long.toHexString(v);
                case PATH -> !strings ? null : i == pre && preLen > 0 ? quote(data, cstrLen(data, preLen), false)
                        : readGuest ? readString(r.newCr3(), v, MAX_STRING, true) : null;
                case BUF -> {
                    if (!strings) {
                        yield null;
                    }
                    long count = i + 1 < 6 ? r.arg(i + 1) : 0;
                    int want = (int) Math.max(0, Math.min(count, MAX_BUFFER));
                    if (i == pre && preLen > 0) {
                        yield quote(data, Math.min(want, preLen), want < count);
                    }
                    yield readGuest ? readString(r.newCr3(), v, want, false) + (want < count ? "..." : "") : null;
                }
            };
            args.add(new TraceEvent.Arg(p.name, v, t));
        }
        return new TraceEvent.Syscall(r.timestampNs(), r.vcpu(), pid, comm, (int) nr, name, args);
    }

    private String readString(long cr3, long address, int max, boolean cString) {
        if (address == 0) {
            return "NULL";
        }
        if (max == 0) {
            return "\"\"";
        }
        try {
            X86AddressSpace space = X86AddressSpace.fourLevel(memory, Dtb.of(cr3));
            int got = 0;
            while (got < max) {
                long at = address + got;
                int chunk = (int) Math.min(max - got, 4096 - (at & 4095));
                space.read(at, text, got, chunk);
                int end = cString ? cstrLen(text, got + chunk) : got + chunk;
                got += chunk;
                if (end < got) {
                    return quote(text, end, false);
                }
            }
            return quote(text, got, cString);
        } catch (VmiException | IndexOutOfBoundsException e) {
            return null; // not mapped (yet): leave the raw pointer
        }
    }

    private static int cstrLen(byte[] b, int n) {
        for (int i = 0; i < n; i++) {
            if (b[i] == 0) {
                return i;
            }
        }
        return n;
    }

    static String quote(byte[] b, int n, boolean truncated) {
        StringBuilder s = new StringBuilder(n + 4).append('"');
        for (int i = 0; i < n; i++) {
            int c = b[i] & 0xff;
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\t' -> s.append("\\t");
                default -> {
                    if (c >= 0x20 && c < 0x7f) {
                        s.append((char) c);
                    } else {
                        s.append(String.format("\\x%02x", c));
                    }
                }
            }
        }
        s.append('"');
        return truncated ? s.append("...").toString() : s.toString();
    }
}
