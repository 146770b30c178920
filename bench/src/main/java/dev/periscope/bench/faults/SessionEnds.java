package dev.periscope.bench.faults;

import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A session ends while clients follow it, opened before, during and right at the end, over SSE and NDJSON: its traced
 * process exits (odd repetitions) or its time runs out (even ones, as a command-line trace with {@code --seconds}).
 * Every client's stream must end, after the session's final state, within {@link #BOUND} of the end. The server's own
 * path from a session's end to its clients' responses, repeated (lab test runs saw a stream stay open after its session
 * had ended). Each exit costs the fake agent's synthetic guest a process's memory: a few hundred exits fill it.
 */
final class SessionEnds extends FakeAgentFault {

    private static final String VM = "flt-end";
    /** The exit shows in the periodic process walk (1 s) and travels agent, control plane, client. */
    private static final Duration BOUND = Duration.ofSeconds(15);
    private static final int MAX_SECONDS = 2;

    @Override
    public String name() {
        return "session-end";
    }

    @Override
    public String description() {
        return "A session ends (its process exits, or its time is up) while 4 clients follow it (SSE and NDJSON, "
                + "opened before, during and at the end)";
    }

    @Override
    public String lostUnit() {
        return "streams that did not end";
    }

    @Override
    public Observation once(Stage stage, int repetition) {
        Observation o = new Observation();
        Api api = stage.api();
        SyntheticTraceRig rig = stage.fake().rig(VM);
        boolean exits = repetition % 2 == 1;
        int pid = exits ? 2000 + repetition : Feed.PID;
        if (exits) {
            rig.add(pid, "ender", 1);
        }
        String id = api.trace(VM + "@" + Stage.FAKE_HOST, pid, "M5", exits ? 3600 : MAX_SECONDS);
        List<SseClient> clients = new ArrayList<>(List.of(SseClient.follow(api, id, 0),
                SseClient.followNdjson(api, id)));
        try {
            Commands.sleep(Duration.ofMillis(500));
            clients.add(SseClient.followNdjson(api, id));
            long ended = System.nanoTime();
            if (exits) {
                rig.exit(pid);
            } else {
                Commands.sleep(Duration.ofSeconds(MAX_SECONDS).minusMillis(500));
                ended = System.nanoTime();
            }
            clients.add(SseClient.follow(api, id, 0));
            long stalled = 0;
            double slowestMs = 0;
            for (SseClient c : clients) {
                long left = BOUND.toNanos() - (System.nanoTime() - ended);
                if (!c.awaitEnd(Duration.ofNanos(Math.max(0, left)))) {
                    stalled++;
                    continue;
                }
                slowestMs = Math.max(slowestMs, (System.nanoTime() - ended) / 1e6);
                o.expect(c.failure().isEmpty(), "a stream broke off: " + c.failure());
                o.expect("ENDED".equals(c.state().path("state").asString("")), "a stream ended without the "
                        + "session's final state (last state " + c.state() + ")");
            }
            String state = api.session(id).path("state").asString("");
            o.figure("slowest stream end after the session's end (ms)", slowestMs);
            o.lost(stalled, 0);
            o.expect(stalled == 0, stalled + " of " + clients.size() + " streams still open " + BOUND.toSeconds()
                    + " s after the session's end (" + (exits ? "its target exited" : "its time was up")
                    + "; the session: " + state + ")");
            o.sees(stalled == 0 ? "every stream ends with the session's end" : "streams still open after the session "
                    + "ended").example(state);
        } finally {
            clients.forEach(SseClient::close);
            api.stop(id);
        }
        return o;
    }
}
