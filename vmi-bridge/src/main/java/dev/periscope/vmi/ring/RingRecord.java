package dev.periscope.vmi.ring;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A reusable, allocation-free view of the record currently handed to a {@link RingRecordHandler}. Valid only
 * during that call: the slot is released to the producer afterwards. Copy with {@link #toEvent()} to keep it.
 * Not thread-safe; one instance per {@link EventRing}.
 */
public final class RingRecord {

    private final MemorySegment ring;
    private long slot;

    RingRecord(MemorySegment ring) {
        this.ring = ring;
    }

    void at(long slotOffset) {
        this.slot = slotOffset;
    }

    private long u64(long field) {
        return ring.get(ValueLayout.JAVA_LONG, slot + field);
    }

    private int u32(long field) {
        return ring.get(ValueLayout.JAVA_INT, slot + field);
    }

    public RingEventKind kind() {
        return RingEventKind.of(u32(RingLayout.R_KIND));
    }

    public int kindCode() {
        return u32(RingLayout.R_KIND);
    }

    public int vcpu() {
        return u32(RingLayout.R_VCPU);
    }

    public long sequence() {
        return u64(RingLayout.R_SEQ);
    }

    public long timestampNs() {
        return u64(RingLayout.R_TIMESTAMP);
    }

    public long oldCr3() {
        return u64(RingLayout.R_OLD_CR3);
    }

    public long newCr3() {
        return u64(RingLayout.R_NEW_CR3);
    }

    public long rip() {
        return u64(RingLayout.R_RIP);
    }

    public long syscallNumber() {
        return u64(RingLayout.R_SYSCALL_NR);
    }

    public long arg(int i) {
        if (i < 0 || i > 5) {
            throw new IndexOutOfBoundsException(i);
        }
        return u64(RingLayout.R_ARGS + 8L * i);
    }

    /**
     * SYSCALL and SYSCALL_EXIT: the thread key (the page of the thread's kernel stack top) that pairs an exit with
     * its entry, 0 when the producer could not tell; BREAKPOINT: the breakpoint's address.
     */
    public long aux() {
        return u64(RingLayout.R_AUX);
    }

    /** SYSCALL_EXIT: the return value as the guest sees it (-4095..-1 is -errno). */
    public long returnValue() {
        return u64(RingLayout.R_ARGS);
    }

    /** The argument whose guest memory the pre-read data holds (0..5; valid when {@link #dataLength()} > 0). */
    public int dataArg() {
        return (flags() & RingLayout.RECORD_DATA_ARG_MASK) >>> RingLayout.RECORD_DATA_ARG_SHIFT;
    }

    /** The control generation the producer had applied when it wrote this record (see {@link EventRing#configure}). */
    public long controlGeneration() {
        return u64(RingLayout.R_CONTROL_GENERATION);
    }

    public int flags() {
        return u32(RingLayout.R_FLAGS);
    }

    public boolean synchronous() {
        return (flags() & RingLayout.RECORD_SYNC) != 0;
    }

    /** Length of the pre-read guest data (0..64). */
    public int dataLength() {
        int n = u32(RingLayout.R_DATA_LEN);
        return (flags() & RingLayout.RECORD_DATA_VALID) == 0 ? 0 : Math.clamp(n, 0, RingLayout.DATA_BYTES);
    }

    /** Copies the pre-read guest data into {@code dst}; returns the number of bytes copied. */
    public int copyData(byte[] dst) {
        int n = Math.min(dataLength(), dst.length);
        MemorySegment.copy(ring, ValueLayout.JAVA_BYTE, slot + RingLayout.R_DATA, dst, 0, n);
        return n;
    }

    /** An immutable copy of this record. */
    public RingEvent toEvent() {
        long[] args = new long[6];
        MemorySegment.copy(ring, ValueLayout.JAVA_LONG, slot + RingLayout.R_ARGS, args, 0, 6);
        byte[] data = new byte[dataLength()];
        copyData(data);
        return new RingEvent(kind(), vcpu(), timestampNs(), oldCr3(), newCr3(), rip(), syscallNumber(), args,
                sequence(), flags(), data, controlGeneration(), aux());
    }
}
