package dev.periscope.bench.faults;

import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingCounters;
import java.time.Duration;
import java.util.List;

/**
 * A synchronous event whose answer never comes, on a real guest: during an M2 trace (every syscall of the guest waits
 * for the agent's ring thread) the agent's JVM is frozen (SIGSTOP, as a long GC pause or a debugger would) for 2 s,
 * then thawed. The guest must go on within its budget: its vCPU waits once for the 20 ms the engine allows, not once
 * per syscall, and the trace carries on afterwards with what the ring had no room for counted.
 */
final class AgentStall extends SharedLabVmFault {

    static final Duration STALL = Duration.ofSeconds(2);
    /** The engine's synchronous budget (RingPlan.SYNC_TIMEOUT). */
    static final Duration BUDGET = Duration.ofMillis(20);

    @Override
    public String name() {
        return "agent-stall";
    }

    @Override
    public String description() {
        return "A synchronous event whose answer never comes: the agent frozen 2 s (SIGSTOP) during an M2 trace";
    }

    @Override
    public List<Watched> watched(Stage stage) {
        return List.of(new Watched("agent", stage.agent().pid()), new Watched("server", stage.server().pid()));
    }

    @Override
    public Observation once(Stage stage, int repetition) {
        Observation o = new Observation();
        Api api = stage.api();
        LabVm vm = stage.sharedVm();
        String id = api.trace(Stage.vmId(vm), "busy-writer", "M2");
        try (SseClient sse = SseClient.follow(api, id, 0); EventRing ring = Stage.ring(vm)) {
            o.expect(sse.awaitSyscalls(5, Duration.ofSeconds(60)), "no syscalls before the stall");
            RingCounters before = ring.counters();
            stage.agent().freeze(true);
            RingCounters during;
            try {
                Commands.sleep(STALL);
                during = ring.counters().minus(before);
            } finally {
                stage.agent().freeze(false);
            }
            long seen = sse.syscalls();
            boolean goesOn = sse.awaitSyscalls(seen + 5, Duration.ofSeconds(30));
            Commands.sleep(Duration.ofSeconds(2)); // the markers of what the ring had no room for follow
            String state = api.session(id).path("state").asString("?");
            double waitedMs = during.vcpuWaitNs() / 1e6;
            o.figure("vCPU wait during the 2 s stall (ms)", waitedMs);
            o.figure("guest events during the stall", during.seen());
            o.figure("sync timeouts during the stall", during.syncTimeouts());
            o.sees((goesOn ? "the trace goes on" : "the trace stopped") + ", state " + state + "; the stall shows as "
                    + "sync timeouts and " + (sse.dropped().isEmpty() ? "no drop markers" : "drop markers "
                    + sse.dropped().keySet()));
            o.lost(during.dropped(), sse.dropped().getOrDefault("HYPERVISOR_RING", 0L));
            o.expect(during.seen() > 0, "the guest made no syscall during the stall");
            o.expect(waitedMs <= 5 * BUDGET.toMillis(), String.format("the guest's vCPU waited %.0f ms of the %d s "
                    + "stall (%d timeouts)", waitedMs, STALL.toSeconds(), during.syncTimeouts()));
            o.expect(goesOn && "ACTIVE".equals(state), "after the stall the trace is " + state
                    + (goesOn ? "" : " and streams nothing"));
        } finally {
            api.stop(id);
        }
        return o;
    }
}
