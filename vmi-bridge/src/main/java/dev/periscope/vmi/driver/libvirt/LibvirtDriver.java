package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.qemu.QemuSnapshot;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The libvirt platform ("libvirt"): the QEMU/KVM domains a libvirt on this host runs, introspected with no change
 * to their definitions. Domains are listed from libvirt on every call, so they appear and disappear as libvirt
 * defines, starts, stops and undefines them; a domain's owner comes from its Periscope metadata
 * ({@link #METADATA_NAMESPACE}), else an operator assigns one.
 *
 * <p>What each running domain can do: read memory, registers, pause (libvirt suspend/resume) and copy-on-write
 * snapshots when its QEMU accepts background snapshots (it must be allowed to use userfaultfd, i.e. run as root or
 * reach /dev/userfaultfd, and its RAM must be anonymous or shared memory, not a file on disk); asked once per boot
 * of the domain. Never hypervisor events: the Periscope QEMU plugin runs only in lab guests.
 *
 * <p>Connects lazily and again after libvirtd restarted; a libvirt that cannot be reached is
 * {@link PlatformUnavailableException}. Thread-safe: calls on the connection are serialised.
 */
public final class LibvirtDriver implements HypervisorDriver {

    public static final String PLATFORM = "libvirt";
    public static final String METADATA_NAMESPACE = OwnerMetadata.NAMESPACE;
    static final Set<Capability> CAPABILITIES = Set.copyOf(EnumSet.of(Capability.READ_MEMORY,
            Capability.VCPU_REGISTERS, Capability.PAUSE_RESUME));
    static final Set<Capability> CAPABILITIES_WITH_SNAPSHOTS = Set.copyOf(EnumSet.of(Capability.READ_MEMORY,
            Capability.VCPU_REGISTERS, Capability.PAUSE_RESUME, Capability.COW_SNAPSHOT));
    private static final Logger log = LoggerFactory.getLogger(LibvirtDriver.class);

    private final LibvirtConfig config;
    /** Whether a boot of a domain (UUID and start) can take background snapshots. */
    private final Map<String, Boolean> snapshotSupport = new ConcurrentHashMap<>();
    private LibvirtConnection connection; // guarded by this
    private boolean closed; // guarded by this

    public LibvirtDriver(LibvirtConfig config) {
        this.config = config;
    }

    @Override
    public String platform() {
        return PLATFORM;
    }

    /** Every domain with what libvirt says about it, by name. */
    public synchronized List<LibvirtGuest> guests() {
        List<LibvirtGuest> out = new ArrayList<>();
        for (LibvirtDomainHandle handle : connection().domains()) {
            try (handle) {
                out.add(guest(handle));
            } catch (VmGoneException e) {
                log.debug("domain {} vanished while it was listed", handle.name());
            }
        }
        out.sort(Comparator.comparing(LibvirtGuest::name));
        snapshotSupport.keySet().retainAll(out.stream().filter(LibvirtGuest::running).map(LibvirtDriver::boot)
                .toList());
        return List.copyOf(out);
    }

    public Optional<LibvirtGuest> guest(String name) {
        Optional<LibvirtDomainHandle> handle = lookup(name);
        if (handle.isEmpty()) {
            return Optional.empty();
        }
        try (LibvirtDomainHandle h = handle.get()) {
            return Optional.of(guest(h));
        } catch (VmGoneException e) {
            return Optional.empty();
        }
    }

    @Override
    public List<DomainInfo> domains() {
        return guests().stream().map(LibvirtGuest::info).toList();
    }

    @Override
    public Optional<DomainInfo> domain(String name) {
        return guest(name).map(LibvirtGuest::info);
    }

    @Override
    public Set<Capability> capabilities(String name) {
        Optional<LibvirtDomainHandle> handle = lookup(name);
        if (handle.isEmpty()) {
            return Set.of();
        }
        try (LibvirtDomainHandle h = handle.get()) {
            LibvirtGuest guest = guest(h);
            if (!guest.running()) {
                return Set.of();
            }
            return snapshots(guest, h) ? CAPABILITIES_WITH_SNAPSHOTS : CAPABILITIES;
        } catch (VmGoneException e) {
            return Set.of();
        }
    }

    @Override
    public Domain open(String name) {
        LibvirtDomainHandle handle = lookup(name)
                .orElseThrow(() -> new VmGoneException("libvirt at " + config.uri() + " has no domain " + name));
        try {
            LibvirtGuest guest = guest(handle);
            if (!guest.running()) {
                throw new VmGoneException("libvirt domain " + name + " is not running (" + guest.state() + ")");
            }
            QemuProcess process = QemuProcess.find(config.stateDir(), name, guest.uuid())
                    .orElseThrow(() -> new PlatformUnavailableException("libvirt domain " + name + " runs no QEMU "
                            + "process on this host (no " + config.stateDir().resolve(name + ".pid")
                            + " naming a process with its UUID): only local domains can be read"));
            return LibvirtDomain.open(config, handle, guest, process, snapshots(guest, handle));
        } catch (RuntimeException e) {
            handle.close();
            throw e;
        }
    }

    private synchronized Optional<LibvirtDomainHandle> lookup(String name) {
        return connection().lookup(name);
    }

    /** Whether this boot of the domain can take background snapshots: asked of its QEMU once per boot. */
    private boolean snapshots(LibvirtGuest guest, LibvirtDomainHandle handle) {
        Boolean known = snapshotSupport.get(boot(guest));
        if (known != null) {
            return known;
        }
        // Asked outside any lock: a monitor command waits while libvirt runs a job on the domain.
        Optional<String> unavailable = QemuSnapshot.unavailable(new LibvirtMonitor(handle));
        unavailable.ifPresent(why -> log.info("libvirt domain {}: no copy-on-write snapshots: {}", guest.name(), why));
        snapshotSupport.put(boot(guest), unavailable.isEmpty());
        return unavailable.isEmpty();
    }

    private static String boot(LibvirtGuest guest) {
        return guest.uuid() + "@" + guest.startedAt();
    }

    private LibvirtGuest guest(LibvirtDomainHandle handle) {
        LibvirtDomainHandle.Info info = handle.info();
        String uuid = handle.uuid();
        String tenant = handle.metadata(METADATA_NAMESPACE).flatMap(OwnerMetadata::tenant).orElse("");
        LibvirtGuest guest = new LibvirtGuest(handle.name(), uuid, info.state(), info.maxMemoryBytes(), info.vcpus(),
                tenant, null);
        if (!guest.running()) {
            return guest;
        }
        return QemuProcess.find(config.stateDir(), guest.name(), uuid)
                .map(p -> new LibvirtGuest(guest.name(), uuid, guest.state(), guest.memoryBytes(), guest.vcpus(),
                        tenant, p.startedAt()))
                .orElse(guest);
    }

    /** The connection, opened on first use and again when libvirtd went away. Call with this locked. */
    private LibvirtConnection connection() {
        if (closed) {
            throw new SessionClosedException("libvirt driver is closed");
        }
        if (connection != null && !connection.alive()) {
            log.info("libvirt connection to {} lost: reconnecting", config.uri());
            connection.close();
            connection = null;
        }
        if (connection == null) {
            connection = LibvirtConnection.open(config.uri());
        }
        return connection;
    }

    /** Closes the connection; domains opened from it stay usable until they are closed. */
    @Override
    public synchronized void close() {
        closed = true;
        if (connection != null) {
            connection.close();
            connection = null;
        }
    }

    @Override
    public String toString() {
        return "LibvirtDriver[" + config.uri() + "]";
    }
}
