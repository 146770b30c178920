package dev.periscope.session;

import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.BufferOverflowStrategy;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

/**
 * The events of one session on the replica that runs it: the last {@code replay} events are kept for subscribers that
 * (re)connect; each subscriber reads through its own buffer of {@code buffer} events, and when it falls behind the
 * oldest are dropped and a {@code dropped} marker with their count is delivered before the next event. A drop marker
 * of the agent's that is itself dropped from the buffer is not lost: its count comes with the next event, under its own
 * site. Memory is bounded by {@code replay + buffer} events per subscriber, whatever the subscriber does.
 *
 * <p>Ids grow monotonically and mean the same on every replica, so a client resumes anywhere with
 * {@code Last-Event-ID}: an agent message's id is its sequence number times {@value #PER_SEQ}, and the events the
 * control plane makes itself (state changes, drop markers of the agent) count on from the last message's id.
 */
final class EventHub {

    /** Ids per agent sequence number: room for the control plane's own events between two agent messages. */
    static final long PER_SEQ = 1000;

    private final String session;
    private final Sinks.Many<SessionEvent> sink;
    private long lastSeq;
    private long ownSinceSeq;

    /** The events of {@code session} from agent message {@code afterSeq} on (0 for a new session). */
    EventHub(String session, int replay, long afterSeq) {
        this.session = session;
        this.sink = Sinks.many().replay().limit(replay);
        this.lastSeq = afterSeq;
    }

    /** The agent message {@code seq} after which an event id comes ({@code Last-Event-ID} to a resume point). */
    static long seqOf(long eventId) {
        return eventId / PER_SEQ;
    }

    /**
     * Publishes agent message {@code seq} (0 for a message without one: the agent's drop markers), or an event of the
     * control plane's own. Serialised: one session's runner and its stop race.
     */
    synchronized SessionEvent publish(long seq, SessionEvent.Payload data) {
        long id;
        if (seq > lastSeq) {
            lastSeq = seq;
            ownSinceSeq = 0;
            id = seq * PER_SEQ;
        } else {
            id = lastSeq * PER_SEQ + Math.min(++ownSinceSeq, PER_SEQ - 1);
        }
        SessionEvent event = SessionEvent.of(id, session, Instant.now(), data);
        sink.emitNext(event, Sinks.EmitFailureHandler.FAIL_FAST);
        return event;
    }

    /** Publishes an event of the control plane's own. */
    SessionEvent publish(SessionEvent.Payload data) {
        return publish(0, data);
    }

    synchronized void complete() {
        sink.tryEmitComplete();
    }

    /** Events after {@code afterId} (0 for all that are kept), through a bounded buffer with drop markers. */
    Flux<SessionEvent> subscribe(long afterId, int buffer) {
        return Flux.defer(() -> {
            Map<SessionEvent.DropSite, Long> lost = new EnumMap<>(SessionEvent.DropSite.class);
            return sink.asFlux()
                    .filter(event -> event.id() > afterId)
                    .onBackpressureBuffer(buffer, event -> {
                        synchronized (lost) {
                            if (event.data() instanceof SessionEvent.Dropped marker) {
                                lost.merge(marker.where(), marker.count(), Long::sum);
                            } else {
                                lost.merge(SessionEvent.DropSite.STREAM, 1L, Long::sum);
                            }
                        }
                    }, BufferOverflowStrategy.DROP_OLDEST)
                    // No prefetch: an event leaves the buffer only once the one before it is delivered, so the markers
                    // before it count what was lost before it, not after.
                    .concatMap(event -> {
                        List<SessionEvent> markers = new ArrayList<>();
                        synchronized (lost) {
                            lost.forEach((site, count) -> markers.add(SessionEvent.dropped(session, count, site)));
                            lost.clear();
                        }
                        return markers.isEmpty() ? Flux.just(event) : Flux.concat(Flux.fromIterable(markers),
                                Flux.just(event));
                    }, 0);
        });
    }
}
