package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;
import dev.periscope.vmi.nativeapi.xen.periscope_xen_domain_info;
import dev.periscope.vmi.nativeapi.xen.periscope_xen_vcpu_regs;
import dev.periscope.vmi.ring.EventChannel;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingToken;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * An attached Xen domain. Owns the shim's domain handle (detached on close, which also stops its monitor), its
 * mapped-frame cache and, once asked for, its event channel. Thread-safe.
 */
public final class XenDomain implements Domain {
    /** Pool size of {@link #snapshot()}: 64 MiB of first writes before the snapshot overflows. */
    static final int SNAPSHOT_POOL_PAGES = 16384;
    /** Records per vCPU lane of {@link #eventChannel()}'s ring (4 MiB per lane at 256 bytes a record). */
    static final int EVENT_LANE_CAPACITY = 16384;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final int domid;
    private final int features;
    private final Set<Capability> capabilities;
    private final XenPhysicalMemory memory;
    private final DomainInfo info;
    private XenMonitor monitor;
    private EventRing eventRing;
    private long pausedAt;
    private Duration lastPause = Duration.ZERO;
    private boolean closed;

    private XenDomain(MemorySegment rawHandle, int domid) {
        this.handle = rawHandle.reinterpret(arena, PeriscopeXen::periscope_xen_detach);
        this.domid = domid;
        this.features = PeriscopeXen.periscope_xen_features(handle);
        DomainInfo info;
        long maxGfn;
        boolean hvm;
        try (Arena call = Arena.ofConfined()) {
            MemorySegment s = periscope_xen_domain_info.allocate(call);
            XenStatus.check(PeriscopeXen.periscope_xen_info(handle, s), "domain " + domid);
            XenDomainEntry e = XenDomainEntry.of(s);
            maxGfn = e.maxGfn();
            hvm = e.hvm();
            info = e.info();
        }
        this.capabilities = Collections.unmodifiableSet(capabilitiesOf(features));
        this.memory = new XenPhysicalMemory(this, (maxGfn + 1) * XenPhysicalMemory.PAGE, !hvm);
        this.info = info;
    }

