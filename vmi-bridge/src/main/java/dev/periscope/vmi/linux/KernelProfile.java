package dev.periscope.vmi.linux;

import java.time.Duration;

/**
 * Everything needed to read a Linux guest, derived from its memory alone (no System.map, no debug info).
 *
 * @param banner         the kernel's {@code linux_banner}, e.g. "Linux version 6.1.0-56-amd64 (...) ..."
 * @param release        the release from the banner, e.g. "6.1.0-56-amd64"
 * @param kaslrSlide     virtual KASLR slide: run-time {@code _text} minus its default link address
 *                       0xffffffff81000000 (0 with nokaslr)
 * @param physBase       the kernel's {@code phys_base}: pa = va - 0xffffffff80000000 + physBase for image addresses
 * @param pageOffsetBase start of the direct map ({@code page_offset_base})
 * @param kernelDtb      physical address of {@code init_top_pgt} (the kernel page tables)
 * @param fiveLevel      whether the guest runs 5-level paging ({@code __pgtable_l5_enabled})
 * @param initTask       run-time address of {@code init_task}
 * @param symbols        kallsyms, rebased to this guest's slide
 * @param offsets        struct member offsets from BTF
 * @param btfTypes       number of BTF types parsed
 * @param buildTime      how long deriving this profile took
 * @param fromCache      true when symbols and types came from the profile cache (only per-VM values re-derived)
 */
public record KernelProfile(String banner, String release, long kaslrSlide, long physBase, long pageOffsetBase,
                            long kernelDtb, boolean fiveLevel, long initTask, SymbolTable symbols,
                            KernelOffsets offsets, int btfTypes, Duration buildTime, boolean fromCache) {

    static final long START_KERNEL_MAP = 0xffffffff80000000L;
    static final long DEFAULT_TEXT = 0xffffffff81000000L;

    /** Physical address of a kernel-image virtual address (text, data, bss: the image is contiguous). */
    public long imagePhysical(long virtualAddress) {
        return virtualAddress - START_KERNEL_MAP + physBase;
    }

    /** A short identity for logs and the UI. */
    public String summary() {
        return release + " slide=0x" + Long.toHexString(kaslrSlide) + " phys_base=0x" + Long.toHexString(physBase)
                + " dtb=0x" + Long.toHexString(kernelDtb) + " symbols=" + symbols.size() + " btfTypes=" + btfTypes;
    }
}
