package dev.periscope.vmi.ring;

import java.util.Set;

/** What the hypervisor extension delivers and whether the vCPU waits for Java ({@code PERISCOPE_MODE_*}). */
public enum RingMode {
    /** CR3_WRITE records. */
    CR3(0x01),
    /** ... only switches to or from a DTB of the filter set (decided in the hypervisor: method M4). */
    CR3_FILTER(0x02),
    /** ... each waits for Java (M3, M4). */
    CR3_SYNC(0x04),
    /** SYSCALL records at SYSCALL_ENTRY breakpoints. */
    SYSCALL(0x08),
    /** ... only while a DTB of the filter set is current (process-bound tracing, M5). */
    SYSCALL_FILTER(0x10),
    /** ... each waits for Java (M2). */
    SYSCALL_SYNC(0x20),
    /** BREAKPOINT records at PLAIN breakpoints. */
    BREAKPOINT(0x40),
    BREAKPOINT_SYNC(0x80),
    /** Pre-read guest memory named by well-known syscall arguments (paths, input buffers; outputs at exits). */
    PREREAD(0x100),
    /** SYSCALL_EXIT records for the calls whose entries were delivered (producers with syscall-exit support). */
    SYSCALL_EXIT(0x200);

    private final int bit;

    RingMode(int bit) {
        this.bit = bit;
    }

    static int bits(Set<RingMode> modes) {
        int b = 0;
        for (RingMode m : modes) {
            b |= m.bit;
        }
        return b;
    }
}
