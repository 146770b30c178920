package dev.periscope.vmi.ring;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EventRingTest {

    @TempDir
    Path dir;

    private final RingToken token = RingToken.random();

    private EventRing ring(int lanes, int capacity) {
        return EventRing.create(dir.resolve("t.ring"), lanes, capacity, token);
    }

    private static List<RingEvent> drain(EventRing ring) {
        List<RingEvent> out = new ArrayList<>();
        while (ring.drainTo(out::add, 1000) > 0) {
            // until empty
        }
        return out;
    }

    @Test
    void wrapsAroundKeepingOrder() throws IOException {
        try (EventRing ring = ring(1, 8); RingTestProducer p = new RingTestProducer(ring.path(), 0)) {
            List<RingEvent> got = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                assertThat(p.produce(i, false)).isEqualTo(i + 1);
                if (i % 3 == 2) {
                    ring.drainTo(got::add, 4); // partial batches: the tail lags behind and wraps
                }
            }
            got.addAll(drain(ring));
            assertThat(got).hasSize(1000);
            for (int i = 0; i < 1000; i++) {
                RingEvent e = got.get(i);
                assertThat(e.kind()).isEqualTo(RingEventKind.SYSCALL);
                assertThat(e.syscallNumber()).isEqualTo(i);
                assertThat(e.sequence()).isEqualTo(i + 1);
                assertThat(e.arg(5)).isEqualTo(i + 5);
            }
            assertThat(ring.counters()).isEqualTo(new RingCounters(1000, 0, 1000, 0, 0, 0));
            assertThat(ring.backlog()).isZero();
        }
    }

    @Test
    void overflowIsCountedAndMarkedNeverSilent() throws IOException {
        try (EventRing ring = ring(1, 8); RingTestProducer p = new RingTestProducer(ring.path(), 0)) {
            int written = 0;
            for (int i = 0; i < 20; i++) {
                written += p.produce(i, false) > 0 ? 1 : 0;
            }
            assertThat(written).isEqualTo(8);
            RingCounters c = ring.counters();
            assertThat(c.dropped()).isEqualTo(12);
            assertThat(c.seen()).isEqualTo(c.filtered() + c.delivered() + c.dropped());

            assertThat(drain(ring)).extracting(RingEvent::syscallNumber).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L);
            p.produce(100, false);
            List<RingEvent> next = drain(ring);
            assertThat(next).hasSize(2);
            assertThat(next.get(0).kind()).isEqualTo(RingEventKind.DROP_MARKER);
            assertThat(next.get(0).droppedCount()).isEqualTo(12);
            assertThat(next.get(0).sequence()).isEqualTo(20); // the last lost sequence number
            assertThat(next.get(1).sequence()).isEqualTo(21);
            assertThat(next.get(1).syscallNumber()).isEqualTo(100);
        }
    }

    @Test
    void synchronousRecordTimesOutWithoutConsumerAndIsAnsweredWithOne() throws Exception {
        try (EventRing ring = ring(1, 16); RingTestProducer p = new RingTestProducer(ring.path(), 0)) {
            long seq = p.produce(1, true);
            assertThat(p.awaitResponse(seq, Duration.ofMillis(2).toNanos())).isFalse();
            RingCounters c = ring.counters();
            assertThat(c.syncTimeouts()).isEqualTo(1);
            assertThat(c.vcpuWaitNs()).isGreaterThanOrEqualTo(2_000_000);
            drain(ring); // a late answer is harmless

            AtomicBoolean stop = new AtomicBoolean();
            List<RingEvent> seen = new ArrayList<>();
            Thread consumer = Thread.ofPlatform().start(() -> {
                while (!stop.get()) {
                    ring.drainTo(seen::add, 64);
                }
            });
            try {
                for (int i = 0; i < 1000; i++) {
                    long s = p.produce(i, true);
                    assertThat(p.awaitResponse(s, Duration.ofSeconds(5).toNanos())).isTrue();
                }
            } finally {
                stop.set(true);
                consumer.join();
            }
            assertThat(seen).hasSize(1000).allMatch(RingEvent::synchronous);
            assertThat(ring.counters().syncTimeouts()).isEqualTo(1);
        }
    }

    @Test
    void producerKeepsGoingWhenTheConsumerDies() throws IOException {
        Path file = dir.resolve("dies.ring");
        try (EventRing first = EventRing.create(file, 2, 64, token);
             RingTestProducer p = new RingTestProducer(file, 1)) {
            for (int i = 0; i < 10; i++) {
                p.produce(i, false);
            }
            assertThat(drain(first)).hasSize(10);
            // the consumer "dies": nobody polls; the producer is never blocked, it counts drops
            for (int i = 10; i < 100_010; i++) {
                p.produce(i, false);
            }
            RingCounters c = first.counters(1);
            assertThat(c.delivered()).isEqualTo(10 + 64);
            assertThat(c.dropped()).isEqualTo(100_000 - 64);
            assertThat(c.seen()).isEqualTo(c.delivered() + c.dropped());
            assertThat(first.counters(0)).isEqualTo(RingCounters.ZERO);

            // a new consumer attaches to the same file and learns what was lost
            try (EventRing second = EventRing.open(file, token)) {
                assertThat(drain(second)).hasSize(64).extracting(RingEvent::syscallNumber).startsWith(10L, 11L);
                p.produce(-1, false);
                List<RingEvent> got = drain(second);
                assertThat(got).hasSize(2);
                RingEvent marker = got.get(0);
                assertThat(marker.kind()).isEqualTo(RingEventKind.DROP_MARKER);
                assertThat(marker.droppedCount()).isEqualTo(100_000 - 64);
                assertThat(got.get(1).syscallNumber()).isEqualTo(-1);
            }
        }
    }

    @Test
    void configureWritesTheControlBlockUnderTheSeqlock() throws IOException {
        try (EventRing ring = ring(1, 8); RingTestProducer p = new RingTestProducer(ring.path(), 0)) {
            assertThat(p.generation()).isZero();
            assertThat(p.token()).containsExactly(token.high(), token.low());
            RingControl c = RingControl.off()
                    .withModes(RingMode.CR3, RingMode.CR3_FILTER, RingMode.SYSCALL, RingMode.SYSCALL_FILTER)
                    .withDtbs(List.of(0x5000L | (1L << 63), 0x1003L, 0x3000L))
                    .withBreakpoints(List.of(Breakpoint.syscallEntry(0xffffffff81c00080L)));
            ring.configure(c);
            assertThat(p.generation()).isEqualTo(2);
            assertThat(p.mode()).isEqualTo(0x01 | 0x02 | 0x08 | 0x10);
            assertThat(p.dtbs()).containsExactly(0x0L, 0x2000L, 0x4000L); // masked and sorted
            assertThat(p.breakpointAddress(0)).isEqualTo(0xffffffff81c00080L);
            assertThat(p.breakpointKind(0)).isEqualTo(RingLayout.BP_SYSCALL_ENTRY);
            assertThat(c.matches(0x4000L | 0x123L)).isTrue();
            ring.configure(RingControl.off());
            assertThat(p.generation()).isEqualTo(4);
            assertThat(p.dtbs()).isEmpty();
            assertThat(ring.applied()).isFalse(); // no extension attached
        }
    }

    @Test
    void recordViewIsAllocationFreeAndMatchesTheCopy() throws IOException {
        try (EventRing ring = ring(2, 16); RingTestProducer p = new RingTestProducer(ring.path(), 1)) {
            p.produce(42, false);
            long[] sum = new long[1];
            List<RingEvent> copies = new ArrayList<>();
            assertThat(ring.poll(r -> {
                sum[0] += r.syscallNumber() + r.arg(3) + r.vcpu();
                copies.add(r.toEvent());
            }, 10)).isEqualTo(1);
            assertThat(sum[0]).isEqualTo(42 + 45 + 1);
            assertThat(copies.getFirst().vcpu()).isEqualTo(1);
        }
    }

    @Test
    void rejectsFilesThatAreNotRings() throws IOException {
        Path junk = dir.resolve("junk.ring");
        Files.write(junk, new byte[64 * 1024]);
        assertThatThrownBy(() -> EventRing.open(junk, token)).isInstanceOf(PlatformUnavailableException.class)
                .hasMessageContaining("bad magic");
        assertThatThrownBy(() -> EventRing.create(dir.resolve("x.ring"), 1, 12, token))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void closedRingFailsWithSessionClosedAndDeletesItsFile() {
        EventRing ring = ring(1, 8);
        Path file = ring.path();
        ring.close();
        assertThat(file).doesNotExist();
        assertThatThrownBy(() -> ring.poll(r -> { }, 1)).isInstanceOf(SessionClosedException.class);
    }

    @Test
    void tokenRoundTripsAsPluginArgument() throws IOException {
        RingToken t = RingToken.parse("00112233445566778899aabbccddeeff");
        assertThat(t.high()).isEqualTo(0x0011223344556677L);
        assertThat(t.low()).isEqualTo(0x8899aabbccddeeffL);
        assertThat(t.hex()).isEqualTo("00112233445566778899aabbccddeeff");
        assertThat(t.toString()).doesNotContain("0011");
        try (EventRing ring = EventRing.create(dir.resolve("a.ring"), 1, 8, t)) {
            assertThat(ring.pluginArgs()).endsWith("a.ring,token=00112233445566778899aabbccddeeff");
            Path tf = dir.resolve("a.token");
            assertThat(ring.pluginArgsWithTokenFile(tf)).endsWith("a.ring,token-file=" + tf.toAbsolutePath())
                    .doesNotContain(t.hex());
            assertThat(Files.readString(tf).trim()).isEqualTo(t.hex());
            assertThat(Files.getPosixFilePermissions(tf)).hasSize(2);
        }
    }
}
