package dev.periscope.vmi.trace;

import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.paging.Dtb;
import dev.periscope.vmi.paging.X86AddressSpace;
import dev.periscope.vmi.ring.RingRecord;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Decodes x86-64 syscalls as strace shows them, driven by {@link SyscallSignatures}: an entry record gives the call
 * with its inputs (paths, write buffers, flags by name, structs passed in), its return record the result and its
 * outputs (what read() read, the fds pipe() made, the stat buffer). Guest memory comes from the hypervisor's pre-read
 * copy (the record names the argument it belongs to), or is read from guest memory through the calling process's
 * page tables while its vCPU waits for Java (synchronous methods: the memory cannot change underneath). Used by the
 * ring thread only.
 */
final class SyscallDecoder {

    /** Longest path read from guest memory (a pre-read copy holds 64 bytes). */
    static final int MAX_PATH = 256;
    /** Strings of an argv shown at most; more show as {@code ...}. */
    static final int MAX_ARGV = 32;

    private final SyscallTable table;
    private final PhysicalMemory memory;
    private final boolean fiveLevel;

    SyscallDecoder(SyscallTable table, PhysicalMemory memory, boolean fiveLevel) {
        this.table = table;
        this.memory = memory;
        this.fiveLevel = fiveLevel;
    }

    SyscallTable table() {
        return table;
    }

    /** Whether the call named {@code name} returns (not exit, exit_group). */
    static boolean returns(String name) {
        SyscallSignatures.Signature s = SyscallSignatures.of(name);
        return s == null || s.returns() != SyscallSignatures.Returns.NONE;
    }

    /**
     * The call a SYSCALL record enters (valid only during the handler call), its outputs shown as pointers and its
     * result {@code NOT_TRACED} (the caller decides whether a return will follow).
     *
     * @param strings   decode memory behind arguments (paths, buffers, structs)
     * @param readGuest the vCPU waits for Java: memory may be read from the guest now
     */
    TraceEvent.Syscall entry(RingRecord r, int pid, String comm, boolean strings, boolean readGuest) {
        long nr = r.syscallNumber();
        String name = table.name(nr);
        long[] raw = new long[6];
        for (int i = 0; i < 6; i++) {
            raw[i] = r.arg(i);
        }
        SyscallSignatures.Signature sig = SyscallSignatures.of(name);
        List<TraceEvent.Arg> args = new ArrayList<>(6);
        if (sig == null) {
            for (int i = 0; i < 6; i++) {
                args.add(new TraceEvent.Arg("arg" + i, raw[i], ArgType.hex(raw[i])));
            }
        } else {
            View view = new View(raw, 0, strings ? preread(r) : null, r.dataArg(), strings && readGuest, r.newCr3());
            int shown = sig.shown(raw);
            for (int i = 0; i < shown; i++) {
                SyscallSignatures.Param p = sig.params().get(i);
                String text = p.type().output ? ArgType.pointer(raw[i]) : view.render(p.type(), i);
                args.add(new TraceEvent.Arg(p.name(), raw[i], text));
            }
        }
        return new TraceEvent.Syscall(r.timestampNs(), r.vcpu(), pid, comm, (int) nr, name, args);
    }

    /**
     * {@code entry} completed by its SYSCALL_EXIT record {@code exit} (valid only during the handler call): the
     * result, and the outputs of a successful call decoded.
     */
    TraceEvent.Syscall exit(TraceEvent.Syscall entry, RingRecord exit, boolean strings, boolean readGuest) {
        long ret = exit.returnValue();
        SyscallSignatures.Signature sig = SyscallSignatures.of(entry.name());
        TraceEvent.Result result = result(sig, ret, exit.timestampNs() - entry.timestampNs());
        if (sig == null || Errno.failed(ret) || sig.params().stream().noneMatch(p -> p.type().output)) {
            return entry.completed(entry.args(), result);
        }
        long[] raw = new long[6];
        for (int i = 0; i < entry.args().size(); i++) {
            raw[i] = entry.args().get(i).value();
        }
        View view = new View(raw, ret, strings ? preread(exit) : null, exit.dataArg(), strings && readGuest,
                exit.newCr3());
        List<TraceEvent.Arg> args = new ArrayList<>(entry.args());
        for (int i = 0; i < args.size(); i++) {
            SyscallSignatures.Param p = sig.params().get(i);
            if (p.type().output) {
                args.set(i, new TraceEvent.Arg(p.name(), raw[i], view.render(p.type(), i)));
            }
        }
        return entry.completed(args, result);
    }

