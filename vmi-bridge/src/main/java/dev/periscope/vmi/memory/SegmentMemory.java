package dev.periscope.vmi.memory;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmGoneException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Objects;

/**
 * Guest physical memory over one {@link MemorySegment} (mapped file or heap array): bounds checks, little-endian
 * reads, the fast search, and the translation of FFM failures into the engine's exceptions, all in one place.
 *
 * <p>A segment may be sparse: when {@code present} is set, a page whose bit is clear reads as zeros whatever the
 * segment holds there (QEMU's mapped-ram files leave unwritten pages out of their bitmap).
 */
abstract sealed class SegmentMemory implements PhysicalMemory permits MappedPhysicalMemory, ByteArrayPhysicalMemory {

    static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Reads at least this long, and searches in steps of {@link #SCAN_STEP}, are announced ({@link #willRead}). */
    static final int LARGE_READ = 64 << 10;
    static final long SCAN_STEP = 4L << 20;
    private static final long ONES = 0x0101_0101_0101_0101L;
    private static final long HIGHS = 0x8080_8080_8080_8080L;

    private final MemorySegment segment;
    private final long size;
    /** Present pages, or null when every page is present. */
    private final BitSet present;
    private final int pageShift;

    SegmentMemory(MemorySegment segment, BitSet present, long pageSize) {
        if (Long.bitCount(pageSize) != 1) {
            throw new IllegalArgumentException("page size must be a power of two: " + pageSize);
        }
        this.segment = segment;
        this.size = segment.byteSize();
        this.present = present;
        this.pageShift = Long.numberOfTrailingZeros(pageSize);
    }

    @Override
    public final long size() {
        return size;
    }

    /** What to report when the backing storage is gone; subclasses name their file or VM. */
    abstract String describe();

    /** The range about to be read whole (a large copy, a step of a search); a mapping may read it ahead. */
    void willRead(long offset, long length) {
    }

    final MemorySegment segment() {
        return segment;
    }

    @Override
    public final byte readByte(long physicalAddress) {
        check(physicalAddress, 1);
        if (!isPresent(physicalAddress)) {
            return 0;
        }
        try {
            return segment.get(ValueLayout.JAVA_BYTE, physicalAddress);
        } catch (RuntimeException | InternalError e) {
            throw translate(e, physicalAddress);
        }
    }

    @Override
    public final int readInt(long physicalAddress) {
        check(physicalAddress, 4);
        if (present != null && !samePagePresent(physicalAddress, 4)) {
            return (int) slowLittleEndian(physicalAddress, 4);
        }
        try {
            return segment.get(INT_LE, physicalAddress);
        } catch (RuntimeException | InternalError e) {
            throw translate(e, physicalAddress);
        }
    }

    @Override
    public final long readLong(long physicalAddress) {
        check(physicalAddress, 8);
        if (present != null && !samePagePresent(physicalAddress, 8)) {
            return slowLittleEndian(physicalAddress, 8);
        }
        try {
            return segment.get(LONG_LE, physicalAddress);
        } catch (RuntimeException | InternalError e) {
            throw translate(e, physicalAddress);
        }
    }

    @Override
    public final void read(long physicalAddress, byte[] target, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, target.length);
        check(physicalAddress, length);
        if (length >= LARGE_READ) {
            willRead(physicalAddress, length);
        }
        try {
            if (present == null) {
                MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, physicalAddress, target, offset, length);
                return;
            }
            long address = physicalAddress;
            int done = 0;
            while (done < length) {
                long pageEnd = ((address >>> pageShift) + 1) << pageShift;
                int chunk = (int) Math.min(length - done, pageEnd - address);
                if (isPresent(address)) {
                    MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, address, target, offset + done, chunk);
                } else {
                    Arrays.fill(target, offset + done, offset + done + chunk, (byte) 0);
                }
                done += chunk;
                address += chunk;
            }
        } catch (RuntimeException | InternalError e) {
            throw translate(e, physicalAddress);
        }
    }

    @Override
    public final long indexOf(byte[] needle, long from, long to) {
        long start = Math.max(0, from);
        long end = Math.min(size, to);
        if (needle.length == 0) {
            return start <= end ? start : -1;
        }
        if (end - start < needle.length) {
            return -1;
        }
        try {
            if (present == null) {
                return search(needle, start, end);
            }
            return hasZero(needle) ? searchSparseSlow(needle, start, end) : searchPresentRuns(needle, start, end);
        } catch (RuntimeException | InternalError e) {
            throw translate(e, start);
        }
    }

    /**
     * {@link #search(MemorySegment, byte[], long, long)} in steps, each announced with the one after it before it is
     * scanned, so that reading the next step overlaps scanning this one.
     */
    private long search(byte[] needle, long start, long end) {
        long announced = start; // where what willRead was told of ends: each range is announced once
        for (long step = start; step <= end - needle.length; step += SCAN_STEP) {
            long stepEnd = Math.min(end, step + SCAN_STEP + needle.length - 1); // a match may start anywhere in the step
            long ahead = Math.min(end, step + 2 * SCAN_STEP);
            if (ahead > announced) {
                willRead(announced, ahead - announced);
                announced = ahead;
            }
            long found = search(segment, needle, step, stepEnd);
            if (found >= 0) {
                return found;
            }
        }
        return -1;
    }

    /**
     * Word-at-a-time search for the first needle byte (SWAR zero-byte test), each candidate confirmed with
     * {@link MemorySegment#mismatch}. Returns the first match in {@code [start, end)} of {@code segment} or -1.
     */
    static long search(MemorySegment segment, byte[] needle, long start, long end) {
        MemorySegment pattern = MemorySegment.ofArray(needle);
        int n = needle.length;
        long last = end - n; // last position a match may start at
        long broadcast = (needle[0] & 0xffL) * ONES;
        long position = start;
        while (position + 8 <= last + 1) {
            long word = segment.get(LONG_LE, position) ^ broadcast;
            long zeros = (word - ONES) & ~word & HIGHS;
            while (zeros != 0) {
                long candidate = position + (Long.numberOfTrailingZeros(zeros) >>> 3);
                if (MemorySegment.mismatch(segment, candidate, candidate + n, pattern, 0, n) == -1) {
                    return candidate;
                }
                zeros &= zeros - 1;
            }
            position += 8;
        }
        for (; position <= last; position++) {
            if (segment.get(ValueLayout.JAVA_BYTE, position) == needle[0]
                    && MemorySegment.mismatch(segment, position, position + n, pattern, 0, n) == -1) {
                return position;
            }
        }
        return -1;
    }

    /** A needle without zero bytes cannot touch an absent (all-zero) page: search each run of present pages. */
    private long searchPresentRuns(byte[] needle, long start, long end) {
        long pages = (size + (1L << pageShift) - 1) >>> pageShift;
        int page = (int) (start >>> pageShift);
        while (page < pages) {
            int first = present.nextSetBit(page);
            if (first < 0 || (long) first << pageShift >= end) {
                return -1;
            }
            int afterRun = present.nextClearBit(first);
            long runStart = Math.max(start, (long) first << pageShift);
            long runEnd = Math.min(end, (long) afterRun << pageShift);
            if (runEnd - runStart >= needle.length) {
                long found = search(needle, runStart, runEnd);
                if (found >= 0) {
                    return found;
                }
            }
            page = afterRun;
        }
        return -1;
    }

    private long searchSparseSlow(byte[] needle, long start, long end) {
        for (long p = start; p <= end - needle.length; p++) {
            int i = 0;
            while (i < needle.length && readByte(p + i) == needle[i]) {
                i++;
            }
            if (i == needle.length) {
                return p;
            }
        }
        return -1;
    }

    private static boolean hasZero(byte[] needle) {
        for (byte b : needle) {
            if (b == 0) {
                return true;
            }
        }
        return false;
    }

    private boolean isPresent(long address) {
        return present == null || present.get((int) (address >>> pageShift));
    }

    private boolean samePagePresent(long address, int length) {
        long page = address >>> pageShift;
        return page == (address + length - 1) >>> pageShift && present.get((int) page);
    }

    private long slowLittleEndian(long address, int length) {
        long value = 0;
        for (int i = length - 1; i >= 0; i--) {
            value = (value << 8) | (readByte(address + i) & 0xffL);
        }
        return value;
    }

    private void check(long address, long length) {
        if (address < 0 || length < 0 || address > size - length) {
            throw new PageNotPresentException("outside guest RAM of " + size + " bytes", address);
        }
    }

    /**
     * The one place FFM failures become engine exceptions: a closed arena (IllegalStateException) or a truncated
     * file (the JVM turns SIGBUS into InternalError) means the VM's memory is gone; an index error means the
     * address was outside the mapping.
     */
    private RuntimeException translate(Throwable e, long address) {
        return switch (e) {
            case IndexOutOfBoundsException _ ->
                    new PageNotPresentException("outside guest RAM of " + size + " bytes", address);
            case IllegalStateException _ -> new VmGoneException(describe() + " is closed", e);
            case InternalError _ -> new VmGoneException(describe() + " vanished while being read", e);
            case RuntimeException r -> r;
            default -> new IllegalStateException(e);
        };
    }
}
