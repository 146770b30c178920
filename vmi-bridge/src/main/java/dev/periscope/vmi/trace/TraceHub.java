package dev.periscope.vmi.trace;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.ring.ConsumerThreads;
import dev.periscope.vmi.ring.EventChannel;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingCounters;
import dev.periscope.vmi.ring.RingRecord;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trace machinery of one VM (engine-internal: use {@code VmiEngine.trace}). Owns the VM's single event-ring
 * consumer: one platform thread, started with the first session and stopped when the last one ends, that polls the
 * ring (spinning briefly, then parking) and dispatches each record: CR3 writes and fork breakpoints keep the
 * {@link ProcessTracker} and the sessions' process sets current, syscalls are decoded once and handed to every
 * session tracing that address space (many sessions, one ring: Xen allows one monitor ring per domain). What the
 * ring traps is the union of the sessions' needs, decided by the {@link RingPlan}. All ring and guest access happens
 * on that thread; callers only enqueue commands.
 *
 * <p>Syscall results: when the VM's hypervisor extension reports returns ({@link EventChannel#syscallExits()}) and
 * the kernel has the hooks (its syscall entry after the hardware frame, where the thread's kernel stack names it, and
 * {@code syscall_exit_to_user_mode}), an entry waits in the bounded {@link SyscallPairing} for its thread's return
 * and the completed call is emitted then; calls still out when a session ends or their process exits are emitted
 * unfinished. Otherwise calls are emitted at entry with their result not traced.
 */
public final class TraceHub {

    private static final Logger log = LoggerFactory.getLogger(TraceHub.class);
    /** Records handled per poll at most. */
    private static final int POLL_BATCH = 4096;
    private static final long PERIODIC_REFRESH_NS = 1_000_000_000L;
    /** Spin this long after the last record before parking: while vCPUs wait for us, or not. */
    private static final long SPIN_SYNC_NS = 500_000L;
    private static final long SPIN_NS = 30_000L;
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    private static final int NR_EXECVE = 59;
    private static final int NR_EXECVEAT = 322;
    /** Where the kernel's syscall entry has the thread's kernel stack in rsp (the thread key of its return). */
    static final String ENTRY_AFTER_HWFRAME = "entry_SYSCALL_64_after_hwframe";
    static final String ENTRY = "entry_SYSCALL_64";
    static final String EXIT = "syscall_exit_to_user_mode";

    private final String vm;
    private final EventChannel channel;
    private final int vcpus;
    private final SyscallDecoder decoder;
    private final long syscallEntry;
    private final long syscallExit;
    private final long forkHook;
    private final SyscallPairing pairing = new SyscallPairing();
    private final ProcessTracker processes;
    private final RingPlan plan;
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final List<TraceSession> sessions = new CopyOnWriteArrayList<>();
    private final List<TraceSession> targetExited = new ArrayList<>(); // ring thread only: they end when drained
    private Thread thread; // guarded by this
    private volatile TraceEnd shutdown;

    // ring-thread state
    private long lastPeriodicNs;
    private boolean refreshSoon;
    private long polls;
    private long listChangedAtPoll; // 0: no process list since the ring was last read to its end
    private long lastEventNs;
    // counters read by other threads (single writer: the ring thread)
    private volatile long cr3Records;
    private volatile long syscallRecords;
    private volatile long exitRecords;

    /** The trace machinery of a VM whose processes are read from {@code memory} with {@code profile}. */
    public TraceHub(String vm, EventChannel channel, PhysicalMemory memory, KernelProfile profile, int vcpus) {
        this(vm, channel, () -> LinuxModel.processes(memory, profile).processes(),
                new SyscallDecoder(SyscallTable.of(memory, profile), memory, profile.fiveLevel()),
                hooks(channel, profile), profile.symbols().address("wake_up_new_task").orElse(0L), vcpus);
    }

    /** The kernel's syscall entry and exit hooks: {entry, exit}, exit 0 when returns cannot be traced. */
    private static long[] hooks(EventChannel channel, KernelProfile profile) {
        long entry = profile.symbols().address(ENTRY).orElse(0L);
        long afterFrame = profile.symbols().address(ENTRY_AFTER_HWFRAME).orElse(0L);
        long exit = profile.symbols().address(EXIT).orElse(0L);
        if (channel != null && channel.syscallExits() && afterFrame != 0 && exit != 0) {
            return new long[] {afterFrame, exit};
        }
        return new long[] {entry, 0};
    }

