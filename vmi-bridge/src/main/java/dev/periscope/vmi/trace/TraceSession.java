package dev.periscope.vmi.trace;

import dev.periscope.vmi.ring.RingCounters;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;

/**
 * A running process-bound trace on one VM ({@code VmiEngine.trace}). Events arrive on {@link #events()} (one
 * subscriber; a slow one loses events and gets {@link TraceEvent.Kind#DROPPED} markers, memory stays bounded);
 * the flux completes after an {@link TraceEvent.Kind#ENDED} event when the target exits, the VM goes away or the
 * session is closed. Thread-safe; {@link #close()} is idempotent and cheap (the ring thread does the work).
 */
public final class TraceSession implements AutoCloseable {

    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
    private final TraceHub hub;
    private final TraceRequest request;
    private final SessionBuffer buffer;
    private final Instant startedAt = Instant.now();
    private final long startedNs = System.nanoTime();
    private volatile int pid;
    private volatile String processName = "";
    private volatile boolean ended;
    private volatile String endReason = "";
    private volatile long endedNs;
    // ring-thread state
    final Set<Integer> targets = ConcurrentHashMap.newKeySet();
    final Set<Long> dtbs = ConcurrentHashMap.newKeySet();
    RingCounters baseline = RingCounters.ZERO;
    long baseCr3Records;
    long baseSyscallRecords;
    long baseRefreshes;
    long baseRefreshNs;
    long baseFlushes;
    final AtomicLong matched = new AtomicLong();

    TraceSession(TraceHub hub, TraceRequest request) {
        this.hub = hub;
        this.request = request;
        this.buffer = new SessionBuffer(request.bufferSize());
    }

    public long id() {
        return id;
    }

    public String vm() {
        return hub.vm();
    }

    public TraceRequest request() {
        return request;
    }

    public TraceMethod method() {
        return request.method();
    }

    /** The target process's pid, resolved when the session started. */
    public int pid() {
        return pid;
    }

    /** The target's comm when the session started. */
    public String processName() {
        return processName;
    }

    public Instant startedAt() {
        return startedAt;
    }

    /** The pids traced now (the target, and its descendants with {@link TraceRequest#followChildren()}). */
    public Set<Integer> tracedPids() {
        return Set.copyOf(targets);
    }

    /** Where syscall names come from on this VM (the guest's own table, or the labelled fallback). */
    public SyscallTable syscallTable() {
        return hub.syscalls();
    }

    /** The session's events: subscribe once. */
    public Flux<TraceEvent> events() {
        return buffer.flux();
    }

    /** What this session (and its VM) cost so far. */
    public OverheadSnapshot overhead() {
        return hub.overhead(this);
    }

    /** {@link #overhead()} every {@code period} (the backend polls or streams it), until the session ends. */
    public Flux<OverheadSnapshot> overheadSamples(Duration period) {
        return Flux.interval(period).map(i -> overhead()).takeUntil(s -> ended);
    }

    /** {@link #overheadSamples(Duration)} every second. */
    public Flux<OverheadSnapshot> overheadSamples() {
        return overheadSamples(Duration.ofSeconds(1));
    }

    public boolean ended() {
        return ended;
    }

    /** Why it ended ("closed", "target exited", "VM gone"), "" while running. */
    public String endReason() {
        return endReason;
    }

    /** Stops tracing; the ring stops trapping for this session. */
    @Override
    public void close() {
        hub.close(this);
    }

    Duration elapsed() {
        return Duration.ofNanos((ended ? endedNs : System.nanoTime()) - startedNs);
    }

    void resolved(int pid, String name) {
        this.pid = pid;
        this.processName = name;
    }

    boolean emit(TraceEvent e) {
        return buffer.emit(e);
    }

    long emitted() {
        return buffer.emitted();
    }

    long bufferDropped() {
        return buffer.dropped();
    }

    /** Marks the session ended and completes its flux with an ENDED event. */
    void end(String reason) {
        if (ended) {
            return;
        }
        endReason = reason;
        endedNs = System.nanoTime();
        ended = true;
        buffer.complete(TraceEvent.session(TraceEvent.Kind.ENDED, pid, processName, reason));
    }

    @Override
    public String toString() {
        return "TraceSession[" + id + " " + hub.vm() + " " + request.target() + " " + request.method() + "]";
    }
}
