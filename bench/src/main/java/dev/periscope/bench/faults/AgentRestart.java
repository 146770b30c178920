package dev.periscope.bench.faults;

import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingCounters;
import java.time.Duration;
import java.util.List;
import tools.jackson.databind.JsonNode;

/**
 * The agent killed (SIGKILL) during a trace and started again. Expected: the trace's stream ends LOST with AGENT_LOST
 * within seconds; once the agent is back its VM is listed as running again, what the dead agent left armed in the
 * guest's hypervisor extension is switched off, and a new trace works. Lost: what the dead agent had taken from the
 * ring and not yet sent, and what the ring held (not counted anywhere: the agent died with it).
 */
final class AgentRestart extends SharedLabVmFault {

    @Override
    public String name() {
        return "agent-restart";
    }

    @Override
    public String description() {
        return "The agent killed (SIGKILL) during a trace (M5, SSE client) and started again";
    }

    @Override
    public List<Watched> watched(Stage stage) {
        return List.of(new Watched("server", stage.server().pid()));
    }

    @Override
    public Observation once(Stage stage, int repetition) {
        Observation o = new Observation();
        Api api = stage.api();
        LabVm vm = stage.sharedVm();
        String id = api.trace(Stage.vmId(vm), "busy-writer", "M5");
        try (SseClient sse = SseClient.follow(api, id, 0); EventRing ring = Stage.ring(vm)) {
            o.expect(sse.awaitSyscalls(5, Duration.ofSeconds(60)), "no syscalls before the kill");
            RingCounters start = ring.counters();
            long received = sse.syscalls();
            Commands.sleep(Duration.ofMillis(stage.random.nextInt(1000)));
            RingCounters atKill = ring.counters().minus(start);
            stage.agent().kill();
            long killed = System.nanoTime();
            boolean ended = sse.awaitEnd(Duration.ofSeconds(20));
            o.figure("stream end after the kill (ms)", (System.nanoTime() - killed) / 1e6);
            JsonNode state = sse.state();
            long syscallRecords = atKill.delivered() - atKill.cr3Delivered();
            o.lost(Math.max(0, syscallRecords - (sse.syscalls() - received)), 0);
            o.expect(ended && "AGENT_LOST".equals(state.path("end").asString("")),
                    "the stream " + (ended ? "ended with " + state : "did not end within 20 s"));

            long restarting = System.nanoTime();
            stage.agent().start();
            stage.awaitRunning(Stage.vmId(vm));
            o.figure("VM listed again after the restart (ms)", (System.nanoTime() - restarting) / 1e6);
            boolean disarmed = Api.await(Duration.ofSeconds(20), ring::armed, armed -> !armed);
            o.expect(disarmed, "the guest's hypervisor extension is still armed 20 s after its agent came back");
            o.sees("SSE ends: " + state.path("state").asString("?") + " (" + state.path("end").asString("?")
                    + "); back: VM running" + (disarmed ? ", its ring disarmed" : ", its ring still armed"))
                    .example(state.path("reason").asString(""));

            String again = api.trace(Stage.vmId(vm), "busy-writer", "M5");
            try (SseClient next = SseClient.follow(api, again, 0)) {
                o.expect(next.awaitSyscalls(3, Duration.ofSeconds(60)), "a new trace after the restart streams nothing");
            } finally {
                api.stop(again);
            }
        } finally {
            if (!api.session(id).path("state").asString("").matches("ENDED|LOST")) {
                api.stop(id);
            }
        }
        return o;
    }
}
