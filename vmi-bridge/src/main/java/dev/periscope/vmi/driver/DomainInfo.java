package dev.periscope.vmi.driver;

import java.time.Instant;

/**
 * What a driver knows about one guest without introspecting it (the equivalent of a line of {@code xl list}).
 *
 * @param name          unique name of the VM on this host
 * @param tenant        owning tenant label (lab metadata, or assigned by an operator)
 * @param platform      driver name, e.g. "qemu-lab" or "xen"
 * @param running       whether the guest is running now
 * @param memoryBytes   guest RAM size
 * @param kernelVersion kernel release as the platform recorded it (may be empty; the engine reads the real one)
 * @param workload      lab workload name, empty where unknown
 * @param startedAt     when the VM was started, null when unknown
 */
public record DomainInfo(String name, String tenant, String platform, boolean running, long memoryBytes,
                         String kernelVersion, String workload, Instant startedAt) {
}
