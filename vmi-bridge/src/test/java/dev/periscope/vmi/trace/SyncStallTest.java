package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * A synchronous event whose answer never comes: the VM's ring thread stalls (here in a process walk that hangs, as a
 * guest read could) while a vCPU waits on a synchronous record. The producer is the C stand-in (native/test/
 * ring_producer.c: the QEMU plugin's own reserve, publish and wait code), so what is measured is what a guest's vCPU
 * would wait. The first record waits the engine's 20 ms budget, the ones after it do not wait at all (still counted
 * as timeouts) until the ring thread answers again; back, it answers every record. Skipped without the native build.
 */
class SyncStallTest {

    private static final Path PRODUCER = Path.of(System.getProperty("periscope.native.dir", "target/native"),
            "ring_producer");
    private static final long BUDGET_US = RingPlan.SYNC_TIMEOUT.toNanos() / 1000;

    @Test
    void aStalledRingThreadCostsTheGuestOneTimeoutNotOnePerEventAndAnswersAgainOnceBack() throws Exception {
        assumeTrue(Files.isExecutable(PRODUCER), "native build missing: " + PRODUCER);
        try (SyntheticTraceRig rig = new SyntheticTraceRig("stall", 1024);
             TraceSession session = rig.open(TraceRequest.pid(300).withMethod(TraceMethod.M2))) {
            rig.stallWalks(true);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!rig.walkStalled()) { // the periodic refresh walks every second
                assertThat(System.nanoTime()).as("the ring thread reached its next walk").isLessThan(deadline);
                Thread.sleep(20);
            }

            String stalled = produce(rig, 200, BUDGET_US);
            assertThat(stalled).contains("answered=0 timeouts=200");
            assertThat(value(stalled, "wait_ns")).as("the vCPU waited one budget, not 200 of them (%s)", stalled)
                    .isBetween(BUDGET_US * 1000, 200 * BUDGET_US * 1000 / 4);

            rig.stallWalks(false);
            String back = produce(rig, 200, TimeUnit.SECONDS.toMicros(5));
            assertThat(back).as("answered once the ring thread is back").contains("answered=200 timeouts=200");
            assertThat(session.overhead().syncTimeouts()).isEqualTo(200);
        }
    }

    /** {@code count} synchronous records, each waiting at most {@code budgetUs}; the producer's result line. */
    private static String produce(SyntheticTraceRig rig, int count, long budgetUs)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(PRODUCER.toString(), rig.ring().path().toString(),
                Integer.toString(count), "--sync", Long.toString(budgetUs)));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    private static long value(String line, String key) {
        Matcher m = Pattern.compile("\\b" + key + "=(\\d+)").matcher(line);
        assertThat(m.find()).as("%s in %s", key, line).isTrue();
        return Long.parseLong(m.group(1));
    }
}
