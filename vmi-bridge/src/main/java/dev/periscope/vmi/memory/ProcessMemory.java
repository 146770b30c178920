package dev.periscope.vmi.memory;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The memory of another process, a VMM such as QEMU, read at its virtual addresses through
 * {@code /proc/PID/mem}: guest RAM of a VM that was not started to be introspected (anonymous memory, nothing
 * shared). Reading needs ptrace access to the process: root, or {@code CAP_SYS_PTRACE}.
 *
 * <p>The process is identified by pid and start time, so a pid reused after the VMM exited reads as gone
 * ({@link VmGoneException}), never as someone else's memory. Reads are positional (pread), thread-safe, and copy
 * into Java arrays. {@link #close()} releases the file; later reads fail with {@link SessionClosedException}.
 */
public final class ProcessMemory implements AutoCloseable {

    private static final int SEARCH_CHUNK = 1 << 20;

    private final long pid;
    private final long startTicks;
    private final FileChannel mem;
    private volatile boolean closed;

    private ProcessMemory(long pid, long startTicks, FileChannel mem) {
        this.pid = pid;
        this.startTicks = startTicks;
        this.mem = mem;
    }

    /**
     * Opens the memory of process {@code pid}, which must have started at {@code startTicks} (field 22 of its
     * /proc stat, as {@link #startTicks(long)} reads it).
     *
     * @throws VmGoneException              no such process (any more)
     * @throws PlatformUnavailableException no ptrace access to it
     */
    public static ProcessMemory open(long pid, long startTicks) {
        Path file = Path.of("/proc", Long.toString(pid), "mem");
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new VmGoneException("process " + pid + " is gone", e);
        } catch (AccessDeniedException e) {
            throw new PlatformUnavailableException("cannot read the memory of process " + pid + " (" + file
                    + "): this needs root or CAP_SYS_PTRACE over it", e);
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot open " + file + ": " + e.getMessage(), e);
        }
        ProcessMemory memory = new ProcessMemory(pid, startTicks, channel);
        if (!memory.alive()) {
            memory.close();
            throw new VmGoneException("process " + pid + " is not the one that started at tick " + startTicks);
        }
        return memory;
    }

    /**
     * When process {@code pid} started, in clock ticks since boot (field 22 of /proc/PID/stat): with the pid, what
     * identifies a process for its lifetime.
     *
     * @throws VmGoneException no such process
     */
    public static long startTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // comm (field 2) may hold spaces and parentheses: the fields after the last ')' start at field 3
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            if (fields[0].equals("Z") || fields[0].equals("X")) {
                throw new VmGoneException("process " + pid + " has exited");
            }
            return Long.parseLong(fields[19]);
        } catch (IOException | RuntimeException e) {
            if (e instanceof VmGoneException gone) {
                throw gone;
            }
            throw new VmGoneException("process " + pid + " is gone", e);
        }
    }

    public long pid() {
        return pid;
    }

    /** A file region a process maps shared: its bytes are the file's (page cache), readable without the process. */
    public record SharedFile(Path file, long offset) {
    }

    /**
     * The file that process {@code pid} maps shared over all of {@code [hostAddress, hostAddress + length)}, at
     * consecutive offsets, and that its path still names (same device and inode); empty when the range is
     * anonymous, private, split between files, or its file was deleted or replaced.
     */
    public static Optional<SharedFile> sharedFileAt(long pid, long hostAddress, long length) {
        List<String> maps;
        try {
            maps = Files.readAllLines(Path.of("/proc", Long.toString(pid), "maps"));
        } catch (IOException e) {
            return Optional.empty();
        }
        long end = hostAddress + length;
        long next = hostAddress;
        Mapping first = null;
        for (String line : maps) {
            Mapping m = Mapping.parse(line);
            if (m == null || m.end() <= next || next >= end) {
                continue;
            }
            if (m.start() > next || !m.shared() || !m.path().startsWith("/") || m.path().endsWith(" (deleted)")) {
                return Optional.empty();
            }
            if (first == null) {
                first = m;
            } else if (!m.sameFile(first) || m.offset() - first.offset() != m.start() - first.start()) {
                return Optional.empty();
            }
            next = m.end();
        }
        if (first == null || next < end) {
            return Optional.empty();
        }
        Path file = Path.of(first.path());
        try {
            Map<String, Object> attributes = Files.readAttributes(file, "unix:ino,dev");
            long dev = (Long) attributes.get("dev");
            long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
            long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
            if ((Long) attributes.get("ino") != first.inode() || major != first.major() || minor != first.minor()) {
                return Optional.empty();
            }
        } catch (IOException | UnsupportedOperationException | ClassCastException e) {
            return Optional.empty();
        }
        return Optional.of(new SharedFile(file, first.offset() + (hostAddress - first.start())));
    }

    /** One line of /proc/PID/maps: {@code start-end perms offset major:minor inode path}. */
    private record Mapping(long start, long end, boolean shared, long offset, long major, long minor, long inode,
                           String path) {

        static Mapping parse(String line) {
            String[] f = line.trim().split("\\s+", 6);
            if (f.length < 5) {
                return null;
            }
            try {
                int dash = f[0].indexOf('-');
                int colon = f[3].indexOf(':');
                return new Mapping(Long.parseUnsignedLong(f[0].substring(0, dash), 16),
                        Long.parseUnsignedLong(f[0].substring(dash + 1), 16), f[1].length() == 4 && f[1].charAt(3) == 's',
                        Long.parseUnsignedLong(f[2], 16), Long.parseLong(f[3].substring(0, colon), 16),
                        Long.parseLong(f[3].substring(colon + 1), 16), Long.parseLong(f[4]), f.length > 5 ? f[5] : "");
            } catch (RuntimeException e) {
                return null;
            }
        }

        boolean sameFile(Mapping other) {
            return inode == other.inode && major == other.major && minor == other.minor && path.equals(other.path);
        }
    }

    /** Whether the process is still the one opened (running, not a zombie, same start time). */
    public boolean alive() {
        try {
            return startTicks(pid) == startTicks;
        } catch (VmGoneException e) {
            return false;
        }
    }

    /**
     * The {@code length} bytes at {@code hostAddress} as memory addressed from 0 (a RAM block): reads are bounds
     * checked against {@code length}; {@code name} appears in errors.
     */
    public PhysicalMemory region(long hostAddress, long length, String name) {
        if (hostAddress <= 0 || length <= 0 || hostAddress + length < hostAddress) {
            throw new IllegalArgumentException("bad region 0x" + Long.toHexString(hostAddress) + "+" + length);
        }
        return new Region(hostAddress, length, Objects.requireNonNull(name));
    }

    /** Copies {@code length} bytes at host address {@code hostAddress}; {@code what} names them in errors. */
    private void read(long hostAddress, byte[] target, int offset, int length, String what) {
        if (closed) {
            throw new SessionClosedException("memory of process " + pid + " is closed");
        }
        ByteBuffer buffer = ByteBuffer.wrap(target, offset, length);
        try {
            while (buffer.hasRemaining()) {
                int n = mem.read(buffer, hostAddress + (buffer.position() - offset));
                if (n <= 0) {
                    throw failed(hostAddress, what, null);
                }
            }
        } catch (ClosedChannelException e) {
            throw new SessionClosedException("memory of process " + pid + " is closed");
        } catch (IOException e) {
            throw failed(hostAddress, what, e);
        }
    }

    /**
     * A read failed: the process exited (VM gone), or the address is not mapped in it, which for a RAM block QEMU
     * mapped means the layout changed under us (memory unplugged).
     */
    private RuntimeException failed(long hostAddress, String what, IOException cause) {
        if (!alive()) {
            return new VmGoneException("process " + pid + " exited while its memory was read", cause);
        }
        return new PlatformUnavailableException(what + ": host address 0x" + Long.toHexString(hostAddress)
                + " is not readable in process " + pid + " (" + (cause == null ? "end of file" : cause.getMessage())
                + "): its RAM layout changed (memory unplugged?)", cause);
    }

    @Override
    public void close() {
        closed = true;
        try {
            mem.close();
        } catch (IOException ignored) {
            // nothing was written
        }
    }

    @Override
    public String toString() {
        return "ProcessMemory[" + pid + "]";
    }

    /** A RAM block of the process: offsets 0..length are host addresses hostAddress..hostAddress+length. */
    private final class Region implements PhysicalMemory {
        private final long hostAddress;
        private final long length;
        private final String name;

        Region(long hostAddress, long length, String name) {
            this.hostAddress = hostAddress;
            this.length = length;
            this.name = name;
        }

        @Override
        public long size() {
            return length;
        }

        @Override
        public void read(long offset, byte[] target, int targetOffset, int count) {
            Objects.checkFromIndexSize(targetOffset, count, target.length);
            if (offset < 0 || count > length || offset > length - count) {
                throw new PageNotPresentException("outside RAM block " + name + " of " + length + " bytes", offset);
            }
            ProcessMemory.this.read(hostAddress + offset, target, targetOffset, count,
                    "RAM block " + name + " of process " + pid);
        }

        /** Reads chunk by chunk, each overlapping the last by the needle's length, and searches in Java. */
        @Override
        public long indexOf(byte[] needle, long from, long to) {
            long start = Math.max(0, from);
            long end = Math.min(length, to);
            if (end - start < needle.length) {
                return -1;
            }
            if (needle.length == 0) {
                return start;
            }
            byte[] chunk = new byte[(int) Math.min(SEARCH_CHUNK + needle.length - 1, end - start)];
            MemorySegment segment = MemorySegment.ofArray(chunk);
            for (long base = start; base + needle.length <= end; base += SEARCH_CHUNK) {
                int n = (int) Math.min(chunk.length, end - base);
                read(base, chunk, 0, n);
                long found = SegmentMemory.search(segment, needle, 0, n);
                if (found >= 0) {
                    return base + found;
                }
            }
            return -1;
        }

        @Override
        public String toString() {
            return "RAM block " + name + " of process " + pid + " at 0x" + Long.toHexString(hostAddress);
        }
    }
}
