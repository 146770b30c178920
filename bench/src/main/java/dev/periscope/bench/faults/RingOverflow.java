package dev.periscope.bench.faults;

import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.time.Duration;
import java.util.Map;

/**
 * The hypervisor's ring overflowing: the VM's ring thread held up (its process walk blocks, as on a slow guest read)
 * while the guest makes a burst of 50,000 syscalls into a 16,384-record lane (the fake agent's synthetic guest, its
 * producer writing into the real ring), under an M5 trace that an SSE client follows through the real control plane.
 * Every syscall must be accounted for end to end: received by the client, or counted in a drop marker it received (the
 * ring's HYPERVISOR_RING markers exactly as many as the ring had no room for; the buffers after it with their own).
 */
final class RingOverflow extends FakeAgentFault {

    private static final String VM = "flt-ring";
    /** Syscalls of the burst: three lanes' worth (16,384 records each). */
    private static final int BURST = 50_000;

    @Override
    public String name() {
        return "ring-overflow";
    }

    @Override
    public String description() {
        return "The hypervisor ring overflows (50,000 syscalls into a 16,384-record lane, the ring thread held up)";
    }

    @Override
    public String lostUnit() {
        return "syscall events";
    }

    @Override
    public Observation once(Stage stage, int repetition) {
        Observation o = new Observation();
        Api api = stage.api();
        SyntheticTraceRig rig = stage.fake().rig(VM);
        String id = api.trace(VM + "@" + Stage.FAKE_HOST, Feed.PID, "M5");
        try (SseClient sse = SseClient.follow(api, id, 0); Feed feed = new Feed(rig)) {
            // the ring thread held up (in its process walk, as by a slow guest read) while the guest bursts
            rig.stallWalks(true);
            try {
                o.expect(Api.await(Duration.ofSeconds(30), rig::walkStalled, stalled -> stalled),
                        "the ring thread did not reach its walk");
                feed.burst(BURST);
            } finally {
                rig.stallWalks(false);
            }
            feed.last();
            long produced = feed.made();
            Api.awaitSettled(Duration.ofSeconds(120), Duration.ofSeconds(15), () -> sse.syscalls() + sse.droppedTotal(),
                    n -> n >= produced);
            Map<String, Long> markers = sse.dropped();
            long accounted = sse.syscalls() + sse.droppedTotal();
            o.figure("ring had no room", feed.ringFull());
            o.sees("SSE drop markers at " + markers.keySet() + "; every syscall received or counted in one");
            o.lost(produced - sse.syscalls(), sse.droppedTotal());
            o.expect(feed.ringFull() > 0, "the ring never overflowed (" + produced + " syscalls)");
            o.expect(accounted == produced, "the guest made " + produced + " syscalls; the client received "
                    + sse.syscalls() + " and markers for " + sse.droppedTotal() + " " + markers);
            o.expect(markers.getOrDefault("HYPERVISOR_RING", 0L) == feed.ringFull(), "the ring had no room for "
                    + feed.ringFull() + " records; its markers say " + markers.getOrDefault("HYPERVISOR_RING", 0L));
        } finally {
            api.stop(id);
        }
        return o;
    }
}
