package dev.periscope.vmi.paging;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.util.Objects;

/**
 * An x86-64 address space: 4-level or 5-level (LA57) paging with 2 MiB and 1 GiB pages, over guest physical
 * memory. Page tables are guest data and may be hostile: anything that does not translate to an address inside
 * guest RAM is reported as {@link PageNotPresentException}, never as another exception.
 *
 * <p>Translations are cached per page (direct-mapped, {@value #CACHE_ENTRIES} entries). The cache is never
 * expired by time: its owner calls {@link #invalidate()} when the guest's page tables may have changed (a CR3 or
 * page-table event, a new snapshot, a resume after a pause). Over a snapshot it never needs invalidating.
 *
 * <p>Thread-safe: cache entries are immutable and published whole; a cache hit allocates nothing.
 */
public final class X86AddressSpace implements AddressSpace {

    static final int CACHE_ENTRIES = 4096;
    private static final int PAGE_SHIFT = 12;
    private static final long PAGE_OFFSET = 0xfffL;
    private static final long PRESENT = 1L;
    private static final long LARGE = 1L << 7;
    private static final long ADDRESS_1G = 0x000F_FFFF_C000_0000L;
    private static final long ADDRESS_2M = 0x000F_FFFF_FFE0_0000L;

    private final PhysicalMemory memory;
    private final long dtb;
    private final boolean fiveLevel;
    private final boolean machineFrames;
    private volatile Entry[] cache = new Entry[CACHE_ENTRIES];

    /** A cached translation: virtual page number to physical page address (4 KiB granular even in large pages). */
    private record Entry(long virtualPage, long physicalPage) {
    }

    /**
     * @param dtb       the top-level table's physical address; flag and PCID bits are cleared with {@link Dtb#of}
     * @param fiveLevel true when the guest runs with CR4.LA57
     */
    public X86AddressSpace(PhysicalMemory memory, long dtb, boolean fiveLevel) {
        this.memory = Objects.requireNonNull(memory);
        this.dtb = Dtb.of(dtb);
        this.fiveLevel = fiveLevel;
        this.machineFrames = memory.pageTablesHoldMachineFrames();
    }

    public static X86AddressSpace fourLevel(PhysicalMemory memory, long dtb) {
        return new X86AddressSpace(memory, dtb, false);
    }

    public static X86AddressSpace fiveLevel(PhysicalMemory memory, long dtb) {
        return new X86AddressSpace(memory, dtb, true);
    }

    @Override
    public long dtb() {
        return dtb;
    }

    public boolean isFiveLevel() {
        return fiveLevel;
    }

    /** Drops every cached translation; the next access walks the page tables again. */
    public void invalidate() {
        cache = new Entry[CACHE_ENTRIES];
    }

    @Override
    public long translate(long virtualAddress) {
        long page = virtualAddress >>> PAGE_SHIFT;
        Entry[] entries = cache;
        int slot = (int) (page & (CACHE_ENTRIES - 1));
        Entry entry = entries[slot];
        if (entry != null && entry.virtualPage == page) {
            return entry.physicalPage | (virtualAddress & PAGE_OFFSET);
        }
        long physical = walk(virtualAddress);
        entries[slot] = new Entry(page, physical & ~PAGE_OFFSET);
        return physical;
    }

    @Override
    public boolean isMapped(long virtualAddress) {
        try {
            translate(virtualAddress);
            return true;
        } catch (PageNotPresentException e) {
            return false;
        }
    }

    @Override
    public byte readByte(long virtualAddress) {
        return memory.readByte(translate(virtualAddress));
    }

    @Override
    public int readInt(long virtualAddress) {
        if ((virtualAddress & PAGE_OFFSET) <= PAGE_OFFSET - 3) {
            return memory.readInt(translate(virtualAddress));
        }
        byte[] bytes = new byte[4];
        read(virtualAddress, bytes, 0, 4);
        return (bytes[0] & 0xff) | (bytes[1] & 0xff) << 8 | (bytes[2] & 0xff) << 16 | (bytes[3] & 0xff) << 24;
    }

