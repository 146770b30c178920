package dev.periscope.vm;

import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import java.time.Instant;
import java.util.Set;

/** A VM as the API shows it, with its owning tenant and what its platform can do for it. */
public record VmView(String name, String tenant, String platform, boolean running, long memoryMib,
                     String kernelVersion, String workload, Instant startedAt, Set<Capability> capabilities) {

    static VmView of(DomainInfo info, String tenant, Set<Capability> capabilities) {
        return new VmView(info.name(), tenant, info.platform(), info.running(), info.memoryBytes() >> 20,
                info.kernelVersion(), info.workload(), info.startedAt(), capabilities);
    }
}
