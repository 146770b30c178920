package dev.periscope.vmi.ring;

import java.util.Objects;

/**
 * A hypervisor breakpoint: the extension runs a callback before the instruction at {@code address} (a guest
 * virtual address) executes; nothing is written into guest memory.
 */
public record Breakpoint(long address, Kind kind) {

    public enum Kind {
        /** The kernel's syscall entry ({@code entry_SYSCALL_64}): rax = number, rdi rsi rdx r10 r8 r9 = arguments. */
        SYSCALL_ENTRY(RingLayout.BP_SYSCALL_ENTRY),
        /** Any instruction: a BREAKPOINT record with rdi rsi rdx rcx r8 r9. */
        PLAIN(RingLayout.BP_PLAIN),
        /**
         * The kernel's return to user mode from a syscall ({@code syscall_exit_to_user_mode}: rdi = the thread's
         * {@code struct pt_regs *}): SYSCALL_EXIT records of the calls whose entries were delivered.
         */
        SYSCALL_EXIT(RingLayout.BP_SYSCALL_EXIT);

        final int code;

        Kind(int code) {
            this.code = code;
        }
    }

    public Breakpoint {
        Objects.requireNonNull(kind, "kind");
    }

    public static Breakpoint syscallEntry(long address) {
        return new Breakpoint(address, Kind.SYSCALL_ENTRY);
    }

    public static Breakpoint syscallExit(long address) {
        return new Breakpoint(address, Kind.SYSCALL_EXIT);
    }
}