    @Override
    public long readLong(long virtualAddress) {
        if ((virtualAddress & PAGE_OFFSET) <= PAGE_OFFSET - 7) {
            return memory.readLong(translate(virtualAddress));
        }
        byte[] bytes = new byte[8];
        read(virtualAddress, bytes, 0, 8);
        long value = 0;
        for (int i = 7; i >= 0; i--) {
            value = value << 8 | (bytes[i] & 0xffL);
        }
        return value;
    }

    /** Translates page by page, so a buffer that spans pages mapped to scattered frames reads correctly. */
    @Override
    public void read(long virtualAddress, byte[] target, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, target.length);
        long address = virtualAddress;
        int done = 0;
        while (done < length) {
            int chunk = (int) Math.min(length - done, (PAGE_OFFSET + 1) - (address & PAGE_OFFSET));
            memory.read(translate(address), target, offset + done, chunk);
            done += chunk;
            address += chunk;
        }
    }

    /** The page walk (Intel SDM vol. 3, 4.5): each level's entry must be present and its table inside RAM. */
    private long walk(long va) {
        int topShift = fiveLevel ? 56 : 47;
        // Canonical: bits 63..top are copies of bit top.
        long high = va >> topShift;
        if (high != 0 && high != -1) {
            throw new PageNotPresentException("non-canonical address", va);
        }
        long table = dtb;
        if (fiveLevel) {
            table = tableEntry(table, (va >>> 48) & 0x1ff, va, "PML5E");
        }
        table = tableEntry(table, (va >>> 39) & 0x1ff, va, "PML4E");
        long pdpte = entry(table, (va >>> 30) & 0x1ff, va, "PDPTE");
        if ((pdpte & LARGE) != 0) {
            return frame(pdpte & ADDRESS_1G, va & 0x3FFF_FFFFL, va);
        }
        long pde = entry(inMemory(pdpte & Dtb.ADDRESS_MASK, va), (va >>> 21) & 0x1ff, va, "PDE");
        if ((pde & LARGE) != 0) {
            return frame(pde & ADDRESS_2M, va & 0x1F_FFFFL, va);
        }
        long pte = entry(inMemory(pde & Dtb.ADDRESS_MASK, va), (va >>> 12) & 0x1ff, va, "PTE");
        return frame(pte & Dtb.ADDRESS_MASK, va & PAGE_OFFSET, va);
    }

    /** An upper-level entry that must point to a table (PS is reserved at PML5/PML4: a real CPU would fault). */
    private long tableEntry(long table, long index, long va, String level) {
        long value = entry(table, index, va, level);
        if ((value & LARGE) != 0) {
            throw new PageNotPresentException(level + " has the reserved PS bit set", va);
        }
        return inMemory(value & Dtb.ADDRESS_MASK, va);
    }

    /** A table or frame address from an entry, where it is in {@link #memory} (a PV guest's entries hold machine frames). */
    private long inMemory(long frameAddress, long va) {
        if (!machineFrames) {
            return frameAddress;
        }
        try {
            return memory.pageTableFrame(frameAddress);
        } catch (PageNotPresentException e) {
            throw new PageNotPresentException("page-table frame 0x" + Long.toHexString(frameAddress)
                    + " is not the guest's", va);
        }
    }

    private long entry(long table, long index, long va, String level) {
        long address = table + index * 8;
        if (address + 8 > memory.size()) {
            throw new PageNotPresentException(level + " table 0x" + Long.toHexString(table) + " outside guest RAM", va);
        }
        long value = memory.readLong(address);
        if ((value & PRESENT) == 0) {
            throw new PageNotPresentException(level + " not present", va);
        }
        return value;
    }

    private long frame(long base, long offset, long va) {
        // 4 KiB by 4 KiB: a large page named by machine frames need not be contiguous in the guest's own
        long physical = inMemory((base | offset) & ~PAGE_OFFSET, va) | (offset & PAGE_OFFSET);
        if (physical >= memory.size()) {
            throw new PageNotPresentException("maps to 0x" + Long.toHexString(physical) + " outside guest RAM", va);
        }
        return physical;
    }

    @Override
    public String toString() {
        return "X86AddressSpace[dtb=0x" + Long.toHexString(dtb) + (fiveLevel ? ", 5-level]" : ", 4-level]");
    }
}
