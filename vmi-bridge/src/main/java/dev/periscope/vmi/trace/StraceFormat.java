package dev.periscope.vmi.trace;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How strace writes guest data: quoted strings (its escapes: {@code \n \t \r \v \f}, other bytes in octal), and the
 * structs the common calls take or fill, from whatever bytes of them the trace has (a struct cut short shows the
 * fields that fit, then {@code ...}). Every method takes bytes of any length: guest data is hostile.
 */
final class StraceFormat {

    /** strace's default string limit is 32; traces here show what a 64-byte pre-read holds, as {@code -s 64}. */
    static final int STRING_LIMIT = 64;

    /**
     * {@code n} bytes of {@code b} quoted; {@code more} appends {@code ...} after the closing quote (the data went
     * on beyond what is shown).
     */
    static String quote(byte[] b, int n, boolean more) {
        n = Math.clamp(n, 0, b.length);
        StringBuilder s = new StringBuilder(n + 8).append('"');
        for (int i = 0; i < n; i++) {
            int c = b[i] & 0xff;
            switch (c) {
                case '"', '\\' -> s.append('\\').append((char) c);
                case '\f' -> s.append("\\f");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                case 0x0b -> s.append("\\v");
                default -> {
                    if (c >= 0x20 && c < 0x7f) {
                        s.append((char) c);
                    } else {
                        // octal, as short as it can be unless an octal digit follows
                        s.append('\\');
                        boolean digitNext = i + 1 < n && b[i + 1] >= '0' && b[i + 1] <= '7';
                        if (digitNext || c >> 6 != 0) {
                            s.append((char) ('0' + (c >> 6)));
                        }
                        if (digitNext || c >> 3 != 0) {
                            s.append((char) ('0' + ((c >> 3) & 7)));
                        }
                        s.append((char) ('0' + (c & 7)));
                    }
                }
            }
        }
        s.append('"');
        return more ? s.append("...").toString() : s.toString();
    }

    /** The NUL-terminated string at the start of {@code b}, quoted; {@code ...} when {@code b} holds no NUL. */
    static String cString(byte[] b) {
        int n = cLength(b, 0, b.length);
        return quote(b, n, n == b.length);
    }

