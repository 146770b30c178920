package dev.periscope.vmi.trace;

import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.ring.RingCounters;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;

/**
 * A running process-bound trace on one VM ({@code VmiEngine.trace}). Events arrive on {@link #events()} (one
 * subscriber; a slow one loses events and gets {@link TraceEvent.Dropped} markers, memory stays bounded); the flux
 * completes after a {@link TraceEvent.Ended} event when the target exits, the VM goes away or the session is closed.
 * The session owns what it traces (its processes and their address spaces, updated by the VM's ring thread) and the
 * counters its overhead is measured against. Thread-safe; {@link #close()} is idempotent and cheap (the ring thread
 * does the work).
 */
public final class TraceSession implements AutoCloseable {

    private static final AtomicLong IDS = new AtomicLong();

    /** The VM's counters when the session started: its overhead is what they grew by since. */
    record Baseline(RingCounters ring, long flushes, long cr3Records, long syscallRecords, long walks, long walkNs,
                    long exitRecords, long paired, long unmatched, long lost) {
        static final Baseline ZERO = new Baseline(RingCounters.ZERO, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    private final long id = IDS.incrementAndGet();
    private final TraceHub hub;
    private final TraceRequest request;
    private final SessionBuffer buffer;
    private final Instant startedAt = Instant.now();
    private final long startedNs = System.nanoTime();
    private final AtomicLong matched = new AtomicLong();
    private volatile int pid;
    private volatile String processName = "";
    private volatile TraceEnd end;
    private volatile long endedNs;
    private volatile Baseline baseline = Baseline.ZERO;
    // written by the ring thread only; volatile so that other threads read a whole set
    private volatile Set<Integer> pids = Set.of();
    private volatile Set<Long> dtbs = Set.of();
    // ring thread only: who runs in each traced address space, and the address spaces the last process list
    // dropped (an exit, an exec) whose records may still wait in the ring: the guest runs ahead of the ring thread
    private Map<Long, GuestProcess> members = Map.of();
    private final Map<Long, GuestProcess> leaving = new HashMap<>();
    private final List<TraceEvent.ProcessChange> exited = new ArrayList<>();

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

    /** The target's name when the session started. */
    public String processName() {
        return processName;
    }

    public Instant startedAt() {
        return startedAt;
    }

    /** The pids traced now (the target, and its descendants with {@link TraceRequest#followChildren()}). */
    public Set<Integer> tracedPids() {
        return pids;
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
        return Flux.interval(period).map(i -> overhead()).takeUntil(s -> ended());
    }

    public boolean ended() {
        return end != null;
    }

    /** Why it ended; empty while it runs. */
    public Optional<TraceEnd> end() {
        return Optional.ofNullable(end);
    }

    /** Stops tracing; the ring stops trapping for this session. */
    @Override
    public void close() {
        hub.close(this);
    }

    // ------------------------------------------------------------------ the ring thread's side

    /** The target was found: the session starts from {@code baseline}. */
    void started(GuestProcess target, Baseline baseline) {
        this.pid = target.pid();
        this.processName = target.name();
        this.baseline = baseline;
    }

    Baseline baseline() {
        return baseline;
    }

    /** What this session needs from the VM's ring now. */
    RingPlan.Need need() {
        return new RingPlan.Need(request.method(), request.readStrings(), request.followChildren(), dtbs);
    }

    /**
     * Whether this session traces the address space {@code dtb} (masked): one of its processes runs there, or ran
     * there until the newest process list and its records may still be queued in the ring.
     */
    boolean traces(long dtb) {
        return dtbs.contains(dtb) || leaving.containsKey(dtb);
    }

    /** The process a queued record of {@code dtb} came from, when the newest process list no longer has it there. */
    GuestProcess leaver(long dtb) {
        return dtbs.contains(dtb) ? null : leaving.get(dtb);
    }

    /**
     * The ring was read to its end: whatever the processes that left did before the last process list has arrived, so
     * their exits are told now.
     */
    void ringDrained() {
        leaving.clear();
        exited.forEach(this::emit);
        exited.clear();
    }

    /**
     * Takes the processes it traces from the newest process list: the target and, when followed, its descendants.
     * With {@code report}, tells the subscriber which processes exec'd, appeared as children or exited.
     *
     * @return whether the target is still alive (the session ends otherwise)
     */
    boolean follow(ProcessTracker processes, boolean report) {
        ProcessTracker.Family next = processes.family(pid, request.followChildren());
        if (report) {
            long now = System.nanoTime();
            for (int p : next.pids()) {
                GuestProcess gp = processes.byPid(p);
                if (!pids.contains(p)) {
                    emit(new TraceEvent.ProcessChange(now, TraceEvent.Change.CHILD, p, gp.name(),
                            "child of " + gp.ppid()));
                } else if (!dtbs.isEmpty() && !gp.kernelThread() && gp.cr3() != 0
                        && !dtbs.contains(gp.cr3() & ProcessTracker.DTB_MASK)) {
                    emit(new TraceEvent.ProcessChange(now, TraceEvent.Change.EXEC, p, gp.name(), gp.cmdline()));
                }
            }
            for (int p : pids) {
                if (!next.pids().contains(p)) {
                    exited.add(new TraceEvent.ProcessChange(now, TraceEvent.Change.EXIT, p, "", ""));
                }
            }
        }
        members.forEach((dtb, gp) -> {
            if (!next.dtbs().contains(dtb)) {
                leaving.put(dtb, gp);
            }
        });
        leaving.keySet().removeAll(next.dtbs());
        members = next.members();
        pids = next.pids();
        dtbs = next.dtbs();
        return pids.contains(pid);
    }

    /** A syscall of one of its processes (at its return, or at its entry when results are not traced). */
    void deliver(TraceEvent.Syscall e) {
        matched.incrementAndGet();
        emit(e);
    }

    /** Events for this session's processes, including those its buffer dropped. */
    long matched() {
        return matched.get();
    }

    boolean emit(TraceEvent e) {
        return buffer.emit(e);
    }

    /** Reports the events its buffer lost as soon as there is room for the markers. */
    void reportLosses() {
        buffer.reportLosses();
    }

    long emitted() {
        return buffer.emitted();
    }

    long bufferDropped() {
        return buffer.dropped();
    }

    Duration elapsed() {
        return Duration.ofNanos((ended() ? endedNs : System.nanoTime()) - startedNs);
    }

    /** Marks the session ended and completes its flux with an {@link TraceEvent.Ended} event (once). */
    synchronized void end(TraceEnd why) {
        if (end != null) {
            return;
        }
        endedNs = System.nanoTime();
        end = why;
        buffer.complete(new TraceEvent.Ended(endedNs, why));
    }

    @Override
    public String toString() {
        return "TraceSession[" + id + " " + hub.vm() + " " + request.target() + " " + request.method() + "]";
    }
}