    private TraceHub(String vm, EventChannel channel, Supplier<List<GuestProcess>> walk, SyscallDecoder decoder,
                     long[] hooks, long forkHook, int vcpus) {
        this(vm, channel, walk, decoder, hooks[0], hooks[1], forkHook, vcpus);
    }

    /**
     * @param channel      the VM's event ring, null when its platform has none (only M1 runs)
     * @param walk         reads the guest's process list
     * @param syscallEntry the kernel's syscall entry ({@code entry_SYSCALL_64_after_hwframe} when returns are traced,
     *                     else {@code entry_SYSCALL_64}), 0 when unknown (only M1 runs)
     * @param syscallExit  {@code syscall_exit_to_user_mode} when the extension reports returns, else 0 (calls are
     *                     then emitted at entry, their results not traced)
     * @param forkHook     {@code wake_up_new_task}, 0 when unknown (children are then found by CR3 switches only)
     */
    TraceHub(String vm, EventChannel channel, Supplier<List<GuestProcess>> walk, SyscallDecoder decoder,
             long syscallEntry, long syscallExit, long forkHook, int vcpus) {
        this.vm = vm;
        this.channel = channel;
        this.vcpus = Math.max(1, vcpus);
        this.decoder = decoder;
        this.syscallEntry = syscallEntry;
        this.syscallExit = syscallExit;
        this.forkHook = forkHook;
        this.processes = new ProcessTracker(walk, System::nanoTime);
        this.plan = new RingPlan(vm, syscallEntry, syscallExit, forkHook, vcpus);
        SyscallTable builtin = SyscallTable.builtin();
        List<String> differ = decoder.table() == builtin ? List.of() : decoder.table().disagreements(builtin);
        log.info("{}: syscall names: {}{}; results {}", vm, decoder.table(),
                differ.isEmpty() ? "" : ", differing from the built-in table at " + differ,
                syscallExit != 0 ? "traced" : "not traced (the platform's extension reports entries only)");
    }

    /** Whether this VM's traces report syscall results. */
    public boolean tracesResults() {
        return syscallExit != 0;
    }

    public String vm() {
        return vm;
    }

    public SyscallTable syscalls() {
        return decoder.table();
    }

    /** Whether no session runs (the engine may drop the hub). */
    public boolean idle() {
        return sessions.isEmpty() && commands.isEmpty();
    }

