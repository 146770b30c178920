package dev.periscope.vmi.paging;

/**
 * Turns a CR3 value into the page-table root (DTB) the walker and the CR3 filters use.
 */
public final class Dtb {

    /** Physical address bits 12..51 of a CR3 or paging entry. */
    static final long ADDRESS_MASK = 0x000F_FFFF_FFFF_F000L;
    private static final long PTI_USER_BIT = 1L << 12;

    private Dtb() {
    }

    /**
     * CR3 with the PCID (bits 0..11), the no-flush bit 63 and the reserved/LAM bits 52..62 cleared: the physical
     * address of the top-level table.
     */
    public static long of(long cr3) {
        return cr3 & ADDRESS_MASK;
    }

    /**
     * The kernel half of a page-table-isolation pair: with PTI the user PGD is the kernel PGD + 4 KiB, so
     * clearing bit 12 as well maps both CR3 values of one process to one key (LibVMI matches pgds with
     * {@code ~0x1fff} for the same reason). Kernels without PTI allocate PGDs 4 KiB-aligned only, so use this
     * for matching, never as a walk root.
     */
    public static long kernelPgd(long cr3) {
        return of(cr3) & ~PTI_USER_BIT;
    }
}
