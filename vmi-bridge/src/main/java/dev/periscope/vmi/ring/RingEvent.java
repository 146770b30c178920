package dev.periscope.vmi.ring;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * One ring record copied out of shared memory: immutable, safe to keep and to pass between threads.
 * For SYSCALL and BREAKPOINT records {@code oldCr3 == newCr3} is the CR3 current at the event; for a
 * DROP_MARKER, {@code sequence} is the last lost sequence number and {@link #droppedCount()} the loss.
 *
 * @param timestampNs host CLOCK_MONOTONIC at the event, comparable with {@link System#nanoTime()} on Linux
 * @param rip         CR3_WRITE: the instruction; SYSCALL: the user return address (rcx); BREAKPOINT: the address
 * @param sequence    per-vCPU sequence number; gaps are dropped records
 * @param controlGeneration the configuration the producer applied when it wrote the record: records still in the
 *                    ring from before a {@link EventRing#configure} carry an older one
 * @param aux         SYSCALL and SYSCALL_EXIT: the thread key pairing an exit with its entry (0: unknown);
 *                    BREAKPOINT: the breakpoint's address
 */
public record RingEvent(RingEventKind kind, int vcpu, long timestampNs, long oldCr3, long newCr3, long rip,
                        long syscallNumber, long[] args, long sequence, int flags, byte[] data,
                        long controlGeneration, long aux) {

    private static final byte[] NO_DATA = new byte[0];

    public RingEvent {
        args = args.length == 6 ? args.clone() : Arrays.copyOf(args, 6);
        data = data.length == 0 ? NO_DATA : data.clone();
    }

    /** Argument {@code i} (0..5) without copying the array. */
    public long arg(int i) {
        return args[i];
    }

    @Override
    public long[] args() {
        return args.clone();
    }

    /** Guest memory pre-read by the plugin (e.g. the path of an openat), empty when none. */
    @Override
    public byte[] data() {
        return data.length == 0 ? NO_DATA : data.clone();
    }

    /** The vCPU waited for Java on this record (already answered when a poll hands it out). */
    public boolean synchronous() {
        return (flags & RingLayout.RECORD_SYNC) != 0;
    }

    /** The record involves a DTB of the filter set. */
    public boolean filterHit() {
        return (flags & RingLayout.RECORD_FILTER_HIT) != 0;
    }

    /** Records lost before this DROP_MARKER; 0 for other kinds. */
    public long droppedCount() {
        return kind == RingEventKind.DROP_MARKER ? args[0] : 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RingEvent e && kind == e.kind && vcpu == e.vcpu && timestampNs == e.timestampNs
                && oldCr3 == e.oldCr3 && newCr3 == e.newCr3 && rip == e.rip && syscallNumber == e.syscallNumber
                && sequence == e.sequence && flags == e.flags && controlGeneration == e.controlGeneration
                && aux == e.aux
                && Arrays.equals(args, e.args)
                && Arrays.equals(data, e.data);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(sequence) * 31 + vcpu;
    }

    @Override
    public String toString() {
        HexFormat hex = HexFormat.of();
        return switch (kind) {
            case CR3_WRITE -> "CR3_WRITE[vcpu=%d seq=%d %x -> %x at %x]".formatted(vcpu, sequence, oldCr3, newCr3, rip);
            case SYSCALL -> "SYSCALL[vcpu=%d seq=%d nr=%d cr3=%x args=%s%s]".formatted(vcpu, sequence, syscallNumber,
                    newCr3, Arrays.toString(args), data.length == 0 ? "" : " data=" + hex.formatHex(data));
            case SYSCALL_EXIT -> "SYSCALL_EXIT[vcpu=%d seq=%d nr=%d = %d key=%x]".formatted(vcpu, sequence,
                    syscallNumber, args[0], aux);
            case DROP_MARKER -> "DROP_MARKER[vcpu=%d dropped=%d upTo=%d]".formatted(vcpu, args[0], sequence);
            default -> "%s[vcpu=%d seq=%d rip=%x]".formatted(kind, vcpu, sequence, rip);
        };
    }
}
