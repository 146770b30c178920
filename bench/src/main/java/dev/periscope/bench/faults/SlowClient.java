package dev.periscope.bench.faults;

import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.io.IOException;
import java.time.Duration;

/**
 * A slow SSE client: while a trace streams 5,000 syscalls a second (the fake agent's synthetic guest), one client reads
 * 10 KiB a second through a 4 KiB socket buffer and another reads at full speed, for 20 s after a 5 s warm-up; then the
 * slow one catches up. Expected: the server's memory stays bounded while the slow client falls 100,000 events behind
 * (what it keeps alive on its heap and in direct buffers grows by less than {@value #BOUND_MIB} MiB: the backlog is
 * dropped, not kept; its resident size is reported too, though a JVM's heap may grow into its limit without
 * keeping anything), and each client, once it has read everything, got every syscall or a marker counting it.
 */
final class SlowClient extends FakeAgentFault {

    private static final String VM = "flt-slow";
    private static final long RATE = 5000;
    private static final Duration WARM_UP = Duration.ofSeconds(5);
    private static final Duration RUN = Duration.ofSeconds(20);
    private static final Duration QUICK_RUN = Duration.ofSeconds(8);
    private static final int BOUND_MIB = 64;

    @Override
    public String name() {
        return "slow-sse-client";
    }

    @Override
    public String description() {
        return "A slow SSE client (10 KiB/s through a 4 KiB socket buffer) on a 5,000 events/s trace, beside a fast one";
    }

    @Override
    public String lostUnit() {
        return "syscall events (slow client)";
    }

    @Override
    public Observation once(Stage stage, int repetition) throws IOException {
        Observation o = new Observation();
        Api api = stage.api();
        long server = stage.server().pid();
        SyntheticTraceRig rig = stage.fake().rig(VM);
        String id = api.trace(VM + "@" + Stage.FAKE_HOST, Feed.PID, "M5");
        try (SseClient fast = SseClient.follow(api, id, 0); SlowReader slow = new SlowReader(api, id)) {
            long produced;
            double rss0;
            double rssMax;
            double heap0;
            double heap1;
            double direct0;
            double direct1;
            try (Feed feed = new Feed(rig).start(RATE)) {
                Commands.sleep(WARM_UP);
                heap0 = Resources.liveHeapMib(server);
                direct0 = Resources.directMib(server);
                rss0 = Resources.rssMib(server);
                rssMax = rss0;
                for (int s = 0; s < (stage.quick ? QUICK_RUN : RUN).toSeconds(); s++) {
                    Commands.sleep(Duration.ofSeconds(1));
                    rssMax = Math.max(rssMax, Resources.rssMib(server));
                }
                heap1 = Resources.liveHeapMib(server);
                direct1 = Resources.directMib(server);
                feed.stop();
                Commands.sleep(Duration.ofMillis(100));
                feed.last();
                produced = feed.made();
            }
            long slowRead = slow.syscalls();
            slow.catchUp();
            boolean fastDone = Api.awaitSettled(Duration.ofSeconds(180), Duration.ofSeconds(15),
                    () -> fast.syscalls() + fast.droppedTotal(), n -> n >= produced);
            boolean slowDone = Api.awaitSettled(Duration.ofSeconds(180), Duration.ofSeconds(15),
                    () -> slow.syscalls() + slow.dropped(), n -> n >= produced);
            o.figure("server RSS growth (MiB)", rssMax - rss0);
            o.figure("server live heap growth (MiB)", heap1 - heap0);
            o.figure("server direct memory growth (MiB)", direct1 - direct0);
            o.figure("syscalls the slow client read while slow", slowRead);
            o.sees("the slow client gets drop markers counting what it lost; the fast one "
                    + (fast.droppedTotal() == 0 ? "loses nothing" : "gets markers too"));
            o.lost(slow.dropped(), slow.dropped());
            o.figure("server direct memory (MiB)", direct1);
            o.expect(direct1 >= 0 && heap1 >= 0, "the server's memory could not be read (jcmd)");
            o.expect(Math.max(heap1 - heap0, direct1 - direct0) < BOUND_MIB, String.format("the server's memory grew "
                    + "with the slow client's backlog: live heap %.0f, direct %.0f MiB (RSS %.0f)", heap1 - heap0,
                    direct1 - direct0, rssMax - rss0));
            o.expect(slow.dropped() > 0, "the slow client got no drop marker");
            o.expect(slowDone && slow.syscalls() + slow.dropped() == produced, "the slow client received "
                    + slow.syscalls() + " and markers for " + slow.dropped() + " of " + produced + " syscalls");
            o.expect(fastDone && fast.syscalls() + fast.droppedTotal() == produced, "the fast client received "
                    + fast.syscalls() + " and markers for " + fast.droppedTotal() + " of " + produced + " syscalls");
        } finally {
            api.stop(id);
        }
        return o;
    }
}
