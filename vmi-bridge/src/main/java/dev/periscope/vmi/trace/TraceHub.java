package dev.periscope.vmi.trace;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.ring.Breakpoint;
import dev.periscope.vmi.ring.ConsumerThreads;
import dev.periscope.vmi.ring.EventChannel;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingCounters;
import dev.periscope.vmi.ring.RingEventKind;
import dev.periscope.vmi.ring.RingMode;
import dev.periscope.vmi.ring.RingRecord;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trace machinery of one VM (engine-internal: use {@code VmiEngine.trace}). Owns the VM's single event-ring
 * consumer: one platform thread, started with the first session and stopped when the last one ends, that polls
 * the ring (spinning briefly, then parking), attributes records to processes (CR3 to process through the guest's
 * process list, refreshed on unknown CR3 values, bounded), decodes syscalls, answers synchronous events, and
 * publishes to every session whose processes the record belongs to (many sessions, one ring: Xen allows one
 * monitor ring per domain). The ring's configuration is the union of what the running sessions need: modes
 * from their {@link TraceMethod}s, the DTB filter set from their processes, the syscall-entry breakpoint while
 * any session traces syscalls. All ring and guest access happens on that thread; callers only enqueue.
 */
public final class TraceHub {

    private static final Logger log = LoggerFactory.getLogger(TraceHub.class);
    static final long DTB_MASK = 0x7FFF_FFFF_FFFF_E000L;
    /** How long a synchronous event may hold a vCPU (the process walk on an unknown CR3 runs within it). */
    static final Duration SYNC_TIMEOUT = Duration.ofMillis(20);
    private static final long PERIODIC_REFRESH_NS = 1_000_000_000L;
    /** Walks on demand (unknown CR3) per second at most; each unknown address space triggers at most one. */
    private static final int MAX_WALKS_PER_SECOND = 200;
    /** Spin this long after the last record before parking: while vCPUs wait for us, or not. */
    private static final long SPIN_SYNC_NS = 500_000L;
    private static final long SPIN_NS = 30_000L;
    private static final int NR_EXECVE = 59;
    private static final int NR_EXECVEAT = 322;

    private final String vm;
    private final EventChannel channel;
    private final PhysicalMemory memory;
    private final KernelProfile profile;
    private final int vcpus;
    private final SyscallDecoder decoder;
    private final long syscallEntry;
    /** wake_up_new_task: runs in the parent before a new child's first instruction (0 when not in kallsyms). */
    private final long forkHook;
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final List<TraceSession> sessions = new CopyOnWriteArrayList<>();
    private Thread thread; // guarded by this
    private volatile boolean shutdown;
    private volatile String shutdownReason = "";

    // ring-thread state
    private Map<Long, GuestProcess> byDtb = Map.of();
    private Map<Integer, GuestProcess> byPid = Map.of();
    private final Set<Long> unknownDtbs = new HashSet<>();
    private long walkWindowNs;
    private int walksInWindow;
    private long lastPeriodicNs;
    private boolean refreshSoon;
    private final long[] vcpuDtb = new long[64];
    private Set<Long> unionDtbs = Set.of();
    private Set<Long> armedDtbs = Set.of();
    private boolean armed;
    private RingControl applied = RingControl.off();
    private boolean synchronous;
    private long lastEventNs;
    // counters read by other threads (single writer: the ring thread)
    private volatile long cr3Records;
    private volatile long syscallRecords;
    private volatile long refreshes;
    private volatile long refreshNs;

