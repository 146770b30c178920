package dev.periscope.vmi.paging;

import dev.periscope.vmi.PageNotPresentException;

/**
 * A guest virtual address space: one page-table root (DTB, the CR3 value) over guest physical memory.
 * Reads that cross page boundaries translate each page separately.
 */
public interface AddressSpace {

    /** The page-table root this space translates with (CR3 with PCID and flag bits cleared). */
    long dtb();

    /** Guest physical address of {@code virtualAddress}; fails with {@link PageNotPresentException}. */
    long translate(long virtualAddress);

    byte readByte(long virtualAddress);

    int readInt(long virtualAddress);

    long readLong(long virtualAddress);

    void read(long virtualAddress, byte[] target, int offset, int length);

    /** True when the page holding {@code virtualAddress} is mapped; never throws for unmapped pages. */
    boolean isMapped(long virtualAddress);
}
