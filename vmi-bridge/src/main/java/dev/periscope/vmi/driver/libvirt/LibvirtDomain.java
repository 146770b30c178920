package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.driver.qemu.QemuRam;
import dev.periscope.vmi.driver.qemu.QemuRamLayout;
import dev.periscope.vmi.driver.qemu.QemuSnapshot;
import dev.periscope.vmi.driver.qemu.RegisterDump;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.memory.RamLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An attached libvirt domain: its libvirt handle, its QEMU monitor through libvirt, and its live RAM laid out as
 * QEMU reports it (a shared backing file read directly, anonymous RAM through the QEMU process). Before each use
 * of its memory the layout is checked against the memory size libvirt reports, and read again when memory was
 * plugged or unplugged.
 */
final class LibvirtDomain implements Domain {

    private static final Logger log = LoggerFactory.getLogger(LibvirtDomain.class);

    private final LibvirtConfig config;
    private final LibvirtDomainHandle handle;
    private final LibvirtMonitor monitor;
    private final DomainInfo info;
    private final String uuid;
    private final QemuProcess process;
    private final Set<Capability> capabilities;
    private final AtomicInteger snapshots = new AtomicInteger();
    /** One snapshot or pause at a time: QEMU runs one migration, and a pause during one would distort it. */
    private final ReentrantLock control = new ReentrantLock();
    private QemuRam ram; // guarded by this
    private long pausedAtNanos = -1;
    /** Whether the domain was paused already when asked to pause: then resume leaves it paused. */
    private boolean pausedBefore;
    private volatile Duration lastPause = Duration.ZERO;
    private volatile boolean closed;

    private LibvirtDomain(LibvirtConfig config, LibvirtDomainHandle handle, LibvirtGuest guest, QemuProcess process,
                          boolean snapshots, QemuRam ram) {
        this.config = config;
        this.handle = handle;
        this.monitor = new LibvirtMonitor(handle);
        this.info = guest.info();
        this.uuid = guest.uuid();
        this.process = process;
        this.capabilities = snapshots ? LibvirtDriver.CAPABILITIES_WITH_SNAPSHOTS : LibvirtDriver.CAPABILITIES;
        this.ram = ram;
    }

    /** Attaches: reads the RAM layout from QEMU and opens the RAM. Takes ownership of {@code handle}. */
    static LibvirtDomain open(LibvirtConfig config, LibvirtDomainHandle handle, LibvirtGuest guest,
                              QemuProcess process, boolean snapshots) {
        RamLayout layout = QemuRamLayout.read(new LibvirtMonitor(handle), guest.memoryBytes(), guest.name());
        QemuRam ram = QemuRam.open(layout, process.pid(), process.startTicks());
        log.debug("attached libvirt domain {}: {}", guest.name(), ram);
        return new LibvirtDomain(config, handle, guest, process, snapshots, ram);
    }

    @Override
    public DomainInfo info() {
        return info;
    }

    @Override
    public Set<Capability> capabilities() {
        return capabilities;
    }

    /** The live RAM, its layout checked against libvirt's memory size first (one libvirt call). */
    @Override
    public PhysicalMemory memory() {
        return currentRam().memory();
    }

    /** The live RAM's owner: which blocks are read straight from a shared file. */
    synchronized QemuRam currentRam() {
        ensureOpen();
        long memoryBytes = handle.info().maxMemoryBytes();
        if (memoryBytes != ram.layout().ramBytes()) {
            log.info("libvirt domain {} now has {} bytes of memory, {} when attached: reading its RAM layout again",
                    info.name(), memoryBytes, ram.layout().ramBytes());
            RamLayout layout = QemuRamLayout.read(monitor, memoryBytes, info.name());
            QemuRam fresh = QemuRam.open(layout, process.pid(), process.startTicks());
            ram.close();
            ram = fresh;
        }
        return ram;
    }

    @Override
    public VcpuRegisters registers(int vcpu) {
        ensureOpen();
        return RegisterDump.parse(monitor.humanMonitor("info registers -a"), vcpu);
    }

    @Override
    public int vcpuCount() {
        ensureOpen();
        return handle.info().vcpus();
    }

    @Override
    public void pause() {
        ensureOpen();
        control.lock();
        try {
            if (pausedAtNanos < 0) {
                pausedBefore = handle.info().state() == LibvirtState.PAUSED;
                long start = System.nanoTime();
                if (!pausedBefore) {
                    handle.suspend();
                }
                pausedAtNanos = start;
            }
        } finally {
            control.unlock();
        }
    }

    @Override
    public void resume() {
        ensureOpen();
        control.lock();
        try {
            if (pausedAtNanos >= 0 && !pausedBefore) {
                handle.resume();
                lastPause = Duration.ofNanos(System.nanoTime() - pausedAtNanos);
            }
            pausedAtNanos = -1;
        } finally {
            control.unlock();
        }
    }

    /** From asking libvirt to suspend to its answer to resume: an upper bound of what the guest saw. */
    @Override
    public Duration lastPauseDuration() {
        return lastPause;
    }

    /**
     * A background snapshot into a file of {@link LibvirtConfig#snapshotDir()}, handed to QEMU as a descriptor
     * through the monitor (QEMU may not be allowed to open a path of Periscope's).
     */
    @Override
    public MemorySnapshot snapshot() {
        ensureOpen();
        if (!capabilities.contains(Capability.COW_SNAPSHOT)) {
            throw new PlatformUnavailableException("libvirt domain " + info.name() + " cannot take copy-on-write "
                    + "snapshots (its QEMU refused background snapshots: an unprivileged QEMU may not use userfaultfd, "
                    + "RAM in a file on a disk filesystem cannot be write-protected); use pause or live reads");
        }
        control.lock();
        try {
            if (pausedAtNanos >= 0) {
                throw new PlatformUnavailableException("cannot snapshot " + info.name() + " while it is paused");
            }
            RamLayout layout = currentRam().layout();
            Path file = config.snapshotDir().resolve("periscope-" + uuid + "-" + snapshots.incrementAndGet() + ".ram");
            QemuSnapshot.delete(file);
            int fdset = monitor.addFile(file);
            try {
                return QemuSnapshot.take(monitor, file, "file:/dev/fdset/" + fdset, layout);
            } finally {
                try {
                    monitor.execute("remove-fd", Map.of("fdset-id", fdset));
                } catch (RuntimeException e) {
                    log.warn("cannot remove fd set {} from {}: {}", fdset, info.name(), e.getMessage());
                }
            }
        } finally {
            control.unlock();
        }
    }

    @Override
    public String eventsUnavailableReason() {
        return "libvirt domains have no hypervisor event channel: syscall tracing (methods M2..M5) needs the "
                + "Periscope QEMU plugin, which only lab guests (TCG) load, and KVM runs guest code where no plugin "
                + "sees it";
    }

    private void ensureOpen() {
        if (closed) {
            throw new SessionClosedException("libvirt domain " + info.name() + " is closed");
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
            if (pausedAtNanos >= 0 && !pausedBefore) {
                // Never leave a tenant's guest stopped because its introspection handle went away.
                try {
                    handle.resume();
                } catch (RuntimeException e) {
                    log.debug("resuming {} on close: {}", info.name(), e.getMessage());
                }
            }
        } finally {
            control.unlock();
            synchronized (this) {
                ram.close();
            }
            handle.close();
        }
    }

    @Override
    public String toString() {
        return "LibvirtDomain[" + info.name() + "]";
    }
}
