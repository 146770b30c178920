package dev.periscope.vm;

import dev.periscope.fleet.HostedVm;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.driver.Capability;
import java.time.Instant;
import java.util.Set;

/**
 * A VM as the API shows it: its fleet id ({@code name@host}), its owning tenant, its state and what its platform can
 * do for it. An unreachable VM is shown as its agent last reported it.
 *
 * @param id      {@code name@host}: what the API's {@code {vm}} paths take
 * @param name    its name on its host
 * @param host    the host (its agent's name)
 * @param running whether it runs (false when stopped or unreachable)
 */
public record VmView(String id, String name, String host, String tenant, String platform, VmState state,
                     boolean running, long memoryMib, String kernelVersion, String workload, Instant startedAt,
                     Set<Capability> capabilities) {

    /**
     * The most consistent way its platform offers to read it, for reads that name no mode (the VM page, the
     * process-list API, the CLI's {@code ps}): a copy-on-write snapshot, else a paused read, else a live one.
     */
    public AcquisitionMode mostConsistentMode() {
        if (capabilities.contains(Capability.COW_SNAPSHOT)) {
            return AcquisitionMode.SNAPSHOT;
        }
        return capabilities.contains(Capability.PAUSE_RESUME) ? AcquisitionMode.PAUSE : AcquisitionMode.LIVE;
    }

    static VmView of(HostedVm vm, String tenant) {
        VmState state = !vm.reachable() ? VmState.UNREACHABLE : vm.info().running() ? VmState.RUNNING : VmState.STOPPED;
        return new VmView(vm.id().toString(), vm.id().name(), vm.id().host(), tenant, vm.info().platform(), state,
                state == VmState.RUNNING, vm.info().memoryBytes() >> 20, vm.info().kernelVersion(),
                vm.info().workload(), vm.info().startedAt(), state == VmState.RUNNING ? vm.capabilities() : Set.of());
    }
}