    public TraceHub(String vm, EventChannel channel, PhysicalMemory memory, KernelProfile profile, int vcpus) {
        this.vm = vm;
        this.channel = channel;
        this.memory = memory;
        this.profile = profile;
        this.vcpus = Math.max(1, vcpus);
        this.decoder = new SyscallDecoder(SyscallTable.of(memory, profile), memory);
        this.syscallEntry = profile.symbols().address("entry_SYSCALL_64").orElse(0L);
        this.forkHook = profile.symbols().address("wake_up_new_task").orElse(0L);
        log.info("{}: syscall names: {}", vm, decoder.table());
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
        if (shutdown) {
            throw new SessionClosedException("tracing on " + vm + " stopped: " + shutdownReason);
        }
        if (request.method() != TraceMethod.M1) {
            if (channel == null) {
                throw new PlatformUnavailableException(vm + " has no hypervisor events (started without the "
                        + "event extension): only M1 can run");
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
            return started.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            close(s);
            throw new PlatformUnavailableException("tracing on " + vm + " did not start within 30 s");
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
        if (!submit(() -> stop(s, "closed"))) {
            s.end("closed");
        }
    }

    /** Ends every session (VM gone or engine closing) and stops the ring thread. */
    public void shutdown(String reason) {
        Thread t;
        synchronized (this) {
            shutdownReason = reason;
            shutdown = true;
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
        for (TraceSession s : sessions) {
            s.end(reason);
        }
        sessions.clear();
    }

    private boolean submit(Runnable command) {
        synchronized (this) {
            if (shutdown) {
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
                if (shutdown || sessions.isEmpty()) {
                    synchronized (this) {
                        if (shutdown || commands.isEmpty()) {
                            disarm();
                            thread = null;
                            log.debug("{}: ring thread stopped", vm);
                            return;
                        }
                    }
                    continue;
                }
                int n = 0;
                if (channel != null) {
                    n = channel.poll(this::onRecord, 4096);
                }
                long now = System.nanoTime();
                if (n > 0) {
                    lastEventNs = now;
                }
                if (refreshSoon || now - lastPeriodicNs > PERIODIC_REFRESH_NS) {
                    periodic(now);
                }
                if (n == 0) {
                    idleWait(now);
                }
            }
        } catch (VmiException e) {
            log.warn("{}: tracing stopped: {}", vm, e.getMessage());
            endAll("VM gone: " + e.getMessage());
        } catch (RuntimeException | Error e) {
            log.error("{}: ring thread failed", vm, e);
            endAll("internal error: " + e);
        }
    }

    private void endAll(String reason) {
        synchronized (this) {
            shutdownReason = reason;
            shutdown = true;
            thread = null;
        }
        try {
            disarm();
        } catch (RuntimeException ignored) {
            // the ring may be gone with the VM
        }
        for (TraceSession s : sessions) {
            s.end(reason);
        }
        sessions.clear();
    }

    /**
     * Spin after recent records (with synchronous modes a vCPU waits for each answer: spinning keeps the round
     * trip in microseconds), then park, longer when quiet.
     */
    private void idleWait(long now) {
        long quiet = now - lastEventNs;
        if (quiet < (synchronous ? SPIN_SYNC_NS : SPIN_NS)) {
            Thread.onSpinWait();
        } else if (synchronous && quiet < 100_000_000L) {
            LockSupport.parkNanos(15_000L); // a vCPU may be waiting: ~20 us with the low timer slack
        } else {
            LockSupport.parkNanos(quiet < 100_000_000L ? 50_000L : 500_000L);
        }
    }

    private void start(TraceSession s) {
        refresh(true);
        GuestProcess target;
        TraceRequest r = s.request();
        if (r.pid() > 0) {
            target = byPid.get(r.pid());
            if (target == null) {
                throw new NoSuchElementException("no process with pid " + r.pid() + " in " + vm);
            }
        } else {
            target = byPid.values().stream().filter(p -> !p.kernelThread() && p.name().equals(r.processName()))
                    .min((a, b) -> Integer.compare(a.pid(), b.pid()))
                    .orElseThrow(() -> new NoSuchElementException("no process named " + r.processName() + " in " + vm));
        }
        if (target.kernelThread()) {
            throw new NoSuchElementException("pid " + target.pid() + " in " + vm + " is a kernel thread (no syscalls)");
        }
        s.resolved(target.pid(), target.name());
        s.targets.add(target.pid());
        if (channel != null) {
            s.baseline = channel.counters();
            s.baseFlushes = channel.flushes();
        }
        s.baseCr3Records = cr3Records;
        s.baseSyscallRecords = syscallRecords;
        s.baseRefreshes = refreshes;
        s.baseRefreshNs = refreshNs;
        sessions.add(s);
        updateTargets(s, false);
        reconfigure();
    }

    private void stop(TraceSession s, String reason) {
        if (sessions.remove(s)) {
            reconfigure();
        }
        s.end(reason);
    }

    private void periodic(long now) {
        lastPeriodicNs = now;
        refreshSoon = false;
        if (channel != null && channel.producerDetached()) {
            throw new dev.periscope.vmi.VmGoneException(vm + " stopped (hypervisor extension detached)");
        }
        unknownDtbs.clear();
        refresh(true);
        for (TraceSession s : sessions) {
            updateTargets(s, true);
        }
        reconfigure();
    }

    /** Re-reads the process list; on demand (not forced) at most MAX_WALKS_PER_SECOND times a second. */
    private boolean refresh(boolean force) {
        long now = System.nanoTime();
        if (now - walkWindowNs > 1_000_000_000L) {
            walkWindowNs = now;
            walksInWindow = 0;
        }
        if (!force && walksInWindow >= MAX_WALKS_PER_SECOND) {
            return false;
        }
        walksInWindow++;
        List<GuestProcess> list = LinuxModel.processes(memory, profile).processes();
        Map<Long, GuestProcess> dtbs = new HashMap<>();
        Map<Integer, GuestProcess> pids = new HashMap<>();
        for (GuestProcess p : list) {
            pids.put(p.pid(), p);
            if (!p.kernelThread() && p.cr3() != 0) {
                dtbs.putIfAbsent(p.cr3() & DTB_MASK, p);
            }
        }
        byDtb = dtbs;
        byPid = pids;
        refreshes++;
        refreshNs += System.nanoTime() - now;
        return true;
    }

    /** Recomputes a session's processes and DTBs from the current process list; reports exec, child, exit. */
    private void updateTargets(TraceSession s, boolean report) {
        if (s.ended()) {
            return;
        }
        Set<Integer> next = new TreeSet<>();
        if (byPid.containsKey(s.pid())) {
            next.add(s.pid());
            if (s.request().followChildren()) {
                ArrayDeque<Integer> todo = new ArrayDeque<>(List.of(s.pid()));
                Map<Integer, List<Integer>> children = new HashMap<>();
                for (GuestProcess p : byPid.values()) {
                    children.computeIfAbsent(p.ppid(), k -> new ArrayList<>()).add(p.pid());
                }
                while (!todo.isEmpty() && next.size() < 4096) {
                    for (int c : children.getOrDefault(todo.poll(), List.of())) {
                        if (c != s.pid() && next.add(c)) {
                            todo.add(c);
                        }
                    }
                }
            }
        }
        Set<Long> dtbs = new HashSet<>();
        for (int pid : next) {
            GuestProcess p = byPid.get(pid);
            if (p.kernelThread() || p.cr3() == 0) {
                continue;
            }
            long d = p.cr3() & DTB_MASK;
            dtbs.add(d);
            if (report && s.targets.contains(pid) && !s.dtbs.isEmpty() && !s.dtbs.contains(d)) {
                s.emit(TraceEvent.session(TraceEvent.Kind.EXEC, pid, p.name(), p.cmdline()));
            }
        }
        if (report) {
            for (int pid : next) {
                if (!s.targets.contains(pid)) {
                    GuestProcess p = byPid.get(pid);
                    s.emit(TraceEvent.session(TraceEvent.Kind.CHILD, pid, p.name(), "child of " + p.ppid()));
                }
            }
            for (int pid : s.targets) {
                if (!next.contains(pid)) {
                    s.emit(TraceEvent.session(TraceEvent.Kind.EXIT, pid, "", "exited"));
                }
            }
        }
        s.targets.retainAll(next);
        s.targets.addAll(next);
        s.dtbs.retainAll(dtbs);
        s.dtbs.addAll(dtbs);
        if (!next.contains(s.pid())) {
            sessions.remove(s);
            s.end("target exited");
        }
    }

    /** Writes the union of the sessions' needs into the ring when it changed. */
    private void reconfigure() {
        if (channel == null) {
            return;
        }
        TraceMethod.Cr3 cr3 = TraceMethod.Cr3.NONE;
        TraceMethod.Syscalls sys = TraceMethod.Syscalls.NONE;
        boolean cr3Sync = false, sysSync = false, preread = false, follow = false, followSync = false;
        Set<Long> union = new TreeSet<>(Long::compareUnsigned);
        Set<Long> armedSet = new HashSet<>();
        for (TraceSession s : sessions) {
            TraceMethod m = s.method();
            if (m == TraceMethod.M1) {
                continue;
            }
            cr3 = m.cr3.ordinal() > cr3.ordinal() ? m.cr3 : cr3;
            sys = m.syscalls.ordinal() > sys.ordinal() ? m.syscalls : sys;
            cr3Sync |= m.cr3Sync && m.cr3 != TraceMethod.Cr3.NONE;
            sysSync |= m.syscallSync;
            preread |= m.preread && s.request().readStrings();
            union.addAll(s.dtbs);
            if (s.request().followChildren() && m.cr3 == TraceMethod.Cr3.FILTERED) {
                follow = true; // with filtered CR3 writes a child first scheduled after a stranger is invisible
                followSync |= m.cr3Sync;
            }
            if (m.syscalls == TraceMethod.Syscalls.ARMED) {
                armedSet.addAll(s.dtbs);
            }
        }
        unionDtbs = union;
        armedDtbs = armedSet;
        List<Long> dtbs = new ArrayList<>(union);
        if (dtbs.size() > RingControl.MAX_DTBS) {
            log.warn("{}: {} DTBs traced, the hypervisor filter holds {}: the rest are missed", vm, dtbs.size(),
                    RingControl.MAX_DTBS);
            dtbs = dtbs.subList(0, RingControl.MAX_DTBS);
        }
        armed = false;
        for (int v = 0; v < Math.min(vcpus, vcpuDtb.length); v++) {
            armed |= armedSet.contains(vcpuDtb[v]);
        }
        EnumSet<RingMode> modes = EnumSet.noneOf(RingMode.class);
        switch (cr3) {
            case ALL -> modes.add(RingMode.CR3);
            case FILTERED -> modes.addAll(List.of(RingMode.CR3, RingMode.CR3_FILTER));
            case NONE -> { }
        }
        if (cr3Sync && cr3 != TraceMethod.Cr3.NONE) {
            modes.add(RingMode.CR3_SYNC);
        }
        switch (sys) {
            case ALL -> modes.add(RingMode.SYSCALL);
            case FILTERED -> modes.addAll(List.of(RingMode.SYSCALL, RingMode.SYSCALL_FILTER));
            case ARMED -> {
                if (armed) {
                    modes.add(RingMode.SYSCALL);
                }
            }
            case NONE -> { }
        }
        if (sysSync && sys != TraceMethod.Syscalls.NONE) {
            modes.add(RingMode.SYSCALL_SYNC);
        }
        if (preread) {
            modes.add(RingMode.PREREAD);
        }
        List<Breakpoint> bps = new ArrayList<>();
        if (sys != TraceMethod.Syscalls.NONE) {
            bps.add(Breakpoint.syscallEntry(syscallEntry));
        }
        if (follow && forkHook != 0) {
            // a traced process's fork reaches Java before the child runs (synchronously for M4): its address
            // space is in the hypervisor's filter before its first instruction
            bps.add(new Breakpoint(forkHook, Breakpoint.Kind.PLAIN));
            modes.add(RingMode.BREAKPOINT);
            if (followSync) {
                modes.add(RingMode.BREAKPOINT_SYNC);
            }
        }
        RingControl next = new RingControl(modes, dtbs, bps, SYNC_TIMEOUT);
        synchronous = modes.contains(RingMode.CR3_SYNC) || modes.contains(RingMode.SYSCALL_SYNC);
        if (!next.equals(applied)) {
            channel.configure(next);
            applied = next;
        }
    }

    /** M3/M4: arm or disarm syscall delivery on a switch to or from a traced process (no table change). */
    private void rearm() {
        if (armedDtbs.isEmpty()) {
            return;
        }
        boolean now = false;
        for (int v = 0; v < Math.min(vcpus, vcpuDtb.length); v++) {
            now |= armedDtbs.contains(vcpuDtb[v]);
        }
        if (now != armed) {
            RingControl next = now ? applied.withModes(with(applied.modes(), RingMode.SYSCALL))
                    : applied.withModes(without(applied.modes(), RingMode.SYSCALL));
            armed = now;
            channel.configure(next);
            applied = next;
        }
    }

    private static RingMode[] with(Set<RingMode> modes, RingMode m) {
        EnumSet<RingMode> s = modes.isEmpty() ? EnumSet.noneOf(RingMode.class) : EnumSet.copyOf(modes);
        s.add(m);
        return s.toArray(RingMode[]::new);
    }

    private static RingMode[] without(Set<RingMode> modes, RingMode m) {
        EnumSet<RingMode> s = modes.isEmpty() ? EnumSet.noneOf(RingMode.class) : EnumSet.copyOf(modes);
        s.remove(m);
        return s.toArray(RingMode[]::new);
    }

    private void disarm() {
        if (channel != null && !applied.equals(RingControl.off())) {
            try {
                channel.configure(RingControl.off());
                // answer what is still in the ring: a vCPU may wait on a synchronous record nobody will handle
                channel.poll(r -> { }, 1 << 20);
            } catch (RuntimeException e) {
                log.debug("{}: cannot switch the ring off: {}", vm, e.getMessage());
            }
        }
        applied = RingControl.off();
        armed = false;
    }

    private void onRecord(RingRecord r) {
        RingEventKind kind = r.kind();
        switch (kind) {
            case CR3_WRITE -> onCr3(r);
            case SYSCALL -> onSyscall(r);
            case BREAKPOINT -> onFork(r);
            case DROP_MARKER -> {
                TraceEvent e = TraceEvent.dropped(r.timestampNs(), r.vcpu(), r.arg(0), "hypervisor ring full");
                for (TraceSession s : sessions) {
                    s.emit(e);
                }
            }
            default -> { }
        }
    }

    private void onCr3(RingRecord r) {
        cr3Records++;
        long oldDtb = r.oldCr3() & DTB_MASK;
        long newDtb = r.newCr3() & DTB_MASK;
        int v = r.vcpu();
        if (v >= 0 && v < vcpuDtb.length) {
            vcpuDtb[v] = newDtb;
        }
        // A switch to an address space nobody knows: a fresh child or an exec. From a traced process (the only
        // switches filtered modes deliver) or, when every CR3 write arrives, from anybody (a child may first run
        // after a stranger); each unknown space costs one walk at most (negative cache, cleared every second).
        boolean fromTraced = unionDtbs.contains(oldDtb) || applied.modes().contains(RingMode.CR3)
                && !applied.modes().contains(RingMode.CR3_FILTER);
        if (fromTraced && !unionDtbs.isEmpty() && !byDtb.containsKey(newDtb) && unknownDtbs.add(newDtb)) {
            if (refresh(false)) {
                for (TraceSession s : sessions) {
                    updateTargets(s, true);
                }
                reconfigure();
            } else {
                unknownDtbs.remove(newDtb);
                refreshSoon = true;
            }
        }
        rearm();
    }

    /** wake_up_new_task in a traced process: the child exists (linked, mm set) but has not run yet. */
    private void onFork(RingRecord r) {
        if (r.rip() != forkHook || !unionDtbs.contains(r.newCr3() & DTB_MASK)) {
            return;
        }
        if (refresh(false)) {
            for (TraceSession s : sessions) {
                updateTargets(s, true);
            }
            reconfigure();
        } else {
            refreshSoon = true;
        }
    }

    private void onSyscall(RingRecord r) {
        syscallRecords++;
        long dtb = r.newCr3() & DTB_MASK;
        GuestProcess p = byDtb.get(dtb);
        if (p == null && unknownDtbs.add(dtb)) {
            if (refresh(false)) {
                for (TraceSession s : sessions) {
                    updateTargets(s, true);
                }
                reconfigure();
                p = byDtb.get(dtb);
            } else {
                unknownDtbs.remove(dtb);
            }
        }
        if (!unionDtbs.contains(dtb)) {
            return;
        }
        TraceEvent e = null;
        boolean waits = r.synchronous();
        for (TraceSession s : sessions) {
            if (s.dtbs.contains(dtb)) {
                if (e == null) {
                    e = decoder.decode(r, p == null ? 0 : p.pid(), p == null ? "" : p.name(), s.request().readStrings(),
                            waits);
                }
                s.matched.incrementAndGet();
                s.emit(e);
            }
        }
        long nr = r.syscallNumber();
        if (nr == NR_EXECVE || nr == NR_EXECVEAT) {
            refreshSoon = true; // the new address space shows up at the next CR3 switch or periodic walk
        }
    }

    // ------------------------------------------------------------------ accounting

    OverheadSnapshot overhead(TraceSession s) {
        RingCounters c = RingCounters.ZERO;
        long flushes = 0;
        if (channel != null) {
            try {
                c = channel.counters().minus(s.baseline);
                flushes = channel.flushes() - s.baseFlushes;
            } catch (VmiException e) {
                // the ring is gone: report what the session counted itself
            }
        }
        Duration elapsed = s.elapsed();
        double slowdown = elapsed.isZero() ? 0 : (double) c.vcpuWaitNs() / ((double) elapsed.toNanos() * vcpus);
        return new OverheadSnapshot(Instant.now(), vm, s.method(), elapsed, c.seen(), c.filtered(), c.cr3Seen(),
                c.cr3Filtered(), cr3Records - s.baseCr3Records, syscallRecords - s.baseSyscallRecords, c.dropped(),
                s.matched.get(), s.emitted(), s.bufferDropped(), Duration.ofNanos(c.vcpuWaitNs()), c.syncTimeouts(),
                slowdown, flushes, refreshes - s.baseRefreshes, Duration.ofNanos(refreshNs - s.baseRefreshNs));
    }
}
