package dev.periscope.bench.faults;

import dev.periscope.vmi.driver.lab.LabVm;
import java.time.Duration;
import java.util.List;
import tools.jackson.databind.JsonNode;

/**
 * The control plane killed (SIGKILL) during a trace and started again over the same H2 file, its agent running on.
 * Expected: the SSE client reconnects with {@code Last-Event-ID} once the server is back and the trace goes on
 * (resumed on the agent after the last event the server stored); what the agent no longer kept is a counted REPLAY
 * marker, never a silent gap.
 */
final class ServerRestart extends SharedLabVmFault {

    @Override
    public String name() {
        return "server-restart";
    }

    @Override
    public String description() {
        return "The control plane killed (SIGKILL) during a trace (M5, SSE client) and started again";
    }

    @Override
    public List<Watched> watched(Stage stage) {
        return List.of(new Watched("agent", stage.agent().pid()));
    }

    @Override
    public Observation once(Stage stage, int repetition) {
        Observation o = new Observation();
        LabVm vm = stage.sharedVm();
        String id = stage.api().trace(Stage.vmId(vm), "busy-writer", "M5");
        long lastId;
        try (SseClient sse = SseClient.follow(stage.api(), id, 0)) {
            o.expect(sse.awaitSyscalls(5, Duration.ofSeconds(60)), "no syscalls before the kill");
            Commands.sleep(Duration.ofMillis(stage.random.nextInt(1000)));
            stage.server().kill();
            sse.awaitEnd(Duration.ofSeconds(10));
            lastId = sse.lastId();
        }
        long killed = System.nanoTime();
        stage.server().start();
        o.figure("server up again after the kill (ms)", (System.nanoTime() - killed) / 1e6);
        Api api = stage.api();
        try (SseClient resumed = SseClient.follow(api, id, lastId)) {
            boolean goesOn = resumed.awaitSyscalls(5, Duration.ofSeconds(90));
            o.figure("trace streaming again after the kill (ms)", (System.nanoTime() - killed) / 1e6);
            JsonNode s = api.session(id);
            o.sees("SSE resumed with Last-Event-ID: " + (goesOn ? "the trace goes on" : "nothing streams") + ", state "
                    + s.path("state").asString("?") + (resumed.dropped().isEmpty() ? ", no gap"
                    : ", gap markers " + resumed.dropped().keySet()));
            o.lost(resumed.droppedTotal(), resumed.droppedTotal());
            o.expect(goesOn, "the trace did not stream again within 90 s of the restart");
            o.expect("ACTIVE".equals(s.path("state").asString("")), "the session is " + s);
        } finally {
            api.stop(id);
        }
        return o;
    }
}
