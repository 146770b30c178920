package dev.periscope.vmi.memory;

import dev.periscope.vmi.PageNotPresentException;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * Guest physical memory assembled from RAM blocks by a {@link RamLayout}: an address inside a range reads its
 * block at the range's offset, an address in a hole fails with {@link PageNotPresentException}, so a banner scan
 * or a page walk never mistakes a hole for zeros. {@link #size()} is the layout's limit (a 4 GiB q35 guest:
 * 6 GiB, with 2 GiB of hole). Thread-safe when the block memories are.
 */
final class LayoutMemory implements PhysicalMemory {

    private final long[] starts;
    private final long[] ends;
    private final long[] offsets;
    private final PhysicalMemory[] blocks;
    private final long size;

    LayoutMemory(RamLayout layout, Map<String, ? extends PhysicalMemory> blockMemories) {
        int n = layout.ranges().size();
        starts = new long[n];
        ends = new long[n];
        offsets = new long[n];
        blocks = new PhysicalMemory[n];
        for (int i = 0; i < n; i++) {
            RamLayout.Range r = layout.ranges().get(i);
            starts[i] = r.guestPhysical();
            ends[i] = r.end();
            offsets[i] = r.blockOffset();
            blocks[i] = Objects.requireNonNull(blockMemories.get(r.block()), r.block());
        }
        size = layout.limit();
    }

    @Override
    public long size() {
        return size;
    }

    /** Index of the range holding {@code [address, address + length)} entirely, or -1. */
    private int within(long address, int length) {
        int i = Arrays.binarySearch(starts, address);
        if (i < 0) {
            i = -i - 2; // the range starting before address
        }
        return i >= 0 && length <= ends[i] - address ? i : -1;
    }

    @Override
    public byte readByte(long physicalAddress) {
        int i = within(physicalAddress, 1);
        if (i < 0) {
            throw hole(physicalAddress);
        }
        return blocks[i].readByte(physicalAddress - starts[i] + offsets[i]);
    }

    @Override
    public int readInt(long physicalAddress) {
        int i = within(physicalAddress, Integer.BYTES);
        if (i < 0) {
            return PhysicalMemory.super.readInt(physicalAddress); // crosses a range edge: bytewise, may be a hole
        }
        return blocks[i].readInt(physicalAddress - starts[i] + offsets[i]);
    }

    @Override
    public long readLong(long physicalAddress) {
        int i = within(physicalAddress, Long.BYTES);
        if (i < 0) {
            return PhysicalMemory.super.readLong(physicalAddress);
        }
        return blocks[i].readLong(physicalAddress - starts[i] + offsets[i]);
    }

    @Override
    public void read(long physicalAddress, byte[] target, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, target.length);
        long address = physicalAddress;
        int done = 0;
        while (done < length) {
            int i = within(address, 1);
            if (i < 0) {
                throw hole(address);
            }
            int chunk = (int) Math.min(length - done, ends[i] - address);
            blocks[i].read(address - starts[i] + offsets[i], target, offset + done, chunk);
            done += chunk;
            address += chunk;
        }
    }

    /** Searches range by range; a match would have to lie within one range (holes separate the others). */
    @Override
    public long indexOf(byte[] needle, long from, long to) {
        for (int i = 0; i < starts.length; i++) {
            long start = Math.max(from, starts[i]);
            long end = Math.min(to, ends[i]);
            if (end < start || end - start < needle.length) {
                continue;
            }
            long found = blocks[i].indexOf(needle, start - starts[i] + offsets[i], end - starts[i] + offsets[i]);
            if (found >= 0) {
                return found - offsets[i] + starts[i];
            }
        }
        return -1;
    }

    private PageNotPresentException hole(long address) {
        return new PageNotPresentException(address < 0 || address >= size ? "outside guest RAM of " + size + " bytes"
                : "no RAM at this guest physical address (a hole in the layout)", address);
    }

    @Override
    public String toString() {
        return "LayoutMemory[" + starts.length + " ranges, limit 0x" + Long.toHexString(size) + "]";
    }
}
