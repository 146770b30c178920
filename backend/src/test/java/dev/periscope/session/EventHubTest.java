package dev.periscope.session;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.trace.TraceEvent;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.reactivestreams.Subscription;
import reactor.core.publisher.BaseSubscriber;
import reactor.test.StepVerifier;

/** The stream's memory bounds and resumption, with StepVerifier as the (slow) subscriber. */
class EventHubTest {

    /** A numbered syscall: what a slow subscriber may lose. */
    private static SessionEvent.Syscall note(int i) {
        return new SessionEvent.Syscall(Instant.EPOCH, 0, 42, "sh", "read", i, List.of(), TraceEvent.Status.NOT_TRACED,
                null, null, null, null, Integer.toString(i));
    }

    private static String number(SessionEvent e) {
        return ((SessionEvent.Syscall) e.data()).text();
    }

    @Test
    void slowSubscriberGetsTheNewestEventsAndACountedDropMarker() {
        EventHub hub = new EventHub("s1", 1000, 0);
        var seen = new ArrayList<SessionEvent>();
        var slow = new BaseSubscriber<SessionEvent>() {
            @Override
            protected void hookOnSubscribe(Subscription subscription) {
                request(1); // reads one event, then nothing while 19 more arrive
            }

            @Override
            protected void hookOnNext(SessionEvent event) {
                seen.add(event);
            }
        };
        hub.subscribe(0, 4).subscribe(slow);
        for (int i = 0; i < 20; i++) {
            hub.publish(i + 1, note(i));
        }
        hub.complete();
        assertThat(seen).extracting(EventHubTest::number).containsExactly("0");
        slow.request(Long.MAX_VALUE);

        // Its buffer (4) and the one-event hand-over stages kept some, the oldest of the rest were dropped and
        // counted in one marker; the newest events, up to the last, all arrive.
        var markers = seen.stream().filter(e -> e.type() == SessionEvent.Type.DROPPED).toList();
        assertThat(markers).hasSize(1);
        assertThat(markers.getFirst().id()).isEqualTo(-1);
        SessionEvent.Dropped marker = (SessionEvent.Dropped) markers.getFirst().data();
        assertThat(marker.where()).isEqualTo(SessionEvent.DropSite.STREAM);
        long dropped = marker.count();
        assertThat(dropped + seen.size() - 1).isEqualTo(20);
        assertThat(seen.size() - 1).isLessThanOrEqualTo(1 + 4 + 2);
        assertThat(seen).extracting(e -> e.type() == SessionEvent.Type.DROPPED ? "marker" : number(e))
                .endsWith("16", "17", "18", "19");
    }

    @Test
    void droppedCountPlusDeliveredIsEverythingPublished() {
        EventHub hub = new EventHub("s2", 1000, 0);
        var events = new ArrayList<SessionEvent>();
        StepVerifier.create(hub.subscribe(0, 3), 0)
                .then(() -> {
                    for (int i = 0; i < 50; i++) {
                        hub.publish(i + 1, note(i));
                    }
                    hub.complete();
                })
                .thenRequest(Long.MAX_VALUE)
                .recordWith(() -> events)
                .thenConsumeWhile(e -> true)
                .verifyComplete();
        long delivered = events.stream().filter(e -> e.type() != SessionEvent.Type.DROPPED).count();
        long dropped = events.stream().filter(e -> e.type() == SessionEvent.Type.DROPPED)
                .mapToLong(e -> ((SessionEvent.Dropped) e.data()).count()).sum();
        assertThat(delivered + dropped).isEqualTo(50);
        assertThat(delivered).isLessThanOrEqualTo(3 + 2); // buffer + hand-over stages
    }

    /**
     * Every marker sits right before the first event after the loss it counts: the events between two delivered ones
     * are exactly what the markers between them say (no marker early, none late).
     */
    @Test
    void markersCountTheGapRightBeforeTheirEvent() {
        EventHub hub = new EventHub("s6", 1000, 0);
        var events = new ArrayList<SessionEvent>();
        StepVerifier.create(hub.subscribe(0, 3), 1)
                .then(() -> {
                    for (int i = 0; i < 40; i++) {
                        hub.publish(i + 1, note(i));
                    }
                })
                .thenRequest(2)
                .then(() -> {
                    for (int i = 40; i < 80; i++) {
                        hub.publish(i + 1, note(i));
                    }
                    hub.complete();
                })
                .thenRequest(Long.MAX_VALUE)
                .recordWith(() -> events)
                .thenConsumeWhile(e -> true)
                .verifyComplete();
        long previous = 0;
        long counted = 0;
        for (SessionEvent e : events) {
            if (e.data() instanceof SessionEvent.Dropped d) {
                counted += d.count();
            } else {
                long seq = EventHub.seqOf(e.id());
                assertThat(seq - previous - 1).as("events lost before %s", seq).isEqualTo(counted);
                previous = seq;
                counted = 0;
            }
        }
        assertThat(previous).isEqualTo(80);
    }

