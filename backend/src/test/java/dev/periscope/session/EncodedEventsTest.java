package dev.periscope.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** An event's JSON is encoded once for every stream that writes the same event, and the memo stays bounded. */
class EncodedEventsTest {

    private static final Instant AT = Instant.parse("2026-01-01T00:00:00Z");
    private final AtomicInteger encodings = new AtomicInteger();
    private final EncodedEvents encoded = new EncodedEvents(event -> {
        encodings.incrementAndGet();
        return (event.id() + ":" + event.data()).getBytes(StandardCharsets.UTF_8);
    }, 16);

    private static SessionEvent notice(long id, String text) {
        return SessionEvent.of(id, "s-1", AT, new SessionEvent.Notice(text));
    }

    @Test
    void theSameEventIsEncodedOnceForAllItsStreams() {
        SessionEvent event = notice(1000, "hello");
        byte[] first = encoded.json(event);
        for (int subscriber = 0; subscriber < 49; subscriber++) {
            assertThat(encoded.json(event)).isSameAs(first);
        }
        assertThat(encodings).hasValue(1);
    }

    @Test
    void anotherObjectWithTheSameIdIsEncodedAnewEvenWhenEqual() {
        encoded.json(notice(1000, "hello"));
        assertThat(new String(encoded.json(notice(1000, "other")), StandardCharsets.UTF_8)).contains("other");
        SessionEvent again = notice(1000, "other");
        encoded.json(again);
        assertThat(encodings).as("kept by identity: an id alone or equals would have answered from the table")
                .hasValue(3);
    }

    @Test
    void eventsThatShareASlotAreEachEncodedRightWhateverTheOrder() {
        SessionEvent[] events = new SessionEvent[64];
        for (int i = 0; i < events.length; i++) {
            events[i] = notice(1000L * (i + 1), "n" + i);
        }
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < events.length; i++) {
                assertThat(new String(encoded.json(events[i]), StandardCharsets.UTF_8))
                        .isEqualTo(events[i].id() + ":" + events[i].data());
            }
        }
        assertThat(encodings.get()).as("64 events in 16 slots, in turn: each finds another in its slot")
                .isEqualTo(3 * 64);
    }

    @Test
    void dropMarkersOfOneStreamAndLargeEventsAreNeverKept() {
        SessionEvent marker = SessionEvent.of(-1, "s-1", AT, new SessionEvent.Dropped(3, SessionEvent.DropSite.STREAM));
        encoded.json(marker);
        encoded.json(marker);
        SessionEvent large = notice(2000, "x".repeat(EncodedEvents.LARGEST));
        encoded.json(large);
        encoded.json(large);
        assertThat(encodings).hasValue(4);
    }

    @Test
    void theTableIsAPowerOfTwo() {
        assertThatThrownBy(() -> new EncodedEvents(e -> new byte[0], 100)).isInstanceOf(IllegalArgumentException.class);
    }
}
