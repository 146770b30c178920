package dev.periscope.vmi.driver;

import java.util.List;
import java.util.Optional;

/**
 * One hypervisor platform (the SPI every platform implements): lists its guests and opens them.
 * Thread-safe.
 */
public interface HypervisorDriver extends AutoCloseable {

    /** Platform name shown to users, e.g. "qemu-lab". */
    String platform();

    List<DomainInfo> domains();

    Optional<DomainInfo> domain(String name);

    /** Attaches to a running guest. Fails with VmGoneException when it is not running. */
    Domain open(String name);

    @Override
    void close();
}
