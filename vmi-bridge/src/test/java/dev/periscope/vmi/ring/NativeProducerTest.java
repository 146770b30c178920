package dev.periscope.vmi.ring;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The C producer (native/test/ring_producer.c, the plugin's own ring code) writes, Java reads: proves that the
 * generated layouts and the C compiler agree. Skipped when the native build did not run.
 */
class NativeProducerTest {

    @TempDir
    Path dir;

    static Path producer;

    @BeforeAll
    static void findProducer() {
        String d = System.getProperty("periscope.native.dir", "target/native");
        producer = Path.of(d, "ring_producer");
    }

    private static String run(Path ring, String... extra) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(producer.toString(), ring.toString()));
        cmd.addAll(List.of(extra));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    @Test
    void recordsWrittenInCAreReadInJava() throws Exception {
        assumeTrue(Files.isExecutable(producer), "native build missing: " + producer);
        try (EventRing ring = EventRing.create(dir.resolve("c.ring"), 2, 1 << 16, RingToken.random())) {
            run(ring.path(), "1000", "--lane", "1");
            List<RingEvent> got = new ArrayList<>();
            ring.drainTo(got::add, 10_000);
            assertThat(got).hasSize(1000);
            for (int i = 0; i < 1000; i++) {
                RingEvent e = got.get(i);
                assertThat(e.vcpu()).isEqualTo(1);
                assertThat(e.sequence()).isEqualTo(i + 1);
                assertThat(e.syscallNumber()).isEqualTo(i);
                assertThat(e.rip()).isEqualTo(0x1000 + i);
                assertThat(e.arg(4)).isEqualTo(i + 4);
                assertThat(e.oldCr3()).isEqualTo(0x1234000L);
            }
            assertThat(ring.counters(1)).isEqualTo(new RingCounters(1000, 0, 1000, 0, 0, 0));
        }
    }

    @Test
    void cProducerCountsDropsWhenJavaDoesNotConsume() throws Exception {
        assumeTrue(Files.isExecutable(producer), "native build missing: " + producer);
        try (EventRing ring = EventRing.create(dir.resolve("d.ring"), 1, 256, RingToken.random())) {
            run(ring.path(), "10000");
            assertThat(ring.counters().dropped()).isEqualTo(10000 - 256);
            assertThat(ring.backlog()).isEqualTo(256);
        }
    }

    @Test
    void cProducerTimesOutOnSynchronousRecordsWithoutConsumerAndNotWithOne() throws Exception {
        assumeTrue(Files.isExecutable(producer), "native build missing: " + producer);
        try (EventRing ring = EventRing.create(dir.resolve("s.ring"), 1, 1024, RingToken.random())) {
            String out = run(ring.path(), "5", "--sync", "50000");
            assertThat(out).contains("answered=0 timeouts=5");
            // one 50 ms budget waited: after a timeout the lane waits again only once the consumer answers
            assertThat(ring.counters().vcpuWaitNs()).isBetween(50_000_000L, 5 * 50_000_000L - 1);
            ring.drainTo(e -> { }, 100);

            AtomicBoolean stop = new AtomicBoolean();
            Thread consumer = Thread.ofPlatform().start(() -> {
                while (!stop.get()) {
                    ring.poll(r -> { }, 256);
                }
            });
            try {
                out = run(ring.path(), "2000", "--sync", "1000000");
            } finally {
                stop.set(true);
                consumer.join();
            }
            assertThat(out).contains("answered=2000 timeouts=5");
        }
    }
}
