package dev.periscope.process;

import dev.periscope.account.Caller;
import dev.periscope.audit.Audit;
import dev.periscope.overhead.Overhead;
import dev.periscope.vm.Fleet;
import dev.periscope.vm.KernelProfiles;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * Reads a VM's process list for a caller: checks the caller may see the VM (404 otherwise), walks guest memory on
 * the engine scheduler, and records what it cost (overhead samples), which kernel it found and who read it (audit).
 */
@Component
public class ProcessReader {

    private final Fleet fleet;
    private final VmiEngine engine;
    private final Scheduler engineReads;
    private final Audit audit;
    private final Overhead overhead;
    private final KernelProfiles profiles;

    ProcessReader(Fleet fleet, VmiEngine engine, Scheduler engineReads, Audit audit, Overhead overhead,
                  KernelProfiles profiles) {
        this.fleet = fleet;
        this.engine = engine;
        this.engineReads = engineReads;
        this.audit = audit;
        this.overhead = overhead;
        this.profiles = profiles;
    }

    /** The process list of {@code vm} read with {@code mode}, on behalf of {@code caller} (and a session, or null). */
    public Mono<ProcessListView> read(Caller caller, String vm, AcquisitionMode mode, String sessionId) {
        return fleet.get(caller, vm).flatMap(view -> Mono.fromCallable(() -> ProcessListView.of(engine.processes(vm, mode)))
                .subscribeOn(engineReads)
                .flatMap(list -> Mono.when(
                                audit.record(caller, view.tenant(), "PROCESS_LIST_READ", vm, "ok",
                                        "mode=" + list.mode() + " processes=" + list.processes().size()
                                                + (sessionId == null ? "" : " session=" + sessionId)),
                                overhead.sample(view.tenant(), vm, sessionId, Map.of(
                                        "guest_downtime_us", (double) list.guestDowntimeMicros(),
                                        "snapshot_age_us", (double) list.snapshotAgeMicros(),
                                        "read_us", (double) list.readMicros())),
                                profiles.record(vm))
                        .thenReturn(list)));
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
