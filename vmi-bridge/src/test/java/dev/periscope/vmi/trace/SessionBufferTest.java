package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/** The per-session buffer: bounded, loses events to a slow subscriber, and always says so with a marker. */
class SessionBufferTest {

    private static TraceEvent syscall(int i) {
        return new TraceEvent.Syscall(i, 0, 42, "sh", 0, "read", List.of(new TraceEvent.Arg("fd", i, null)));
    }

    @Test
    void aFastSubscriberGetsEverythingInOrder() {
        SessionBuffer b = new SessionBuffer(64);
        StepVerifier.create(b.flux())
                .then(() -> {
                    for (int i = 0; i < 10; i++) {
                        b.emit(syscall(i));
                    }
                    b.complete(new TraceEvent.Ended(10, TraceEnd.of(TraceEnd.Reason.CLOSED)));
                })
                .expectNextCount(10)
                .assertNext(e -> assertThat(e).isEqualTo(new TraceEvent.Ended(10, TraceEnd.of(TraceEnd.Reason.CLOSED))))
                .verifyComplete();
        assertThat(b.dropped()).isZero();
    }

    @Test
    void aSlowSubscriberLosesEventsBoundedAndGetsADropMarker() {
        SessionBuffer b = new SessionBuffer(16);
        // subscriber requests nothing while 1000 events arrive: only the buffer's worth is kept
        StepVerifier.create(b.flux(), 0)
                .then(() -> {
                    for (int i = 0; i < 1000; i++) {
                        b.emit(syscall(i));
                    }
                })
                .thenRequest(16)
                .expectNextCount(16)
                .then(() -> b.emit(syscall(1000)))
                .thenRequest(2)
                .assertNext(e -> assertThat(e).isEqualTo(
                        new TraceEvent.Dropped(1000, 1000 - 16, TraceEvent.DropSite.SESSION_BUFFER)))
                .assertNext(e -> assertThat(e.timestampNs()).isEqualTo(1000))
                .then(() -> b.complete(null))
                .thenRequest(1)
                .verifyComplete();
        assertThat(b.dropped()).isEqualTo(1000 - 16);
        assertThat(b.emitted()).isEqualTo(16 + 2);
    }

    @Test
    void eventsBeforeSubscriptionAreKeptUpToTheBufferSizeAndTheRestIsReportedAtTheEnd() {
        SessionBuffer b = new SessionBuffer(16);
        for (int i = 0; i < 20; i++) {
            b.emit(syscall(i));
        }
        b.complete(null);
        StepVerifier.create(b.flux()).expectNextCount(16)
                .assertNext(e -> assertThat(e).isEqualTo(new TraceEvent.Dropped(0, 4, TraceEvent.DropSite.SESSION_BUFFER)))
                .expectComplete().verify(Duration.ofSeconds(5));
        assertThat(b.dropped()).isEqualTo(4);
    }

    @Test
    void aRingMarkerThatFindsNoRoomKeepsItsCountAndTheEndAlwaysArrives() {
        SessionBuffer b = new SessionBuffer(16);
        for (int i = 0; i < 16; i++) {
            b.emit(syscall(i));
        }
        // full: the ring's marker for 500 records it had no room for, then three syscalls, find no room either
        b.emit(new TraceEvent.Dropped(16, 500, TraceEvent.DropSite.HYPERVISOR_RING));
        for (int i = 17; i < 20; i++) {
            b.emit(syscall(i));
        }
        b.complete(new TraceEvent.Ended(20, TraceEnd.of(TraceEnd.Reason.VM_GONE)));
        StepVerifier.create(b.flux()).expectNextCount(16)
                .assertNext(e -> assertThat(e).isEqualTo(new TraceEvent.Dropped(20, 500,
                        TraceEvent.DropSite.HYPERVISOR_RING)))
                .assertNext(e -> assertThat(e).isEqualTo(new TraceEvent.Dropped(20, 3,
                        TraceEvent.DropSite.SESSION_BUFFER)))
                .assertNext(e -> assertThat(e).isInstanceOf(TraceEvent.Ended.class))
                .expectComplete().verify(Duration.ofSeconds(5));
        assertThat(b.dropped()).as("the buffer's own losses; the ring's are the ring's").isEqualTo(3);
    }

    @Test
    void aFullBufferStillEndsWithTheMarkerAndTheSessionsEnd() {
        SessionBuffer b = new SessionBuffer(16);
        TraceEvent.Ended end = new TraceEvent.Ended(30, TraceEnd.of(TraceEnd.Reason.CLOSED));
        for (int i = 0; i < 20; i++) {
            b.emit(syscall(i));
        }
        b.complete(end);
        StepVerifier.create(b.flux())
                .expectNextCount(16)
                .expectNext(new TraceEvent.Dropped(30, 4, TraceEvent.DropSite.SESSION_BUFFER), end)
                .expectComplete().verify(Duration.ofSeconds(5));
        assertThat(b.dropped()).isEqualTo(4);
        assertThat(b.emit(syscall(21))).as("nothing after the end").isFalse();
    }

    @Test
    void aCancelledSubscriberIsNotCountedAsLoss() {
        SessionBuffer b = new SessionBuffer(16);
        b.flux().subscribe().dispose();
        for (int i = 0; i < 100; i++) {
            b.emit(syscall(i));
        }
        assertThat(b.dropped()).isZero();
    }
}
