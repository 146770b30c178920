package dev.periscope.vmi.driver.lab;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.driver.qemu.QemuRamLayout;
import dev.periscope.vmi.driver.qemu.QemuSnapshot;
import dev.periscope.vmi.driver.qemu.RegisterDump;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.memory.RamLayout;
import dev.periscope.vmi.ring.EventChannel;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingToken;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An attached lab guest: its QMP socket and its RAM file mapped read-only, laid out as QEMU reports it (the file
 * is the one RAM block; up to 2816 MiB it is guest physical memory from address 0 as it is, above that q35 shows
 * its first 2 GiB at 0 and the rest from 4 GiB up).
 */
final class LabDomain implements Domain {

    private static final Logger log = LoggerFactory.getLogger(LabDomain.class);

    static final Duration QMP_TIMEOUT = Duration.ofSeconds(10);
    static final Set<Capability> CAPABILITIES = Set.copyOf(EnumSet.of(Capability.READ_MEMORY,
            Capability.VCPU_REGISTERS, Capability.PAUSE_RESUME, Capability.COW_SNAPSHOT));
    /** With the QEMU plugin loaded (meta.json names its ring): the hypervisor extension's capabilities too. */
    static final Set<Capability> CAPABILITIES_WITH_EVENTS = Set.copyOf(EnumSet.of(Capability.READ_MEMORY,
            Capability.VCPU_REGISTERS, Capability.PAUSE_RESUME, Capability.COW_SNAPSHOT, Capability.CR3_EVENTS,
            Capability.HYPERVISOR_CR3_FILTER, Capability.HYPERVISOR_BREAKPOINTS, Capability.SYNCHRONOUS_EVENTS));

    static Set<Capability> capabilitiesOf(LabMeta meta) {
        return meta.hasEventRing() ? CAPABILITIES_WITH_EVENTS : CAPABILITIES;
    }

    private final LabMeta meta;
    private final DomainInfo info;
    private final MappedPhysicalMemory ramFile;
    private final RamLayout layout;
    private final PhysicalMemory memory;
    private final QmpClient qmp;
    private final AtomicInteger snapshots = new AtomicInteger();
    /** One snapshot or pause at a time: QEMU runs one migration, and a pause during one would distort it. */
    private final ReentrantLock control = new ReentrantLock();
    private long pausedAtNanos = -1;
    private volatile Duration lastPause = Duration.ZERO;
    private volatile boolean closed;
    private EventRing ring; // guarded by this

    LabDomain(LabMeta meta, DomainInfo info) {
        this.meta = meta;
        this.info = info;
        this.qmp = QmpClient.connect(meta.qmpSocket(), QMP_TIMEOUT);
        MappedPhysicalMemory file = null;
        try {
            this.layout = QemuRamLayout.read(qmp, meta.memoryMib() << 20, info.name());
            if (layout.blocks().size() != 1) {
                throw new PlatformUnavailableException("lab VM " + info.name() + " has RAM blocks "
                        + layout.blocks() + ", not the one RAM file lab.sh gives it");
            }
            file = MappedPhysicalMemory.map(meta.ramPath());
            this.memory = layout.assemble(Map.of(layout.blocks().getFirst().name(), file));
            this.ramFile = file;
        } catch (RuntimeException e) {
            if (file != null) {
                file.close();
            }
            qmp.close();
            throw e instanceof IllegalArgumentException ? new PlatformUnavailableException("lab VM " + info.name()
                    + ": its RAM file " + meta.ramPath() + " does not hold its RAM block: " + e.getMessage(), e) : e;
        }
    }

    @Override
    public DomainInfo info() {
        return info;
    }

    @Override
    public Set<Capability> capabilities() {
        return capabilitiesOf(meta);
    }

