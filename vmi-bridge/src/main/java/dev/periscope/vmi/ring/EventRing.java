package dev.periscope.vmi.ring;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;


import static dev.periscope.vmi.ring.RingLayout.*;

/**
 * The Java end of one VM's event ring ({@code /dev/shm/NAME.ring}, layout in {@code periscope_ring.h}).
 *
 * <p>Lifecycle: {@link #create} makes and initialises the file before QEMU starts (it is replaced atomically,
 * so a QEMU still mapping an older ring is not disturbed); QEMU gets {@link #pluginArgs()}; {@link #close()}
 * unmaps it and, for a ring this object created, deletes the file.
 *
 * <p>Threads: {@link #poll} must be called by a single consumer thread (the VM's ring thread); it answers
 * synchronous records in the response lane after the handler returns. {@link #configure}, {@link #counters}
 * and the status getters may be called from any thread. Close only after the consumer thread stopped
 * polling; a poll racing with close fails with {@link SessionClosedException}.
 */
public final class EventRing implements EventChannel, AutoCloseable {

    private final Arena arena;
    private final MemorySegment ring;
    private final Path file;
    private final boolean deleteOnClose;
    private final RingToken token;
    private final int lanes;
    private final int capacity;
    private final long mask;
    private final long[] tails;
    private final RingRecord view;
    private int nextLane;
    private RingControl control = RingControl.off();
    private volatile boolean closed;

    private EventRing(Arena arena, MemorySegment ring, Path file, boolean deleteOnClose, RingToken token) {
        this.arena = arena;
        this.ring = ring;
        this.file = file;
        this.deleteOnClose = deleteOnClose;
        this.token = token;
        this.lanes = ring.get(ValueLayout.JAVA_INT, H_LANE_COUNT);
        this.capacity = ring.get(ValueLayout.JAVA_INT, H_LANE_CAPACITY);
        this.mask = capacity - 1L;
        this.tails = new long[lanes];
        for (int i = 0; i < lanes; i++) {
            tails[i] = (long) LANE_TAIL.getAcquire(ring, 0L, (long) i);
        }
        this.view = new RingRecord(ring);
    }

