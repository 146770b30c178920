package dev.periscope.vmi.ring;

/** What a ring record reports ({@code PERISCOPE_KIND_*}). */
public enum RingEventKind {
    /** {@code mov %reg,%cr3}: old and new CR3, the instruction's address. */
    CR3_WRITE(RingLayout.KIND_CR3_WRITE),
    /** Syscall entry: number, six arguments, the caller's CR3 and user RIP. */
    SYSCALL(RingLayout.KIND_SYSCALL),
    /** A hypervisor breakpoint that is not a syscall entry. */
    BREAKPOINT(RingLayout.KIND_BREAKPOINT),
    /** Records were dropped on this vCPU's lane; {@link RingEvent#droppedCount()} says how many. */
    DROP_MARKER(RingLayout.KIND_DROP_MARKER),
    /**
     * A syscall whose entry was delivered returns: number, return value ({@code arg(0)}), the thread key
     * ({@code aux}) that pairs it with its entry, the user return address.
     */
    SYSCALL_EXIT(RingLayout.KIND_SYSCALL_EXIT),
    /** A kind this reader does not know (a newer producer). */
    UNKNOWN(0);

    private final int code;

    RingEventKind(int code) {
        this.code = code;
    }

    int code() {
        return code;
    }

    private static final RingEventKind[] BY_CODE = new RingEventKind[8];

    static {
        for (RingEventKind k : values()) {
            if (k != UNKNOWN) {
                BY_CODE[k.code] = k;
            }
        }
    }

    static RingEventKind of(int code) {
        RingEventKind k = code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
        return k == null ? UNKNOWN : k;
    }
}