    /**
     * The ring lab.sh created before QEMU started ({@code periscope-ring-init}), mapped with the capability from
     * the 0600 token file. Opening it switches the extension off (mode 0) in case an earlier Periscope left a
     * configuration behind; the engine's ring thread configures it from then on.
     */
    @Override
    public synchronized Optional<EventChannel> eventChannel() {
        open();
        if (ring != null) {
            return Optional.of(ring);
        }
        if (!meta.hasEventRing()) {
            return Optional.empty();
        }
        RingToken token;
        try {
            token = RingToken.parse(Files.readString(meta.ringTokenFile()).strip());
        } catch (IOException | IllegalArgumentException e) {
            throw new PlatformUnavailableException("cannot read the ring token of " + info.name() + " ("
                    + meta.ringTokenFile() + "): " + e.getMessage(), e);
        }
        ring = EventRing.open(meta.ringPath(), token);
        if (ring.armed()) {
            log.warn("{}: its event ring was left armed by an earlier Periscope: switching it off", info.name());
        }
        ring.configure(RingControl.off());
        return Optional.of(ring);
    }

    @Override
    public String eventsUnavailableReason() {
        return "it was started without the event extension (the Periscope QEMU plugin; "
                + (meta.events().isEmpty() ? "see its meta.json" : meta.events()) + ")";
    }

    @Override
    public PhysicalMemory memory() {
        open();
        return memory;
    }

    @Override
    public VcpuRegisters registers(int vcpu) {
        open();
        return RegisterDump.parse(qmp.humanMonitor("info registers -a"), vcpu);
    }

    @Override
    public int vcpuCount() {
        open();
        return qmp.execute("query-cpus-fast").size();
    }

    @Override
    public void pause() {
        open();
        control.lock();
        try {
            if (pausedAtNanos < 0) {
                long start = System.nanoTime();
                qmp.execute("stop");
                pausedAtNanos = start;
            }
        } finally {
            control.unlock();
        }
    }

    @Override
    public void resume() {
        open();
        control.lock();
        try {
            qmp.execute("cont");
            if (pausedAtNanos >= 0) {
                lastPause = Duration.ofNanos(System.nanoTime() - pausedAtNanos);
                pausedAtNanos = -1;
            }
        } finally {
            control.unlock();
        }
    }

    /** QEMU closes its monitor socket when it exits, however it exits (a SIGKILL included). */
    @Override
    public boolean alive() {
        return !closed && qmp.isOpen();
    }

    /** From sending "stop" to the reply to "cont": an upper bound of what the guest saw. */
    @Override
    public Duration lastPauseDuration() {
        return lastPause;
    }

    @Override
    public MemorySnapshot snapshot() {
        open();
        control.lock();
        try {
            if (pausedAtNanos >= 0) {
                throw new PlatformUnavailableException("cannot snapshot " + info.name() + " while it is paused");
            }
            var file = meta.runDir().resolve("snap-" + snapshots.incrementAndGet() + ".ram");
            QemuSnapshot.delete(file); // a leftover of an earlier server; QEMU would truncate it anyway
            return QemuSnapshot.take(qmp, file, "file:" + file, layout);
        } finally {
            control.unlock();
        }
    }

    private void open() {
        if (closed) {
            throw new SessionClosedException("lab domain " + info.name() + " is closed");
        }
        if (!qmp.isOpen()) {
            throw new VmGoneException("VM " + info.name() + " is gone (QMP socket closed)");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        control.lock();
        try {
            if (pausedAtNanos >= 0 && qmp.isOpen()) {
                // Never leave a tenant's guest stopped because its introspection handle went away.
                try {
                    qmp.execute("cont");
                } catch (RuntimeException e) {
                    // the VM may have gone meanwhile
                }
            }
        } finally {
            control.unlock();
            synchronized (this) {
                if (ring != null) {
                    try {
                        if (ring.producerAttached()) {
                            ring.configure(RingControl.off()); // nobody left to answer: never let a vCPU wait
                        }
                    } catch (RuntimeException ignored) {
                        // closing anyway
                    }
                    ring.close();
                    ring = null;
                }
            }
            qmp.close();
            ramFile.close();
        }
    }

    @Override
    public String toString() {
        return "LabDomain[" + info.name() + "]";
    }
}