    /**
     * Starts a session: resolves the target on the ring thread (a process-list walk) and arms the ring. Blocks
     * the caller for that (milliseconds): never call it on an event loop.
     *
     * @throws NoSuchElementException       no such process in the guest
     * @throws PlatformUnavailableException the VM has no hypervisor events (M2..M5) or no syscall entry symbol
     */
    public TraceSession open(TraceRequest request) {
        TraceEnd stopped = shutdown;
        if (stopped != null) {
            throw new SessionClosedException("tracing on " + vm + " stopped: " + stopped);
        }
        if (request.method() != TraceMethod.M1) {
            if (channel == null) {
                throw new PlatformUnavailableException(vm + " has no hypervisor events (its platform has no event "
                        + "extension for it): only M1 can run");
            }
            if (syscallEntry == 0) {
                throw new PlatformUnavailableException(vm + ": kernel has no entry_SYSCALL_64 symbol");
            }
        }
        TraceSession s = new TraceSession(this, request);
        CompletableFuture<TraceSession> started = new CompletableFuture<>();
        submit(() -> {
            try {
                start(s);
                started.complete(s);
            } catch (RuntimeException e) {
                started.completeExceptionally(e);
            }
        });
        try {
            return started.get(START_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            close(s);
            throw new PlatformUnavailableException("tracing on " + vm + " did not start within "
                    + START_TIMEOUT.toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close(s);
            throw new SessionClosedException("interrupted while starting a trace on " + vm);
        }
    }

    void close(TraceSession s) {
        if (s.ended()) {
            return;
        }
        if (!submit(() -> stop(s, TraceEnd.of(TraceEnd.Reason.CLOSED)))) {
            s.end(TraceEnd.of(TraceEnd.Reason.CLOSED));
        }
    }

    /** Ends every session ({@code why}: the VM went away, the engine closes) and stops the ring thread. */
    public void shutdown(TraceEnd why) {
        Thread t;
        synchronized (this) {
            shutdown = why;
            t = thread;
        }
        if (t != null) {
            LockSupport.unpark(t);
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        endAll(why);
    }

    private boolean submit(Runnable command) {
        synchronized (this) {
            if (shutdown != null) {
                return false;
            }
            commands.add(command);
            if (thread == null) {
                thread = Thread.ofPlatform().daemon().name("periscope-ring-" + vm).start(this::run);
            } else {
                LockSupport.unpark(thread);
            }
            return true;
        }
    }

    // ------------------------------------------------------------------ ring thread

    private void run() {
        boolean slack = ConsumerThreads.lowTimerSlack();
        log.debug("{}: ring thread started (timer slack 1 us: {})", vm, slack);
        try {
            while (true) {
                for (Runnable c; (c = commands.poll()) != null; ) {
                    c.run();
                }
                if (shutdown != null || sessions.isEmpty()) {
                    synchronized (this) {
                        if (shutdown != null || commands.isEmpty()) {
                            apply(plan.off());
                            thread = null;
                            log.debug("{}: ring thread stopped", vm);
                            return;
                        }
                    }
                    continue;
                }
                long poll = ++polls;
                int n = channel == null ? 0 : channel.poll(this::onRecord, POLL_BATCH);
                long now = System.nanoTime();
                if (n > 0) {
                    lastEventNs = now;
                }
                // a poll begun after the list changed that did not fill its batch read all that was written before
                if (listChangedAtPoll > 0 && poll > listChangedAtPoll && n < POLL_BATCH) {
                    drained();
                }
                if (refreshSoon || now - lastPeriodicNs > PERIODIC_REFRESH_NS) {
                    periodic(now);
                }
                if (n == 0) {
                    for (TraceSession s : sessions) {
                        s.reportLosses();
                    }
                    idleWait(now);
                }
            }
        } catch (VmiException e) {
            log.warn("{}: tracing stopped: {}", vm, e.getMessage());
            stopThread(new TraceEnd(TraceEnd.Reason.VM_GONE, e.getMessage()));
        } catch (RuntimeException | Error e) {
            log.error("{}: ring thread failed", vm, e);
            stopThread(new TraceEnd(TraceEnd.Reason.FAILED, e.toString()));
        }
    }

    /** The ring thread's own end: nothing more runs on this hub. */
    private void stopThread(TraceEnd why) {
        synchronized (this) {
            shutdown = why;
            thread = null;
        }
        try {
            apply(plan.off());
        } catch (RuntimeException ignored) {
            // the ring may be gone with the VM
        }
        endAll(why);
    }

    private void endAll(TraceEnd why) {
        for (TraceSession s : sessions) {
            unfinished(pairing.abandon(s), s);
            s.end(why);
        }
        sessions.clear();
    }

    /**
     * Spin after recent records (with synchronous modes a vCPU waits for each answer: spinning keeps the round
     * trip in microseconds), then park, longer when quiet.
     */
    private void idleWait(long now) {
        long quiet = now - lastEventNs;
        boolean synchronous = plan.synchronous();
        if (quiet < (synchronous ? SPIN_SYNC_NS : SPIN_NS)) {
            Thread.onSpinWait();
        } else if (synchronous && quiet < 100_000_000L) {
            LockSupport.parkNanos(15_000L); // a vCPU may be waiting: ~20 us with the low timer slack
        } else {
            LockSupport.parkNanos(quiet < 100_000_000L ? 50_000L : 500_000L);
        }
    }

    private void start(TraceSession s) {
        processes.refresh(true);
        GuestProcess target = processes.resolve(s.request(), vm);
        s.started(target, baseline());
        s.follow(processes, false);
        sessions.add(s);
        reconfigure();
    }

    private TraceSession.Baseline baseline() {
        return new TraceSession.Baseline(channel == null ? RingCounters.ZERO : channel.counters(),
                channel == null ? 0 : channel.flushes(), cr3Records, syscallRecords, processes.walks(),
                processes.walkNanos(), exitRecords, pairing.paired(), pairing.unmatched(), pairing.lost());
    }

    private void stop(TraceSession s, TraceEnd why) {
        if (sessions.remove(s)) {
            reconfigure();
        }
        unfinished(pairing.abandon(s), s);
        s.end(why);
    }

    /** Tells {@code only} (or, when null, each call's sessions) that these calls will show no return. */
    private static void unfinished(List<SyscallPairing.Pending> calls, TraceSession only) {
        for (SyscallPairing.Pending p : calls) {
            TraceEvent.Syscall e = p.entry().completed(p.entry().args(), TraceEvent.Result.UNFINISHED);
            if (only != null) {
                only.deliver(e);
            } else {
                for (TraceSession s : p.sessions()) {
                    s.deliver(e);
                }
            }
        }
    }

    private void periodic(long now) {
        lastPeriodicNs = now;
        refreshSoon = false;
        if (channel != null && channel.producerDetached()) {
            throw new VmGoneException(vm + " stopped (hypervisor extension detached)");
        }
        processes.forgetUnknown();
        processes.refresh(true);
        followAll();
    }

    /**
     * Every session takes its processes from the newest list (reporting changes); the ring follows. The guest runs
     * ahead of this thread, so what processes that left the list did last may still be queued in the ring: their
     * calls are given up, and a session whose target exited ends, once the ring has been read empty.
     */
    private void followAll() {
        listChangedAtPoll = Math.max(1, polls);
        for (TraceSession s : sessions) {
            if (!s.follow(processes, true) && !targetExited.contains(s)) {
                targetExited.add(s);
            }
        }
        reconfigure();
    }

    /** The ring was read to its end after a new process list: every record written before it has been handled. */
    private void drained() {
        listChangedAtPoll = 0;
        // calls of processes that exited will not return: shown before their sessions hear of the exit
        unfinished(pairing.abandonIf(p -> processes.byPid(p.entry().pid()) == null), null);
        for (TraceSession s : sessions) {
            s.ringDrained();
        }
        for (TraceSession s : targetExited) {
            stop(s, TraceEnd.of(TraceEnd.Reason.TARGET_EXITED));
        }
        targetExited.clear();
    }

    private void reconfigure() {
        apply(plan.plan(sessions.stream().map(TraceSession::need).toList()));
    }

    private void apply(Optional<RingControl> next) {
        if (channel == null || next.isEmpty()) {
            return;
        }
        channel.configure(next.get());
        if (next.get().equals(RingControl.off())) {
            // answer what is still in the ring: a vCPU may wait on a synchronous record nobody will handle
            channel.poll(r -> { }, 1 << 20);
        }
    }

    private void onRecord(RingRecord r) {
        switch (r.kind()) {
            case CR3_WRITE -> onCr3(r);
            case SYSCALL -> onSyscall(r);
            case BREAKPOINT -> onFork(r);
            case SYSCALL_EXIT -> onSyscallExit(r);
            case DROP_MARKER -> {
                TraceEvent e = new TraceEvent.Dropped(r.timestampNs(), r.arg(0), TraceEvent.DropSite.HYPERVISOR_RING);
                for (TraceSession s : sessions) {
                    s.emit(e);
                }
            }
            default -> { }
        }
    }

    private void onCr3(RingRecord r) {
        cr3Records++;
        long oldDtb = r.oldCr3() & ProcessTracker.DTB_MASK;
        long newDtb = r.newCr3() & ProcessTracker.DTB_MASK;
        // A switch to an address space nobody knows: a fresh child or an exec. From a traced process (the only
        // switches filtered modes deliver) or, when every CR3 write arrives, from anybody (a child may first run
        // after a stranger); each unknown space costs one walk at most (until the periodic refresh).
        plan.running(r.vcpu(), newDtb);
        boolean fromTraced = plan.tracedDtbs().contains(oldDtb) || plan.allCr3Writes();
        if (fromTraced && !plan.tracedDtbs().isEmpty() && processes.byDtb(newDtb) == null) {
            if (processes.refreshFor(newDtb)) {
                followAll();
            } else {
                refreshSoon = true;
            }
        }
        apply(plan.rearm());
    }

    /** wake_up_new_task in a traced process: the child exists (linked, mm set) but has not run yet. */
    private void onFork(RingRecord r) {
        if (r.rip() != forkHook || !plan.tracedDtbs().contains(r.newCr3() & ProcessTracker.DTB_MASK)) {
            return;
        }
        if (processes.refresh(false)) {
            followAll();
        } else {
            refreshSoon = true;
        }
    }

    private void onSyscall(RingRecord r) {
        syscallRecords++;
        long dtb = r.newCr3() & ProcessTracker.DTB_MASK;
        if (processes.byDtb(dtb) == null && processes.refreshFor(dtb)) {
            followAll();
        }
        GuestProcess p = processes.byDtb(dtb);
        List<TraceSession> tracing = new ArrayList<>(1);
        boolean strings = false;
        for (TraceSession s : sessions) {
            if (s.traces(dtb)) {
                tracing.add(s);
                strings |= s.request().readStrings();
                GuestProcess left = s.leaver(dtb);
                p = left != null ? left : p;
            }
        }
        if (!tracing.isEmpty()) {
            TraceEvent.Syscall e = decoder.entry(r, p == null ? 0 : p.pid(), p == null ? "" : p.name(), strings,
                    r.synchronous());
            if (!SyscallDecoder.returns(e.name())) {
                deliver(tracing, e.completed(e.args(), TraceEvent.Result.NO_RETURN));
            } else if (syscallExit != 0 && r.aux() != 0) {
                unfinished(pairing.enter(r.aux(), e, tracing), null); // emitted when the thread returns
            } else {
                deliver(tracing, e);
            }
        }
        long nr = r.syscallNumber();
        if (nr == NR_EXECVE || nr == NR_EXECVEAT) {
            refreshSoon = true; // the new address space shows up at the next CR3 switch or periodic walk
        }
    }

    /** A traced thread returns: its call completes (the extension reports only returns of entries it delivered). */
    private void onSyscallExit(RingRecord r) {
        exitRecords++;
        long dtb = r.newCr3() & ProcessTracker.DTB_MASK;
        long mismatched = pairing.mismatched();
        SyscallPairing.Pending p = pairing.exit(r.aux(), r.syscallNumber(),
                sessions.stream().anyMatch(s -> s.traces(dtb)));
        if (p == null) {
            return;
        }
        if (mismatched == 0 && pairing.mismatched() == 1) {
            log.warn("{}: a return reports syscall {} for an entry of {} ({}): the extension may read pt_regs with a "
                    + "layout this kernel does not have", vm, r.syscallNumber(), p.entry().number(), p.entry().name());
        }
        boolean strings = p.sessions().stream().anyMatch(s -> s.request().readStrings());
        deliver(p.sessions(), decoder.exit(p.entry(), r, strings, r.synchronous()));
    }

    private static void deliver(List<TraceSession> to, TraceEvent.Syscall e) {
        for (TraceSession s : to) {
            s.deliver(e);
        }
    }

    // ------------------------------------------------------------------ accounting

    OverheadSnapshot overhead(TraceSession s) {
        TraceSession.Baseline b = s.baseline();
        RingCounters c = RingCounters.ZERO;
        long flushes = 0;
        if (channel != null) {
            try {
                c = channel.counters().minus(b.ring());
                flushes = channel.flushes() - b.flushes();
            } catch (VmiException e) {
                // the ring is gone: report what the session counted itself
            }
        }
        Duration elapsed = s.elapsed();
        double slowdown = elapsed.isZero() ? 0 : (double) c.vcpuWaitNs() / ((double) elapsed.toNanos() * vcpus);
        return new OverheadSnapshot(Instant.now(), vm, s.method(), elapsed, c.seen(), c.filtered(), c.cr3Seen(),
                c.cr3Filtered(), cr3Records - b.cr3Records(), syscallRecords - b.syscallRecords(), c.dropped(),
                s.matched(), s.emitted(), s.bufferDropped(), Duration.ofNanos(c.vcpuWaitNs()), c.syncTimeouts(),
                slowdown, flushes, processes.walks() - b.walks(), Duration.ofNanos(processes.walkNanos() - b.walkNs()),
                exitRecords - b.exitRecords(), pairing.paired() - b.paired(), pairing.unmatched() - b.unmatched(),
                pairing.lost() - b.lost() + c.exitsUnreported());
    }
}
