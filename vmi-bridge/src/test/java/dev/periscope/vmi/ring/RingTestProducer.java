package dev.periscope.vmi.ring;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.LongConsumer;

import static dev.periscope.vmi.ring.RingLayout.*;

/**
 * A Java producer writing through the same layout and protocol as the C producer in periscope_ring_ops.h
 * (reserve, optional DROP_MARKER, release of head; bounded wait on the response lane). It maps the file on its
 * own, as the plugin does: it stands in for the QEMU plugin or the Xen shim in tests of the ring and of the trace
 * machinery, beside the real producers' own tests. One instance per lane (vCPU), used by one thread.
 */
public final class RingTestProducer implements AutoCloseable {

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ring;
    private final int lane;
    private final int capacity;
    private final long lane0;
    private final long records;
    private long cachedTail;
    private boolean stalled;
    private long stalledAt;
    private int extraFlags; // flags the kind-specific fields asked for (pre-read data)

    public RingTestProducer(Path file, int lane) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ring = ch.map(FileChannel.MapMode.READ_WRITE, 0, ch.size(), arena);
        }
        this.lane = lane;
        this.capacity = ring.get(ValueLayout.JAVA_INT, H_LANE_CAPACITY);
        this.lane0 = laneBase(lane);
        this.records = RECORDS_OFFSET + (long) lane * capacity * RECORD_SIZE;
    }

    private long get(long off) {
        return ring.get(ValueLayout.JAVA_LONG, off);
    }

    private void bump(long off, long n) {
        U64.setOpaque(ring, off, get(off) + n);
    }

    /** Writes one SYSCALL record (nr, args nr..nr+5, CR3 0) or counts a drop; returns its seq, or -1 when dropped. */
    long produce(long nr, boolean sync) {
        return syscall(0, nr, new long[] {nr, nr + 1, nr + 2, nr + 3, nr + 4, nr + 5}, sync);
    }

    /** A SYSCALL record: syscall {@code nr} with {@code args} entered in address space {@code cr3}. */
    public long syscall(long cr3, long nr, long[] args, boolean sync) {
        return syscall(cr3, nr, args, sync, 0, -1, null);
    }

    /**
     * A SYSCALL record of thread {@code key} (its kernel stack page; 0: unknown), with {@code data} pre-read from
     * argument {@code dataArg} (none when null).
     */
    public long syscall(long cr3, long nr, long[] args, boolean sync, long key, int dataArg, byte[] data) {
        return write(KIND_SYSCALL, sync, r -> {
            ring.set(ValueLayout.JAVA_LONG, r + R_OLD_CR3, cr3);
            ring.set(ValueLayout.JAVA_LONG, r + R_NEW_CR3, cr3);
            ring.set(ValueLayout.JAVA_LONG, r + R_SYSCALL_NR, nr);
            ring.set(ValueLayout.JAVA_LONG, r + R_AUX, key);
            for (int k = 0; k < 6; k++) {
                ring.set(ValueLayout.JAVA_LONG, r + R_ARGS + 8L * k, k < args.length ? args[k] : 0);
            }
            data(r, dataArg, data);
        });
    }

    /**
     * A SYSCALL_EXIT record: thread {@code key} returns {@code ret} from syscall {@code nr} in address space
     * {@code cr3}, with {@code data} pre-read from its output argument {@code dataArg} (none when null).
     */
    public long syscallExit(long cr3, long key, long nr, long ret, boolean sync, int dataArg, byte[] data) {
        return write(KIND_SYSCALL_EXIT, sync, r -> {
            ring.set(ValueLayout.JAVA_LONG, r + R_OLD_CR3, cr3);
            ring.set(ValueLayout.JAVA_LONG, r + R_NEW_CR3, cr3);
            ring.set(ValueLayout.JAVA_LONG, r + R_SYSCALL_NR, nr);
            ring.set(ValueLayout.JAVA_LONG, r + R_ARGS, ret);
            ring.set(ValueLayout.JAVA_LONG, r + R_AUX, key);
            data(r, dataArg, data);
        });
    }

    /** Says, as the QEMU plugin does when it attaches, that this producer reports syscall returns. */
    public void advertiseSyscallExits() {
        ring.set(ValueLayout.JAVA_INT, H_PRODUCER_FEATURES, FEATURE_SYSCALL_EXIT);
    }

    private void data(long r, int arg, byte[] data) {
        if (data == null) {
            return;
        }
        int n = Math.min(data.length, DATA_BYTES);
        MemorySegment.copy(data, 0, ring, ValueLayout.JAVA_BYTE, r + R_DATA, n);
        ring.set(ValueLayout.JAVA_INT, r + R_DATA_LEN, n);
        extraFlags = RECORD_DATA_VALID | (arg << RECORD_DATA_ARG_SHIFT);
    }

    /** A CR3_WRITE record: this vCPU switched from {@code oldCr3} to {@code newCr3}. */
    public long cr3Write(long oldCr3, long newCr3, boolean sync) {
        return write(KIND_CR3_WRITE, sync, r -> {
            ring.set(ValueLayout.JAVA_LONG, r + R_OLD_CR3, oldCr3);
            ring.set(ValueLayout.JAVA_LONG, r + R_NEW_CR3, newCr3);
        });
    }

    /** A BREAKPOINT record: the instruction at {@code rip} is about to run in address space {@code cr3}. */
    public long breakpoint(long rip, long cr3, boolean sync) {
        return write(KIND_BREAKPOINT, sync, r -> {
            ring.set(ValueLayout.JAVA_LONG, r + R_RIP, rip);
            ring.set(ValueLayout.JAVA_LONG, r + R_NEW_CR3, cr3);
        });
    }

    /**
     * Reserves a slot (or counts a drop), writes a pending drop marker first, then the record, whose kind-specific
     * fields {@code fields} fills at its slot offset; returns its seq, or -1 when dropped.
     */
    private long write(int kind, boolean sync, LongConsumer fields) {
        bump(lane0 + L_SEEN, 1);
        long head = get(lane0 + L_HEAD);
        long pending = get(lane0 + L_PENDING_DROPS);
        long need = pending > 0 ? 2 : 1;
        long seq = get(lane0 + L_NEXT_SEQ) + 1;
        U64.setOpaque(ring, lane0 + L_NEXT_SEQ, seq);
        if (head + need - cachedTail > capacity) {
            cachedTail = (long) LANE_TAIL.getAcquire(ring, 0L, (long) lane);
            if (head + need - cachedTail > capacity) {
                bump(lane0 + L_DROPPED, 1);
                U64.setOpaque(ring, lane0 + L_PENDING_DROPS, pending + 1);
                return -1;
            }
        }
        if (pending > 0) {
            long m = slot(head);
            ring.asSlice(m, R_DATA).fill((byte) 0);
            ring.set(ValueLayout.JAVA_INT, m + R_KIND, KIND_DROP_MARKER);
            ring.set(ValueLayout.JAVA_INT, m + R_VCPU, lane);
            ring.set(ValueLayout.JAVA_LONG, m + R_SEQ, seq - 1);
            ring.set(ValueLayout.JAVA_LONG, m + R_ARGS, pending);
            head++;
            U64.setOpaque(ring, lane0 + L_PENDING_DROPS, 0L);
            bump(lane0 + L_DROP_MARKERS, 1);
        }
        long r = slot(head);
        ring.asSlice(r, R_DATA).fill((byte) 0);
        ring.set(ValueLayout.JAVA_INT, r + R_KIND, kind);
        ring.set(ValueLayout.JAVA_INT, r + R_VCPU, lane);
        ring.set(ValueLayout.JAVA_LONG, r + R_SEQ, seq);
        ring.set(ValueLayout.JAVA_LONG, r + R_TIMESTAMP, System.nanoTime());
        extraFlags = 0;
        fields.accept(r);
        ring.set(ValueLayout.JAVA_INT, r + R_FLAGS, (sync ? RECORD_SYNC : 0) | extraFlags);
        bump(lane0 + L_DELIVERED, 1);
        LANE_HEAD.setRelease(ring, 0L, (long) lane, head + 1);
        return seq;
    }

    /**
     * Bounded wait for the response lane, as periscope_wait_response does (after a timeout, no wait until the
     * consumer answered something since); true if answered.
     */
    public boolean awaitResponse(long seq, long timeoutNs) {
        long answeredUpTo = (long) LANE_RESPONSE_SEQ.getAcquire(ring, 0L, (long) lane);
        if (answeredUpTo >= seq) {
            return true;
        }
        if (stalled) {
            if (answeredUpTo == stalledAt) {
                bump(lane0 + L_SYNC_TIMEOUTS, 1);
                return false;
            }
            stalled = false;
        }
        long start = System.nanoTime();
        boolean answered;
        while (!(answered = (long) LANE_RESPONSE_SEQ.getAcquire(ring, 0L, (long) lane) >= seq)) {
            if (System.nanoTime() - start >= timeoutNs) {
                break;
            }
            Thread.onSpinWait();
        }
        bump(lane0 + L_VCPU_WAIT_NS, System.nanoTime() - start);
        if (!answered) {
            bump(lane0 + L_SYNC_TIMEOUTS, 1);
            stalled = true;
            stalledAt = (long) LANE_RESPONSE_SEQ.getAcquire(ring, 0L, (long) lane);
        }
        return answered;
    }

    /** The control block as the plugin would read it (no seqlock retry needed in single-threaded tests). */
    public int mode() {
        return ring.get(ValueLayout.JAVA_INT, C_MODE);
    }

    /**
     * The DTB filter set, read under the control block's seqlock as the plugin reads it: the consumer may be rewriting
     * the set on its own thread (a count read before its entries were written gave [dtb, 0] once in a clean-clone run).
     */
    public long[] dtbs() {
        while (true) {
            long before = (long) U64.getAcquire(ring, C_GENERATION);
            if ((before & 1) != 0) {
                Thread.onSpinWait();
                continue;
            }
            int n = ring.get(ValueLayout.JAVA_INT, C_DTB_COUNT);
            long[] d = new long[Math.clamp(n, 0, MAX_DTBS)];
            for (int i = 0; i < d.length; i++) {
                d[i] = get(C_DTBS + 8L * i);
            }
            VarHandle.acquireFence();
            if ((long) U64.getAcquire(ring, C_GENERATION) == before) {
                return d;
            }
        }
    }

    public long generation() {
        return get(C_GENERATION);
    }

    long[] token() {
        return new long[] {get(C_TOKEN), get(C_TOKEN + 8)};
    }

    public long breakpointAddress(int i) {
        return get(C_BREAKPOINTS + BP_SIZE * i + BP_GVA);
    }

    public int breakpointKind(int i) {
        return ring.get(ValueLayout.JAVA_INT, C_BREAKPOINTS + BP_SIZE * i + BP_KIND);
    }

    private long slot(long n) {
        return records + (n & (capacity - 1)) * RECORD_SIZE;
    }

    @Override
    public void close() {
        arena.close();
    }
}