    /** The result of a call that returned {@code ret} after {@code durationNs}, written as strace writes it. */
    static TraceEvent.Result result(SyscallSignatures.Signature sig, long ret, long durationNs) {
        long duration = Math.max(0, durationNs);
        if (Errno.failed(ret)) {
            return new TraceEvent.Result(TraceEvent.Status.RETURNED, ret, Errno.name(-ret), duration,
                    Errno.result(ret));
        }
        String text = switch (sig == null ? SyscallSignatures.Returns.DEC : sig.returns()) {
            case HEX -> ArgType.hex(ret);
            case OCT -> SyscallConstants.octal(ret);
            case DEC, NONE -> Long.toString(ret);
        };
        return new TraceEvent.Result(TraceEvent.Status.RETURNED, ret, null, duration, text);
    }

    private static byte[] preread(RingRecord r) {
        int n = r.dataLength();
        if (n == 0) {
            return null;
        }
        byte[] b = new byte[n];
        r.copyData(b);
        return b;
    }

    /** One call's arguments as the renderers see them. */
    private final class View implements ArgType.Call {
        private final long[] raw;
        private final long ret;
        private final byte[] data;
        private final int dataArg;
        private final boolean readGuest;
        private final long cr3;
        private X86AddressSpace space;

        View(long[] raw, long ret, byte[] data, int dataArg, boolean readGuest, long cr3) {
            this.raw = raw;
            this.ret = ret;
            this.data = data;
            this.dataArg = dataArg;
            this.readGuest = readGuest;
            this.cr3 = cr3;
        }

        String render(ArgType type, int i) {
            String text = type.renderer.render(this, i);
            return text != null ? text : ArgType.pointer(raw[i]);
        }

        @Override
        public long arg(int i) {
            return i >= 0 && i < 6 ? raw[i] : 0;
        }

        @Override
        public long ret() {
            return ret;
        }

        @Override
        public byte[] memory(int i, int max) {
            if (max <= 0 || arg(i) == 0) {
                return null;
            }
            if (data != null && i == dataArg) {
                return Arrays.copyOf(data, Math.min(max, data.length));
            }
            return readGuest ? read(arg(i), max, false) : null;
        }

        @Override
        public byte[] string(int i) {
            if (arg(i) == 0) {
                return null;
            }
            if (data != null && i == dataArg) {
                return data.clone();
            }
            return readGuest ? read(arg(i), MAX_PATH, true) : null;
        }

        @Override
        public String argv(int i) {
            if (!readGuest || arg(i) == 0) {
                return null;
            }
            List<String> items = new ArrayList<>();
            for (int k = 0; k <= MAX_ARGV; k++) {
                byte[] p = read(arg(i) + 8L * k, 8, false);
                if (p == null || p.length < 8) {
                    return null;
                }
                long at = ByteBuffer.wrap(p).order(ByteOrder.LITTLE_ENDIAN).getLong();
                if (at == 0) {
                    return "[" + String.join(", ", items) + "]";
                }
                if (k == MAX_ARGV) {
                    items.add("...");
                    break;
                }
                byte[] s = read(at, MAX_PATH, true);
                items.add(s == null ? ArgType.pointer(at) : StraceFormat.cString(s));
            }
            return "[" + String.join(", ", items) + "]";
        }

        @Override
        public int vectorLength(int i) {
            if (!readGuest || arg(i) == 0) {
                return -1;
            }
            for (int k = 0; k < 4096; k++) {
                byte[] p = read(arg(i) + 8L * k, 8, false);
                if (p == null || p.length < 8) {
                    return -1;
                }
                if (ByteBuffer.wrap(p).order(ByteOrder.LITTLE_ENDIAN).getLong() == 0) {
                    return k;
                }
            }
            return -1;
        }

        /**
         * Up to {@code max} bytes at {@code address} through the caller's page tables, page by page: a C string stops
         * after its NUL; a read that hits an unmapped page returns what came before it (null if nothing).
         */
        private byte[] read(long address, int max, boolean cString) {
            byte[] out = new byte[max];
            int got = 0;
            try {
                if (space == null) {
                    space = new X86AddressSpace(memory, Dtb.of(cr3), fiveLevel);
                }
                while (got < max) {
                    long at = address + got;
                    int chunk = (int) Math.min(max - got, 4096 - (at & 4095));
                    space.read(at, out, got, chunk);
                    int end = cString ? got + StraceFormat.cLength(out, got, got + chunk) : got + chunk;
                    got += chunk;
                    if (end < got) {
                        return Arrays.copyOf(out, end + 1); // with its NUL
                    }
                }
            } catch (VmiException | IndexOutOfBoundsException e) {
                // not mapped (yet): keep what came before
            }
            return got == 0 ? null : Arrays.copyOf(out, got);
        }
    }
}
