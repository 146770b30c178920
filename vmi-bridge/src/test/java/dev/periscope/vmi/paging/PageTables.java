package dev.periscope.vmi.paging;

import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;

/** Builds x86-64 page tables in a synthetic image: tables are allocated downwards from the top of RAM. */
final class PageTables {

    static final long P = 1, RW = 2, PS = 1L << 7, NX = 1L << 63;

    final ByteArrayPhysicalMemory memory;
    final boolean fiveLevel;
    final long root;
    private long nextTable;

    PageTables(int ramBytes, boolean fiveLevel) {
        this.memory = ByteArrayPhysicalMemory.ofSize(ramBytes);
        this.fiveLevel = fiveLevel;
        this.nextTable = ramBytes;
        this.root = allocate();
    }

    /** The lowest table allocated so far: tables fill [lowestTable, RAM size). */
    long lowestTable() {
        return nextTable;
    }

    long allocate() {
        nextTable -= 4096;
        return nextTable;
    }

    X86AddressSpace space() {
        return new X86AddressSpace(memory, root, fiveLevel);
    }

    /** Walks down to the table holding the entry at {@code level} (1 = PT, 2 = PD, 3 = PDPT), creating tables. */
    long entryAddress(long va, int level) {
        long table = root;
        for (int l = fiveLevel ? 5 : 4; l > level; l--) {
            long address = table + index(va, l) * 8;
            long entry = memory.readLong(address);
            if ((entry & P) == 0) {
                // Flag bits that real kernels set (accessed, dirty, NX, protection key) must be ignored.
                entry = allocate() | P | RW | (1L << 5) | (1L << 6) | NX | (0x7L << 59);
                memory.writeLong(address, entry);
            }
            table = entry & Dtb.ADDRESS_MASK;
        }
        return table + index(va, level) * 8;
    }

    PageTables map4k(long va, long pa) {
        memory.writeLong(entryAddress(va, 1), pa | P | RW | NX | (0x5L << 59));
        return this;
    }

    PageTables map2m(long va, long pa) {
        memory.writeLong(entryAddress(va, 2), pa | P | RW | PS | NX);
        return this;
    }

    PageTables map1g(long va, long pa) {
        memory.writeLong(entryAddress(va, 3), pa | P | RW | PS);
        return this;
    }

    static long index(long va, int level) {
        return (va >>> (12 + 9 * (level - 1))) & 0x1ff;
    }
}
