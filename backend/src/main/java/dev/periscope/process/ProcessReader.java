package dev.periscope.process;

import dev.periscope.caller.Caller;
import dev.periscope.audit.Audit;
import dev.periscope.overhead.Overhead;
import dev.periscope.fleet.AgentLink;
import dev.periscope.fleet.AgentMessage;
import dev.periscope.fleet.AgentUnreachableException;
import dev.periscope.fleet.Agents;
import dev.periscope.fleet.FleetMetrics;
import dev.periscope.fleet.VmId;
import dev.periscope.vm.Fleet;
import dev.periscope.vm.KernelProfiles;
import dev.periscope.vm.VmView;
import dev.periscope.vmi.AcquisitionMode;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Mono;

/**
 * Reads a VM's process list for a caller: checks the caller may see the VM (404 otherwise), asks the VM's host's agent
 * for the list, and records what it cost (overhead samples), which kernel it found and who read it (audit).
 */
@Component
public class ProcessReader {

    private final Fleet fleet;
    private final Agents agents;
    private final Audit audit;
    private final Overhead overhead;
    private final KernelProfiles profiles;
    private final FleetMetrics metrics;

    ProcessReader(Fleet fleet, Agents agents, Audit audit, Overhead overhead, KernelProfiles profiles,
                  FleetMetrics metrics) {
        this.fleet = fleet;
        this.agents = agents;
        this.audit = audit;
        this.overhead = overhead;
        this.profiles = profiles;
        this.metrics = metrics;
    }

    /**
     * The process list of {@code vm} read with {@code mode} (null: the most consistent mode its platform offers,
     * {@link VmView#mostConsistentMode()}), on behalf of {@code caller} (and a session, or null).
     */
    public Mono<ProcessListView> read(Caller caller, String vm, AcquisitionMode mode, String sessionId) {
        return fleet.get(caller, vm).flatMap(view -> {
            AcquisitionMode chosen = mode != null ? mode : view.mostConsistentMode();
            long t0 = System.nanoTime();
            return agent(view).processes(view.name(), chosen, new AgentLink.Actor(caller.username(), caller.tenantId()))
                    .doOnNext(read -> metrics.processList(new VmId(view.name(), view.host()),
                            chosen.name().toLowerCase(Locale.ROOT), Duration.ofNanos(System.nanoTime() - t0)))
                    .flatMap(read -> recorded(caller, view, read, sessionId));
        });
    }

    /** The agent of {@code vm}'s host (an unreachable one fails the call: the caller gets a 503). */
    AgentLink agent(VmView vm) {
        return agents.host(vm.host()).orElseThrow(() -> new AgentUnreachableException(vm.host(), "no agent for it", null));
    }

    /** Records a list read from {@code vm} (audit, overhead, kernel) and gives it as the API shows it. */
    public Mono<ProcessListView> recorded(Caller caller, VmView vm, AgentMessage.Processes read, String sessionId) {
        ProcessListView list = ProcessListView.of(vm.id(), read.list());
        return Mono.when(
                        audit.record(caller, vm.tenant(), "PROCESS_LIST_READ", vm.id(), "ok",
                                "mode=" + list.mode() + " processes=" + list.processes().size()
                                        + (sessionId == null ? "" : " session=" + sessionId)),
                        overhead.sample(vm.tenant(), vm.id(), sessionId, Map.of(
                                "guest_downtime_us", (double) list.guestDowntimeMicros(),
                                "snapshot_age_us", (double) list.snapshotAgeMicros(),
                                "read_us", (double) list.readMicros())),
                        profiles.record(vm.id(), read.kernel()))
                .thenReturn(list);
    }

    /** Parses an acquisition mode as the API spells it (lower case), or a 400 problem. */
    public static AcquisitionMode parseMode(String mode) {
        try {
            return AcquisitionMode.valueOf(mode.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException unknown) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "mode must be one of "
                    + Arrays.stream(AcquisitionMode.values()).map(m -> m.name().toLowerCase(Locale.ROOT)).toList()
                    + ", not '" + mode + "'");
        }
    }
}