    /** An agent's drop marker pushed out of a slow subscriber's buffer still arrives, as its count under its site. */
    @Test
    void anAgentsMarkerDroppedFromTheBufferIsNotLost() {
        EventHub hub = new EventHub("s7", 1000, 0);
        var events = new ArrayList<SessionEvent>();
        StepVerifier.create(hub.subscribe(0, 2), 0)
                .then(() -> {
                    for (int i = 1; i <= 3; i++) {
                        hub.publish(i, note(i));
                    }
                    hub.publish(0, new SessionEvent.Dropped(500, SessionEvent.DropSite.AGENT_STREAM));
                    for (int i = 4; i <= 20; i++) {
                        hub.publish(i + 500, note(i));
                    }
                    hub.complete();
                })
                .thenRequest(Long.MAX_VALUE)
                .recordWith(() -> events)
                .thenConsumeWhile(e -> true)
                .verifyComplete();
        var dropped = new java.util.EnumMap<SessionEvent.DropSite, Long>(SessionEvent.DropSite.class);
        events.stream().filter(e -> e.data() instanceof SessionEvent.Dropped).map(e -> (SessionEvent.Dropped) e.data())
                .forEach(d -> dropped.merge(d.where(), d.count(), Long::sum));
        long delivered = events.stream().filter(e -> e.type() != SessionEvent.Type.DROPPED).count();
        assertThat(dropped).containsEntry(SessionEvent.DropSite.AGENT_STREAM, 500L);
        assertThat(dropped.get(SessionEvent.DropSite.STREAM) + delivered).as("every note delivered or counted")
                .isEqualTo(20);
    }

    @Test
    void aMarkerItsBufferDropsKeepsItsCountAndItsSite() {
        EventHub hub = new EventHub("s6", 1000, 0);
        var events = new ArrayList<SessionEvent>();
        StepVerifier.create(hub.subscribe(0, 3), 0)
                .then(() -> {
                    hub.publish(0, new SessionEvent.Dropped(700, SessionEvent.DropSite.HYPERVISOR_RING));
                    for (int i = 0; i < 10; i++) {
                        hub.publish(i + 1, note(i));
                    }
                    hub.complete();
                })
                .thenRequest(Long.MAX_VALUE)
                .recordWith(() -> events)
                .thenConsumeWhile(e -> true)
                .verifyComplete();
        long ring = events.stream().filter(e -> e.data() instanceof SessionEvent.Dropped d
                && d.where() == SessionEvent.DropSite.HYPERVISOR_RING).mapToLong(e -> ((SessionEvent.Dropped) e.data())
                .count()).sum();
        long stream = events.stream().filter(e -> e.data() instanceof SessionEvent.Dropped d
                && d.where() == SessionEvent.DropSite.STREAM).mapToLong(e -> ((SessionEvent.Dropped) e.data())
                .count()).sum();
        long notes = events.stream().filter(e -> e.type() == SessionEvent.Type.SYSCALL).count();
        assertThat(ring).as("the ring's marker, dropped here, still counts its 700").isEqualTo(700);
        assertThat(notes + stream).isEqualTo(10);
    }

    @Test
    void aSlowSubscriberLosesSyscallsButNeverWhatTheSessionSaysOfItself() {
        EventHub hub = new EventHub("s7", 1000, 0);
        var events = new ArrayList<SessionEvent>();
        StepVerifier.create(hub.subscribe(0, 3), 0)
                .then(() -> {
                    hub.publish(new SessionEvent.StateChange(SessionState.ACTIVE, null, "started"));
                    for (int i = 0; i < 20; i++) {
                        hub.publish(i + 1, note(i));
                        if (i == 5) {
                            hub.publish(new SessionEvent.Notice("the archive is failing"));
                        }
                    }
                    hub.publish(new SessionEvent.StateChange(SessionState.ENDED, SessionEnd.STOPPED, "stopped"));
                    hub.complete();
                })
                .thenRequest(Long.MAX_VALUE)
                .recordWith(() -> events)
                .thenConsumeWhile(e -> true)
                .verifyComplete();
        assertThat(events).filteredOn(e -> !StreamBuffer.droppable(e) && e.type() != SessionEvent.Type.DROPPED)
                .extracting(e -> e.type().wireName()).containsExactly("state", "notice", "state");
        assertThat(events.getLast().type()).isEqualTo(SessionEvent.Type.STATE);
        long syscalls = events.stream().filter(e -> e.type() == SessionEvent.Type.SYSCALL).count();
        long lost = events.stream().filter(e -> e.type() == SessionEvent.Type.DROPPED)
                .mapToLong(e -> ((SessionEvent.Dropped) e.data()).count()).sum();
        assertThat(syscalls + lost).isEqualTo(20);
        assertThat(lost).isPositive();
        // A marker comes after the state and the notice that were waiting before the syscalls it counts.
        assertThat(events.getFirst().type()).as("nothing was lost before the session's start").isEqualTo(
                SessionEvent.Type.STATE);
        long previous = 0;
        long counted = 0;
        for (SessionEvent e : events) {
            if (e.data() instanceof SessionEvent.Dropped d) {
                counted += d.count();
            } else if (e.type() == SessionEvent.Type.SYSCALL) {
                long seq = EventHub.seqOf(e.id());
                assertThat(seq - previous - 1).as("syscalls lost before %s", seq).isEqualTo(counted);
                previous = seq;
                counted = 0;
            }
        }
    }