    /**
     * Creates (or atomically replaces) the ring file with {@code lanes} lanes (one per vCPU) of
     * {@code laneCapacity} records (a power of two), mode off and the given token in the control block.
     */
    public static EventRing create(Path file, int lanes, int laneCapacity, RingToken token) {
        Objects.requireNonNull(token, "token");
        if (lanes < 1 || lanes > MAX_LANES) {
            throw new IllegalArgumentException("lanes must be 1.." + MAX_LANES + ": " + lanes);
        }
        if (laneCapacity < 2 || Integer.bitCount(laneCapacity) != 1 || laneCapacity > (1 << 24)) {
            throw new IllegalArgumentException("lane capacity must be a power of two in 2..2^24: " + laneCapacity);
        }
        long size = totalSize(lanes, laneCapacity);
        Path abs = file.toAbsolutePath();
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp" + ProcessHandle.current().pid());
        Arena arena = Arena.ofShared();
        try {
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            MemorySegment seg;
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ch.truncate(size);
                ch.write(ByteBuffer.allocate(1), size - 1); // size the file (tmpfs: sparse)
                seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            }
            seg.set(ValueLayout.JAVA_INT, H_ABI_VERSION, ABI_VERSION);
            seg.set(ValueLayout.JAVA_INT, H_HEADER_SIZE, (int) HEADER_SIZE);
            seg.set(ValueLayout.JAVA_INT, H_RECORD_SIZE, (int) RECORD_SIZE);
            seg.set(ValueLayout.JAVA_INT, H_LANE_SIZE, (int) LANE_SIZE);
            seg.set(ValueLayout.JAVA_INT, H_LANE_COUNT, lanes);
            seg.set(ValueLayout.JAVA_INT, H_LANE_CAPACITY, laneCapacity);
            seg.set(ValueLayout.JAVA_LONG, H_RECORDS_OFFSET, RECORDS_OFFSET);
            seg.set(ValueLayout.JAVA_LONG, H_TOTAL_SIZE, size);
            seg.set(ValueLayout.JAVA_LONG, H_CREATED_NS, System.nanoTime());
            seg.set(ValueLayout.JAVA_LONG, C_TOKEN, token.high());
            seg.set(ValueLayout.JAVA_LONG, C_TOKEN + 8, token.low());
            MAGIC_FIELD.setRelease(seg, 0L, MAGIC);
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return new EventRing(arena, seg, abs, true, token);
        } catch (IOException | RuntimeException e) {
            arena.close();
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort
            }
            if (e instanceof IllegalArgumentException iae) {
                throw iae;
            }
            throw new PlatformUnavailableException("cannot create event ring " + abs + ": " + e.getMessage(), e);
        }
    }

    /** Maps an existing, initialised ring (e.g. after a Periscope restart); it is not deleted on close. */
    public static EventRing open(Path file, RingToken token) {
        Objects.requireNonNull(token, "token");
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = ch.size();
            if (size < HEADER_SIZE) {
                throw new PlatformUnavailableException("not an event ring (too small): " + file);
            }
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            String why = validate(seg, size);
            if (why != null) {
                throw new PlatformUnavailableException("not a usable event ring " + file + ": " + why);
            }
            return new EventRing(arena, seg, file.toAbsolutePath(), false, token);
        } catch (IOException e) {
            arena.close();
            throw new PlatformUnavailableException("cannot open event ring " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static String validate(MemorySegment seg, long size) {
        if ((long) MAGIC_FIELD.getAcquire(seg, 0L) != MAGIC) {
            return "bad magic";
        }
        if (seg.get(ValueLayout.JAVA_INT, H_ABI_VERSION) != ABI_VERSION) {
            return "ABI version " + seg.get(ValueLayout.JAVA_INT, H_ABI_VERSION) + ", expected " + ABI_VERSION;
        }
        if (seg.get(ValueLayout.JAVA_INT, H_HEADER_SIZE) != HEADER_SIZE
                || seg.get(ValueLayout.JAVA_INT, H_RECORD_SIZE) != RECORD_SIZE
                || seg.get(ValueLayout.JAVA_INT, H_LANE_SIZE) != LANE_SIZE) {
            return "struct sizes differ";
        }
        int lanes = seg.get(ValueLayout.JAVA_INT, H_LANE_COUNT);
        int cap = seg.get(ValueLayout.JAVA_INT, H_LANE_CAPACITY);
        if (lanes < 1 || lanes > MAX_LANES || cap < 2 || Integer.bitCount(cap) != 1 || cap > (1 << 24)) {
            return "bad geometry";
        }
        long total = seg.get(ValueLayout.JAVA_LONG, H_TOTAL_SIZE);
        if (seg.get(ValueLayout.JAVA_LONG, H_RECORDS_OFFSET) != RECORDS_OFFSET || total != totalSize(lanes, cap)
                || total > size) {
            return "sizes do not match the file";
        }
        return null;
    }

    /** The {@code -plugin} arguments after the library path: {@code ring=PATH,token=HEX32}. */
    public String pluginArgs() {
        return "ring=" + file + ",token=" + token.hex();
    }

    /**
     * Writes the token (32 hex digits) to {@code tokenFile} with mode 0600 and returns the plugin arguments
     * {@code ring=PATH,token-file=FILE}, which keep the capability off the QEMU command line.
     */
    public String pluginArgsWithTokenFile(Path tokenFile) {
        try {
            Files.deleteIfExists(tokenFile);
            Files.createFile(tokenFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(tokenFile, token.hex() + "\n");
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot write ring token file " + tokenFile + ": " + e.getMessage(), e);
        }
        return "ring=" + file + ",token-file=" + tokenFile.toAbsolutePath();
    }

    public Path path() {
        return file;
    }

    @Override
    public int lanes() {
        return lanes;
    }

    /**
     * Publishes a new configuration (seqlock write, see periscope_ring.h). The extension adopts it at its next
     * callback on each vCPU; {@link #awaitApplied(Duration)} waits for that. Returns the new generation, which
     * records written under this configuration carry ({@link RingEvent#controlGeneration()}).
     */
    @Override
    public synchronized long configure(RingControl c) {
        checkOpen();
        long g = (long) CONTROL_GENERATION.getOpaque(ring, 0L);
        long odd = (g & 1) == 0 ? g + 1 : g; // an odd value left by a crashed writer is reused
        CONTROL_GENERATION.setOpaque(ring, 0L, odd);
        VarHandle.releaseFence(); // the odd generation is visible before any field changes
        ring.set(ValueLayout.JAVA_LONG, C_TOKEN, token.high());
        ring.set(ValueLayout.JAVA_LONG, C_TOKEN + 8, token.low());
        ring.set(ValueLayout.JAVA_INT, C_MODE, RingMode.bits(c.modes()));
        ring.set(ValueLayout.JAVA_INT, C_SYNC_TIMEOUT_US, (int) Math.max(1, c.syncTimeout().toNanos() / 1000));
        List<Long> dtbs = c.dtbs();
        ring.set(ValueLayout.JAVA_INT, C_DTB_COUNT, dtbs.size());
        for (int i = 0; i < MAX_DTBS; i++) {
            ring.set(ValueLayout.JAVA_LONG, C_DTBS + 8L * i, i < dtbs.size() ? dtbs.get(i) : 0L);
        }
        List<Breakpoint> bps = c.breakpoints();
        ring.set(ValueLayout.JAVA_INT, C_BP_COUNT, bps.size());
        for (int i = 0; i < MAX_BREAKPOINTS; i++) {
            long at = C_BREAKPOINTS + BP_SIZE * i;
            ring.set(ValueLayout.JAVA_LONG, at + BP_GVA, i < bps.size() ? bps.get(i).address() : 0L);
            ring.set(ValueLayout.JAVA_INT, at + BP_KIND, i < bps.size() ? bps.get(i).kind().code : 0);
            ring.set(ValueLayout.JAVA_INT, at + BP_KIND + 4, 0);
        }
        CONTROL_GENERATION.setRelease(ring, 0L, odd + 1);
        control = c;
        return odd + 1;
    }

    /** Reads the control block itself (mode, DTB and breakpoint counts), whoever published it. */
    @Override
    public synchronized boolean armed() {
        checkOpen();
        return ring.get(ValueLayout.JAVA_INT, C_MODE) != 0 || ring.get(ValueLayout.JAVA_INT, C_DTB_COUNT) != 0
                || ring.get(ValueLayout.JAVA_INT, C_BP_COUNT) != 0;
    }

    @Override
    public synchronized RingControl control() {
        return control;
    }

    /** The control generation last published by {@link #configure}. */
    public long controlGeneration() {
        return (long) CONTROL_GENERATION.getAcquire(ring, 0L);
    }

    /**
     * Whether every vCPU of the attached extension has seen the current configuration. A vCPU looks at the
     * control block before each event it reports, so a halted vCPU may catch up late without ever reporting
     * under the old configuration.
     */
    public boolean applied() {
        long g = controlGeneration();
        int vcpus = Math.min(lanes, ring.get(ValueLayout.JAVA_INT, H_VCPU_COUNT));
        if (vcpus == 0) {
            return false;
        }
        for (int i = 0; i < vcpus; i++) {
            if ((long) LANE_APPLIED_GENERATION.getAcquire(ring, 0L, (long) i) < g) {
                return false;
            }
        }
        return true;
    }

    /** Waits until {@link #applied()} or the timeout; true if applied. */
    @Override
    public boolean awaitApplied(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!applied()) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            Thread.onSpinWait();
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /**
     * Hands up to {@code maxRecords} records to {@code handler}, lane by lane in batches (round-robin start),
     * answers each synchronous record once the handler returned, and releases the slots. Returns the number
     * of records handled; 0 when the ring is empty (the caller decides how to wait). Allocation-free.
     */
    @Override
    public int poll(RingRecordHandler handler, int maxRecords) {
        checkOpen();
        try {
            int total = 0;
            int start = nextLane;
            for (int k = 0; k < lanes && total < maxRecords; k++) {
                int lane = start + k < lanes ? start + k : start + k - lanes;
                total += drainLane(lane, handler, maxRecords - total);
            }
            nextLane = start + 1 < lanes ? start + 1 : 0;
            return total;
        } catch (IllegalStateException e) {
            if (closed) {
                throw new SessionClosedException("event ring " + file + " was closed while polling");
            }
            throw e;
        }
    }

    private int drainLane(int lane, RingRecordHandler handler, int max) {
        long tail = tails[lane];
        long head = (long) LANE_HEAD.getAcquire(ring, 0L, (long) lane);
        long avail = head - tail;
        if (avail <= 0) {
            return 0;
        }
        if (avail > capacity) { // a misbehaving producer: never read slots that are being rewritten
            avail = capacity;
            tail = head - capacity;
        }
        int n = (int) Math.min(avail, max);
        long laneRecords = RECORDS_OFFSET + (long) lane * capacity * RECORD_SIZE;
        int done = 0;
        try {
            for (; done < n; done++) {
                long slot = laneRecords + ((tail + done) & mask) * RECORD_SIZE;
                view.at(slot);
                handler.onRecord(view);
                if ((ring.get(ValueLayout.JAVA_INT, slot + R_FLAGS) & RECORD_SYNC) != 0) {
                    LANE_RESPONSE_SEQ.setRelease(ring, 0L, (long) lane, ring.get(ValueLayout.JAVA_LONG, slot + R_SEQ));
                }
            }
        } finally {
            // a throwing handler consumes the record it threw on: it is not handed out twice
            long newTail = tail + Math.min(n, done + 1);
            tails[lane] = newTail;
            LANE_TAIL.setRelease(ring, 0L, (long) lane, newTail);
        }
        return n;
    }

    /** Like {@link #poll(RingRecordHandler, int)}, copying each record into an immutable {@link RingEvent}. */
    public int drainTo(Consumer<? super RingEvent> sink, int maxRecords) {
        return poll(r -> sink.accept(r.toEvent()), maxRecords);
    }

    /** Counters of one lane (vCPU). */
    public RingCounters counters(int lane) {
        checkOpen();
        Objects.checkIndex(lane, lanes);
        long base = laneBase(lane);
        return new RingCounters(opaque(base + L_SEEN), opaque(base + L_FILTERED), opaque(base + L_DELIVERED),
                opaque(base + L_DROPPED), opaque(base + L_VCPU_WAIT_NS), opaque(base + L_SYNC_TIMEOUTS),
                opaque(base + L_CR3_SEEN), opaque(base + L_CR3_FILTERED), opaque(base + L_EXITS_UNREPORTED));
    }

    /** Counters summed over all lanes. */
    @Override
    public RingCounters counters() {
        RingCounters sum = RingCounters.ZERO;
        for (int i = 0; i < lanes; i++) {
            sum = sum.plus(counters(i));
        }
        return sum;
    }

    /** Records published but not yet consumed, over all lanes. */
    @Override
    public long backlog() {
        checkOpen();
        long n = 0;
        for (int i = 0; i < lanes; i++) {
            n += (long) LANE_HEAD.getAcquire(ring, 0L, (long) i) - tails[i];
        }
        return n;
    }

    @Override
    public boolean producerAttached() {
        return (int) PRODUCER_STATE.getAcquire(ring, 0L) == PRODUCER_ATTACHED;
    }

    @Override
    public boolean producerDetached() {
        return (int) PRODUCER_STATE.getAcquire(ring, 0L) == PRODUCER_DETACHED;
    }

    @Override
    public boolean syscallExits() {
        checkOpen();
        return (ring.get(ValueLayout.JAVA_INT, H_PRODUCER_FEATURES) & FEATURE_SYSCALL_EXIT) != 0;
    }

    public int producerPid() {
        return ring.get(ValueLayout.JAVA_INT, H_PRODUCER_PID);
    }

    /** Control writes the extension ignored because they did not carry its token. */
    @Override
    public long controlRejected() {
        return opaque(H_CONTROL_REJECTED);
    }

    /** Translation-cache flushes the extension performed for breakpoint table changes. */
    @Override
    public long flushes() {
        return opaque(H_FLUSHES);
    }

    /** Events of vCPUs that had no lane. */
    public long unlanedEvents() {
        return opaque(H_UNLANED);
    }

    private long opaque(long offset) {
        return (long) U64.getOpaque(ring, offset);
    }

    private void checkOpen() {
        if (closed) {
            throw new SessionClosedException("event ring " + file + " is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        arena.close();
        if (deleteOnClose) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // /dev/shm entry left behind: harmless, replaced by the next create
            }
        }
    }

    @Override
    public String toString() {
        return "EventRing[" + file + ", " + lanes + " lanes x " + capacity + "]";
    }
}