    static XenDomain attach(MemorySegment xen, int domid) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ValueLayout.ADDRESS);
            XenStatus.check(PeriscopeXen.periscope_xen_attach(xen, domid, out), "attaching domain " + domid);
            MemorySegment raw = out.get(ValueLayout.ADDRESS, 0);
            try {
                return new XenDomain(raw, domid);
            } catch (RuntimeException e) {
                PeriscopeXen.periscope_xen_detach(raw);
                throw e;
            }
        }
    }

    private static Set<Capability> capabilitiesOf(int features) {
        Set<Capability> caps = EnumSet.of(Capability.READ_MEMORY, Capability.VCPU_REGISTERS, Capability.PAUSE_RESUME);
        if ((features & PeriscopeXen.PERISCOPE_XEN_FEATURE_MONITOR()) != 0) {
            caps.add(Capability.CR3_EVENTS);
            caps.add(Capability.SYNCHRONOUS_EVENTS);
        }
        if ((features & PeriscopeXen.PERISCOPE_XEN_FEATURE_CR3_FILTER()) != 0) {
            caps.add(Capability.HYPERVISOR_CR3_FILTER);
        }
        if ((features & PeriscopeXen.PERISCOPE_XEN_FEATURE_BREAKPOINTS()) != 0) {
            caps.add(Capability.HYPERVISOR_BREAKPOINTS);
        }
        if ((features & PeriscopeXen.PERISCOPE_XEN_FEATURE_SNAPSHOT()) != 0) {
            caps.add(Capability.COW_SNAPSHOT);
        }
        return caps;
    }

    /** The shim's handle, for the package's other owners (mappings, monitor, snapshot). */
    MemorySegment handle() {
        ensureOpen();
        return handle;
    }

    int domid() {
        return domid;
    }

    /** The guest frame of a machine frame from a PV guest's page tables; PageNotPresentException when not the guest's. */
    long gfnOfFrame(long frame) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ValueLayout.JAVA_LONG);
            XenStatus.check(PeriscopeXen.periscope_xen_gfn_of_frame(handle(), frame, out),
                    "machine frame 0x" + Long.toHexString(frame) + " of domain " + domid, frame << 12);
            return out.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    @Override
    public DomainInfo info() {
        return info;
    }

    @Override
    public Set<Capability> capabilities() {
        return capabilities;
    }

    @Override
    public PhysicalMemory memory() {
        ensureOpen();
        return memory;
    }

    @Override
    public synchronized VcpuRegisters registers(int vcpu) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment r = periscope_xen_vcpu_regs.allocate(call);
            XenStatus.check(PeriscopeXen.periscope_xen_vcpu_registers(handle(), vcpu, r), "vCPU " + vcpu + " of domain " + domid);
            return new VcpuRegisters(vcpu, periscope_xen_vcpu_regs.cr3(r), periscope_xen_vcpu_regs.cr4(r),
                    periscope_xen_vcpu_regs.efer(r), periscope_xen_vcpu_regs.rip(r), periscope_xen_vcpu_regs.gs_base(r),
                    periscope_xen_vcpu_regs.kernel_gs_base(r));
        }
    }

    @Override
    public synchronized int vcpuCount() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment s = periscope_xen_domain_info.allocate(call);
            XenStatus.check(PeriscopeXen.periscope_xen_info(handle(), s), "domain " + domid);
            return periscope_xen_domain_info.vcpus(s);
        }
    }

    @Override
    public synchronized void pause() {
        XenStatus.check(PeriscopeXen.periscope_xen_pause(handle()), "pausing domain " + domid);
        pausedAt = System.nanoTime();
    }

    @Override
    public synchronized void resume() {
        XenStatus.check(PeriscopeXen.periscope_xen_resume(handle()), "resuming domain " + domid);
        if (pausedAt != 0) {
            lastPause = Duration.ofNanos(System.nanoTime() - pausedAt);
            pausedAt = 0;
        }
    }

    @Override
    public synchronized Duration lastPauseDuration() {
        return lastPause;
    }

    /** A copy-on-write snapshot kept by the hypervisor (xen-extensions patch 3); the guest keeps running. */
    @Override
    public MemorySnapshot snapshot() {
        if (!capabilities.contains(Capability.COW_SNAPSHOT)) {
            throw new PlatformUnavailableException("Copy-on-write snapshots need the Periscope Xen extensions, "
                    + "which this hypervisor (or guest type) lacks.");
        }
        return XenSnapshot.begin(this, SNAPSHOT_POOL_PAGES, memory.size());
    }

    /**
     * Starts the domain's vm_event monitor writing into the Periscope event ring at {@code ring} (created by the
     * consumer, e.g. {@code EventRing.create}); configure it through the ring's control block.
     */
    public synchronized XenMonitor startMonitor(Path ring, RingToken token) {
        if (monitor != null && !monitor.isClosed()) {
            throw new IllegalStateException("domain " + domid + " already has a monitor");
        }
        monitor = XenMonitor.start(this, ring, token);
        return monitor;
    }

    /**
     * The domain's vm_event monitor writing into a Periscope ring that this domain creates (in /dev/shm, 0600,
     * a fresh capability token) and owns: the engine's traces run on it as on the lab's QEMU plugin. Started
     * switched off on first use; empty for a guest without vm_event (PV). Fails with the shim's typed error when
     * Xen refuses the monitor (FLASK, or another monitor holds the domain's only vm_event ring: EBUSY).
     */
    @Override
    public synchronized Optional<EventChannel> eventChannel() {
        ensureOpen();
        if (eventRing != null) {
            return Optional.of(eventRing);
        }
        if (!capabilities.contains(Capability.CR3_EVENTS)) {
            return Optional.empty();
        }
        RingToken token = RingToken.random();
        Path dir = Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        EventRing ring = EventRing.create(dir.resolve("periscope-xen-d" + domid + "-" + ProcessHandle.current().pid()
                + ".ring"), vcpuCount(), EVENT_LANE_CAPACITY, token);
        try {
            ring.configure(RingControl.off());
            startMonitor(ring.path(), token);
        } catch (RuntimeException e) {
            ring.close();
            throw e;
        }
        eventRing = ring;
        return Optional.of(ring);
    }

    @Override
    public boolean releaseEventChannel() {
        XenMonitor m;
        EventRing ring;
        synchronized (this) {
            if (closed || eventRing == null) {
                return false;
            }
            m = monitor;
            ring = eventRing;
            monitor = null;
            eventRing = null;
        }
        stopEvents(m, ring);
        return true;
    }

    @Override
    public void close() {
        XenMonitor m;
        EventRing ring;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            m = monitor;
            ring = eventRing;
        }
        try {
            stopEvents(m, ring);
        } finally {
            memory.close();
            arena.close();
        }
    }

    /**
     * Stops the monitor (it disarms, answers what waits in the vm_event ring and disables it; it may report why its
     * event thread stopped), then closes the ring, after it: the shim no longer writes into it. Either may be null.
     */
    private static void stopEvents(XenMonitor m, EventRing ring) {
        try {
            if (m != null) {
                m.close();
            }
        } finally {
            if (ring != null) {
                ring.close();
            }
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("Xen domain " + domid + " is closed");
        }
    }
}
