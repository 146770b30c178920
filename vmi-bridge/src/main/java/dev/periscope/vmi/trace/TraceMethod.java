package dev.periscope.vmi.trace;

/**
 * The five monitoring methods (docs/ARCHITECTURE.md, "Traces and the five methods"): configurations of the same
 * machinery (one ring, one ring thread, the same process tracking), differing only in what the hypervisor extension
 * traps, filters and makes the vCPU wait for.
 */
public enum TraceMethod {
    /** Nothing trapped: the baseline. A session yields no syscalls (only its own lifecycle events). */
    M1(Cr3.NONE, false, Syscalls.NONE, false, false,
            "nothing trapped"),
    /** Syscall entry of every process, each hit waits for Java; Java keeps the target's. */
    M2(Cr3.NONE, false, Syscalls.ALL, true, false,
            "syscall entry of every process, each hit synchronous"),
    /** Every CR3 write waits for Java, which arms syscall traps only while the target runs (synchronous). */
    M3(Cr3.ALL, true, Syscalls.ARMED, true, false,
            "CR3 writes + syscall entry while the target runs; every CR3 write synchronous; Java arms/disarms"),
    /**
     * As M3, with CR3 writes pre-filtered in the hypervisor: only switches to/from the target reach Java. With
     * children followed, a hypervisor breakpoint at {@code wake_up_new_task} (in the parent, before the child
     * runs) lets Java put a new child's address space into the filter before its first instruction.
     */
    M4(Cr3.FILTERED, true, Syscalls.ARMED, true, false,
            "as M3, CR3 writes pre-filtered in the hypervisor"),
    /**
     * As M4, with syscalls filtered and decoded (pre-read strings) in the hypervisor and everything delivered
     * asynchronously: the guest never waits. CR3 switches to/from traced processes still reach Java (async) so
     * it can follow forks and execs; the price is a blind spot: a new child's (or a fresh exec image's) first
     * syscalls, before the ring thread has added its address space to the hypervisor's filter (one process-list
     * walk, milliseconds), are filtered out. The CHILD and EXEC events say from when on a process is followed.
     */
    M5(Cr3.FILTERED, false, Syscalls.FILTERED, false, true,
            "as M4, syscalls filtered and decoded in the hypervisor, all delivered asynchronously: the guest never waits");

    /** Which CR3 writes reach Java. */
    enum Cr3 { NONE, FILTERED, ALL }

    /** Which syscall entries reach Java: ARMED = only while Java has armed them (the target runs). */
    enum Syscalls { NONE, ARMED, FILTERED, ALL }

    final Cr3 cr3;
    final boolean cr3Sync;
    final Syscalls syscalls;
    final boolean syscallSync;
    final boolean preread;
    private final String description;

    TraceMethod(Cr3 cr3, boolean cr3Sync, Syscalls syscalls, boolean syscallSync, boolean preread,
                String description) {
        this.cr3 = cr3;
        this.cr3Sync = cr3Sync;
        this.syscalls = syscalls;
        this.syscallSync = syscallSync;
        this.preread = preread;
        this.description = description;
    }

    /** One line: what is trapped and where the decision is made. */
    public String description() {
        return description;
    }

    /** Whether the guest's vCPUs wait for Java on some events of this method. */
    public boolean synchronous() {
        return cr3Sync || syscallSync;
    }
}
