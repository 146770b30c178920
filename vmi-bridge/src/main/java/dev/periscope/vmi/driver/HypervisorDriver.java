package dev.periscope.vmi.driver;

import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * One hypervisor platform (the SPI every platform implements): lists its guests and opens them.
 * Thread-safe.
 */
public interface HypervisorDriver extends AutoCloseable {

    /** Platform name shown to users, e.g. "qemu-lab". */
    String platform();

    List<DomainInfo> domains();

    Optional<DomainInfo> domain(String name);

    /**
     * What the platform can do for the named guest, known without attaching to it (listing a fleet must not
     * open every VM); empty when the guest is unknown or not running.
     */
    Set<Capability> capabilities(String name);

    /** Attaches to a running guest. Fails with VmGoneException when it is not running. */
    Domain open(String name);

    @Override
    void close();
}
