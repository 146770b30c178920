package dev.periscope.vmi;

import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.linux.ThreadDetail;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.ring.EventChannel;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.trace.TraceEnd;
import dev.periscope.vmi.trace.TraceHub;
import dev.periscope.vmi.trace.TraceMethod;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * The introspection engine facade: one per host, over one {@link HypervisorDriver}. Keeps one attached
 * {@link Domain} per VM (re-attached when the VM restarted) with its kernel profile, and a
 * {@link KernelProfileCache} shared by all VMs so a kernel build is decoded once.
 *
 * <p>Thread-safe: calls for different VMs run in parallel; calls for one VM are serialised (a pause must not
 * interleave with another caller's resume).
 */
public final class VmiEngine implements AutoCloseable {

    private final HypervisorDriver driver;
    private final KernelProfileCache profiles;
    private final Map<String, Attachment> attached = new ConcurrentHashMap<>();
    private final Map<String, ReentrantLock> locks = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** One attached VM: its domain, the boot it belongs to and the profile derived for that boot. */
    private static final class Attachment {
        final Domain domain;
        final Instant startedAt;
        KernelProfile profile;
        /** The VM's trace machinery (its ring thread runs only while sessions do); null until the first trace. */
        TraceHub traces;
        /** Since when no trace has run on the VM, as {@link #releaseIdleEvents} saw it; null while one runs. */
        Instant eventsIdleSince;

        Attachment(Domain domain, Instant startedAt) {
            this.domain = domain;
            this.startedAt = startedAt;
        }
    }

    public VmiEngine(HypervisorDriver driver) {
        this(driver, new KernelProfileCache());
    }

    /** An engine whose kernel profiles come from (and go to) {@code profiles}, e.g. one backed by a ProfileStore. */
    public VmiEngine(HypervisorDriver driver, KernelProfileCache profiles) {
        this.driver = Objects.requireNonNull(driver);
        this.profiles = Objects.requireNonNull(profiles);
    }

    public List<DomainInfo> domains() {
        open();
        return driver.domains();
    }

    public Optional<DomainInfo> domain(String vm) {
        open();
        return driver.domain(vm);
    }

    /**
     * Lets go of VMs that stopped or restarted since they were attached: their traces end with
     * {@link TraceEnd.Reason#VM_GONE} and their mappings, sockets and event ring are released, which would otherwise
     * be held until the next call for that VM (and a trace of a VM killed without a goodbye would run on over its
     * last memory). A VM is stopped when its domain says so ({@link Domain#alive()}) or its driver lists it stopped or
     * booted again; one whose platform does not answer is kept, and one busy with a call is looked at the next time.
     * Whoever watches the host calls this with every listing (an agent: every second).
     *
     * @return the VMs let go of
     */
    public List<String> releaseStopped() {
        open();
        List<String> released = new ArrayList<>();
        for (Map.Entry<String, Attachment> e : attached.entrySet()) {
            String vm = e.getKey();
            if (!stopped(vm, e.getValue())) {
                continue;
            }
            ReentrantLock lock = locks.computeIfAbsent(vm, k -> new ReentrantLock());
            if (lock.tryLock()) {
                try {
                    if (attached.get(vm) == e.getValue()) {
                        detach(vm);
                        released.add(vm);
                    }
                } finally {
                    lock.unlock();
                }
            }
        }
        return released;
    }

    /**
     * Lets go of the event channels of VMs on which no trace has run for {@code idleFor} (their hypervisor side
     * too, {@link Domain#releaseEventChannel}): Xen gives a domain a single vm_event ring, and while this engine holds
     * it another monitor (a tenant's, in its own monitoring domain) gets EBUSY. The next trace opens a new channel.
     * A VM busy with a call is looked at the next time. Whoever watches the host calls this with every listing (an
     * agent: every second).
     *
     * @return the VMs whose channel was let go of
     */
    public List<String> releaseIdleEvents(Duration idleFor) {
        open();
        Instant now = Instant.now();
        List<String> released = new ArrayList<>();
        for (Map.Entry<String, Attachment> e : attached.entrySet()) {
            String vm = e.getKey();
            Attachment a = e.getValue();
            ReentrantLock lock = locks.computeIfAbsent(vm, k -> new ReentrantLock());
            if (!lock.tryLock()) {
                continue;
            }
            try {
                if (attached.get(vm) != a) {
                    continue;
                }
                if (a.traces != null && !a.traces.idle()) {
                    a.eventsIdleSince = null;
                    continue;
                }
                if (a.eventsIdleSince == null) {
                    a.eventsIdleSince = now;
                }
                if (Duration.between(a.eventsIdleSince, now).compareTo(idleFor) < 0) {
                    continue;
                }
                if (a.traces != null) {
                    a.traces.shutdown(TraceEnd.of(TraceEnd.Reason.CLOSED)); // idle: no session to end
                    a.traces = null;
                }
                if (a.domain.releaseEventChannel()) {
                    released.add(vm);
                }
            } finally {
                lock.unlock();
            }
        }
        return released;
    }

    private boolean stopped(String vm, Attachment a) {
        if (!a.domain.alive()) {
            return true;
        }
        try {
            return driver.domain(vm).map(info -> !info.running() || !Objects.equals(info.startedAt(), a.startedAt))
                    .orElse(false);
        } catch (PlatformUnavailableException e) {
            return false; // the platform does not answer now: ask again next time
        }
    }

    /** What the VM's platform can do for it; does not attach. */
    public Set<Capability> capabilities(String vm) {
        open();
        return driver.capabilities(vm);
    }

    /** The kernel profile of a VM, derived from live memory on first use after each boot. */
    public KernelProfile profile(String vm) {
        return withDomain(vm, a -> profileOf(a, a.domain.memory()));
    }

    /**
     * Starts a process-bound syscall trace ({@link TraceSession}: a Flux of events, overhead accounting, close).
     * All sessions on one VM share its single event ring and one ring thread; the ring traps only what the running
     * sessions need. Blocks for a process-list walk (milliseconds): call it off the event loop.
     *
     * @throws java.util.NoSuchElementException no such process in the guest
     * @throws PlatformUnavailableException     the VM's platform has no hypervisor events (methods M2..M5): the
     *                                          message says why (lab VM without the plugin, libvirt/KVM domain)
     * @throws VmGoneException                  the VM is not running
     */
    public TraceSession trace(String vm, TraceRequest request) {
        Objects.requireNonNull(request, "request");
        // opened under the VM's lock, so that releaseIdleEvents cannot shut the hub between its creation and the open
        return withDomain(vm, a -> {
            if (request.method() != TraceMethod.M1 && !a.domain.capabilities().contains(Capability.CR3_EVENTS)) {
                throw new PlatformUnavailableException(vm + ": syscall tracing with method " + request.method()
                        + " is not available, only M1: " + a.domain.eventsUnavailableReason());
            }
            if (a.traces == null) {
                PhysicalMemory memory = a.domain.memory();
                KernelProfile profile = profileOf(a, memory);
                a.traces = new TraceHub(vm, a.domain.eventChannel().orElse(null), memory, profile,
                        a.domain.vcpuCount());
            }
            a.eventsIdleSince = null;
            return a.traces.open(request);
        });
    }

    /**
     * Leaves nothing armed in the VM's hypervisor extension unless a trace of this engine runs on it: switches its
     * event ring off (modes, DTB filters, breakpoints). Opening a ring already does this once per attachment (a
     * previous server, or a crashed one, may have left filters set and vCPUs waiting for a consumer that is gone);
     * a server calls this for every running VM at start-up so that it holds without waiting for a first trace.
     *
     * @return whether the ring had been armed before (false when the VM has no event ring)
     * @throws VmGoneException the VM is not running
     */
    public boolean disarmEvents(String vm) {
        return withDomain(vm, a -> {
            if (a.traces != null && !a.traces.idle()) {
                return false;
            }
            return a.domain.eventChannel().map(channel -> {
                boolean armed = channel.armed();
                if (armed) {
                    channel.configure(RingControl.off());
                }
                return armed;
            }).orElse(false);
        });
    }

    /**
     * Whether the VM's hypervisor extension traps or filters anything now, as its ring's control block says
     * (what the extension reads, not what Java last meant to write); false when the VM has no event ring.
     */
    public boolean eventsArmed(String vm) {
        return withDomain(vm, a -> a.domain.eventChannel().map(EventChannel::armed).orElse(false));
    }

    /**
     * The guest kernel's code at {@code symbol} as the running guest has it now (live memory): what a breakpoint
     * would have changed, so a caller can check that none is left after a trace.
     *
     * @param length bytes to read, 1..64
     * @throws NoSuchElementException the guest kernel has no such symbol
     * @throws VmGoneException        the VM is not running
     */
    public byte[] kernelCode(String vm, String symbol, int length) {
        if (length < 1 || length > 64) {
            throw new IllegalArgumentException("length must be within 1..64: " + length);
        }
        return withDomain(vm, a -> {
            PhysicalMemory memory = a.domain.memory();
            KernelProfile profile = profileOf(a, memory);
            long va = profile.symbols().address(symbol)
                    .orElseThrow(() -> new NoSuchElementException(vm + "'s kernel has no symbol " + symbol));
            byte[] code = new byte[length];
            memory.read(profile.imagePhysical(va), code, 0, length);
            return code;
        });
    }

    /**
     * Lists the processes of a VM. SNAPSHOT reads a copy-on-write snapshot (fails with
     * {@link PlatformUnavailableException} when the platform has none: there is no silent fallback), PAUSE stops
     * the guest for the walk, LIVE reads the running guest and labels the result inconsistent.
     */
    public ProcessList processes(String vm, AcquisitionMode mode) {
        return processes(vm, mode, ThreadDetail.IDS);
    }

    /**
     * Lists the processes of a VM as {@link #processes(String, AcquisitionMode)} does, with each thread's name and
     * state as well when {@code threads} is {@link ThreadDetail#FULL}.
     */
    public ProcessList processes(String vm, AcquisitionMode mode, ThreadDetail threads) {
        Objects.requireNonNull(mode);
        Objects.requireNonNull(threads);
        return withDomain(vm, a -> switch (mode) {
            case SNAPSHOT -> fromSnapshot(vm, a, threads);
            case PAUSE -> paused(vm, a, threads);
            case LIVE -> live(vm, a, threads);
        });
    }

    private ProcessList fromSnapshot(String vm, Attachment a, ThreadDetail threads) {
        if (!a.domain.capabilities().contains(Capability.COW_SNAPSHOT)) {
            throw new PlatformUnavailableException(vm + ": platform " + a.domain.info().platform()
                    + " cannot take copy-on-write snapshots");
        }
        // Derive the profile from live memory first (it does not change while the guest runs), so the
        // snapshot's age reflects the walk, not a cold profile build.
        KernelProfile profile = profileOf(a, a.domain.memory());
        try (MemorySnapshot snapshot = a.domain.snapshot()) {
            PhysicalMemory memory = snapshot.memory();
            long t0 = System.nanoTime();
            LinuxModel.Processes p = LinuxModel.processes(memory, profile, threads);
            Duration read = Duration.ofNanos(System.nanoTime() - t0);
            Duration age = Duration.between(snapshot.takenAt(), Instant.now());
            return new ProcessList(vm, profile.release(), AcquisitionMode.SNAPSHOT, true, snapshot.takenAt(),
                    snapshot.guestDowntime(), age.isNegative() ? Duration.ZERO : age, read, p.processes(),
                    p.warnings());
        }
    }

    private ProcessList paused(String vm, Attachment a, ThreadDetail threads) {
        if (!a.domain.capabilities().contains(Capability.PAUSE_RESUME)) {
            throw new PlatformUnavailableException(vm + ": platform " + a.domain.info().platform() + " cannot pause guests");
        }
        // Derive the profile before pausing: the guest pays only for the walk.
        KernelProfile profile = profileOf(a, a.domain.memory());
        LinuxModel.Processes p;
        Instant takenAt;
        long paused;
        long read;
        a.domain.pause();
        long t0 = System.nanoTime();
        takenAt = Instant.now();
        try {
            p = LinuxModel.processes(a.domain.memory(), profile, threads);
            read = System.nanoTime() - t0;
        } finally {
            try {
                a.domain.resume();
            } finally {
                paused = System.nanoTime() - t0;
            }
        }
        return new ProcessList(vm, profile.release(), AcquisitionMode.PAUSE, true, takenAt, Duration.ofNanos(paused),
                Duration.ZERO, Duration.ofNanos(read), p.processes(), p.warnings());
    }

    private ProcessList live(String vm, Attachment a, ThreadDetail threads) {
        PhysicalMemory memory = a.domain.memory();
        KernelProfile profile = profileOf(a, memory);
        Instant takenAt = Instant.now();
        long t0 = System.nanoTime();
        LinuxModel.Processes p = LinuxModel.processes(memory, profile, threads);
        return new ProcessList(vm, profile.release(), AcquisitionMode.LIVE, false, takenAt, Duration.ZERO,
                Duration.ZERO, Duration.ofNanos(System.nanoTime() - t0), p.processes(), p.warnings());
    }

    private KernelProfile profileOf(Attachment a, PhysicalMemory memory) {
        if (a.profile == null) {
            a.profile = LinuxModel.profile(memory, profiles, runningCr3(a.domain));
        }
        return a.profile;
    }

    /**
     * vCPU 0's CR3 when the platform reads registers: discovery then accepts only the kernel that vCPU runs, never
     * a copy of a kernel image that software in the guest wrote elsewhere in its memory.
     */
    private static OptionalLong runningCr3(Domain domain) {
        if (!domain.capabilities().contains(Capability.VCPU_REGISTERS)) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(domain.registers(0).cr3());
        } catch (VmiException e) {
            return OptionalLong.empty(); // a platform that cannot read them now: discovery from memory alone
        }
    }

    /** Runs {@code action} on the VM's attachment under its lock; re-attaches once when the VM restarted. */
    private <T> T withDomain(String vm, Function<Attachment, T> action) {
        open();
        ReentrantLock lock = locks.computeIfAbsent(vm, k -> new ReentrantLock());
        lock.lock();
        try {
            open();
            Attachment a = attachment(vm);
            try {
                return action.apply(a);
            } catch (VmGoneException e) {
                detach(vm);
                // The VM may have been restarted under the same name: one fresh attempt.
                Optional<DomainInfo> info = driver.domain(vm);
                if (info.isEmpty() || !info.get().running()) {
                    throw e;
                }
                return action.apply(attachment(vm));
            }
        } finally {
            lock.unlock();
        }
    }

    private Attachment attachment(String vm) {
        Attachment a = attached.get(vm);
        DomainInfo info = driver.domain(vm)
                .orElseThrow(() -> { detach(vm); return new VmGoneException("no VM named " + vm); });
        if (!info.running()) {
            detach(vm);
            throw new VmGoneException(vm + " is not running");
        }
        if (a != null && !Objects.equals(a.startedAt, info.startedAt())) {
            detach(vm); // restarted: new boot, new KASLR slide
            a = null;
        }
        if (a == null) {
            a = new Attachment(driver.open(vm), info.startedAt());
            attached.put(vm, a);
        }
        return a;
    }

    private void detach(String vm) {
        Attachment a = attached.remove(vm);
        if (a != null) {
            if (a.traces != null) {
                a.traces.shutdown(closed ? TraceEnd.of(TraceEnd.Reason.ENGINE_CLOSED)
                        : new TraceEnd(TraceEnd.Reason.VM_GONE, "VM detached (stopped or restarted)"));
            }
            try {
                a.domain.close();
            } catch (RuntimeException ignored) {
                // a vanished VM may fail to close cleanly; nothing is left to release
            }
        }
    }

    private void open() {
        if (closed) {
            throw new SessionClosedException("VmiEngine is closed");
        }
    }

    /** Detaches every VM; the driver belongs to the caller and stays open. */
    @Override
    public void close() {
        closed = true;
        for (String vm : List.copyOf(attached.keySet())) {
            ReentrantLock lock = locks.computeIfAbsent(vm, k -> new ReentrantLock());
            lock.lock();
            try {
                detach(vm);
            } finally {
                lock.unlock();
            }
        }
    }

}
