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
 * oldest are dropped and a {@code dropped} marker with their count is delivered before the next event (a marker it
 * drops is not one lost event: its count goes into the next marker of its site). Memory is bounded by
 * {@code replay + buffer} events per subscriber, whatever the subscriber does.
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

    /**
     * Events after {@code afterId} (0 for all that are kept), through a bounded buffer with drop markers: before the next
     * event, one marker per place events were lost since the last one (this stream's own losses, and the counts of
     * markers from further up that its buffer had no room for).
     */
    Flux<SessionEvent> subscribe(long afterId, int buffer) {
        return Flux.defer(() -> {
            Map<SessionEvent.DropSite, Long> lost = new EnumMap<>(SessionEvent.DropSite.class); // guarded by itself
            return sink.asFlux()
                    .filter(event -> event.id() > afterId)
                    .onBackpressureBuffer(buffer, event -> {
                        synchronized (lost) {
                            if (event.data() instanceof SessionEvent.Dropped d) {
                                lost.merge(d.where(), d.count(), Long::sum);
                            } else {
                                lost.merge(SessionEvent.DropSite.STREAM, 1L, Long::sum);
                            }
                        }
                    }, BufferOverflowStrategy.DROP_OLDEST)
                    .concatMap(event -> {
                        List<SessionEvent> markers = new ArrayList<>();
                        synchronized (lost) {
                            lost.forEach((where, count) -> markers.add(SessionEvent.dropped(session, count, where)));
                            lost.clear();
                        }
                        if (markers.isEmpty()) {
                            return Flux.just(event);
                        }
                        markers.add(event);
                        return Flux.fromIterable(markers);
                    }, 1);
        });
    }
}
