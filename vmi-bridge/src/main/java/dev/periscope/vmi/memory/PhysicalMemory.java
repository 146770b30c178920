package dev.periscope.vmi.memory;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmGoneException;

/**
 * Guest physical memory, read-only. Implementations copy exactly the bytes asked for into Java values or
 * arrays; no native memory escapes. Every read is bounds-checked: an address outside guest RAM fails with
 * {@link PageNotPresentException}, a closed or vanished VM with {@link VmGoneException}.
 *
 * <p>Implementations are safe for concurrent reads from several threads.
 */
public interface PhysicalMemory {

    /** Bytes of guest physical address space backed by this memory (highest valid address + 1). */
    long size();

    /** Through {@link #read}; memory that can read values in place (mapped RAM) overrides the three readers. */
    default byte readByte(long physicalAddress) {
        byte[] b = new byte[1];
        read(physicalAddress, b, 0, 1);
        return b[0];
    }

    /** Little-endian, as x86 guests store it. */
    default int readInt(long physicalAddress) {
        byte[] b = new byte[Integer.BYTES];
        read(physicalAddress, b, 0, b.length);
        return (int) littleEndian(b);
    }

    /** Little-endian, as x86 guests store it. */
    default long readLong(long physicalAddress) {
        byte[] b = new byte[Long.BYTES];
        read(physicalAddress, b, 0, b.length);
        return littleEndian(b);
    }

    private static long littleEndian(byte[] bytes) {
        long value = 0;
        for (int i = bytes.length - 1; i >= 0; i--) {
            value = value << 8 | (bytes[i] & 0xff);
        }
        return value;
    }

    /** Copies {@code length} bytes starting at {@code physicalAddress} into {@code target[offset..]}. */
    void read(long physicalAddress, byte[] target, int offset, int length);

    /**
     * Index of the first occurrence of {@code needle} at or after {@code from} and before {@code to}, or -1.
     * Used for the kernel banner scan; implementations search without copying the whole range.
     */
    long indexOf(byte[] needle, long from, long to);

    /**
     * Whether page-table entries (and CR3) name frames in another space than this memory's addresses: only a Xen PV
     * guest's do (machine frames). Page walks then pass every frame through {@link #pageTableFrame}.
     */
    default boolean pageTablesHoldMachineFrames() {
        return false;
    }

    /**
     * The address in this memory of a frame a page-table entry names (a page-aligned address): the same address,
     * except for a Xen PV guest, whose machine frame is mapped back to the guest's own frame.
     *
     * @throws PageNotPresentException the frame is not the guest's
     */
    default long pageTableFrame(long frameAddress) {
        return frameAddress;
    }
}
