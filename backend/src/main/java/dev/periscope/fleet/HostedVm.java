package dev.periscope.fleet;

import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import java.util.Set;

/**
 * A VM as its agent reported it last: what the platform knows of it and can do for it, and what the agent's certificate
 * binds the agent to (a tenant-bound agent's VMs are its tenant's). {@code reachable} is false while its agent is
 * unreachable (the VM is then shown as last seen).
 */
public record HostedVm(VmId id, DomainInfo info, Set<Capability> capabilities, boolean reachable,
                       AgentBinding binding) {

    /** This VM as last seen, its agent now unreachable. */
    HostedVm unreachable() {
        return new HostedVm(id, info, capabilities, false, binding);
    }
}
