package dev.periscope.vmi.memory;

import java.lang.foreign.MemorySegment;
import java.util.BitSet;

/**
 * Guest physical memory held in a Java byte array: synthetic images for tests (page tables, fake kernel
 * structures) and small memory dumps. Writable through this class only; reads behave exactly like mapped RAM
 * (same bounds checks and search). Writes are not synchronised with reads: build the image, then read it.
 */
public final class ByteArrayPhysicalMemory extends SegmentMemory {

    private final byte[] bytes;

    public ByteArrayPhysicalMemory(byte[] bytes) {
        this(bytes, null);
    }

    /** A sparse image: pages (4 KiB) whose bit in {@code presentPages} is clear read as zeros. */
    public ByteArrayPhysicalMemory(byte[] bytes, BitSet presentPages) {
        super(MemorySegment.ofArray(bytes), presentPages == null ? null : (BitSet) presentPages.clone(), 4096);
        this.bytes = bytes;
    }

    /** A zero-filled image of {@code size} bytes. */
    public static ByteArrayPhysicalMemory ofSize(int size) {
        return new ByteArrayPhysicalMemory(new byte[size]);
    }

    public ByteArrayPhysicalMemory writeByte(long address, int value) {
        bytes[Math.toIntExact(address)] = (byte) value;
        return this;
    }

    public ByteArrayPhysicalMemory writeInt(long address, int value) {
        MemorySegment.ofArray(bytes).set(INT_LE, address, value);
        return this;
    }

    /** Little-endian, as an x86 guest would store it. */
    public ByteArrayPhysicalMemory writeLong(long address, long value) {
        MemorySegment.ofArray(bytes).set(LONG_LE, address, value);
        return this;
    }

    public ByteArrayPhysicalMemory write(long address, byte[] data) {
        System.arraycopy(data, 0, bytes, Math.toIntExact(address), data.length);
        return this;
    }

    @Override
    String describe() {
        return "in-memory image";
    }

}
