package dev.periscope.vmi.linux;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.util.BitSet;
import java.util.Objects;

/**
 * A hostile variant of a guest's physical memory without copying it: reads come from the base memory except for
 * pages written here (copied on first write) and pages punched out (reads fail with
 * {@link PageNotPresentException}, as a driver reports a hole in guest RAM). Reads allocate nothing, so what a
 * case measures is the engine's own allocation. Not thread-safe while being written.
 */
final class OverlayMemory implements PhysicalMemory {

    private static final int PAGE = 4096;

    private final PhysicalMemory base;
    /** Written pages by page index (null: read from the base). */
    private final byte[][] pages;
    private final BitSet holes = new BitSet();
    /** Pages written or punched. */
    private final BitSet touched = new BitSet();

    OverlayMemory(PhysicalMemory base) {
        this.base = Objects.requireNonNull(base);
        this.pages = new byte[Math.toIntExact((base.size() + PAGE - 1) / PAGE)][];
    }

    OverlayMemory write(long address, byte[] data) {
        for (int done = 0; done < data.length; ) {
            long at = address + done;
            int chunk = (int) Math.min(data.length - done, PAGE - (at & (PAGE - 1)));
            System.arraycopy(data, done, page(index(at)), (int) (at & (PAGE - 1)), chunk);
            done += chunk;
        }
        return this;
    }

    OverlayMemory writeLong(long address, long value) {
        byte[] b = new byte[8];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (value >>> (8 * i));
        }
        return write(address, b);
    }

    OverlayMemory writeInt(long address, int value) {
        return write(address, new byte[] {(byte) value, (byte) (value >>> 8), (byte) (value >>> 16),
                (byte) (value >>> 24)});
    }

    /** Makes the pages of {@code [address, address + length)} a hole: reads there fail. */
    OverlayMemory punch(long address, long length) {
        for (long at = address & ~(PAGE - 1L); at < address + length; at += PAGE) {
            int i = index(at);
            holes.set(i);
            touched.set(i);
            pages[i] = null;
        }
        return this;
    }

    private int index(long address) {
        if (address < 0 || address >= size()) {
            throw new PageNotPresentException("outside guest RAM", address);
        }
        return (int) (address >>> 12);
    }

    private byte[] page(int index) {
        if (holes.get(index)) {
            throw new IllegalStateException("page " + index + " is a hole");
        }
        if (pages[index] == null) {
            byte[] copy = new byte[PAGE];
            long at = (long) index << 12;
            base.read(at, copy, 0, (int) Math.min(PAGE, base.size() - at));
            pages[index] = copy;
            touched.set(index);
        }
        return pages[index];
    }

    @Override
    public long size() {
        return base.size();
    }

    @Override
    public int readInt(long physicalAddress) {
        return untouched(physicalAddress, 4) ? base.readInt(physicalAddress) : (int) littleEndian(physicalAddress, 4);
    }

    @Override
    public long readLong(long physicalAddress) {
        return untouched(physicalAddress, 8) ? base.readLong(physicalAddress) : littleEndian(physicalAddress, 8);
    }

    private boolean untouched(long address, int length) {
        return address < 0 || address + length > size()
                || !touched.get((int) (address >>> 12)) && !touched.get((int) ((address + length - 1) >>> 12));
    }

    private long littleEndian(long address, int length) {
        long value = 0;
        for (int i = length - 1; i >= 0; i--) {
            value = value << 8 | (byteAt(address + i) & 0xff);
        }
        return value;
    }

    private byte byteAt(long address) {
        int i = index(address);
        if (holes.get(i)) {
            throw new PageNotPresentException("hole in guest RAM", address);
        }
        byte[] patched = pages[i];
        return patched != null ? patched[(int) (address & (PAGE - 1))] : base.readByte(address);
    }

    @Override
    public void read(long physicalAddress, byte[] target, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, target.length);
        if (physicalAddress < 0 || physicalAddress + length > size()) {
            throw new PageNotPresentException("outside guest RAM", physicalAddress);
        }
        int done = 0;
        while (done < length) {
            long at = physicalAddress + done;
            int i = (int) (at >>> 12);
            int chunk = (int) Math.min(length - done, PAGE - (at & (PAGE - 1)));
            if (holes.get(i)) {
                throw new PageNotPresentException("hole in guest RAM", at);
            }
            if (pages[i] != null) {
                System.arraycopy(pages[i], (int) (at & (PAGE - 1)), target, offset + done, chunk);
            } else {
                base.read(at, target, offset + done, chunk);
            }
            done += chunk;
        }
    }

    /**
     * The first match in the overlay: written pages are searched first, then the base only up to that match (a
     * base match is re-checked against the overlay), so a search costs what it would on real memory.
     */
    @Override
    public long indexOf(byte[] needle, long from, long to) {
        long start = Math.max(0, from);
        long end = Math.min(size(), to);
        long written = firstInTouched(needle, start, end);
        long limit = written >= 0 ? written : end;
        for (long fromBase = start; ; ) {
            long hit = base.indexOf(needle, fromBase, Math.min(end, limit + needle.length - 1));
            if (hit < 0 || hit >= limit) {
                return written;
            }
            if (matches(needle, hit)) {
                return hit;
            }
            fromBase = hit + 1;
        }
    }

    /** First match overlapping a touched page, in {@code [start, end)}. */
    private long firstInTouched(byte[] needle, long start, long end) {
        int first = (int) (Math.max(0, start - needle.length + 1) >>> 12);
        for (int i = touched.nextSetBit(first); i >= 0 && ((long) i << 12) < end; i = touched.nextSetBit(i + 1)) {
            long lo = Math.max(start, ((long) i << 12) - needle.length + 1);
            long hi = Math.min(end, ((long) i + 1) << 12);
            for (long p = lo; p < hi && p + needle.length <= end; p++) {
                if (matches(needle, p)) {
                    return p;
                }
            }
        }
        return -1;
    }

    /** Whether the needle is at {@code at}, compared in place; holes never match. */
    private boolean matches(byte[] needle, long at) {
        if (at < 0 || at + needle.length > size()) {
            return false;
        }
        for (int k = 0; k < needle.length; k++) {
            long a = at + k;
            int i = (int) (a >>> 12);
            if (holes.get(i)) {
                return false;
            }
            byte b = pages[i] != null ? pages[i][(int) (a & (PAGE - 1))] : base.readByte(a);
            if (b != needle[k]) {
                return false;
            }
        }
        return true;
    }
}