    @Test
    void idsFollowTheAgentsNumbersWithTheControlPlanesOwnEventsBetween() {
        EventHub hub = new EventHub("s5", 100, 41);
        SessionEvent active = hub.publish(new SessionEvent.StateChange(SessionState.ACTIVE, null, "resumed"));
        SessionEvent fromAgent = hub.publish(42, note(42));
        SessionEvent marker = hub.publish(0, new SessionEvent.Dropped(3, SessionEvent.DropSite.AGENT_STREAM));
        SessionEvent next = hub.publish(43, note(43));
        assertThat(active.id()).isEqualTo(41 * EventHub.PER_SEQ + 1);
        assertThat(fromAgent.id()).isEqualTo(42 * EventHub.PER_SEQ);
        assertThat(marker.id()).isEqualTo(42 * EventHub.PER_SEQ + 1);
        assertThat(next.id()).isEqualTo(43 * EventHub.PER_SEQ);
        assertThat(EventHub.seqOf(marker.id())).as("a resume from the marker asks the agent after 42").isEqualTo(42);
    }

    @Test
    void reconnectingWithLastEventIdGetsOnlyWhatItMissed() {
        EventHub hub = new EventHub("s3", 100, 0);
        SessionEvent first = hub.publish(new SessionEvent.StateChange(SessionState.ACTIVE, null, "started"));
        SessionEvent second = hub.publish(1, note(1));
        SessionEvent third = hub.publish(2, note(2));
        assertThat(second.id()).isGreaterThan(first.id());
        assertThat(third.id()).isGreaterThan(second.id());
        hub.complete();

        StepVerifier.create(hub.subscribe(second.id(), 16))
                .assertNext(e -> assertThat(e.id()).isEqualTo(third.id()))
                .verifyComplete();
        StepVerifier.create(hub.subscribe(0, 16)).expectNextCount(3).verifyComplete();
    }

    @Test
    void aResumeFromBeforeWhatTheHubHoldsIsToldWhatItMisses() {
        EventHub hub = new EventHub("s8", 5, 0);
        for (int i = 0; i < 20; i++) {
            hub.publish(i + 1, note(i));
        }
        hub.complete();
        StepVerifier.create(hub.subscribe(3 * EventHub.PER_SEQ, 16))
                .assertNext(e -> assertThat(e.data()).isEqualTo(new SessionEvent.Dropped(12,
                        SessionEvent.DropSite.REPLAY)))
                .expectNextCount(5)
                .verifyComplete();

        EventHub resumed = new EventHub("s9", 100, 40); // a replica took the session over after message 40
        resumed.publish(41, note(41));
        resumed.complete();
        StepVerifier.create(resumed.subscribe(30 * EventHub.PER_SEQ, 16))
                .assertNext(e -> assertThat(e.data()).isEqualTo(new SessionEvent.Dropped(10,
                        SessionEvent.DropSite.REPLAY)))
                .assertNext(e -> assertThat(number(e)).isEqualTo("41"))
                .verifyComplete();
        StepVerifier.create(resumed.subscribe(40 * EventHub.PER_SEQ, 16)).expectNextCount(1).verifyComplete();
    }

    @Test
    void replayIsBoundedToTheNewestEvents() {
        EventHub hub = new EventHub("s4", 5, 0);
        for (int i = 0; i < 100; i++) {
            hub.publish(i + 1, note(i));
        }
        hub.complete();
        StepVerifier.create(hub.subscribe(0, 16).map(EventHubTest::number))
                .expectNext("95", "96", "97", "98", "99")
                .verifyComplete();
    }
}