    static int cLength(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == 0) {
                return i - from;
            }
        }
        return to - from;
    }

    /** {@code [3, 4]} from two ints (pipe, socketpair). */
    static String intPair(byte[] b) {
        if (b.length < 8) {
            return null;
        }
        ByteBuffer w = le(b);
        return "[" + w.getInt(0) + ", " + w.getInt(4) + "]";
    }

    /** A wait status as strace writes it: {@code [{WIFEXITED(s) && WEXITSTATUS(s) == 0}]}. */
    static String waitStatus(byte[] b) {
        if (b.length < 4) {
            return null;
        }
        int s = le(b).getInt(0);
        String inner;
        if ((s & 0x7f) == 0) {
            inner = "WIFEXITED(s) && WEXITSTATUS(s) == " + ((s >> 8) & 0xff);
        } else if ((s & 0xff) == 0x7f) {
            inner = "WIFSTOPPED(s) && WSTOPSIG(s) == " + SyscallConstants.signal((s >> 8) & 0xff);
        } else if (s == 0xffff) {
            inner = "WIFCONTINUED(s)";
        } else {
            inner = "WIFSIGNALED(s) && WTERMSIG(s) == " + SyscallConstants.signal(s & 0x7f)
                    + ((s & 0x80) != 0 ? " && WCOREDUMP(s)" : "");
        }
        return "[{" + inner + "}]";
    }

    /** struct stat (x86-64): {@code {st_mode=S_IFREG|0644, st_size=30, ...}}; devices show st_rdev instead. */
    static String stat(byte[] b) {
        if (b.length < 32) {
            return null;
        }
        ByteBuffer w = le(b);
        int mode = w.getInt(24);
        StringBuilder s = new StringBuilder("{st_mode=").append(SyscallConstants.fileMode(mode));
        int type = mode & 0170000;
        if ((type == 020000 || type == 060000) && b.length >= 48) {
            long rdev = w.getLong(40);
            long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
            long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
            s.append(", st_rdev=makedev(0x").append(Long.toHexString(major)).append(", ").append(minor).append(')');
        } else if (b.length >= 56) {
            s.append(", st_size=").append(w.getLong(48));
        }
        return s.append(", ...}").toString();
    }

    /** struct statx: {@code {stx_mask=..., stx_mode=S_IFREG|0644, stx_size=30, ...}}. */
    static String statx(byte[] b) {
        if (b.length < 30) {
            return null;
        }
        ByteBuffer w = le(b);
        StringBuilder s = new StringBuilder("{stx_mask=").append(SyscallConstants.STATX_MASK.render(w.getInt(0) & 0xffffffffL))
                .append(", stx_attributes=").append(w.getLong(8) == 0 ? "0" : "0x" + Long.toHexString(w.getLong(8)))
                .append(", stx_mode=").append(SyscallConstants.fileMode(w.getShort(28) & 0xffff));
        if (b.length >= 48) {
            s.append(", stx_size=").append(w.getLong(40));
        }
        return s.append(", ...}").toString();
    }

    /** struct timespec: {@code {tv_sec=1, tv_nsec=0}}. */
    static String timespec(byte[] b) {
        if (b.length < 16) {
            return null;
        }
        ByteBuffer w = le(b);
        return "{tv_sec=" + w.getLong(0) + ", tv_nsec=" + w.getLong(8) + "}";
    }

    /** struct rlimit: {@code {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}}. */
    static String rlimit(byte[] b) {
        if (b.length < 16) {
            return null;
        }
        ByteBuffer w = le(b);
        return "{rlim_cur=" + rlim(w.getLong(0)) + ", rlim_max=" + rlim(w.getLong(8)) + "}";
    }

    private static String rlim(long v) {
        if (v == -1) {
            return "RLIM64_INFINITY";
        }
        return v > 0 && v % 1024 == 0 ? Long.toUnsignedString(v / 1024) + "*1024" : Long.toUnsignedString(v);
    }

    /** A kernel sigset (64 signals) as strace writes it: {@code [CHLD]}, {@code []}, {@code ~[KILL STOP]}. */
    static String sigset(long set) {
        boolean complement = Long.bitCount(set) > 32;
        long shown = complement ? ~set : set;
        List<String> names = new ArrayList<>();
        for (int sig = 1; sig <= 64; sig++) {
            if ((shown & (1L << (sig - 1))) != 0) {
                names.add(SyscallConstants.signalInSet(sig));
            }
        }
        return (complement ? "~[" : "[") + String.join(" ", names) + "]";
    }

    static String sigset(byte[] b) {
        return b.length < 8 ? null : sigset(le(b).getLong(0));
    }

    /**
     * struct kernel_sigaction {handler, flags, restorer, mask}:
     * {@code {sa_handler=SIG_DFL, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7f...}}.
     */
    static String sigaction(byte[] b) {
        if (b.length < 32) {
            return null;
        }
        ByteBuffer w = le(b);
        long handler = w.getLong(0), flags = w.getLong(8), restorer = w.getLong(16), mask = w.getLong(24);
        String h = handler == 0 ? "SIG_DFL" : handler == 1 ? "SIG_IGN" : "0x" + Long.toHexString(handler);
        StringBuilder s = new StringBuilder("{sa_handler=").append(h).append(", sa_mask=").append(sigset(mask))
                .append(", sa_flags=").append(SyscallConstants.SA.render(flags));
        if ((flags & 0x04000000) != 0) {
            s.append(", sa_restorer=0x").append(Long.toHexString(restorer));
        }
        return s.append('}').toString();
    }

    /** struct utsname (65-byte fields): the fields the bytes hold complete, {@code {sysname="Linux", ...}}. */
    static String utsname(byte[] b) {
        String[] fields = {"sysname", "nodename"};
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < fields.length && i * 65 < b.length; i++) {
            int from = i * 65, to = Math.min(b.length, from + 65);
            int n = cLength(b, from, to);
            if (from + n == to) {
                break; // cut short before its NUL
            }
            parts.add(fields[i] + "=" + quote(Arrays.copyOfRange(b, from, from + n), n, false));
        }
        return parts.isEmpty() ? null : "{" + String.join(", ", parts) + ", ...}";
    }

    /**
     * A socket address of {@code len} bytes (or what the bytes hold): AF_UNIX paths, AF_INET and AF_INET6 addresses
     * as strace writes them, other families by name.
     */
    static String sockaddr(byte[] b, long len) {
        if (b.length < 2) {
            return null;
        }
        int n = (int) Math.clamp(len, 0, b.length);
        ByteBuffer w = le(b);
        int family = w.getShort(0) & 0xffff;
        StringBuilder s = new StringBuilder("{sa_family=").append(SyscallConstants.ADDRESS_FAMILY.render(family));
        switch (family) {
            case 1 -> {
                if (n > 2) {
                    int pathLen = cLength(b, 2, n);
                    boolean abstractName = pathLen == 0 && n > 3;
                    s.append(", sun_path=").append(abstractName ? "@" + quote(Arrays.copyOfRange(b, 3, n),
                            n - 3, false) : quote(Arrays.copyOfRange(b, 2, 2 + pathLen), pathLen, false));
                }
            }
            case 2 -> {
                if (n >= 8) {
                    int port = ((b[2] & 0xff) << 8) | (b[3] & 0xff);
                    s.append(", sin_port=htons(").append(port).append("), sin_addr=inet_addr(\"")
                            .append(b[4] & 0xff).append('.').append(b[5] & 0xff).append('.').append(b[6] & 0xff)
                            .append('.').append(b[7] & 0xff).append("\")");
                }
            }
            case 10 -> {
                if (n >= 24) {
                    int port = ((b[2] & 0xff) << 8) | (b[3] & 0xff);
                    s.append(", sin6_port=htons(").append(port).append("), sin6_flowinfo=htonl(")
                            .append(Integer.toUnsignedString(ByteBuffer.wrap(b, 4, 4).getInt())).append("), ")
                            .append("inet_pton(AF_INET6, \"").append(ipv6(b, 8)).append("\", &sin6_addr)");
                    if (n >= 28) {
                        s.append(", sin6_scope_id=").append(Integer.toUnsignedString(w.getInt(24)));
                    }
                }
            }
            default -> s.append(", ...");
        }
        return s.append('}').toString();
    }

    /** An IPv6 address in its shortest text form (RFC 5952: the longest run of zero groups as ::). */
    private static String ipv6(byte[] b, int at) {
        int[] g = new int[8];
        for (int i = 0; i < 8; i++) {
            g[i] = ((b[at + 2 * i] & 0xff) << 8) | (b[at + 2 * i + 1] & 0xff);
        }
        int bestStart = -1, bestLen = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && g[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                s.append("::");
                i += bestLen - 1;
                continue;
            }
            if (!s.isEmpty() && s.charAt(s.length() - 1) != ':') {
                s.append(':');
            }
            s.append(Integer.toHexString(g[i]));
        }
        return s.toString();
    }

    /** struct clone_args (clone3): {@code {flags=CLONE_VM|..., exit_signal=SIGCHLD, stack=0x..., stack_size=0x...}}. */
    static String cloneArgs(byte[] b) {
        if (b.length < 48) {
            return null;
        }
        ByteBuffer w = le(b);
        StringBuilder s = new StringBuilder("{flags=").append(SyscallConstants.CLONE.render(w.getLong(0) & ~0xffL))
                .append(", exit_signal=").append(SyscallConstants.signal(w.getLong(32)));
        long stack = w.getLong(40);
        s.append(", stack=").append(stack == 0 ? "NULL" : "0x" + Long.toHexString(stack));
        if (b.length >= 56) {
            s.append(", stack_size=0x").append(Long.toHexString(w.getLong(48)));
        }
        return s.append(", ...}").toString();
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    private StraceFormat() {
    }
}
